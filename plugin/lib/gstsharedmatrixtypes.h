/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "gstsharedmatrix-prelude.h"

G_BEGIN_DECLS

/**
 * GstSharedMatrixDType:
 * @GST_SHARED_MATRIX_DTYPE_FLOAT32: IEEE 754 binary32
 * @GST_SHARED_MATRIX_DTYPE_FLOAT64: IEEE 754 binary64
 * @GST_SHARED_MATRIX_DTYPE_FLOAT16: IEEE 754 binary16
 * @GST_SHARED_MATRIX_DTYPE_BFLOAT16: bfloat16 (the upper half of a binary32)
 *
 * Element type of a matrix or of update deltas. All data is little-endian.
 */
typedef enum /*< underscore_name=gst_shared_matrix_dtype >*/
{
  GST_SHARED_MATRIX_DTYPE_FLOAT32 = 0,
  GST_SHARED_MATRIX_DTYPE_FLOAT64 = 1,
  GST_SHARED_MATRIX_DTYPE_FLOAT16 = 2,
  GST_SHARED_MATRIX_DTYPE_BFLOAT16 = 3,
} GstSharedMatrixDType;

/**
 * GstSharedMatrixIndexType:
 * @GST_SHARED_MATRIX_INDEX_TYPE_INT32: signed 32-bit row indices
 * @GST_SHARED_MATRIX_INDEX_TYPE_INT64: signed 64-bit row indices
 *
 * Integer type of the row indices of an update.
 */
typedef enum
{
  GST_SHARED_MATRIX_INDEX_TYPE_INT32 = 0,
  GST_SHARED_MATRIX_INDEX_TYPE_INT64 = 1,
} GstSharedMatrixIndexType;

/**
 * GstSharedMatrixOp:
 * @GST_SHARED_MATRIX_OP_SET: C[r] = d (the last occurrence of a row wins)
 * @GST_SHARED_MATRIX_OP_ADD: C[r] += d
 * @GST_SHARED_MATRIX_OP_SUB: C[r] -= d
 * @GST_SHARED_MATRIX_OP_MUL: C[r] *= d
 * @GST_SHARED_MATRIX_OP_MIN: C[r] = minimum (C[r], d), elementwise, NaN propagates
 * @GST_SHARED_MATRIX_OP_MAX: C[r] = maximum (C[r], d), elementwise, NaN propagates
 *
 * How an update's delta rows are combined with the matrix rows they name.
 * Every op but set combines all occurrences of a duplicated row in buffer
 * order, like numpy's `ufunc.at`.
 */
typedef enum
{
  GST_SHARED_MATRIX_OP_SET = 0,
  GST_SHARED_MATRIX_OP_ADD = 1,
  GST_SHARED_MATRIX_OP_SUB = 2,
  GST_SHARED_MATRIX_OP_MUL = 3,
  GST_SHARED_MATRIX_OP_MIN = 4,
  GST_SHARED_MATRIX_OP_MAX = 5,
} GstSharedMatrixOp;

/**
 * GstSharedMatrixBackend:
 * @GST_SHARED_MATRIX_BACKEND_AUTO: CUDA when a GPU is usable, otherwise CPU
 * @GST_SHARED_MATRIX_BACKEND_CPU: host memory, multi-threaded portable C
 * @GST_SHARED_MATRIX_BACKEND_CUDA: device memory on an NVIDIA GPU
 *
 * Where the matrix lives and updates are applied.
 */
typedef enum
{
  GST_SHARED_MATRIX_BACKEND_AUTO = 0,
  GST_SHARED_MATRIX_BACKEND_CPU = 1,
  GST_SHARED_MATRIX_BACKEND_CUDA = 2,
} GstSharedMatrixBackend;

/**
 * GstSharedMatrixInvalidIndexPolicy:
 * @GST_SHARED_MATRIX_INVALID_INDEX_ERROR: reject the whole update, matrix unchanged
 * @GST_SHARED_MATRIX_INVALID_INDEX_DROP: apply the valid rows, skip and count the others
 *
 * What to do with a row index < 0 or >= rows.
 */
typedef enum
{
  GST_SHARED_MATRIX_INVALID_INDEX_ERROR = 0,
  GST_SHARED_MATRIX_INVALID_INDEX_DROP = 1,
} GstSharedMatrixInvalidIndexPolicy;

/**
 * GstSharedMatrixGatherInvalidIndexPolicy:
 * @GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR: reject the whole read, nothing is returned
 * @GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO: return a row of zeros for the invalid index, and count it
 *
 * What a gather (a read of rows by index, the `matrixlookup` element's
 * `invalid-index`) does with a row index < 0 or >= rows.
 */
typedef enum
{
  GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR = 0,
  GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO = 1,
} GstSharedMatrixGatherInvalidIndexPolicy;

/**
 * GstSharedMatrixNonFinitePolicy:
 * @GST_SHARED_MATRIX_NON_FINITE_APPLY: apply NaN/±Inf like any other value
 * @GST_SHARED_MATRIX_NON_FINITE_DROP: skip (and count) delta rows holding NaN/±Inf
 * @GST_SHARED_MATRIX_NON_FINITE_ERROR: reject the whole update, matrix unchanged
 *
 * What to do with a delta row holding NaN or ±Inf.
 */
typedef enum
{
  GST_SHARED_MATRIX_NON_FINITE_APPLY = 0,
  GST_SHARED_MATRIX_NON_FINITE_DROP = 1,
  GST_SHARED_MATRIX_NON_FINITE_ERROR = 2,
} GstSharedMatrixNonFinitePolicy;

/**
 * GstSharedMatrixFormat:
 * @GST_SHARED_MATRIX_FORMAT_RAW: row-major little-endian data, no header
 * @GST_SHARED_MATRIX_FORMAT_NPY: a complete `.npy` file (header + data)
 *
 * Layout of a whole-matrix copy.
 */
typedef enum
{
  GST_SHARED_MATRIX_FORMAT_RAW = 0,
  GST_SHARED_MATRIX_FORMAT_NPY = 1,
} GstSharedMatrixFormat;

/**
 * GstSharedMatrixOptimizer:
 * @GST_SHARED_MATRIX_OPTIMIZER_NONE: no optimizer: updates carry deltas combined by an op
 * @GST_SHARED_MATRIX_OPTIMIZER_SGD: w -= lr · g
 * @GST_SHARED_MATRIX_OPTIMIZER_ADAGRAD: G += g²; w -= lr · g / (sqrt (G) + eps), one G per element
 * @GST_SHARED_MATRIX_OPTIMIZER_ROWWISE_ADAGRAD: G_r += mean (g²); w -= lr · g / (sqrt (G_r) + eps), one G per row
 * @GST_SHARED_MATRIX_OPTIMIZER_ADAM: lazy Adam, as torch.optim.SparseAdam
 *
 * The optimizer step applied to gradient updates
 * (gst_shared_matrix_apply_gradients()). Its state (float32, beside the
 * matrix on its backend) is part of the matrix.
 *
 */
typedef enum
{
  GST_SHARED_MATRIX_OPTIMIZER_NONE = 0,
  GST_SHARED_MATRIX_OPTIMIZER_SGD = 1,
  GST_SHARED_MATRIX_OPTIMIZER_ADAGRAD = 2,
  GST_SHARED_MATRIX_OPTIMIZER_ROWWISE_ADAGRAD = 3,
  GST_SHARED_MATRIX_OPTIMIZER_ADAM = 4,
} GstSharedMatrixOptimizer;

/**
 * GstSharedMatrixUpdateLayout:
 * @GST_SHARED_MATRIX_UPDATE_LAYOUT_PACKED: `application/x-matrix-update`:
 *   one memory, N indices immediately followed by N × cols deltas
 * @GST_SHARED_MATRIX_UPDATE_LAYOUT_TENSORS: NNStreamer's `other/tensors,
 *   format=static, num_tensors=2`: an ids tensor (N int32/int64) and a
 *   deltas tensor (cols × N, innermost first), one #GstMemory each
 *
 * How an update buffer holds its indices and deltas.
 */
typedef enum
{
  GST_SHARED_MATRIX_UPDATE_LAYOUT_PACKED = 0,
  GST_SHARED_MATRIX_UPDATE_LAYOUT_TENSORS = 1,
} GstSharedMatrixUpdateLayout;

/**
 * GST_SHARED_MATRIX_ERROR:
 *
 * Error domain of the shared matrix library. Codes are #GstSharedMatrixError.
 */
#define GST_SHARED_MATRIX_ERROR (gst_shared_matrix_error_quark ())

/**
 * GstSharedMatrixError:
 * @GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT: a shape, dtype or argument is not allowed
 * @GST_SHARED_MATRIX_ERROR_INVALID_INDEX: a row index is out of range
 * @GST_SHARED_MATRIX_ERROR_NON_FINITE: a delta holds NaN or ±Inf
 * @GST_SHARED_MATRIX_ERROR_SIZE: a byte size does not match the shape
 * @GST_SHARED_MATRIX_ERROR_NO_MEMORY: the matrix memory could not be allocated
 * @GST_SHARED_MATRIX_ERROR_BACKEND: the requested backend is not usable
 * @GST_SHARED_MATRIX_ERROR_FILE: a file could not be read or written
 * @GST_SHARED_MATRIX_ERROR_NPY: a `.npy` file is malformed or unsupported
 * @GST_SHARED_MATRIX_ERROR_DEVICE: the backend's device failed after the
 *   matrix was created (a CUDA call in an update, a read, a write or a
 *   gather). The message names the call and CUDA's error, and says what it
 *   means for the matrix: unchanged and still usable, or lost (a broken
 *   device context, or part of an update written), in which case every
 *   later call on the matrix fails with the same error
 *
 * Error codes of the library's `GError` domain, #GST_SHARED_MATRIX_ERROR
 * (the quark of "gst-shared-matrix-error-quark", from
 * gst_shared_matrix_error_quark()).
 */
typedef enum /*< skip >*/
{
  GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
  GST_SHARED_MATRIX_ERROR_INVALID_INDEX,
  GST_SHARED_MATRIX_ERROR_NON_FINITE,
  GST_SHARED_MATRIX_ERROR_SIZE,
  GST_SHARED_MATRIX_ERROR_NO_MEMORY,
  GST_SHARED_MATRIX_ERROR_BACKEND,
  GST_SHARED_MATRIX_ERROR_FILE,
  GST_SHARED_MATRIX_ERROR_NPY,
  GST_SHARED_MATRIX_ERROR_DEVICE,
} GstSharedMatrixError;

GST_SHARED_MATRIX_API
GQuark gst_shared_matrix_error_quark (void);

GST_SHARED_MATRIX_API
guint gst_shared_matrix_dtype_size (GstSharedMatrixDType dtype);
GST_SHARED_MATRIX_API
const gchar *gst_shared_matrix_dtype_to_string (GstSharedMatrixDType dtype);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_dtype_from_string (const gchar * str,
    GstSharedMatrixDType * dtype);

GST_SHARED_MATRIX_API
guint gst_shared_matrix_index_type_size (GstSharedMatrixIndexType index_type);
GST_SHARED_MATRIX_API
const gchar *gst_shared_matrix_index_type_to_string (GstSharedMatrixIndexType
    index_type);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_index_type_from_string (const gchar * str,
    GstSharedMatrixIndexType * index_type);

GST_SHARED_MATRIX_API
const gchar *gst_shared_matrix_backend_to_string (GstSharedMatrixBackend backend);

G_END_DECLS

/* the enums' GTypes (GST_TYPE_SHARED_MATRIX_DTYPE …), generated */
#include "gstsharedmatrix-enumtypes.h"
