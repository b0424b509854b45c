/* gst-sharedmatrix: helpers shared by the plugin's elements
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

void sm_element_post_gerror (GstElement * element, GstMessageType type,
    const GError * error, GQuark domain, gint code, const gchar * hint,
    const gchar * file, const gchar * function, gint line,
    const gchar * format, ...) G_GNUC_PRINTF (10, 11);

/* Posts a library GError as an element ERROR (or WARNING): the text is
 * "<format ...>: <error's message>" (just the error's message when format
 * is NULL), and the GStreamer domain and code are @domain / @code, except
 * for the library codes that mean the same everywhere: a failed device is
 * RESOURCE/FAILED, no memory RESOURCE/NO_SPACE_LEFT. The _HINT variants
 * add " (<hint>)" after the error's message, for what the user can do. */
#define SM_ELEMENT_ERROR_FROM_GERROR(el, domain, code, err, ...) \
  sm_element_post_gerror (GST_ELEMENT (el), GST_MESSAGE_ERROR, err, \
      GST_ ## domain ## _ERROR, GST_ ## domain ## _ERROR_ ## code, NULL, \
      __FILE__, GST_FUNCTION, __LINE__, __VA_ARGS__)
#define SM_ELEMENT_ERROR_FROM_GERROR_HINT(el, domain, code, err, hint, ...) \
  sm_element_post_gerror (GST_ELEMENT (el), GST_MESSAGE_ERROR, err, \
      GST_ ## domain ## _ERROR, GST_ ## domain ## _ERROR_ ## code, hint, \
      __FILE__, GST_FUNCTION, __LINE__, __VA_ARGS__)
#define SM_ELEMENT_WARNING_FROM_GERROR(el, domain, code, err, ...) \
  sm_element_post_gerror (GST_ELEMENT (el), GST_MESSAGE_WARNING, err, \
      GST_ ## domain ## _ERROR, GST_ ## domain ## _ERROR_ ## code, NULL, \
      __FILE__, GST_FUNCTION, __LINE__, __VA_ARGS__)

GstCaps *sm_caps_filter (GstCaps * caps, GstCaps * filter);

gboolean sm_interval_elapsed (GstClockTime now, GstClockTime * start,
    guint64 interval);

G_END_DECLS
