/* gst-sharedmatrix: which rows each version wrote (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Delta snapshots need the rows written since a version. The matrix keeps,
 * per row, the version of the last update that wrote it (0: not written
 * since the matrix was created or loaded), and per block of
 * SM_ROW_TRACKING_BLOCK rows the largest of those, so that finding the rows
 * written since a version reads only the blocks that hold some: a delta of
 * a few thousand rows of a 10^8-row matrix does not scan 800 MB.
 *
 * A delta of a few hundred random rows would still read every block (200
 * random rows of 70,000 touch all 69 blocks), so the tracking also keeps a
 * journal: the (row, version) of the most recently marked occurrences, a
 * ring of about rows / 4 entries. Every row written after journal_start
 * is in it; a delta since a version at or after that is the journal's
 * entries since then, sorted and made distinct (the update grouping's
 * sort), without reading the per-row versions. Older deltas, and those
 * after a whole-matrix write, scan as before: both ways give the same rows.
 *
 * The tracking lives in host memory beside every backend's storage and is
 * written from the update's (validated, host-side) indices, so it is one
 * implementation for all backends, costs no device memory and no kernel,
 * and the delta rows are read through the backend's gather. Every call is
 * made with the matrix's data lock held, in the same critical section as
 * the backend write and the version bump it describes, so a delta is
 * always consistent with the version it is stamped with.
 */
#pragma once

#include <gst/gst.h>

#include "backend.h"
#include "update-grouping.h"

G_BEGIN_DECLS

#define SM_ROW_TRACKING_BLOCK 1024

typedef struct
{
  guint64 rows;
  guint64 *row_version;         /* rows entries */
  guint64 *block_version;       /* max of row_version per block */
  guint64 n_blocks;

  /* the journal: a ring of the latest marked occurrences, versions never
   * decreasing from the oldest to the newest */
  guint64 *journal_row, *journal_version;
  gsize journal_capacity;
  gsize journal_len;            /* entries held */
  gsize journal_next;           /* where the next one goes */
  guint64 journal_start;        /* every row written after it is held */

  /* the rows since since_version found through the journal by the last
   * count_since () (ascending in since_rows.rows), for list_since () */
  gboolean since_valid;
  guint64 since_version;
  guint64 *since_scratch;       /* journal_capacity rows */
  SmUpdateGrouping since_rows;
} SmRowTracking;

gboolean sm_row_tracking_init (SmRowTracking * t, guint64 rows,
    GError ** error);
void sm_row_tracking_clear (SmRowTracking * t);

/* Every occurrence of @plan not flagged in plan->skip wrote its row at
 * @version. */
void sm_row_tracking_mark_plan (SmRowTracking * t, const SmUpdatePlan * plan,
    guint64 version);
/* Starts the cache miss of the entry that marking row @r will write.
 * Validation calls it for every row of an update, so the misses overlap
 * the backend's write instead of stalling the marking after it (random
 * rows of a big matrix miss every time). */
static inline void
sm_row_tracking_prefetch (const SmRowTracking * t, guint64 r)
{
  __builtin_prefetch (&t->row_version[r], 1, 2);
}

/* Every row written at @version (a whole-matrix write). */
void sm_row_tracking_mark_all (SmRowTracking * t, guint64 version);

/* The number of rows last written after @since. */
gsize sm_row_tracking_count_since (SmRowTracking * t, guint64 since);
/* Stores the rows last written after @since, ascending, as @n indices
 * (int64 or int32) at @dest; @n is what count_since () returned, for the
 * same @since, with no marking in between. */
void sm_row_tracking_list_since (const SmRowTracking * t, guint64 since,
    gboolean indices_int64, guint8 * dest, gsize n);

G_END_DECLS
