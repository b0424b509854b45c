/* gst-sharedmatrix: which rows each version wrote
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See row-tracking.h. Marking costs two stores per written occurrence (the
 * row's entry and its block's); the indices are the ones validation has
 * just read, so they are in cache.
 */
#include <string.h>

#include "row-tracking.h"
#include "sharedmatrix-ops.h"

gboolean
sm_row_tracking_init (SmRowTracking * t, guint64 rows, GError ** error)
{
  memset (t, 0, sizeof *t);
  t->rows = rows;
  t->n_blocks = (rows + SM_ROW_TRACKING_BLOCK - 1) / SM_ROW_TRACKING_BLOCK;
  /* calloc: large zeroed blocks come from the kernel untouched, so an
   * unwritten part of a huge matrix costs no memory */
  t->row_version = g_try_malloc0_n (rows, sizeof (guint64));
  t->block_version = g_try_malloc0_n (MAX (t->n_blocks, 1), sizeof (guint64));
  if (t->row_version == NULL || t->block_version == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GUINT64_FORMAT " bytes of host memory to track "
        "the rows updates write (8 bytes per row, for delta snapshots)",
        rows * 8);
    sm_row_tracking_clear (t);
    return FALSE;
  }
  return TRUE;
}

void
sm_row_tracking_clear (SmRowTracking * t)
{
  g_clear_pointer (&t->row_version, g_free);
  g_clear_pointer (&t->block_version, g_free);
}

void
sm_row_tracking_mark_plan (SmRowTracking * t, const SmUpdatePlan * plan,
    guint64 version)
{
  gsize i;

  for (i = 0; i < plan->n; i++) {
    guint64 r;

    if (plan->skip && plan->skip[i])
      continue;
    r = (guint64) sm_load_index (plan->indices, plan->indices_int64, i);
    t->row_version[r] = version;
    t->block_version[r / SM_ROW_TRACKING_BLOCK] = version;
  }
}

void
sm_row_tracking_mark_all (SmRowTracking * t, guint64 version)
{
  guint64 r;

  for (r = 0; r < t->rows; r++)
    t->row_version[r] = version;
  for (r = 0; r < t->n_blocks; r++)
    t->block_version[r] = version;
}

gsize
sm_row_tracking_count_since (const SmRowTracking * t, guint64 since)
{
  gsize n = 0;
  guint64 b, r;

  for (b = 0; b < t->n_blocks; b++) {
    guint64 end;

    if (t->block_version[b] <= since)
      continue;
    end = MIN ((b + 1) * SM_ROW_TRACKING_BLOCK, t->rows);
    for (r = b * SM_ROW_TRACKING_BLOCK; r < end; r++)
      n += t->row_version[r] > since;
  }
  return n;
}

void
sm_row_tracking_list_since (const SmRowTracking * t, guint64 since,
    gboolean indices_int64, guint8 * dest, gsize n)
{
  gsize k = 0;
  guint64 b, r;

  for (b = 0; b < t->n_blocks && k < n; b++) {
    guint64 end;

    if (t->block_version[b] <= since)
      continue;
    end = MIN ((b + 1) * SM_ROW_TRACKING_BLOCK, t->rows);
    for (r = b * SM_ROW_TRACKING_BLOCK; r < end && k < n; r++) {
      if (t->row_version[r] <= since)
        continue;
      if (indices_int64) {
        gint64 v = (gint64) r;

        memcpy (dest + k * 8, &v, 8);
      } else {
        gint32 v = (gint32) r;

        memcpy (dest + k * 4, &v, 4);
      }
      k++;
    }
  }
}
