/* gst-sharedmatrix: what jetstreamsink and jetstreamsrc share
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "jetstream-common.h"

GST_DEBUG_CATEGORY_STATIC (sm_js_debug);
#define GST_CAT_DEFAULT sm_js_debug

static void
ensure_debug_category (void)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (sm_js_debug, "jetstream", 0,
        "NATS JetStream connections");
    g_once_init_leave (&once, 1);
  }
}

/* ---- the end point: server, stream, subject --------------------------------- */

void
sm_js_endpoint_init (SmJsEndpoint * ep)
{
  ep->server = g_strdup (SM_JS_DEFAULT_SERVER);
  ep->stream = NULL;
  ep->subject = NULL;
}

void
sm_js_endpoint_clear (SmJsEndpoint * ep)
{
  g_clear_pointer (&ep->server, g_free);
  g_clear_pointer (&ep->stream, g_free);
  g_clear_pointer (&ep->subject, g_free);
}

void
sm_js_endpoint_copy (SmJsEndpoint * dest, const SmJsEndpoint * src)
{
  dest->server = g_strdup (src->server);
  dest->stream = g_strdup (src->stream);
  dest->subject = g_strdup (src->subject);
}

void
sm_js_endpoint_install_properties (GObjectClass * klass,
    const gchar * stream_blurb, const gchar * subject_blurb)
{
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  g_object_class_install_property (klass, SM_JS_PROP_SERVER,
      g_param_spec_string ("server", "Server",
          "Comma-separated NATS server URLs (nats://host:port); the first "
          "that answers is used, the others (and the cluster's) for "
          "reconnecting", SM_JS_DEFAULT_SERVER, flags));
  g_object_class_install_property (klass, SM_JS_PROP_STREAM,
      g_param_spec_string ("stream", "Stream", stream_blurb, NULL, flags));
  g_object_class_install_property (klass, SM_JS_PROP_SUBJECT,
      g_param_spec_string ("subject", "Subject", subject_blurb, NULL, flags));
}

/* With the object lock held; FALSE when @prop_id is not the end point's. */
gboolean
sm_js_endpoint_set_property (SmJsEndpoint * ep, guint prop_id,
    const GValue * value)
{
  gchar **field;

  switch (prop_id) {
    case SM_JS_PROP_SERVER:
      field = &ep->server;
      break;
    case SM_JS_PROP_STREAM:
      field = &ep->stream;
      break;
    case SM_JS_PROP_SUBJECT:
      field = &ep->subject;
      break;
    default:
      return FALSE;
  }
  g_free (*field);
  *field = g_value_dup_string (value);
  /* server=NULL means the default, as for any string property */
  if (prop_id == SM_JS_PROP_SERVER && *field == NULL)
    *field = g_strdup (SM_JS_DEFAULT_SERVER);
  return TRUE;
}

gboolean
sm_js_endpoint_get_property (const SmJsEndpoint * ep, guint prop_id,
    GValue * value)
{
  switch (prop_id) {
    case SM_JS_PROP_SERVER:
      g_value_set_string (value, ep->server);
      return TRUE;
    case SM_JS_PROP_STREAM:
      g_value_set_string (value, ep->stream);
      return TRUE;
    case SM_JS_PROP_SUBJECT:
      g_value_set_string (value, ep->subject);
      return TRUE;
    default:
      return FALSE;
  }
}

/* ---- messages ------------------------------------------------------------------ */

/* The Nats-Msg-Id of the message holding the buffer with @offset on
 * @subject: a producer that replays after a crash sends the same ids, and
 * JetStream drops the copies it already stored within the stream's
 * duplicate window. */
gchar *
sm_js_msg_id (const gchar * subject, guint64 offset)
{
  return g_strdup_printf ("%s:%" G_GUINT64_FORMAT, subject, offset);
}

/* JetStream stream names may not hold '.', '*', '>', whitespace or path
 * separators. */
static gboolean
stream_name_valid (const gchar * name)
{
  const gchar *p;

  if (name == NULL || *name == '\0')
    return FALSE;
  for (p = name; *p; p++) {
    if (*p == '.' || *p == '*' || *p == '>' || *p == '/' || *p == '\\' ||
        g_ascii_isspace (*p) || !g_ascii_isprint (*p))
      return FALSE;
  }
  return TRUE;
}

/* A literal subject under the stream: "<stream>.<token>[.<token>…]" with
 * no empty tokens and no wildcards. */
static gboolean
subject_valid (const gchar * stream, const gchar * subject)
{
  gsize len = strlen (stream);
  gchar **tokens;
  gboolean ok = TRUE;
  guint i;

  if (subject == NULL || strncmp (subject, stream, len) != 0 ||
      subject[len] != '.' || subject[len + 1] == '\0')
    return FALSE;
  tokens = g_strsplit (subject + len + 1, ".", -1);
  for (i = 0; tokens[i]; i++) {
    const gchar *p;

    if (tokens[i][0] == '\0' || strcmp (tokens[i], "*") == 0 ||
        strcmp (tokens[i], ">") == 0)
      ok = FALSE;
    for (p = tokens[i]; *p; p++)
      if (g_ascii_isspace (*p) || !g_ascii_isprint (*p))
        ok = FALSE;
  }
  g_strfreev (tokens);
  return ok;
}

/* Checks the stream and subject properties; posts an error that says what
 * is wrong and what is allowed. */
gboolean
sm_js_check_names (GstElement * element, const gchar * stream,
    const gchar * subject, gboolean subject_may_be_null)
{
  gchar *esc;

  if (!stream_name_valid (stream))
    goto bad_stream;
  if (subject == NULL && subject_may_be_null)
    return TRUE;
  if (!subject_valid (stream, subject))
    goto bad_subject;
  return TRUE;

  /* ERRORS */
bad_stream:
  {
    esc = stream ? g_strescape (stream, NULL) : g_strdup ("(none)");
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("stream=\"%s\" is not a JetStream stream name: set stream to a "
            "non-empty name without '.', '*', '>', '/', '\\' or whitespace",
            esc), (NULL));
    g_free (esc);
    return FALSE;
  }
bad_subject:
  {
    esc = subject ? g_strescape (subject, NULL) : g_strdup ("(none)");
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("subject=\"%s\" is not a subject of stream \"%s\": it must be "
            "\"%s.<name>\" (dot-separated tokens, no wildcards, no "
            "whitespace), e.g. \"%s.updates.0\"", esc, stream, stream,
            stream), (NULL));
    g_free (esc);
    return FALSE;
  }
}

static void
on_disconnected (natsConnection * nc, void *closure)
{
  GST_WARNING_OBJECT (closure, "disconnected from NATS, reconnecting");
}

static void
on_reconnected (natsConnection * nc, void *closure)
{
  char url[256] = "";

  natsConnection_GetConnectedUrl (nc, url, sizeof (url));
  GST_WARNING_OBJECT (closure, "reconnected to %s", url);
}

static void
on_async_error (natsConnection * nc, natsSubscription * sub, natsStatus err,
    void *closure)
{
  GST_WARNING_OBJECT (closure, "NATS asynchronous error: %s",
      natsStatus_GetText (err));
}

/* Connects to the first server of the comma-separated @servers that
 * answers (each attempt bounded by SM_JS_CONNECT_TIMEOUT_MS) and makes a
 * JetStream context (@js_options, nullable: its Wait defaults to
 * SM_JS_REQUEST_TIMEOUT_MS). Once connected, the client reconnects on its own to
 * any server of the list or of the cluster (which servers gossip), forever,
 * buffering what is published meanwhile; the elements bound how long they
 * wait for it (SM_JS_OUTAGE_TIMEOUT_S). */
natsStatus
sm_js_connect (GstElement * element, const gchar * servers,
    jsOptions * js_options, natsConnection ** nc, jsCtx ** js)
{
  natsOptions *opts = NULL;
  jsOptions jo;
  gchar **urls;
  guint n = 0, i;
  const char **list;
  natsStatus s;

  ensure_debug_category ();
  *nc = NULL;
  *js = NULL;

  urls = g_strsplit (servers ? servers : SM_JS_DEFAULT_SERVER, ",", -1);
  list = g_new0 (const char *, g_strv_length (urls) + 1);
  for (i = 0; urls[i]; i++) {
    g_strstrip (urls[i]);
    if (urls[i][0])
      list[n++] = urls[i];
  }
  if (n == 0) {
    s = NATS_INVALID_ARG;
    goto done;
  }

  s = natsOptions_Create (&opts);
  if (s == NATS_OK)
    s = natsOptions_SetServers (opts, list, (int) n);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout (opts, SM_JS_CONNECT_TIMEOUT_MS);
  if (s == NATS_OK)
    s = natsOptions_SetName (opts, GST_OBJECT_NAME (element));
  if (s == NATS_OK)
    s = natsOptions_SetAllowReconnect (opts, true);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect (opts, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait (opts, SM_JS_RECONNECT_WAIT_MS);
  /* what is published while reconnecting waits here (sync publishes are
   * retried anyway); 64 MiB holds hundreds of updates */
  if (s == NATS_OK)
    s = natsOptions_SetReconnectBufSize (opts, 64 * 1024 * 1024);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB (opts, on_disconnected, element);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB (opts, on_reconnected, element);
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler (opts, on_async_error, element);
  if (s == NATS_OK)
    s = natsConnection_Connect (nc, opts);
  if (s == NATS_OK) {
    if (js_options == NULL) {
      jsOptions_Init (&jo);
      js_options = &jo;
    }
    if (js_options->Wait == 0)
      js_options->Wait = SM_JS_REQUEST_TIMEOUT_MS;
    s = natsConnection_JetStream (js, *nc, js_options);
  }
  if (s != NATS_OK)
    sm_js_disconnect (nc, js);
  else
    GST_INFO_OBJECT (element, "connected to %s", servers);

done:
  natsOptions_Destroy (opts);
  g_free (list);
  g_strfreev (urls);
  return s;
}

void
sm_js_disconnect (natsConnection ** nc, jsCtx ** js)
{
  if (*js) {
    jsCtx_Destroy (*js);
    *js = NULL;
  }
  if (*nc) {
    /* what is still buffered (acknowledgements) goes out first */
    natsConnection_FlushTimeout (*nc, SM_JS_CONNECT_TIMEOUT_MS);
    natsConnection_Close (*nc);
    natsConnection_Destroy (*nc);
    *nc = NULL;
  }
}

/* NATS's words for a failure: the status, the JetStream error code when
 * there is one, and the library's last error text for this thread. */
gchar *
sm_js_status_text (natsStatus status, jsErrCode js_err)
{
  natsStatus last_status = NATS_OK;
  const char *last = nats_GetLastError (&last_status);
  GString *text = g_string_new (natsStatus_GetText (status));

  if (last && *last && last_status == status &&
      g_strcmp0 (last, natsStatus_GetText (status)) != 0)
    g_string_append_printf (text, " (%s)", last);
  if (js_err)
    g_string_append_printf (text, " [JetStream error %d]", (int) js_err);
  return g_string_free (text, FALSE);
}

/* Failures that a reconnection or a new leader cures: worth retrying. */
gboolean
sm_js_status_is_transient (natsStatus status)
{
  switch (status) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_SLOW_CONSUMER:
      return TRUE;
    default:
      return FALSE;
  }
}

void
sm_js_post_error (GstElement * element, GQuark domain, gint code,
    natsStatus status, jsErrCode js_err, const gchar * file,
    const gchar * function, gint line, const gchar * format, ...)
{
  GString *text = g_string_new (NULL);
  gchar *nats_text = sm_js_status_text (status, js_err);
  va_list args;

  va_start (args, format);
  g_string_append_vprintf (text, format, args);
  va_end (args);
  g_string_append_printf (text, ": %s", nats_text);
  g_free (nats_text);
  gst_element_message_full (element, GST_MESSAGE_ERROR, domain, code,
      g_string_free (text, FALSE), NULL, file, function, line);
}
