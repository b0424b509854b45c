/* gst-sharedmatrix: helpers shared by the plugin's elements
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sharedmatrix-util.h"
#include "gstsharedmatrixtypes.h"

/* The one place a library GError becomes an element message (use the
 * SM_ELEMENT_*_FROM_GERROR macros, which pass the caller's location). */
void
sm_element_post_gerror (GstElement * element, GstMessageType type,
    const GError * error, GQuark domain, gint code, const gchar * hint,
    const gchar * file, const gchar * function, gint line,
    const gchar * format, ...)
{
  GString *text = g_string_new (NULL);

  if (error && error->domain == GST_SHARED_MATRIX_ERROR) {
    switch (error->code) {
      case GST_SHARED_MATRIX_ERROR_DEVICE:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_FAILED;
        break;
      case GST_SHARED_MATRIX_ERROR_NO_MEMORY:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_NO_SPACE_LEFT;
        break;
      default:
        break;
    }
  }

  if (format) {
    va_list args;

    va_start (args, format);
    g_string_append_vprintf (text, format, args);
    va_end (args);
    if (error)
      g_string_append (text, ": ");
  }
  if (error)
    g_string_append (text, error->message);
  if (hint)
    g_string_append_printf (text, " (%s)", hint);

  /* takes the text; no debug string: the message says it all */
  gst_element_message_full (element, type, domain, code,
      g_string_free (text, FALSE), NULL, file, function, line);
}

/* TRUE once @interval has passed since *@start; the first call starts the
 * interval. The caller restarts it (sets *@start) when it acts. */
gboolean
sm_interval_elapsed (GstClockTime now, GstClockTime * start, guint64 interval)
{
  if (interval == 0)
    return FALSE;
  if (!GST_CLOCK_TIME_IS_VALID (*start) || now < *start) {
    *start = now;
    return FALSE;
  }
  return now - *start >= interval;
}

/* @caps (taken) intersected with a caps query's @filter (may be NULL), in
 * the filter's order. */
GstCaps *
sm_caps_filter (GstCaps * caps, GstCaps * filter)
{
  GstCaps *tmp;

  if (filter == NULL)
    return caps;
  tmp = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
  gst_caps_unref (caps);
  return tmp;
}
