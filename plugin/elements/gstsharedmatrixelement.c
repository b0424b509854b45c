/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-sharedmatrix
 * @title: sharedmatrix
 *
 * Holds a #GstSharedMatrix (a rows × cols parameter matrix, on the GPU when
 * one is usable) and applies the sparse row updates arriving on its sink pad
 * in place: each `application/x-matrix-update` buffer carries N row indices
 * followed by N delta rows, combined with the matrix by #GstSharedMatrixElement:op.
 * Consistent snapshots of the whole matrix leave on the src pad, as raw
 * `other/tensors` or as complete `.npy` files, after every N updates, every
 * so much running time, at EOS, or on demand through the `snapshot` action
 * signal.
 *
 * When downstream takes `application/x-matrix-update` instead, the same
 * triggers push **delta snapshots**: the rows written since the previous
 * snapshot of this pad (ascending, each once) with their current values,
 * in the update layout, with caps `delta=true` and the index type
 * downstream picks (int64 preferred). The first delta after start holds
 * every row written since the matrix was created or loaded. OFFSET = the
 * matrix version at the copy, OFFSET_END = the OFFSET of the previous delta
 * (0 for the first). A replica `sharedmatrix op=set` that starts from the
 * same initial matrix and applies the deltas equals this matrix bit for bit
 * at each delta's version. A `sharedmatrix` fed such a stream checks the
 * chain: a delta whose OFFSET_END is not the OFFSET of the last delta it
 * applied means a delta was missed, which is an error (the replica is out
 * of date and must be restarted from a fresh snapshot or checkpoint).
 * Update streams without `delta=true` are never checked. The `snapshot`
 * action signal always returns a full copy (raw tensors when deltas are
 * negotiated) and leaves the pad's delta chain alone.
 *
 * Elements with the same #GstSharedMatrixElement:matrix-name share one matrix
 * across all pipelines of the process; an application can also pass its own
 * matrix through #GstSharedMatrixElement:matrix, or to a whole pipeline as a
 * #GstContext of type `gst.sharedmatrix.matrix` (NEED_CONTEXT /
 * HAVE_CONTEXT; the element offers the matrix it has the same way). Which
 * wins: matrix property > context > matrix-name > create. The matrix outlives state
 * changes: it is created when the element first starts and kept until a
 * property that defines it (shape, dtype, backend, location, name) changes.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=1000 ! sharedmatrix rows=70000 cols=100 ! application/x-npy ! filesink location=C.npy
 * ]| applies 1000 updates of 200 rows to a zero 70000 × 100 float32 matrix and
 * writes the final matrix to C.npy (`numpy.load ("C.npy")`).
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=1000 ! sharedmatrix rows=70000 cols=100 snapshot-every=10 ! application/x-matrix-update ! sharedmatrix name=replica rows=70000 cols=100 op=set
 * ]| keeps a replica up to date with delta snapshots: every 10 updates the
 * rows they wrote travel to the replica, which equals the primary after
 * each delta.
 *
 * ## Training at update time
 *
 * With #GstSharedMatrixElement:optimizer other than none, update buffers
 * carry gradients instead of deltas and each one is applied as one
 * optimizer step (sgd, adagrad, rowwise-adagrad or adam, see
 * gst_shared_matrix_apply_gradients()); #GstSharedMatrixElement:op is not
 * used. The optimizer state is part of the matrix: shared by name, saved in
 * checkpoints and restored with them.
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=1000 scale=0.1 ! sharedmatrix rows=70000 cols=100 optimizer=adam learning-rate=0.001 checkpoint-location=emb.ckpt checkpoint-every=100
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsharedmatrix.h"

#include "gstsharedmatrixelement.h"
#include "sharedmatrix-allocation.h"
#include "sharedmatrix-delta.h"
#include "sharedmatrix-context.h"
#include "sharedmatrix-matrix.h"
#include "sharedmatrix-snapshot.h"
#include "sharedmatrix-stats.h"
#include "sharedmatrix-util.h"
#include "gstsharedmatrixcheckpointwriter.h"
#include "sharedmatrix-durable.h"

/* shared with the element's other files (sharedmatrix-*.c) */
GST_DEBUG_CATEGORY (gst_shared_matrix_element_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_element_debug

#define DEFAULT_PROP_MATRIX_NAME NULL
#define DEFAULT_PROP_ROWS 0
#define DEFAULT_PROP_COLS 0
#define DEFAULT_PROP_DTYPE GST_SHARED_MATRIX_DTYPE_FLOAT32
#define DEFAULT_PROP_BACKEND GST_SHARED_MATRIX_BACKEND_AUTO
#define DEFAULT_PROP_DEVICE_ID -1
#define DEFAULT_PROP_LOCATION NULL
#define DEFAULT_PROP_OP GST_SHARED_MATRIX_OP_ADD
#define DEFAULT_PROP_INVALID_INDEX GST_SHARED_MATRIX_INVALID_INDEX_ERROR
#define DEFAULT_PROP_NON_FINITE GST_SHARED_MATRIX_NON_FINITE_APPLY
#define DEFAULT_PROP_SNAPSHOT_EVERY 0
#define DEFAULT_PROP_SNAPSHOT_INTERVAL 0
#define DEFAULT_PROP_SNAPSHOT_ON_EOS TRUE
#define DEFAULT_PROP_POST_MESSAGES FALSE
#define DEFAULT_PROP_MESSAGE_INTERVAL GST_SECOND
#define DEFAULT_PROP_CHECKPOINT_LOCATION NULL
#define DEFAULT_PROP_CHECKPOINT_EVERY 0
#define DEFAULT_PROP_OPTIMIZER GST_SHARED_MATRIX_OPTIMIZER_NONE

enum
{
  PROP_0,
  PROP_MATRIX,
  PROP_MATRIX_NAME,
  PROP_ROWS,
  PROP_COLS,
  PROP_DTYPE,
  PROP_BACKEND,
  PROP_DEVICE_ID,
  PROP_LOCATION,
  PROP_OP,
  PROP_INVALID_INDEX,
  PROP_NON_FINITE,
  PROP_SNAPSHOT_EVERY,
  PROP_SNAPSHOT_INTERVAL,
  PROP_SNAPSHOT_ON_EOS,
  PROP_POST_MESSAGES,
  PROP_MESSAGE_INTERVAL,
  PROP_CHECKPOINT_LOCATION,
  PROP_CHECKPOINT_EVERY,
  PROP_ACTIVE_BACKEND,
  PROP_VERSION,
  PROP_UPDATES_APPLIED,
  PROP_ROWS_APPLIED,
  PROP_ROWS_DROPPED,
  PROP_LAST_OFFSET,
  PROP_UPDATES_SKIPPED,
  PROP_OPTIMIZER,
  PROP_LEARNING_RATE,
  PROP_EPSILON,
  PROP_BETA1,
  PROP_BETA2,
  PROP_WEIGHT_DECAY,
};

enum
{
  SIGNAL_SNAPSHOT,
  LAST_SIGNAL
};

static guint signals[LAST_SIGNAL];

/* The property values. Only op may change while streaming (PLAYING);
 * everything else is fixed from READY to PAUSED on. */
typedef struct
{
  SmMatrixSpec matrix;          /* what defines the matrix */
  GstSharedMatrixOp op;
  GstSharedMatrixPolicies policies;     /* invalid-index, non-finite */
  guint snapshot_every;
  guint64 snapshot_interval;
  gboolean snapshot_on_eos;
  gboolean post_messages;
  guint64 message_interval;
  guint checkpoint_every;
  GstSharedMatrixOptimizer optimizer;
  /* learning-rate may change while streaming, like op */
  GstSharedMatrixOptimizerParams optim_params;
} Settings;

/* The streaming thread's state, set up at READY -> PAUSED and torn down
 * at PAUSED -> READY; between those, owned by the streaming thread
 * (serialised by the sink pad's stream lock). */
typedef struct
{
  /* the settings copied once at start; settings.op is refreshed for each
   * buffer (it may change in PLAYING) */
  Settings settings;
  GstSharedMatrix *matrix;      /* a reference to the one in use */
  gboolean have_caps;
  GstSharedMatrixUpdateInfo info;       /* the negotiated update caps */
  GstSegment segment;
  guint updates_since_snapshot;
  GstClockTime last_snapshot_time;
  GstClockTime last_running_time;       /* of the last applied update */
  gint64 start_monotonic;
  /* with checkpoints: updates with OFFSET <= this were applied already */
  guint64 skip_through;
  guint updates_since_checkpoint;
  GstSharedMatrixCheckpointWriter *checkpoint_writer;
  /* fed a delta stream: the chain it follows */
  SmDeltaFollow delta_follow;
} State;

/* Lock order: the stream lock (State), then the object lock (settings,
 * matrix), then the leaf locks of stats and snapshot, which are never
 * held while taking another lock. */
struct _GstSharedMatrixElement
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* under the object lock */
  Settings settings;
  GstSharedMatrix *matrix;      /* in use, or set by the application */
  gboolean matrix_from_app;     /* set through the matrix property */

  /* under the stream lock */
  State state;

  /* under their own locks */
  SmStats stats;
  SmSnapshot snapshot;
  SmDurable durable;            /* upstream durability events */
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE "; "
        GST_SHARED_MATRIX_TENSORS_UPDATE_CAPS_TEMPLATE));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_TENSOR_CAPS_TEMPLATE "; "
        GST_SHARED_MATRIX_NPY_MEDIA_TYPE "; "
        GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE));

#define gst_shared_matrix_element_parent_class parent_class
G_DEFINE_TYPE (GstSharedMatrixElement, gst_shared_matrix_element,
    GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (sharedmatrix, "sharedmatrix",
    GST_RANK_NONE, GST_TYPE_SHARED_MATRIX_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (gst_shared_matrix_element_debug, "sharedmatrix",
        0, "Shared matrix element"));

static void
settings_copy (Settings * dest, const Settings * src)
{
  *dest = *src;
  sm_matrix_spec_copy (&dest->matrix, &src->matrix);
}

static void
settings_clear (Settings * settings)
{
  sm_matrix_spec_clear (&settings->matrix);
}

/* A new reference to the matrix in use, or NULL. */
static GstSharedMatrix *
get_matrix (GstSharedMatrixElement * self)
{
  GstSharedMatrix *matrix = NULL;

  GST_OBJECT_LOCK (self);
  if (self->matrix)
    matrix = gst_object_ref (self->matrix);
  GST_OBJECT_UNLOCK (self);
  return matrix;
}

/* Makes sure self->matrix is set: the application's, the one registered
 * under matrix-name, or a new one. Posts an error and returns FALSE when
 * no matrix can be had. */
static gboolean
ensure_matrix (GstSharedMatrixElement * self)
{
  GstSharedMatrix *current = NULL, *matrix;
  SmMatrixSpec spec;
  gboolean created;
  guint64 last_offset;

  GST_OBJECT_LOCK (self);
  if (self->matrix && !self->settings.matrix.name) {
    matrix = gst_object_ref (self->matrix);
    GST_OBJECT_UNLOCK (self);
    sm_context_publish (GST_ELEMENT (self), matrix, NULL);
    gst_object_unref (matrix);
    return TRUE;
  }
  sm_matrix_spec_copy (&spec, &self->settings.matrix);
  if (self->matrix)
    current = gst_object_ref (self->matrix);
  GST_OBJECT_UNLOCK (self);

  matrix = sm_matrix_obtain (GST_ELEMENT (self), &spec, current, &created,
      &last_offset);
  gst_clear_object (&current);
  if (matrix == NULL) {
    sm_matrix_spec_clear (&spec);
    return FALSE;
  }
  /* offered to the pipeline and the application (GstContext) */
  sm_context_publish (GST_ELEMENT (self), matrix, spec.name);
  sm_matrix_spec_clear (&spec);

  if (created)
    sm_stats_set_last_offset (&self->stats, last_offset);
  GST_OBJECT_LOCK (self);
  gst_object_replace ((GstObject **) & self->matrix, GST_OBJECT (matrix));
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (self, "using %" G_GUINT64_FORMAT " x %u %s matrix on %s",
      gst_shared_matrix_get_rows (matrix), gst_shared_matrix_get_cols (matrix),
      gst_shared_matrix_dtype_to_string (gst_shared_matrix_get_dtype (matrix)),
      gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
          (matrix)));
  gst_object_unref (matrix);
  return TRUE;
}

/* The matrix gets the optimizer property's optimizer (its state, if it
 * has none yet; a matrix shared by name may have it already). */
static gboolean
ensure_optimizer (GstSharedMatrixElement * self)
{
  GstSharedMatrixOptimizerParams params;
  GstSharedMatrixOptimizer optimizer;
  GstSharedMatrix *matrix;
  GError *err = NULL;
  gboolean ok;

  GST_OBJECT_LOCK (self);
  optimizer = self->settings.optimizer;
  params = self->settings.optim_params;
  matrix = gst_object_ref (self->matrix);
  GST_OBJECT_UNLOCK (self);

  ok = optimizer == GST_SHARED_MATRIX_OPTIMIZER_NONE ||
      (gst_shared_matrix_optimizer_params_validate (&params, &err) &&
      gst_shared_matrix_set_optimizer (matrix, optimizer, &err));
  gst_object_unref (matrix);
  if (!ok) {
    SM_ELEMENT_ERROR_FROM_GERROR (self, RESOURCE, SETTINGS, err,
        "Cannot use the optimizer");
    g_error_free (err);
  }
  return ok;
}

static GstSample *
gst_shared_matrix_element_snapshot (GstSharedMatrixElement * self)
{
  GstSharedMatrix *matrix = get_matrix (self);
  SmStatsValues stats;
  GstSample *sample;

  if (matrix == NULL) {
    GST_WARNING_OBJECT (self, "snapshot requested but there is no matrix yet");
    return NULL;
  }
  sm_stats_get (&self->stats, &stats);
  sample = sm_snapshot_sample (&self->snapshot, matrix, stats.last_pts);
  gst_object_unref (matrix);
  return sample;
}

/* ---- checkpoints --------------------------------------------------------- */

/* On the writer thread: a failed write keeps the previous checkpoint and
 * streaming goes on (losing the stream over a full disk would lose more
 * than a checkpoint). */
static void
checkpoint_written (const gchar * path, const GError * error,
    gpointer user_data)
{
  GstSharedMatrixElement *self = user_data;

  sm_durable_checkpoint_written (&self->durable, error == NULL);
  if (error)
    SM_ELEMENT_WARNING_FROM_GERROR (self, RESOURCE, WRITE, error,
        "Checkpoint not written, the previous one is kept");
  else
    GST_DEBUG_OBJECT (self, "checkpoint written to %s", path);
}

/* Copies the matrix now (consistent with last-offset) and writes it on the
 * writer thread, or right here when @wait (EOS: the checkpoint must be on
 * disk before EOS goes on). A periodic checkpoint is skipped while another
 * is still queued, so slow disks cost checkpoints, not memory. A matrix
 * that cannot be read is an error: nothing is written over the previous
 * checkpoint. */
static GstFlowReturn
checkpoint (GstSharedMatrixElement * self, gboolean wait)
{
  State *st = &self->state;
  SmStatsValues stats;
  GError *err = NULL;

  if (!wait &&
      gst_shared_matrix_checkpoint_writer_get_queued (st->checkpoint_writer)) {
    GST_INFO_OBJECT (self, "previous checkpoint still queued, skipping one");
    return GST_FLOW_OK;
  }
  sm_stats_get (&self->stats, &stats);
  sm_durable_checkpoint_queued (&self->durable, stats.last_offset);
  if (!gst_shared_matrix_checkpoint_writer_save (st->checkpoint_writer,
          st->matrix, st->settings.matrix.checkpoint_location,
          stats.last_offset, wait, &err))
    goto copy_failed;
  return GST_FLOW_OK;

  /* ERRORS */
copy_failed:
  {
    GstFlowReturn ret = GST_FLOW_ERROR;

    sm_durable_checkpoint_not_queued (&self->durable);

    if (err->code == GST_SHARED_MATRIX_ERROR_NO_MEMORY) {
      SM_ELEMENT_WARNING_FROM_GERROR (self, RESOURCE, NO_SPACE_LEFT, err,
          "No memory for a checkpoint copy of the matrix; the previous "
          "checkpoint is kept");
      ret = GST_FLOW_OK;
    } else {
      SM_ELEMENT_ERROR_FROM_GERROR (self, RESOURCE, FAILED, err,
          "Cannot take a checkpoint of the matrix, the previous checkpoint "
          "is kept");
    }
    g_error_free (err);
    return ret;
  }
}

/* ---- the data path ------------------------------------------------------- */

/* Running time of the update being handled: from its PTS when it has one,
 * else from the pipeline clock, else from the monotonic clock. */
static GstClockTime
current_running_time (GstSharedMatrixElement * self, GstBuffer * buf)
{
  State *st = &self->state;
  GstClockTime t = GST_CLOCK_TIME_NONE;

  if (buf && GST_BUFFER_PTS_IS_VALID (buf) &&
      st->segment.format == GST_FORMAT_TIME)
    t = gst_segment_to_running_time (&st->segment, GST_FORMAT_TIME,
        GST_BUFFER_PTS (buf));
  if (!GST_CLOCK_TIME_IS_VALID (t))
    t = gst_element_get_current_running_time (GST_ELEMENT (self));
  if (!GST_CLOCK_TIME_IS_VALID (t))
    t = (g_get_monotonic_time () - st->start_monotonic) * GST_USECOND;
  return t;
}

/* After @count applied updates, @buf the last of them: checkpoint,
 * snapshot and stats message, each when it is due. @count > 1 only from
 * the list path, which never lets a checkpoint or snapshot fall due before
 * its last update (see updates_until_due ()) and takes it only when no
 * time-based decision is enabled, so this is what @count single calls
 * would do. */
static GstFlowReturn
after_updates (GstSharedMatrixElement * self, GstBuffer * buf, guint count)
{
  State *st = &self->state;
  const Settings *s = &st->settings;
  GstFlowReturn ret = GST_FLOW_OK;
  gboolean snapshot_due = FALSE;
  GstClockTime now;

  if (s->matrix.checkpoint_location && s->checkpoint_every &&
      (st->updates_since_checkpoint += count) >= s->checkpoint_every) {
    st->updates_since_checkpoint = 0;
    ret = checkpoint (self, FALSE);
    if (ret != GST_FLOW_OK)
      return ret;
  }

  /* the running time costs clock and lock round trips: only the interval
   * snapshots and the stats messages need it (both fixed while streaming) */
  now = GST_CLOCK_TIME_NONE;
  if (s->snapshot_interval || s->post_messages) {
    now = current_running_time (self, buf);
    st->last_running_time = now;
  }
  if (s->snapshot_every &&
      (st->updates_since_snapshot += count) >= s->snapshot_every)
    snapshot_due = TRUE;
  if (sm_interval_elapsed (now, &st->last_snapshot_time, s->snapshot_interval))
    snapshot_due = TRUE;
  if (snapshot_due) {
    SmStatsValues stats;

    sm_stats_get (&self->stats, &stats);
    st->updates_since_snapshot = 0;
    st->last_snapshot_time = now;
    ret = sm_snapshot_push (&self->snapshot, st->matrix, stats.last_pts);
  }
  if (s->post_messages)
    sm_stats_update_message (&self->stats, GST_ELEMENT (self), st->matrix, now,
        s->message_interval);
  return ret;
}

/* An update buffer mapped for reading: one memory (packed layout) or the
 * ids and deltas tensors in a memory each (NNStreamer), read in place. */
typedef struct
{
  GstBuffer *buf;
  GstMemory *mem[2];            /* peeked, not owned; mem[0] NULL: mapped
                                 * with gst_buffer_map () (packed layout
                                 * across several memories) */
  GstMapInfo map[2];
  guint n_maps;
} UpdateMapping;

static void
unmap_update (UpdateMapping * um)
{
  if (um->mem[0] == NULL) {
    if (um->n_maps == 1)
      gst_buffer_unmap (um->buf, &um->map[0]);
  } else {
    while (um->n_maps > 0) {
      um->n_maps--;
      gst_memory_unmap (um->mem[um->n_maps], &um->map[um->n_maps]);
    }
  }
  um->n_maps = 0;
}

/* Maps @buf and splits it into indices, deltas and N. FALSE (and nothing
 * left mapped) when it cannot be read or is malformed, with an error
 * posted when @report (a list's batch leaves that to apply_one ()). */
static gboolean
map_update (GstSharedMatrixElement * self, GstBuffer * buf, UpdateMapping * um,
    gconstpointer * indices, gconstpointer * deltas, gsize * n,
    gboolean report)
{
  State *st = &self->state;
  GError *err = NULL;
  guint i, n_mem = gst_buffer_n_memory (buf);

  um->buf = buf;
  um->mem[0] = NULL;
  um->n_maps = 0;
  /* NNStreamer's two tensors in one memory (a gdpdepay replay, a merged
   * buffer) are the packed layout: N ids, then N delta rows */
  if (st->info.layout == GST_SHARED_MATRIX_UPDATE_LAYOUT_PACKED ||
      n_mem == 1) {
    if (n_mem == 1) {
      /* the memory itself: what gst_buffer_map () maps for one memory,
       * without its reference and span bookkeeping (with them: 360
       * instructions a map and unmap, a quarter of a list update) */
      um->mem[0] = gst_buffer_peek_memory (buf, 0);
      if (!gst_memory_map (um->mem[0], &um->map[0], GST_MAP_READ))
        goto map_failed;
    } else if (!gst_buffer_map (buf, &um->map[0], GST_MAP_READ))
      goto map_failed;
    um->n_maps = 1;
    if (!gst_shared_matrix_parse_update (st->matrix, st->info.index_type,
            st->info.dtype, um->map[0].data, um->map[0].size, indices, deltas,
            n, report ? &err : NULL))
      goto malformed;
    return TRUE;
  }

  if (n_mem != 2)
    goto not_two_memories;
  for (i = 0; i < 2; i++) {
    um->mem[i] = gst_buffer_peek_memory (buf, i);
    if (!gst_memory_map (um->mem[i], &um->map[i], GST_MAP_READ))
      goto map_failed;
    um->n_maps++;
  }
  if (!gst_shared_matrix_parse_update_tensors (st->matrix,
          st->info.index_type, st->info.dtype, um->map[0].size,
          um->map[1].size, n, report ? &err : NULL))
    goto malformed;
  *indices = um->map[0].data;
  *deltas = um->map[1].data;
  return TRUE;

  /* ERRORS */
map_failed:
  {
    if (report)
      GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Cannot map update buffer"),
          (NULL));
    unmap_update (um);
    return FALSE;
  }
malformed:
  {
    if (report)
      SM_ELEMENT_ERROR_FROM_GERROR (self, STREAM, FORMAT, err,
          "Malformed update buffer");
    g_clear_error (&err);
    unmap_update (um);
    return FALSE;
  }
not_two_memories:
  {
    if (!report)
      return FALSE;
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("NNStreamer update buffer with %u memories: other/tensors, "
            "num_tensors=2 needs two, the ids tensor then the deltas tensor "
            "(or one holding both, in that order)",
            gst_buffer_n_memory (buf)), (NULL));
    return FALSE;
  }
}

/* Posts the element error for an update the library did not apply. */
static void
post_update_error (GstSharedMatrixElement * self, GError * err)
{
  if (err->code == GST_SHARED_MATRIX_ERROR_DEVICE)
    SM_ELEMENT_ERROR_FROM_GERROR (self, RESOURCE, FAILED, err,
        "Cannot apply an update");
  else
    SM_ELEMENT_ERROR_FROM_GERROR (self, STREAM, FAILED, err,
        "Update rejected, matrix unchanged");
}

/* Records that buffers through @offset are durable: sent upstream now
 * (@pending NULL), or kept in *@pending for the caller to send once (a
 * list sends only its last: "everything up to N" covers the others). */
static inline void
durable_through (GstSharedMatrixElement * self, guint64 offset,
    guint64 * pending)
{
  if (offset == GST_BUFFER_OFFSET_NONE)
    return;
  if (pending)
    *pending = offset;
  else
    sm_durable_send (&self->durable, offset);
}

/* One update buffer (not taken): skipped when a restored checkpoint holds
 * it, else applied, then after_updates (). The per-buffer path of chain,
 * and of chain_list for what its batches do not take; the caller has
 * checked the caps and refreshed op. Durability goes to *@durable when
 * that is not NULL (see durable_through ()). */
static GstFlowReturn
apply_one (GstSharedMatrixElement * self, GstBuffer * buf, guint64 * durable)
{
  State *st = &self->state;
  GstSharedMatrixUpdateResult result;
  gconstpointer indices, deltas;
  UpdateMapping um;
  GError *err = NULL;
  GstFlowReturn ret;
  gsize n;

  /* exactly once: a producer replaying after a crash resends what the
   * restored checkpoint already holds */
  if (st->skip_through != GST_BUFFER_OFFSET_NONE &&
      GST_BUFFER_OFFSET_IS_VALID (buf) &&
      GST_BUFFER_OFFSET (buf) <= st->skip_through)
    goto skip;
  if (!sm_delta_follow_check (&st->delta_follow, GST_ELEMENT (self), buf))
    goto missed_delta;

  if (!map_update (self, buf, &um, &indices, &deltas, &n, TRUE))
    return GST_FLOW_ERROR;
  if (st->settings.optimizer != GST_SHARED_MATRIX_OPTIMIZER_NONE) {
    /* gradients: one optimizer step */
    if (!gst_shared_matrix_apply_gradients (st->matrix, indices, n,
            st->info.index_type, deltas, st->info.dtype,
            &st->settings.optim_params, &st->settings.policies, &result,
            &err))
      goto rejected;
  } else if (!gst_shared_matrix_update (st->matrix, st->settings.op, indices,
          n, st->info.index_type, deltas, st->info.dtype,
          &st->settings.policies, &result, &err))
    goto rejected;
  unmap_update (&um);

  sm_delta_follow_applied (&st->delta_follow, buf);
  sm_stats_add_update (&self->stats, &result, buf);
  ret = after_updates (self, buf, 1);
  /* without checkpoints, applied is as durable as it gets */
  if (ret == GST_FLOW_OK && !st->settings.matrix.checkpoint_location &&
      sm_durable_wanted (&self->durable))
    durable_through (self, GST_BUFFER_OFFSET (buf), durable);
  return ret;

  /* ERRORS */
skip:
  {
    GST_LOG_OBJECT (self, "skipping update %" G_GUINT64_FORMAT ", already in "
        "the checkpoint", GST_BUFFER_OFFSET (buf));
    sm_stats_add_skipped (&self->stats);
    /* the restored checkpoint holds it */
    durable_through (self, GST_BUFFER_OFFSET (buf), durable);
    sm_delta_follow_applied (&st->delta_follow, buf);
    return GST_FLOW_OK;
  }
missed_delta:
  {
    return GST_FLOW_ERROR;
  }
rejected:
  {
    post_update_error (self, err);
    g_clear_error (&err);
    unmap_update (&um);
    return GST_FLOW_ERROR;
  }
}

/* Before a buffer or a list: caps must be there; the settings that may
 * change while streaming (op, learning rate; like volume.c) are refreshed,
 * once. */
static gboolean
prepare (GstSharedMatrixElement * self)
{
  State *st = &self->state;

  if (!st->have_caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Update buffer arrived before caps"), (NULL));
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  st->settings.op = self->settings.op;
  st->settings.optim_params = self->settings.optim_params;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static GstFlowReturn
gst_shared_matrix_element_chain (GstPad * pad, GstObject * parent,
    GstBuffer * buf)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (parent);
  GstFlowReturn ret = GST_FLOW_NOT_NEGOTIATED;

  if (prepare (self))
    ret = apply_one (self, buf, NULL);
  gst_buffer_unref (buf);
  return ret;
}

/* ---- buffer lists ---------------------------------------------------------- */

/* How many updates a list batch may hold: the library applies them under
 * one lock acquisition, 64 at a time. */
#define LIST_BATCH 64

/* Whether the list path may batch at all: only when every decision after
 * an update counts updates (snapshot-every, checkpoint-every) and none
 * needs the running time of each buffer (snapshot-interval, stats
 * messages), for deltas rather than gradients, and not on a delta stream
 * (whose chain check follows each buffer). Otherwise each buffer takes
 * apply_one (), which is exactly the single-buffer path. */
static gboolean
list_can_batch (GstSharedMatrixElement * self)
{
  const State *st = &self->state;
  const Settings *s = &st->settings;

  return s->optimizer == GST_SHARED_MATRIX_OPTIMIZER_NONE &&
      !s->snapshot_interval && !s->post_messages &&
      !st->delta_follow.delta_stream;
}

/* How many updates may be applied before the next snapshot or checkpoint
 * counted in updates falls due (that one included): a batch ends there,
 * so the snapshot or checkpoint holds exactly the updates it would after
 * single buffers. */
static guint
updates_until_due (GstSharedMatrixElement * self)
{
  const State *st = &self->state;
  const Settings *s = &st->settings;
  guint left = G_MAXUINT;

  if (s->matrix.checkpoint_location && s->checkpoint_every)
    left = MIN (left, s->checkpoint_every - MIN (st->updates_since_checkpoint,
            s->checkpoint_every - 1));
  if (s->snapshot_every)
    left = MIN (left, s->snapshot_every - MIN (st->updates_since_snapshot,
            s->snapshot_every - 1));
  return left;
}

/* Whether the buffer goes to apply_one () instead of a batch: one a
 * restored checkpoint holds (skipped and counted there). */
static inline gboolean
list_needs_single (GstSharedMatrixElement * self, GstBuffer * buf)
{
  const State *st = &self->state;

  return st->skip_through != GST_BUFFER_OFFSET_NONE &&
      GST_BUFFER_OFFSET_IS_VALID (buf) &&
      GST_BUFFER_OFFSET (buf) <= st->skip_through;
}

/* Applies list[first, first + *count) as one batch: every buffer mapped
 * and parsed, one gst_shared_matrix_update_many (), the statistics
 * committed once, after_updates () once. A buffer that cannot be mapped
 * or parsed ends the batch before it (*count shrinks; the caller gives it
 * to apply_one (), which reports it as a single buffer would). A rejected
 * update: the ones before it count as applied, then the element error of
 * apply_one (). */
static GstFlowReturn
apply_batch (GstSharedMatrixElement * self, GstBufferList * list, guint first,
    guint * count, guint64 * durable)
{
  State *st = &self->state;
  GstSharedMatrixUpdateItem items[LIST_BATCH];
  GstSharedMatrixUpdateResult results[LIST_BATCH];
  UpdateMapping maps[LIST_BATCH];
  guint64 last_offset = GST_BUFFER_OFFSET_NONE, prev_offset;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
  GstFlowReturn ret = GST_FLOW_OK;
  GError *err = NULL;
  guint n, applied = 0, i;
  gboolean ok;

  for (n = 0; n < *count; n++)
    if (!map_update (self, gst_buffer_list_get (list, first + n), &maps[n],
            &items[n].indices, &items[n].deltas, &items[n].n, FALSE))
      break;
  *count = n;
  if (n == 0)
    return GST_FLOW_OK;

  ok = gst_shared_matrix_update_many (st->matrix, st->settings.op, items, n,
      st->info.index_type, st->info.dtype, &st->settings.policies, results,
      &applied, &err);
  for (i = 0; i < n; i++)
    unmap_update (&maps[i]);

  if (applied > 0) {
    GstBuffer *last = maps[applied - 1].buf;

    prev_offset = GST_BUFFER_OFFSET_NONE;
    for (i = 0; i < applied; i++) {
      GstBuffer *buf = maps[i].buf;

      if (GST_BUFFER_OFFSET_IS_VALID (buf)) {
        prev_offset = last_offset;
        last_offset = GST_BUFFER_OFFSET (buf);
      }
      if (GST_BUFFER_PTS_IS_VALID (buf))
        last_pts = GST_BUFFER_PTS (buf);
    }
    sm_stats_add_updates (&self->stats, results, applied, last_offset,
        last_pts);
    ret = after_updates (self, last, applied);
    /* without checkpoints, applied is as durable as it gets; when the
     * snapshot after the last one failed, single buffers would have said
     * so for all but that one */
    if (!st->settings.matrix.checkpoint_location &&
        sm_durable_wanted (&self->durable))
      durable_through (self, ret == GST_FLOW_OK ? last_offset :
          (GST_BUFFER_OFFSET_IS_VALID (last) ? prev_offset : last_offset),
          durable);
  }
  if (!ok) {
    if (ret == GST_FLOW_OK) {
      post_update_error (self, err);
      ret = GST_FLOW_ERROR;
    }
    g_clear_error (&err);
  }
  return ret;
}

/* A list of updates: each applied in order exactly as a single buffer
 * would be (its own version, skip, checkpoint, snapshot and message
 * decisions; tests/check/test-sharedmatrix-list.c compares the two), with
 * the per-buffer costs paid once per list (the pad, refreshing the
 * settings, the durable event) or once per batch of up to 64 updates (the
 * matrix's locks, the statistics lock, the after-update decisions). The
 * first failure stops the list: the updates after it are not applied. */
static GstFlowReturn
gst_shared_matrix_element_chain_list (GstPad * pad, GstObject * parent,
    GstBufferList * list)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (parent);
  GstFlowReturn ret = GST_FLOW_NOT_NEGOTIATED;
  guint64 durable = GST_BUFFER_OFFSET_NONE;
  guint i, len;

  if (prepare (self)) {
    gboolean batch = list_can_batch (self);

    ret = GST_FLOW_OK;
    len = gst_buffer_list_length (list);
    for (i = 0; i < len && ret == GST_FLOW_OK;) {
      guint count = 0;

      if (batch && !list_needs_single (self, gst_buffer_list_get (list, i))) {
        guint j;

        count = MIN (MIN (len - i, LIST_BATCH), updates_until_due (self));
        for (j = 1; j < count; j++)
          if (list_needs_single (self, gst_buffer_list_get (list, i + j)))
            break;
        count = j;
        ret = apply_batch (self, list, i, &count, &durable);
      }
      if (count == 0 && ret == GST_FLOW_OK)
        ret = apply_one (self, gst_buffer_list_get (list, i++), &durable);
      i += count;
    }
    if (durable != GST_BUFFER_OFFSET_NONE)
      sm_durable_send (&self->durable, durable);
  }
  gst_buffer_list_unref (list);
  return ret;
}

/* ---- pads ---------------------------------------------------------------- */

static gboolean
set_sink_caps (GstSharedMatrixElement * self, GstCaps * caps)
{
  State *st = &self->state;
  guint cols;

  st->have_caps = FALSE;
  if (!gst_shared_matrix_update_info_from_caps (&st->info, caps))
    goto unusable;
  /* whether upstream wants sharedmatrix-durable events (jetstreamsrc) */
  sm_durable_ask_upstream (&self->durable);
  sm_delta_follow_set_caps (&st->delta_follow, caps);
  if (st->matrix == NULL)
    return FALSE;
  cols = gst_shared_matrix_get_cols (st->matrix);
  if (st->info.cols != cols)
    goto wrong_cols;
  if (!sm_snapshot_ensure_caps (&self->snapshot, st->matrix) &&
      gst_pad_is_linked (self->srcpad))
    return FALSE;
  st->have_caps = TRUE;
  return TRUE;

  /* ERRORS */
unusable:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Unusable update caps %" GST_PTR_FORMAT ": dtype must be one of "
            "float32, float64, float16, bfloat16, index-type int32 or int64, "
            "and cols a positive int; or NNStreamer other/tensors, "
            "num_tensors=2, types=<int32|int64>,<float32|float64|float16>, "
            "dimensions=N,cols:N", caps), (NULL));
    return FALSE;
  }
wrong_cols:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Updates have cols=%u but the matrix has %u columns: every delta row "
            "must be one matrix row long", st->info.cols, cols),
        ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
}

/* At EOS: the final checkpoint, snapshot and message, then EOS goes on. */
static void
handle_eos (GstSharedMatrixElement * self, GstEvent * event)
{
  State *st = &self->state;
  const Settings *s = &st->settings;

  if (s->matrix.checkpoint_location)
    checkpoint (self, TRUE);
  /* not when the last snapshot (snapshot-every, -interval) already shows
   * this version: consumers would see the same matrix twice */
  if (s->snapshot_on_eos &&
      !sm_snapshot_is_current (&self->snapshot, st->matrix)) {
    SmStatsValues stats;

    sm_stats_get (&self->stats, &stats);
    sm_snapshot_push (&self->snapshot, st->matrix, stats.last_pts);
  }
  /* the final message measures on the same time line as the others */
  if (s->post_messages)
    sm_stats_post_message (&self->stats, GST_ELEMENT (self), st->matrix,
        GST_CLOCK_TIME_IS_VALID (st->last_running_time) ?
        st->last_running_time : current_running_time (self, NULL));
  /* Unlinked, the element is the end of its branch (see change_state): it
   * reports EOS to the bin itself. */
  if (!gst_pad_is_linked (self->srcpad)) {
    GstMessage *msg = gst_message_new_eos (GST_OBJECT (self));

    gst_message_set_seqnum (msg, gst_event_get_seqnum (event));
    gst_element_post_message (GST_ELEMENT (self), msg);
  }
}

static gboolean
gst_shared_matrix_element_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (parent);
  State *st = &self->state;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gboolean ok;

      gst_event_parse_caps (event, &caps);
      ok = set_sink_caps (self, caps);
      /* our src caps describe snapshots, not updates: never forwarded */
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &st->segment);
      /* caps go out before the segment on the src pad */
      if (st->matrix && gst_pad_is_linked (self->srcpad))
        sm_snapshot_ensure_caps (&self->snapshot, st->matrix);
      break;
    case GST_EVENT_FLUSH_STOP:
      gst_segment_init (&st->segment, GST_FORMAT_TIME);
      break;
    case GST_EVENT_EOS:
      if (st->matrix)
        handle_eos (self, event);
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

/* Update caps this element takes: the template, with the matrix's cols once
 * the matrix exists (else the cols property when set). */
static GstCaps *
sink_caps (GstSharedMatrixElement * self, GstCaps * filter)
{
  GstCaps *caps = gst_pad_get_pad_template_caps (self->sinkpad);
  guint cols;

  GST_OBJECT_LOCK (self);
  cols = self->matrix ? gst_shared_matrix_get_cols (self->matrix) :
      self->settings.matrix.cols;
  GST_OBJECT_UNLOCK (self);
  if (cols) {
    guint i;

    /* NNStreamer's dimensions are a string naming N too: left open */
    caps = gst_caps_make_writable (caps);
    for (i = 0; i < gst_caps_get_size (caps); i++) {
      GstStructure *s = gst_caps_get_structure (caps, i);

      if (gst_structure_has_name (s, GST_SHARED_MATRIX_UPDATE_MEDIA_TYPE))
        gst_structure_set (s, "cols", G_TYPE_INT, (gint) cols, NULL);
    }
  }
  caps = sm_caps_filter (caps, filter);
  return caps;
}

static gboolean
gst_shared_matrix_element_sink_query (GstPad * pad, GstObject * parent,
    GstQuery * query)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps;

      gst_query_parse_caps (query, &filter);
      caps = sink_caps (self, filter);
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    case GST_QUERY_ACCEPT_CAPS:{
      GstCaps *caps, *tmpl;

      /* Any update caps are accepted here and checked against the matrix
       * in the caps event, which can say which cols were expected. */
      gst_query_parse_accept_caps (query, &caps);
      tmpl = gst_pad_get_pad_template_caps (pad);
      gst_query_set_accept_caps_result (query,
          gst_caps_is_fixed (caps) && gst_caps_can_intersect (caps, tmpl));
      gst_caps_unref (tmpl);
      return TRUE;
    }
    case GST_QUERY_CONTEXT:
      if (sm_context_answer_query (GST_ELEMENT (self), query))
        return TRUE;
      return gst_pad_query_default (pad, parent, query);
    case GST_QUERY_ALLOCATION:{
      GstSharedMatrix *matrix = get_matrix (self);
      gboolean offered;

      offered = sm_propose_allocation (GST_ELEMENT (self), matrix, query);
      gst_clear_object (&matrix);
      if (offered)
        return TRUE;
      return gst_pad_query_default (pad, parent, query);
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_shared_matrix_element_src_query (GstPad * pad, GstObject * parent,
    GstQuery * query)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:{
      GstSharedMatrix *matrix = get_matrix (self);
      GstSharedMatrixDType dtype = GST_SHARED_MATRIX_DTYPE_FLOAT32;
      guint64 rows = 0;
      guint cols = 0;
      gboolean known = FALSE;
      GstCaps *filter, *caps;

      /* before start: the shape the settings promise */
      if (matrix == NULL) {
        SmMatrixSpec spec;

        GST_OBJECT_LOCK (self);
        sm_matrix_spec_copy (&spec, &self->settings.matrix);
        GST_OBJECT_UNLOCK (self);
        known = sm_matrix_spec_predict_shape (&spec, &dtype, &rows, &cols);
        sm_matrix_spec_clear (&spec);
      }
      gst_query_parse_caps (query, &filter);
      caps = sm_snapshot_query_caps (&self->snapshot, matrix, known, dtype,
          rows, cols, filter);
      gst_clear_object (&matrix);
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    case GST_QUERY_CONTEXT:
      if (sm_context_answer_query (GST_ELEMENT (self), query))
        return TRUE;
      return gst_pad_query_default (pad, parent, query);
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* ---- state --------------------------------------------------------------- */

/* READY -> PAUSED: the settings copied once, the streaming state fresh. */
static void
start (GstSharedMatrixElement * self)
{
  State *st = &self->state;
  SmStatsValues stats;

  GST_OBJECT_LOCK (self);
  settings_copy (&st->settings, &self->settings);
  st->matrix = gst_object_ref (self->matrix);
  GST_OBJECT_UNLOCK (self);

  st->have_caps = FALSE;
  gst_shared_matrix_update_info_init (&st->info);
  gst_segment_init (&st->segment, GST_FORMAT_TIME);
  st->updates_since_snapshot = 0;
  st->last_snapshot_time = GST_CLOCK_TIME_NONE;
  st->last_running_time = GST_CLOCK_TIME_NONE;
  st->start_monotonic = g_get_monotonic_time ();
  st->updates_since_checkpoint = 0;
  /* what the matrix holds already, restored or from an earlier run */
  sm_stats_start (&self->stats);
  sm_stats_get (&self->stats, &stats);
  st->skip_through = st->settings.matrix.checkpoint_location ?
      stats.last_offset : GST_BUFFER_OFFSET_NONE;
  sm_delta_follow_reset (&st->delta_follow, st->skip_through);
  st->checkpoint_writer =
      gst_shared_matrix_checkpoint_writer_new (checkpoint_written, self, NULL);
  /* asked again at each CAPS event */
  g_atomic_int_set (&self->durable.wanted, FALSE);
  sm_snapshot_reset (&self->snapshot);
}

/* PAUSED -> READY (and finalize): finishes the checkpoint in flight. */
static void
stop (GstSharedMatrixElement * self)
{
  State *st = &self->state;

  g_clear_pointer (&st->checkpoint_writer,
      gst_shared_matrix_checkpoint_writer_free);
  gst_clear_object (&st->matrix);
  settings_clear (&st->settings);
  st->have_caps = FALSE;
  sm_stats_start (&self->stats);
  sm_snapshot_reset (&self->snapshot);
  sm_snapshot_release_pool (&self->snapshot);
}

/* A context set by the application or a bin is kept (by GstElement) for the
 * next start, where sm_matrix_obtain () looks at it first. */
static void
gst_shared_matrix_element_set_context (GstElement * element,
    GstContext * context)
{
  GST_DEBUG_OBJECT (element, "context %s set",
      gst_context_get_context_type (context));
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

static GstStateChangeReturn
gst_shared_matrix_element_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!ensure_matrix (self) || !ensure_optimizer (self))
        return GST_STATE_CHANGE_FAILURE;
      /* With nothing linked downstream, this element ends the stream: as a
       * sink, the bin waits for its EOS (`updatetestsrc ! sharedmatrix`). */
      if (gst_pad_is_linked (self->srcpad))
        GST_OBJECT_FLAG_UNSET (self, GST_ELEMENT_FLAG_SINK);
      else
        GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
      start (self);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      stop (self);
      break;
    default:
      break;
  }
  return ret;
}

/* ---- properties ---------------------------------------------------------- */

/* Drop a matrix the element created itself, so the next start makes one
 * that matches the changed settings. Called with the object lock. */
static void
forget_own_matrix_locked (GstSharedMatrixElement * self)
{
  if (!self->matrix_from_app)
    gst_clear_object (&self->matrix);
}

static gboolean
settable_now_locked (GstSharedMatrixElement * self, GParamSpec * pspec)
{
  if (GST_STATE (self) <= GST_STATE_READY &&
      GST_STATE_PENDING (self) <= GST_STATE_READY)
    return TRUE;
  if (pspec->flags & GST_PARAM_MUTABLE_PLAYING)
    return TRUE;
  g_warning ("%s: property '%s' can only be changed in the NULL or READY "
      "state", GST_OBJECT_NAME (self), pspec->name);
  return FALSE;
}

/* An optimizer parameter, checked as the library checks it (GLib's range
 * check lets NaN through): a value that is not allowed is refused with a
 * warning saying what is allowed, and the old one kept. Object lock held. */
static void
set_optim_param_locked (GstSharedMatrixElement * self, guint prop_id,
    GParamSpec * pspec, gdouble v)
{
  GstSharedMatrixOptimizerParams p = self->settings.optim_params;
  GError *err = NULL;

  switch (prop_id) {
    case PROP_LEARNING_RATE:
      p.learning_rate = v;
      break;
    case PROP_EPSILON:
      p.epsilon = v;
      break;
    case PROP_BETA1:
      p.beta1 = v;
      break;
    case PROP_BETA2:
      p.beta2 = v;
      break;
    default:
      p.weight_decay = v;
      break;
  }
  if (!gst_shared_matrix_optimizer_params_validate (&p, &err)) {
    g_warning ("%s: cannot set property '%s': %s; the previous value is "
        "kept", GST_OBJECT_NAME (self), pspec->name, err->message);
    g_error_free (err);
    return;
  }
  self->settings.optim_params = p;
}

static void
gst_shared_matrix_element_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (object);

  GST_OBJECT_LOCK (self);
  if (!settable_now_locked (self, pspec)) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case PROP_MATRIX:
      gst_clear_object (&self->matrix);
      self->matrix = g_value_dup_object (value);
      self->matrix_from_app = self->matrix != NULL;
      break;
    case PROP_MATRIX_NAME:
      g_free (self->settings.matrix.name);
      self->settings.matrix.name = g_value_dup_string (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_ROWS:
      self->settings.matrix.rows = g_value_get_uint64 (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_COLS:
      self->settings.matrix.cols = g_value_get_uint (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_DTYPE:
      self->settings.matrix.dtype = g_value_get_enum (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_BACKEND:
      self->settings.matrix.backend = g_value_get_enum (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_DEVICE_ID:
      self->settings.matrix.device_id = g_value_get_int (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_LOCATION:
      g_free (self->settings.matrix.location);
      self->settings.matrix.location = g_value_dup_string (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_OP:
      self->settings.op = g_value_get_enum (value);
      break;
    case PROP_OPTIMIZER:
      self->settings.optimizer = g_value_get_enum (value);
      break;
    case PROP_LEARNING_RATE:
    case PROP_EPSILON:
    case PROP_BETA1:
    case PROP_BETA2:
    case PROP_WEIGHT_DECAY:
      set_optim_param_locked (self, prop_id, pspec, g_value_get_double (value));
      break;
    case PROP_INVALID_INDEX:
      self->settings.policies.invalid_index = g_value_get_enum (value);
      break;
    case PROP_NON_FINITE:
      self->settings.policies.non_finite = g_value_get_enum (value);
      break;
    case PROP_SNAPSHOT_EVERY:
      self->settings.snapshot_every = g_value_get_uint (value);
      break;
    case PROP_SNAPSHOT_INTERVAL:
      self->settings.snapshot_interval = g_value_get_uint64 (value);
      break;
    case PROP_SNAPSHOT_ON_EOS:
      self->settings.snapshot_on_eos = g_value_get_boolean (value);
      break;
    case PROP_POST_MESSAGES:
      self->settings.post_messages = g_value_get_boolean (value);
      break;
    case PROP_MESSAGE_INTERVAL:
      self->settings.message_interval = g_value_get_uint64 (value);
      break;
    case PROP_CHECKPOINT_LOCATION:
      g_free (self->settings.matrix.checkpoint_location);
      self->settings.matrix.checkpoint_location = g_value_dup_string (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_CHECKPOINT_EVERY:
      self->settings.checkpoint_every = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_shared_matrix_element_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (object);
  SmStatsValues stats;

  sm_stats_get (&self->stats, &stats);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MATRIX:
      g_value_set_object (value, self->matrix);
      break;
    case PROP_MATRIX_NAME:
      g_value_set_string (value, self->settings.matrix.name);
      break;
    case PROP_ROWS:
      g_value_set_uint64 (value, self->settings.matrix.rows);
      break;
    case PROP_COLS:
      g_value_set_uint (value, self->settings.matrix.cols);
      break;
    case PROP_DTYPE:
      g_value_set_enum (value, self->settings.matrix.dtype);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, self->settings.matrix.backend);
      break;
    case PROP_DEVICE_ID:
      g_value_set_int (value, self->settings.matrix.device_id);
      break;
    case PROP_LOCATION:
      g_value_set_string (value, self->settings.matrix.location);
      break;
    case PROP_OP:
      g_value_set_enum (value, self->settings.op);
      break;
    case PROP_OPTIMIZER:
      g_value_set_enum (value, self->settings.optimizer);
      break;
    case PROP_LEARNING_RATE:
      g_value_set_double (value, self->settings.optim_params.learning_rate);
      break;
    case PROP_EPSILON:
      g_value_set_double (value, self->settings.optim_params.epsilon);
      break;
    case PROP_BETA1:
      g_value_set_double (value, self->settings.optim_params.beta1);
      break;
    case PROP_BETA2:
      g_value_set_double (value, self->settings.optim_params.beta2);
      break;
    case PROP_WEIGHT_DECAY:
      g_value_set_double (value, self->settings.optim_params.weight_decay);
      break;
    case PROP_INVALID_INDEX:
      g_value_set_enum (value, self->settings.policies.invalid_index);
      break;
    case PROP_NON_FINITE:
      g_value_set_enum (value, self->settings.policies.non_finite);
      break;
    case PROP_SNAPSHOT_EVERY:
      g_value_set_uint (value, self->settings.snapshot_every);
      break;
    case PROP_SNAPSHOT_INTERVAL:
      g_value_set_uint64 (value, self->settings.snapshot_interval);
      break;
    case PROP_SNAPSHOT_ON_EOS:
      g_value_set_boolean (value, self->settings.snapshot_on_eos);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->settings.post_messages);
      break;
    case PROP_MESSAGE_INTERVAL:
      g_value_set_uint64 (value, self->settings.message_interval);
      break;
    case PROP_CHECKPOINT_LOCATION:
      g_value_set_string (value, self->settings.matrix.checkpoint_location);
      break;
    case PROP_CHECKPOINT_EVERY:
      g_value_set_uint (value, self->settings.checkpoint_every);
      break;
    case PROP_ACTIVE_BACKEND:
      g_value_set_enum (value, self->matrix ?
          gst_shared_matrix_get_backend (self->matrix) :
          GST_SHARED_MATRIX_BACKEND_AUTO);
      break;
    case PROP_VERSION:
      g_value_set_uint64 (value, self->matrix ?
          gst_shared_matrix_get_version (self->matrix) : 0);
      break;
    case PROP_UPDATES_APPLIED:
      g_value_set_uint64 (value, stats.updates_applied);
      break;
    case PROP_ROWS_APPLIED:
      g_value_set_uint64 (value, stats.rows_applied);
      break;
    case PROP_ROWS_DROPPED:
      g_value_set_uint64 (value, stats.rows_dropped);
      break;
    case PROP_LAST_OFFSET:
      g_value_set_uint64 (value,
          stats.last_offset == GST_BUFFER_OFFSET_NONE ? 0 : stats.last_offset);
      break;
    case PROP_UPDATES_SKIPPED:
      g_value_set_uint64 (value, stats.updates_skipped);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_shared_matrix_element_finalize (GObject * object)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (object);

  stop (self);
  sm_snapshot_clear (&self->snapshot);
  sm_stats_clear (&self->stats);
  sm_durable_clear (&self->durable);
  gst_clear_object (&self->matrix);
  settings_clear (&self->settings);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_shared_matrix_element_class_init (GstSharedMatrixElementClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_shared_matrix_element_set_property;
  gobject_class->get_property = gst_shared_matrix_element_get_property;
  gobject_class->finalize = gst_shared_matrix_element_finalize;
  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_change_state);
  element_class->set_context =
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_set_context);

  g_object_class_install_property (gobject_class, PROP_MATRIX,
      g_param_spec_object ("matrix", "Matrix",
          "The GstSharedMatrix to update. Set it to share one matrix with "
          "other elements or the application (it then takes precedence over "
          "the shape, dtype, backend and location properties); read it to get "
          "the matrix in use", GST_TYPE_SHARED_MATRIX, rw));
  g_object_class_install_property (gobject_class, PROP_MATRIX_NAME,
      g_param_spec_string ("matrix-name", "Matrix name",
          "Process-wide name: elements with the same name, in any pipeline "
          "of the process, share one matrix; the first to start creates it",
          DEFAULT_PROP_MATRIX_NAME, rw));
  g_object_class_install_property (gobject_class, PROP_ROWS,
      g_param_spec_uint64 ("rows", "Rows",
          "Number of rows when the element creates the matrix (0 = take it "
          "from location or the shared matrix)", 0, G_MAXUINT64,
          DEFAULT_PROP_ROWS, rw));
  g_object_class_install_property (gobject_class, PROP_COLS,
      g_param_spec_uint ("cols", "Columns",
          "Number of columns when the element creates the matrix (0 = take "
          "it from location or the shared matrix)", 0, G_MAXINT,
          DEFAULT_PROP_COLS, rw));
  g_object_class_install_property (gobject_class, PROP_DTYPE,
      g_param_spec_enum ("dtype", "DType",
          "Storage dtype when the element creates the matrix",
          GST_TYPE_SHARED_MATRIX_DTYPE, DEFAULT_PROP_DTYPE, rw));
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_enum ("backend", "Backend",
          "Requested backend: auto uses a GPU when one is usable; cuda without "
          "a usable GPU is an error at start",
          GST_TYPE_SHARED_MATRIX_BACKEND, DEFAULT_PROP_BACKEND, rw));
  g_object_class_install_property (gobject_class, PROP_DEVICE_ID,
      g_param_spec_int ("device-id", "Device ID",
          "CUDA device for the matrix (-1 = default device)", -1, G_MAXINT,
          DEFAULT_PROP_DEVICE_ID, rw));
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          ".npy file to initialise the matrix from (shape and dtype come from "
          "the file)", DEFAULT_PROP_LOCATION, rw));
  g_object_class_install_property (gobject_class, PROP_OP,
      g_param_spec_enum ("op", "Op",
          "How delta rows combine with matrix rows (set: last duplicate wins; "
          "the others combine all duplicates). Can be changed while playing",
          GST_TYPE_SHARED_MATRIX_OP, DEFAULT_PROP_OP,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstSharedMatrixElement:optimizer:
   *
   * With an optimizer, update buffers carry gradients and each is applied
   * as one optimizer step (see gst_shared_matrix_apply_gradients());
   * #GstSharedMatrixElement:op is not used. The matrix keeps the state; a
   * matrix that already has another optimizer is an error at start.
   */
  g_object_class_install_property (gobject_class, PROP_OPTIMIZER,
      g_param_spec_enum ("optimizer", "Optimizer",
          "none: update buffers carry deltas combined by op; otherwise they "
          "carry gradients and each buffer is one step of this optimizer, "
          "whose state the matrix keeps", GST_TYPE_SHARED_MATRIX_OPTIMIZER,
          DEFAULT_PROP_OPTIMIZER, rw));
  g_object_class_install_property (gobject_class, PROP_LEARNING_RATE,
      g_param_spec_double ("learning-rate", "Learning rate",
          "Optimizer learning rate, finite and >= 0. Can be changed while "
          "playing (takes effect from the next buffer)", 0, G_MAXDOUBLE,
          0.01, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_EPSILON,
      g_param_spec_double ("epsilon", "Epsilon",
          "Added to the square root in adagrad, rowwise-adagrad and adam",
          0, G_MAXDOUBLE, 1e-8, rw));
  g_object_class_install_property (gobject_class, PROP_BETA1,
      g_param_spec_double ("beta1", "Beta1",
          "adam: first-moment decay, in [0, 1)", 0, 1, 0.9, rw));
  g_object_class_install_property (gobject_class, PROP_BETA2,
      g_param_spec_double ("beta2", "Beta2",
          "adam: second-moment decay, in [0, 1)", 0, 1, 0.999, rw));
  g_object_class_install_property (gobject_class, PROP_WEIGHT_DECAY,
      g_param_spec_double ("weight-decay", "Weight decay",
          "L2 weight decay: g += weight-decay * w for the touched rows "
          "before the step", 0, G_MAXDOUBLE, 0, rw));
  g_object_class_install_property (gobject_class, PROP_INVALID_INDEX,
      g_param_spec_enum ("invalid-index", "Invalid index policy",
          "What to do with a row index < 0 or >= rows: error rejects the whole "
          "update (matrix unchanged), drop skips and counts the row",
          GST_TYPE_SHARED_MATRIX_INVALID_INDEX_POLICY,
          DEFAULT_PROP_INVALID_INDEX, rw));
  g_object_class_install_property (gobject_class, PROP_NON_FINITE,
      g_param_spec_enum ("non-finite", "Non-finite policy",
          "What to do with a delta row holding NaN/Inf: apply it, drop (skip "
          "and count) it, or error (reject the whole update)",
          GST_TYPE_SHARED_MATRIX_NON_FINITE_POLICY, DEFAULT_PROP_NON_FINITE,
          rw));
  g_object_class_install_property (gobject_class, PROP_SNAPSHOT_EVERY,
      g_param_spec_uint ("snapshot-every", "Snapshot every",
          "Push a snapshot after every N applied updates (0 = off)", 0,
          G_MAXUINT, DEFAULT_PROP_SNAPSHOT_EVERY, rw));
  g_object_class_install_property (gobject_class, PROP_SNAPSHOT_INTERVAL,
      g_param_spec_uint64 ("snapshot-interval", "Snapshot interval",
          "Push a snapshot when this much running time (ns) has passed since "
          "the last one (0 = off)", 0, G_MAXUINT64,
          DEFAULT_PROP_SNAPSHOT_INTERVAL, rw));
  g_object_class_install_property (gobject_class, PROP_SNAPSHOT_ON_EOS,
      g_param_spec_boolean ("snapshot-on-eos", "Snapshot on EOS",
          "Push a final snapshot before forwarding EOS",
          DEFAULT_PROP_SNAPSHOT_ON_EOS, rw));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post sharedmatrix-stats element messages every message-interval "
          "and at EOS", DEFAULT_PROP_POST_MESSAGES, rw));
  g_object_class_install_property (gobject_class, PROP_MESSAGE_INTERVAL,
      g_param_spec_uint64 ("message-interval", "Message interval",
          "Running time (ns) between sharedmatrix-stats messages", 1,
          G_MAXUINT64, DEFAULT_PROP_MESSAGE_INTERVAL, rw));
  g_object_class_install_property (gobject_class, PROP_CHECKPOINT_LOCATION,
      g_param_spec_string ("checkpoint-location", "Checkpoint location",
          "Crash-safe checkpoint file (.npy + version and last-offset "
          "trailer), written atomically every checkpoint-every updates and at "
          "EOS. If it exists at start, the matrix is restored from it and "
          "updates with OFFSET <= the restored last-offset are skipped",
          DEFAULT_PROP_CHECKPOINT_LOCATION, rw));
  g_object_class_install_property (gobject_class, PROP_CHECKPOINT_EVERY,
      g_param_spec_uint ("checkpoint-every", "Checkpoint every",
          "Write a checkpoint after every N applied updates (0 = only at EOS); "
          "needs checkpoint-location", 0, G_MAXUINT,
          DEFAULT_PROP_CHECKPOINT_EVERY, rw));
  g_object_class_install_property (gobject_class, PROP_ACTIVE_BACKEND,
      g_param_spec_enum ("active-backend", "Active backend",
          "Backend actually holding the matrix (auto until there is one)",
          GST_TYPE_SHARED_MATRIX_BACKEND, GST_SHARED_MATRIX_BACKEND_AUTO, ro));
  g_object_class_install_property (gobject_class, PROP_VERSION,
      g_param_spec_uint64 ("version", "Version",
          "Matrix version: updates applied to the matrix by anyone", 0,
          G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_UPDATES_APPLIED,
      g_param_spec_uint64 ("updates-applied", "Updates applied",
          "Update buffers this element applied", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_ROWS_APPLIED,
      g_param_spec_uint64 ("rows-applied", "Rows applied",
          "Delta rows this element wrote to the matrix", 0, G_MAXUINT64, 0,
          ro));
  g_object_class_install_property (gobject_class, PROP_ROWS_DROPPED,
      g_param_spec_uint64 ("rows-dropped", "Rows dropped",
          "Delta rows skipped by the invalid-index or non-finite drop "
          "policies", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_UPDATES_SKIPPED,
      g_param_spec_uint64 ("updates-skipped", "Updates skipped",
          "Replayed updates skipped because the restored checkpoint already "
          "holds them (OFFSET <= its last-offset)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_LAST_OFFSET,
      g_param_spec_uint64 ("last-offset", "Last offset",
          "OFFSET (producer sequence number) of the last applied update", 0,
          G_MAXUINT64, 0, ro));

  /**
   * GstSharedMatrixElement::snapshot:
   * @element: the element
   *
   * A consistent copy of the whole matrix, in the negotiated snapshot format
   * (raw other/tensors when none is negotiated), callable from any thread.
   *
   * Returns: (transfer full) (nullable): a #GstSample, %NULL before the
   *   element has a matrix
   */
  signals[SIGNAL_SNAPSHOT] = g_signal_new_class_handler ("snapshot",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_shared_matrix_element_snapshot), NULL, NULL, NULL,
      GST_TYPE_SAMPLE, 0);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Shared matrix", "Filter/Analyzer/Matrix",
      "Applies sparse row updates in place to a (GPU) parameter matrix and "
      "emits consistent snapshots", "gst-sharedmatrix developers");

  gst_type_mark_as_plugin_api (GST_TYPE_SHARED_MATRIX_OP, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SHARED_MATRIX_DTYPE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SHARED_MATRIX_BACKEND, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SHARED_MATRIX_INVALID_INDEX_POLICY, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SHARED_MATRIX_NON_FINITE_POLICY, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SHARED_MATRIX_OPTIMIZER, 0);
}

static void
gst_shared_matrix_element_init (GstSharedMatrixElement * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_chain));
  gst_pad_set_chain_list_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_chain_list));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_sink_event));
  gst_pad_set_query_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->settings.matrix.dtype = DEFAULT_PROP_DTYPE;
  self->settings.matrix.backend = DEFAULT_PROP_BACKEND;
  self->settings.matrix.device_id = DEFAULT_PROP_DEVICE_ID;
  self->settings.op = DEFAULT_PROP_OP;
  self->settings.optimizer = DEFAULT_PROP_OPTIMIZER;
  gst_shared_matrix_optimizer_params_init (&self->settings.optim_params);
  self->settings.policies.invalid_index = DEFAULT_PROP_INVALID_INDEX;
  self->settings.policies.non_finite = DEFAULT_PROP_NON_FINITE;
  self->settings.snapshot_every = DEFAULT_PROP_SNAPSHOT_EVERY;
  self->settings.snapshot_interval = DEFAULT_PROP_SNAPSHOT_INTERVAL;
  self->settings.snapshot_on_eos = DEFAULT_PROP_SNAPSHOT_ON_EOS;
  self->settings.post_messages = DEFAULT_PROP_POST_MESSAGES;
  self->settings.message_interval = DEFAULT_PROP_MESSAGE_INTERVAL;
  sm_stats_init (&self->stats);
  sm_snapshot_init (&self->snapshot, GST_ELEMENT (self), self->srcpad);
  sm_durable_init (&self->durable, self->sinkpad);
}
