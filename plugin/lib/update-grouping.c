/* gst-sharedmatrix: stable grouping of an update's occurrences by row
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An LSD radix sort of (row, position) by row: every pass is a stable
 * counting sort and the input is in buffer order, so within a row the
 * positions stay ascending. O(n) per 8 bits of the largest row, no
 * comparisons, and the same result on every machine. Small updates use an
 * insertion sort, which is stable too.
 */
#include <string.h>

#include "update-grouping.h"
#include "sharedmatrix-ops.h"

#define INSERTION_SORT_MAX 32

void
sm_update_grouping_init (SmUpdateGrouping * g)
{
  memset (g, 0, sizeof *g);
}

void
sm_update_grouping_clear (SmUpdateGrouping * g)
{
  g_free (g->rows);
  g_free (g->group_start);
  g_free (g->order);
  g_free (g->keys);
  g_free (g->keys_tmp);
  g_free (g->order_tmp);
  sm_update_grouping_init (g);
}

static void
reserve (SmUpdateGrouping * g, gsize n)
{
  gsize cap;

  if (n <= g->capacity)
    return;
  /* amortised: a stream of similar updates allocates once */
  cap = MAX (n, MAX (g->capacity * 2, 256));
  g->rows = g_renew (guint64, g->rows, cap);
  g->group_start = g_renew (guint32, g->group_start, cap + 1);
  g->order = g_renew (guint32, g->order, cap);
  g->keys = g_renew (guint64, g->keys, cap);
  g->keys_tmp = g_renew (guint64, g->keys_tmp, cap);
  g->order_tmp = g_renew (guint32, g->order_tmp, cap);
  g->capacity = cap;
}

static void
insertion_sort (guint64 * keys, guint32 * order, gsize n)
{
  gsize i;

  for (i = 1; i < n; i++) {
    guint64 k = keys[i];
    guint32 p = order[i];
    gsize j = i;

    /* strict >: equal rows keep their (ascending) buffer order */
    while (j > 0 && keys[j - 1] > k) {
      keys[j] = keys[j - 1];
      order[j] = order[j - 1];
      j--;
    }
    keys[j] = k;
    order[j] = p;
  }
}

/* Sorts keys/order by key, stably; the result may end up in the tmp
 * arrays: returns which (TRUE = tmp). */
static gboolean
radix_sort (SmUpdateGrouping * g, gsize n, guint64 max_key)
{
  guint64 *keys = g->keys, *keys_out = g->keys_tmp;
  guint32 *order = g->order, *order_out = g->order_tmp;
  gboolean in_tmp = FALSE;
  guint shift;

  for (shift = 0; shift < 64 && (max_key >> shift) != 0; shift += 8) {
    gsize count[257] = { 0, };
    gsize i;
    guint d;

    for (i = 0; i < n; i++)
      count[((keys[i] >> shift) & 0xff) + 1]++;
    if (count[((keys[0] >> shift) & 0xff) + 1] == n)
      continue;                 /* one digit value: this pass moves nothing */
    for (d = 0; d < 256; d++)
      count[d + 1] += count[d];
    for (i = 0; i < n; i++) {
      gsize dst = count[(keys[i] >> shift) & 0xff]++;

      keys_out[dst] = keys[i];
      order_out[dst] = order[i];
    }
    {
      guint64 *tk = keys;
      guint32 *to = order;

      keys = keys_out;
      order = order_out;
      keys_out = tk;
      order_out = to;
    }
    in_tmp = !in_tmp;
  }
  return in_tmp;
}

void
sm_update_grouping_compute (SmUpdateGrouping * g, const guint8 * indices,
    gboolean indices_int64, gsize first, gsize n, const guint8 * skip)
{
  const guint64 *keys;
  const guint32 *order;
  guint64 max_key = 0;
  gsize i, m = 0, groups = 0;

  g_assert (n <= SM_UPDATE_GROUPING_MAX_N);
  reserve (g, MAX (n, 1));

  for (i = 0; i < n; i++) {
    guint64 r;

    if (skip && skip[first + i])
      continue;
    r = (guint64) sm_load_index (indices, indices_int64, first + i);
    g->keys[m] = r;
    g->order[m] = (guint32) i;
    max_key |= r;
    m++;
  }

  keys = g->keys;
  order = g->order;
  if (m <= INSERTION_SORT_MAX) {
    insertion_sort (g->keys, g->order, m);
  } else if (radix_sort (g, m, max_key)) {
    keys = g->keys_tmp;
    order = g->order_tmp;
  }

  /* group boundaries; the sorted positions become the order array */
  for (i = 0; i < m; i++) {
    if (i == 0 || keys[i] != keys[i - 1]) {
      g->rows[groups] = keys[i];
      g->group_start[groups] = (guint32) i;
      groups++;
    }
  }
  g->group_start[groups] = (guint32) m;
  if (order != g->order)
    memcpy (g->order, order, m * sizeof (guint32));
  g->n_groups = (guint32) groups;
  g->n_order = (guint32) m;
}
