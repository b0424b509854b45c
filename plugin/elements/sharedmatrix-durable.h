/* gst-sharedmatrix: the "sharedmatrix-durable" upstream event
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* How `sharedmatrix` tells a transport source upstream (jetstreamsrc) which
 * producer OFFSETs it holds durably, so that the source acknowledges them
 * to its log (docs/scale-out.md):
 *
 *   GST_EVENT_CUSTOM_UPSTREAM, structure
 *   "sharedmatrix-durable, offset=(guint64)N"
 *
 * means: every update buffer with OFFSET <= N is durable. With a
 * checkpoint-location it is sent once a checkpoint file holding last-offset
 * N has been written (from the checkpoint writer's thread), and for every
 * buffer a restored checkpoint already holds (skipped); without one, after
 * each applied buffer (applied is as durable as it gets), once per buffer
 * list for a list (its last OFFSET: "everything up to N" makes the earlier
 * ones redundant). The event is neither serialised nor sticky.
 *
 * Only sent when upstream asked for it: building and pushing an upstream
 * event per buffer costs about a microsecond, as much as the rest of a
 * one-row update. On each CAPS event sharedmatrix asks upstream with the
 * custom query
 *
 *   GST_QUERY_CUSTOM, structure "sharedmatrix-durable"
 *
 * and an element that consumes the events (jetstreamsrc) answers it TRUE.
 * Elements in between forward the query like any other upstream query. */
#define SM_DURABLE_EVENT_NAME "sharedmatrix-durable"

static inline GstQuery *
sm_durable_query_new (void)
{
  return gst_query_new_custom (GST_QUERY_CUSTOM,
      gst_structure_new_empty (SM_DURABLE_EVENT_NAME));
}

/* TRUE when @query is the sharedmatrix-durable query (answer it by
 * returning TRUE from the query function). */
static inline gboolean
sm_durable_query_is (GstQuery * query)
{
  const GstStructure *s;

  if (GST_QUERY_TYPE (query) != GST_QUERY_CUSTOM)
    return FALSE;
  s = gst_query_get_structure (query);
  return s && gst_structure_has_name (s, SM_DURABLE_EVENT_NAME);
}

static inline GstEvent *
sm_durable_event_new (guint64 offset)
{
  return gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
      gst_structure_new (SM_DURABLE_EVENT_NAME, "offset", G_TYPE_UINT64,
          offset, NULL));
}

/* TRUE and *@offset when @event is a sharedmatrix-durable event. */
static inline gboolean
sm_durable_event_parse (GstEvent * event, guint64 * offset)
{
  const GstStructure *s;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_UPSTREAM)
    return FALSE;
  s = gst_event_get_structure (event);
  return s && gst_structure_has_name (s, SM_DURABLE_EVENT_NAME) &&
      gst_structure_get_uint64 (s, "offset", offset);
}

/* The element's side: which checkpoint holds which last-offset, until the
 * writer thread says it is on disk. Its own lock is a leaf. */
typedef struct
{
  GMutex lock;
  GQueue queued;                /* last-offsets of queued checkpoints */
  GstPad *sinkpad;              /* where the events leave (not owned) */
  gint wanted;                  /* atomic: upstream answered the query */
} SmDurable;

void sm_durable_init (SmDurable * d, GstPad * sinkpad);
void sm_durable_clear (SmDurable * d);
void sm_durable_checkpoint_queued (SmDurable * d, guint64 last_offset);
void sm_durable_checkpoint_not_queued (SmDurable * d);
void sm_durable_checkpoint_written (SmDurable * d, gboolean ok);
void sm_durable_send (SmDurable * d, guint64 offset);
void sm_durable_ask_upstream (SmDurable * d);

/* Whether anyone upstream consumes the events (cheap: one atomic load). */
static inline gboolean
sm_durable_wanted (SmDurable * d)
{
  return g_atomic_int_get (&d->wanted);
}

G_END_DECLS
