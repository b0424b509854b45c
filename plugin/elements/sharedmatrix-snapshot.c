/* gst-sharedmatrix: the sharedmatrix element's snapshots (src pad)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A snapshot is one buffer holding a consistent copy of the whole matrix,
 * as raw other/tensors or as a complete .npy file, whichever downstream
 * takes (raw first), or, when downstream takes only
 * application/x-matrix-update, a delta: the rows written since the
 * previous snapshot of this pad (sharedmatrix-delta.c). PTS = the PTS of
 * the last applied update, OFFSET = the matrix version the copy shows.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sharedmatrix-snapshot.h"
#include "sharedmatrix-delta.h"
#include "sharedmatrix-util.h"

GST_DEBUG_CATEGORY_EXTERN (gst_shared_matrix_element_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_element_debug

void
sm_snapshot_init (SmSnapshot * snap, GstElement * element, GstPad * srcpad)
{
  snap->element = element;
  snap->srcpad = srcpad;
  g_mutex_init (&snap->lock);
  snap->format = GST_SHARED_MATRIX_FORMAT_RAW;
  snap->delta = FALSE;
  snap->delta_index_type = GST_SHARED_MATRIX_INDEX_TYPE_INT64;
  snap->delta_since = 0;
  snap->pool = NULL;
  snap->pool_size = 0;
  snap->negotiated = FALSE;
  snap->refused_by = NULL;
  snap->pushed_version = G_MAXUINT64;
}

void
sm_snapshot_clear (SmSnapshot * snap)
{
  sm_snapshot_reset (snap);
  sm_snapshot_release_pool (snap);
  g_mutex_clear (&snap->lock);
}

/* At start and stop: negotiate afresh. */
void
sm_snapshot_reset (SmSnapshot * snap)
{
  snap->negotiated = FALSE;
  snap->pushed_version = G_MAXUINT64;
  gst_clear_caps (&snap->refused_by);
  /* the first delta after start holds every row written so far */
  snap->delta_since = 0;
}

/* ---- negotiation --------------------------------------------------------- */

static GstCaps *
shape_caps (GstSharedMatrixFormat format, GstSharedMatrixDType dtype,
    guint64 rows, guint cols)
{
  GstSharedMatrixTensorInfo info;

  gst_shared_matrix_tensor_info_set_format (&info, format, dtype, rows, cols);
  return gst_shared_matrix_tensor_info_to_caps (&info);
}

static GstCaps *
snapshot_caps (GstSharedMatrix * matrix, GstSharedMatrixFormat format)
{
  return shape_caps (format, gst_shared_matrix_get_dtype (matrix),
      gst_shared_matrix_get_rows (matrix), gst_shared_matrix_get_cols (matrix));
}

/* Every snapshot format for a matrix of this shape, in order of
 * preference: the whole-matrix ones, then deltas. */
static GstCaps *
possible_caps_for_shape (GstSharedMatrixDType dtype, guint64 rows, guint cols)
{
  GstCaps *caps = shape_caps (GST_SHARED_MATRIX_FORMAT_RAW, dtype, rows, cols);

  gst_caps_append (caps, shape_caps (GST_SHARED_MATRIX_FORMAT_NPY, dtype, rows,
          cols));
  gst_caps_append (caps, sm_delta_caps (dtype, cols, TRUE, 0));
  return caps;
}

static GstCaps *
possible_caps (GstSharedMatrix * matrix)
{
  return possible_caps_for_shape (gst_shared_matrix_get_dtype (matrix),
      gst_shared_matrix_get_rows (matrix), gst_shared_matrix_get_cols (matrix));
}

/* The src pad's caps query: what this matrix can be snapshot as. Before
 * the matrix exists (NULL), for the shape the element will have when
 * @shape_known (so that tensor_transform & co negotiate in READY without
 * a capsfilter), else the template (any shape). */
GstCaps *
sm_snapshot_query_caps (SmSnapshot * snap, GstSharedMatrix * matrix,
    gboolean shape_known, GstSharedMatrixDType dtype, guint64 rows,
    guint cols, GstCaps * filter)
{
  GstCaps *caps;

  if (matrix)
    caps = possible_caps (matrix);
  else if (shape_known)
    caps = possible_caps_for_shape (dtype, rows, cols);
  else
    caps = gst_pad_get_pad_template_caps (snap->srcpad);
  caps = sm_caps_filter (caps, filter);
  return caps;
}

static gboolean
negotiate (SmSnapshot * snap, GstSharedMatrix * matrix)
{
  GstSharedMatrixTensorInfo info;
  GstSharedMatrixUpdateInfo delta_info;
  gboolean delta;
  GstCaps *ours, *peer;
  gboolean ok;

  ours = possible_caps (matrix);
  peer = gst_pad_peer_query_caps (snap->srcpad, ours);
  gst_caps_unref (ours);
  if (gst_caps_is_empty (peer))
    goto refused;

  /* the first of our structures downstream takes; only the deltas' index
   * type may be open (fixation takes int64, our first choice) */
  peer = gst_caps_fixate (peer);
  delta = gst_shared_matrix_update_info_from_caps (&delta_info, peer);
  if (!delta && !gst_shared_matrix_tensor_info_from_caps (&info, peer))
    info.format = GST_SHARED_MATRIX_FORMAT_RAW;
  gst_caps_unref (peer);

  if (delta)
    ours = sm_delta_caps (gst_shared_matrix_get_dtype (matrix),
        gst_shared_matrix_get_cols (matrix), FALSE, delta_info.index_type);
  else
    ours = snapshot_caps (matrix, info.format);
  ok = gst_pad_push_event (snap->srcpad, gst_event_new_caps (ours));
  gst_caps_unref (ours);
  if (ok) {
    g_mutex_lock (&snap->lock);
    snap->delta = delta;
    if (delta)
      snap->delta_index_type = delta_info.index_type;
    else
      snap->format = info.format;
    g_mutex_unlock (&snap->lock);
    snap->negotiated = TRUE;
    gst_clear_caps (&snap->refused_by);
  }
  return ok;

  /* ERRORS */
refused:
  {
    GstCaps *accepted = gst_pad_peer_query_caps (snap->srcpad, NULL);

    if (snap->refused_by == NULL || !gst_caps_is_equal (accepted,
            snap->refused_by)) {
      gchar *accepted_str = gst_caps_to_string (accepted);

      ours = possible_caps (matrix);
      GST_ELEMENT_ERROR (snap->element, CORE, NEGOTIATION,
          ("Downstream accepts neither other/tensors (types=%s, "
              "dimensions=%u:%" G_GUINT64_FORMAT ") nor application/x-npy "
              "snapshots nor application/x-matrix-update deltas (dtype=%s, "
              "cols=%u) of this matrix; it accepts: %s",
              gst_shared_matrix_dtype_to_string (gst_shared_matrix_get_dtype
                  (matrix)), gst_shared_matrix_get_cols (matrix),
              gst_shared_matrix_get_rows (matrix),
              gst_shared_matrix_dtype_to_string (gst_shared_matrix_get_dtype
                  (matrix)), gst_shared_matrix_get_cols (matrix),
              accepted_str),
          ("our caps %" GST_PTR_FORMAT, ours));
      gst_caps_unref (ours);
      g_free (accepted_str);
    }
    gst_caps_replace (&snap->refused_by, accepted);
    gst_caps_unref (accepted);
    gst_caps_unref (peer);
    return FALSE;
  }
}

/* Negotiates the src caps unless they hold and downstream asked for no
 * change. */
gboolean
sm_snapshot_ensure_caps (SmSnapshot * snap, GstSharedMatrix * matrix)
{
  if (snap->negotiated && !gst_pad_check_reconfigure (snap->srcpad))
    return TRUE;
  return negotiate (snap, matrix);
}

/* ---- the pool ------------------------------------------------------------ */

/* Snapshot buffers come from a pool: a fresh allocation of a whole matrix
 * each time page-faults through all of it (some 7,000 faults for 28 MB)
 * before the copy even starts, and halves the copy's speed. The pool has no
 * upper bound, so a consumer holding snapshots never blocks the updates;
 * a new size (another matrix, npy instead of raw) gets a new pool. */
static GstBuffer *
acquire_buffer (SmSnapshot * snap, gsize size)
{
  GstBufferPool *pool = NULL, *old = NULL;
  GstBuffer *buf = NULL;

  g_mutex_lock (&snap->lock);
  if (snap->pool_size != size) {
    GstBufferPool *fresh = NULL;

    /* a pool cannot hold buffers of 4 GB or more: those are allocated */
    if (size <= G_MAXUINT) {
      GstStructure *config;

      fresh = gst_buffer_pool_new ();
      config = gst_buffer_pool_get_config (fresh);
      gst_buffer_pool_config_set_params (config, NULL, (guint) size, 0, 0);
      if (!gst_buffer_pool_set_config (fresh, config) ||
          !gst_buffer_pool_set_active (fresh, TRUE))
        gst_clear_object (&fresh);
    }
    old = snap->pool;
    snap->pool = fresh;
    snap->pool_size = size;
  }
  if (snap->pool)
    pool = gst_object_ref (snap->pool);
  g_mutex_unlock (&snap->lock);

  if (old) {
    gst_buffer_pool_set_active (old, FALSE);
    gst_object_unref (old);
  }
  if (pool) {
    gst_buffer_pool_acquire_buffer (pool, &buf, NULL);
    gst_object_unref (pool);
  }
  if (buf == NULL)
    buf = gst_buffer_new_allocate (NULL, size, NULL);
  return buf;
}

void
sm_snapshot_release_pool (SmSnapshot * snap)
{
  GstBufferPool *pool;

  g_mutex_lock (&snap->lock);
  pool = snap->pool;
  snap->pool = NULL;
  snap->pool_size = 0;
  g_mutex_unlock (&snap->lock);
  if (pool) {
    gst_buffer_pool_set_active (pool, FALSE);
    gst_object_unref (pool);
  }
}

/* ---- snapshots ----------------------------------------------------------- */

/* *@out: a buffer holding a consistent copy of the matrix, stamped with
 * @pts and OFFSET = the version it shows. NULL when there is no copy: with
 * GST_FLOW_OK when memory for it cannot be had (a warning is posted,
 * streaming goes on), with GST_FLOW_ERROR when the matrix cannot be read
 * (an error is posted). */
static GstFlowReturn
make_buffer (SmSnapshot * snap, GstSharedMatrix * matrix,
    GstSharedMatrixFormat format, GstClockTime pts, GstBuffer ** out)
{
  gsize size = gst_shared_matrix_get_size (matrix, format);
  GstMapInfo map;
  GstBuffer *buf;
  guint64 version = 0;
  GError *err = NULL;
  gboolean ok;

  *out = NULL;
  buf = acquire_buffer (snap, size);
  if (buf == NULL)
    goto no_memory;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  ok = gst_shared_matrix_copy_to (matrix, format, map.data, map.size, &version,
      &err);
  gst_buffer_unmap (buf, &map);
  if (!ok)
    goto copy_failed;

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_OFFSET (buf) = version;
  GST_BUFFER_OFFSET_END (buf) = version;
  *out = buf;
  return GST_FLOW_OK;

  /* ERRORS */
no_memory:
  {
    GST_ELEMENT_WARNING (snap->element, RESOURCE, NO_SPACE_LEFT,
        ("Cannot allocate %" G_GSIZE_FORMAT " bytes for a snapshot", size),
        (NULL));
    return GST_FLOW_OK;
  }
copy_failed:
  {
    SM_ELEMENT_ERROR_FROM_GERROR (snap->element, RESOURCE, FAILED, err,
        "Cannot take a snapshot of the matrix");
    g_error_free (err);
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
}

/* Makes a snapshot and pushes it, negotiating first when needed. */
GstFlowReturn
sm_snapshot_push (SmSnapshot * snap, GstSharedMatrix * matrix,
    GstClockTime pts)
{
  GstSharedMatrixFormat format;
  GstSharedMatrixIndexType index_type;
  gboolean delta;
  GstFlowReturn ret;
  GstBuffer *buf;

  /* snapshots of an unlinked src pad are simply not made */
  if (!gst_pad_is_linked (snap->srcpad))
    return GST_FLOW_OK;
  if (!sm_snapshot_ensure_caps (snap, matrix))
    return GST_FLOW_NOT_NEGOTIATED;

  g_mutex_lock (&snap->lock);
  format = snap->format;
  delta = snap->delta;
  index_type = snap->delta_index_type;
  g_mutex_unlock (&snap->lock);

  if (delta)
    ret = sm_delta_make_buffer (snap->element, matrix, index_type,
        &snap->delta_since, pts, &buf);
  else
    ret = make_buffer (snap, matrix, format, pts, &buf);
  if (buf == NULL)
    return ret;
  GST_LOG_OBJECT (snap->element, "pushing snapshot of version %"
      G_GUINT64_FORMAT, GST_BUFFER_OFFSET (buf));
  snap->pushed_version = GST_BUFFER_OFFSET (buf);
  ret = gst_pad_push (snap->srcpad, buf);
  if (ret == GST_FLOW_NOT_LINKED)
    ret = GST_FLOW_OK;
  return ret;
}

/* Whether the last snapshot pushed shows @matrix as it is now (its
 * version): then a snapshot at EOS would repeat it. */
gboolean
sm_snapshot_is_current (SmSnapshot * snap, GstSharedMatrix * matrix)
{
  return snap->pushed_version != G_MAXUINT64 &&
      snap->pushed_version == gst_shared_matrix_get_version (matrix);
}

/* The snapshot action signal's sample: the negotiated whole-matrix format
 * if there is one, else raw tensors (also when deltas are negotiated: the
 * sample is a full copy a replica can start from, and the pad's delta
 * chain is not touched). Callable from any thread. */
GstSample *
sm_snapshot_sample (SmSnapshot * snap, GstSharedMatrix * matrix,
    GstClockTime pts)
{
  GstSharedMatrixTensorInfo info;
  GstCaps *caps;
  GstBuffer *buf;
  GstSample *sample;

  caps = gst_pad_get_current_caps (snap->srcpad);
  if (caps == NULL || !gst_shared_matrix_tensor_info_from_caps (&info, caps)) {
    gst_clear_caps (&caps);
    caps = snapshot_caps (matrix, GST_SHARED_MATRIX_FORMAT_RAW);
    info.format = GST_SHARED_MATRIX_FORMAT_RAW;
  }

  make_buffer (snap, matrix, info.format, pts, &buf);
  sample = buf ? gst_sample_new (buf, caps, NULL, NULL) : NULL;
  gst_clear_buffer (&buf);
  gst_caps_unref (caps);
  return sample;
}
