/* gst-sharedmatrix: caps <-> info structs, in the spirit of GstAudioInfo
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:gstsharedmatrixinfo
 * @title: Caps and info structs
 *
 * The caps of the project's streams are parsed into an info struct in one
 * place and built from one in one place, the way #GstAudioInfo does it for
 * audio: #GstSharedMatrixUpdateInfo for `application/x-matrix-update`
 * update streams, #GstSharedMatrixTensorInfo for snapshots (`other/tensors`
 * or `application/x-npy`) and #GstSharedMatrixIdsInfo for
 * `application/x-matrix-ids` row-id streams. Pad templates use the
 * `GST_SHARED_MATRIX_*_CAPS_TEMPLATE` strings.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstsharedmatrixinfo.h"
#include "npy.h"

/* Reads a string field naming a dtype or an index type. */
static gboolean
get_dtype_field (const GstStructure * s, const gchar * field,
    GstSharedMatrixDType * dtype)
{
  return gst_shared_matrix_dtype_from_string (gst_structure_get_string (s,
          field), dtype);
}

static gboolean
get_index_type_field (const GstStructure * s,
    GstSharedMatrixIndexType * index_type)
{
  return gst_shared_matrix_index_type_from_string (gst_structure_get_string (s,
          "index-type"), index_type);
}

/* The only structure of fixed caps, when it has @media_type. */
static const GstStructure *
fixed_structure (const GstCaps * caps, const gchar * media_type)
{
  const GstStructure *s;

  if (caps == NULL || !gst_caps_is_fixed (caps))
    return NULL;
  s = gst_caps_get_structure (caps, 0);
  if (media_type && !gst_structure_has_name (s, media_type))
    return NULL;
  return s;
}

/* ---- update streams ------------------------------------------------------ */

/**
 * gst_shared_matrix_update_info_new:
 *
 * Allocates a #GstSharedMatrixUpdateInfo, initialised with
 * gst_shared_matrix_update_info_init().
 *
 * Returns: (transfer full): a new info, free it with
 *   gst_shared_matrix_update_info_free()
 */
GstSharedMatrixUpdateInfo *
gst_shared_matrix_update_info_new (void)
{
  GstSharedMatrixUpdateInfo *info = g_new (GstSharedMatrixUpdateInfo, 1);

  gst_shared_matrix_update_info_init (info);
  return info;
}

/**
 * gst_shared_matrix_update_info_new_from_caps:
 * @caps: fixed `application/x-matrix-update` caps
 *
 * Parses @caps into a new info (for bindings: C code uses
 * gst_shared_matrix_update_info_from_caps() on its own struct).
 *
 * Returns: (transfer full) (nullable): a new info, %NULL when @caps are
 *   not fixed, valid update caps
 */
GstSharedMatrixUpdateInfo *
gst_shared_matrix_update_info_new_from_caps (const GstCaps * caps)
{
  GstSharedMatrixUpdateInfo *info = gst_shared_matrix_update_info_new ();

  if (!gst_shared_matrix_update_info_from_caps (info, caps)) {
    gst_shared_matrix_update_info_free (info);
    return NULL;
  }
  return info;
}

/**
 * gst_shared_matrix_update_info_init:
 * @info: (out caller-allocates): an info to initialise
 *
 * Sets @info to float32 deltas, int32 indices and no cols (0: not valid
 * until set).
 */
void
gst_shared_matrix_update_info_init (GstSharedMatrixUpdateInfo * info)
{
  g_return_if_fail (info != NULL);
  memset (info, 0, sizeof (*info));
  info->dtype = GST_SHARED_MATRIX_DTYPE_FLOAT32;
  info->index_type = GST_SHARED_MATRIX_INDEX_TYPE_INT32;
}

/**
 * gst_shared_matrix_update_info_copy:
 * @info: an info
 *
 * Copies @info.
 *
 * Returns: (transfer full): a new copy of @info
 */
GstSharedMatrixUpdateInfo *
gst_shared_matrix_update_info_copy (const GstSharedMatrixUpdateInfo * info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return g_memdup2 (info, sizeof (*info));
}

/**
 * gst_shared_matrix_update_info_free:
 * @info: (transfer full): an info from gst_shared_matrix_update_info_new()
 *   or gst_shared_matrix_update_info_copy()
 *
 * Frees @info.
 */
void
gst_shared_matrix_update_info_free (GstSharedMatrixUpdateInfo * info)
{
  g_free (info);
}

G_DEFINE_BOXED_TYPE (GstSharedMatrixUpdateInfo, gst_shared_matrix_update_info,
    gst_shared_matrix_update_info_copy, gst_shared_matrix_update_info_free);

/**
 * gst_shared_matrix_update_info_set_format:
 * @info: an info
 * @dtype: dtype of the deltas
 * @index_type: integer type of the row indices
 * @cols: values in one delta row
 *
 * Sets every field of @info.
 */
void
gst_shared_matrix_update_info_set_format (GstSharedMatrixUpdateInfo * info,
    GstSharedMatrixDType dtype, GstSharedMatrixIndexType index_type,
    guint cols)
{
  g_return_if_fail (info != NULL);
  gst_shared_matrix_update_info_init (info);
  info->dtype = dtype;
  info->index_type = index_type;
  info->cols = cols;
}

/* NNStreamer's rank limit */
#define MAX_TENSOR_RANK 16

/* One NNStreamer tensor's dimensions ("d0:d1:…", innermost first, each in
 * [1, @max_d0] for d0 and [1, G_MAXUINT64] for the others) into @dims;
 * returns how many, 0 when malformed. */
static guint
split_dims (const gchar * str, guint64 max_d0, guint64 dims[MAX_TENSOR_RANK])
{
  gchar **parts = g_strsplit (str, ":", -1);
  guint n = g_strv_length (parts), i;

  if (n > MAX_TENSOR_RANK)
    n = 0;
  for (i = 0; i < n; i++)
    if (!g_ascii_string_to_unsigned (g_strstrip (parts[i]), 10, 1,
            i == 0 ? max_d0 : G_MAXUINT64, &dims[i], NULL))
      n = 0;
  g_strfreev (parts);
  return n;
}

/* One tensor of an update: *@inner = d0, *@outer = the product of the
 * other dimensions (1 when there are none), at most G_MAXINT each. */
static gboolean
parse_tensor_dims (const gchar * str, guint64 * inner, guint64 * outer)
{
  guint64 dims[MAX_TENSOR_RANK];
  guint n = split_dims (str, G_MAXINT, dims), i;

  *inner = dims[0];
  *outer = 1;
  for (i = 1; i < n; i++)
    if (!g_uint64_checked_mul (outer, *outer, dims[i]) || *outer > G_MAXINT)
      return FALSE;
  return n > 0;
}

/* other/tensors, format=static, num_tensors=2: types "<index>,<dtype>"
 * (NNStreamer's names: no bfloat16), dimensions "N,cols:N" (the ids may
 * also be "1:N"): both tensors must agree on N. */
static gboolean
update_info_from_tensors (GstSharedMatrixUpdateInfo * info,
    const GstStructure * s)
{
  const gchar *format = gst_structure_get_string (s, "format");
  const gchar *types = gst_structure_get_string (s, "types");
  const gchar *dims = gst_structure_get_string (s, "dimensions");
  GstSharedMatrixIndexType index_type;
  GstSharedMatrixDType dtype;
  gchar **t = NULL, **d = NULL;
  guint64 ids_inner, ids_outer, cols, n;
  gint num_tensors = 0;
  gboolean ok;

  ok = g_strcmp0 (format, "static") == 0 &&
      gst_structure_get_int (s, "num_tensors", &num_tensors) &&
      num_tensors == 2 && types && dims;
  if (ok) {
    t = g_strsplit (types, ",", -1);
    d = g_strsplit (dims, ",", -1);
    ok = g_strv_length (t) == 2 && g_strv_length (d) == 2 &&
        gst_shared_matrix_index_type_from_string (g_strstrip (t[0]),
        &index_type) &&
        gst_shared_matrix_dtype_from_string (g_strstrip (t[1]), &dtype) &&
        dtype != GST_SHARED_MATRIX_DTYPE_BFLOAT16 &&
        parse_tensor_dims (d[0], &ids_inner, &ids_outer) &&
        parse_tensor_dims (d[1], &cols, &n) &&
        ids_inner * ids_outer == n && (ids_inner == 1 || ids_outer == 1);
  }
  g_strfreev (t);
  g_strfreev (d);
  if (!ok)
    return FALSE;

  gst_shared_matrix_update_info_set_format (info, dtype, index_type, cols);
  info->layout = GST_SHARED_MATRIX_UPDATE_LAYOUT_TENSORS;
  return TRUE;
}

/**
 * gst_shared_matrix_update_info_from_caps:
 * @info: (out caller-allocates): the info to fill
 * @caps: caps to parse
 *
 * Parses fixed update caps of either layout:
 * - `application/x-matrix-update`: `dtype` and `index-type` must name a
 *   dtype and an index type, `cols` must be a positive int (layout
 *   %GST_SHARED_MATRIX_UPDATE_LAYOUT_PACKED);
 * - NNStreamer's `other/tensors, format=static, num_tensors=2`: `types`
 *   an index type and a dtype NNStreamer knows (`int32,float32`, …; not
 *   bfloat16), `dimensions` the ids (`N` or `1:N`) and the deltas
 *   (`cols:N`, innermost first; further dimensions of 1 allowed), with the
 *   same N (layout %GST_SHARED_MATRIX_UPDATE_LAYOUT_TENSORS).
 *
 * @info is left unchanged when the caps are refused.
 *
 * Returns: %TRUE when @caps are fixed, valid update caps
 */
gboolean
gst_shared_matrix_update_info_from_caps (GstSharedMatrixUpdateInfo * info,
    const GstCaps * caps)
{
  const GstStructure *s;
  GstSharedMatrixDType dtype;
  GstSharedMatrixIndexType index_type;
  gint cols;

  g_return_val_if_fail (info != NULL, FALSE);

  s = fixed_structure (caps, NULL);
  if (s && gst_structure_has_name (s, GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE))
    return update_info_from_tensors (info, s);
  if (s == NULL ||
      !gst_structure_has_name (s, GST_SHARED_MATRIX_UPDATE_MEDIA_TYPE) ||
      !get_dtype_field (s, "dtype", &dtype) ||
      !get_index_type_field (s, &index_type) ||
      !gst_structure_get_int (s, "cols", &cols) || cols < 1)
    return FALSE;

  gst_shared_matrix_update_info_set_format (info, dtype, index_type, cols);
  return TRUE;
}

/**
 * gst_shared_matrix_update_info_to_caps:
 * @info: an info with cols set
 *
 * Builds the fixed update caps @info describes. For the tensors layout,
 * `other/tensors, format=static, num_tensors=2, types=<index>,<dtype>`
 * without dimensions (they name N, which the info does not hold).
 *
 * Returns: (transfer full) (nullable): new caps, %NULL when @info has no
 *   valid cols (0 or more than %G_MAXINT)
 */
GstCaps *
gst_shared_matrix_update_info_to_caps (const GstSharedMatrixUpdateInfo * info)
{
  g_return_val_if_fail (info != NULL, NULL);

  if (info->cols == 0 || info->cols > G_MAXINT)
    return NULL;
  if (info->layout == GST_SHARED_MATRIX_UPDATE_LAYOUT_TENSORS) {
    GstCaps *caps;
    gchar *types = g_strdup_printf ("%s,%s",
        gst_shared_matrix_index_type_to_string (info->index_type),
        gst_shared_matrix_dtype_to_string (info->dtype));

    caps = gst_caps_new_simple (GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE,
        "format", G_TYPE_STRING, "static", "num_tensors", G_TYPE_INT, 2,
        "types", G_TYPE_STRING, types, NULL);
    g_free (types);
    return caps;
  }
  return gst_caps_new_simple (GST_SHARED_MATRIX_UPDATE_MEDIA_TYPE,
      "dtype", G_TYPE_STRING, gst_shared_matrix_dtype_to_string (info->dtype),
      "index-type", G_TYPE_STRING,
      gst_shared_matrix_index_type_to_string (info->index_type),
      "cols", G_TYPE_INT, (gint) info->cols, NULL);
}

/**
 * gst_shared_matrix_update_info_record_size:
 * @info: an info
 *
 * Gets the size of one update record: one index plus one delta row of
 * cols values. An update buffer holds a whole number of records.
 *
 * Returns: bytes per record, 0 when @info has no cols
 */
gsize
gst_shared_matrix_update_info_record_size (const GstSharedMatrixUpdateInfo *
    info)
{
  g_return_val_if_fail (info != NULL, 0);

  if (info->cols == 0)
    return 0;
  /* cols <= G_MAXUINT and dtype size <= 8: fits 64 bits */
  return gst_shared_matrix_index_type_size (info->index_type) +
      (gsize) info->cols * gst_shared_matrix_dtype_size (info->dtype);
}

/**
 * gst_shared_matrix_update_info_is_equal:
 * @info: an info
 * @other: another info
 *
 * Compares two infos field by field.
 *
 * Returns: %TRUE when both describe the same update stream
 */
gboolean
gst_shared_matrix_update_info_is_equal (const GstSharedMatrixUpdateInfo * info,
    const GstSharedMatrixUpdateInfo * other)
{
  g_return_val_if_fail (info != NULL && other != NULL, FALSE);
  return info->dtype == other->dtype && info->index_type == other->index_type
      && info->cols == other->cols && info->layout == other->layout;
}

/* ---- snapshots ----------------------------------------------------------- */

/**
 * gst_shared_matrix_tensor_info_new:
 *
 * Allocates a #GstSharedMatrixTensorInfo, initialised with
 * gst_shared_matrix_tensor_info_init().
 *
 * Returns: (transfer full): a new info, free it with
 *   gst_shared_matrix_tensor_info_free()
 */
GstSharedMatrixTensorInfo *
gst_shared_matrix_tensor_info_new (void)
{
  GstSharedMatrixTensorInfo *info = g_new (GstSharedMatrixTensorInfo, 1);

  gst_shared_matrix_tensor_info_init (info);
  return info;
}

/**
 * gst_shared_matrix_tensor_info_new_from_caps:
 * @caps: fixed snapshot caps
 *
 * Parses @caps into a new info (for bindings: C code uses
 * gst_shared_matrix_tensor_info_from_caps() on its own struct).
 *
 * Returns: (transfer full) (nullable): a new info, %NULL when @caps are
 *   not fixed, valid snapshot caps
 */
GstSharedMatrixTensorInfo *
gst_shared_matrix_tensor_info_new_from_caps (const GstCaps * caps)
{
  GstSharedMatrixTensorInfo *info = gst_shared_matrix_tensor_info_new ();

  if (!gst_shared_matrix_tensor_info_from_caps (info, caps)) {
    gst_shared_matrix_tensor_info_free (info);
    return NULL;
  }
  return info;
}

/**
 * gst_shared_matrix_tensor_info_init:
 * @info: (out caller-allocates): an info to initialise
 *
 * Sets @info to a raw float32 snapshot of no shape (rows and cols 0: not
 * valid until set).
 */
void
gst_shared_matrix_tensor_info_init (GstSharedMatrixTensorInfo * info)
{
  g_return_if_fail (info != NULL);
  memset (info, 0, sizeof (*info));
  info->format = GST_SHARED_MATRIX_FORMAT_RAW;
  info->dtype = GST_SHARED_MATRIX_DTYPE_FLOAT32;
}

/**
 * gst_shared_matrix_tensor_info_copy:
 * @info: an info
 *
 * Copies @info.
 *
 * Returns: (transfer full): a new copy of @info
 */
GstSharedMatrixTensorInfo *
gst_shared_matrix_tensor_info_copy (const GstSharedMatrixTensorInfo * info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return g_memdup2 (info, sizeof (*info));
}

/**
 * gst_shared_matrix_tensor_info_free:
 * @info: (transfer full): an info from gst_shared_matrix_tensor_info_new()
 *   or gst_shared_matrix_tensor_info_copy()
 *
 * Frees @info.
 */
void
gst_shared_matrix_tensor_info_free (GstSharedMatrixTensorInfo * info)
{
  g_free (info);
}

G_DEFINE_BOXED_TYPE (GstSharedMatrixTensorInfo, gst_shared_matrix_tensor_info,
    gst_shared_matrix_tensor_info_copy, gst_shared_matrix_tensor_info_free);

/**
 * gst_shared_matrix_tensor_info_set_format:
 * @info: an info
 * @format: raw (`other/tensors`) or npy (`application/x-npy`)
 * @dtype: dtype of the matrix
 * @rows: rows of the matrix
 * @cols: columns of the matrix
 *
 * Sets every field of @info: a snapshot of a @rows × @cols matrix of
 * @dtype in @format.
 */
void
gst_shared_matrix_tensor_info_set_format (GstSharedMatrixTensorInfo * info,
    GstSharedMatrixFormat format, GstSharedMatrixDType dtype, guint64 rows,
    guint cols)
{
  g_return_if_fail (info != NULL);
  gst_shared_matrix_tensor_info_init (info);
  info->format = format;
  info->dtype = dtype;
  info->rows = rows;
  info->cols = cols;
}

/* NNStreamer dimensions, innermost first: "cols:rows"; rows may be left out
 * (one row) and any further dimension must be 1. */
static gboolean
parse_dimensions (const gchar * str, guint64 * rows, guint * cols)
{
  guint64 dims[MAX_TENSOR_RANK];
  guint n = split_dims (str, G_MAXINT, dims), i;

  if (n == 0)
    return FALSE;
  *cols = (guint) dims[0];
  *rows = n > 1 ? dims[1] : 1;
  for (i = 2; i < n; i++)
    if (dims[i] != 1)
      return FALSE;
  return TRUE;
}

/* other/tensors: one static tensor; format and num_tensors are checked
 * when present (NNStreamer's defaults are static and 1). */
static gboolean
tensor_info_from_structure (GstSharedMatrixTensorInfo * info,
    const GstStructure * s)
{
  const gchar *format = gst_structure_get_string (s, "format");
  const gchar *dims = gst_structure_get_string (s, "dimensions");
  GstSharedMatrixDType dtype;
  guint64 rows;
  guint cols;
  gint num_tensors = 1;

  if (gst_structure_has_field (s, "num_tensors") &&
      !gst_structure_get_int (s, "num_tensors", &num_tensors))
    return FALSE;
  if ((format && g_strcmp0 (format, "static") != 0) || num_tensors != 1 ||
      !get_dtype_field (s, "types", &dtype) || dims == NULL ||
      !parse_dimensions (dims, &rows, &cols))
    return FALSE;

  gst_shared_matrix_tensor_info_set_format (info, GST_SHARED_MATRIX_FORMAT_RAW,
      dtype, rows, cols);
  return TRUE;
}

/**
 * gst_shared_matrix_tensor_info_from_caps:
 * @info: (out caller-allocates): the info to fill
 * @caps: caps to parse
 *
 * Parses fixed snapshot caps. `other/tensors` caps must hold one static
 * tensor (`num_tensors` 1, `format` static, when given) whose `types` names
 * a dtype and whose `dimensions` are `<cols>:<rows>` (innermost first; rows
 * may be left out for one row, further dimensions must be 1).
 * `application/x-npy` caps give @format %GST_SHARED_MATRIX_FORMAT_NPY with
 * rows and cols 0: the shape is in each buffer's `.npy` header. @info is
 * left unchanged when the caps are refused.
 *
 * Returns: %TRUE when @caps are fixed, valid snapshot caps
 */
gboolean
gst_shared_matrix_tensor_info_from_caps (GstSharedMatrixTensorInfo * info,
    const GstCaps * caps)
{
  const GstStructure *s;

  g_return_val_if_fail (info != NULL, FALSE);

  s = fixed_structure (caps, NULL);
  if (s == NULL)
    return FALSE;
  if (gst_structure_has_name (s, GST_SHARED_MATRIX_NPY_MEDIA_TYPE)) {
    gst_shared_matrix_tensor_info_init (info);
    info->format = GST_SHARED_MATRIX_FORMAT_NPY;
    return TRUE;
  }
  if (gst_structure_has_name (s, GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE))
    return tensor_info_from_structure (info, s);
  return FALSE;
}

/**
 * gst_shared_matrix_tensor_info_to_caps:
 * @info: an info
 *
 * Builds the fixed snapshot caps @info describes: `application/x-npy`, or
 * `other/tensors` with the dtype, the dimensions `<cols>:<rows>` and
 * framerate 0/1.
 *
 * Returns: (transfer full) (nullable): new caps, %NULL for a raw info
 *   without a shape
 */
GstCaps *
gst_shared_matrix_tensor_info_to_caps (const GstSharedMatrixTensorInfo * info)
{
  GstCaps *caps;
  gchar *dims;

  g_return_val_if_fail (info != NULL, NULL);

  if (info->format == GST_SHARED_MATRIX_FORMAT_NPY)
    return gst_caps_new_empty_simple (GST_SHARED_MATRIX_NPY_MEDIA_TYPE);
  if (info->rows == 0 || info->cols == 0 || info->cols > G_MAXINT)
    return NULL;

  /* NNStreamer's convention: innermost dimension first */
  dims = g_strdup_printf ("%u:%" G_GUINT64_FORMAT, info->cols, info->rows);
  caps = gst_caps_new_simple (GST_SHARED_MATRIX_TENSOR_MEDIA_TYPE,
      "format", G_TYPE_STRING, "static",
      "num_tensors", G_TYPE_INT, 1,
      "types", G_TYPE_STRING, gst_shared_matrix_dtype_to_string (info->dtype),
      "dimensions", G_TYPE_STRING, dims,
      "framerate", GST_TYPE_FRACTION, 0, 1, NULL);
  g_free (dims);
  return caps;
}

/**
 * gst_shared_matrix_tensor_info_get_size:
 * @info: an info
 *
 * Gets the size of one snapshot buffer: rows × cols × the dtype size, plus
 * the `.npy` header for %GST_SHARED_MATRIX_FORMAT_NPY (the same as
 * gst_shared_matrix_get_size() of such a matrix).
 *
 * Returns: the size in bytes, 0 when @info has no shape or the snapshot
 *   does not fit in memory
 */
gsize
gst_shared_matrix_tensor_info_get_size (const GstSharedMatrixTensorInfo * info)
{
  guint64 size;

  g_return_val_if_fail (info != NULL, 0);

  if (info->rows == 0 || info->cols == 0)
    return 0;
  if (!g_uint64_checked_mul (&size, info->rows, info->cols) ||
      !g_uint64_checked_mul (&size, size,
          gst_shared_matrix_dtype_size (info->dtype)))
    return 0;
  if (info->format == GST_SHARED_MATRIX_FORMAT_NPY &&
      !g_uint64_checked_add (&size, size,
          sm_npy_header_size (info->dtype, info->rows,
              info->cols)))
    return 0;
  return size <= G_MAXSIZE ? (gsize) size : 0;
}

/**
 * gst_shared_matrix_tensor_info_is_equal:
 * @info: an info
 * @other: another info
 *
 * Compares two infos field by field.
 *
 * Returns: %TRUE when both describe the same snapshots
 */
gboolean
gst_shared_matrix_tensor_info_is_equal (const GstSharedMatrixTensorInfo * info,
    const GstSharedMatrixTensorInfo * other)
{
  g_return_val_if_fail (info != NULL && other != NULL, FALSE);
  return info->format == other->format && info->dtype == other->dtype &&
      info->rows == other->rows && info->cols == other->cols;
}

/* ---- row ids ------------------------------------------------------------- */

/**
 * gst_shared_matrix_ids_info_new:
 *
 * Allocates a #GstSharedMatrixIdsInfo, initialised with
 * gst_shared_matrix_ids_info_init().
 *
 * Returns: (transfer full): a new info, free it with
 *   gst_shared_matrix_ids_info_free()
 */
GstSharedMatrixIdsInfo *
gst_shared_matrix_ids_info_new (void)
{
  GstSharedMatrixIdsInfo *info = g_new (GstSharedMatrixIdsInfo, 1);

  gst_shared_matrix_ids_info_init (info);
  return info;
}

/**
 * gst_shared_matrix_ids_info_init:
 * @info: (out caller-allocates): an info to initialise
 *
 * Sets @info to int32 ids.
 */
void
gst_shared_matrix_ids_info_init (GstSharedMatrixIdsInfo * info)
{
  g_return_if_fail (info != NULL);
  memset (info, 0, sizeof (*info));
  info->index_type = GST_SHARED_MATRIX_INDEX_TYPE_INT32;
}

/**
 * gst_shared_matrix_ids_info_copy:
 * @info: an info
 *
 * Copies @info.
 *
 * Returns: (transfer full): a new copy of @info
 */
GstSharedMatrixIdsInfo *
gst_shared_matrix_ids_info_copy (const GstSharedMatrixIdsInfo * info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return g_memdup2 (info, sizeof (*info));
}

/**
 * gst_shared_matrix_ids_info_free:
 * @info: (transfer full): an info from gst_shared_matrix_ids_info_new() or
 *   gst_shared_matrix_ids_info_copy()
 *
 * Frees @info.
 */
void
gst_shared_matrix_ids_info_free (GstSharedMatrixIdsInfo * info)
{
  g_free (info);
}

G_DEFINE_BOXED_TYPE (GstSharedMatrixIdsInfo, gst_shared_matrix_ids_info,
    gst_shared_matrix_ids_info_copy, gst_shared_matrix_ids_info_free);

/**
 * gst_shared_matrix_ids_info_from_caps:
 * @info: (out caller-allocates): the info to fill
 * @caps: caps to parse
 *
 * Parses fixed `application/x-matrix-ids` caps, whose `index-type` must
 * name an index type. @info is left unchanged when the caps are refused.
 *
 * Returns: %TRUE when @caps are fixed, valid row-id caps
 */
gboolean
gst_shared_matrix_ids_info_from_caps (GstSharedMatrixIdsInfo * info,
    const GstCaps * caps)
{
  const GstStructure *s;
  GstSharedMatrixIndexType index_type;

  g_return_val_if_fail (info != NULL, FALSE);

  s = fixed_structure (caps, GST_SHARED_MATRIX_IDS_MEDIA_TYPE);
  if (s == NULL || !get_index_type_field (s, &index_type))
    return FALSE;
  gst_shared_matrix_ids_info_init (info);
  info->index_type = index_type;
  return TRUE;
}

/**
 * gst_shared_matrix_ids_info_to_caps:
 * @info: an info
 *
 * Builds the fixed row-id caps @info describes.
 *
 * Returns: (transfer full): new caps
 */
GstCaps *
gst_shared_matrix_ids_info_to_caps (const GstSharedMatrixIdsInfo * info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return gst_caps_new_simple (GST_SHARED_MATRIX_IDS_MEDIA_TYPE,
      "index-type", G_TYPE_STRING,
      gst_shared_matrix_index_type_to_string (info->index_type), NULL);
}
