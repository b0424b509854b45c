/* gst-sharedmatrix: the sharedmatrix element's statistics and their message
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

/* What the read-only properties report. */
typedef struct
{
  guint64 updates_applied;
  guint64 rows_applied;
  guint64 rows_dropped;
  guint64 updates_skipped;
  guint64 last_offset;          /* GST_BUFFER_OFFSET_NONE: none yet */
  GstClockTime last_pts;        /* PTS of the last applied update */
} SmStatsValues;

/* The values under their own lock (a leaf: nothing else is taken while it
 * is held), written by the streaming thread, read by property getters
 * and the snapshot signal from any thread. The message fields belong to
 * the streaming thread. */
typedef struct
{
  GMutex lock;
  SmStatsValues values;

  /* streaming thread only: the sharedmatrix-stats message interval */
  GstClockTime last_message_time;
  guint64 rows_at_last_message;
} SmStats;

void sm_stats_init (SmStats * stats);
void sm_stats_clear (SmStats * stats);
void sm_stats_get (SmStats * stats, SmStatsValues * values);
void sm_stats_set_last_offset (SmStats * stats, guint64 last_offset);
void sm_stats_start (SmStats * stats);
void sm_stats_add_update (SmStats * stats,
    const GstSharedMatrixUpdateResult * result, GstBuffer * buf);
void sm_stats_add_updates (SmStats * stats,
    const GstSharedMatrixUpdateResult * results, guint n, guint64 last_offset,
    GstClockTime last_pts);
void sm_stats_add_skipped (SmStats * stats);
void sm_stats_update_message (SmStats * stats, GstElement * element,
    GstSharedMatrix * matrix, GstClockTime now, guint64 interval);
void sm_stats_post_message (SmStats * stats, GstElement * element,
    GstSharedMatrix * matrix, GstClockTime now);

G_END_DECLS
