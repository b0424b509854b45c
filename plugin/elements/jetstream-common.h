/* gst-sharedmatrix: what jetstreamsink and jetstreamsrc share
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <nats/nats.h>

G_BEGIN_DECLS

#define SM_JS_DEFAULT_SERVER "nats://127.0.0.1:4222"

/* The message headers that carry a buffer's metadata (docs/scale-out.md).
 * Every message jetstreamsink publishes has Gst-Caps; the others are there
 * when the buffer had the value. Numbers are decimal. */
#define SM_JS_HEADER_CAPS "Gst-Caps"
#define SM_JS_HEADER_OFFSET "Gst-Offset"
#define SM_JS_HEADER_OFFSET_END "Gst-Offset-End"
#define SM_JS_HEADER_PTS "Gst-Pts"
#define SM_JS_HEADER_DURATION "Gst-Duration"

/* How long a connection attempt to one server may take, and how long a
 * JetStream API request or a publish waits for its answer. */
#define SM_JS_CONNECT_TIMEOUT_MS 2000
#define SM_JS_REQUEST_TIMEOUT_MS 5000
/* a synchronous publish without an answer after this long is sent again */
#define SM_JS_PUBLISH_RETRY_MS 1000
/* Between reconnection attempts, and how long an element keeps retrying
 * (publishing, fetching) while no server of the list answers before it
 * gives up with an error. */
#define SM_JS_RECONNECT_WAIT_MS 100
#define SM_JS_OUTAGE_TIMEOUT_S 30

/* The end point both elements name, part of their Settings (under the
 * object lock): the server list, the stream and the subject under it
 * (jetstreamsrc's may be NULL: the whole stream), and how to prove who we
 * are and whom we talk to (TLS files, NATS credentials file; NULL: unset).
 * server_shown is the server list with passwords and tokens masked, for
 * messages; set_property keeps it in step with server. Its properties come
 * first in each element's PROP_ enum; the element's own start at
 * SM_JS_PROP_LAST. */
typedef struct
{
  gchar *server;
  gchar *server_shown;
  gchar *stream;
  gchar *subject;
  gchar *tls_ca_file;
  gchar *tls_cert_file;
  gchar *tls_key_file;
  gchar *creds_file;
} SmJsEndpoint;

enum
{
  SM_JS_PROP_SERVER = 1,
  SM_JS_PROP_STREAM,
  SM_JS_PROP_SUBJECT,
  SM_JS_PROP_TLS_CA_FILE,
  SM_JS_PROP_TLS_CERT_FILE,
  SM_JS_PROP_TLS_KEY_FILE,
  SM_JS_PROP_CREDS_FILE,
  SM_JS_PROP_LAST
};

void sm_js_endpoint_init (SmJsEndpoint * ep);

void sm_js_endpoint_clear (SmJsEndpoint * ep);

void sm_js_endpoint_copy (SmJsEndpoint * dest, const SmJsEndpoint * src);

void sm_js_endpoint_install_properties (GObjectClass * klass,
    const gchar * stream_blurb, const gchar * subject_blurb);

gboolean sm_js_endpoint_set_property (SmJsEndpoint * ep, guint prop_id,
    const GValue * value);

gboolean sm_js_endpoint_get_property (const SmJsEndpoint * ep, guint prop_id,
    GValue * value);

gchar *sm_js_msg_id (const gchar * subject, guint64 offset);

gboolean sm_js_check_names (GstElement * element, const gchar * stream,
    const gchar * subject, gboolean subject_may_be_null);

gchar *sm_js_servers_shown (const gchar * servers);

gboolean sm_js_connect (GstElement * element, const SmJsEndpoint * ep,
    GstResourceError open_error, jsOptions * js_options,
    natsConnection ** nc, jsCtx ** js);

void sm_js_disconnect (natsConnection ** nc, jsCtx ** js);

gchar *sm_js_status_text (natsStatus status, jsErrCode js_err);

gboolean sm_js_status_is_transient (natsStatus status);

/* Posts an element error whose text is the printf-style message followed by
 * ": <NATS's description of @status / @js_err>". */
#define SM_JS_ELEMENT_ERROR(el, domain, code, status, js_err, ...) \
  sm_js_post_error (GST_ELEMENT (el), GST_ ## domain ## _ERROR, \
      GST_ ## domain ## _ERROR_ ## code, status, js_err, __FILE__, \
      GST_FUNCTION, __LINE__, __VA_ARGS__)

void sm_js_post_error (GstElement * element, GQuark domain, gint code,
    natsStatus status, jsErrCode js_err, const gchar * file,
    const gchar * function, gint line, const gchar * format, ...)
    G_GNUC_PRINTF (9, 10);

G_END_DECLS
