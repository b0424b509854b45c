/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-updatepartition
 * @title: updatepartition
 * @see_also: sharedmatrix
 *
 * Splits one `application/x-matrix-update` stream by row ownership, for a
 * matrix sharded over several devices or hosts. The global matrix has
 * #GstUpdatePartition:rows rows; with P = #GstUpdatePartition:partitions
 * and B = ceil (rows / P), partition p owns the global rows
 * [p·B, min ((p+1)·B, rows)) and is pushed on the request pad `src_p`.
 * Each partition's records keep their order and have their indices rebased
 * to the partition (row − p·B), so that each shard is an ordinary
 * `sharedmatrix rows=<its rows>` (B rows, fewer for the last partition:
 * rows − (P−1)·B; none at all when P > rows leaves it nothing).
 *
 * Every output buffer keeps the input buffer's PTS, DTS, duration, OFFSET
 * and OFFSET_END, and every partition gets one output buffer per input
 * buffer: a partition with no rows in it receives an empty update with that
 * OFFSET, so every shard sees every OFFSET (a shard's checkpoint then
 * records the producer's sequence number, and exactly-once replay works per
 * shard). The caps (dtype, index type, cols, and `delta=true` of a delta
 * stream) go unchanged to every src pad.
 *
 * A row id < 0 or >= #GstUpdatePartition:rows follows
 * #GstUpdatePartition:invalid-index as in `sharedmatrix`: `error` rejects
 * the buffer (nothing is pushed, an element error says which id), `drop`
 * leaves the record out and counts it in
 * #GstUpdatePartition:rows-dropped. A partition whose pad was not requested
 * is dropped; a pad `src_N` with N >= partitions is refused.
 *
 * Several GPUs in one host: one `sharedmatrix device-id=N` per partition.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=1000 rows=70000 ! updatepartition name=p partitions=2 rows=70000 \
 *   p.src_0 ! queue ! sharedmatrix rows=35000 cols=100 device-id=0 ! application/x-npy ! filesink location=shard0.npy \
 *   p.src_1 ! queue ! sharedmatrix rows=35000 cols=100 device-id=1 ! application/x-npy ! filesink location=shard1.npy
 * ]| applies one update stream to a 70000 × 100 matrix held as two shards
 * on two GPUs; `numpy.concatenate ([numpy.load ("shard0.npy"),
 * numpy.load ("shard1.npy")])` is the whole matrix.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include <gst/base/gstflowcombiner.h>

#include "gstupdatepartition.h"
#include "gstsharedmatrix.h"
#include "sharedmatrix-util.h"
#include "sharedmatrix-ops.h"

GST_DEBUG_CATEGORY_STATIC (gst_update_partition_debug);
#define GST_CAT_DEFAULT gst_update_partition_debug

#define DEFAULT_PROP_PARTITIONS 1
#define DEFAULT_PROP_ROWS 0
#define DEFAULT_PROP_INVALID_INDEX GST_SHARED_MATRIX_INVALID_INDEX_ERROR

enum
{
  PROP_0,
  PROP_PARTITIONS,
  PROP_ROWS,
  PROP_INVALID_INDEX,
  PROP_ROWS_DROPPED,
};

/* The property values, under the object lock; copied into State at
 * READY -> PAUSED and fixed from then on. */
typedef struct
{
  guint partitions;
  guint64 rows;
  GstSharedMatrixInvalidIndexPolicy invalid_index;
} Settings;

/* The streaming thread's state (the sink pad's stream lock). */
typedef struct
{
  Settings settings;
  guint64 block;                /* B = ceil (rows / partitions) */
  gboolean have_caps;
  GstSharedMatrixUpdateInfo info;
  /* per partition, reused for every buffer: records in the current input */
  gsize *counts;
} State;

/* Lock order: the stream lock (State), then the object lock (Settings,
 * the pads, rows_dropped). */
struct _GstUpdatePartition
{
  GstElement parent;

  GstPad *sinkpad;
  /* under the object lock */
  Settings settings;
  guint64 rows_dropped;
  /* under the stream lock */
  State state;
  GstFlowCombiner *flow_combiner;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src_%u",
    GST_PAD_SRC,
    GST_PAD_REQUEST,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE));

#define gst_update_partition_parent_class parent_class
G_DEFINE_TYPE (GstUpdatePartition, gst_update_partition, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (updatepartition, "updatepartition",
    GST_RANK_NONE, GST_TYPE_UPDATE_PARTITION,
    GST_DEBUG_CATEGORY_INIT (gst_update_partition_debug, "updatepartition", 0,
        "Update stream partitioner"));

/* The partition number of a src pad ("src_%u"). */
static guint
pad_partition (GstPad * pad)
{
  return GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (pad),
          "sm-partition"));
}

/* ---- the data path ------------------------------------------------------- */

/* Checks every id before anything is pushed; counts the records of each
 * partition into st->counts. FALSE (an element error posted) when an id is
 * out of range and the policy is error. */
static gboolean
count_records (GstUpdatePartition * self, const guint8 * indices, gsize n,
    gsize * dropped)
{
  State *st = &self->state;
  gboolean int64 = st->info.index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64;
  gsize i;

  memset (st->counts, 0, st->settings.partitions * sizeof (gsize));
  *dropped = 0;
  for (i = 0; i < n; i++) {
    gint64 r = sm_load_index (indices, int64, i);

    if (r < 0 || (guint64) r >= st->settings.rows) {
      if (st->settings.invalid_index == GST_SHARED_MATRIX_INVALID_INDEX_ERROR)
        goto invalid;
      (*dropped)++;
      continue;
    }
    st->counts[(guint64) r / st->block]++;
  }
  return TRUE;

  /* ERRORS */
invalid:
  {
    GError *err = g_error_new (GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_INDEX,
        "Row index %" G_GINT64_FORMAT " (update row %" G_GSIZE_FORMAT " of %"
        G_GSIZE_FORMAT ") is out of range: the partitioned matrix has %"
        G_GUINT64_FORMAT " rows, valid indices are 0 to %" G_GUINT64_FORMAT
        " (invalid-index=drop skips such rows)",
        sm_load_index (indices, int64, i), i, n, st->settings.rows,
        st->settings.rows - 1);

    SM_ELEMENT_ERROR_FROM_GERROR (self, STREAM, FAILED, err,
        "Update rejected, nothing pushed");
    g_error_free (err);
    return FALSE;
  }
}

/* The records of partition @p, rebased, in buffer order. */
static GstBuffer *
partition_buffer (GstUpdatePartition * self, guint p, const guint8 * indices,
    const guint8 * deltas, gsize n, GstBuffer * in)
{
  State *st = &self->state;
  gboolean int64 = st->info.index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64;
  gsize isize = int64 ? 8 : 4;
  gsize drow = (gsize) st->info.cols *
      gst_shared_matrix_dtype_size (st->info.dtype);
  gsize m = st->counts[p], i, k = 0;
  guint64 first = (guint64) p * st->block;
  GstBuffer *out;
  GstMapInfo map;

  out = m ? gst_buffer_new_allocate (NULL, m * (isize + drow), NULL) :
      gst_buffer_new ();
  if (m) {
    gst_buffer_map (out, &map, GST_MAP_WRITE);
    for (i = 0; i < n && k < m; i++) {
      gint64 r = sm_load_index (indices, int64, i);

      if (r < 0 || (guint64) r >= st->settings.rows ||
          (guint64) r / st->block != p)
        continue;
      if (int64) {
        gint64 v = r - (gint64) first;

        memcpy (map.data + k * 8, &v, 8);
      } else {
        gint32 v = (gint32) (r - (gint64) first);

        memcpy (map.data + k * 4, &v, 4);
      }
      memcpy (map.data + m * isize + k * drow, deltas + i * drow, drow);
      k++;
    }
    gst_buffer_unmap (out, &map);
  }
  gst_buffer_copy_into (out, in, GST_BUFFER_COPY_FLAGS |
      GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  return out;
}

static GstFlowReturn
gst_update_partition_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (parent);
  State *st = &self->state;
  GstFlowReturn ret = GST_FLOW_OK;
  GList *pads = NULL, *l;
  gsize record, n, dropped;
  const guint8 *indices, *deltas;
  GstMapInfo map;

  if (!st->have_caps)
    goto not_negotiated;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    goto map_failed;
  record = gst_shared_matrix_update_info_record_size (&st->info);
  if (map.size % record != 0)
    goto malformed;
  n = map.size / record;
  indices = map.data;
  deltas = n ? map.data + n * gst_shared_matrix_index_type_size
      (st->info.index_type) : map.data;
  if (!count_records (self, indices, n, &dropped))
    goto rejected;
  if (dropped) {
    GST_OBJECT_LOCK (self);
    self->rows_dropped += dropped;
    GST_OBJECT_UNLOCK (self);
  }

  /* the pads under the object lock, pushed without it */
  GST_OBJECT_LOCK (self);
  for (l = GST_ELEMENT (self)->srcpads; l; l = l->next)
    pads = g_list_prepend (pads, gst_object_ref (l->data));
  GST_OBJECT_UNLOCK (self);
  pads = g_list_reverse (pads);

  for (l = pads; l; l = l->next) {
    GstPad *srcpad = l->data;
    guint p = pad_partition (srcpad);
    GstFlowReturn pushed;

    if (p >= st->settings.partitions)
      continue;
    pushed = gst_pad_push (srcpad, partition_buffer (self, p, indices, deltas,
            n, buf));
    ret = gst_flow_combiner_update_pad_flow (self->flow_combiner, srcpad,
        pushed);
    if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED)
      break;
  }
  g_list_free_full (pads, gst_object_unref);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  return ret;

  /* ERRORS */
not_negotiated:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Update buffer arrived before caps"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
map_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Cannot map update buffer"),
        (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
malformed:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Malformed update buffer: %" G_GSIZE_FORMAT " bytes is not a whole "
            "number of %" G_GSIZE_FORMAT "-byte records (one %s index + %u %s "
            "deltas)", map.size, record,
            gst_shared_matrix_index_type_to_string (st->info.index_type),
            st->info.cols,
            gst_shared_matrix_dtype_to_string (st->info.dtype)), (NULL));
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
rejected:
  {
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
}

/* ---- pads ---------------------------------------------------------------- */

static gboolean
gst_update_partition_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (parent);
  State *st = &self->state;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;

      gst_event_parse_caps (event, &caps);
      st->have_caps = gst_shared_matrix_update_info_from_caps (&st->info,
          caps);
      if (!st->have_caps) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Unusable update caps %" GST_PTR_FORMAT, caps), (NULL));
        gst_event_unref (event);
        return FALSE;
      }
      break;
    }
    case GST_EVENT_FLUSH_STOP:
      gst_flow_combiner_reset (self->flow_combiner);
      break;
    default:
      break;
  }
  /* the same caps and events on every src pad */
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
copy_sticky_event (GstPad * pad, GstEvent ** event, gpointer user_data)
{
  gst_pad_store_sticky_event (GST_PAD (user_data), *event);
  return TRUE;
}

/* Called with the object lock held. */
static gboolean
has_partition_pad (GstUpdatePartition * self, guint p)
{
  GList *l;

  for (l = GST_ELEMENT (self)->srcpads; l; l = l->next)
    if (pad_partition (l->data) == p)
      return TRUE;
  return FALSE;
}

static GstPad *
gst_update_partition_request_new_pad (GstElement * element,
    GstPadTemplate * templ, const gchar * name, const GstCaps * caps)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (element);
  guint p = 0, partitions;
  gchar *pad_name;
  GstPad *pad;

  GST_OBJECT_LOCK (self);
  partitions = self->settings.partitions;
  if (name == NULL || strcmp (name, "src_%u") == 0) {
    /* no number asked for: the first partition without a pad */
    while (p < partitions && has_partition_pad (self, p))
      p++;
  } else if (sscanf (name, "src_%u", &p) != 1) {
    GST_OBJECT_UNLOCK (self);
    goto bad_name;
  }
  GST_OBJECT_UNLOCK (self);
  if (p >= partitions)
    goto out_of_range;

  pad_name = g_strdup_printf ("src_%u", p);
  pad = gst_pad_new_from_template (templ, pad_name);
  g_free (pad_name);
  g_object_set_data (G_OBJECT (pad), "sm-partition", GUINT_TO_POINTER (p));
  GST_PAD_SET_PROXY_CAPS (pad);
  gst_pad_set_active (pad, TRUE);
  /* a pad requested while streaming starts with the caps and segment */
  gst_pad_sticky_events_foreach (self->sinkpad, copy_sticky_event, pad);
  if (!gst_element_add_pad (element, pad))
    goto exists;
  gst_flow_combiner_add_pad (self->flow_combiner, pad);
  return pad;

  /* ERRORS */
bad_name:
  {
    GST_WARNING_OBJECT (self, "request a pad by name src_<partition>, not %s",
        GST_STR_NULL (name));
    return NULL;
  }
out_of_range:
  {
    GST_ELEMENT_WARNING (self, CORE, PAD,
        ("Pad src_%u refused: partitions=%u, so the pads are src_0 to "
            "src_%u (set partitions first; each once)", p, partitions,
            partitions - 1), (NULL));
    return NULL;
  }
exists:
  {
    GST_WARNING_OBJECT (self, "pad src_%u exists already", p);
    gst_object_unref (pad);
    return NULL;
  }
}

static void
gst_update_partition_release_pad (GstElement * element, GstPad * pad)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (element);

  /* the stream lock: not while a buffer is being pushed to it */
  GST_PAD_STREAM_LOCK (self->sinkpad);
  gst_flow_combiner_remove_pad (self->flow_combiner, pad);
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
  GST_PAD_STREAM_UNLOCK (self->sinkpad);
}

/* ---- state --------------------------------------------------------------- */

static gboolean
start (GstUpdatePartition * self)
{
  State *st = &self->state;

  GST_OBJECT_LOCK (self);
  st->settings = self->settings;
  self->rows_dropped = 0;
  GST_OBJECT_UNLOCK (self);

  if (st->settings.rows == 0)
    goto no_rows;
  st->block = st->settings.rows / st->settings.partitions +
      (st->settings.rows % st->settings.partitions != 0);
  st->have_caps = FALSE;
  gst_shared_matrix_update_info_init (&st->info);
  g_free (st->counts);
  st->counts = g_new0 (gsize, st->settings.partitions);
  gst_flow_combiner_reset (self->flow_combiner);
  return TRUE;

  /* ERRORS */
no_rows:
  {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("rows is 0: set rows to the number of rows of the whole (global) "
            "matrix, 1 or more"), (NULL));
    return FALSE;
  }
}

static GstStateChangeReturn
gst_update_partition_change_state (GstElement * element,
    GstStateChange transition)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !start (self))
    return GST_STATE_CHANGE_FAILURE;
  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    g_clear_pointer (&self->state.counts, g_free);
    self->state.have_caps = FALSE;
  }
  return ret;
}

/* ---- properties ---------------------------------------------------------- */

static void
gst_update_partition_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_PARTITIONS:
      self->settings.partitions = g_value_get_uint (value);
      break;
    case PROP_ROWS:
      self->settings.rows = g_value_get_uint64 (value);
      break;
    case PROP_INVALID_INDEX:
      self->settings.invalid_index = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_update_partition_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_PARTITIONS:
      g_value_set_uint (value, self->settings.partitions);
      break;
    case PROP_ROWS:
      g_value_set_uint64 (value, self->settings.rows);
      break;
    case PROP_INVALID_INDEX:
      g_value_set_enum (value, self->settings.invalid_index);
      break;
    case PROP_ROWS_DROPPED:
      g_value_set_uint64 (value, self->rows_dropped);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_update_partition_finalize (GObject * object)
{
  GstUpdatePartition *self = GST_UPDATE_PARTITION (object);

  g_free (self->state.counts);
  gst_flow_combiner_free (self->flow_combiner);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_update_partition_class_init (GstUpdatePartitionClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_update_partition_set_property;
  gobject_class->get_property = gst_update_partition_get_property;
  gobject_class->finalize = gst_update_partition_finalize;
  element_class->change_state = gst_update_partition_change_state;
  element_class->request_new_pad = gst_update_partition_request_new_pad;
  element_class->release_pad = gst_update_partition_release_pad;

  g_object_class_install_property (gobject_class, PROP_PARTITIONS,
      g_param_spec_uint ("partitions", "Partitions",
          "Number of partitions P: partition p owns the global rows "
          "[p*B, min((p+1)*B, rows)) with B = ceil(rows/P) and is pushed on "
          "src_p", 1, G_MAXUINT, DEFAULT_PROP_PARTITIONS, rw));
  g_object_class_install_property (gobject_class, PROP_ROWS,
      g_param_spec_uint64 ("rows", "Rows",
          "Rows of the whole (global) matrix; must be set (1 or more)", 0,
          G_MAXINT64, DEFAULT_PROP_ROWS, rw));
  g_object_class_install_property (gobject_class, PROP_INVALID_INDEX,
      g_param_spec_enum ("invalid-index", "Invalid index policy",
          "What to do with a row id < 0 or >= rows: error rejects the whole "
          "buffer (nothing pushed), drop leaves the record out and counts it",
          GST_TYPE_SHARED_MATRIX_INVALID_INDEX_POLICY,
          DEFAULT_PROP_INVALID_INDEX, rw));
  g_object_class_install_property (gobject_class, PROP_ROWS_DROPPED,
      g_param_spec_uint64 ("rows-dropped", "Rows dropped",
          "Records left out for an out-of-range row id (invalid-index=drop)",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Update stream partitioner", "Filter/Demuxer",
      "Splits a sparse matrix update stream by row ownership into one "
      "stream per shard, with rebased row indices",
      "gst-sharedmatrix developers");
}

static void
gst_update_partition_init (GstUpdatePartition * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, gst_update_partition_chain);
  gst_pad_set_event_function (self->sinkpad, gst_update_partition_sink_event);
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->settings.partitions = DEFAULT_PROP_PARTITIONS;
  self->settings.rows = DEFAULT_PROP_ROWS;
  self->settings.invalid_index = DEFAULT_PROP_INVALID_INDEX;
  self->flow_combiner = gst_flow_combiner_new ();
}
