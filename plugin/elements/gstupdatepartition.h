/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_UPDATE_PARTITION (gst_update_partition_get_type ())
G_DECLARE_FINAL_TYPE (GstUpdatePartition, gst_update_partition, GST,
    UPDATE_PARTITION, GstElement)

GST_ELEMENT_REGISTER_DECLARE (updatepartition);

G_END_DECLS
