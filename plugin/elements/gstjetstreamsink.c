/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-jetstreamsink
 * @title: jetstreamsink
 * @see_also: jetstreamsrc, sharedmatrix, updatepartition
 *
 * jetstreamsink publishes each buffer as one message to a NATS JetStream
 * stream (a replicated, persistent log), so that update streams and replica
 * feeds reach other processes and hosts. `jetstreamsrc` on the other side
 * gives back the same buffers with the same caps and metadata, like
 * `gdppay` / `gdpdepay`.
 *
 * Each message holds the buffer's bytes and these headers:
 * `Gst-Caps` (the caps as a string, always), `Gst-Offset`,
 * `Gst-Offset-End`, `Gst-Pts`, `Gst-Duration` (decimal, when the buffer has
 * them) and, when the buffer has an OFFSET, `Nats-Msg-Id: <subject>:<offset>`:
 * a producer that restarts from an earlier OFFSET after a crash publishes
 * the same ids again and JetStream drops the copies it already holds, as
 * long as they come within the stream's duplicate window
 * (#GstJetStreamSink:duplicate-window, set when this element creates the
 * stream). Buffers without an OFFSET are published without an id and
 * cannot be deduplicated.
 *
 * When #GstJetStreamSink:stream does not exist the element creates it:
 * subjects `<stream>.>`, file storage, #GstJetStreamSink:replicas copies,
 * limits retention (nothing is deleted on acknowledgement).
 *
 * With #GstJetStreamSink:max-pending = 0 (the default) every publish waits
 * for the stream's acknowledgement: when render returns, the message is
 * stored (on a majority of the replicas). With max-pending = N > 0 up to N
 * messages are in flight unacknowledged (much faster on a network); EOS is
 * only passed on, and the element only stops, once every one of them is
 * acknowledged, and a message the stream refused is an error at the next
 * buffer or at EOS. Either way a publish that fails because the server went
 * away is retried (same message id, so never stored twice) while the client
 * reconnects to another server of the cluster, for up to 30 s.
 *
 * TLS and authentication: #GstJetStreamSink:tls-ca-file (CAs of the servers'
 * certificates; TLS then required, as with a `tls://` URL),
 * #GstJetStreamSink:tls-cert-file and #GstJetStreamSink:tls-key-file (a client
 * certificate), #GstJetStreamSink:creds-file (a NATS credentials file), or
 * `nats://user:password@host:port` / `nats://token@host:port` in
 * #GstJetStreamSink:server (docs/scale-out.md, "TLS and credentials").
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=1000 ! jetstreamsink server=nats://127.0.0.1:4222 stream=UPDATES subject=UPDATES.all replicas=3
 * ]| Publishes 1000 updates to the stream UPDATES, creating it with three
 * replicas if it does not exist.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstjetstreamsink.h"
#include "jetstream-common.h"

GST_DEBUG_CATEGORY_STATIC (gst_jetstream_sink_debug);
#define GST_CAT_DEFAULT gst_jetstream_sink_debug

#define DEFAULT_PROP_REPLICAS 1
#define DEFAULT_PROP_DUPLICATE_WINDOW (120 * GST_SECOND)
#define DEFAULT_PROP_MAX_PENDING 0

/* a JetStream cluster keeps at most 5 replicas of a stream */
#define MAX_REPLICAS 5
#define MAX_MAX_PENDING 65536

enum
{
  /* server, stream, subject: SmJsEndpoint's */
  PROP_REPLICAS = SM_JS_PROP_LAST,
  PROP_DUPLICATE_WINDOW,
  PROP_MAX_PENDING,
};

typedef struct
{
  SmJsEndpoint ep;
  guint replicas;
  guint64 duplicate_window;
  guint max_pending;
} Settings;

typedef struct
{
  Settings settings;            /* copy taken at start */
  natsConnection *nc;
  jsCtx *js;
  gchar *caps_str;              /* the negotiated caps, for Gst-Caps */
  guint64 published;
  guint64 duplicates;
} State;

struct _GstJetStreamSink
{
  GstBaseSink parent;

  /* properties, under the object lock */
  Settings settings;

  /* the streaming thread's, set up in start () */
  State state;

  /* set by unlock (): a retry loop gives up */
  gint unlocked;

  /* asynchronous publishing: the first failure the ack handler saw (under
   * the object lock) */
  gchar *async_error;
  gint64 async_retry_since;     /* monotonic µs of the first retry, 0 */
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

#define gst_jetstream_sink_parent_class parent_class
G_DEFINE_TYPE (GstJetStreamSink, gst_jetstream_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (jetstreamsink, "jetstreamsink", GST_RANK_NONE,
    GST_TYPE_JETSTREAM_SINK);

static void
settings_clear (Settings * s)
{
  sm_js_endpoint_clear (&s->ep);
}

static void
settings_copy (Settings * dest, const Settings * src)
{
  *dest = *src;
  sm_js_endpoint_copy (&dest->ep, &src->ep);
}

/* ---- the stream ----------------------------------------------------------- */

/* Finds the stream, or creates it: subjects "<stream>.>", file storage,
 * the configured replicas and duplicate window. */
static gboolean
ensure_stream (GstJetStreamSink * self)
{
  State *st = &self->state;
  const Settings *s = &st->settings;
  jsStreamInfo *si = NULL;
  jsStreamConfig cfg;
  jsErrCode jerr = 0;
  gchar *subjects_pattern;
  const char *subjects[1];
  natsStatus status;

  status = js_GetStreamInfo (&si, st->js, s->ep.stream, NULL, &jerr);
  if (status == NATS_OK) {
    GST_INFO_OBJECT (self, "stream %s exists, %" G_GINT64_FORMAT
        " replicas", s->ep.stream, si->Config ? si->Config->Replicas : 0);
    jsStreamInfo_Destroy (si);
    return TRUE;
  }
  if (status != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
    goto lookup_failed;

  subjects_pattern = g_strdup_printf ("%s.>", s->ep.stream);
  subjects[0] = subjects_pattern;
  jsStreamConfig_Init (&cfg);
  cfg.Name = s->ep.stream;
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.Replicas = s->replicas;
  cfg.Duplicates = (int64_t) s->duplicate_window;
  jerr = 0;
  status = js_AddStream (&si, st->js, &cfg, NULL, &jerr);
  g_free (subjects_pattern);
  if (status != NATS_OK && jerr != JSStreamNameExistErr)
    goto create_failed;
  GST_INFO_OBJECT (self, "created stream %s with %u replicas", s->ep.stream,
      s->replicas);
  jsStreamInfo_Destroy (si);
  return TRUE;

  /* ERRORS */
lookup_failed:
  {
    SM_JS_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, status, jerr,
        "Cannot look up JetStream stream \"%s\" on %s (is JetStream enabled: "
        "nats-server -js?)", s->ep.stream, s->ep.server_shown);
    return FALSE;
  }
create_failed:
  {
    SM_JS_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, status, jerr,
        "Cannot create JetStream stream \"%s\" (subjects \"%s.>\", file "
        "storage, replicas=%u) on %s; replicas must not exceed the number of "
        "JetStream servers in the cluster", s->ep.stream, s->ep.stream,
        s->replicas, s->ep.server_shown);
    return FALSE;
  }
}

/* ---- asynchronous acknowledgements ---------------------------------------- */

/* On the client's thread: a message the stream refused is retried while
 * the failure is one a reconnection cures (same Nats-Msg-Id: stored at
 * most once), for up to SM_JS_OUTAGE_TIMEOUT_S; anything else is kept for
 * the streaming thread to report. */
static void
on_publish_ack (jsCtx * js, natsMsg * msg, jsPubAck * pa, jsPubAckErr * pae,
    void *closure)
{
  GstJetStreamSink *self = closure;

  if (pae != NULL) {
    gint64 now = g_get_monotonic_time ();
    gboolean retry = FALSE;

    GST_OBJECT_LOCK (self);
    if (sm_js_status_is_transient (pae->Err) && self->async_error == NULL &&
        !g_atomic_int_get (&self->unlocked)) {
      if (self->async_retry_since == 0)
        self->async_retry_since = now;
      retry = now - self->async_retry_since <
          (gint64) SM_JS_OUTAGE_TIMEOUT_S * G_USEC_PER_SEC;
    }
    if (!retry && self->async_error == NULL) {
      gchar *text = sm_js_status_text (pae->Err, pae->ErrCode);

      self->async_error = g_strdup_printf ("%s%s%s", text,
          pae->ErrText ? ": " : "", pae->ErrText ? pae->ErrText : "");
      g_free (text);
    }
    GST_OBJECT_UNLOCK (self);
    if (retry) {
      GST_DEBUG_OBJECT (self, "publish failed (%s), retrying",
          natsStatus_GetText (pae->Err));
      if (js_PublishMsgAsync (js, &msg, NULL) != NATS_OK)
        GST_WARNING_OBJECT (self, "could not resend a message");
    }
  } else if (pa != NULL) {
    GST_OBJECT_LOCK (self);
    self->async_retry_since = 0;
    GST_OBJECT_UNLOCK (self);
  }
  natsMsg_Destroy (msg);
}

/* Waits until every asynchronous publish is acknowledged; posts an error
 * when one failed. */
static gboolean
wait_published (GstJetStreamSink * self)
{
  State *st = &self->state;
  jsPubOptions po;
  natsStatus status = NATS_OK;
  gchar *error;

  if (st->js == NULL || st->settings.max_pending == 0)
    return TRUE;
  jsPubOptions_Init (&po);
  po.MaxWait = (gint64) SM_JS_OUTAGE_TIMEOUT_S * 1000;
  status = js_PublishAsyncComplete (st->js, &po);

  GST_OBJECT_LOCK (self);
  error = g_steal_pointer (&self->async_error);
  GST_OBJECT_UNLOCK (self);
  if (error)
    goto refused;
  if (status != NATS_OK)
    goto timeout;
  return TRUE;

  /* ERRORS */
refused:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("JetStream did not store a message published to \"%s\": %s",
            st->settings.ep.subject, error), (NULL));
    g_free (error);
    return FALSE;
  }
timeout:
  {
    SM_JS_ELEMENT_ERROR (self, RESOURCE, WRITE, status, 0,
        "Messages published to \"%s\" were not acknowledged within %d s "
        "(are the servers %s reachable?)", st->settings.ep.subject,
        SM_JS_OUTAGE_TIMEOUT_S, st->settings.ep.server_shown);
    return FALSE;
  }
}

/* ---- GstBaseSink ------------------------------------------------------------ */

static gboolean
gst_jetstream_sink_start (GstBaseSink * bsink)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (bsink);
  State *st = &self->state;
  const Settings *s = &st->settings;
  jsOptions jo;

  GST_OBJECT_LOCK (self);
  settings_copy (&st->settings, &self->settings);
  g_clear_pointer (&self->async_error, g_free);
  self->async_retry_since = 0;
  GST_OBJECT_UNLOCK (self);
  st->published = st->duplicates = 0;

  if (!sm_js_check_names (GST_ELEMENT (self), s->ep.stream, s->ep.subject, FALSE))
    goto failed;

  jsOptions_Init (&jo);
  if (s->max_pending > 0) {
    jo.PublishAsync.MaxPending = s->max_pending;
    jo.PublishAsync.AckHandler = on_publish_ack;
    jo.PublishAsync.AckHandlerClosure = self;
    /* how long a publish waits while max-pending are in flight */
    jo.PublishAsync.StallWait = (gint64) SM_JS_OUTAGE_TIMEOUT_S * 1000;
  }
  if (!sm_js_connect (GST_ELEMENT (self), &s->ep,
          GST_RESOURCE_ERROR_OPEN_WRITE, &jo, &st->nc, &st->js))
    goto failed;
  if (!ensure_stream (self))
    goto failed;
  return TRUE;

  /* ERRORS */
failed:
  {
    sm_js_disconnect (&st->nc, &st->js);
    settings_clear (&st->settings);
    return FALSE;
  }
}

static gboolean
gst_jetstream_sink_stop (GstBaseSink * bsink)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (bsink);
  State *st = &self->state;

  /* after an error or a flush: what is in flight still gets its chance */
  if (st->js && st->settings.max_pending > 0) {
    jsPubOptions po;

    jsPubOptions_Init (&po);
    po.MaxWait = SM_JS_REQUEST_TIMEOUT_MS;
    js_PublishAsyncComplete (st->js, &po);
  }
  GST_INFO_OBJECT (self, "published %" G_GUINT64_FORMAT " messages, %"
      G_GUINT64_FORMAT " dropped by JetStream as duplicates", st->published,
      st->duplicates);
  sm_js_disconnect (&st->nc, &st->js);
  g_clear_pointer (&st->caps_str, g_free);
  settings_clear (&st->settings);
  return TRUE;
}

static gboolean
gst_jetstream_sink_set_caps (GstBaseSink * bsink, GstCaps * caps)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (bsink);

  g_free (self->state.caps_str);
  self->state.caps_str = gst_caps_to_string (caps);
  return TRUE;
}

static gboolean
gst_jetstream_sink_event (GstBaseSink * bsink, GstEvent * event)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (bsink);

  /* EOS means "all stored": wait for the acknowledgements first */
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !wait_published (self)) {
    gst_event_unref (event);
    return FALSE;
  }
  return GST_BASE_SINK_CLASS (parent_class)->event (bsink, event);
}

static gboolean
gst_jetstream_sink_unlock (GstBaseSink * bsink)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (bsink);

  g_atomic_int_set (&self->unlocked, 1);
  return TRUE;
}

static gboolean
gst_jetstream_sink_unlock_stop (GstBaseSink * bsink)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (bsink);

  g_atomic_int_set (&self->unlocked, 0);
  return TRUE;
}

static void
set_header_u64 (natsMsg * msg, const char *name, guint64 value)
{
  gchar text[24];

  g_snprintf (text, sizeof (text), "%" G_GUINT64_FORMAT, value);
  natsMsgHeader_Set (msg, name, text);
}

static GstFlowReturn
gst_jetstream_sink_render (GstBaseSink * bsink, GstBuffer * buf)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (bsink);
  State *st = &self->state;
  const Settings *s = &st->settings;
  natsMsg *msg = NULL;
  jsPubOptions po;
  jsPubAck *pa = NULL;
  jsErrCode jerr = 0;
  gchar *msg_id = NULL, *error = NULL;
  gint64 deadline;
  natsStatus status;
  GstMapInfo map;

  if (s->max_pending > 0) {
    GST_OBJECT_LOCK (self);
    error = g_steal_pointer (&self->async_error);
    GST_OBJECT_UNLOCK (self);
    if (error)
      goto refused;
  }

  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    goto map_failed;
  if (map.size > G_MAXINT)
    goto too_large;
  status = natsMsg_Create (&msg, s->ep.subject, NULL, (const char *) map.data,
      (int) map.size);
  gst_buffer_unmap (buf, &map);
  if (status != NATS_OK)
    goto publish_failed;

  natsMsgHeader_Set (msg, SM_JS_HEADER_CAPS, st->caps_str ? st->caps_str :
      "ANY");
  if (GST_BUFFER_OFFSET_IS_VALID (buf))
    set_header_u64 (msg, SM_JS_HEADER_OFFSET, GST_BUFFER_OFFSET (buf));
  if (GST_BUFFER_OFFSET_END_IS_VALID (buf))
    set_header_u64 (msg, SM_JS_HEADER_OFFSET_END, GST_BUFFER_OFFSET_END (buf));
  if (GST_BUFFER_PTS_IS_VALID (buf))
    set_header_u64 (msg, SM_JS_HEADER_PTS, GST_BUFFER_PTS (buf));
  if (GST_BUFFER_DURATION_IS_VALID (buf))
    set_header_u64 (msg, SM_JS_HEADER_DURATION, GST_BUFFER_DURATION (buf));

  jsPubOptions_Init (&po);
  if (GST_BUFFER_OFFSET_IS_VALID (buf)) {
    msg_id = sm_js_msg_id (s->ep.subject, GST_BUFFER_OFFSET (buf));
    po.MsgId = msg_id;
  }

  if (s->max_pending > 0) {
    /* a message without an answer after this long goes to the ack handler
     * as a timeout, which retries it */
    po.MaxWait = SM_JS_REQUEST_TIMEOUT_MS;
    /* blocks while max-pending are in flight; the client owns msg on OK */
    status = js_PublishMsgAsync (st->js, &msg, &po);
    if (status != NATS_OK)
      goto publish_failed;
    st->published++;
    goto done;
  }

  /* synchronous: stored when this returns; a lost server is retried (the
   * id keeps a retry from being stored twice), after a short wait: an
   * answer lost with a dying stream leader never comes */
  po.MaxWait = SM_JS_PUBLISH_RETRY_MS;
  deadline = g_get_monotonic_time () +
      (gint64) SM_JS_OUTAGE_TIMEOUT_S * G_USEC_PER_SEC;
  for (;;) {
    jerr = 0;
    status = js_PublishMsg (&pa, st->js, msg, &po, &jerr);
    if (status == NATS_OK)
      break;
    if (!sm_js_status_is_transient (status) ||
        g_get_monotonic_time () > deadline)
      goto publish_failed;
    if (g_atomic_int_get (&self->unlocked))
      goto flushing;
    GST_DEBUG_OBJECT (self, "publish failed (%s), retrying",
        natsStatus_GetText (status));
    g_usleep (SM_JS_RECONNECT_WAIT_MS * 1000);
  }
  st->published++;
  if (pa->Duplicate) {
    st->duplicates++;
    GST_DEBUG_OBJECT (self, "%s: already in the stream", msg_id);
  }
  jsPubAck_Destroy (pa);

done:
  natsMsg_Destroy (msg);
  g_free (msg_id);
  return GST_FLOW_OK;

  /* ERRORS */
refused:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("JetStream did not store a message published to \"%s\": %s",
            s->ep.subject, error), (NULL));
    g_free (error);
    return GST_FLOW_ERROR;
  }
map_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Cannot map a buffer"), (NULL));
    return GST_FLOW_ERROR;
  }
too_large:
  {
    gst_buffer_unmap (buf, &map);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("A buffer of %" G_GSIZE_FORMAT " bytes is too large for one NATS "
            "message", map.size), (NULL));
    return GST_FLOW_ERROR;
  }
flushing:
  {
    natsMsg_Destroy (msg);
    g_free (msg_id);
    return GST_FLOW_FLUSHING;
  }
publish_failed:
  {
    SM_JS_ELEMENT_ERROR (self, RESOURCE, WRITE, status, jerr,
        "Cannot publish to subject \"%s\" of stream \"%s\" on %s; the "
        "message must fit the server's max_payload (1 MiB unless "
        "configured) and the stream must take the subject", s->ep.subject,
        s->ep.stream, s->ep.server_shown);
    natsMsg_Destroy (msg);
    g_free (msg_id);
    return GST_FLOW_ERROR;
  }
}

/* ---- GObject ------------------------------------------------------------- */

static void
gst_jetstream_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  if (sm_js_endpoint_set_property (&s->ep, prop_id, value)) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case PROP_REPLICAS:
      s->replicas = g_value_get_uint (value);
      break;
    case PROP_DUPLICATE_WINDOW:
      s->duplicate_window = g_value_get_uint64 (value);
      break;
    case PROP_MAX_PENDING:
      s->max_pending = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_jetstream_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  if (sm_js_endpoint_get_property (&s->ep, prop_id, value)) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case PROP_REPLICAS:
      g_value_set_uint (value, s->replicas);
      break;
    case PROP_DUPLICATE_WINDOW:
      g_value_set_uint64 (value, s->duplicate_window);
      break;
    case PROP_MAX_PENDING:
      g_value_set_uint (value, s->max_pending);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_jetstream_sink_finalize (GObject * object)
{
  GstJetStreamSink *self = GST_JETSTREAM_SINK (object);

  settings_clear (&self->settings);
  settings_clear (&self->state.settings);
  g_free (self->state.caps_str);
  g_free (self->async_error);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_jetstream_sink_class_init (GstJetStreamSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_jetstream_sink_debug, "jetstreamsink", 0,
      "NATS JetStream sink");

  gobject_class->set_property = gst_jetstream_sink_set_property;
  gobject_class->get_property = gst_jetstream_sink_get_property;
  gobject_class->finalize = gst_jetstream_sink_finalize;

  sm_js_endpoint_install_properties (gobject_class,
      "JetStream stream name (created with subjects \"<stream>.>\" when "
          "it does not exist)",
      "Subject the messages are published to: \"<stream>.<name>\"");
  g_object_class_install_property (gobject_class, PROP_REPLICAS,
      g_param_spec_uint ("replicas", "Replicas",
          "Copies of the stream kept by the cluster when this element "
          "creates it (at most the number of JetStream servers)",
          1, MAX_REPLICAS, DEFAULT_PROP_REPLICAS, flags));
  g_object_class_install_property (gobject_class, PROP_DUPLICATE_WINDOW,
      g_param_spec_uint64 ("duplicate-window", "Duplicate window",
          "Time (ns) within which JetStream drops a message whose "
          "Nats-Msg-Id (<subject>:<offset>) it already stored, when this "
          "element creates the stream: a producer replaying after a crash "
          "must restart within it", GST_SECOND, G_MAXINT64,
          DEFAULT_PROP_DUPLICATE_WINDOW, flags));
  g_object_class_install_property (gobject_class, PROP_MAX_PENDING,
      g_param_spec_uint ("max-pending", "Max pending",
          "Messages in flight without the stream's acknowledgement (0 = "
          "wait for each one: stored when the buffer is rendered); EOS waits "
          "for all of them either way", 0, MAX_MAX_PENDING,
          DEFAULT_PROP_MAX_PENDING, flags));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "NATS JetStream sink", "Sink/Network",
      "Publishes each buffer, with its caps, offsets and timestamps, as one "
      "message to a NATS JetStream stream", "gst-sharedmatrix developers");

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_jetstream_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_jetstream_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_jetstream_sink_set_caps);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_jetstream_sink_event);
  basesink_class->unlock = GST_DEBUG_FUNCPTR (gst_jetstream_sink_unlock);
  basesink_class->unlock_stop =
      GST_DEBUG_FUNCPTR (gst_jetstream_sink_unlock_stop);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_jetstream_sink_render);
}

static void
gst_jetstream_sink_init (GstJetStreamSink * self)
{
  Settings *s = &self->settings;

  sm_js_endpoint_init (&s->ep);
  s->replicas = DEFAULT_PROP_REPLICAS;
  s->duplicate_window = DEFAULT_PROP_DUPLICATE_WINDOW;
  s->max_pending = DEFAULT_PROP_MAX_PENDING;

  /* a network sink: publish as fast as buffers come */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}
