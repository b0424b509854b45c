/* gst-sharedmatrix: the sharedmatrix element's statistics and their message
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "sharedmatrix-stats.h"
#include "sharedmatrix-util.h"

void
sm_stats_init (SmStats * stats)
{
  memset (stats, 0, sizeof (*stats));
  g_mutex_init (&stats->lock);
  stats->values.last_offset = GST_BUFFER_OFFSET_NONE;
  stats->values.last_pts = GST_CLOCK_TIME_NONE;
  stats->last_message_time = GST_CLOCK_TIME_NONE;
}

void
sm_stats_clear (SmStats * stats)
{
  g_mutex_clear (&stats->lock);
}

void
sm_stats_get (SmStats * stats, SmStatsValues * values)
{
  g_mutex_lock (&stats->lock);
  *values = stats->values;
  g_mutex_unlock (&stats->lock);
}

/* The producer OFFSET the matrix holds updates through: restored from a
 * checkpoint, or none for a new matrix. */
void
sm_stats_set_last_offset (SmStats * stats, guint64 last_offset)
{
  g_mutex_lock (&stats->lock);
  stats->values.last_offset = last_offset;
  g_mutex_unlock (&stats->lock);
}

/* At start: no PTS yet, and the message interval starts afresh. */
void
sm_stats_start (SmStats * stats)
{
  g_mutex_lock (&stats->lock);
  stats->values.last_pts = GST_CLOCK_TIME_NONE;
  stats->rows_at_last_message = stats->values.rows_applied;
  g_mutex_unlock (&stats->lock);
  stats->last_message_time = GST_CLOCK_TIME_NONE;
}

void
sm_stats_add_update (SmStats * stats,
    const GstSharedMatrixUpdateResult * result, GstBuffer * buf)
{
  g_mutex_lock (&stats->lock);
  stats->values.updates_applied++;
  stats->values.rows_applied += result->rows_applied;
  stats->values.rows_dropped +=
      result->rows_dropped_invalid + result->rows_dropped_non_finite;
  if (GST_BUFFER_OFFSET_IS_VALID (buf))
    stats->values.last_offset = GST_BUFFER_OFFSET (buf);
  if (GST_BUFFER_PTS_IS_VALID (buf))
    stats->values.last_pts = GST_BUFFER_PTS (buf);
  g_mutex_unlock (&stats->lock);
}

/* @n updates applied one after another (a buffer list): their sums, and
 * the OFFSET and PTS of the last of them that had one (NONE: none had). */
void
sm_stats_add_updates (SmStats * stats,
    const GstSharedMatrixUpdateResult * results, guint n, guint64 last_offset,
    GstClockTime last_pts)
{
  guint64 rows = 0, dropped = 0;
  guint i;

  for (i = 0; i < n; i++) {
    rows += results[i].rows_applied;
    dropped += results[i].rows_dropped_invalid +
        results[i].rows_dropped_non_finite;
  }
  g_mutex_lock (&stats->lock);
  stats->values.updates_applied += n;
  stats->values.rows_applied += rows;
  stats->values.rows_dropped += dropped;
  if (last_offset != GST_BUFFER_OFFSET_NONE)
    stats->values.last_offset = last_offset;
  if (GST_CLOCK_TIME_IS_VALID (last_pts))
    stats->values.last_pts = last_pts;
  g_mutex_unlock (&stats->lock);
}

void
sm_stats_add_skipped (SmStats * stats)
{
  g_mutex_lock (&stats->lock);
  stats->values.updates_skipped++;
  g_mutex_unlock (&stats->lock);
}

/* Posts the sharedmatrix-stats message (documented field by field in the
 * element's SECTION comment) and restarts the message interval at @now. */
void
sm_stats_post_message (SmStats * stats, GstElement * element,
    GstSharedMatrix * matrix, GstClockTime now)
{
  SmStatsValues v;
  GstStructure *s;
  gdouble rate = 0;

  sm_stats_get (stats, &v);
  if (GST_CLOCK_TIME_IS_VALID (stats->last_message_time) &&
      now > stats->last_message_time)
    rate = (gdouble) (v.rows_applied - stats->rows_at_last_message) *
        GST_SECOND / (now - stats->last_message_time);
  stats->rows_at_last_message = v.rows_applied;
  stats->last_message_time = now;

  s = gst_structure_new ("sharedmatrix-stats",
      "version", G_TYPE_UINT64, gst_shared_matrix_get_version (matrix),
      "updates-applied", G_TYPE_UINT64, v.updates_applied,
      "rows-applied", G_TYPE_UINT64, v.rows_applied,
      "rows-dropped", G_TYPE_UINT64, v.rows_dropped,
      "rows-per-second", G_TYPE_DOUBLE, rate,
      /* the OFFSET of the last applied buffer: for a replica fed by delta
       * snapshots, the primary's version it mirrors (replica lag) */
      "last-offset", G_TYPE_UINT64, v.last_offset,
      "backend", G_TYPE_STRING,
      gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
          (matrix)), NULL);
  gst_element_post_message (element,
      gst_message_new_element (GST_OBJECT (element), s));
}

/* After an applied update: posts the message when @interval has passed. */
void
sm_stats_update_message (SmStats * stats, GstElement * element,
    GstSharedMatrix * matrix, GstClockTime now, guint64 interval)
{
  /* post_message restarts the interval. The update that starts the first
   * interval belongs before it: rows-per-second counts what follows. */
  if (!GST_CLOCK_TIME_IS_VALID (stats->last_message_time)) {
    g_mutex_lock (&stats->lock);
    stats->rows_at_last_message = stats->values.rows_applied;
    g_mutex_unlock (&stats->lock);
  }
  if (sm_interval_elapsed (now, &stats->last_message_time, interval))
    sm_stats_post_message (stats, element, matrix, now);
}
