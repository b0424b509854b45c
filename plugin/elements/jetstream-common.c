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

/* ---- the end point: server, stream, subject, TLS and credentials ------------- */

void
sm_js_endpoint_init (SmJsEndpoint * ep)
{
  memset (ep, 0, sizeof (*ep));
  ep->server = g_strdup (SM_JS_DEFAULT_SERVER);
  ep->server_shown = g_strdup (SM_JS_DEFAULT_SERVER);
}

void
sm_js_endpoint_clear (SmJsEndpoint * ep)
{
  g_clear_pointer (&ep->server, g_free);
  g_clear_pointer (&ep->server_shown, g_free);
  g_clear_pointer (&ep->stream, g_free);
  g_clear_pointer (&ep->subject, g_free);
  g_clear_pointer (&ep->tls_ca_file, g_free);
  g_clear_pointer (&ep->tls_cert_file, g_free);
  g_clear_pointer (&ep->tls_key_file, g_free);
  g_clear_pointer (&ep->creds_file, g_free);
}

void
sm_js_endpoint_copy (SmJsEndpoint * dest, const SmJsEndpoint * src)
{
  dest->server = g_strdup (src->server);
  dest->server_shown = g_strdup (src->server_shown);
  dest->stream = g_strdup (src->stream);
  dest->subject = g_strdup (src->subject);
  dest->tls_ca_file = g_strdup (src->tls_ca_file);
  dest->tls_cert_file = g_strdup (src->tls_cert_file);
  dest->tls_key_file = g_strdup (src->tls_key_file);
  dest->creds_file = g_strdup (src->creds_file);
}

/* the file properties: all strings, NULL (unset) by default */
static const struct
{
  guint prop_id;
  const gchar *name, *nick, *blurb;
} files[] = {
  {SM_JS_PROP_TLS_CA_FILE, "tls-ca-file", "TLS CA file",
      "PEM file of CA certificates that sign the servers' certificates "
        "(trusted besides the system's default CA store); setting it "
        "requires TLS"},
  {SM_JS_PROP_TLS_CERT_FILE, "tls-cert-file", "TLS certificate file",
      "PEM client certificate chain, for servers that verify clients "
        "(tls { verify: true }); needs tls-key-file; setting it requires "
        "TLS"},
  {SM_JS_PROP_TLS_KEY_FILE, "tls-key-file", "TLS key file",
      "PEM private key of the certificate in tls-cert-file (unencrypted)"},
  {SM_JS_PROP_CREDS_FILE, "creds-file", "Credentials file",
      "NATS credentials file (user JWT and NKey seed, as nsc writes it) "
        "to authenticate with; user:password@ or token@ in a server URL "
        "are the alternatives"},
};

void
sm_js_endpoint_install_properties (GObjectClass * klass,
    const gchar * stream_blurb, const gchar * subject_blurb)
{
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  guint i;

  g_object_class_install_property (klass, SM_JS_PROP_SERVER,
      g_param_spec_string ("server", "Server",
          "Comma-separated NATS server URLs (nats://host:port, or tls:// "
          "to require TLS; nats://user:password@host:port or "
          "nats://token@host:port to authenticate); the first that answers "
          "is used, the others (and the cluster's) for reconnecting",
          SM_JS_DEFAULT_SERVER, flags));
  g_object_class_install_property (klass, SM_JS_PROP_STREAM,
      g_param_spec_string ("stream", "Stream", stream_blurb, NULL, flags));
  g_object_class_install_property (klass, SM_JS_PROP_SUBJECT,
      g_param_spec_string ("subject", "Subject", subject_blurb, NULL, flags));
  for (i = 0; i < G_N_ELEMENTS (files); i++)
    g_object_class_install_property (klass, files[i].prop_id,
        g_param_spec_string (files[i].name, files[i].nick, files[i].blurb,
            NULL, flags));
}

static gchar **
endpoint_field (SmJsEndpoint * ep, guint prop_id)
{
  switch (prop_id) {
    case SM_JS_PROP_SERVER:
      return &ep->server;
    case SM_JS_PROP_STREAM:
      return &ep->stream;
    case SM_JS_PROP_SUBJECT:
      return &ep->subject;
    case SM_JS_PROP_TLS_CA_FILE:
      return &ep->tls_ca_file;
    case SM_JS_PROP_TLS_CERT_FILE:
      return &ep->tls_cert_file;
    case SM_JS_PROP_TLS_KEY_FILE:
      return &ep->tls_key_file;
    case SM_JS_PROP_CREDS_FILE:
      return &ep->creds_file;
    default:
      return NULL;
  }
}

/* With the object lock held; FALSE when @prop_id is not the end point's. */
gboolean
sm_js_endpoint_set_property (SmJsEndpoint * ep, guint prop_id,
    const GValue * value)
{
  gchar **field = endpoint_field (ep, prop_id);

  if (field == NULL)
    return FALSE;
  g_free (*field);
  *field = g_value_dup_string (value);
  if (prop_id == SM_JS_PROP_SERVER) {
    /* server=NULL means the default, as for any string property */
    if (*field == NULL)
      *field = g_strdup (SM_JS_DEFAULT_SERVER);
    g_free (ep->server_shown);
    ep->server_shown = sm_js_servers_shown (ep->server);
  } else if (*field != NULL && **field == '\0') {
    /* an empty file name is no file: as unset */
    g_clear_pointer (field, g_free);
  }
  return TRUE;
}

gboolean
sm_js_endpoint_get_property (const SmJsEndpoint * ep, guint prop_id,
    GValue * value)
{
  gchar **field = endpoint_field ((SmJsEndpoint *) ep, prop_id);

  if (field == NULL)
    return FALSE;
  g_value_set_string (value, *field);
  return TRUE;
}

/* @servers with what libnats reads as secrets masked, for messages and the
 * log: "nats://user:pass@h" becomes "nats://user:xxx@h", and
 * "nats://token@h" "nats://xxx@h". */
gchar *
sm_js_servers_shown (const gchar * servers)
{
  gchar **urls = g_strsplit (servers, ",", -1);
  GString *out = g_string_new (NULL);
  guint i;

  for (i = 0; urls[i]; i++) {
    const gchar *url = urls[i], *auth, *at, *end, *colon;

    if (i > 0)
      g_string_append_c (out, ',');
    auth = strstr (url, "://");
    auth = auth ? auth + 3 : url;
    end = auth + strcspn (auth, "/?#");
    at = g_strrstr_len (auth, end - auth, "@");
    if (at == NULL) {
      g_string_append (out, url);
      continue;
    }
    colon = memchr (auth, ':', at - auth);
    g_string_append_len (out, url, (colon ? colon + 1 : auth) - url);
    g_string_append (out, "xxx");
    g_string_append (out, at);
  }
  g_strfreev (urls);
  return g_string_free (out, FALSE);
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

/* The security files are checked before connecting, so that a wrong path
 * is named as such, not as whatever libnats or OpenSSL make of it. */
static gboolean
check_file (GstElement * element, const gchar * property, const gchar * path,
    const gchar * what)
{
  gchar *esc, *reason, *contents = NULL;
  GError *error = NULL;
  gint code;

  if (path == NULL)
    return TRUE;
  /* small files: reading one is the surest test that it can be read */
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    code = GST_RESOURCE_ERROR_NOT_FOUND;
    reason = g_strdup ("no such file (or not a regular file)");
  } else if (!g_file_get_contents (path, &contents, NULL, &error)) {
    code = GST_RESOURCE_ERROR_OPEN_READ;
    reason = g_strdup_printf ("cannot be read (%s)", error->message);
    g_error_free (error);
  } else {
    g_free (contents);
    return TRUE;
  }

  esc = g_strescape (path, NULL);
  gst_element_message_full (element, GST_MESSAGE_ERROR, GST_RESOURCE_ERROR,
      code, g_strdup_printf ("%s=\"%s\": %s: set %s to %s that this process "
          "may read, or unset it", property, esc, reason, property, what),
      NULL, __FILE__, GST_FUNCTION, __LINE__);
  g_free (esc);
  g_free (reason);
  return FALSE;
}

static gboolean
check_security (GstElement * element, const SmJsEndpoint * ep)
{
  const gchar *set, *unset;
  gchar *esc;

  if ((ep->tls_cert_file == NULL) != (ep->tls_key_file == NULL))
    goto unpaired;
  return check_file (element, "tls-ca-file", ep->tls_ca_file,
      "a PEM file of CA certificates") &&
      check_file (element, "tls-cert-file", ep->tls_cert_file,
      "a PEM client certificate chain") &&
      check_file (element, "tls-key-file", ep->tls_key_file,
      "the PEM private key of tls-cert-file") &&
      check_file (element, "creds-file", ep->creds_file,
      "a NATS credentials file (user JWT and NKey seed)");

  /* ERRORS */
unpaired:
  {
    set = ep->tls_cert_file ? "tls-cert-file" : "tls-key-file";
    unset = ep->tls_cert_file ? "tls-key-file" : "tls-cert-file";
    esc = g_strescape (ep->tls_cert_file ? ep->tls_cert_file :
        ep->tls_key_file, NULL);
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("%s=\"%s\" is set but %s is not: a client certificate needs both "
            "tls-cert-file (PEM certificate chain) and tls-key-file (its PEM "
            "private key); set both or neither", set, esc, unset), (NULL));
    g_free (esc);
    return FALSE;
  }
}

/* libnats 3.4.1 takes a tls:// URL as a plain one: it uses TLS only when
 * asked to (natsOptions_SetSecure) or when the server requires it, and would
 * talk in clear text to a server that offers no TLS. */
static gboolean
servers_want_tls (gchar ** urls)
{
  guint i;

  for (i = 0; urls[i]; i++)
    if (g_ascii_strncasecmp (urls[i], "tls://", 6) == 0)
      return TRUE;
  return FALSE;
}

/* TLS and credentials onto @opts; posts the error itself. */
static gboolean
set_security (GstElement * element, const SmJsEndpoint * ep, gboolean tls,
    natsOptions * opts)
{
  natsStatus s = NATS_OK;
  gchar *esc, *esc2;

  if (tls)
    s = natsOptions_SetSecure (opts, true);
  if (s != NATS_OK)
    goto no_tls;
  if (ep->tls_ca_file &&
      natsOptions_LoadCATrustedCertificates (opts, ep->tls_ca_file) != NATS_OK)
    goto bad_ca;
  if (ep->tls_cert_file &&
      natsOptions_LoadCertificatesChain (opts, ep->tls_cert_file,
          ep->tls_key_file) != NATS_OK)
    goto bad_cert;
  if (ep->creds_file)
    s = natsOptions_SetUserCredentialsFromFiles (opts, ep->creds_file, NULL);
  if (s != NATS_OK)
    goto bad_creds;
  return TRUE;

  /* ERRORS */
no_tls:
  {
    SM_JS_ELEMENT_ERROR (element, RESOURCE, SETTINGS, s, 0,
        "TLS is asked for (tls-ca-file, tls-cert-file or a tls:// URL) but "
        "the NATS client library cannot do TLS");
    return FALSE;
  }
bad_ca:
  {
    esc = g_strescape (ep->tls_ca_file, NULL);
    SM_JS_ELEMENT_ERROR (element, RESOURCE, SETTINGS, NATS_SSL_ERROR, 0,
        "tls-ca-file=\"%s\" holds no CA certificate OpenSSL can load: it "
        "must be PEM (-----BEGIN CERTIFICATE-----), one or more "
        "certificates", esc);
    g_free (esc);
    return FALSE;
  }
bad_cert:
  {
    esc = g_strescape (ep->tls_cert_file, NULL);
    esc2 = g_strescape (ep->tls_key_file, NULL);
    SM_JS_ELEMENT_ERROR (element, RESOURCE, SETTINGS, NATS_SSL_ERROR, 0,
        "tls-cert-file=\"%s\" and tls-key-file=\"%s\" cannot be used: they "
        "must be a PEM certificate chain (the client's certificate first) "
        "and the unencrypted PEM private key that belongs to it", esc, esc2);
    g_free (esc);
    g_free (esc2);
    return FALSE;
  }
bad_creds:
  {
    esc = g_strescape (ep->creds_file, NULL);
    SM_JS_ELEMENT_ERROR (element, RESOURCE, SETTINGS, s, 0,
        "creds-file=\"%s\" cannot be used", esc);
    g_free (esc);
    return FALSE;
  }
}

/* A failed connection, in words that say which setting to look at. */
static void
post_connect_error (GstElement * element, const SmJsEndpoint * ep,
    GstResourceError open_error, gboolean tls, natsStatus s)
{
  gchar *esc;

  switch (s) {
    case NATS_SSL_ERROR:
      esc = ep->tls_ca_file ? g_strescape (ep->tls_ca_file, NULL) : NULL;
      sm_js_post_error (element, GST_RESOURCE_ERROR, open_error, s, 0,
          __FILE__, GST_FUNCTION, __LINE__,
          "TLS handshake with the NATS server of server=\"%s\" failed: its "
          "certificate must be signed by a CA of %s%s%s and name the host "
          "of its URL%s", ep->server_shown,
          esc ? "tls-ca-file=\"" : "the system's default CA store "
          "(tls-ca-file is not set)", esc ? esc : "", esc ? "\"" : "",
          ep->tls_cert_file ? "" : " (a server that verifies clients also "
          "needs tls-cert-file and tls-key-file)");
      g_free (esc);
      break;
    case NATS_SECURE_CONNECTION_WANTED:
      sm_js_post_error (element, GST_RESOURCE_ERROR, open_error, s, 0,
          __FILE__, GST_FUNCTION, __LINE__,
          "The NATS server of server=\"%s\" offers no TLS, but TLS is "
          "required (by tls-ca-file, tls-cert-file or a tls:// URL): give "
          "the server a tls { } block, or use nats:// URLs and unset the "
          "TLS files", ep->server_shown);
      break;
    case NATS_SECURE_CONNECTION_REQUIRED:
      sm_js_post_error (element, GST_RESOURCE_ERROR, open_error, s, 0,
          __FILE__, GST_FUNCTION, __LINE__,
          "The NATS server of server=\"%s\" requires TLS: use tls:// URLs "
          "and set tls-ca-file to the CA that signed its certificate",
          ep->server_shown);
      break;
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
      sm_js_post_error (element, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_AUTHORIZED, s, 0, __FILE__, GST_FUNCTION,
          __LINE__, "The NATS server of server=\"%s\" refused us: give the "
          "user and password (nats://user:password@host:port) or token "
          "(nats://token@host:port) in the URL, or creds-file, as the "
          "server's authorization expects%s", ep->server_shown,
          ep->creds_file ? "; creds-file is set" : "");
      break;
    default:
      if (s == NATS_ERR && ep->creds_file) {
        /* libnats reads the credentials file while connecting */
        esc = g_strescape (ep->creds_file, NULL);
        sm_js_post_error (element, GST_RESOURCE_ERROR,
            GST_RESOURCE_ERROR_SETTINGS, s, 0, __FILE__, GST_FUNCTION,
            __LINE__, "creds-file=\"%s\" is not a NATS credentials file "
            "(a user JWT and an NKey seed, as nsc writes them)", esc);
        g_free (esc);
        break;
      }
      sm_js_post_error (element, GST_RESOURCE_ERROR, open_error, s, 0,
          __FILE__, GST_FUNCTION, __LINE__,
          "Cannot connect to any NATS server of server=\"%s\" (each tried "
          "for %d ms); start nats-server with JetStream (-js) there or fix "
          "the comma-separated server list%s", ep->server_shown,
          SM_JS_CONNECT_TIMEOUT_MS, tls && ep->tls_cert_file == NULL ?
          " (a server that verifies TLS clients closes the connection "
          "without a client certificate: set tls-cert-file and "
          "tls-key-file)" : "");
      break;
  }
}

/* Connects to the first server of @ep's comma-separated list that answers
 * (each attempt bounded by SM_JS_CONNECT_TIMEOUT_MS), with its TLS files
 * and credentials, and makes a JetStream context (@js_options, nullable: its
 * Wait defaults to SM_JS_REQUEST_TIMEOUT_MS). Once connected, the client
 * reconnects on its own to any server of the list or of the cluster (which
 * servers gossip), forever, buffering what is published meanwhile; the
 * elements bound how long they wait for it (SM_JS_OUTAGE_TIMEOUT_S).
 * Posts an element error (@open_error: GST_RESOURCE_ERROR_OPEN_READ or
 * _OPEN_WRITE when no server takes us) and returns FALSE on failure. */
gboolean
sm_js_connect (GstElement * element, const SmJsEndpoint * ep,
    GstResourceError open_error, jsOptions * js_options,
    natsConnection ** nc, jsCtx ** js)
{
  natsOptions *opts = NULL;
  jsOptions jo;
  gchar **urls;
  guint n = 0, i;
  const char **list;
  gboolean tls, ok = FALSE;
  natsStatus s;

  ensure_debug_category ();
  *nc = NULL;
  *js = NULL;

  if (!check_security (element, ep))
    return FALSE;

  urls = g_strsplit (ep->server ? ep->server : SM_JS_DEFAULT_SERVER, ",", -1);
  list = g_new0 (const char *, g_strv_length (urls) + 1);
  for (i = 0; urls[i]; i++) {
    g_strstrip (urls[i]);
    if (urls[i][0])
      list[n++] = urls[i];
  }
  tls = ep->tls_ca_file || ep->tls_cert_file || servers_want_tls (urls);

  s = natsOptions_Create (&opts);
  if (s == NATS_OK && n > 0)
    s = natsOptions_SetServers (opts, list, (int) n);
  else if (s == NATS_OK)
    s = NATS_INVALID_ARG;
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
  if (s != NATS_OK) {
    post_connect_error (element, ep, open_error, tls, s);
    goto done;
  }
  if (!set_security (element, ep, tls, opts))
    goto done;
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
  if (s != NATS_OK) {
    post_connect_error (element, ep, open_error, tls, s);
    sm_js_disconnect (nc, js);
  } else {
    GST_INFO_OBJECT (element, "connected to %s%s", ep->server_shown,
        tls ? " with TLS" : "");
    ok = TRUE;
  }

done:
  natsOptions_Destroy (opts);
  g_free (list);
  g_strfreev (urls);
  return ok;
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
