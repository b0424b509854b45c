/* gst-sharedmatrix: the checkpoint file format (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A checkpoint is a .npy file with a 24-byte trailer after the array data:
 * "GSTSMCK1", the matrix version and the last applied producer offset
 * (G_MAXUINT64 = none), both little-endian guint64. numpy.load reads the
 * array and ignores the trailer.
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

G_END_DECLS
