/* gst-sharedmatrix: delta snapshots (src side) and delta chains (sink side)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * When downstream of sharedmatrix's src pad takes application/x-matrix-update,
 * each snapshot is a delta: the rows written since the previous snapshot of
 * this pad, with their current values (gst_shared_matrix_get_delta ()), in
 * the update layout. The caps carry delta=true (GST_SHARED_MATRIX_DELTA_FIELD)
 * so that the receiving sharedmatrix, and only for such streams, checks the
 * chain: OFFSET = the primary's version at the copy, OFFSET_END = the OFFSET
 * of the previous delta (0 for the first one after start). Ordinary update
 * streams (updatetestsrc sets OFFSET_END = NONE; other producers may put
 * anything there) carry no such field and are never checked.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sharedmatrix-delta.h"
#include "sharedmatrix-util.h"

GST_DEBUG_CATEGORY_EXTERN (gst_shared_matrix_element_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_element_debug

/* ---- the src side: making deltas ----------------------------------------- */

GstCaps *
sm_delta_caps (GstSharedMatrixDType dtype, guint cols,
    gboolean any_index_type, GstSharedMatrixIndexType index_type)
{
  GstSharedMatrixUpdateInfo info;
  GstCaps *caps;

  gst_shared_matrix_update_info_set_format (&info, dtype,
      any_index_type ? GST_SHARED_MATRIX_INDEX_TYPE_INT64 : index_type, cols);
  caps = gst_shared_matrix_update_info_to_caps (&info);
  if (any_index_type) {
    GValue list = G_VALUE_INIT, v = G_VALUE_INIT;

    /* a list, in order of preference: fixation takes int64 unless
     * downstream wants int32 */
    gst_value_list_init (&list, 2);
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_static_string (&v, "int64");
    gst_value_list_append_value (&list, &v);
    g_value_set_static_string (&v, "int32");
    gst_value_list_append_value (&list, &v);
    g_value_unset (&v);
    gst_caps_set_value (caps, "index-type", &list);
    g_value_unset (&list);
  }
  gst_caps_set_simple (caps, GST_SHARED_MATRIX_DELTA_FIELD, G_TYPE_BOOLEAN,
      TRUE, NULL);
  return caps;
}

gboolean
sm_delta_caps_is_delta (const GstCaps * caps)
{
  const GstStructure *s;
  gboolean delta = FALSE;

  if (caps == NULL || gst_caps_get_size (caps) < 1)
    return FALSE;
  s = gst_caps_get_structure (caps, 0);
  return gst_structure_has_name (s, GST_SHARED_MATRIX_UPDATE_MEDIA_TYPE) &&
      gst_structure_get_boolean (s, GST_SHARED_MATRIX_DELTA_FIELD, &delta) &&
      delta;
}

GstFlowReturn
sm_delta_make_buffer (GstElement * element, GstSharedMatrix * matrix,
    GstSharedMatrixIndexType index_type, guint64 * since, GstClockTime pts,
    GstBuffer ** out)
{
  guint64 version = 0;
  gsize n = 0;
  GError *err = NULL;
  GBytes *bytes;
  GstBuffer *buf;

  *out = NULL;
  bytes = gst_shared_matrix_get_delta (matrix, *since, index_type, &version,
      &n, &err);
  if (bytes == NULL)
    goto copy_failed;
  /* an empty delta is an empty buffer (wrapping needs data) */
  buf = n ? gst_buffer_new_wrapped_bytes (bytes) : gst_buffer_new ();
  g_bytes_unref (bytes);

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_OFFSET (buf) = version;
  GST_BUFFER_OFFSET_END (buf) = *since;
  GST_LOG_OBJECT (element, "delta of %" G_GSIZE_FORMAT " rows, versions %"
      G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT, n, *since, version);
  *since = version;
  *out = buf;
  return GST_FLOW_OK;

  /* ERRORS */
copy_failed:
  {
    GstFlowReturn ret = GST_FLOW_ERROR;

    if (err->code == GST_SHARED_MATRIX_ERROR_NO_MEMORY) {
      SM_ELEMENT_WARNING_FROM_GERROR (element, RESOURCE, NO_SPACE_LEFT, err,
          "No delta snapshot this time (the next one holds its rows too)");
      ret = GST_FLOW_OK;
    } else {
      SM_ELEMENT_ERROR_FROM_GERROR (element, RESOURCE, FAILED, err,
          "Cannot take a delta snapshot of the matrix");
    }
    g_error_free (err);
    return ret;
  }
}

/* ---- the sink side: following a chain ------------------------------------ */

void
sm_delta_follow_reset (SmDeltaFollow * follow, guint64 restored)
{
  follow->delta_stream = FALSE;
  follow->have_previous = restored != GST_BUFFER_OFFSET_NONE;
  follow->previous = follow->have_previous ? restored : 0;
}

void
sm_delta_follow_set_caps (SmDeltaFollow * follow, const GstCaps * caps)
{
  follow->delta_stream = sm_delta_caps_is_delta (caps);
}

gboolean
sm_delta_follow_check (SmDeltaFollow * follow, GstElement * element,
    GstBuffer * buf)
{
  if (!follow->delta_stream || !follow->have_previous ||
      !GST_BUFFER_OFFSET_END_IS_VALID (buf) ||
      GST_BUFFER_OFFSET_END (buf) == follow->previous)
    return TRUE;

  GST_ELEMENT_ERROR (element, STREAM, FAILED,
      ("Missed a delta: expected one continuing from version %"
          G_GUINT64_FORMAT ", got one continuing from %" G_GUINT64_FORMAT
          " (to version %" G_GUINT64_FORMAT "); the replica is out of date "
          "- restart it from a fresh snapshot/checkpoint", follow->previous,
          GST_BUFFER_OFFSET_END (buf), GST_BUFFER_OFFSET (buf)),
      ("delta stream (caps with %s=true): each buffer's OFFSET_END must be "
          "the OFFSET of the previous one applied",
          GST_SHARED_MATRIX_DELTA_FIELD));
  return FALSE;
}

void
sm_delta_follow_applied (SmDeltaFollow * follow, GstBuffer * buf)
{
  if (!follow->delta_stream || !GST_BUFFER_OFFSET_IS_VALID (buf))
    return;
  follow->have_previous = TRUE;
  follow->previous = GST_BUFFER_OFFSET (buf);
}
