/* gst-sharedmatrix: the sharedmatrix element's ALLOCATION answer
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

gboolean sm_propose_allocation (GstElement * element, GstSharedMatrix * matrix,
    GstQuery * query);

G_END_DECLS
