/* gst-sharedmatrix: finding and offering a matrix through GstContext
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"
#include "gstsharedmatrixcontext.h"

G_BEGIN_DECLS

GstSharedMatrix *sm_context_find (GstElement * element, const gchar * name);
void sm_context_publish (GstElement * element, GstSharedMatrix * matrix,
    const gchar * name);
gboolean sm_context_answer_query (GstElement * element, GstQuery * query);

G_END_DECLS
