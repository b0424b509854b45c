/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_JETSTREAM_SINK (gst_jetstream_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstJetStreamSink, gst_jetstream_sink, GST,
    JETSTREAM_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (jetstreamsink);

G_END_DECLS
