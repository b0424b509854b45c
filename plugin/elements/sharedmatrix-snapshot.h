/* gst-sharedmatrix: the sharedmatrix element's snapshots (src pad)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

/* Snapshot production for one src pad: negotiation, the buffer pool, making
 * and pushing the copies. */
typedef struct
{
  GstElement *element;          /* not owned: the element holding this */
  GstPad *srcpad;               /* not owned */

  /* the negotiated format and the pool: under @lock (a leaf lock), as the
   * snapshot signal reads them from any thread */
  GMutex lock;
  GstSharedMatrixFormat format;
  /* application/x-matrix-update negotiated: snapshots are deltas with
   * indices of delta_index_type (sharedmatrix-delta.c) */
  gboolean delta;
  GstSharedMatrixIndexType delta_index_type;
  GstBufferPool *pool;          /* buffers of pool_size bytes */
  gsize pool_size;

  /* streaming thread only */
  gboolean negotiated;
  /* the version of this pad's previous delta, 0 before the first */
  guint64 delta_since;
  /* what downstream accepted when it last refused our snapshots: a sticky
   * caps event is retried with every event and buffer upstream sends, and
   * the same refusal is posted once */
  GstCaps *refused_by;
  /* the version the last pushed snapshot showed, G_MAXUINT64 for none */
  guint64 pushed_version;
} SmSnapshot;

void sm_snapshot_init (SmSnapshot * snap, GstElement * element,
    GstPad * srcpad);
void sm_snapshot_clear (SmSnapshot * snap);
void sm_snapshot_reset (SmSnapshot * snap);
void sm_snapshot_release_pool (SmSnapshot * snap);
GstCaps *sm_snapshot_query_caps (SmSnapshot * snap, GstSharedMatrix * matrix,
    gboolean shape_known, GstSharedMatrixDType dtype, guint64 rows,
    guint cols, GstCaps * filter);
gboolean sm_snapshot_is_current (SmSnapshot * snap, GstSharedMatrix * matrix);
gboolean sm_snapshot_ensure_caps (SmSnapshot * snap, GstSharedMatrix * matrix);
GstFlowReturn sm_snapshot_push (SmSnapshot * snap, GstSharedMatrix * matrix,
    GstClockTime pts);
GstSample *sm_snapshot_sample (SmSnapshot * snap, GstSharedMatrix * matrix,
    GstClockTime pts);

G_END_DECLS
