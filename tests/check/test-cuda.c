/* gst-sharedmatrix: the CUDA backend on a real GPU
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The semantic tests again, with backend=cuda, each compared with the CPU
 * backend (the reference) on the same input: every op x dtype x delta
 * dtype, duplicates, policies, big updates split into chunks, many updates
 * in flight, gather, set_value, npy, atomicity for readers, the element.
 *
 * Without a usable CUDA device (no driver, no device, a build without
 * CUDA, GST_SHARED_MATRIX_FORCE_CPU set) the whole program exits 77, which
 * meson reports as SKIP, after printing why. The kernel bodies themselves
 * are checked without a GPU by test-kernels.c.
 *
 * Results must be bit-identical to the CPU backend, except that a NaN may
 * carry a different payload (GPUs return the canonical NaN from arithmetic
 * on NaN, x86 propagates the operand's): NaN matches NaN.
 */
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include "gstsharedmatrix.h"
#include "sharedmatrix-ops.h"
#include "random.h"
#include "reference.h"

static GstSharedMatrix *
new_matrix (guint64 rows, guint cols, int dtype, GstSharedMatrixBackend b,
    const guint8 * initial)
{
  GError *err = NULL;
  GstSharedMatrix *m = gst_shared_matrix_new (rows, cols, dtype, b, &err);

  fail_unless (m != NULL, "new (%s): %s", b == GST_SHARED_MATRIX_BACKEND_CUDA
      ? "cuda" : "cpu", err ? err->message : "?");
  fail_unless_equals_int (gst_shared_matrix_get_backend (m), b);
  if (initial) {
    GBytes *bytes = g_bytes_new_static (initial,
        rows * cols * test_ref_dtype_size (dtype));

    fail_unless (gst_shared_matrix_set_value (m, bytes, &err), "%s",
        err ? err->message : "?");
    g_bytes_unref (bytes);
  }
  return m;
}

/* A CPU and a CUDA matrix holding the same random values (NaN and
 * infinities among them when @specials) */
static void
new_pair (guint64 rows, guint cols, int dtype, guint64 * s, gboolean specials,
    GstSharedMatrix ** cpu, GstSharedMatrix ** gpu)
{
  guint8 *initial = g_malloc (rows * cols * test_ref_dtype_size (dtype));

  test_rng_fill (initial, rows * cols, dtype, s, specials);
  *cpu = new_matrix (rows, cols, dtype, GST_SHARED_MATRIX_BACKEND_CPU,
      initial);
  *gpu = new_matrix (rows, cols, dtype, GST_SHARED_MATRIX_BACKEND_CUDA,
      initial);
  g_free (initial);
}

/* Equal bytes, or NaN in both. */
static void
assert_same (GBytes * cpu, GBytes * gpu, int dtype, const gchar * what)
{
  gsize a_size, b_size, i;
  const guint8 *a = g_bytes_get_data (cpu, &a_size);
  const guint8 *b = g_bytes_get_data (gpu, &b_size);
  unsigned size = test_ref_dtype_size (dtype);

  fail_unless_equals_uint64 (a_size, b_size);
  for (i = 0; i < a_size; i += size) {
    double x, y;

    if (memcmp (a + i, b + i, size) == 0)
      continue;
    x = test_ref_load (a + i, dtype);
    y = test_ref_load (b + i, dtype);
    if (isnan (x) && isnan (y))
      continue;
    fail ("%s: element %" G_GSIZE_FORMAT " differs: cpu %.17g, cuda %.17g",
        what, i / size, x, y);
  }
}

static void
assert_same_matrix (GstSharedMatrix * cpu, GstSharedMatrix * gpu,
    const gchar * what)
{
  GBytes *a = gst_shared_matrix_get_value (cpu);
  GBytes *b = gst_shared_matrix_get_value (gpu);

  assert_same (a, b, gst_shared_matrix_get_dtype (cpu), what);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (cpu),
      gst_shared_matrix_get_version (gpu));
  g_bytes_unref (a);
  g_bytes_unref (b);
}

/* Applies one update to both matrices; both must accept or both reject. */
static gboolean
update_both (GstSharedMatrix * cpu, GstSharedMatrix * gpu, int op,
    const void *idx, gsize n, gboolean int64, const void *deltas,
    int delta_dtype, GstSharedMatrixInvalidIndexPolicy inv,
    GstSharedMatrixNonFinitePolicy nf)
{
  GstSharedMatrixUpdateResult ra = { 0, }, rb = { 0, };
  GError *ea = NULL, *eb = NULL;
  GstSharedMatrixIndexType it = int64 ? GST_SHARED_MATRIX_INDEX_TYPE_INT64 :
      GST_SHARED_MATRIX_INDEX_TYPE_INT32;
  gboolean oka = gst_shared_matrix_update (cpu, op, idx, n, it, deltas,
      delta_dtype, &(GstSharedMatrixPolicies) { inv, nf }, &ra, &ea);
  gboolean okb = gst_shared_matrix_update (gpu, op, idx, n, it, deltas,
      delta_dtype, &(GstSharedMatrixPolicies) { inv, nf }, &rb, &eb);

  fail_unless_equals_int (oka, okb);
  if (!oka) {
    fail_unless_equals_int (ea->code, eb->code);
    g_clear_error (&ea);
    g_clear_error (&eb);
    return FALSE;
  }
  fail_unless_equals_uint64 (ra.rows_applied, rb.rows_applied);
  fail_unless_equals_uint64 (ra.rows_dropped_invalid, rb.rows_dropped_invalid);
  fail_unless_equals_uint64 (ra.rows_dropped_non_finite,
      rb.rows_dropped_non_finite);
  fail_unless_equals_uint64 (ra.version, rb.version);
  return TRUE;
}

/* ---- tests ----------------------------------------------------------------*/

GST_START_TEST (test_cuda_ops_match_cpu)
{
  int op = __i__ / 16, dtype = (__i__ / 4) % 4, ddt = __i__ % 4;
  guint64 s = 1000 + __i__, rows = 211;
  guint cols = 77, k;
  gsize n = 500, i;
  guint8 *deltas = g_malloc (n * cols * test_ref_dtype_size (ddt));
  gint64 *idx = g_new (gint64, n);
  GstSharedMatrix *cpu, *gpu;
  gchar *what;

  new_pair (rows, cols, dtype, &s, TRUE, &cpu, &gpu);

  /* several updates: random with duplicates, all one row, first/last */
  for (k = 0; k < 4; k++) {
    for (i = 0; i < n; i++)
      idx[i] = k == 1 ? 5 : k == 2 ? (i % 2 ? 0 : (gint64) rows - 1) :
          (gint64) (test_rng_next (&s) % rows);
    test_rng_fill (deltas, n * cols, ddt, &s, k == 3);
    fail_unless (update_both (cpu, gpu, op, idx, k == 2 ? 3 : n, TRUE,
            deltas, ddt, GST_SHARED_MATRIX_INVALID_INDEX_ERROR,
            GST_SHARED_MATRIX_NON_FINITE_APPLY));
  }
  what = g_strdup_printf ("op %s, matrix %s, deltas %s", test_ref_op_name (op),
      test_ref_dtype_name (dtype), test_ref_dtype_name (ddt));
  assert_same_matrix (cpu, gpu, what);
  g_free (what);
  gst_object_unref (cpu);
  gst_object_unref (gpu);
  g_free (deltas);
  g_free (idx);
}

GST_END_TEST;

/* Optimizer steps on the GPU: the same gradients on a CPU and a CUDA matrix
 * give the same matrix and the same state, slot by slot (adam's m and v
 * live side by side per row on the device and are read back strided). */
GST_START_TEST (test_cuda_optimizers_match_cpu)
{
  int opt = 1 + __i__ / 4, dtype = __i__ % 4;
  guint64 s = 700 + __i__, rows = 301;
  guint cols = 45, k, slot;
  gsize n = 400, i;
  guint8 *grads = g_malloc (n * cols * test_ref_dtype_size (dtype));
  gint64 *idx = g_new (gint64, n);
  GstSharedMatrixOptimizerParams params;
  GstSharedMatrix *cpu, *gpu;

  new_pair (rows, cols, dtype, &s, FALSE, &cpu, &gpu);
  fail_unless (gst_shared_matrix_set_optimizer (cpu, opt, NULL));
  fail_unless (gst_shared_matrix_set_optimizer (gpu, opt, NULL));
  gst_shared_matrix_optimizer_params_init (&params);
  for (k = 0; k < 5; k++) {
    /* duplicates in every update; weight decay in the odd ones */
    for (i = 0; i < n; i++)
      idx[i] = i % 5 ? (gint64) test_rng_below (&s, rows) : 7;
    test_rng_fill (grads, n * cols, dtype, &s, FALSE);
    params.weight_decay = k % 2 ? 0.01 : 0.0;
    fail_unless (gst_shared_matrix_apply_gradients (cpu, idx, n,
            GST_SHARED_MATRIX_INDEX_TYPE_INT64, grads, dtype, &params, NULL,
            NULL, NULL));
    fail_unless (gst_shared_matrix_apply_gradients (gpu, idx, n,
            GST_SHARED_MATRIX_INDEX_TYPE_INT64, grads, dtype, &params, NULL,
            NULL, NULL));
  }
  assert_same_matrix (cpu, gpu, "optimizer step");
  for (slot = 0; slot < gst_shared_matrix_get_optimizer_n_slots (cpu);
      slot++) {
    GBytes *a = gst_shared_matrix_get_optimizer_state (cpu, slot,
        GST_SHARED_MATRIX_FORMAT_RAW, NULL, NULL);
    GBytes *b = gst_shared_matrix_get_optimizer_state (gpu, slot,
        GST_SHARED_MATRIX_FORMAT_RAW, NULL, NULL);

    fail_unless (a && b);
    assert_same (a, b, GST_SHARED_MATRIX_DTYPE_FLOAT32, "optimizer state");
    g_bytes_unref (a);
    g_bytes_unref (b);
  }
  gst_object_unref (cpu);
  gst_object_unref (gpu);
  g_free (grads);
  g_free (idx);
}

GST_END_TEST;

/* Delta snapshots on the GPU: the same updates on a CPU and a CUDA matrix
 * (after set_value, which writes every row) give identical deltas. */
GST_START_TEST (test_cuda_delta_matches_cpu)
{
  int dtype = __i__ % 4;
  GstSharedMatrixIndexType itype = __i__ / 4 ?
      GST_SHARED_MATRIX_INDEX_TYPE_INT64 : GST_SHARED_MATRIX_INDEX_TYPE_INT32;
  guint64 s = 900 + __i__, rows = 5000, since = 0;
  guint cols = 33, k;
  gsize nmax = 500, i;
  guint8 *deltas = g_malloc (nmax * cols * test_ref_dtype_size (dtype));
  gint64 *idx = g_new (gint64, nmax);
  GstSharedMatrix *cpu, *gpu;

  new_pair (rows, cols, dtype, &s, FALSE, &cpu, &gpu);
  for (k = 0; k < 20; k++) {
    gsize n = 1 + test_rng_below (&s, nmax);
    GBytes *a, *b;
    guint64 va, vb;
    gsize na, nb;

    for (i = 0; i < n; i++)
      idx[i] = i % 3 ? (gint64) test_rng_below (&s, rows) : 11;
    test_rng_fill (deltas, n * cols, dtype, &s, FALSE);
    fail_unless (gst_shared_matrix_update (cpu, GST_SHARED_MATRIX_OP_ADD,
            idx, n, GST_SHARED_MATRIX_INDEX_TYPE_INT64, deltas, dtype,
            NULL, NULL, NULL));
    fail_unless (gst_shared_matrix_update (gpu, GST_SHARED_MATRIX_OP_ADD,
            idx, n, GST_SHARED_MATRIX_INDEX_TYPE_INT64, deltas, dtype,
            NULL, NULL, NULL));
    if (k % 4 != 3)
      continue;
    a = gst_shared_matrix_get_delta (cpu, since, itype, &va, &na, NULL);
    b = gst_shared_matrix_get_delta (gpu, since, itype, &vb, &nb, NULL);
    fail_unless (a && b && va == vb && na == nb);
    /* the first delta (since 0) holds every row: set_value wrote them */
    fail_unless (since != 0 || na == rows);
    /* finite values only: the bytes are the same, indices and rows */
    fail_unless (g_bytes_equal (a, b), "delta %u differs", k);
    since = va;
    g_bytes_unref (a);
    g_bytes_unref (b);
  }
  gst_object_unref (cpu);
  gst_object_unref (gpu);
  g_free (deltas);
  g_free (idx);
}

GST_END_TEST;

GST_START_TEST (test_cuda_policies)
{
  guint64 s = 7, rows = 50;
  guint cols = 16;
  gsize n = 64, i;
  float *d = g_new (float, n * cols);
  gint32 idx[64];
  GstSharedMatrix *cpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstSharedMatrix *gpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CUDA, NULL);

  test_rng_fill ((guint8 *) d, n * cols, 0, &s, FALSE);
  for (i = 0; i < n; i++)
    idx[i] = i % 9 == 0 ? -3 : i % 11 == 0 ? (gint32) rows :
        (gint32) (test_rng_next (&s) % rows);
  d[3 * cols + 2] = NAN;
  d[20 * cols] = INFINITY;

  /* rejected: nothing changes, on either backend */
  fail_if (update_both (cpu, gpu, GST_SHARED_MATRIX_OP_ADD, idx, n, FALSE, d,
          0, GST_SHARED_MATRIX_INVALID_INDEX_ERROR,
          GST_SHARED_MATRIX_NON_FINITE_APPLY));
  fail_if (update_both (cpu, gpu, GST_SHARED_MATRIX_OP_ADD, idx, n, FALSE, d,
          0, GST_SHARED_MATRIX_INVALID_INDEX_DROP,
          GST_SHARED_MATRIX_NON_FINITE_ERROR));
  assert_same_matrix (cpu, gpu, "after rejected updates");
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (gpu), 0);

  fail_unless (update_both (cpu, gpu, GST_SHARED_MATRIX_OP_ADD, idx, n, FALSE,
          d, 0, GST_SHARED_MATRIX_INVALID_INDEX_DROP,
          GST_SHARED_MATRIX_NON_FINITE_DROP));
  fail_unless (update_both (cpu, gpu, GST_SHARED_MATRIX_OP_MUL, idx, n, FALSE,
          d, 0, GST_SHARED_MATRIX_INVALID_INDEX_DROP,
          GST_SHARED_MATRIX_NON_FINITE_APPLY));
  /* an update whose rows are all dropped still counts */
  idx[0] = -1;
  fail_unless (update_both (cpu, gpu, GST_SHARED_MATRIX_OP_SET, idx, 1, FALSE,
          d, 0, GST_SHARED_MATRIX_INVALID_INDEX_DROP,
          GST_SHARED_MATRIX_NON_FINITE_APPLY));
  /* and the empty update */
  fail_unless (update_both (cpu, gpu, GST_SHARED_MATRIX_OP_SET, idx, 0, FALSE,
          d, 0, GST_SHARED_MATRIX_INVALID_INDEX_ERROR,
          GST_SHARED_MATRIX_NON_FINITE_APPLY));
  assert_same_matrix (cpu, gpu, "after drop policies");
  gst_object_unref (cpu);
  gst_object_unref (gpu);
  g_free (d);
}

GST_END_TEST;

/* More than the largest staging slot (64 MiB) in one update: the backend
 * grows its slots and then splits the update into chunks. */
GST_START_TEST (test_cuda_big_update_chunked)
{
  guint64 s = 99, rows = 3000;
  guint cols = 1024;
  gsize n = 24000, i;           /* 96 MiB of float32 deltas */
  guint8 *d = g_malloc (n * cols * 4);
  gint32 *idx = g_new (gint32, n);
  GstSharedMatrix *cpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstSharedMatrix *gpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CUDA, NULL);
  int op;

  for (i = 0; i < n; i++)
    idx[i] = (gint32) (test_rng_next (&s) % rows);
  test_rng_fill (d, n * cols, 0, &s, FALSE);
  for (op = GST_SHARED_MATRIX_OP_ADD; op >= GST_SHARED_MATRIX_OP_SET; op--)
    fail_unless (update_both (cpu, gpu, op, idx, n, FALSE, d, 0,
            GST_SHARED_MATRIX_INVALID_INDEX_ERROR,
            GST_SHARED_MATRIX_NON_FINITE_APPLY));
  assert_same_matrix (cpu, gpu, "96 MiB updates");
  gst_object_unref (cpu);
  gst_object_unref (gpu);
  g_free (d);
  g_free (idx);
}

GST_END_TEST;

/* Many small updates queued without a reader in between (the slot ring
 * wraps many times), then a few reads interleaved. */
GST_START_TEST (test_cuda_many_updates_in_flight)
{
  guint64 s = 5, rows = 70000;
  guint cols = 100, k;
  gsize n = 200, i;
  guint8 *d = g_malloc (n * cols * 2);
  gint32 idx[200];
  GstSharedMatrix *cpu = new_matrix (rows, cols, GST_SHARED_MATRIX_DTYPE_BFLOAT16,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstSharedMatrix *gpu = new_matrix (rows, cols, GST_SHARED_MATRIX_DTYPE_BFLOAT16,
      GST_SHARED_MATRIX_BACKEND_CUDA, NULL);

  for (k = 0; k < 300; k++) {
    for (i = 0; i < n; i++)
      idx[i] = (gint32) (test_rng_next (&s) % (k % 2 ? 1000 : rows));
    test_rng_fill (d, n * cols, GST_SHARED_MATRIX_DTYPE_FLOAT16, &s, FALSE);
    fail_unless (update_both (cpu, gpu, k % 6, idx, n, FALSE, d,
            GST_SHARED_MATRIX_DTYPE_FLOAT16,
            GST_SHARED_MATRIX_INVALID_INDEX_ERROR,
            GST_SHARED_MATRIX_NON_FINITE_APPLY));
    if (k == 100 || k == 101 || k == 250)
      assert_same_matrix (cpu, gpu, "in flight");
  }
  assert_same_matrix (cpu, gpu, "300 updates");
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (gpu), 300);
  gst_object_unref (cpu);
  gst_object_unref (gpu);
  g_free (d);
}

GST_END_TEST;

GST_START_TEST (test_cuda_gather_and_set_value)
{
  int dtype;

  for (dtype = 0; dtype < 4; dtype++) {
    guint64 s = 11 + dtype, rows = 4000;
    guint cols = 300;
    gsize n, i;
    GstSharedMatrix *cpu, *gpu;

    new_pair (rows, cols, dtype, &s, TRUE, &cpu, &gpu);
    assert_same_matrix (cpu, gpu, "set_value");

    /* small, and bigger than a staging slot (chunked) */
    for (n = 1; n <= 200000; n *= 60) {
      gint64 *idx = g_new (gint64, n);
      GBytes *ib, *a, *b;
      GError *err = NULL;

      for (i = 0; i < n; i++)
        idx[i] = i % 4 == 1 ? 0 : i % 4 == 2 ? (gint64) rows - 1 :
            (gint64) (test_rng_next (&s) % rows);
      ib = g_bytes_new_take (idx, n * 8);
      a = gst_shared_matrix_gather_bytes (cpu, ib,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, &err);
      b = gst_shared_matrix_gather_bytes (gpu, ib,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, &err);
      fail_unless (a && b);
      assert_same (a, b, dtype, "gather");
      g_bytes_unref (a);
      g_bytes_unref (b);
      g_bytes_unref (ib);
    }
    gst_object_unref (cpu);
    gst_object_unref (gpu);
  }
}

GST_END_TEST;

GST_START_TEST (test_cuda_npy_roundtrip)
{
  gchar *dir = g_dir_make_tmp ("sm-cuda-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "m.npy", NULL);
  guint64 s = 3, rows = 123;
  guint cols = 45;
  guint8 *initial = g_malloc (rows * cols * 2);
  GstSharedMatrix *cpu, *gpu, *back;
  GError *err = NULL;

  test_rng_fill (initial, rows * cols, GST_SHARED_MATRIX_DTYPE_FLOAT16, &s,
      FALSE);
  cpu = new_matrix (rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT16,
      GST_SHARED_MATRIX_BACKEND_CPU, initial);
  fail_unless (gst_shared_matrix_save_npy (cpu, path, &err));
  gpu = gst_shared_matrix_new_from_npy (path, GST_SHARED_MATRIX_BACKEND_CUDA,
      &err);
  fail_unless (gpu != NULL, "%s", err ? err->message : "?");
  fail_unless_equals_int (gst_shared_matrix_get_backend (gpu),
      GST_SHARED_MATRIX_BACKEND_CUDA);
  g_unlink (path);
  fail_unless (gst_shared_matrix_save_npy (gpu, path, &err));
  back = gst_shared_matrix_new_from_npy (path, GST_SHARED_MATRIX_BACKEND_CPU,
      &err);
  fail_unless (back != NULL);
  {
    GBytes *a = gst_shared_matrix_get_value (cpu);
    GBytes *b = gst_shared_matrix_get_value (back);

    assert_same (a, b, GST_SHARED_MATRIX_DTYPE_FLOAT16, "npy via cuda");
    g_bytes_unref (a);
    g_bytes_unref (b);
  }
  g_unlink (path);
  g_rmdir (dir);
  gst_object_unref (cpu);
  gst_object_unref (gpu);
  gst_object_unref (back);
  g_free (initial);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

typedef struct
{
  GstSharedMatrix *m;
  gint stop;
  gint reads;
  gint torn;
} ReaderCtx;

static gpointer
reader_thread (gpointer data)
{
  ReaderCtx *ctx = data;

  while (!g_atomic_int_get (&ctx->stop)) {
    GBytes *b = gst_shared_matrix_get_value (ctx->m);
    gsize size, i;
    const float *f = g_bytes_get_data (b, &size);

    /* every update adds 1 to every element: all equal unless torn */
    for (i = 1; i < size / 4; i++)
      if (f[i] != f[0]) {
        g_atomic_int_inc (&ctx->torn);
        break;
      }
    g_atomic_int_inc (&ctx->reads);
    g_bytes_unref (b);
  }
  return NULL;
}

GST_START_TEST (test_cuda_updates_atomic_for_readers)
{
  guint64 rows = 20000;
  guint cols = 64, i;
  gint32 *idx = g_new (gint32, rows);
  float *ones = g_new (float, rows * cols);
  ReaderCtx ctx = { NULL, 0, 0, 0 };
  GThread *reader;

  ctx.m = new_matrix (rows, cols, 0, GST_SHARED_MATRIX_BACKEND_CUDA, NULL);
  for (i = 0; i < rows; i++)
    idx[i] = (gint32) (rows - 1 - i);
  for (i = 0; i < rows * cols; i++)
    ones[i] = 1.0f;
  reader = g_thread_new ("reader", reader_thread, &ctx);
  for (i = 0; i < 300 || g_atomic_int_get (&ctx.reads) < 20; i++)
    fail_unless (gst_shared_matrix_update (ctx.m, GST_SHARED_MATRIX_OP_ADD,
            idx, rows, GST_SHARED_MATRIX_INDEX_TYPE_INT32, ones, 0, NULL,
            NULL, NULL));
  g_atomic_int_set (&ctx.stop, 1);
  g_thread_join (reader);
  fail_unless_equals_int (ctx.torn, 0);
  gst_object_unref (ctx.m);
  g_free (idx);
  g_free (ones);
}

GST_END_TEST;

GST_START_TEST (test_cuda_selection)
{
  GError *err = NULL;
  GstSharedMatrix *m;

  /* auto picks the GPU when one is usable */
  m = gst_shared_matrix_new (3, 4, 0, GST_SHARED_MATRIX_BACKEND_AUTO, &err);
  fail_unless (m != NULL);
  fail_unless_equals_int (gst_shared_matrix_get_backend (m),
      GST_SHARED_MATRIX_BACKEND_CUDA);
  gst_object_unref (m);

  /* a device that does not exist: an error naming it */
  fail_if (gst_shared_matrix_new_full (3, 4, 0,
          GST_SHARED_MATRIX_BACKEND_CUDA, 999, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_BACKEND));
  fail_unless (strstr (err->message, "999") != NULL, "%s", err->message);
  g_clear_error (&err);

  /* more memory than the device has: a GError naming both sizes */
  fail_if (gst_shared_matrix_new (G_GUINT64_CONSTANT (1) << 40, 1024, 0,
          GST_SHARED_MATRIX_BACKEND_CUDA, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY), "%s", err->message);
  fail_unless (strstr (err->message, "4503599627370496 bytes") != NULL, "%s",
      err->message);
  fail_unless (strstr (err->message, "bytes free") != NULL, "%s",
      err->message);
  g_clear_error (&err);

  /* the environment variable forces the CPU */
  g_setenv ("GST_SHARED_MATRIX_FORCE_CPU", "1", TRUE);
  m = gst_shared_matrix_new (3, 4, 0, GST_SHARED_MATRIX_BACKEND_AUTO, &err);
  fail_unless_equals_int (gst_shared_matrix_get_backend (m),
      GST_SHARED_MATRIX_BACKEND_CPU);
  gst_object_unref (m);
  fail_if (gst_shared_matrix_new (3, 4, 0, GST_SHARED_MATRIX_BACKEND_CUDA,
          &err));
  fail_unless (strstr (err->message, "GST_SHARED_MATRIX_FORCE_CPU") != NULL,
      "%s", err->message);
  g_clear_error (&err);
  g_unsetenv ("GST_SHARED_MATRIX_FORCE_CPU");
}

GST_END_TEST;

/* The element with backend=cuda: active-backend says cuda and the EOS
 * snapshot equals the CPU backend's matrix after the same updates. */
/* Fills @buf with a random update of @n int32 indices and float32 deltas
 * and applies the same update to @cpu, the reference. */
static void
fill_update_buffer (GstBuffer * buf, GstSharedMatrix * cpu, gsize n,
    guint cols, guint64 rows, guint64 * s)
{
  GstMapInfo map;
  gint32 *idx;
  float *d;
  gsize i;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  idx = (gint32 *) map.data;
  d = (float *) (map.data + n * 4);
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (test_rng_next (s) % rows);
  test_rng_fill ((guint8 *) d, n * cols, 0, s, FALSE);
  fail_unless (gst_shared_matrix_update (cpu, GST_SHARED_MATRIX_OP_ADD, idx,
          n, GST_SHARED_MATRIX_INDEX_TYPE_INT32, d, 0, NULL, NULL, NULL));
  gst_buffer_unmap (buf, &map);
}

/* Sends EOS and checks the element's final snapshot equals @cpu. */
static void
assert_eos_snapshot_matches (GstHarness * h, GstSharedMatrix * cpu,
    const gchar * what)
{
  GBytes *expect, *got;
  GstBuffer *snap;
  GstMapInfo map;

  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  snap = gst_harness_pull (h);
  fail_unless (snap != NULL);
  fail_unless (gst_buffer_map (snap, &map, GST_MAP_READ));
  got = g_bytes_new (map.data, map.size);
  gst_buffer_unmap (snap, &map);
  expect = gst_shared_matrix_get_value (cpu);
  assert_same (expect, got, 0, what);
  g_bytes_unref (expect);
  g_bytes_unref (got);
  gst_buffer_unref (snap);
}

GST_START_TEST (test_cuda_element)
{
  GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
  guint64 s = 17, rows = 1000;
  guint cols = 24, k;
  gsize n = 100;
  GstSharedMatrix *cpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstSharedMatrixBackend active;
  GstHarness *h;
  gchar *caps;

  fail_unless (el != NULL);
  g_object_set (el, "rows", rows, "cols", cols, "backend",
      GST_SHARED_MATRIX_BACKEND_CUDA, NULL);
  h = gst_harness_new_with_element (el, "sink", "src");
  gst_harness_set_sink_caps_str (h, "other/tensors");
  caps = g_strdup_printf ("application/x-matrix-update, dtype=float32, "
      "index-type=int32, cols=%u", cols);
  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
  g_object_get (el, "active-backend", &active, NULL);
  fail_unless_equals_int (active, GST_SHARED_MATRIX_BACKEND_CUDA);

  for (k = 0; k < 20; k++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, n * 4 + n * cols * 4,
        NULL);

    fill_update_buffer (buf, cpu, n, cols, rows, &s);
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  assert_eos_snapshot_matches (h, cpu, "element snapshot");
  gst_harness_teardown (h);
  gst_object_unref (el);
  gst_object_unref (cpu);
}

GST_END_TEST;

/* The staging allocator: pinned memory on the CUDA backend, none on the
 * CPU backend. Updates whose data lies in it match the CPU backend, and the
 * memory can be refilled as soon as the update returns. */
GST_START_TEST (test_cuda_staging_allocator)
{
  guint64 s = 23, rows = 5000;
  guint cols = 64, k;
  gsize n = 300, i, size = n * 4 + n * cols * 4;
  GstSharedMatrix *cpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstSharedMatrix *gpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CUDA, NULL);
  GstAllocator *alloc;
  GstMemory *mem;
  GstMapInfo map;

  fail_unless (gst_shared_matrix_get_staging_allocator (cpu) == NULL);
  alloc = gst_shared_matrix_get_staging_allocator (gpu);
  fail_unless (alloc != NULL);
  fail_unless_equals_string (alloc->mem_type, "SharedMatrixPinned");
  mem = gst_allocator_alloc (alloc, size, NULL);
  fail_unless (mem != NULL);
  fail_unless (gst_memory_map (mem, &map, GST_MAP_READWRITE));
  for (k = 0; k < 50; k++) {
    gint32 *idx = (gint32 *) map.data;

    for (i = 0; i < n; i++)
      idx[i] = (gint32) (test_rng_next (&s) % rows);
    test_rng_fill (map.data + n * 4, n * cols, 0, &s, FALSE);
    update_both (cpu, gpu, k % 2 ? GST_SHARED_MATRIX_OP_ADD :
        GST_SHARED_MATRIX_OP_SET, map.data, n, FALSE, map.data + n * 4, 0,
        0, 0);
    /* the copy has finished: refilling cannot change the result */
    memset (map.data, 0x7f, size);
  }
  gst_memory_unmap (mem, &map);
  gst_memory_unref (mem);
  assert_same_matrix (cpu, gpu, "updates from pinned memory");
  gst_object_unref (alloc);
  gst_object_unref (cpu);
  gst_object_unref (gpu);
}

GST_END_TEST;

/* The element with backend=cuda answers the ALLOCATION query with the
 * pinned allocator and a pool of its memory; buffers from that pool apply
 * like any other. */
GST_START_TEST (test_cuda_element_allocation_query)
{
  GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
  guint64 s = 29, rows = 1000;
  guint cols = 24, k, min, max, size;
  gsize n = 256, p;
  GstSharedMatrix *cpu = new_matrix (rows, cols, 0,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstAllocator *alloc = NULL;
  GstAllocationParams params;
  GstBufferPool *pool = NULL;
  GstStructure *config;
  GstQuery *query;
  GstHarness *h;
  GstCaps *caps;
  gboolean found = FALSE;

  fail_unless (el != NULL);
  g_object_set (el, "rows", rows, "cols", cols, "backend",
      GST_SHARED_MATRIX_BACKEND_CUDA, NULL);
  h = gst_harness_new_with_element (el, "sink", "src");
  gst_harness_set_sink_caps_str (h, "other/tensors");
  caps = gst_caps_new_simple ("application/x-matrix-update", "dtype",
      G_TYPE_STRING, "float32", "index-type", G_TYPE_STRING, "int32",
      "cols", G_TYPE_INT, (gint) cols, NULL);
  gst_harness_set_src_caps (h, gst_caps_ref (caps));

  query = gst_query_new_allocation (caps, TRUE);
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  for (p = 0; p < gst_query_get_n_allocation_params (query); p++) {
    gst_query_parse_nth_allocation_param (query, p, &alloc, &params);
    found |= alloc && g_strcmp0 (alloc->mem_type, "SharedMatrixPinned") == 0;
    gst_clear_object (&alloc);
  }
  fail_unless (found, "no pinned allocator offered");
  fail_unless (gst_query_get_n_allocation_pools (query) > 0);
  gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
  fail_unless (pool != NULL);
  fail_unless_equals_int (size, 256 * (4 + cols * 4));
  config = gst_buffer_pool_get_config (pool);
  fail_unless (gst_buffer_pool_config_get_allocator (config, &alloc, NULL));
  fail_unless (alloc != NULL);
  fail_unless_equals_string (alloc->mem_type, "SharedMatrixPinned");
  gst_structure_free (config);
  gst_query_unref (query);
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));

  for (k = 0; k < 20; k++) {
    GstBuffer *buf = NULL;

    fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, NULL),
        GST_FLOW_OK);
    fail_unless_equals_int (gst_buffer_get_size (buf), size);
    fail_unless (gst_buffer_peek_memory (buf, 0)->allocator == alloc);
    fill_update_buffer (buf, cpu, n, cols, rows, &s);
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  assert_eos_snapshot_matches (h, cpu, "element snapshot from pool buffers");
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_object_unref (alloc);
  gst_caps_unref (caps);
  gst_harness_teardown (h);
  gst_object_unref (el);
  gst_object_unref (cpu);
}

GST_END_TEST;

static Suite *
cuda_suite (void)
{
  Suite *s = suite_create ("cuda");
  TCase *tc = tcase_create ("cuda");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_loop_test (tc, test_cuda_ops_match_cpu, 0, 96);
  tcase_add_loop_test (tc, test_cuda_delta_matches_cpu, 0, 8);
  tcase_add_loop_test (tc, test_cuda_optimizers_match_cpu, 0, 16);
  tcase_add_test (tc, test_cuda_policies);
  tcase_add_test (tc, test_cuda_big_update_chunked);
  tcase_add_test (tc, test_cuda_many_updates_in_flight);
  tcase_add_test (tc, test_cuda_gather_and_set_value);
  tcase_add_test (tc, test_cuda_npy_roundtrip);
  tcase_add_test (tc, test_cuda_updates_atomic_for_readers);
  tcase_add_test (tc, test_cuda_selection);
  tcase_add_test (tc, test_cuda_element);
  tcase_add_test (tc, test_cuda_staging_allocator);
  tcase_add_test (tc, test_cuda_element_allocation_query);
  return s;
}

/* Probes in a child process: CUDA initialised in this process would not
 * survive the fork of every check test. Returns NULL when usable, else why
 * not. */
static gchar *
probe_in_child (void)
{
  int fds[2], status = 0;
  pid_t pid;
  GString *why = g_string_new (NULL);
  char buf[512];
  ssize_t got;

  if (pipe (fds) != 0)
    return g_strdup ("pipe() failed");
  pid = fork ();
  if (pid == 0) {
    GError *err = NULL;
    GstSharedMatrix *m = gst_shared_matrix_new (1, 1, 0,
        GST_SHARED_MATRIX_BACKEND_CUDA, &err);

    close (fds[0]);
    if (m == NULL && write (fds[1], err->message, strlen (err->message)) < 0)
      _exit (2);
    _exit (m != NULL ? 0 : 1);
  }
  close (fds[1]);
  while ((got = read (fds[0], buf, sizeof buf)) > 0)
    g_string_append_len (why, buf, got);
  close (fds[0]);
  waitpid (pid, &status, 0);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0) {
    g_string_free (why, TRUE);
    return NULL;
  }
  if (why->len == 0)
    g_string_append (why, "the probe process failed");
  return g_string_free (why, FALSE);
}

int
main (int argc, char **argv)
{
  gchar *why;

  gst_check_init (&argc, &argv);
  why = probe_in_child ();
  if (why) {
    g_print ("SKIP: the CUDA tests need a usable CUDA device: %s\n", why);
    g_free (why);
    return 77;                  /* meson: skipped */
  }
  return gst_check_run_suite (cuda_suite (), "cuda", __FILE__);
}
