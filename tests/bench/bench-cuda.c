/* gst-sharedmatrix: CUDA backend benchmark
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Prints figures, never passes or fails on time. On a machine with a usable
 * GPU it measures, for the library's update path (host grouping, pinned
 * staging, asynchronous copy and scatter kernel):
 *
 *   enqueue latency   gst_shared_matrix_update () returning (the update is
 *                     queued on the matrix's stream, not yet applied)
 *   applied latency   an update followed by a one-row gather, which waits
 *                     for the stream: the time until the update is visible
 *   throughput        many updates back to back, then one wait
 *   full round trip   get_value + set_value of the whole matrix, the
 *                     Theano get_value/set_value pattern the in-place path
 *                     replaces
 *
 * Usage: bench-cuda [--rows N] [--cols N] [--batch N] [--updates N]
 *                   [--dtype float32|float64|float16|bfloat16]
 *                   [--op set|add|sub|mul|min|max] [--backend cuda|cpu|auto]
 *
 * Without a usable CUDA device, --backend cuda (the default) prints why and
 * exits 77 (--backend cpu runs the same measurements on the CPU backend).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gstsharedmatrix.h"

#define N_DISTINCT_UPDATES 32

static guint64
rng_next (guint64 * s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static void
print_latency (const gchar * what, double *us, guint n)
{
  double sum = 0;
  guint i;

  qsort (us, n, sizeof (double), compare_doubles);
  for (i = 0; i < n; i++)
    sum += us[i];
  g_print ("%-18s mean %9.1f us   p50 %9.1f us   p99 %9.1f us   max %9.1f us"
      "   (%u samples)\n", what, sum / n, us[n / 2], us[(guint) (n * 0.99)],
      us[n - 1], n);
}

static gint
enum_value (GType type, const gchar * nick, const gchar * what)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value_by_nick (klass, nick);
  gint value;

  if (v == NULL) {
    g_printerr ("unknown %s '%s'\n", what, nick);
    exit (2);
  }
  value = v->value;
  g_type_class_unref (klass);
  return value;
}

int
main (int argc, char **argv)
{
  guint64 rows = 70000;
  gint cols = 100, batch = 200, updates = 2000;
  gchar *dtype_s = NULL, *op_s = NULL, *backend_s = NULL;
  GOptionEntry entries[] = {
    {"rows", 0, 0, G_OPTION_ARG_INT64, &rows, "matrix rows (70000)", "N"},
    {"cols", 0, 0, G_OPTION_ARG_INT, &cols, "matrix cols (100)", "N"},
    {"batch", 0, 0, G_OPTION_ARG_INT, &batch, "rows per update (200)", "N"},
    {"updates", 0, 0, G_OPTION_ARG_INT, &updates, "updates timed (2000)", "N"},
    {"dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_s, "matrix and delta dtype "
          "(float32)", "DTYPE"},
    {"op", 0, 0, G_OPTION_ARG_STRING, &op_s, "op (add)", "OP"},
    {"backend", 0, 0, G_OPTION_ARG_STRING, &backend_s, "backend (cuda)",
        "BACKEND"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- CUDA backend benchmark");
  GstSharedMatrixDType dtype;
  GstSharedMatrixOp op;
  GstSharedMatrixBackend backend;
  GError *err = NULL;
  GstSharedMatrix *m;
  gint32 *idx[N_DISTINCT_UPDATES];
  guint8 *deltas[N_DISTINCT_UPDATES];
  gint32 probe_row = 0;
  GBytes *probe_idx;
  double *lat;
  gsize dsize;
  guint64 s = 1;
  gint64 t0, t1;
  gint i, k;

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (rows < 1 || cols < 1 || batch < 1 || updates < 10) {
    g_printerr ("rows, cols and batch must be >= 1, updates >= 10\n");
    return 2;
  }
  dtype = enum_value (GST_TYPE_SHARED_MATRIX_DTYPE, dtype_s ? dtype_s :
      "float32", "dtype");
  op = enum_value (GST_TYPE_SHARED_MATRIX_OP, op_s ? op_s : "add", "op");
  backend = enum_value (GST_TYPE_SHARED_MATRIX_BACKEND, backend_s ? backend_s
      : "cuda", "backend");

  m = gst_shared_matrix_new (rows, cols, dtype, backend, &err);
  if (m == NULL) {
    g_print ("bench-cuda: nothing measured: %s\n", err->message);
    return err->code == GST_SHARED_MATRIX_ERROR_BACKEND ? 77 : 1;
  }
  g_print ("matrix %" G_GUINT64_FORMAT " x %d %s on the %s backend; updates "
      "of %d rows, op %s, deltas %s\n", rows, cols,
      gst_shared_matrix_dtype_to_string (dtype),
      gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend (m)),
      batch, op_s ? op_s : "add", gst_shared_matrix_dtype_to_string (dtype));

  /* the update data, made before timing */
  dsize = gst_shared_matrix_dtype_size (dtype);
  for (k = 0; k < N_DISTINCT_UPDATES; k++) {
    idx[k] = g_new (gint32, batch);
    deltas[k] = g_malloc ((gsize) batch * cols * dsize);
    for (i = 0; i < batch; i++)
      idx[k][i] = (gint32) (rng_next (&s) % rows);
    for (i = 0; i < batch * cols; i++) {
      /* small values: mul/add stay finite over many updates */
      double v = 1.0 + ((rng_next (&s) >> 11) * (1.0 / 9007199254740992.0)
          - 0.5) * 1e-3;
      float f = (float) v;
      guint16 h;

      switch (dtype) {
        case GST_SHARED_MATRIX_DTYPE_FLOAT32:
          memcpy (deltas[k] + i * 4, &f, 4);
          break;
        case GST_SHARED_MATRIX_DTYPE_FLOAT64:
          memcpy (deltas[k] + i * 8, &v, 8);
          break;
        case GST_SHARED_MATRIX_DTYPE_FLOAT16:
          h = 0x3c00;           /* 1.0 */
          memcpy (deltas[k] + i * 2, &h, 2);
          break;
        default:
          h = 0x3f80;           /* 1.0 */
          memcpy (deltas[k] + i * 2, &h, 2);
          break;
      }
    }
  }
  probe_idx = g_bytes_new (&probe_row, sizeof probe_row);
  lat = g_new (double, updates);

#define UPDATE(k) \
  gst_shared_matrix_update (m, op, idx[(k) % N_DISTINCT_UPDATES], batch, \
      GST_SHARED_MATRIX_INDEX_TYPE_INT32, deltas[(k) % N_DISTINCT_UPDATES], \
      dtype, GST_SHARED_MATRIX_INVALID_INDEX_ERROR, \
      GST_SHARED_MATRIX_NON_FINITE_APPLY, NULL, NULL)
#define WAIT() \
  g_bytes_unref (gst_shared_matrix_gather_bytes (m, probe_idx, \
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, NULL))

  /* warm up: staging slots, kernels loaded, caches */
  for (k = 0; k < 50; k++)
    UPDATE (k);
  WAIT ();

  for (k = 0; k < updates; k++) {
    t0 = g_get_monotonic_time ();
    UPDATE (k);
    lat[k] = (double) (g_get_monotonic_time () - t0);
  }
  WAIT ();
  print_latency ("enqueue latency", lat, updates);

  for (k = 0; k < updates / 10; k++) {
    t0 = g_get_monotonic_time ();
    UPDATE (k);
    WAIT ();
    lat[k] = (double) (g_get_monotonic_time () - t0);
  }
  print_latency ("applied latency", lat, updates / 10);

  t0 = g_get_monotonic_time ();
  for (k = 0; k < updates; k++)
    UPDATE (k);
  WAIT ();
  t1 = g_get_monotonic_time ();
  {
    double sec = (t1 - t0) / 1e6;
    double bytes = (double) updates * batch * (4 + cols * dsize);

    g_print ("throughput         %.0f updates/s, %.3g rows/s, %.3g GB/s of "
        "update data (%d updates in %.3f s)\n", updates / sec,
        updates * (double) batch / sec, bytes / sec / 1e9, updates, sec);
  }

  {
    GBytes *all;
    gint reps = 5;

    t0 = g_get_monotonic_time ();
    for (k = 0; k < reps; k++) {
      all = gst_shared_matrix_get_value (m);
      if (all == NULL || !gst_shared_matrix_set_value (m, all, &err)) {
        g_print ("full round trip    failed: %s\n", err ? err->message :
            "no host memory");
        break;
      }
      g_bytes_unref (all);
    }
    t1 = g_get_monotonic_time ();
    if (k == reps)
      g_print ("full round trip    %.1f us per get_value + set_value of %.3g "
          "bytes (the copy-out/copy-in an in-place update avoids)\n",
          (t1 - t0) / (double) reps, (double) rows * cols * dsize);
  }

  for (k = 0; k < N_DISTINCT_UPDATES; k++) {
    g_free (idx[k]);
    g_free (deltas[k]);
  }
  g_bytes_unref (probe_idx);
  g_free (lat);
  g_free (dtype_s);
  g_free (op_s);
  g_free (backend_s);
  gst_object_unref (m);
  return 0;
}
