/* gst-sharedmatrix: optimizer step times (a benchmark, never a test)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * For each shape (70,000 x 100 float32 with 200 rows per update, and
 * 1,000,000 x 128 with 4,096) and backend: the time of one plain `add`
 * update and of one step of each optimizer on the same rows, side by side
 * with each one's bandwidth bound: the bytes it must move (gradient rows
 * read; matrix rows and state read and written) divided by the memcpy
 * bandwidth measured in the same run. Prints figures and ratios; targets
 * (rowwise-adagrad <= 1.3 x add, adagrad and adam <= 2.5 x) are reported,
 * never asserted.
 *
 *   bench-optimizers [cpu|cuda] [iterations]
 */
#include <string.h>

#include "gstsharedmatrix.h"

static double
memcpy_gbps (void)
{
  gsize size = 256u << 20;
  guint8 *a = g_malloc (size), *b = g_malloc (size);
  gint64 t0;
  double best = 0;
  int i;

  memset (a, 1, size);
  memset (b, 2, size);
  for (i = 0; i < 5; i++) {
    double s;

    t0 = g_get_monotonic_time ();
    memcpy (b, a, size);
    s = (g_get_monotonic_time () - t0) / 1e6;
    /* memcpy reads and writes every byte */
    best = MAX (best, 2.0 * size / s / 1e9);
  }
  g_free (a);
  g_free (b);
  return best;
}

static guint64 rng = 88172645463325252ull;

static guint64
next (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int
main (int argc, char **argv)
{
  static const struct
  {
    guint64 rows;
    guint cols;
    gsize n;
  } shapes[] = { {70000, 100, 200}, {1000000, 128, 4096} };
  static const gchar *names[] = { "add", "sgd", "adagrad", "rowwise-adagrad",
    "adam"
  };
  GstSharedMatrixBackend backend = argc > 1 && !strcmp (argv[1], "cuda") ?
      GST_SHARED_MATRIX_BACKEND_CUDA : GST_SHARED_MATRIX_BACKEND_CPU;
  int iters = argc > 2 ? atoi (argv[2]) : 300;
  double bw = memcpy_gbps ();
  guint si;

  gst_init (&argc, &argv);
  g_print ("memcpy bandwidth %.1f GB/s (read + write); backend %s\n", bw,
      gst_shared_matrix_backend_to_string (backend));
  g_print ("%-10s %-16s %10s %8s %10s %8s\n", "shape", "step", "us/update",
      "x add", "bound us", "x bound");
  for (si = 0; si < G_N_ELEMENTS (shapes); si++) {
    guint64 rows = shapes[si].rows;
    guint cols = shapes[si].cols;
    gsize n = shapes[si].n, i;
    gint32 *idx = g_new (gint32, n * 16);
    float *g = g_new (float, n * cols);
    double add_us = 0;
    int o;

    for (i = 0; i < n * 16; i++)
      idx[i] = (gint32) (next () % rows);
    for (i = 0; i < n * cols; i++)
      g[i] = (float) ((next () % 2001) / 1000.0 - 1.0) * 1e-3f;

    for (o = 0; o < 5; o++) {
      GError *err = NULL;
      GstSharedMatrix *m = gst_shared_matrix_new (rows, cols,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, backend, &err);
      gsize state_per_row = o == 2 ? cols * 4 : o == 3 ? 4 : o == 4 ?
          2 * cols * 4 : 0;
      double bytes, us, bound;
      gint64 t0;
      int it;

      if (m == NULL) {
        g_printerr ("%s\n", err->message);
        return 1;
      }
      if (o > 0)
        gst_shared_matrix_set_optimizer (m, o, NULL);
      /* warm: touch the matrix and state */
      for (it = 0; it < 16; it++) {
        if (o == 0)
          gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD,
              idx + (it % 16) * n, n, GST_SHARED_MATRIX_INDEX_TYPE_INT32, g,
              GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL);
        else
          gst_shared_matrix_apply_gradients (m, idx + (it % 16) * n, n,
              GST_SHARED_MATRIX_INDEX_TYPE_INT32, g,
              GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL, NULL);
      }
      g_bytes_unref (gst_shared_matrix_get_value (m));    /* synchronise */
      t0 = g_get_monotonic_time ();
      for (it = 0; it < iters; it++) {
        if (o == 0)
          gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD,
              idx + (it % 16) * n, n, GST_SHARED_MATRIX_INDEX_TYPE_INT32, g,
              GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL);
        else
          gst_shared_matrix_apply_gradients (m, idx + (it % 16) * n, n,
              GST_SHARED_MATRIX_INDEX_TYPE_INT32, g,
              GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL, NULL);
      }
      gst_shared_matrix_get_version (m);
      us = (g_get_monotonic_time () - t0) / (double) iters;
      /* gradients + indices read, rows and state read and written */
      bytes = n * (cols * 4.0 + 4) + n * (2.0 * cols * 4 + 2.0 *
          state_per_row);
      bound = bytes / (bw * 1e9) * 1e6;
      if (o == 0)
        add_us = us;
      g_print ("%-10s %-16s %10.1f %8.2f %10.1f %8.2f\n",
          si == 0 ? "70000x100" : "1Mx128", names[o], us, us / add_us,
          bound, us / bound);
      gst_object_unref (m);
    }
    g_free (idx);
    g_free (g);
  }
  return 0;
}
