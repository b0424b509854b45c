/* gst-sharedmatrix: opening files to read, writing files atomically
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "file-io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* ---- reading ------------------------------------------------------------ */

/* What a path that is not a regular file names, for messages */
static const gchar *
describe_mode (mode_t mode)
{
  if (S_ISDIR (mode))
    return g_strerror (EISDIR);
  if (S_ISFIFO (mode))
    return "it is a FIFO (named pipe)";
  if (S_ISCHR (mode))
    return "it is a character device";
  if (S_ISBLK (mode))
    return "it is a block device";
  if (S_ISSOCK (mode))
    return "it is a socket";
  return "not a regular file";
}

int
sm_file_open_regular (const gchar * path, const gchar * what,
    struct stat *st, GError ** error)
{
  struct stat local_st;
  int fd, flags, saved_errno;

  if (st == NULL)
    st = &local_st;

  /* O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer,
   * possibly forever; for a regular file it changes nothing. Checking the
   * type after the open (fstat) rather than before (stat) leaves no window
   * in which the path could be swapped. */
  do {
    fd = g_open (path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    saved_errno = errno;
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: cannot open the %s: %s", path, what, g_strerror (saved_errno));
    return -1;
  }

  if (fstat (fd, st) < 0) {
    saved_errno = errno;
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: cannot stat the %s: %s", path, what, g_strerror (saved_errno));
    goto failed;
  }
  if (!S_ISREG (st->st_mode)) {
    /* pipes and devices cannot be mapped and have no reliable size */
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: cannot read the %s: %s; only a regular %s can be read",
        path, what, describe_mode (st->st_mode), what);
    goto failed;
  }

  /* back to ordinary blocking reads */
  flags = fcntl (fd, F_GETFL);
  if (flags < 0 || fcntl (fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
    saved_errno = errno;
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: cannot set up the %s for reading: %s", path, what,
        g_strerror (saved_errno));
    goto failed;
  }
  return fd;

failed:
  close (fd);
  return -1;
}

/* ---- atomic writing ---------------------------------------------------- */

static gboolean
write_all (int fd, const guint8 * contents, gsize size, int *saved_errno)
{
  gsize done = 0;

  while (done < size) {
    /* Linux writes at most ~2 GiB per call anyway; asking for less keeps the
     * count within ssize_t everywhere. */
    gssize n = write (fd, contents + done, MIN (size - done, 1U << 30));

    if (n < 0) {
      if (errno == EINTR)
        continue;
      *saved_errno = errno;
      return FALSE;
    }
    if (n == 0) {
      /* should not happen on a regular file; do not spin */
      *saved_errno = ENOSPC;
      return FALSE;
    }
    done += n;
  }

  return TRUE;
}

static int
fsync_retry (int fd)
{
  int ret;

  do {
    ret = fsync (fd);
  } while (ret < 0 && errno == EINTR);

  return ret;
}

gboolean
sm_write_file_atomic (const gchar * path,
    const guint8 * contents, gsize size, GError ** error)
{
  gchar *tmp_path, *dir;
  const gchar *step;
  int fd, dir_fd, saved_errno = 0;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (contents != NULL || size == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Same directory as @path, so that rename () is atomic (same filesystem).
   * 0666 minus the umask, as for any new file, so that other users can read
   * a checkpoint as they could read a file written by numpy. */
  tmp_path = g_strdup_printf ("%s.XXXXXX", path);
  fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0) {
    saved_errno = errno;
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: cannot create a temporary file next to it: %s", path,
        g_strerror (saved_errno));
    g_free (tmp_path);
    return FALSE;
  }

  step = "write";
  if (!write_all (fd, contents, size, &saved_errno))
    goto failed_open;

  /* the data must be on disk before the rename makes it visible as @path,
   * or a crash could leave @path pointing at an empty or partial file */
  step = "sync";
  if (fsync_retry (fd) < 0) {
    saved_errno = errno;
    goto failed_open;
  }

  step = "close";
  /* close () can report a deferred write error (NFS); never retry it, the
   * descriptor is gone either way */
  if (close (fd) < 0) {
    saved_errno = errno;
    goto failed_closed;
  }

  step = "rename";
  if (g_rename (tmp_path, path) < 0) {
    saved_errno = errno;
    goto failed_closed;
  }
  g_free (tmp_path);

  /* make the rename itself durable */
  dir = g_path_get_dirname (path);
  do {
    dir_fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC, 0);
  } while (dir_fd < 0 && errno == EINTR);
  if (dir_fd < 0) {
    saved_errno = errno;
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: the file was replaced but its directory %s could not be opened "
        "to sync it: %s", path, dir, g_strerror (saved_errno));
    g_free (dir);
    return FALSE;
  }
  if (fsync_retry (dir_fd) < 0 && errno != EINVAL && errno != ENOTSUP) {
    /* EINVAL / ENOTSUP: the filesystem cannot sync directories at all, and
     * there is nothing more we could do there */
    saved_errno = errno;
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: the file was replaced but its directory %s could not be synced: "
        "%s", path, dir, g_strerror (saved_errno));
    close (dir_fd);
    g_free (dir);
    return FALSE;
  }
  close (dir_fd);
  g_free (dir);

  return TRUE;

failed_open:
  close (fd);
failed_closed:
  g_unlink (tmp_path);
  g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
      "%s: cannot %s the temporary file %s: %s", path, step, tmp_path,
      g_strerror (saved_errno));
  g_free (tmp_path);
  return FALSE;
}
