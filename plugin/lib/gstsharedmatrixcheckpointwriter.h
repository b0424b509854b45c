/* gst-sharedmatrix: checkpoints written on a thread of their own
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

/**
 * GstSharedMatrixCheckpointWriter:
 *
 * Writes checkpoints of a matrix on a thread of its own (opaque; see
 * gst_shared_matrix_checkpoint_writer_new()).
 */
typedef struct _GstSharedMatrixCheckpointWriter GstSharedMatrixCheckpointWriter;

/**
 * GstSharedMatrixCheckpointWrittenFunc:
 * @path: the checkpoint file
 * @error: (nullable): why the file was not written, %NULL when it was
 * @user_data: the data passed to gst_shared_matrix_checkpoint_writer_new()
 *
 * Told the outcome of every checkpoint write, on the thread that wrote it.
 * A failed write leaves the previous checkpoint in place.
 */
typedef void (*GstSharedMatrixCheckpointWrittenFunc) (const gchar * path,
    const GError * error, gpointer user_data);

GST_SHARED_MATRIX_API
GstSharedMatrixCheckpointWriter *gst_shared_matrix_checkpoint_writer_new
    (GstSharedMatrixCheckpointWrittenFunc written, gpointer user_data,
    GDestroyNotify notify);
GST_SHARED_MATRIX_API
void gst_shared_matrix_checkpoint_writer_free (GstSharedMatrixCheckpointWriter
    * writer);
GST_SHARED_MATRIX_API
guint gst_shared_matrix_checkpoint_writer_get_queued
    (GstSharedMatrixCheckpointWriter * writer);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_checkpoint_writer_save
    (GstSharedMatrixCheckpointWriter * writer, GstSharedMatrix * matrix,
    const gchar * path, guint64 last_offset, gboolean wait, GError ** error);

G_END_DECLS
