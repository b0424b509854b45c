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

#define CHECKPOINT2_MAGIC "GSTSMCK2"

G_STATIC_ASSERT (SM_CHECKPOINT_TRAILER2_SIZE == 8 + 8 + 8 + 4 + 4 + 8 + 8);

static void
put_u64 (guint8 * dest, guint64 v)
{
  v = GUINT64_TO_LE (v);
  memcpy (dest, &v, 8);
}

static guint64
get_u64 (const guint8 * p)
{
  guint64 v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

void
sm_checkpoint_write_trailer2 (guint8 * dest, const SmCheckpointInfo * info)
{
  guint32 opt = GUINT32_TO_LE (info->optimizer);

  memcpy (dest, CHECKPOINT2_MAGIC, 8);
  put_u64 (dest + 8, info->version);
  put_u64 (dest + 16, info->last_offset);
  memcpy (dest + 24, &opt, 4);
  memset (dest + 28, 0, 4);
  put_u64 (dest + 32, info->step);
  put_u64 (dest + 40, info->state_bytes);
}

gboolean
sm_checkpoint_read (const gchar * path, gsize data_end,
    SmCheckpointInfo * info, GBytes ** state, GError ** error)
{
  GMappedFile *file;
  const guint8 *p;
  gsize length;
  int fd;

  memset (info, 0, sizeof *info);
  *state = NULL;
  fd = sm_file_open_regular (path, "checkpoint file", NULL, error);
  if (fd < 0)
    return FALSE;
  file = g_mapped_file_new_from_fd (fd, FALSE, error);
  close (fd);
  if (file == NULL)
    return FALSE;
  length = g_mapped_file_get_length (file);
  p = (const guint8 *) g_mapped_file_get_contents (file);

  if (length == data_end + SM_CHECKPOINT_TRAILER_SIZE &&
      memcmp (p + data_end, CHECKPOINT_MAGIC, 8) == 0) {
    info->version = get_u64 (p + data_end + 8);
    info->last_offset = get_u64 (p + data_end + 16);
  } else if (length >= data_end + SM_CHECKPOINT_TRAILER2_SIZE &&
      memcmp (p + length - SM_CHECKPOINT_TRAILER2_SIZE, CHECKPOINT2_MAGIC,
          8) == 0 &&
      get_u64 (p + length - 8) == length - data_end -
      SM_CHECKPOINT_TRAILER2_SIZE) {
    const guint8 *t = p + length - SM_CHECKPOINT_TRAILER2_SIZE;
    guint32 opt;

    info->version = get_u64 (t + 8);
    info->last_offset = get_u64 (t + 16);
    memcpy (&opt, t + 24, 4);
    info->optimizer = GUINT32_FROM_LE (opt);
    info->step = get_u64 (t + 32);
    info->state_bytes = get_u64 (t + 40);
    *state = g_bytes_new (p + data_end, info->state_bytes);
  } else {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_NPY,
        "%s is a .npy file but not a checkpoint: expected the array data "
        "(ending at byte %" G_GSIZE_FORMAT ") followed by a " CHECKPOINT_MAGIC
        " trailer, or by optimizer state and a " CHECKPOINT2_MAGIC
        " trailer; found %" G_GSIZE_FORMAT " bytes", path, data_end, length);
    g_mapped_file_unref (file);
    return FALSE;
  }
  g_mapped_file_unref (file);
  return TRUE;
}

gboolean
sm_checkpoint_read_trailer (const gchar * path, gsize data_end,
    guint64 * version, guint64 * last_offset, GError ** error)
{
  SmCheckpointInfo info;
  GBytes *state;

  if (!sm_checkpoint_read (path, data_end, &info, &state, error))
    return FALSE;
  g_clear_pointer (&state, g_bytes_unref);
  *version = info.version;
  *last_offset = info.last_offset;
  return TRUE;
}
