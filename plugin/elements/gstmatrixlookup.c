/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-matrixlookup
 * @title: matrixlookup
 * @see_also: sharedmatrix
 *
 * matrixlookup reads rows of a shared matrix for a stream of row-id
 * requests, the way `sharedmatrix` writes them: serving embeddings, or
 * reading the rows a gradient is computed from.
 *
 * Each input buffer (`application/x-matrix-ids`) is N row ids of the caps'
 * `index-type`, little-endian, no header. For each, one output buffer
 * (`application/x-matrix-update` with the matrix's `dtype` and `cols` and
 * the same `index-type`) holds N records in the update layout: the N ids,
 * then their N rows as they are now. So the output can feed a
 * `sharedmatrix op=set` replica, or a gradient computation, directly.
 * Duplicate ids are allowed; an empty request gives an empty buffer.
 *
 * Each output buffer is one consistent read of the matrix (one library
 * call, gst_shared_matrix_gather(), under the matrix's data lock): it never
 * shows half of an update. On the CUDA backend the rows are gathered on the
 * device and copied back once per request. Output buffers keep the
 * request's PTS, DTS and duration; their OFFSET is the matrix version the
 * rows show.
 *
 * The matrix must exist: a lookup never creates one. It is the application's
 * (#GstMatrixLookup:matrix) or the one registered under
 * #GstMatrixLookup:matrix-name by a `sharedmatrix` element (in any pipeline
 * of the process) or by gst_shared_matrix_register(). A named matrix is
 * looked up when the element starts and, if it does not exist yet (the
 * `sharedmatrix` of the same pipeline may create it only when it starts
 * itself), again when the first request's caps arrive: only a matrix still
 * missing then is an error. The matrix found is used until the element
 * goes back to READY.
 *
 * An id < 0 or >= rows is an error that stops the stream
 * (#GstMatrixLookup:invalid-index=error) or comes back as a row of zeros,
 * counted in #GstMatrixLookup:rows-zeroed (invalid-index=zero).
 *
 * Buffer lists are handled as a whole: a list of K requests gives one list
 * of K outputs, pushed at once.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=100 ! sharedmatrix rows=70000 cols=100 matrix-name=emb ! fakesink \
 *     filesrc location=ids.bin blocksize=800 ! application/x-matrix-ids,index-type=int32 ! matrixlookup matrix-name=emb ! filesink location=rows.bin
 * ]| Answers requests of 200 int32 ids each from the matrix `emb` that the
 * first branch updates, writing each id followed by its row.
 * |[
 * gst-launch-1.0 … ! matrixlookup matrix-name=primary ! sharedmatrix op=set rows=70000 cols=100 matrix-name=replica ! fakesink
 * ]| Copies the requested rows of `primary` into the replica `replica`.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstmatrixlookup.h"
#include "gstsharedmatrix.h"
#include "gstsharedmatrixinfo.h"
#include "gstsharedmatrixregistry.h"
#include "sharedmatrix-context.h"
#include "sharedmatrix-util.h"

GST_DEBUG_CATEGORY_STATIC (gst_matrix_lookup_debug);
#define GST_CAT_DEFAULT gst_matrix_lookup_debug

#define DEFAULT_PROP_MATRIX NULL
#define DEFAULT_PROP_MATRIX_NAME NULL
#define DEFAULT_PROP_INVALID_INDEX GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR

enum
{
  PROP_0,
  PROP_MATRIX,
  PROP_MATRIX_NAME,
  PROP_INVALID_INDEX,
  PROP_REQUESTS,
  PROP_ROWS_READ,
  PROP_ROWS_ZEROED,
};

/* The property values, fixed from READY -> PAUSED on. */
typedef struct
{
  GstSharedMatrix *matrix;      /* the application's, or NULL */
  gchar *matrix_name;
  GstSharedMatrixGatherInvalidIndexPolicy invalid_index;
} Settings;

/* The streaming thread's state, set up at READY -> PAUSED and torn down
 * at PAUSED -> READY; in between owned by the streaming thread (the sink
 * pad's stream lock). */
typedef struct
{
  Settings settings;            /* copied once at start */
  GstSharedMatrix *matrix;      /* in use; NULL until found */
  gboolean have_caps;
  GstSharedMatrixIdsInfo ids;   /* the negotiated request caps */
  GstSharedMatrixUpdateInfo out;        /* the output caps */
  guint index_size;
  gsize row_size;               /* bytes of one matrix row */
} State;

/* What the read-only properties report. */
typedef struct
{
  guint64 requests;
  guint64 rows_read;
  guint64 rows_zeroed;
} Stats;

/* Lock order: the stream lock (State), then the object lock (Settings,
 * matrix, Stats), which is never held while taking another lock. */
struct _GstMatrixLookup
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* under the object lock */
  Settings settings;
  GstSharedMatrix *matrix;      /* the one in use, for the property */
  Stats stats;

  /* under the stream lock */
  State state;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_IDS_CAPS_TEMPLATE));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE));

#define gst_matrix_lookup_parent_class parent_class
G_DEFINE_TYPE (GstMatrixLookup, gst_matrix_lookup, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (matrixlookup, "matrixlookup",
    GST_RANK_NONE, GST_TYPE_MATRIX_LOOKUP,
    GST_DEBUG_CATEGORY_INIT (gst_matrix_lookup_debug, "matrixlookup", 0,
        "Shared matrix row lookup"));

static void
settings_copy (Settings * dest, const Settings * src)
{
  *dest = *src;
  dest->matrix = src->matrix ? gst_object_ref (src->matrix) : NULL;
  dest->matrix_name = g_strdup (src->matrix_name);
}

static void
settings_clear (Settings * settings)
{
  gst_clear_object (&settings->matrix);
  g_clear_pointer (&settings->matrix_name, g_free);
}

/* ---- the matrix ---------------------------------------------------------- */

/* The one place the element finds its matrix, in sharedmatrix's order: the
 * application's, else a GstContext of the pipeline carrying a matrix of
 * this matrix-name (only when @self is given: the context search queries
 * the neighbours and posts NEED_CONTEXT, not for a caps query), else the
 * one registered under matrix-name. Returns a new reference, or NULL with
 * @error saying what is missing. Takes no element lock. */
static GstSharedMatrix *
find_matrix (GstMatrixLookup * self, const Settings * settings,
    GError ** error)
{
  GstSharedMatrix *matrix;

  if (settings->matrix)
    return gst_object_ref (settings->matrix);
  if (self) {
    matrix = sm_context_find (GST_ELEMENT (self), settings->matrix_name);
    if (matrix)
      return matrix;
  }
  if (settings->matrix_name == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "No matrix to read: set the matrix property, or matrix-name to the "
        "name of a sharedmatrix element's matrix, or give the pipeline a "
        "gst.sharedmatrix.matrix context");
    return NULL;
  }
  matrix = gst_shared_matrix_lookup (settings->matrix_name);
  if (matrix == NULL)
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "No matrix named '%s' exists: matrixlookup never creates one. Start "
        "a sharedmatrix element with matrix-name=%s (or register a matrix "
        "under that name with gst_shared_matrix_register ()) before the "
        "first request", settings->matrix_name, settings->matrix_name);
  return matrix;
}

/* Streaming thread: makes sure State has the matrix, finding it now if it
 * was not there at start. FALSE with @error when there is none. */
static gboolean
ensure_matrix (GstMatrixLookup * self, GError ** error)
{
  State *st = &self->state;

  if (st->matrix)
    return TRUE;
  st->matrix = find_matrix (self, &st->settings, error);
  if (st->matrix == NULL)
    return FALSE;
  st->row_size = (gsize) gst_shared_matrix_get_cols (st->matrix) *
      gst_shared_matrix_dtype_size (gst_shared_matrix_get_dtype (st->matrix));
  GST_OBJECT_LOCK (self);
  gst_object_replace ((GstObject **) & self->matrix, GST_OBJECT (st->matrix));
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (self, "reading %" G_GUINT64_FORMAT " x %u %s matrix on %s",
      gst_shared_matrix_get_rows (st->matrix),
      gst_shared_matrix_get_cols (st->matrix),
      gst_shared_matrix_dtype_to_string (gst_shared_matrix_get_dtype
          (st->matrix)),
      gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
          (st->matrix)));
  return TRUE;
}

/* ---- the data path ------------------------------------------------------- */

/* One request: a new output buffer holding the ids and their rows, read in
 * one consistent gather straight into it. Counts into @stats. Posts an
 * error and returns NULL on failure. Streaming thread, no lock held. */
static GstBuffer *
lookup (GstMatrixLookup * self, GstBuffer * request, Stats * stats)
{
  State *st = &self->state;
  GstMapInfo in, out;
  GstBuffer *outbuf;
  guint64 version, zeroed;
  GError *err = NULL;
  gsize n;

  if (!gst_buffer_map (request, &in, GST_MAP_READ))
    goto map_failed;
  if (in.size % st->index_size != 0)
    goto malformed;
  n = in.size / st->index_size;
  outbuf = gst_buffer_new_allocate (NULL, in.size + n * st->row_size, NULL);
  if (outbuf == NULL)
    goto no_memory;
  if (!gst_buffer_map (outbuf, &out, GST_MAP_WRITE)) {
    gst_buffer_unref (outbuf);
    goto no_memory;
  }
  if (n)
    memcpy (out.data, in.data, in.size);
  if (!gst_shared_matrix_gather (st->matrix, in.data, n, st->ids.index_type,
          st->settings.invalid_index, n ? out.data + in.size : NULL,
          n * st->row_size, &version, &zeroed, &err)) {
    gst_buffer_unmap (outbuf, &out);
    gst_buffer_unref (outbuf);
    goto gather_failed;
  }
  gst_buffer_unmap (outbuf, &out);
  gst_buffer_unmap (request, &in);

  gst_buffer_copy_into (outbuf, request, GST_BUFFER_COPY_FLAGS |
      GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  GST_BUFFER_OFFSET (outbuf) = version;
  GST_BUFFER_OFFSET_END (outbuf) = GST_BUFFER_OFFSET_NONE;
  stats->requests++;
  stats->rows_read += n - zeroed;
  stats->rows_zeroed += zeroed;
  return outbuf;

  /* ERRORS */
map_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Cannot map a request buffer"),
        (NULL));
    return NULL;
  }
malformed:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Request of %" G_GSIZE_FORMAT " bytes is not a whole number of %u-"
            "byte %s ids (%" G_GSIZE_FORMAT " bytes left over)", in.size,
            st->index_size,
            gst_shared_matrix_index_type_to_string (st->ids.index_type),
            in.size % st->index_size), (NULL));
    gst_buffer_unmap (request, &in);
    return NULL;
  }
no_memory:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Cannot allocate %" G_GSIZE_FORMAT " bytes for the rows of a "
            "request of %" G_GSIZE_FORMAT " ids", in.size + n * st->row_size,
            n), (NULL));
    gst_buffer_unmap (request, &in);
    return NULL;
  }
gather_failed:
  {
    SM_ELEMENT_ERROR_FROM_GERROR (self, STREAM, FAILED, err,
        "Cannot read the rows of a request");
    g_clear_error (&err);
    gst_buffer_unmap (request, &in);
    return NULL;
  }
}

static void
add_stats (GstMatrixLookup * self, const Stats * delta)
{
  GST_OBJECT_LOCK (self);
  self->stats.requests += delta->requests;
  self->stats.rows_read += delta->rows_read;
  self->stats.rows_zeroed += delta->rows_zeroed;
  GST_OBJECT_UNLOCK (self);
}

static GstFlowReturn
gst_matrix_lookup_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (parent);
  Stats stats = { 0, };
  GstBuffer *outbuf;

  if (!self->state.have_caps)
    goto not_negotiated;
  outbuf = lookup (self, buf, &stats);
  gst_buffer_unref (buf);
  if (outbuf == NULL)
    return GST_FLOW_ERROR;
  add_stats (self, &stats);
  return gst_pad_push (self->srcpad, outbuf);

  /* ERRORS */
not_negotiated:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Request buffer arrived before caps"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
}

/* A list of K requests: one list of K outputs, pushed at once; the
 * statistics are counted once. Each output is still its own consistent
 * read. */
static GstFlowReturn
gst_matrix_lookup_chain_list (GstPad * pad, GstObject * parent,
    GstBufferList * list)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (parent);
  guint i, len = gst_buffer_list_length (list);
  Stats stats = { 0, };
  GstBufferList *out;

  if (!self->state.have_caps)
    goto not_negotiated;
  out = gst_buffer_list_new_sized (len);
  for (i = 0; i < len; i++) {
    GstBuffer *outbuf = lookup (self, gst_buffer_list_get (list, i), &stats);

    if (outbuf == NULL)
      goto failed;
    gst_buffer_list_add (out, outbuf);
  }
  gst_buffer_list_unref (list);
  add_stats (self, &stats);
  return gst_pad_push_list (self->srcpad, out);

  /* ERRORS */
not_negotiated:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Request buffer list arrived before caps"), (NULL));
    gst_buffer_list_unref (list);
    return GST_FLOW_NOT_NEGOTIATED;
  }
failed:
  {
    /* the requests before the failed one were answered but not pushed:
     * the stream stops here anyway */
    gst_buffer_list_unref (out);
    gst_buffer_list_unref (list);
    add_stats (self, &stats);
    return GST_FLOW_ERROR;
  }
}

/* ---- pads ---------------------------------------------------------------- */

/* The request caps: the ids info, the matrix (found now at the latest),
 * and from them the output caps, pushed downstream. */
static gboolean
set_sink_caps (GstMatrixLookup * self, GstCaps * caps)
{
  State *st = &self->state;
  GstSharedMatrixIdsInfo ids;
  GstCaps *outcaps;
  GError *err = NULL;
  gboolean ok;

  st->have_caps = FALSE;
  if (!gst_shared_matrix_ids_info_from_caps (&ids, caps))
    goto unusable;
  if (!ensure_matrix (self, &err))
    goto no_matrix;
  st->ids = ids;
  st->index_size = gst_shared_matrix_index_type_size (ids.index_type);
  gst_shared_matrix_update_info_set_format (&st->out,
      gst_shared_matrix_get_dtype (st->matrix), ids.index_type,
      gst_shared_matrix_get_cols (st->matrix));
  outcaps = gst_shared_matrix_update_info_to_caps (&st->out);
  ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (outcaps));
  if (!ok && gst_pad_is_linked (self->srcpad))
    goto refused;
  gst_caps_unref (outcaps);
  st->have_caps = TRUE;
  return TRUE;

  /* ERRORS */
unusable:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Unusable request caps %" GST_PTR_FORMAT ": index-type must be int32 "
            "or int64", caps), (NULL));
    return FALSE;
  }
no_matrix:
  {
    SM_ELEMENT_ERROR_FROM_GERROR (self, RESOURCE, NOT_FOUND, err, NULL);
    g_clear_error (&err);
    return FALSE;
  }
refused:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream refused the rows' caps %" GST_PTR_FORMAT, outcaps),
        (NULL));
    gst_caps_unref (outcaps);
    return FALSE;
  }
}

static gboolean
gst_matrix_lookup_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (parent);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gboolean ok;

    gst_event_parse_caps (event, &caps);
    ok = set_sink_caps (self, caps);
    /* the output caps went out in set_sink_caps () */
    gst_event_unref (event);
    return ok;
  }
  return gst_pad_event_default (pad, parent, event);
}

/* The update caps of the rows for the matrix these settings name (all of
 * them when there is none yet). */
static GstCaps *
matrix_update_caps (GstMatrixLookup * self)
{
  GstCaps *caps = gst_static_pad_template_get_caps (&src_template);
  GstSharedMatrix *matrix;
  Settings settings;

  GST_OBJECT_LOCK (self);
  settings_copy (&settings, &self->settings);
  GST_OBJECT_UNLOCK (self);
  matrix = find_matrix (NULL, &settings, NULL);
  settings_clear (&settings);
  if (matrix) {
    caps = gst_caps_make_writable (caps);
    gst_caps_set_simple (caps, "dtype", G_TYPE_STRING,
        gst_shared_matrix_dtype_to_string (gst_shared_matrix_get_dtype
            (matrix)), "cols", G_TYPE_INT,
        (gint) gst_shared_matrix_get_cols (matrix), NULL);
    gst_object_unref (matrix);
  }
  return caps;
}

/* Request caps: the index types downstream takes rows with. */
static GstCaps *
sink_caps (GstMatrixLookup * self, GstCaps * filter)
{
  GstCaps *rows = matrix_update_caps (self), *peer, *caps;
  guint i;

  peer = gst_pad_peer_query_caps (self->srcpad, rows);
  gst_caps_unref (rows);
  caps = gst_caps_new_empty ();
  for (i = 0; i < gst_caps_get_size (peer); i++) {
    const GValue *v = gst_structure_get_value (gst_caps_get_structure (peer,
            i), "index-type");
    GstStructure *s =
        gst_structure_new_empty (GST_SHARED_MATRIX_IDS_MEDIA_TYPE);

    if (v)
      gst_structure_set_value (s, "index-type", v);
    caps = gst_caps_merge_structure (caps, s);
  }
  gst_caps_unref (peer);
  rows = gst_static_pad_template_get_caps (&sink_template);
  peer = gst_caps_intersect (caps, rows);
  gst_caps_unref (caps);
  gst_caps_unref (rows);
  return sm_caps_filter (peer, filter);
}

static gboolean
gst_matrix_lookup_sink_query (GstPad * pad, GstObject * parent,
    GstQuery * query)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    GstCaps *filter, *caps;

    gst_query_parse_caps (query, &filter);
    caps = sink_caps (self, filter);
    gst_query_set_caps_result (query, caps);
    gst_caps_unref (caps);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

static gboolean
gst_matrix_lookup_src_query (GstPad * pad, GstObject * parent,
    GstQuery * query)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    GstCaps *filter, *caps;

    /* once negotiated, the current caps: the pad has fixed caps */
    caps = gst_pad_get_current_caps (pad);
    if (caps == NULL)
      caps = matrix_update_caps (self);
    gst_query_parse_caps (query, &filter);
    caps = sm_caps_filter (caps, filter);
    gst_query_set_caps_result (query, caps);
    gst_caps_unref (caps);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

/* ---- state --------------------------------------------------------------- */

/* READY -> PAUSED: the settings copied once; the matrix found now if it
 * exists (else at the first caps). FALSE when no matrix is set, named or
 * given by a context. */
static gboolean
start (GstMatrixLookup * self)
{
  State *st = &self->state;
  GError *err = NULL;

  GST_OBJECT_LOCK (self);
  settings_copy (&st->settings, &self->settings);
  GST_OBJECT_UNLOCK (self);
  st->have_caps = FALSE;
  gst_shared_matrix_ids_info_init (&st->ids);
  gst_shared_matrix_update_info_init (&st->out);
  if (!ensure_matrix (self, &err)) {
    /* with no name, nothing can register the matrix later */
    if (st->settings.matrix_name == NULL)
      goto nothing_named;
    GST_INFO_OBJECT (self, "no matrix yet, looking again at the first "
        "caps: %s", err->message);
    g_clear_error (&err);
  }
  return TRUE;

  /* ERRORS */
nothing_named:
  {
    SM_ELEMENT_ERROR_FROM_GERROR (self, RESOURCE, SETTINGS, err, NULL);
    g_clear_error (&err);
    settings_clear (&st->settings);
    return FALSE;
  }
}

static void
stop (GstMatrixLookup * self)
{
  State *st = &self->state;

  gst_clear_object (&st->matrix);
  settings_clear (&st->settings);
  st->have_caps = FALSE;
  GST_OBJECT_LOCK (self);
  gst_clear_object (&self->matrix);
  GST_OBJECT_UNLOCK (self);
}

static GstStateChangeReturn
gst_matrix_lookup_change_state (GstElement * element,
    GstStateChange transition)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!start (self))
        return GST_STATE_CHANGE_FAILURE;
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

static void
gst_matrix_lookup_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (object);

  GST_OBJECT_LOCK (self);
  if (GST_STATE (self) > GST_STATE_READY ||
      GST_STATE_PENDING (self) > GST_STATE_READY) {
    GST_OBJECT_UNLOCK (self);
    g_warning ("%s: property '%s' can only be changed in the NULL or READY "
        "state", GST_OBJECT_NAME (self), pspec->name);
    return;
  }
  switch (prop_id) {
    case PROP_MATRIX:
      gst_object_replace ((GstObject **) & self->settings.matrix,
          g_value_get_object (value));
      break;
    case PROP_MATRIX_NAME:
      g_free (self->settings.matrix_name);
      self->settings.matrix_name = g_value_dup_string (value);
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
gst_matrix_lookup_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MATRIX:
      g_value_set_object (value, self->matrix ? self->matrix :
          self->settings.matrix);
      break;
    case PROP_MATRIX_NAME:
      g_value_set_string (value, self->settings.matrix_name);
      break;
    case PROP_INVALID_INDEX:
      g_value_set_enum (value, self->settings.invalid_index);
      break;
    case PROP_REQUESTS:
      g_value_set_uint64 (value, self->stats.requests);
      break;
    case PROP_ROWS_READ:
      g_value_set_uint64 (value, self->stats.rows_read);
      break;
    case PROP_ROWS_ZEROED:
      g_value_set_uint64 (value, self->stats.rows_zeroed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_matrix_lookup_finalize (GObject * object)
{
  GstMatrixLookup *self = GST_MATRIX_LOOKUP (object);

  stop (self);
  settings_clear (&self->settings);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_matrix_lookup_class_init (GstMatrixLookupClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_matrix_lookup_set_property;
  gobject_class->get_property = gst_matrix_lookup_get_property;
  gobject_class->finalize = gst_matrix_lookup_finalize;
  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_matrix_lookup_change_state);

  g_object_class_install_property (gobject_class, PROP_MATRIX,
      g_param_spec_object ("matrix", "Matrix",
          "The GstSharedMatrix to read (takes precedence over matrix-name); "
          "read it to get the matrix in use", GST_TYPE_SHARED_MATRIX, rw));
  g_object_class_install_property (gobject_class, PROP_MATRIX_NAME,
      g_param_spec_string ("matrix-name", "Matrix name",
          "Process-wide name of the matrix to read, as a sharedmatrix "
          "element's matrix-name: it must exist by the first request (a "
          "lookup never creates a matrix)", DEFAULT_PROP_MATRIX_NAME, rw));
  g_object_class_install_property (gobject_class, PROP_INVALID_INDEX,
      g_param_spec_enum ("invalid-index", "Invalid index policy",
          "What to do with a row id < 0 or >= rows: error stops the stream, "
          "zero returns a row of zeros and counts it in rows-zeroed",
          GST_TYPE_SHARED_MATRIX_GATHER_INVALID_INDEX_POLICY,
          DEFAULT_PROP_INVALID_INDEX, rw));
  g_object_class_install_property (gobject_class, PROP_REQUESTS,
      g_param_spec_uint64 ("requests", "Requests",
          "Request buffers answered", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_ROWS_READ,
      g_param_spec_uint64 ("rows-read", "Rows read",
          "Rows read from the matrix (valid ids, duplicates counted)", 0,
          G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_ROWS_ZEROED,
      g_param_spec_uint64 ("rows-zeroed", "Rows zeroed",
          "Invalid ids answered with a row of zeros (invalid-index=zero)", 0,
          G_MAXUINT64, 0, ro));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Matrix lookup", "Filter/Matrix",
      "Reads the rows of a shared matrix for a stream of row-id requests, "
      "each as one consistent read", "gst-sharedmatrix developers");

  gst_type_mark_as_plugin_api (GST_TYPE_SHARED_MATRIX_GATHER_INVALID_INDEX_POLICY,
      0);
}

static void
gst_matrix_lookup_init (GstMatrixLookup * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_matrix_lookup_chain));
  gst_pad_set_chain_list_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_matrix_lookup_chain_list));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_matrix_lookup_sink_event));
  gst_pad_set_query_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_matrix_lookup_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_matrix_lookup_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->settings.invalid_index = DEFAULT_PROP_INVALID_INDEX;
}
