/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-jetstreamsrc
 * @title: jetstreamsrc
 * @see_also: jetstreamsink, sharedmatrix
 *
 * jetstreamsrc reads the messages `jetstreamsink` published to a NATS
 * JetStream stream, through a durable pull consumer
 * (#GstJetStreamSrc:durable), and pushes them as buffers with the caps,
 * OFFSET, OFFSET_END, PTS and DURATION the producer's buffers had (from the
 * `Gst-*` headers; caps are renegotiated when they change). A message
 * without a `Gst-Caps` header was not written by jetstreamsink: that is an
 * error naming its stream sequence.
 *
 * ## Acknowledgements: exactly once with sharedmatrix
 *
 * The stream sequence of each message stays inside this element. A message
 * is acknowledged to JetStream only once the downstream `sharedmatrix` says
 * that its OFFSET is durable (sharedmatrix sends these only to an upstream
 * element that answers its `sharedmatrix-durable` custom query, as this one
 * does), with the upstream custom event
 * `sharedmatrix-durable, offset=(guint64)N`: sent after a checkpoint holding
 * last-offset N is on disk (with checkpoint-location), or after buffer N is
 * applied (without). The element then acknowledges (AckAll) the last
 * message with OFFSET <= N, which acknowledges every earlier one. OFFSETs
 * of one subject must increase (one producer per subject).
 *
 * On start the element (re)creates its durable consumer so that it
 * delivers everything after the consumer's acknowledgement floor at once
 * (instead of after the ack wait): messages that were delivered to a
 * process that crashed before its checkpoint come again, and the restored
 * checkpoint's last-offset makes `sharedmatrix` skip those it holds. Within
 * one run nothing is pushed twice: a redelivered message (stream sequence
 * at or below the last one pushed) is dropped. A delivery lost on the way
 * (a server died while sending) shows as a gap in the consumer's delivery
 * sequence, or as a fetch that comes back empty while the last message said
 * more were pending: the consumer is then recreated from the
 * acknowledgement floor, the copies of what was pushed already are dropped,
 * and streaming goes on in order.
 *
 * Messages come through pull requests of up to 64 messages (8 MiB), two of
 * them outstanding at any time: the next batch is on its way while this
 * one is pushed downstream, and no round trip is waited for per batch.
 *
 * Up to #GstJetStreamSrc:max-ack-pending messages wait unacknowledged: the
 * server stops delivering beyond that. Keep sharedmatrix's
 * checkpoint-every well below it (the element warns when it stalls).
 *
 * A server of the cluster going away is survived (the client reconnects to
 * the others and the fetch is retried); no server answering for 30 s, an
 * unreachable server list at start (2 s per server), a missing stream or
 * a foreign message are errors, never a hang.
 *
 * TLS and authentication: #GstJetStreamSrc:tls-ca-file (CAs of the servers'
 * certificates; TLS then required, as with a `tls://` URL),
 * #GstJetStreamSrc:tls-cert-file and #GstJetStreamSrc:tls-key-file (a client
 * certificate), #GstJetStreamSrc:creds-file (a NATS credentials file), or
 * `nats://user:password@host:port` / `nats://token@host:port` in
 * #GstJetStreamSrc:server (docs/scale-out.md, "TLS and credentials").
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 jetstreamsrc server=nats://127.0.0.1:4222 stream=UPDATES subject=UPDATES.part.0 durable=shard0 idle-timeout=5000000000 ! sharedmatrix rows=35000 cols=100 checkpoint-location=shard0.npy checkpoint-every=100 ! fakesink
 * ]| A shard: applies partition 0 of the update stream to its matrix,
 * checkpointing every 100 updates; a restart resumes from the checkpoint.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "gstjetstreamsrc.h"
#include "jetstream-common.h"
#include "sharedmatrix-durable.h"

GST_DEBUG_CATEGORY_STATIC (gst_jetstream_src_debug);
#define GST_CAT_DEFAULT gst_jetstream_src_debug

#define DEFAULT_PROP_DURABLE NULL
#define DEFAULT_PROP_IDLE_TIMEOUT 0
#define DEFAULT_PROP_MAX_ACK_PENDING 20000
#define DEFAULT_PROP_ACK_WAIT (30 * 60 * GST_SECOND)

/* Pull requests: each asks for up to PULL_BATCH messages (at most
 * PULL_MAX_BYTES of them), and PULL_DEPTH of them are outstanding at any
 * time, so that the next batch is on its way while this one is pushed
 * downstream. The server ends a request after PULL_EXPIRES_MS; one neither
 * filled nor ended PULL_LOST_MS later went with a server that died. */
#define PULL_BATCH 64
#define PULL_DEPTH 2
#define PULL_MAX_BYTES (8 * 1024 * 1024)
#define PULL_EXPIRES_MS 1000
#define PULL_LOST_MS 1000
/* one acknowledgement for this many durable messages, or for those there
 * are when the last acknowledgement is this old */
#define ACK_EVERY 32
#define ACK_INTERVAL_US (20 * 1000)
/* a wait for the next message lasts at most this long, so that unlock ()
 * is answered soon */
#define WAIT_MS 100
/* empty fetches after a delivery that said more were pending, for this
 * long, mean a lost delivery: one empty fetch alone may be a busy server
 * (a reset then would cost a consumer re-creation for nothing) */
#define LOST_DELIVERY_WAIT_US (1000 * 1000)

enum
{
  /* server, stream, subject: SmJsEndpoint's */
  PROP_DURABLE = SM_JS_PROP_LAST,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_ACK_PENDING,
  PROP_ACK_WAIT,
};

typedef struct
{
  SmJsEndpoint ep;
  gchar *durable;
  guint64 idle_timeout;
  guint max_ack_pending;
  guint64 ack_wait;
} Settings;

/* A message pushed and not yet acknowledged. */
typedef struct
{
  guint64 sseq;                 /* stream sequence */
  guint64 offset;               /* its OFFSET, 0 when it had none */
  gchar *reply;                 /* ack subject; NULL until redelivered after a
                                 * consumer reset */
} Pending;

/* A pull request the server has not ended yet. */
typedef struct
{
  guint64 id;                   /* its reply subject is "<inbox>.<id>" */
  gint left;                    /* messages still to come */
  gint64 deadline;              /* monotonic µs: lost when not ended by then */
} PullRequest;

typedef struct
{
  Settings settings;            /* copy taken at start */
  gchar *filter;                /* subject, or "<stream>.>" */
  gchar *next_subject;          /* the consumer's MSG.NEXT API subject */
  natsConnection *nc;
  jsCtx *js;
  /* the deliveries: a plain subscription on "<inbox>.*", one reply subject
   * per pull request (libnats 3.4's natsSubscription_Fetch () writes past
   * its message array when deliveries of an earlier request are still
   * coming in: it is not used) */
  natsSubscription *sub;
  gchar *inbox;
  PullRequest reqs[PULL_DEPTH];
  guint n_reqs;
  guint64 last_req_id;
  gint max_bytes;
  gboolean need_reset;          /* the consumer must be made again */
  guint64 last_cseq;            /* consumer sequence of the last delivery */
  guint64 last_pushed_sseq;
  guint64 last_num_pending;     /* the last delivery's count of those after */
  gint64 starved_since;         /* monotonic µs of the first empty fetch
                                 * after a delivery that said more were
                                 * pending, 0 = none */
  GSList *old_subs;             /* replaced subscriptions, destroyed in stop ()
                                 * once the connection is closed */
  gchar *caps_str;
  gint64 idle_since;            /* monotonic µs */
  gint64 outage_since;          /* monotonic µs, 0 = connected */
  gboolean warned_stall;
  guint64 pushed, redeliveries_dropped, resets;
} State;

struct _GstJetStreamSrc
{
  GstPushSrc parent;

  /* properties, under the object lock */
  Settings settings;

  /* the streaming thread's, set up in start () */
  State state;

  /* shared with the threads that send sharedmatrix-durable events; the
   * leaf lock (nothing else is taken while holding it except the NATS
   * connection's own) */
  GMutex ack_lock;
  GQueue pending;               /* of Pending, in stream order */
  guint64 durable_offset;       /* highest OFFSET said durable */
  gboolean have_durable;
  gint64 last_ack_time;         /* monotonic µs */
  natsConnection *ack_nc;       /* = state.nc while started */

  gint unlocked;
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

#define gst_jetstream_src_parent_class parent_class
G_DEFINE_TYPE (GstJetStreamSrc, gst_jetstream_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (jetstreamsrc, "jetstreamsrc", GST_RANK_NONE,
    GST_TYPE_JETSTREAM_SRC);

static void
settings_clear (Settings * s)
{
  sm_js_endpoint_clear (&s->ep);
  g_clear_pointer (&s->durable, g_free);
}

static void
settings_copy (Settings * dest, const Settings * src)
{
  *dest = *src;
  sm_js_endpoint_copy (&dest->ep, &src->ep);
  dest->durable = g_strdup (src->durable);
}

static void
pending_free (Pending * p)
{
  g_free (p->reply);
  g_free (p);
}

/* ---- acknowledgements (any thread) ---------------------------------------- */

/* With ack_lock held: acknowledges the longest run of pending messages
 * whose OFFSET is durable, by one AckAll on the last of them. Stops at a
 * message whose ack subject is not known yet (after a reset, until its
 * copy comes back). */
static void
try_ack_locked (GstJetStreamSrc * self, gboolean force)
{
  Pending *p, *last = NULL;
  GList *l;
  guint n = 0;
  gint64 now;
  natsStatus status;

  if (!self->have_durable || self->ack_nc == NULL)
    return;
  for (l = self->pending.head; l; l = l->next) {
    p = l->data;
    if (p->offset > self->durable_offset || p->reply == NULL)
      break;
    n++;
  }
  if (n == 0)
    return;
  /* an acknowledgement of an R3 consumer is a replicated write on the
   * servers: one AckAll for every ACK_EVERY messages, or when the last
   * was sent ACK_INTERVAL_US ago (create () comes by often), not one each;
   * stop () and a consumer reset send what is left */
  now = g_get_monotonic_time ();
  if (!force && n < ACK_EVERY && now - self->last_ack_time < ACK_INTERVAL_US)
    return;
  while (n-- > 0) {
    if (last)
      pending_free (last);
    last = g_queue_pop_head (&self->pending);
  }
  self->last_ack_time = now;
  status = natsConnection_PublishString (self->ack_nc, last->reply, "+ACK");
  if (status != NATS_OK)
    GST_WARNING_OBJECT (self, "could not acknowledge through stream sequence "
        "%" G_GUINT64_FORMAT " (%s): it will be delivered again after a "
        "restart, and skipped by the checkpoint", last->sseq,
        natsStatus_GetText (status));
  else
    GST_LOG_OBJECT (self, "acknowledged through stream sequence %"
        G_GUINT64_FORMAT " (offset %" G_GUINT64_FORMAT ")", last->sseq,
        last->offset);
  pending_free (last);
}

/* Acknowledges what is durable and waits for an acknowledgement's turn. */
static void
try_ack (GstJetStreamSrc * self, gboolean force)
{
  g_mutex_lock (&self->ack_lock);
  try_ack_locked (self, force);
  g_mutex_unlock (&self->ack_lock);
}

static void
on_durable (GstJetStreamSrc * self, guint64 offset)
{
  g_mutex_lock (&self->ack_lock);
  if (!self->have_durable || offset > self->durable_offset) {
    self->durable_offset = offset;
    self->have_durable = TRUE;
  }
  try_ack_locked (self, FALSE);
  g_mutex_unlock (&self->ack_lock);
}

static gboolean
gst_jetstream_src_event (GstBaseSrc * bsrc, GstEvent * event)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (bsrc);
  guint64 offset;

  if (sm_durable_event_parse (event, &offset)) {
    GST_LOG_OBJECT (self, "offset %" G_GUINT64_FORMAT " durable downstream",
        offset);
    on_durable (self, offset);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->event (bsrc, event);
}

/* sharedmatrix asks whether anyone upstream wants its sharedmatrix-durable
 * events (it sends them only then): we do, they drive the acks. */
static gboolean
gst_jetstream_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  if (sm_durable_query_is (query))
    return TRUE;
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

/* ---- the consumer ---------------------------------------------------------- */

/* Closes the connection (which joins libnats's reader thread), then
 * destroys the subscriptions: nothing can deliver to them any more. */
static void
disconnect (State * st)
{
  if (st->sub) {
    st->old_subs = g_slist_prepend (st->old_subs, st->sub);
    st->sub = NULL;
  }
  sm_js_disconnect (&st->nc, &st->js);
  g_slist_free_full (st->old_subs, (GDestroyNotify) natsSubscription_Destroy);
  st->old_subs = NULL;
}

/* (Re)creates the durable consumer so that it delivers from stream
 * sequence @from (0: the whole stream) and subscribes to it. */
static natsStatus
consumer_create (GstJetStreamSrc * self, guint64 from, jsErrCode * jerr)
{
  State *st = &self->state;
  const Settings *s = &st->settings;
  jsConsumerConfig cfg;
  jsConsumerInfo *ci = NULL;
  natsInbox *inbox = NULL;
  gchar *wildcard;
  natsStatus status;

  st->need_reset = TRUE;
  st->n_reqs = 0;
  if (st->sub) {
    /* what the old consumer still sends (its sequences start over) must
     * not mix with the new one's: a new inbox. Destroyed only once the
     * connection is closed: libnats 3.4/3.5 may still be handing an
     * in-flight delivery to it on its reader thread (nats.c #637) */
    natsSubscription_Unsubscribe (st->sub);
    st->old_subs = g_slist_prepend (st->old_subs, st->sub);
    st->sub = NULL;
  }
  g_clear_pointer (&st->inbox, g_free);

  *jerr = 0;
  status = js_DeleteConsumer (st->js, s->ep.stream, s->durable, NULL, jerr);
  if (status != NATS_OK && status != NATS_NOT_FOUND &&
      *jerr != JSConsumerNotFoundErr)
    return status;

  jsConsumerConfig_Init (&cfg);
  cfg.Durable = s->durable;
  cfg.FilterSubject = st->filter;
  cfg.AckPolicy = js_AckAll;
  cfg.AckWait = (int64_t) s->ack_wait;
  cfg.MaxAckPending = s->max_ack_pending;
  cfg.MaxDeliver = -1;
  if (from > 1) {
    cfg.DeliverPolicy = js_DeliverByStartSequence;
    cfg.OptStartSeq = from;
  } else {
    cfg.DeliverPolicy = js_DeliverAll;
  }
  *jerr = 0;
  status = js_AddConsumer (&ci, st->js, s->ep.stream, &cfg, NULL, jerr);
  if (status != NATS_OK)
    return status;
  jsConsumerInfo_Destroy (ci);

  status = natsInbox_Create (&inbox);
  if (status != NATS_OK)
    return status;
  st->inbox = g_strdup (inbox);
  natsInbox_Destroy (inbox);
  wildcard = g_strdup_printf ("%s.*", st->inbox);
  status = natsConnection_SubscribeSync (&st->sub, st->nc, wildcard);
  g_free (wildcard);
  if (status != NATS_OK)
    return status;

  st->need_reset = FALSE;
  st->last_cseq = 0;
  st->last_num_pending = 0;
  GST_INFO_OBJECT (self, "consumer %s on %s delivers from stream sequence %"
      G_GUINT64_FORMAT, s->durable, st->filter, from ? from : 1);
  return NATS_OK;
}

/* Asks the consumer for the next batch, on a reply subject of its own. */
static natsStatus
pull_request (GstJetStreamSrc * self, gint64 now)
{
  State *st = &self->state;
  PullRequest *req = &st->reqs[st->n_reqs];
  gchar *reply, *body;
  natsStatus status;

  req->id = ++st->last_req_id;
  req->left = PULL_BATCH;
  req->deadline = now + (PULL_EXPIRES_MS + PULL_LOST_MS) * 1000;
  reply = g_strdup_printf ("%s.%" G_GUINT64_FORMAT, st->inbox, req->id);
  body = g_strdup_printf ("{\"batch\":%d,\"max_bytes\":%d,\"expires\":%"
      G_GINT64_FORMAT "}", PULL_BATCH, st->max_bytes,
      (gint64) PULL_EXPIRES_MS * 1000000);
  status = natsConnection_PublishRequestString (st->nc, st->next_subject,
      reply, body);
  g_free (body);
  g_free (reply);
  if (status == NATS_OK)
    st->n_reqs++;
  GST_LOG_OBJECT (self, "pull request %" G_GUINT64_FORMAT ": %s", req->id,
      natsStatus_GetText (status));
  return status;
}

static void
pull_request_remove (State * st, guint i)
{
  st->n_reqs--;
  memmove (&st->reqs[i], &st->reqs[i + 1],
      (st->n_reqs - i) * sizeof (PullRequest));
}

/* Forgets requests that a dying server took with it, and keeps PULL_DEPTH
 * outstanding. */
static natsStatus
pull_fill (GstJetStreamSrc * self, gint64 now)
{
  State *st = &self->state;
  natsStatus status = NATS_OK;
  guint i;

  for (i = 0; i < st->n_reqs;) {
    if (now > st->reqs[i].deadline) {
      GST_DEBUG_OBJECT (self, "pull request %" G_GUINT64_FORMAT " lost",
          st->reqs[i].id);
      pull_request_remove (st, i);
    } else {
      i++;
    }
  }
  while (status == NATS_OK && st->n_reqs < PULL_DEPTH)
    status = pull_request (self, now);
  return status;
}

/* Which pull request the status @msg ends: its index, or -1 (one
 * forgotten). */
static gint
pull_request_of (State * st, natsMsg * msg)
{
  const char *subject = natsMsg_GetSubject (msg);
  gsize len = strlen (st->inbox);
  guint64 id;
  guint i;

  if (subject == NULL || strncmp (subject, st->inbox, len) != 0 ||
      subject[len] != '.')
    return -1;
  id = g_ascii_strtoull (subject + len + 1, NULL, 10);
  for (i = 0; i < st->n_reqs; i++)
    if (st->reqs[i].id == id)
      return i;
  return -1;
}

/* A message without a JetStream ack subject is the server's word on a pull
 * request (a status: 404/408 ended it, 409 ended it for a reason — a new
 * consumer leader, the consumer deleted —, 503 nobody serves the consumer,
 * 100 a heartbeat). Returns FALSE when the consumer must be made again. */
static gboolean
pull_status (GstJetStreamSrc * self, natsMsg * msg)
{
  State *st = &self->state;
  const char *code = NULL, *desc = NULL;
  gint i = pull_request_of (st, msg);

  natsMsgHeader_Get (msg, "Status", &code);
  natsMsgHeader_Get (msg, "Description", &desc);
  if (code && g_str_has_prefix (code, "100"))
    return TRUE;
  if (i >= 0)
    pull_request_remove (st, i);
  GST_DEBUG_OBJECT (self, "pull request ended: %s %s", code ? code : "-",
      desc ? desc : "");
  if (code && g_str_has_prefix (code, "409") && desc &&
      g_strstr_len (desc, -1, "Consumer Deleted"))
    return FALSE;
  if (code && g_str_has_prefix (code, "503"))
    return FALSE;
  return TRUE;
}

/* The consumer lost track of what reached us: start it again at the
 * acknowledgement floor. What is pending comes again (its copies are
 * dropped, their ack subjects kept). */
static natsStatus
consumer_reset (GstJetStreamSrc * self, jsErrCode * jerr)
{
  State *st = &self->state;
  guint64 from;
  Pending *head;
  GList *l;

  g_mutex_lock (&self->ack_lock);
  try_ack_locked (self, TRUE);
  head = g_queue_peek_head (&self->pending);
  from = head ? head->sseq : st->last_pushed_sseq + 1;
  for (l = self->pending.head; l; l = l->next)
    g_clear_pointer (&((Pending *) l->data)->reply, g_free);
  g_mutex_unlock (&self->ack_lock);
  /* the acknowledgements sent so far reach the old consumer first */
  natsConnection_FlushTimeout (st->nc, SM_JS_REQUEST_TIMEOUT_MS);

  st->resets++;
  GST_WARNING_OBJECT (self, "deliveries were lost (server change?): "
      "restarting consumer %s at stream sequence %" G_GUINT64_FORMAT,
      st->settings.durable, from);
  return consumer_create (self, from, jerr);
}

/* At start: where the durable consumer's acknowledgements stopped. */
static natsStatus
consumer_resume_point (GstJetStreamSrc * self, guint64 * from,
    jsErrCode * jerr)
{
  State *st = &self->state;
  jsConsumerInfo *ci = NULL;
  natsStatus status;

  *from = 0;
  *jerr = 0;
  status = js_GetConsumerInfo (&ci, st->js, st->settings.ep.stream,
      st->settings.durable, NULL, jerr);
  if (status == NATS_NOT_FOUND || *jerr == JSConsumerNotFoundErr)
    return NATS_OK;
  if (status != NATS_OK)
    return status;
  *from = ci->AckFloor.Stream + 1;
  if (ci->Config && ci->Config->DeliverPolicy == js_DeliverByStartSequence &&
      ci->Config->OptStartSeq > *from)
    *from = ci->Config->OptStartSeq;
  if (ci->Config && ci->Config->FilterSubject &&
      g_strcmp0 (ci->Config->FilterSubject, st->filter) != 0)
    GST_WARNING_OBJECT (self, "consumer %s filtered %s, now %s",
        st->settings.durable, ci->Config->FilterSubject, st->filter);
  GST_INFO_OBJECT (self, "consumer %s acknowledged through stream sequence %"
      G_GUINT64_FORMAT, st->settings.durable, ci->AckFloor.Stream);
  jsConsumerInfo_Destroy (ci);
  return NATS_OK;
}

/* ---- GstBaseSrc --------------------------------------------------------- */

static gboolean
gst_jetstream_src_start (GstBaseSrc * bsrc)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (bsrc);
  State *st = &self->state;
  const Settings *s = &st->settings;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus status;
  guint64 from;

  GST_OBJECT_LOCK (self);
  settings_copy (&st->settings, &self->settings);
  GST_OBJECT_UNLOCK (self);
  st->n_reqs = 0;
  st->last_req_id = 0;
  st->need_reset = FALSE;
  st->last_cseq = st->last_pushed_sseq = st->last_num_pending = 0;
  st->starved_since = 0;
  st->idle_since = g_get_monotonic_time ();
  st->outage_since = 0;
  st->warned_stall = FALSE;
  st->pushed = st->redeliveries_dropped = st->resets = 0;

  if (!sm_js_check_names (GST_ELEMENT (self), s->ep.stream, s->ep.subject, TRUE))
    goto failed;
  if (s->durable == NULL || *s->durable == '\0' ||
      strpbrk (s->durable, ".*> \t\r\n") != NULL)
    goto bad_durable;
  st->filter = s->ep.subject ? g_strdup (s->ep.subject) :
      g_strdup_printf ("%s.>", s->ep.stream);
  st->next_subject = g_strdup_printf ("$JS.API.CONSUMER.MSG.NEXT.%s.%s",
      s->ep.stream, s->durable);

  if (!sm_js_connect (GST_ELEMENT (self), &s->ep,
          GST_RESOURCE_ERROR_OPEN_READ, NULL, &st->nc, &st->js))
    goto failed;
  /* a request must take the largest message the server lets through */
  st->max_bytes = MAX (PULL_MAX_BYTES,
      2 * (gint) MIN (natsConnection_GetMaxPayload (st->nc), G_MAXINT / 4));

  status = js_GetStreamInfo (&si, st->js, s->ep.stream, NULL, &jerr);
  if (status == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
    goto no_stream;
  if (status != NATS_OK)
    goto stream_lookup_failed;
  jsStreamInfo_Destroy (si);

  status = consumer_resume_point (self, &from, &jerr);
  if (status == NATS_OK)
    status = consumer_create (self, from, &jerr);
  if (status != NATS_OK)
    goto consumer_failed;

  g_mutex_lock (&self->ack_lock);
  self->ack_nc = st->nc;
  self->have_durable = FALSE;
  self->durable_offset = 0;
  g_mutex_unlock (&self->ack_lock);
  return TRUE;

  /* ERRORS */
bad_durable:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("durable=\"%s\" is not a consumer name: set durable to a name "
            "without '.', '*', '>' or whitespace, one per shard (e.g. "
            "\"shard0\")", s->durable ? s->durable : "(none)"), (NULL));
    goto failed;
  }
no_stream:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("JetStream stream \"%s\" does not exist on %s: start the producer "
            "(jetstreamsink creates the stream) first, or fix stream=",
            s->ep.stream, s->ep.server_shown), (NULL));
    goto failed;
  }
stream_lookup_failed:
  {
    SM_JS_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, status, jerr,
        "Cannot look up JetStream stream \"%s\" on %s (is JetStream enabled: "
        "nats-server -js?)", s->ep.stream, s->ep.server_shown);
    goto failed;
  }
consumer_failed:
  {
    SM_JS_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, status, jerr,
        "Cannot create the durable pull consumer \"%s\" on stream \"%s\" "
        "(filter %s)", s->durable, s->ep.stream, st->filter);
    goto failed;
  }
failed:
  {
    disconnect (st);
    g_clear_pointer (&st->filter, g_free);
    g_clear_pointer (&st->next_subject, g_free);
    g_clear_pointer (&st->inbox, g_free);
    settings_clear (&st->settings);
    return FALSE;
  }
}

static gboolean
gst_jetstream_src_stop (GstBaseSrc * bsrc)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (bsrc);
  State *st = &self->state;

  GST_INFO_OBJECT (self, "pushed %" G_GUINT64_FORMAT ", dropped %"
      G_GUINT64_FORMAT " redeliveries, %" G_GUINT64_FORMAT " consumer resets, "
      "%u unacknowledged", st->pushed, st->redeliveries_dropped, st->resets,
      self->pending.length);
  g_mutex_lock (&self->ack_lock);
  try_ack_locked (self, TRUE);
  self->ack_nc = NULL;
  g_queue_clear_full (&self->pending, (GDestroyNotify) pending_free);
  g_mutex_unlock (&self->ack_lock);
  /* flushes the acknowledgements sent; the durable consumer stays: the
   * next start resumes from it */
  disconnect (st);
  g_clear_pointer (&st->filter, g_free);
  g_clear_pointer (&st->next_subject, g_free);
  g_clear_pointer (&st->inbox, g_free);
  g_clear_pointer (&st->caps_str, g_free);
  settings_clear (&st->settings);
  return TRUE;
}

/* Caps come with each message (set in create ()): nothing to negotiate
 * before the first one. */
static gboolean
gst_jetstream_src_negotiate (GstBaseSrc * bsrc)
{
  return TRUE;
}

static gboolean
gst_jetstream_src_unlock (GstBaseSrc * bsrc)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (bsrc);

  g_atomic_int_set (&self->unlocked, 1);
  return TRUE;
}

static gboolean
gst_jetstream_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (bsrc);

  g_atomic_int_set (&self->unlocked, 0);
  return TRUE;
}

/* A decimal header, or FALSE when it is absent; *@bad when present but not
 * a number. */
static gboolean
header_u64 (natsMsg * msg, const char *name, guint64 * value, gboolean * bad)
{
  const char *text = NULL;
  gchar *end = NULL;

  if (natsMsgHeader_Get (msg, name, &text) != NATS_OK || text == NULL)
    return FALSE;
  *value = g_ascii_strtoull (text, &end, 10);
  if (end == text || *end != '\0')
    *bad = TRUE;
  return TRUE;
}

/* Turns @msg (taken) into a buffer with its metadata, setting new caps
 * when they changed. */
static GstFlowReturn
make_buffer (GstJetStreamSrc * self, natsMsg * msg, guint64 sseq,
    GstBuffer ** outbuf)
{
  State *st = &self->state;
  const char *caps_str = NULL;
  gboolean bad = FALSE;
  guint64 offset = GST_BUFFER_OFFSET_NONE, offset_end =
      GST_BUFFER_OFFSET_NONE, pts = GST_CLOCK_TIME_NONE, duration =
      GST_CLOCK_TIME_NONE;
  GstBuffer *buf;
  gint len;

  if (natsMsgHeader_Get (msg, SM_JS_HEADER_CAPS, &caps_str) != NATS_OK ||
      caps_str == NULL)
    goto foreign;
  header_u64 (msg, SM_JS_HEADER_OFFSET, &offset, &bad);
  header_u64 (msg, SM_JS_HEADER_OFFSET_END, &offset_end, &bad);
  header_u64 (msg, SM_JS_HEADER_PTS, &pts, &bad);
  header_u64 (msg, SM_JS_HEADER_DURATION, &duration, &bad);
  if (bad)
    goto bad_header;

  if (g_strcmp0 (caps_str, st->caps_str) != 0) {
    GstCaps *caps = gst_caps_from_string (caps_str);

    if (caps == NULL || !gst_caps_is_fixed (caps)) {
      gst_clear_caps (&caps);
      goto bad_caps;
    }
    GST_INFO_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);
    if (!gst_base_src_set_caps (GST_BASE_SRC (self), caps)) {
      gst_caps_unref (caps);
      goto not_negotiated;
    }
    gst_caps_unref (caps);
    g_free (st->caps_str);
    st->caps_str = g_strdup (caps_str);
  }

  len = natsMsg_GetDataLength (msg);
  if (len > 0) {
    /* the buffer wraps the message's bytes: no copy */
    buf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
        (gpointer) natsMsg_GetData (msg), len, 0, len, msg,
        (GDestroyNotify) natsMsg_Destroy);
  } else {
    buf = gst_buffer_new ();
    natsMsg_Destroy (msg);
  }
  GST_BUFFER_OFFSET (buf) = offset;
  GST_BUFFER_OFFSET_END (buf) = offset_end;
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  *outbuf = buf;
  return GST_FLOW_OK;

  /* ERRORS */
foreign:
  {
    gchar *esc = g_strescape (natsMsg_GetSubject (msg), NULL);

    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Message %" G_GUINT64_FORMAT " of stream \"%s\" (subject \"%s\") "
            "has no " SM_JS_HEADER_CAPS " header: it was not published by "
            "jetstreamsink; publish only jetstreamsink's messages to the "
            "subjects this element reads", sseq, st->settings.ep.stream, esc),
        (NULL));
    g_free (esc);
    natsMsg_Destroy (msg);
    return GST_FLOW_ERROR;
  }
bad_header:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Message %" G_GUINT64_FORMAT " of stream \"%s\" has a Gst-Offset, "
            "Gst-Offset-End, Gst-Pts or Gst-Duration header that is not a "
            "decimal number: it was not published by jetstreamsink", sseq,
            st->settings.ep.stream), (NULL));
    natsMsg_Destroy (msg);
    return GST_FLOW_ERROR;
  }
bad_caps:
  {
    gchar *esc = g_strescape (caps_str, NULL);

    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Message %" G_GUINT64_FORMAT " of stream \"%s\" has a "
            SM_JS_HEADER_CAPS " header that is not fixed caps: \"%s\"", sseq,
            st->settings.ep.stream, esc), (NULL));
    g_free (esc);
    natsMsg_Destroy (msg);
    return GST_FLOW_ERROR;
  }
not_negotiated:
  {
    gchar *esc = g_strescape (caps_str, NULL);

    natsMsg_Destroy (msg);
    if (GST_PAD_IS_FLUSHING (GST_BASE_SRC_PAD (self))) {
      g_free (esc);
      return GST_FLOW_FLUSHING;
    }
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream does not accept the caps of message %" G_GUINT64_FORMAT
            " of stream \"%s\": %s", sseq, st->settings.ep.stream, esc), (NULL));
    g_free (esc);
    return GST_FLOW_NOT_NEGOTIATED;
  }
}

/* What to do with the next delivery. */
typedef enum
{
  DELIVERY_PUSH,
  DELIVERY_DROP,                /* a copy of one pushed already */
  DELIVERY_GAP,                 /* deliveries before it were lost */
} Delivery;

static Delivery
classify (GstJetStreamSrc * self, natsMsg * msg, guint64 * sseq)
{
  State *st = &self->state;
  jsMsgMetaData *meta = NULL;
  guint64 cseq;

  if (natsMsg_GetMetaData (&meta, msg) != NATS_OK) {
    /* not a JetStream delivery (cannot happen on a pull subscription) */
    *sseq = 0;
    return DELIVERY_DROP;
  }
  *sseq = meta->Sequence.Stream;
  cseq = meta->Sequence.Consumer;
  st->last_num_pending = meta->NumPending;
  jsMsgMetaData_Destroy (meta);

  if (cseq != st->last_cseq + 1 && st->last_cseq != 0 && cseq > st->last_cseq)
    return DELIVERY_GAP;
  if (st->last_cseq == 0 && cseq != 1)
    return DELIVERY_GAP;
  st->last_cseq = cseq;

  if (*sseq <= st->last_pushed_sseq) {
    const char *reply = natsMsg_GetReply (msg);
    GList *l;

    /* keep the fresh ack subject: the old one may belong to a consumer
     * that no longer exists */
    g_mutex_lock (&self->ack_lock);
    for (l = self->pending.head; l; l = l->next) {
      Pending *p = l->data;

      if (p->sseq == *sseq) {
        g_free (p->reply);
        p->reply = g_strdup (reply);
        break;
      }
      if (p->sseq > *sseq)
        break;
    }
    try_ack_locked (self, FALSE);
    g_mutex_unlock (&self->ack_lock);
    return DELIVERY_DROP;
  }
  return DELIVERY_PUSH;
}

static GstFlowReturn
gst_jetstream_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (psrc);
  State *st = &self->state;
  const Settings *s = &st->settings;
  jsErrCode jerr = 0;
  natsStatus status;

  for (;;) {
    natsMsg *msg = NULL;
    const char *reply;
    guint64 sseq;
    gint64 now;
    GstFlowReturn ret;

    if (g_atomic_int_get (&self->unlocked))
      return GST_FLOW_FLUSHING;

    try_ack (self, FALSE);
    now = g_get_monotonic_time ();
    jerr = 0;
    if (st->need_reset) {
      status = consumer_reset (self, &jerr);
      if (status != NATS_OK)
        goto maybe_outage;
    }
    status = pull_fill (self, now);
    if (status == NATS_OK)
      status = natsSubscription_NextMsg (&msg, st->sub, WAIT_MS);
    now = g_get_monotonic_time ();

    if (status == NATS_OK) {
      st->outage_since = 0;
      reply = natsMsg_GetReply (msg);
      if (reply == NULL || !g_str_has_prefix (reply, "$JS.ACK.")) {
        if (!pull_status (self, msg))
          st->need_reset = TRUE;
        natsMsg_Destroy (msg);
        continue;
      }
      /* deliveries keep their stream subject (only statuses come on the
       * request's reply subject); the server fills requests in order */
      if (st->n_reqs > 0 && --st->reqs[0].left <= 0)
        pull_request_remove (st, 0);
      st->starved_since = 0;

      switch (classify (self, msg, &sseq)) {
        case DELIVERY_DROP:
          st->redeliveries_dropped++;
          GST_LOG_OBJECT (self, "dropping a copy of stream sequence %"
              G_GUINT64_FORMAT, sseq);
          natsMsg_Destroy (msg);
          continue;
        case DELIVERY_GAP:
          natsMsg_Destroy (msg);
          st->need_reset = TRUE;
          continue;
        case DELIVERY_PUSH:
          break;
      }
      {
        Pending *p = g_new0 (Pending, 1);

        p->sseq = sseq;
        p->reply = g_strdup (reply);
        ret = make_buffer (self, msg, sseq, outbuf);
        if (ret != GST_FLOW_OK) {
          pending_free (p);
          return ret;
        }
        p->offset = GST_BUFFER_OFFSET_IS_VALID (*outbuf) ?
            GST_BUFFER_OFFSET (*outbuf) : 0;
        g_mutex_lock (&self->ack_lock);
        g_queue_push_tail (&self->pending, p);
        g_mutex_unlock (&self->ack_lock);
      }
      st->last_pushed_sseq = sseq;
      st->pushed++;
      st->idle_since = g_get_monotonic_time ();
      return GST_FLOW_OK;
    }

    /* messages were dropped for want of room: the gap in the consumer
     * sequence that follows says which */
    if (status == NATS_SLOW_CONSUMER)
      continue;

    if (status == NATS_TIMEOUT &&
        natsConnection_Status (st->nc) == NATS_CONN_STATUS_CONNECTED) {
      guint waiting;

      st->outage_since = 0;
      g_mutex_lock (&self->ack_lock);
      waiting = self->pending.length;
      g_mutex_unlock (&self->ack_lock);
      if (waiting >= s->max_ack_pending) {
        if (!st->warned_stall) {
          GST_ELEMENT_WARNING (self, RESOURCE, BUSY,
              ("%u messages wait for downstream to make them durable "
                  "(max-ack-pending=%u): the server delivers no more until "
                  "then; make sharedmatrix checkpoint more often "
                  "(checkpoint-every well below max-ack-pending) or raise "
                  "max-ack-pending", waiting, s->max_ack_pending), (NULL));
          st->warned_stall = TRUE;
        }
      } else if (st->last_num_pending > 0) {
        /* the last delivery said more were there, none came */
        if (st->starved_since == 0)
          st->starved_since = now;
        if (now - st->starved_since >= LOST_DELIVERY_WAIT_US) {
          st->starved_since = 0;
          st->need_reset = TRUE;
        }
        continue;
      }
      if (s->idle_timeout > 0 &&
          (guint64) (now - st->idle_since) * GST_USECOND >= s->idle_timeout) {
        GST_INFO_OBJECT (self, "no message for %" GST_TIME_FORMAT ": EOS",
            GST_TIME_ARGS (s->idle_timeout));
        return GST_FLOW_EOS;
      }
      continue;
    }

  maybe_outage:
    /* no server answers (the client reconnects meanwhile), a new consumer
     * leader is being elected, or the consumer could not be made again:
     * retried for SM_JS_OUTAGE_TIMEOUT_S */
    if (status == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr)
      st->need_reset = TRUE;
    if (!sm_js_status_is_transient (status) && status != NATS_ERR &&
        status != NATS_CONNECTION_CLOSED && status != NATS_NOT_FOUND &&
        status != NATS_INVALID_SUBSCRIPTION)
      goto fetch_failed;
    if (st->outage_since == 0)
      st->outage_since = now;
    if (now - st->outage_since >
        (gint64) SM_JS_OUTAGE_TIMEOUT_S * G_USEC_PER_SEC)
      goto fetch_failed;
    GST_DEBUG_OBJECT (self, "fetch failed (%s), retrying",
        natsStatus_GetText (status));
    if (status == NATS_INVALID_SUBSCRIPTION || status == NATS_CONNECTION_CLOSED)
      st->need_reset = TRUE;
    if (status != NATS_TIMEOUT)
      g_usleep (SM_JS_RECONNECT_WAIT_MS * 1000);
  }

  /* ERRORS */
fetch_failed:
  {
    SM_JS_ELEMENT_ERROR (self, RESOURCE, READ, status, jerr,
        "Cannot fetch from consumer \"%s\" of stream \"%s\" on %s (for %d s "
        "no server of the list answered, or the stream or consumer is gone)",
        s->durable, s->ep.stream, s->ep.server_shown, SM_JS_OUTAGE_TIMEOUT_S);
    return GST_FLOW_ERROR;
  }
}

/* ---- GObject ---------------------------------------------------------------- */

static void
gst_jetstream_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  if (sm_js_endpoint_set_property (&s->ep, prop_id, value)) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case PROP_DURABLE:
      g_free (s->durable);
      s->durable = g_value_dup_string (value);
      break;
    case PROP_IDLE_TIMEOUT:
      s->idle_timeout = g_value_get_uint64 (value);
      break;
    case PROP_MAX_ACK_PENDING:
      s->max_ack_pending = g_value_get_uint (value);
      break;
    case PROP_ACK_WAIT:
      s->ack_wait = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_jetstream_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  if (sm_js_endpoint_get_property (&s->ep, prop_id, value)) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case PROP_DURABLE:
      g_value_set_string (value, s->durable);
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint64 (value, s->idle_timeout);
      break;
    case PROP_MAX_ACK_PENDING:
      g_value_set_uint (value, s->max_ack_pending);
      break;
    case PROP_ACK_WAIT:
      g_value_set_uint64 (value, s->ack_wait);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_jetstream_src_finalize (GObject * object)
{
  GstJetStreamSrc *self = GST_JETSTREAM_SRC (object);

  settings_clear (&self->settings);
  settings_clear (&self->state.settings);
  g_free (self->state.filter);
  g_free (self->state.next_subject);
  g_free (self->state.inbox);
  g_free (self->state.caps_str);
  g_queue_clear_full (&self->pending, (GDestroyNotify) pending_free);
  g_mutex_clear (&self->ack_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_jetstream_src_class_init (GstJetStreamSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_jetstream_src_debug, "jetstreamsrc", 0,
      "NATS JetStream source");

  gobject_class->set_property = gst_jetstream_src_set_property;
  gobject_class->get_property = gst_jetstream_src_get_property;
  gobject_class->finalize = gst_jetstream_src_finalize;

  sm_js_endpoint_install_properties (gobject_class,
      "JetStream stream to read (must exist)",
      "Subject to read: \"<stream>.<name>\" (NULL: the whole stream); one "
          "producer per subject");
  g_object_class_install_property (gobject_class, PROP_DURABLE,
      g_param_spec_string ("durable", "Durable",
          "Name of the durable consumer, one per reader (shard, replica): "
          "a restart with the same name resumes where its acknowledgements "
          "stopped", DEFAULT_PROP_DURABLE, flags));
  g_object_class_install_property (gobject_class, PROP_IDLE_TIMEOUT,
      g_param_spec_uint64 ("idle-timeout", "Idle timeout",
          "Send EOS after this long (ns) without a new message (0 = wait "
          "forever)", 0, G_MAXUINT64, DEFAULT_PROP_IDLE_TIMEOUT, flags));
  g_object_class_install_property (gobject_class, PROP_MAX_ACK_PENDING,
      g_param_spec_uint ("max-ack-pending", "Max ack pending",
          "Messages delivered and not yet durable downstream before the "
          "server pauses delivery; keep sharedmatrix's checkpoint-every well "
          "below it", 1, G_MAXINT, DEFAULT_PROP_MAX_ACK_PENDING, flags));
  g_object_class_install_property (gobject_class, PROP_ACK_WAIT,
      g_param_spec_uint64 ("ack-wait", "Ack wait",
          "Time (ns) after which the server delivers an unacknowledged "
          "message again (copies are dropped within a run; a restart "
          "resumes at once anyway): longer than the time between "
          "checkpoints", GST_SECOND, G_MAXINT64, DEFAULT_PROP_ACK_WAIT,
          flags));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "NATS JetStream source", "Source/Network",
      "Reads the buffers jetstreamsink published, with their caps, offsets "
      "and timestamps, through a durable JetStream consumer; acknowledges "
      "them once sharedmatrix downstream made them durable",
      "gst-sharedmatrix developers");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_jetstream_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_jetstream_src_stop);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_jetstream_src_negotiate);
  basesrc_class->event = GST_DEBUG_FUNCPTR (gst_jetstream_src_event);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_jetstream_src_query);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_jetstream_src_unlock);
  basesrc_class->unlock_stop =
      GST_DEBUG_FUNCPTR (gst_jetstream_src_unlock_stop);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_jetstream_src_create);
}

static void
gst_jetstream_src_init (GstJetStreamSrc * self)
{
  Settings *s = &self->settings;

  sm_js_endpoint_init (&s->ep);
  s->durable = g_strdup (DEFAULT_PROP_DURABLE);
  s->idle_timeout = DEFAULT_PROP_IDLE_TIMEOUT;
  s->max_ack_pending = DEFAULT_PROP_MAX_ACK_PENDING;
  s->ack_wait = DEFAULT_PROP_ACK_WAIT;
  g_mutex_init (&self->ack_lock);
  g_queue_init (&self->pending);

  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), FALSE);
}
