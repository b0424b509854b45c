/* gst-sharedmatrix: the "sharedmatrix-durable" upstream event
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sharedmatrix-durable.h"

void
sm_durable_init (SmDurable * d, GstPad * sinkpad)
{
  g_mutex_init (&d->lock);
  g_queue_init (&d->queued);
  d->sinkpad = sinkpad;
  d->wanted = FALSE;
}

void
sm_durable_clear (SmDurable * d)
{
  g_queue_clear (&d->queued);
  g_mutex_clear (&d->lock);
}

/* Streaming thread, on each CAPS event: whether an element upstream wants
 * the events (answers the sharedmatrix-durable query). */
void
sm_durable_ask_upstream (SmDurable * d)
{
  GstQuery *query = sm_durable_query_new ();
  gboolean wanted = gst_pad_peer_query (d->sinkpad, query);

  gst_query_unref (query);
  g_atomic_int_set (&d->wanted, wanted);
}

/* Tells upstream that buffers with OFFSET <= @offset are durable
 * (nothing when there is no OFFSET or nobody upstream wants to know). */
void
sm_durable_send (SmDurable * d, guint64 offset)
{
  if (offset == GST_BUFFER_OFFSET_NONE || !sm_durable_wanted (d))
    return;
  gst_pad_push_event (d->sinkpad, sm_durable_event_new (offset));
}

/* Before a checkpoint holding @last_offset is handed to the writer: the
 * writer writes in order and reports every job, so the reports pop these
 * in order. */
void
sm_durable_checkpoint_queued (SmDurable * d, guint64 last_offset)
{
  guint64 *v = g_new (guint64, 1);

  *v = last_offset;
  g_mutex_lock (&d->lock);
  g_queue_push_tail (&d->queued, v);
  g_mutex_unlock (&d->lock);
}

/* The writer refused the last one queued (no copy could be taken). */
void
sm_durable_checkpoint_not_queued (SmDurable * d)
{
  g_mutex_lock (&d->lock);
  g_free (g_queue_pop_tail (&d->queued));
  g_mutex_unlock (&d->lock);
}

/* On the writer thread: the oldest queued checkpoint was written (@ok) or
 * not; only a written one makes its offsets durable. */
void
sm_durable_checkpoint_written (SmDurable * d, gboolean ok)
{
  guint64 *v;

  g_mutex_lock (&d->lock);
  v = g_queue_pop_head (&d->queued);
  g_mutex_unlock (&d->lock);
  if (v && ok)
    sm_durable_send (d, *v);
  g_free (v);
}
