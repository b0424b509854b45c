/* gst-sharedmatrix: which rows each version wrote
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See row-tracking.h. Marking costs four stores per written occurrence (the
 * row's entry, its block's and the journal's two); the indices are the ones
 * validation has just read, so they are in cache.
 */
#include <string.h>

#include "row-tracking.h"
#include "sharedmatrix-ops.h"

/* Journal entries per row of the matrix, and the bounds: a delta of more
 * than about a quarter of the rows is cheaper to find by the block scan
 * than by sorting its occurrences, so the journal need not reach further
 * back than that. */
#define JOURNAL_ROWS_PER_ENTRY 4
#define JOURNAL_MIN 256
#define JOURNAL_MAX (4u << 20)

gboolean
sm_row_tracking_init (SmRowTracking * t, guint64 rows, GError ** error)
{
  memset (t, 0, sizeof *t);
  t->rows = rows;
  t->n_blocks = (rows + SM_ROW_TRACKING_BLOCK - 1) / SM_ROW_TRACKING_BLOCK;
  t->journal_capacity = (gsize) CLAMP (rows / JOURNAL_ROWS_PER_ENTRY,
      JOURNAL_MIN, JOURNAL_MAX);
  sm_update_grouping_init (&t->since_rows);
  /* calloc: large zeroed blocks come from the kernel untouched, so an
   * unwritten part of a huge matrix costs no memory */
  t->row_version = g_try_malloc0_n (rows, sizeof (guint64));
  t->block_version = g_try_malloc0_n (MAX (t->n_blocks, 1), sizeof (guint64));
  t->journal_row = g_try_malloc_n (t->journal_capacity, sizeof (guint64));
  t->journal_version = g_try_malloc_n (t->journal_capacity, sizeof (guint64));
  t->since_scratch = g_try_malloc_n (t->journal_capacity, sizeof (guint64));
  if (t->row_version == NULL || t->block_version == NULL ||
      t->journal_row == NULL || t->journal_version == NULL ||
      t->since_scratch == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GUINT64_FORMAT " bytes of host memory to track "
        "the rows updates write (about 12 bytes per row, for delta "
        "snapshots)", rows * 8 + t->journal_capacity * 24);
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
  g_clear_pointer (&t->journal_row, g_free);
  g_clear_pointer (&t->journal_version, g_free);
  g_clear_pointer (&t->since_scratch, g_free);
  sm_update_grouping_clear (&t->since_rows);
}

/* Appends (row, version) to the journal; the oldest entry makes room.
 * Versions come from the matrix's counter under the data lock, so they
 * never decrease along the ring, which journal_since () relies on. */
static inline void
journal_add (SmRowTracking * t, guint64 r, guint64 version)
{
  gsize k = t->journal_next;

  if (t->journal_len == t->journal_capacity)
    /* what it held is no longer held: only deltas since its version (or
     * later) can be answered from the journal */
    t->journal_start = MAX (t->journal_start, t->journal_version[k]);
  else
    t->journal_len++;
  t->journal_row[k] = r;
  t->journal_version[k] = version;
  t->journal_next = k + 1 == t->journal_capacity ? 0 : k + 1;
}

void
sm_row_tracking_mark_plan (SmRowTracking * t, const SmUpdatePlan * plan,
    guint64 version)
{
  gsize i;

  t->since_valid = FALSE;
  for (i = 0; i < plan->n; i++) {
    guint64 r;

    if (plan->skip && plan->skip[i])
      continue;
    r = (guint64) sm_load_index (plan->indices, plan->indices_int64, i);
    t->row_version[r] = version;
    t->block_version[r / SM_ROW_TRACKING_BLOCK] = version;
    journal_add (t, r, version);
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
  /* the journal cannot say "every row": deltas since before @version scan */
  t->since_valid = FALSE;
  t->journal_len = 0;
  t->journal_start = version;
}

/* Finds the rows written after @since from the journal, into
 * t->since_rows; FALSE when the journal does not reach back that far. */
static gboolean
journal_since (SmRowTracking * t, guint64 since)
{
  gsize k = 0, i = t->journal_next;

  if (since < t->journal_start)
    return FALSE;
  /* newest first, back to the first entry at or before @since */
  while (k < t->journal_len) {
    i = i == 0 ? t->journal_capacity - 1 : i - 1;
    if (t->journal_version[i] <= since)
      break;
    t->since_scratch[k++] = t->journal_row[i];
  }
  /* ascending and distinct: the groups of the update grouping */
  sm_update_grouping_compute (&t->since_rows, (const guint8 *)
      t->since_scratch, TRUE, 0, k, NULL);
  t->since_valid = TRUE;
  t->since_version = since;
  return TRUE;
}

gsize
sm_row_tracking_count_since (SmRowTracking * t, guint64 since)
{
  gsize n = 0;
  guint64 b, r;

  if (journal_since (t, since))
    return t->since_rows.n_groups;

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

/* index @k of a list of @indices_int64 ? int64 : int32 indices at @dest */
static inline void
store_index (guint8 * dest, gsize k, guint64 r, gboolean indices_int64)
{
  if (indices_int64) {
    gint64 v = (gint64) r;

    memcpy (dest + k * 8, &v, 8);
  } else {
    gint32 v = (gint32) r;

    memcpy (dest + k * 4, &v, 4);
  }
}

void
sm_row_tracking_list_since (const SmRowTracking * t, guint64 since,
    gboolean indices_int64, guint8 * dest, gsize n)
{
  gsize k = 0;
  guint64 b, r;

  if (t->since_valid && t->since_version == since) {
    for (k = 0; k < n; k++)
      store_index (dest, k, t->since_rows.rows[k], indices_int64);
    return;
  }
  for (b = 0; b < t->n_blocks && k < n; b++) {
    guint64 end;

    if (t->block_version[b] <= since)
      continue;
    end = MIN ((b + 1) * SM_ROW_TRACKING_BLOCK, t->rows);
    for (r = b * SM_ROW_TRACKING_BLOCK; r < end && k < n; r++) {
      if (t->row_version[r] <= since)
        continue;
      store_index (dest, k, r, indices_int64);
      k++;
    }
  }
}
