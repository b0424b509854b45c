/* gst-sharedmatrix: the checkpoint file format
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "checkpoint.h"
#include "file-io.h"

#include <string.h>
#include <unistd.h>

#define CHECKPOINT_MAGIC "GSTSMCK1"

G_STATIC_ASSERT (SM_CHECKPOINT_TRAILER_SIZE == 8 + 8 + 8);

void
sm_checkpoint_write_trailer (guint8 * dest, guint64 version,
    guint64 last_offset)
{
  guint64 le;

  memcpy (dest, CHECKPOINT_MAGIC, 8);
  le = GUINT64_TO_LE (version);
  memcpy (dest + 8, &le, 8);
  le = GUINT64_TO_LE (last_offset);
  memcpy (dest + 16, &le, 8);
}

gboolean
sm_checkpoint_read_trailer (const gchar * path, gsize data_end,
    guint64 * version, guint64 * last_offset, GError ** error)
{
  GMappedFile *file;
  const guint8 *p;
  gsize length;
  gboolean ok = FALSE;
  int fd;

  fd = sm_file_open_regular (path, "checkpoint file", NULL, error);
  if (fd < 0)
    return FALSE;
  file = g_mapped_file_new_from_fd (fd, FALSE, error);
  /* the mapping, if any, stays valid after close */
  close (fd);
  if (file == NULL)
    return FALSE;
  length = g_mapped_file_get_length (file);
  p = (const guint8 *) g_mapped_file_get_contents (file);
  if (length != data_end + SM_CHECKPOINT_TRAILER_SIZE ||
      memcmp (p + data_end, CHECKPOINT_MAGIC, 8) != 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_NPY,
        "%s is a .npy file but not a checkpoint: expected %" G_GSIZE_FORMAT
        " bytes ending in a " CHECKPOINT_MAGIC " trailer, found %"
        G_GSIZE_FORMAT " bytes", path, data_end + SM_CHECKPOINT_TRAILER_SIZE,
        length);
  } else {
    guint64 le;

    memcpy (&le, p + data_end + 8, 8);
    *version = GUINT64_FROM_LE (le);
    memcpy (&le, p + data_end + 16, 8);
    *last_offset = GUINT64_FROM_LE (le);
    ok = TRUE;
  }
  g_mapped_file_unref (file);
  return ok;
}
