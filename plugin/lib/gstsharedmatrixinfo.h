/* gst-sharedmatrix: caps <-> info structs, in the spirit of GstAudioInfo
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include "gstsharedmatrixtypes.h"

G_BEGIN_DECLS

/* Every pad template of the project's elements is built from these
 * strings: each caps string is written once, here. */

/**
 * GST_SHARED_MATRIX_DTYPES_LIST:
 *
 * The dtypes a caps field may name, as a caps list string.
 */
#define GST_SHARED_MATRIX_DTYPES_LIST \
    "{ float32, float64, float16, bfloat16 }"

/**
 * GST_SHARED_MATRIX_INDEX_TYPES_LIST:
 *
 * The index types a caps field may name, as a caps list string.
 */
#define GST_SHARED_MATRIX_INDEX_TYPES_LIST "{ int32, int64 }"

/**
 * GST_SHARED_MATRIX_UPDATE_MEDIA_TYPE:
 *
 * Media type of an update stream: each buffer is N row indices
 * (index-type) immediately followed by N × cols deltas (dtype).
 */
#define GST_SHARED_MATRIX_UPDATE_MEDIA_TYPE "application/x-matrix-update"

/**
 * GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE:
 *
 * Media type of a raw snapshot: NNStreamer's `other/tensors` holding one
 * row-major tensor.
 */
#define GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE "other/tensors"

/**
 * GST_SHARED_MATRIX_NPY_MEDIA_TYPE:
 *
 * Media type of a `.npy` snapshot: each buffer is a complete `.npy` file.
 * These caps carry no fields.
 */
#define GST_SHARED_MATRIX_NPY_MEDIA_TYPE "application/x-npy"

/**
 * GST_SHARED_MATRIX_IDS_MEDIA_TYPE:
 *
 * Media type of a row-id stream: each buffer is N row indices (index-type).
 */
#define GST_SHARED_MATRIX_IDS_MEDIA_TYPE "application/x-matrix-ids"

/**
 * GST_SHARED_MATRIX_TENSORS_UPDATE_TYPES_LIST:
 *
 * The `types` of an NNStreamer update (ids tensor, deltas tensor), as a
 * caps list string: only type names NNStreamer defines (it has no
 * bfloat16).
 */
#define GST_SHARED_MATRIX_TENSORS_UPDATE_TYPES_LIST \
    "{ \"int32,float32\", \"int32,float64\", \"int32,float16\", " \
    "\"int64,float32\", \"int64,float64\", \"int64,float16\" }"

/**
 * GST_SHARED_MATRIX_TENSORS_UPDATE_CAPS_TEMPLATE:
 *
 * Template caps of an update stream from NNStreamer (a `tensor_filter`
 * computing gradients): two static tensors, the row ids (`N` or `1:N`) and
 * the deltas (`cols:N`, innermost first), one #GstMemory each.
 */
#define GST_SHARED_MATRIX_TENSORS_UPDATE_CAPS_TEMPLATE \
    GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE ", format = (string) static, " \
    "num_tensors = (int) 2, " \
    "types = (string) " GST_SHARED_MATRIX_TENSORS_UPDATE_TYPES_LIST

/**
 * GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE:
 *
 * Template caps of an update stream (any dtype, index type and cols).
 */
#define GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE \
    GST_SHARED_MATRIX_UPDATE_MEDIA_TYPE ", " \
    "dtype = (string) " GST_SHARED_MATRIX_DTYPES_LIST ", " \
    "index-type = (string) " GST_SHARED_MATRIX_INDEX_TYPES_LIST ", " \
    "cols = (int) [ 1, MAX ]"

/**
 * GST_SHARED_MATRIX_DELTA_FIELD:
 *
 * Name of the boolean field that marks an update stream as a chain of
 * delta snapshots (`delta=(boolean)true`, set by `sharedmatrix`'s src pad):
 * each buffer's OFFSET is the primary's version at the copy and its
 * OFFSET_END the OFFSET of the previous delta (0 for the first), which a
 * receiving `sharedmatrix` checks to detect a missed delta. Update streams
 * without the field (or with it false) are never checked.
 */
#define GST_SHARED_MATRIX_DELTA_FIELD "delta"

/**
 * GST_SHARED_MATRIX_TENSOR_CAPS_MAKE:
 * @framerate: the framerate field's value, a caps string such as `"0/1"`
 *
 * Template caps of a raw snapshot of any shape and dtype, with the given
 * framerate (snapshots are not a regular stream: their producer says
 * `0/1`; a consumer may accept any). There is no dimensions field: a
 * string field set to "ANY" would match only that string, so a capsfilter
 * naming the shape could not link before the matrix exists.
 */
#define GST_SHARED_MATRIX_TENSOR_CAPS_MAKE(framerate) \
    GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE ", format = (string) static, " \
    "num_tensors = (int) 1, " \
    "types = (string) " GST_SHARED_MATRIX_DTYPES_LIST ", " \
    "framerate = (fraction) " framerate

/**
 * GST_SHARED_MATRIX_TENSOR_CAPS_TEMPLATE:
 *
 * Template caps of the raw snapshots a matrix produces (framerate 0/1).
 */
#define GST_SHARED_MATRIX_TENSOR_CAPS_TEMPLATE \
    GST_SHARED_MATRIX_TENSOR_CAPS_MAKE ("0/1")

/**
 * GST_SHARED_MATRIX_IDS_CAPS_TEMPLATE:
 *
 * Template caps of a row-id stream (any index type).
 */
#define GST_SHARED_MATRIX_IDS_CAPS_TEMPLATE \
    GST_SHARED_MATRIX_IDS_MEDIA_TYPE ", " \
    "index-type = (string) " GST_SHARED_MATRIX_INDEX_TYPES_LIST

/**
 * GstSharedMatrixUpdateInfo:
 * @dtype: dtype of the deltas
 * @index_type: integer type of the row indices
 * @cols: values in one delta row (>= 1 once set from caps)
 * @layout: how a buffer holds the indices and deltas: packed
 *   (`application/x-matrix-update`) or as two NNStreamer tensors
 *   (`other/tensors, num_tensors=2`)
 *
 * What update caps say about an update stream. One record is one index
 * and one delta row: see gst_shared_matrix_update_info_record_size().
 */
typedef struct
{
  GstSharedMatrixDType dtype;
  GstSharedMatrixIndexType index_type;
  guint cols;
  GstSharedMatrixUpdateLayout layout;

  /*< private >*/
  gpointer _gst_reserved[GST_PADDING];
} GstSharedMatrixUpdateInfo;

#define GST_TYPE_SHARED_MATRIX_UPDATE_INFO (gst_shared_matrix_update_info_get_type ())
GST_SHARED_MATRIX_API
GType gst_shared_matrix_update_info_get_type (void);

GST_SHARED_MATRIX_API
GstSharedMatrixUpdateInfo *gst_shared_matrix_update_info_new (void);
GST_SHARED_MATRIX_API
GstSharedMatrixUpdateInfo *gst_shared_matrix_update_info_new_from_caps
    (const GstCaps * caps);
GST_SHARED_MATRIX_API
void gst_shared_matrix_update_info_init (GstSharedMatrixUpdateInfo * info);
GST_SHARED_MATRIX_API
GstSharedMatrixUpdateInfo *gst_shared_matrix_update_info_copy
    (const GstSharedMatrixUpdateInfo * info);
GST_SHARED_MATRIX_API
void gst_shared_matrix_update_info_free (GstSharedMatrixUpdateInfo * info);
GST_SHARED_MATRIX_API
void gst_shared_matrix_update_info_set_format (GstSharedMatrixUpdateInfo *
    info, GstSharedMatrixDType dtype, GstSharedMatrixIndexType index_type,
    guint cols);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_update_info_from_caps (GstSharedMatrixUpdateInfo *
    info, const GstCaps * caps);
GST_SHARED_MATRIX_API
GstCaps *gst_shared_matrix_update_info_to_caps (const GstSharedMatrixUpdateInfo
    * info);
GST_SHARED_MATRIX_API
gsize gst_shared_matrix_update_info_record_size (const
    GstSharedMatrixUpdateInfo * info);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_update_info_is_equal (const
    GstSharedMatrixUpdateInfo * info, const GstSharedMatrixUpdateInfo * other);

/**
 * GstSharedMatrixTensorInfo:
 * @format: %GST_SHARED_MATRIX_FORMAT_RAW for `other/tensors`,
 *   %GST_SHARED_MATRIX_FORMAT_NPY for `application/x-npy`
 * @dtype: dtype of the matrix (raw only: `.npy` caps do not say)
 * @rows: rows of the matrix (raw only; 0 when unknown)
 * @cols: columns of the matrix (raw only; 0 when unknown)
 *
 * What snapshot caps say about a whole-matrix copy. Raw snapshots are
 * `other/tensors, format=static, num_tensors=1, types=<dtype>,
 * dimensions=<cols>:<rows>, framerate=0/1` (NNStreamer's convention:
 * innermost dimension first); `.npy` snapshots are `application/x-npy`,
 * whose file header carries the shape.
 */
typedef struct
{
  GstSharedMatrixFormat format;
  GstSharedMatrixDType dtype;
  guint64 rows;
  guint cols;

  /*< private >*/
  gpointer _gst_reserved[GST_PADDING];
} GstSharedMatrixTensorInfo;

#define GST_TYPE_SHARED_MATRIX_TENSOR_INFO (gst_shared_matrix_tensor_info_get_type ())
GST_SHARED_MATRIX_API
GType gst_shared_matrix_tensor_info_get_type (void);

GST_SHARED_MATRIX_API
GstSharedMatrixTensorInfo *gst_shared_matrix_tensor_info_new (void);
GST_SHARED_MATRIX_API
GstSharedMatrixTensorInfo *gst_shared_matrix_tensor_info_new_from_caps
    (const GstCaps * caps);
GST_SHARED_MATRIX_API
void gst_shared_matrix_tensor_info_init (GstSharedMatrixTensorInfo * info);
GST_SHARED_MATRIX_API
GstSharedMatrixTensorInfo *gst_shared_matrix_tensor_info_copy
    (const GstSharedMatrixTensorInfo * info);
GST_SHARED_MATRIX_API
void gst_shared_matrix_tensor_info_free (GstSharedMatrixTensorInfo * info);
GST_SHARED_MATRIX_API
void gst_shared_matrix_tensor_info_set_format (GstSharedMatrixTensorInfo *
    info, GstSharedMatrixFormat format, GstSharedMatrixDType dtype,
    guint64 rows, guint cols);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_tensor_info_from_caps (GstSharedMatrixTensorInfo *
    info, const GstCaps * caps);
GST_SHARED_MATRIX_API
GstCaps *gst_shared_matrix_tensor_info_to_caps (const GstSharedMatrixTensorInfo
    * info);
GST_SHARED_MATRIX_API
gsize gst_shared_matrix_tensor_info_get_size (const GstSharedMatrixTensorInfo *
    info);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_tensor_info_is_equal (const
    GstSharedMatrixTensorInfo * info, const GstSharedMatrixTensorInfo * other);

/**
 * GstSharedMatrixIdsInfo:
 * @index_type: integer type of the row ids
 *
 * What `application/x-matrix-ids` caps say about a row-id stream.
 */
typedef struct
{
  GstSharedMatrixIndexType index_type;

  /*< private >*/
  gpointer _gst_reserved[GST_PADDING];
} GstSharedMatrixIdsInfo;

#define GST_TYPE_SHARED_MATRIX_IDS_INFO (gst_shared_matrix_ids_info_get_type ())
GST_SHARED_MATRIX_API
GType gst_shared_matrix_ids_info_get_type (void);

GST_SHARED_MATRIX_API
GstSharedMatrixIdsInfo *gst_shared_matrix_ids_info_new (void);
GST_SHARED_MATRIX_API
void gst_shared_matrix_ids_info_init (GstSharedMatrixIdsInfo * info);
GST_SHARED_MATRIX_API
GstSharedMatrixIdsInfo *gst_shared_matrix_ids_info_copy
    (const GstSharedMatrixIdsInfo * info);
GST_SHARED_MATRIX_API
void gst_shared_matrix_ids_info_free (GstSharedMatrixIdsInfo * info);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_ids_info_from_caps (GstSharedMatrixIdsInfo * info,
    const GstCaps * caps);
GST_SHARED_MATRIX_API
GstCaps *gst_shared_matrix_ids_info_to_caps (const GstSharedMatrixIdsInfo *
    info);

G_END_DECLS
