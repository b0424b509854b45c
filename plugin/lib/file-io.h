/* gst-sharedmatrix: how the library opens and writes files (private)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every file the library reads is opened with sm_file_open_regular (), and
 * every file it writes is written with sm_write_file_atomic (): one place
 * decides what a path may name and how a crash may leave it.
 */
#pragma once

#include <sys/stat.h>

#include "gstsharedmatrixtypes.h"

G_BEGIN_DECLS

/* Opens @path read-only and returns the descriptor, after checking that it
 * names a regular file (@st, if not NULL, receives its fstat ()). The open
 * does not block: a FIFO with no writer would otherwise hang open ()
 * forever, before any check could run. FIFOs, directories, devices and
 * sockets are refused with GST_SHARED_MATRIX_ERROR_FILE and a message
 * naming the path, what it is and that a regular file is needed; @what
 * says which file it was meant to be (".npy file", "checkpoint file"). Returns
 * -1 with @error on failure. */
int sm_file_open_regular (const gchar * path, const gchar * what,
    struct stat * st, GError ** error);

/* Write @contents to @path atomically: temporary file in the same directory,
 * fsync, rename over @path, fsync of the directory. A crash at any instant
 * leaves either the old file or the new one. Whatever @path named before (a
 * regular file, a FIFO, a symbolic link) is replaced by the new file; a
 * directory in the way is an error. */
gboolean sm_write_file_atomic (const gchar * path,
    const guint8 * contents, gsize size, GError ** error);

G_END_DECLS
