/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include "gstsharedmatrixtypes.h"
#include "gstsharedmatrixinfo.h"

G_BEGIN_DECLS

#define GST_TYPE_SHARED_MATRIX (gst_shared_matrix_get_type ())
GST_SHARED_MATRIX_API
G_DECLARE_FINAL_TYPE (GstSharedMatrix, gst_shared_matrix, GST, SHARED_MATRIX,
    GstObject)

/**
 * GstSharedMatrixPolicies:
 * @invalid_index: what to do with a row index < 0 or >= rows
 * @non_finite: what to do with a delta row holding NaN/±Inf
 *
 * How an update treats bad rows. All fields zero (and %NULL where a call
 * takes a pointer) is the strict default: an out-of-range index rejects the
 * whole update, NaN/±Inf are applied like any other value. From C, a
 * compound literal reads well:
 * `&(GstSharedMatrixPolicies) { .invalid_index = GST_SHARED_MATRIX_INVALID_INDEX_DROP }`.
 */
typedef struct
{
  GstSharedMatrixInvalidIndexPolicy invalid_index;
  GstSharedMatrixNonFinitePolicy non_finite;
} GstSharedMatrixPolicies;

#define GST_TYPE_SHARED_MATRIX_POLICIES (gst_shared_matrix_policies_get_type ())
GST_SHARED_MATRIX_API
GType gst_shared_matrix_policies_get_type (void);

/**
 * GstSharedMatrixUpdateResult:
 * @version: the matrix version after the update
 * @rows_applied: delta rows written to the matrix
 * @rows_dropped_invalid: rows skipped for an out-of-range index (policy drop)
 * @rows_dropped_non_finite: rows skipped for NaN/±Inf deltas (policy drop)
 *
 * What one successful update did.
 */
typedef struct
{
  guint64 version;
  guint64 rows_applied;
  guint64 rows_dropped_invalid;
  guint64 rows_dropped_non_finite;
} GstSharedMatrixUpdateResult;

#define GST_TYPE_SHARED_MATRIX_UPDATE_RESULT (gst_shared_matrix_update_result_get_type ())
GST_SHARED_MATRIX_API
GType gst_shared_matrix_update_result_get_type (void);

GST_SHARED_MATRIX_API
GstSharedMatrix *gst_shared_matrix_new (guint64 rows, guint cols,
    GstSharedMatrixDType dtype, GstSharedMatrixBackend backend,
    GError ** error);
GST_SHARED_MATRIX_API
GstSharedMatrix *gst_shared_matrix_new_full (guint64 rows, guint cols,
    GstSharedMatrixDType dtype, GstSharedMatrixBackend backend,
    gint device_id, GError ** error);
GST_SHARED_MATRIX_API
GstSharedMatrix *gst_shared_matrix_new_from_npy (const gchar * path,
    GstSharedMatrixBackend backend, GError ** error);
GST_SHARED_MATRIX_API
GstSharedMatrix *gst_shared_matrix_new_from_npy_full (const gchar * path,
    GstSharedMatrixBackend backend, gint device_id, GError ** error);

GST_SHARED_MATRIX_API
guint64 gst_shared_matrix_get_rows (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
guint gst_shared_matrix_get_cols (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
GstSharedMatrixDType gst_shared_matrix_get_dtype (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
GstSharedMatrixBackend gst_shared_matrix_get_backend (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
GstAllocator *gst_shared_matrix_get_staging_allocator (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
guint64 gst_shared_matrix_get_version (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
gsize gst_shared_matrix_get_size (GstSharedMatrix * self,
    GstSharedMatrixFormat format);

GST_SHARED_MATRIX_API
GBytes *gst_shared_matrix_get_value (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
GBytes *gst_shared_matrix_get_value_full (GstSharedMatrix * self,
    GstSharedMatrixFormat format, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_npy_get_shape (const gchar * path, guint64 * rows,
    guint * cols, GstSharedMatrixDType * dtype, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_copy_to (GstSharedMatrix * self,
    GstSharedMatrixFormat format, gpointer dest, gsize dest_size,
    guint64 * version, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_set_value (GstSharedMatrix * self, GBytes * data,
    GError ** error);

GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_parse_update (GstSharedMatrix * self,
    GstSharedMatrixIndexType index_type, GstSharedMatrixDType delta_dtype,
    gconstpointer data, gsize size, gconstpointer * indices,
    gconstpointer * deltas, gsize * n, GError ** error);

GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_parse_update_tensors (GstSharedMatrix * self,
    GstSharedMatrixIndexType index_type, GstSharedMatrixDType delta_dtype,
    gsize ids_size, gsize deltas_size, gsize * n, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_update (GstSharedMatrix * self,
    GstSharedMatrixOp op, gconstpointer indices, gsize n,
    GstSharedMatrixIndexType index_type, gconstpointer deltas,
    GstSharedMatrixDType delta_dtype,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error);
/**
 * GstSharedMatrixUpdateItem:
 * @indices: @n row indices (no alignment needed)
 * @deltas: @n × cols deltas, row-major (no alignment needed)
 * @n: number of rows in this update (0 is a valid empty update)
 *
 * One update of a gst_shared_matrix_update_many() batch.
 */
typedef struct
{
  gconstpointer indices;
  gconstpointer deltas;
  gsize n;
} GstSharedMatrixUpdateItem;

GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_update_many (GstSharedMatrix * self,
    GstSharedMatrixOp op, const GstSharedMatrixUpdateItem * items,
    guint n_items, GstSharedMatrixIndexType index_type,
    GstSharedMatrixDType delta_dtype,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * results, guint * n_applied,
    GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_update_bytes (GstSharedMatrix * self,
    GstSharedMatrixOp op, GBytes * indices,
    GstSharedMatrixIndexType index_type, GBytes * deltas,
    GstSharedMatrixDType delta_dtype, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_update_bytes_full (GstSharedMatrix * self,
    GstSharedMatrixOp op, GBytes * indices,
    GstSharedMatrixIndexType index_type, GBytes * deltas,
    GstSharedMatrixDType delta_dtype,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error);

GST_SHARED_MATRIX_API
GBytes *gst_shared_matrix_gather_bytes (GstSharedMatrix * self,
    GBytes * indices, GstSharedMatrixIndexType index_type, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_gather (GstSharedMatrix * self,
    gconstpointer indices, gsize n, GstSharedMatrixIndexType index_type,
    GstSharedMatrixGatherInvalidIndexPolicy invalid_index, gpointer dest,
    gsize dest_size, guint64 * version, guint64 * n_zeroed, GError ** error);
GST_SHARED_MATRIX_API
GBytes *gst_shared_matrix_gather_bytes_full (GstSharedMatrix * self,
    GBytes * indices, GstSharedMatrixIndexType index_type,
    GstSharedMatrixGatherInvalidIndexPolicy invalid_index, guint64 * version,
    guint64 * n_zeroed, GError ** error);

GST_SHARED_MATRIX_API
GBytes *gst_shared_matrix_get_delta (GstSharedMatrix * self,
    guint64 since_version, GstSharedMatrixIndexType index_type,
    guint64 * version, gsize * n_rows, GError ** error);

GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_save_npy (GstSharedMatrix * self,
    const gchar * path, GError ** error);

GST_SHARED_MATRIX_API
GBytes *gst_shared_matrix_get_checkpoint (GstSharedMatrix * self,
    guint64 last_offset, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_write_checkpoint (const gchar * path,
    GBytes * checkpoint, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_save_checkpoint (GstSharedMatrix * self,
    const gchar * path, guint64 last_offset, GError ** error);
GST_SHARED_MATRIX_API
GstSharedMatrix *gst_shared_matrix_new_from_checkpoint (const gchar * path,
    GstSharedMatrixBackend backend, gint device_id, guint64 * last_offset,
    GError ** error);

G_END_DECLS

/* training at update time */
#include "gstsharedmatrixoptimizer.h"
