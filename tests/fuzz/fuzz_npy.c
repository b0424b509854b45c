/* gst-sharedmatrix: libFuzzer target for the .npy reader
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The input is a whole .npy file. Each run
 *   1. parses the header in memory (sm_npy_parse_header) from
 *      a buffer of exactly the input's size, so ASan sees any read past it;
 *   2. loads the same bytes as a file (a memfd, opened by path through
 *      /proc/self/fd, the way `location` is opened) with
 *      gst_shared_matrix_new_from_npy;
 * and checks, beyond what ASan/UBSan catch:
 *   - errors are in the library's domain, valid UTF-8, free of raw control
 *     bytes, and the load error names the file;
 *   - a parsed header describes something loadable: rows >= 1, 1 <= cols
 *     <= G_MAXINT, a known dtype, a data offset inside the input, and a
 *     data size that does not overflow;
 *   - the load succeeds exactly when the header parses and the data is all
 *     there, and then the matrix equals an independent conversion of the
 *     file's data (C or Fortran order, either byte order) to row-major
 *     little-endian;
 *   - writing that matrix back as .npy gives a header that parses to the
 *     same shape and dtype, 64-byte aligned, followed by the same data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gst/gst.h>

#include "fuzz-common.h"

#include "gstsharedmatrix.h"
#include "npy.h"

static int memfd = -1;
static gchar *memfd_path;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  gst_init (NULL, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  memfd = memfd_create ("fuzz-npy", MFD_CLOEXEC);
  if (memfd < 0) {
    fprintf (stderr, "fuzz_npy: memfd_create: %s\n", strerror (errno));
    abort ();
  }
  memfd_path = g_strdup_printf ("/proc/self/fd/%d", memfd);
  return 0;
}

HARNESS static void
check_error (const GError * err, const gchar * what)
{
  const gchar *s;

  CHECK (err != NULL, "%s failed without a GError", what);
  CHECK (err->domain == GST_SHARED_MATRIX_ERROR, "%s: error domain %s",
      what, g_quark_to_string (err->domain));
  CHECK (err->message && err->message[0], "%s: empty error message", what);
  CHECK (g_utf8_validate (err->message, -1, NULL), "%s: error message is "
      "not valid UTF-8", what);
  /* hostile bytes are quoted escaped, never raw */
  for (s = err->message; *s; s++)
    CHECK ((guchar) * s >= 0x20 && (guchar) * s != 0x7f, "%s: raw control "
        "byte 0x%02x in the error message: %s", what, (guchar) * s,
        err->message);
}

HARNESS static void
write_memfd (const guint8 * data, gsize size)
{
  gsize done = 0;

  CHECK (ftruncate (memfd, 0) == 0, "ftruncate: %s", strerror (errno));
  while (done < size) {
    ssize_t w = pwrite (memfd, data + done, size - done, done);

    CHECK (w > 0, "pwrite: %s", strerror (errno));
    done += w;
  }
}

/* What the loader must produce: row-major little-endian. */
HARNESS static guint8 *
expected_data (const guint8 * file, const SmNpyInfo * info,
    guint itemsize)
{
  gsize n = info->rows * info->cols, r, c, k;
  guint8 *out = g_malloc (MAX (n * itemsize, 1));
  const guint8 *src = file + info->data_offset;

  for (r = 0; r < info->rows; r++) {
    for (c = 0; c < info->cols; c++) {
      gsize from = info->fortran_order ? c * info->rows + r :
          r * info->cols + c;
      guint8 *d = out + (r * info->cols + c) * itemsize;

      for (k = 0; k < itemsize; k++)
        d[k] = src[from * itemsize + (info->big_endian ?
                itemsize - 1 - k : k)];
    }
  }
  return out;
}

HARNESS int
LLVMFuzzerTestOneInput (const guint8 * data, size_t size)
{
  SmNpyInfo info;
  GError *err = NULL;
  GstSharedMatrix *m;
  gboolean parsed, loadable = FALSE;
  guint itemsize = 0;
  guint64 nbytes = 0;

  /* ---- 1. the header, in memory ---- */
  memset (&info, 0xa5, sizeof info);
  parsed = sm_npy_parse_header (size ? data : NULL, size,
      &info, &err);
  if (!parsed) {
    check_error (err, "parse_header");
    CHECK (err->code == GST_SHARED_MATRIX_ERROR_NPY, "parse_header error "
        "code %d: %s", err->code, err->message);
    g_clear_error (&err);
  } else {
    CHECK (err == NULL, "parse_header succeeded with an error set");
    CHECK (info.dtype <= GST_SHARED_MATRIX_DTYPE_BFLOAT16, "dtype %d",
        info.dtype);
    itemsize = gst_shared_matrix_dtype_size (info.dtype);
    CHECK (info.rows >= 1 && info.cols >= 1 && info.cols <= G_MAXINT,
        "shape %" G_GUINT64_FORMAT " x %u", info.rows, info.cols);
    CHECK (info.data_offset >= 10 && info.data_offset <= size,
        "data offset %" G_GSIZE_FORMAT " of a %" G_GSIZE_FORMAT "-byte input",
        info.data_offset, (gsize) size);
    CHECK (g_uint64_checked_mul (&nbytes, info.rows, info.cols) &&
        g_uint64_checked_mul (&nbytes, nbytes, itemsize) &&
        nbytes <= G_MAXSIZE - info.data_offset,
        "shape %" G_GUINT64_FORMAT " x %u overflows", info.rows, info.cols);
    CHECK ((info.fortran_order == TRUE || info.fortran_order == FALSE) &&
        (info.big_endian == TRUE || info.big_endian == FALSE),
        "booleans not set");
    loadable = nbytes <= size - info.data_offset;
  }

  /* ---- 2. the same bytes as a file ---- */
  write_memfd (data, size);
  m = gst_shared_matrix_new_from_npy (memfd_path,
      GST_SHARED_MATRIX_BACKEND_CPU, &err);
  CHECK ((m != NULL) == loadable, "new_from_npy %s (header %s, %"
      G_GUINT64_FORMAT " data bytes needed, %" G_GSIZE_FORMAT " there): %s",
      m ? "succeeded" : "failed", parsed ? "parsed" : "rejected", nbytes,
      parsed ? size - info.data_offset : 0, err ? err->message : "no error");
  if (m == NULL) {
    check_error (err, "new_from_npy");
    CHECK (strstr (err->message, memfd_path) != NULL, "the load error does "
        "not name the file: %s", err->message);
    g_clear_error (&err);
    return 0;
  }

  {
    guint8 *want = expected_data (data, &info, itemsize);
    GBytes *value, *npy;
    SmNpyInfo info2;
    const guint8 *vdata, *ndata;
    gsize vsize, nsize;

    CHECK (gst_shared_matrix_get_rows (m) == info.rows &&
        gst_shared_matrix_get_cols (m) == info.cols &&
        (gint) gst_shared_matrix_get_dtype (m) == (gint) info.dtype &&
        gst_shared_matrix_get_version (m) == 0, "matrix %" G_GUINT64_FORMAT
        " x %u dtype %d version %" G_GUINT64_FORMAT,
        gst_shared_matrix_get_rows (m), gst_shared_matrix_get_cols (m),
        gst_shared_matrix_get_dtype (m), gst_shared_matrix_get_version (m));

    value = gst_shared_matrix_get_value (m);
    vdata = g_bytes_get_data (value, &vsize);
    CHECK (vsize == nbytes && (nbytes == 0 || memcmp (vdata, want,
                nbytes) == 0), "loaded data differs from the file's "
        "(%s order, %s-endian, %" G_GSIZE_FORMAT " bytes)",
        info.fortran_order ? "Fortran" : "C", info.big_endian ? "big" :
        "little", vsize);

    npy = gst_shared_matrix_get_value_full (m, GST_SHARED_MATRIX_FORMAT_NPY,
        NULL);
    ndata = g_bytes_get_data (npy, &nsize);
    CHECK (sm_npy_parse_header (ndata, nsize, &info2, &err),
        "our own header does not parse: %s", err ? err->message : "?");
    CHECK (info2.rows == info.rows && info2.cols == info.cols &&
        info2.dtype == info.dtype && !info2.fortran_order &&
        !info2.big_endian && info2.data_offset % 64 == 0 &&
        nsize == info2.data_offset + nbytes &&
        memcmp (ndata + info2.data_offset, vdata, nbytes) == 0,
        "written .npy does not round-trip");

    g_bytes_unref (npy);
    g_bytes_unref (value);
    g_free (want);
  }
  gst_object_unref (m);
  return 0;
}
