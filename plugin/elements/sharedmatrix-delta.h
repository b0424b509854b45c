/* gst-sharedmatrix: delta snapshots (src side) and delta chains (sink side)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

/* The update caps of the delta snapshots of a matrix of @dtype and @cols,
 * with delta=true: with both index types (int64 first, the preferred one)
 * when @any_index_type, else with @index_type. */
GstCaps *sm_delta_caps (GstSharedMatrixDType dtype, guint cols,
    gboolean any_index_type, GstSharedMatrixIndexType index_type);

/* Whether @caps are update caps marked as a delta stream. */
gboolean sm_delta_caps_is_delta (const GstCaps * caps);

/* *@out: the rows written since *@since with their current values, as one
 * update buffer with PTS = @pts, OFFSET = the version at the copy,
 * OFFSET_END = *@since; *@since becomes that version. NULL when there is no
 * copy: with GST_FLOW_OK when memory for it cannot be had (a warning is
 * posted, *@since is kept so the next delta holds these rows too), with
 * GST_FLOW_ERROR when the matrix cannot be read (an error is posted). */
GstFlowReturn sm_delta_make_buffer (GstElement * element,
    GstSharedMatrix * matrix, GstSharedMatrixIndexType index_type,
    guint64 * since, GstClockTime pts, GstBuffer ** out);

/* The receiving side: a sharedmatrix fed a delta stream checks that each
 * delta continues from the previous one it applied. Streaming thread only. */
typedef struct
{
  gboolean delta_stream;        /* the sink caps say delta=true */
  gboolean have_previous;
  guint64 previous;             /* OFFSET of the last applied delta */
} SmDeltaFollow;

/* @restored: the last OFFSET the checkpoint the matrix was restored from
 * holds (GST_BUFFER_OFFSET_NONE when none was): a replica restarted from its
 * checkpoint continues the chain it was following, so a delta lost across
 * the restart is detected too */
void sm_delta_follow_reset (SmDeltaFollow * follow, guint64 restored);
void sm_delta_follow_set_caps (SmDeltaFollow * follow, const GstCaps * caps);
/* FALSE (after posting an element error) when @buf does not continue the
 * chain: its OFFSET_END is set and is not the OFFSET of the last delta
 * applied. Ordinary update streams always pass. */
gboolean sm_delta_follow_check (SmDeltaFollow * follow, GstElement * element,
    GstBuffer * buf);
/* @buf was applied. */
void sm_delta_follow_applied (SmDeltaFollow * follow, GstBuffer * buf);

G_END_DECLS
