/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_JETSTREAM_SRC (gst_jetstream_src_get_type ())
G_DECLARE_FINAL_TYPE (GstJetStreamSrc, gst_jetstream_src, GST,
    JETSTREAM_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (jetstreamsrc);

G_END_DECLS
