/* gst-sharedmatrix: stable grouping of an update's occurrences by row
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The host half of the deterministic device scatter (kernels/
 * scatter-kernels.h): the occurrences of an update are grouped by
 * destination row, each group keeping buffer order, so one GPU thread can
 * apply a row's occurrences in the order the CPU backend applies them.
 * The CUDA backend and the kernel-emulation tests use this same code.
 *
 * Private to the library; plain C and GLib only (no CUDA).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  /* results of the last sm_update_grouping_compute () */
  guint32 n_groups;             /* distinct rows */
  guint32 n_order;              /* occurrences kept (not skipped) */
  guint64 *rows;                /* n_groups rows, ascending */
  guint32 *group_start;         /* n_groups + 1 offsets into order */
  guint32 *order;               /* positions in the update, by row, then
                                 * ascending (buffer order) */

  /* workspace, grown (never shrunk) as updates get larger */
  gsize capacity;
  guint64 *keys, *keys_tmp;
  guint32 *order_tmp;
} SmUpdateGrouping;

/* The largest number of occurrences one grouping may hold (positions are
 * 32-bit); the caller splits larger updates into consecutive chunks. */
#define SM_UPDATE_GROUPING_MAX_N ((gsize) G_MAXUINT32 - 1)

void sm_update_grouping_init (SmUpdateGrouping * g);
void sm_update_grouping_clear (SmUpdateGrouping * g);

/* Groups occurrences first .. first + n - 1 of an update (indices of one
 * type, @skip NULL or one flag per occurrence of the whole update).
 * Positions in @order are relative to @first. Every index not skipped must
 * be valid (>= 0); n <= SM_UPDATE_GROUPING_MAX_N. */
void sm_update_grouping_compute (SmUpdateGrouping * g,
    const guint8 * indices, gboolean indices_int64, gsize first, gsize n,
    const guint8 * skip);

G_END_DECLS
