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
 * Elements with the same #GstSharedMatrixElement:matrix-name share one matrix
 * across all pipelines of the process; an application can also pass its own
 * matrix through #GstSharedMatrixElement:matrix. The matrix outlives state
 * changes: it is created when the element first starts and kept until a
 * property that defines it (shape, dtype, backend, location, name) changes.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=1000 ! sharedmatrix rows=70000 cols=100 ! application/x-npy ! filesink location=C.npy
 * ]| applies 1000 updates of 200 rows to a zero 70000 × 100 float32 matrix and
 * writes the final matrix to C.npy (`numpy.load ("C.npy")`).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsharedmatrix.h"

#include "gstsharedmatrixelement.h"

GST_DEBUG_CATEGORY_STATIC (gst_shared_matrix_element_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_element_debug

/* the pinned-memory pool offered upstream on the CUDA backend: buffers of
 * this many update records (the classic update has 200 rows) */
#define POOL_RECORDS 256
#define POOL_MIN_BUFFERS 2

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
};

enum
{
  SIGNAL_SNAPSHOT,
  LAST_SIGNAL
};

static guint signals[LAST_SIGNAL];

struct _GstSharedMatrixElement
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* Settings and statistics: under the object lock. */
  GstSharedMatrix *matrix;      /* in use, or set by the application */
  gboolean matrix_from_app;     /* set through the matrix property */
  gchar *matrix_name;
  guint64 rows;
  guint cols;
  GstSharedMatrixDType dtype;
  GstSharedMatrixBackend backend;
  gint device_id;
  gchar *location;
  GstSharedMatrixOp op;
  GstSharedMatrixInvalidIndexPolicy invalid_index;
  GstSharedMatrixNonFinitePolicy non_finite;
  guint snapshot_every;
  guint64 snapshot_interval;
  gboolean snapshot_on_eos;
  gboolean post_messages;
  guint64 message_interval;
  gchar *checkpoint_location;
  guint checkpoint_every;

  guint64 updates_applied;
  guint64 rows_applied;
  guint64 rows_dropped;
  guint64 last_offset;
  gboolean have_last_offset;
  guint64 updates_skipped;
  GstClockTime last_pts;        /* PTS of the last applied update */
  gboolean snapshot_npy;        /* negotiated src format */
  GstBufferPool *snapshot_pool; /* buffers of snapshot_pool_size bytes */
  gsize snapshot_pool_size;

  /* Streaming state: owned by the streaming thread, reset in start. */
  gboolean have_caps;
  GstSharedMatrixIndexType index_type;
  GstSharedMatrixDType delta_dtype;
  GstSegment segment;
  gboolean src_negotiated;
  /* what downstream accepted when it last refused our snapshots: a sticky
   * caps event is retried with every event and buffer upstream sends, and
   * the same refusal is posted once */
  GstCaps *refused_by;
  guint updates_since_snapshot;
  GstClockTime last_snapshot_time;
  GstClockTime last_message_time;
  GstClockTime last_running_time;       /* of the last applied update */
  guint64 rows_at_last_message;
  gint64 start_monotonic;
  /* with checkpoints: updates with OFFSET <= this were applied already */
  guint64 skip_through;
  guint updates_since_checkpoint;
  GThreadPool *checkpoint_writer;       /* one thread, started in start */
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_TENSOR_CAPS_TEMPLATE "; "
        GST_SHARED_MATRIX_NPY_MEDIA_TYPE));

#define gst_shared_matrix_element_parent_class parent_class
G_DEFINE_TYPE (GstSharedMatrixElement, gst_shared_matrix_element,
    GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (sharedmatrix, "sharedmatrix",
    GST_RANK_NONE, GST_TYPE_SHARED_MATRIX_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (gst_shared_matrix_element_debug, "sharedmatrix",
        0, "Shared matrix element"));

/* ---- process-wide matrix names ------------------------------------------- */

/* name -> GWeakRef to a matrix: the elements using a matrix own it, the
 * registry only finds it while it lives. */
static GMutex registry_lock;
static GHashTable *registry;

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Returns a new reference to the matrix registered under @name, or registers
 * @candidate (may be NULL: then just looks up). Called with registry_lock. */
static GstSharedMatrix *
registry_lookup_locked (const gchar * name)
{
  GWeakRef *ref;

  if (registry == NULL)
    registry = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
        weak_ref_free);
  ref = g_hash_table_lookup (registry, name);
  return ref ? g_weak_ref_get (ref) : NULL;
}

static void
registry_insert_locked (const gchar * name, GstSharedMatrix * matrix)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  g_weak_ref_init (ref, matrix);
  g_hash_table_replace (registry, g_strdup (name), ref);
}

/* ---- matrix creation ----------------------------------------------------- */

/* A matrix restored from an existing checkpoint, or NULL (with an error
 * posted when the file exists but cannot be restored: starting afresh would
 * silently lose the model). */
static GstSharedMatrix *
restore_checkpoint (GstSharedMatrixElement * self, const gchar * path,
    guint64 rows, guint cols, GstSharedMatrixBackend backend, gint device_id)
{
  GstSharedMatrix *matrix;
  guint64 last_offset;
  GError *err = NULL;

  matrix = gst_shared_matrix_new_from_checkpoint (path, backend, device_id,
      &last_offset, &err);
  if (matrix == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Cannot restore the checkpoint '%s': %s (move the file away to "
            "start from scratch)", path, err->message), (NULL));
    g_clear_error (&err);
    return NULL;
  }
  if ((rows && rows != gst_shared_matrix_get_rows (matrix)) ||
      (cols && cols != gst_shared_matrix_get_cols (matrix))) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("The checkpoint '%s' holds a %" G_GUINT64_FORMAT " x %u matrix but "
            "the element was set to rows=%" G_GUINT64_FORMAT " cols=%u", path,
            gst_shared_matrix_get_rows (matrix),
            gst_shared_matrix_get_cols (matrix), rows, cols), (NULL));
    gst_object_unref (matrix);
    return NULL;
  }
  GST_INFO_OBJECT (self, "restored checkpoint %s: version %" G_GUINT64_FORMAT
      ", last offset %" G_GUINT64_FORMAT, path,
      gst_shared_matrix_get_version (matrix), last_offset);
  GST_OBJECT_LOCK (self);
  self->have_last_offset = last_offset != GST_BUFFER_OFFSET_NONE;
  self->last_offset = self->have_last_offset ? last_offset : 0;
  GST_OBJECT_UNLOCK (self);
  return matrix;
}

static GstSharedMatrix *
create_matrix (GstSharedMatrixElement * self, const gchar * location,
    const gchar * checkpoint, guint64 rows, guint cols,
    GstSharedMatrixDType dtype, GstSharedMatrixBackend backend,
    gint device_id)
{
  GstSharedMatrix *matrix;
  GError *err = NULL;

  if (checkpoint && g_file_test (checkpoint, G_FILE_TEST_EXISTS))
    return restore_checkpoint (self, checkpoint, rows, cols, backend,
        device_id);

  /* a new matrix holds no producer's updates yet */
  GST_OBJECT_LOCK (self);
  self->have_last_offset = FALSE;
  self->last_offset = 0;
  GST_OBJECT_UNLOCK (self);

  if (location) {
    matrix = gst_shared_matrix_new_from_npy_full (location, backend, device_id,
        &err);
    if (matrix == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Cannot initialise the matrix from location: %s", err->message),
          (NULL));
      goto failed;
    }
    if ((rows && rows != gst_shared_matrix_get_rows (matrix)) ||
        (cols && cols != gst_shared_matrix_get_cols (matrix))) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("The file '%s' holds a %" G_GUINT64_FORMAT " x %u matrix but the "
              "element was set to rows=%" G_GUINT64_FORMAT " cols=%u "
              "(leave rows and cols at 0 to take the file's shape)", location,
              gst_shared_matrix_get_rows (matrix),
              gst_shared_matrix_get_cols (matrix), rows, cols), (NULL));
      gst_object_unref (matrix);
      return NULL;
    }
    return matrix;
  }

  if (rows == 0 || cols == 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("No matrix to work on: set rows and cols (now rows=%" G_GUINT64_FORMAT
            ", cols=%u), a location to load from, the matrix property, or the "
            "matrix-name of an existing matrix", rows, cols), (NULL));
    return NULL;
  }
  matrix = gst_shared_matrix_new_full (rows, cols, dtype, backend, device_id,
      &err);
  if (matrix == NULL) {
    if (err->code == GST_SHARED_MATRIX_ERROR_NO_MEMORY)
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT, ("%s", err->message),
          (NULL));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", err->message),
          (NULL));
    goto failed;
  }
  return matrix;

failed:
  g_clear_error (&err);
  return NULL;
}

/* Makes sure self->matrix is set: the application's, the one registered
 * under matrix-name, or a new one. Posts an error and returns FALSE when
 * no matrix can be had. */
static gboolean
ensure_matrix (GstSharedMatrixElement * self)
{
  GstSharedMatrix *matrix = NULL;
  gchar *name, *location, *checkpoint;
  guint64 rows;
  guint cols;
  GstSharedMatrixDType dtype;
  GstSharedMatrixBackend backend;
  gint device_id;
  gboolean ok = TRUE;

  GST_OBJECT_LOCK (self);
  if (self->matrix && !self->matrix_name) {
    GST_OBJECT_UNLOCK (self);
    return TRUE;
  }
  name = g_strdup (self->matrix_name);
  location = g_strdup (self->location);
  checkpoint = g_strdup (self->checkpoint_location);
  rows = self->rows;
  cols = self->cols;
  dtype = self->dtype;
  backend = self->backend;
  device_id = self->device_id;
  if (self->matrix)
    matrix = gst_object_ref (self->matrix);
  GST_OBJECT_UNLOCK (self);

  if (name) {
    GstSharedMatrix *shared;

    /* held while creating, so two elements starting at once agree */
    g_mutex_lock (&registry_lock);
    shared = registry_lookup_locked (name);
    if (shared && matrix && shared != matrix) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("matrix-name '%s' already names another matrix than the one set "
              "in the matrix property", name), (NULL));
      ok = FALSE;
    } else if (shared) {
      if ((rows && rows != gst_shared_matrix_get_rows (shared)) ||
          (cols && cols != gst_shared_matrix_get_cols (shared))) {
        GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
            ("matrix-name '%s' names an existing %" G_GUINT64_FORMAT " x %u "
                "matrix, but this element was set to rows=%" G_GUINT64_FORMAT
                " cols=%u (leave them at 0 to take the shared shape)", name,
                gst_shared_matrix_get_rows (shared),
                gst_shared_matrix_get_cols (shared), rows, cols), (NULL));
        ok = FALSE;
      }
      gst_clear_object (&matrix);
      matrix = shared;
      shared = NULL;
    } else {
      if (matrix == NULL)
        matrix = create_matrix (self, location, checkpoint, rows, cols, dtype,
            backend, device_id);
      if (matrix)
        registry_insert_locked (name, matrix);
      else
        ok = FALSE;
    }
    g_mutex_unlock (&registry_lock);
    gst_clear_object (&shared);
  } else {
    matrix = create_matrix (self, location, checkpoint, rows, cols, dtype,
        backend, device_id);
    ok = matrix != NULL;
  }

  if (ok) {
    GST_OBJECT_LOCK (self);
    gst_object_replace ((GstObject **) & self->matrix, GST_OBJECT (matrix));
    GST_OBJECT_UNLOCK (self);
    GST_INFO_OBJECT (self, "using %" G_GUINT64_FORMAT " x %u %s matrix on %s",
        gst_shared_matrix_get_rows (matrix), gst_shared_matrix_get_cols (matrix),
        gst_shared_matrix_dtype_to_string (gst_shared_matrix_get_dtype
            (matrix)),
        gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
            (matrix)));
  }
  gst_clear_object (&matrix);
  g_free (name);
  g_free (location);
  g_free (checkpoint);
  return ok;
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

/* ---- snapshots ----------------------------------------------------------- */

static GstCaps *
snapshot_caps (GstSharedMatrix * matrix, gboolean npy)
{
  GstSharedMatrixTensorInfo info;

  gst_shared_matrix_tensor_info_set_format (&info,
      npy ? GST_SHARED_MATRIX_FORMAT_NPY : GST_SHARED_MATRIX_FORMAT_RAW,
      gst_shared_matrix_get_dtype (matrix), gst_shared_matrix_get_rows (matrix),
      gst_shared_matrix_get_cols (matrix));
  return gst_shared_matrix_tensor_info_to_caps (&info);
}

/* Both snapshot formats for this matrix, in order of preference. */
static GstCaps *
possible_src_caps (GstSharedMatrix * matrix)
{
  GstCaps *caps = snapshot_caps (matrix, FALSE);

  gst_caps_append (caps, snapshot_caps (matrix, TRUE));
  return caps;
}

static gboolean
negotiate_src (GstSharedMatrixElement * self, GstSharedMatrix * matrix)
{
  GstSharedMatrixTensorInfo info;
  GstCaps *ours, *peer;
  gboolean npy, ok;

  ours = possible_src_caps (matrix);
  peer = gst_pad_peer_query_caps (self->srcpad, ours);
  if (gst_caps_is_empty (peer)) {
    GstCaps *accepted = gst_pad_peer_query_caps (self->srcpad, NULL);

    if (self->refused_by == NULL || !gst_caps_is_equal (accepted,
            self->refused_by)) {
      gchar *accepted_str = gst_caps_to_string (accepted);

      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("Downstream accepts neither other/tensors (types=%s, "
              "dimensions=%u:%" G_GUINT64_FORMAT ") nor application/x-npy "
              "snapshots of this matrix; it accepts: %s",
              gst_shared_matrix_dtype_to_string (gst_shared_matrix_get_dtype
                  (matrix)), gst_shared_matrix_get_cols (matrix),
              gst_shared_matrix_get_rows (matrix), accepted_str),
          ("our caps %" GST_PTR_FORMAT, ours));
      g_free (accepted_str);
    }
    gst_caps_replace (&self->refused_by, accepted);
    gst_caps_unref (accepted);
    gst_caps_unref (peer);
    gst_caps_unref (ours);
    return FALSE;
  }
  gst_caps_unref (ours);
  /* the first of our (fixed) structures downstream takes */
  peer = gst_caps_truncate (peer);
  npy = gst_shared_matrix_tensor_info_from_caps (&info, peer) &&
      info.format == GST_SHARED_MATRIX_FORMAT_NPY;
  gst_caps_unref (peer);

  ours = snapshot_caps (matrix, npy);
  ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (ours));
  gst_caps_unref (ours);
  if (ok) {
    GST_OBJECT_LOCK (self);
    self->snapshot_npy = npy;
    GST_OBJECT_UNLOCK (self);
    self->src_negotiated = TRUE;
    gst_clear_caps (&self->refused_by);
  }
  return ok;
}

static gboolean
ensure_src_caps (GstSharedMatrixElement * self, GstSharedMatrix * matrix)
{
  if (self->src_negotiated && !gst_pad_check_reconfigure (self->srcpad))
    return TRUE;
  return negotiate_src (self, matrix);
}

/* Snapshot buffers come from a pool: a fresh allocation of a whole matrix
 * each time page-faults through all of it (some 7,000 faults for 28 MB)
 * before the copy even starts, and halves the copy's speed. The pool has no
 * upper bound, so a consumer holding snapshots never blocks the updates;
 * a new size (another matrix, npy instead of raw) gets a new pool. */
static GstBuffer *
acquire_snapshot_buffer (GstSharedMatrixElement * self, gsize size)
{
  GstBufferPool *pool = NULL, *old = NULL;
  GstBuffer *buf = NULL;

  GST_OBJECT_LOCK (self);
  if (self->snapshot_pool_size != size) {
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
    old = self->snapshot_pool;
    self->snapshot_pool = fresh;
    self->snapshot_pool_size = size;
  }
  if (self->snapshot_pool)
    pool = gst_object_ref (self->snapshot_pool);
  GST_OBJECT_UNLOCK (self);

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

static void
release_snapshot_pool (GstSharedMatrixElement * self)
{
  GstBufferPool *pool;

  GST_OBJECT_LOCK (self);
  pool = self->snapshot_pool;
  self->snapshot_pool = NULL;
  self->snapshot_pool_size = 0;
  GST_OBJECT_UNLOCK (self);
  if (pool) {
    gst_buffer_pool_set_active (pool, FALSE);
    gst_object_unref (pool);
  }
}

/* Posts the error of a failed device (GST_SHARED_MATRIX_ERROR_DEVICE: the
 * message says whether the matrix is still usable) after @what failed. */
#define POST_DEVICE_ERROR(self, what, err) \
  GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("%s: %s", what, \
          err->message), (NULL))

/* *@out: a buffer holding a consistent copy of the matrix, stamped with the
 * PTS of the last applied update and OFFSET = the version it shows. NULL
 * when there is no copy: with GST_FLOW_OK when memory for it cannot be had
 * (a warning is posted, streaming goes on), with GST_FLOW_ERROR when the
 * matrix cannot be read (an error is posted). */
static GstFlowReturn
make_snapshot_buffer (GstSharedMatrixElement * self, GstSharedMatrix * matrix,
    gboolean npy, GstBuffer ** out)
{
  GstSharedMatrixFormat format =
      npy ? GST_SHARED_MATRIX_FORMAT_NPY : GST_SHARED_MATRIX_FORMAT_RAW;
  gsize size = gst_shared_matrix_get_size (matrix, format);
  GstMapInfo map;
  GstBuffer *buf;
  guint64 version = 0;
  GError *err = NULL;
  gboolean ok;

  *out = NULL;
  buf = acquire_snapshot_buffer (self, size);
  if (buf == NULL) {
    GST_ELEMENT_WARNING (self, RESOURCE, NO_SPACE_LEFT,
        ("Cannot allocate %" G_GSIZE_FORMAT " bytes for a snapshot", size),
        (NULL));
    return GST_FLOW_OK;
  }
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  ok = gst_shared_matrix_copy_to (matrix, format, map.data, map.size, &version,
      &err);
  gst_buffer_unmap (buf, &map);
  if (!ok) {
    POST_DEVICE_ERROR (self, "Cannot take a snapshot of the matrix", err);
    g_error_free (err);
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }

  GST_OBJECT_LOCK (self);
  GST_BUFFER_PTS (buf) = self->last_pts;
  GST_OBJECT_UNLOCK (self);
  GST_BUFFER_OFFSET (buf) = version;
  GST_BUFFER_OFFSET_END (buf) = version;
  *out = buf;
  return GST_FLOW_OK;
}

static GstFlowReturn
push_snapshot (GstSharedMatrixElement * self, GstSharedMatrix * matrix)
{
  GstFlowReturn ret;
  GstBuffer *buf;
  gboolean npy;

  /* snapshots of an unlinked src pad are simply not made */
  if (!gst_pad_is_linked (self->srcpad))
    return GST_FLOW_OK;
  if (!ensure_src_caps (self, matrix))
    return GST_FLOW_NOT_NEGOTIATED;

  GST_OBJECT_LOCK (self);
  npy = self->snapshot_npy;
  GST_OBJECT_UNLOCK (self);

  ret = make_snapshot_buffer (self, matrix, npy, &buf);
  if (buf == NULL)
    return ret;
  GST_LOG_OBJECT (self, "pushing snapshot of version %" G_GUINT64_FORMAT,
      GST_BUFFER_OFFSET (buf));
  ret = gst_pad_push (self->srcpad, buf);
  if (ret == GST_FLOW_NOT_LINKED)
    ret = GST_FLOW_OK;
  return ret;
}

static GstSample *
gst_shared_matrix_element_snapshot (GstSharedMatrixElement * self)
{
  GstSharedMatrix *matrix = get_matrix (self);
  GstSharedMatrixTensorInfo info;
  GstCaps *caps;
  GstBuffer *buf;
  GstSample *sample;
  gboolean npy;

  if (matrix == NULL) {
    GST_WARNING_OBJECT (self, "snapshot requested but there is no matrix yet");
    return NULL;
  }
  /* the negotiated format if there is one, else raw tensors */
  caps = gst_pad_get_current_caps (self->srcpad);
  if (caps == NULL)
    caps = snapshot_caps (matrix, FALSE);
  npy = gst_shared_matrix_tensor_info_from_caps (&info, caps) &&
      info.format == GST_SHARED_MATRIX_FORMAT_NPY;

  make_snapshot_buffer (self, matrix, npy, &buf);
  sample = buf ? gst_sample_new (buf, caps, NULL, NULL) : NULL;
  gst_clear_buffer (&buf);
  gst_caps_unref (caps);
  gst_object_unref (matrix);
  return sample;
}

/* ---- statistics ---------------------------------------------------------- */

/* Running time of the update being handled: from its PTS when it has one,
 * else from the pipeline clock, else from the monotonic clock. */
static GstClockTime
current_running_time (GstSharedMatrixElement * self, GstBuffer * buf)
{
  GstClockTime t = GST_CLOCK_TIME_NONE;

  if (buf && GST_BUFFER_PTS_IS_VALID (buf) &&
      self->segment.format == GST_FORMAT_TIME)
    t = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME,
        GST_BUFFER_PTS (buf));
  if (!GST_CLOCK_TIME_IS_VALID (t))
    t = gst_element_get_current_running_time (GST_ELEMENT (self));
  if (!GST_CLOCK_TIME_IS_VALID (t))
    t = (g_get_monotonic_time () - self->start_monotonic) * GST_USECOND;
  return t;
}

/* TRUE once @interval has passed since *@start; the first call starts the
 * interval. The caller restarts it (sets *@start) when it acts. */
static gboolean
interval_elapsed (GstClockTime now, GstClockTime * start, guint64 interval)
{
  if (interval == 0)
    return FALSE;
  if (!GST_CLOCK_TIME_IS_VALID (*start) || now < *start) {
    *start = now;
    return FALSE;
  }
  return now - *start >= interval;
}

static void
post_stats (GstSharedMatrixElement * self, GstSharedMatrix * matrix,
    GstClockTime now)
{
  GstStructure *s;
  guint64 updates, rows, dropped;
  gdouble rate = 0;

  GST_OBJECT_LOCK (self);
  updates = self->updates_applied;
  rows = self->rows_applied;
  dropped = self->rows_dropped;
  GST_OBJECT_UNLOCK (self);

  if (GST_CLOCK_TIME_IS_VALID (self->last_message_time) &&
      now > self->last_message_time)
    rate = (gdouble) (rows - self->rows_at_last_message) * GST_SECOND /
        (now - self->last_message_time);
  self->rows_at_last_message = rows;
  self->last_message_time = now;

  s = gst_structure_new ("sharedmatrix-stats",
      "version", G_TYPE_UINT64, gst_shared_matrix_get_version (matrix),
      "updates-applied", G_TYPE_UINT64, updates,
      "rows-applied", G_TYPE_UINT64, rows,
      "rows-dropped", G_TYPE_UINT64, dropped,
      "rows-per-second", G_TYPE_DOUBLE, rate,
      "backend", G_TYPE_STRING,
      gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
          (matrix)), NULL);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* ---- checkpoints --------------------------------------------------------- */

typedef struct
{
  gchar *path;
  GBytes *contents;
} CheckpointJob;

/* Runs on the writer thread: the streaming thread only paid for the copy. */
static void
write_checkpoint_job (gpointer data, gpointer user_data)
{
  GstSharedMatrixElement *self = user_data;
  CheckpointJob *job = data;
  GError *err = NULL;

  if (!gst_shared_matrix_write_checkpoint (job->path, job->contents, &err)) {
    /* A failed write keeps the previous checkpoint and streaming goes on:
     * losing the stream over a full disk would lose more than a checkpoint. */
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("Checkpoint not written, the previous one is kept: %s", err->message),
        (NULL));
    g_clear_error (&err);
  } else {
    GST_DEBUG_OBJECT (self, "checkpoint written to %s", job->path);
  }
  g_free (job->path);
  g_bytes_unref (job->contents);
  g_free (job);
}

/* Copies the matrix now (consistent with last-offset) and writes it on the
 * writer thread, or right here when @wait (EOS: the checkpoint must be on
 * disk before EOS goes on). A periodic checkpoint is skipped while another
 * is still queued, so slow disks cost checkpoints, not memory. A matrix
 * that cannot be read is an error (posted): nothing is written over the
 * previous checkpoint. */
static GstFlowReturn
checkpoint (GstSharedMatrixElement * self, GstSharedMatrix * matrix,
    const gchar * path, gboolean wait)
{
  CheckpointJob *job;
  guint64 last_offset;
  GError *err = NULL;

  if (!wait && g_thread_pool_unprocessed (self->checkpoint_writer) > 0) {
    GST_INFO_OBJECT (self, "previous checkpoint still queued, skipping one");
    return GST_FLOW_OK;
  }
  job = g_new0 (CheckpointJob, 1);
  job->path = g_strdup (path);
  GST_OBJECT_LOCK (self);
  last_offset = self->have_last_offset ? self->last_offset :
      GST_BUFFER_OFFSET_NONE;
  GST_OBJECT_UNLOCK (self);
  job->contents = gst_shared_matrix_get_checkpoint (matrix, last_offset, &err);
  if (job->contents == NULL) {
    GstFlowReturn ret = GST_FLOW_OK;

    if (err->code == GST_SHARED_MATRIX_ERROR_NO_MEMORY) {
      GST_ELEMENT_WARNING (self, RESOURCE, NO_SPACE_LEFT,
          ("No memory for a checkpoint copy of the matrix; the previous "
              "checkpoint is kept"), ("%s", err->message));
    } else {
      POST_DEVICE_ERROR (self, "Cannot take a checkpoint of the matrix, the "
          "previous checkpoint is kept", err);
      ret = GST_FLOW_ERROR;
    }
    g_error_free (err);
    g_free (job->path);
    g_free (job);
    return ret;
  }
  if (wait) {
    /* drain the queue first so the files land in order */
    g_thread_pool_free (self->checkpoint_writer, FALSE, TRUE);
    self->checkpoint_writer = g_thread_pool_new (write_checkpoint_job, self, 1,
        FALSE, NULL);
    write_checkpoint_job (job, self);
  } else {
    g_thread_pool_push (self->checkpoint_writer, job, NULL);
  }
  return GST_FLOW_OK;
}

/* ---- the data path ------------------------------------------------------- */

static GstFlowReturn
gst_shared_matrix_element_chain (GstPad * pad, GstObject * parent,
    GstBuffer * buf)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (parent);
  GstSharedMatrixUpdateResult result;
  GstSharedMatrix *matrix;
  GstSharedMatrixOp op;
  GstSharedMatrixInvalidIndexPolicy invalid_index;
  GstSharedMatrixNonFinitePolicy non_finite;
  guint snapshot_every;
  guint64 snapshot_interval, message_interval;
  gboolean post_messages, snapshot_due = FALSE;
  gconstpointer indices, deltas;
  GstFlowReturn ret = GST_FLOW_OK;
  GError *err = NULL;
  GstMapInfo map;
  GstClockTime now;
  gchar *checkpoint_path;
  guint checkpoint_every;
  gsize n;

  if (!self->have_caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Update buffer arrived before caps"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  /* exactly once: a producer replaying after a crash resends what the
   * restored checkpoint already holds */
  if (self->skip_through != GST_BUFFER_OFFSET_NONE &&
      GST_BUFFER_OFFSET_IS_VALID (buf) &&
      GST_BUFFER_OFFSET (buf) <= self->skip_through) {
    GST_LOG_OBJECT (self, "skipping update %" G_GUINT64_FORMAT ", already in "
        "the checkpoint", GST_BUFFER_OFFSET (buf));
    GST_OBJECT_LOCK (self);
    self->updates_skipped++;
    GST_OBJECT_UNLOCK (self);
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }

  GST_OBJECT_LOCK (self);
  matrix = gst_object_ref (self->matrix);
  checkpoint_path = self->checkpoint_every ?
      g_strdup (self->checkpoint_location) : NULL;
  checkpoint_every = self->checkpoint_every;
  op = self->op;
  invalid_index = self->invalid_index;
  non_finite = self->non_finite;
  snapshot_every = self->snapshot_every;
  snapshot_interval = self->snapshot_interval;
  post_messages = self->post_messages;
  message_interval = self->message_interval;
  GST_OBJECT_UNLOCK (self);

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Cannot map update buffer"),
        (NULL));
    ret = GST_FLOW_ERROR;
    goto done;
  }
  if (!gst_shared_matrix_parse_update (matrix, self->index_type,
          self->delta_dtype, map.data, map.size, &indices, &deltas, &n, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Malformed update buffer: %s",
            err->message), ("buffer %" GST_PTR_FORMAT, buf));
    ret = GST_FLOW_ERROR;
    goto unmap;
  }
  if (!gst_shared_matrix_update (matrix, op, indices, n, self->index_type,
          deltas, self->delta_dtype, invalid_index, non_finite, &result,
          &err)) {
    if (err->code == GST_SHARED_MATRIX_ERROR_DEVICE)
      POST_DEVICE_ERROR (self, "Cannot apply an update", err);
    else
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Update rejected, matrix "
              "unchanged: %s", err->message), ("buffer %" GST_PTR_FORMAT,
              buf));
    ret = GST_FLOW_ERROR;
    goto unmap;
  }

  GST_OBJECT_LOCK (self);
  self->updates_applied++;
  self->rows_applied += result.rows_applied;
  self->rows_dropped +=
      result.rows_dropped_invalid + result.rows_dropped_non_finite;
  if (GST_BUFFER_OFFSET_IS_VALID (buf)) {
    self->last_offset = GST_BUFFER_OFFSET (buf);
    self->have_last_offset = TRUE;
  }
  if (GST_BUFFER_PTS_IS_VALID (buf))
    self->last_pts = GST_BUFFER_PTS (buf);
  GST_OBJECT_UNLOCK (self);

  if (checkpoint_path && ++self->updates_since_checkpoint >= checkpoint_every) {
    self->updates_since_checkpoint = 0;
    ret = checkpoint (self, matrix, checkpoint_path, FALSE);
    if (ret != GST_FLOW_OK)
      goto unmap;
  }

  /* the running time costs clock and lock round trips: only the interval
   * snapshots and the stats messages need it (both fixed while streaming) */
  now = GST_CLOCK_TIME_NONE;
  if (snapshot_interval || post_messages) {
    now = current_running_time (self, buf);
    self->last_running_time = now;
  }
  if (snapshot_every && ++self->updates_since_snapshot >= snapshot_every)
    snapshot_due = TRUE;
  if (interval_elapsed (now, &self->last_snapshot_time, snapshot_interval))
    snapshot_due = TRUE;
  if (snapshot_due) {
    self->updates_since_snapshot = 0;
    self->last_snapshot_time = now;
    ret = push_snapshot (self, matrix);
  }
  /* post_stats restarts the message interval. The update that starts the
   * first interval belongs before it: rows-per-second counts what follows. */
  if (post_messages && !GST_CLOCK_TIME_IS_VALID (self->last_message_time)) {
    GST_OBJECT_LOCK (self);
    self->rows_at_last_message = self->rows_applied;
    GST_OBJECT_UNLOCK (self);
  }
  if (post_messages &&
      interval_elapsed (now, &self->last_message_time, message_interval))
    post_stats (self, matrix, now);

unmap:
  gst_buffer_unmap (buf, &map);
done:
  g_clear_error (&err);
  g_free (checkpoint_path);
  gst_buffer_unref (buf);
  gst_object_unref (matrix);
  return ret;
}

static gboolean
set_sink_caps (GstSharedMatrixElement * self, GstCaps * caps)
{
  GstSharedMatrixUpdateInfo info;
  GstSharedMatrix *matrix;
  guint cols;
  gboolean ok;

  if (!gst_shared_matrix_update_info_from_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Unusable update caps %" GST_PTR_FORMAT ": dtype must be one of "
            "float32, float64, float16, bfloat16, index-type int32 or int64, "
            "and cols a positive int", caps), (NULL));
    return FALSE;
  }

  self->delta_dtype = info.dtype;
  self->index_type = info.index_type;
  cols = info.cols;

  matrix = get_matrix (self);
  if (matrix == NULL)
    return FALSE;
  ok = cols == gst_shared_matrix_get_cols (matrix);
  if (!ok)
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Updates have cols=%u but the matrix has %u columns: every delta row "
            "must be one matrix row long", cols,
            gst_shared_matrix_get_cols (matrix)),
        ("caps %" GST_PTR_FORMAT, caps));
  else
    ok = ensure_src_caps (self, matrix) || !gst_pad_is_linked (self->srcpad);
  gst_object_unref (matrix);
  self->have_caps = ok;
  return ok;
}

static gboolean
gst_shared_matrix_element_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (parent);

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
    case GST_EVENT_SEGMENT:{
      GstSharedMatrix *matrix = get_matrix (self);

      gst_event_copy_segment (event, &self->segment);
      /* caps go out before the segment on the src pad */
      if (matrix && gst_pad_is_linked (self->srcpad))
        ensure_src_caps (self, matrix);
      gst_clear_object (&matrix);
      break;
    }
    case GST_EVENT_FLUSH_STOP:
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      break;
    case GST_EVENT_EOS:{
      GstSharedMatrix *matrix = get_matrix (self);
      gboolean snapshot_on_eos, post_messages;
      gchar *checkpoint_path;

      GST_OBJECT_LOCK (self);
      snapshot_on_eos = self->snapshot_on_eos;
      post_messages = self->post_messages;
      checkpoint_path = g_strdup (self->checkpoint_location);
      GST_OBJECT_UNLOCK (self);
      if (matrix && checkpoint_path)
        checkpoint (self, matrix, checkpoint_path, TRUE);
      g_free (checkpoint_path);
      if (matrix && snapshot_on_eos)
        push_snapshot (self, matrix);
      /* the final message measures on the same time line as the others */
      if (matrix && post_messages)
        post_stats (self, matrix,
            GST_CLOCK_TIME_IS_VALID (self->last_running_time) ?
            self->last_running_time : current_running_time (self, NULL));
      gst_clear_object (&matrix);
      /* Unlinked, the element is the end of its branch (see change_state):
       * it reports EOS to the bin itself. */
      if (!gst_pad_is_linked (self->srcpad)) {
        GstMessage *msg = gst_message_new_eos (GST_OBJECT (self));

        gst_message_set_seqnum (msg, gst_event_get_seqnum (event));
        gst_element_post_message (GST_ELEMENT (self), msg);
      }
      break;
    }
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
  cols = self->matrix ? gst_shared_matrix_get_cols (self->matrix) : self->cols;
  GST_OBJECT_UNLOCK (self);
  if (cols) {
    caps = gst_caps_make_writable (caps);
    gst_caps_set_simple (caps, "cols", G_TYPE_INT, (gint) cols, NULL);
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);

    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

/* Bytes of one update record (index + delta row) for fixed update caps,
 * 0 when the caps do not say. */
static gsize
caps_record_size (GstCaps * caps)
{
  GstSharedMatrixUpdateInfo info;

  if (!gst_shared_matrix_update_info_from_caps (&info, caps))
    return 0;
  return gst_shared_matrix_update_info_record_size (&info);
}

/* When the matrix's backend has a staging allocator (pinned host memory on
 * the CUDA backend), offers it upstream, with a pool of its memory sized
 * for POOL_RECORDS records of the caps (producers whose updates have
 * another size configure the pool for theirs, or allocate from the
 * allocator). Update data in that memory is copied to the GPU without
 * staging. Returns FALSE when there is nothing to offer (CPU backend). */
static gboolean
propose_allocation (GstSharedMatrixElement * self, GstQuery * query)
{
  GstSharedMatrix *matrix = get_matrix (self);
  GstAllocator *allocator;
  GstAllocationParams params;
  GstCaps *caps = NULL;
  gboolean need_pool = FALSE;
  gsize size;

  if (matrix == NULL)
    return FALSE;
  allocator = gst_shared_matrix_get_staging_allocator (matrix);
  gst_object_unref (matrix);
  if (allocator == NULL)
    return FALSE;

  gst_allocation_params_init (&params);
  gst_query_add_allocation_param (query, allocator, &params);
  gst_query_parse_allocation (query, &caps, &need_pool);
  size = caps_record_size (caps) * POOL_RECORDS;
  if (size > 0 && size <= G_MAXUINT) {
    GstBufferPool *pool = gst_buffer_pool_new ();
    GstStructure *config = gst_buffer_pool_get_config (pool);

    gst_buffer_pool_config_set_params (config, caps, (guint) size,
        POOL_MIN_BUFFERS, 0);
    gst_buffer_pool_config_set_allocator (config, allocator, &params);
    if (gst_buffer_pool_set_config (pool, config))
      gst_query_add_allocation_pool (query, pool, (guint) size,
          POOL_MIN_BUFFERS, 0);
    else
      GST_WARNING_OBJECT (self, "pinned buffer pool rejected its config");
    gst_object_unref (pool);
  }
  GST_DEBUG_OBJECT (self, "offered the %s allocator%s", allocator->mem_type,
      size > 0 ? " and a pool of its memory" : "");
  gst_object_unref (allocator);
  return TRUE;
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
    case GST_QUERY_ALLOCATION:
      if (propose_allocation (self, query))
        return TRUE;
      return gst_pad_query_default (pad, parent, query);
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
      GstCaps *filter, *caps;

      gst_query_parse_caps (query, &filter);
      caps = matrix ? possible_src_caps (matrix) :
          gst_pad_get_pad_template_caps (pad);
      gst_clear_object (&matrix);
      if (filter) {
        GstCaps *tmp = gst_caps_intersect_full (filter, caps,
            GST_CAPS_INTERSECT_FIRST);

        gst_caps_unref (caps);
        caps = tmp;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* ---- state --------------------------------------------------------------- */

static void
reset_streaming_state (GstSharedMatrixElement * self)
{
  self->have_caps = FALSE;
  self->src_negotiated = FALSE;
  gst_clear_caps (&self->refused_by);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->updates_since_snapshot = 0;
  self->last_snapshot_time = GST_CLOCK_TIME_NONE;
  self->last_message_time = GST_CLOCK_TIME_NONE;
  self->last_running_time = GST_CLOCK_TIME_NONE;
  self->rows_at_last_message = 0;
  self->start_monotonic = g_get_monotonic_time ();
  self->skip_through = GST_BUFFER_OFFSET_NONE;
  self->updates_since_checkpoint = 0;
  GST_OBJECT_LOCK (self);
  self->last_pts = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);
}

static GstStateChangeReturn
gst_shared_matrix_element_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSharedMatrixElement *self = GST_SHARED_MATRIX_ELEMENT (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!ensure_matrix (self))
        return GST_STATE_CHANGE_FAILURE;
      /* With nothing linked downstream, this element ends the stream: as a
       * sink, the bin waits for its EOS (`updatetestsrc ! sharedmatrix`). */
      if (gst_pad_is_linked (self->srcpad))
        GST_OBJECT_FLAG_UNSET (self, GST_ELEMENT_FLAG_SINK);
      else
        GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
      reset_streaming_state (self);
      GST_OBJECT_LOCK (self);
      self->rows_at_last_message = self->rows_applied;
      /* what the matrix holds already, restored or from an earlier run */
      if (self->checkpoint_location && self->have_last_offset)
        self->skip_through = self->last_offset;
      GST_OBJECT_UNLOCK (self);
      self->checkpoint_writer = g_thread_pool_new (write_checkpoint_job, self,
          1, FALSE, NULL);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      reset_streaming_state (self);
      release_snapshot_pool (self);
      /* finish the checkpoint in flight */
      g_thread_pool_free (self->checkpoint_writer, FALSE, TRUE);
      self->checkpoint_writer = NULL;
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
      g_free (self->matrix_name);
      self->matrix_name = g_value_dup_string (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_ROWS:
      self->rows = g_value_get_uint64 (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_COLS:
      self->cols = g_value_get_uint (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_DTYPE:
      self->dtype = g_value_get_enum (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_BACKEND:
      self->backend = g_value_get_enum (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_DEVICE_ID:
      self->device_id = g_value_get_int (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_OP:
      self->op = g_value_get_enum (value);
      break;
    case PROP_INVALID_INDEX:
      self->invalid_index = g_value_get_enum (value);
      break;
    case PROP_NON_FINITE:
      self->non_finite = g_value_get_enum (value);
      break;
    case PROP_SNAPSHOT_EVERY:
      self->snapshot_every = g_value_get_uint (value);
      break;
    case PROP_SNAPSHOT_INTERVAL:
      self->snapshot_interval = g_value_get_uint64 (value);
      break;
    case PROP_SNAPSHOT_ON_EOS:
      self->snapshot_on_eos = g_value_get_boolean (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_MESSAGE_INTERVAL:
      self->message_interval = g_value_get_uint64 (value);
      break;
    case PROP_CHECKPOINT_LOCATION:
      g_free (self->checkpoint_location);
      self->checkpoint_location = g_value_dup_string (value);
      forget_own_matrix_locked (self);
      break;
    case PROP_CHECKPOINT_EVERY:
      self->checkpoint_every = g_value_get_uint (value);
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

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MATRIX:
      g_value_set_object (value, self->matrix);
      break;
    case PROP_MATRIX_NAME:
      g_value_set_string (value, self->matrix_name);
      break;
    case PROP_ROWS:
      g_value_set_uint64 (value, self->rows);
      break;
    case PROP_COLS:
      g_value_set_uint (value, self->cols);
      break;
    case PROP_DTYPE:
      g_value_set_enum (value, self->dtype);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, self->backend);
      break;
    case PROP_DEVICE_ID:
      g_value_set_int (value, self->device_id);
      break;
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_OP:
      g_value_set_enum (value, self->op);
      break;
    case PROP_INVALID_INDEX:
      g_value_set_enum (value, self->invalid_index);
      break;
    case PROP_NON_FINITE:
      g_value_set_enum (value, self->non_finite);
      break;
    case PROP_SNAPSHOT_EVERY:
      g_value_set_uint (value, self->snapshot_every);
      break;
    case PROP_SNAPSHOT_INTERVAL:
      g_value_set_uint64 (value, self->snapshot_interval);
      break;
    case PROP_SNAPSHOT_ON_EOS:
      g_value_set_boolean (value, self->snapshot_on_eos);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_MESSAGE_INTERVAL:
      g_value_set_uint64 (value, self->message_interval);
      break;
    case PROP_CHECKPOINT_LOCATION:
      g_value_set_string (value, self->checkpoint_location);
      break;
    case PROP_CHECKPOINT_EVERY:
      g_value_set_uint (value, self->checkpoint_every);
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
      g_value_set_uint64 (value, self->updates_applied);
      break;
    case PROP_ROWS_APPLIED:
      g_value_set_uint64 (value, self->rows_applied);
      break;
    case PROP_ROWS_DROPPED:
      g_value_set_uint64 (value, self->rows_dropped);
      break;
    case PROP_LAST_OFFSET:
      g_value_set_uint64 (value, self->last_offset);
      break;
    case PROP_UPDATES_SKIPPED:
      g_value_set_uint64 (value, self->updates_skipped);
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

  release_snapshot_pool (self);
  gst_clear_object (&self->matrix);
  g_free (self->matrix_name);
  g_free (self->location);
  g_free (self->checkpoint_location);
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
}

static void
gst_shared_matrix_element_init (GstSharedMatrixElement * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_shared_matrix_element_chain));
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

  self->dtype = DEFAULT_PROP_DTYPE;
  self->backend = DEFAULT_PROP_BACKEND;
  self->device_id = DEFAULT_PROP_DEVICE_ID;
  self->op = DEFAULT_PROP_OP;
  self->invalid_index = DEFAULT_PROP_INVALID_INDEX;
  self->non_finite = DEFAULT_PROP_NON_FINITE;
  self->snapshot_every = DEFAULT_PROP_SNAPSHOT_EVERY;
  self->snapshot_interval = DEFAULT_PROP_SNAPSHOT_INTERVAL;
  self->snapshot_on_eos = DEFAULT_PROP_SNAPSHOT_ON_EOS;
  self->post_messages = DEFAULT_PROP_POST_MESSAGES;
  self->message_interval = DEFAULT_PROP_MESSAGE_INTERVAL;
  self->last_pts = GST_CLOCK_TIME_NONE;
  reset_streaming_state (self);
}
