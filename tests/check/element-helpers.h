/* gst-sharedmatrix: what the element tests share (gst-check programs only)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

/* Pops the next ERROR message from @bus and returns its user text (fails
 * the test when there is none). */
static inline gchar *
test_pop_error_text (GstBus * bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *err = NULL;
  gchar *text;

  fail_unless (msg != NULL, "no ERROR message on the bus");
  gst_message_parse_error (msg, &err, NULL);
  text = g_strdup (err->message);
  g_clear_error (&err);
  gst_message_unref (msg);
  return text;
}

/* Tears down a harness around @el, which has the private @bus. */
static inline void
test_teardown_with_bus (GstHarness * h, GstElement * el, GstBus * bus)
{
  gst_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (el);
}
