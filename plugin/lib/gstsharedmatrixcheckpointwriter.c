/* gst-sharedmatrix: checkpoints written on a thread of their own
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:gstsharedmatrixcheckpointwriter
 * @title: Checkpoint writer
 *
 * Takes the copy of a checkpoint on the caller's thread (cheap: one copy of
 * the matrix, consistent with the last offset the caller names) and writes
 * the file (atomically, with fsync: slow) on one thread of its own, in
 * order. The `sharedmatrix` element uses it so that streaming never waits
 * for a disk.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsharedmatrixcheckpointwriter.h"

struct _GstSharedMatrixCheckpointWriter
{
  GThreadPool *pool;            /* one thread: the files land in order */
  GstSharedMatrixCheckpointWrittenFunc written;
  gpointer user_data;
  GDestroyNotify notify;
};

typedef struct
{
  gchar *path;
  GBytes *contents;
} Job;

/* Runs on the writer thread (or the caller's, when it waits). */
static void
write_job (gpointer data, gpointer user_data)
{
  GstSharedMatrixCheckpointWriter *writer = user_data;
  Job *job = data;
  GError *err = NULL;

  gst_shared_matrix_write_checkpoint (job->path, job->contents, &err);
  if (writer->written)
    writer->written (job->path, err, writer->user_data);
  g_clear_error (&err);
  g_free (job->path);
  g_bytes_unref (job->contents);
  g_free (job);
}

static GThreadPool *
new_pool (GstSharedMatrixCheckpointWriter * writer)
{
  return g_thread_pool_new (write_job, writer, 1, FALSE, NULL);
}

/**
 * gst_shared_matrix_checkpoint_writer_new: (skip)
 * @written: (nullable): told the outcome of each write, on the writing thread
 * @user_data: data for @written
 * @notify: (nullable): frees @user_data with the writer
 *
 * Creates a writer with one thread of its own.
 *
 * Returns: (transfer full): a new writer, free it with
 *   gst_shared_matrix_checkpoint_writer_free()
 */
GstSharedMatrixCheckpointWriter *
gst_shared_matrix_checkpoint_writer_new (GstSharedMatrixCheckpointWrittenFunc
    written, gpointer user_data, GDestroyNotify notify)
{
  GstSharedMatrixCheckpointWriter *writer =
      g_new0 (GstSharedMatrixCheckpointWriter, 1);

  writer->written = written;
  writer->user_data = user_data;
  writer->notify = notify;
  writer->pool = new_pool (writer);
  return writer;
}

/**
 * gst_shared_matrix_checkpoint_writer_free: (skip)
 * @writer: (transfer full) (nullable): a writer
 *
 * Finishes the writes queued, then frees @writer.
 */
void
gst_shared_matrix_checkpoint_writer_free (GstSharedMatrixCheckpointWriter *
    writer)
{
  if (writer == NULL)
    return;
  g_thread_pool_free (writer->pool, FALSE, TRUE);
  if (writer->notify)
    writer->notify (writer->user_data);
  g_free (writer);
}

/**
 * gst_shared_matrix_checkpoint_writer_get_queued: (skip)
 * @writer: a writer
 *
 * Gets the number of checkpoints waiting for the writer thread (not
 * counting the one it is writing). A caller that checkpoints periodically
 * skips one while this is not 0, so that a slow disk costs checkpoints, not
 * memory.
 *
 * Returns: checkpoints queued
 */
guint
gst_shared_matrix_checkpoint_writer_get_queued (GstSharedMatrixCheckpointWriter
    * writer)
{
  g_return_val_if_fail (writer != NULL, 0);
  return g_thread_pool_unprocessed (writer->pool);
}

/**
 * gst_shared_matrix_checkpoint_writer_save: (skip)
 * @writer: a writer
 * @matrix: the matrix to checkpoint
 * @path: the checkpoint file
 * @last_offset: the producer OFFSET the matrix holds updates through
 *   (%GST_BUFFER_OFFSET_NONE: none)
 * @wait: write here and now, after the queued writes (at EOS: the file must
 *   be on disk before EOS goes on), instead of on the writer thread
 * @error: return location for a #GError
 *
 * Copies @matrix now (see gst_shared_matrix_get_checkpoint()) and writes
 * the copy to @path, atomically, on the writer thread or, when @wait, on
 * this one. Either way the outcome of the write goes to the writer's
 * #GstSharedMatrixCheckpointWrittenFunc.
 *
 * Returns: %TRUE when the copy was taken (and the write queued or done);
 *   %FALSE with @error when the matrix could not be copied
 *   (%GST_SHARED_MATRIX_ERROR_NO_MEMORY, %GST_SHARED_MATRIX_ERROR_DEVICE):
 *   nothing is written over the previous checkpoint
 */
gboolean
gst_shared_matrix_checkpoint_writer_save (GstSharedMatrixCheckpointWriter *
    writer, GstSharedMatrix * matrix, const gchar * path, guint64 last_offset,
    gboolean wait, GError ** error)
{
  GBytes *contents;
  Job *job;

  g_return_val_if_fail (writer != NULL, FALSE);
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (matrix), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  contents = gst_shared_matrix_get_checkpoint (matrix, last_offset, error);
  if (contents == NULL)
    return FALSE;

  job = g_new0 (Job, 1);
  job->path = g_strdup (path);
  job->contents = contents;
  if (wait) {
    /* drain the queue first so the files land in order */
    g_thread_pool_free (writer->pool, FALSE, TRUE);
    writer->pool = new_pool (writer);
    write_job (job, writer);
  } else {
    g_thread_pool_push (writer->pool, job, NULL);
  }
  return TRUE;
}
