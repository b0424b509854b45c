/* gst-sharedmatrix: the checkpoint file format (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A checkpoint is a .npy file with a 24-byte trailer after the array data:
 * "GSTSMCK1", the matrix version and the last applied producer offset
 * (G_MAXUINT64 = none), both little-endian guint64. numpy.load reads the
 * array and ignores the trailer.
 *
 * A matrix with an optimizer (optimizer.c) writes version 2 instead: after
 * the array data come its optimizer state values (float32, little-endian,
 * slot 0 then slot 1), then a 48-byte trailer: "GSTSMCK2", the version, the
 * last offset, the optimizer (guint32), 4 zero bytes, the optimizer's step
 * count and the size of the state values in bytes (guint64 each). A file
 * ends in either trailer; version 1 files stay readable, and matrices
 * without an optimizer still write version 1.
 */
#pragma once

#include "gstsharedmatrixtypes.h"

G_BEGIN_DECLS

#define SM_CHECKPOINT_TRAILER_SIZE 24

/* Writes the trailer into @dest (SM_CHECKPOINT_TRAILER_SIZE bytes). */
void sm_checkpoint_write_trailer (guint8 * dest, guint64 version,
    guint64 last_offset);

/* Reads the trailer of the checkpoint file @path, whose array data ends
 * @data_end bytes into the file (the .npy header size plus the array size).
 * A file that does not end in a trailer right there is not a checkpoint:
 * FALSE with GST_SHARED_MATRIX_ERROR_NPY saying so. */
gboolean sm_checkpoint_read_trailer (const gchar * path, gsize data_end,
    guint64 * version, guint64 * last_offset, GError ** error);

#define SM_CHECKPOINT_TRAILER2_SIZE 48

typedef struct
{
  guint64 version;
  guint64 last_offset;
  guint32 optimizer;            /* GstSharedMatrixOptimizer; 0 in version 1 */
  guint64 step;
  guint64 state_bytes;
} SmCheckpointInfo;

/* Writes a version 2 trailer into @dest (SM_CHECKPOINT_TRAILER2_SIZE). */
void sm_checkpoint_write_trailer2 (guint8 * dest,
    const SmCheckpointInfo * info);

/* Reads either trailer of the checkpoint @path whose array data ends at
 * @data_end; *state gets the state values of a version 2 file (NULL for
 * version 1). */
gboolean sm_checkpoint_read (const gchar * path, gsize data_end,
    SmCheckpointInfo * info, GBytes ** state, GError ** error);

G_END_DECLS
