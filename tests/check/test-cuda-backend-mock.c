/* gst-sharedmatrix: the CUDA backend's host code against a mock runtime
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * plugin/lib/backend-cuda.c compiled against mock-cuda/ (a CUDA runtime
 * whose streams are real queues that run late, and whose kernels are the
 * emulated kernel bodies) and driven through the backend vtable, side by
 * side with the CPU backend's vtable on the same update plans. This runs
 * everything the GPU path does on the host (device probing and its error
 * messages, grouping and staging layout, the pinned slot ring and its
 * event waits, slot growth, chunking of big updates and gathers, allocation
 * failures) without a GPU or nvcc. What it cannot check is the real
 * runtime and hardware: that is test-cuda.c, on a GPU.
 */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>

#include "cuda_runtime_api.h"
#include "backend.h"
#include "sharedmatrix-ops.h"
#include "test-values.h"

/* @lazy: queued work runs only when the host waits for it, which exposes
 * any missing wait; otherwise at random moments as well */
static void
configure_full (gsize device_bytes, gboolean lazy)
{
  MockCudaConfig c = { cudaSuccess, 1, 90, device_bytes, lazy ? 0 : 12345 };

  mock_cuda_configure (&c);
}

static void
configure (gsize device_bytes)
{
  MockCudaConfig c = { cudaSuccess, 1, 90, device_bytes, 12345 };

  mock_cuda_configure (&c);
}

static gboolean
forked (void)
{
  const gchar *fork = g_getenv ("CK_FORK");

  return fork == NULL || strcmp (fork, "no") != 0;
}

typedef struct
{
  GstSharedMatrixShape shape;
  gpointer cpu, gpu;
} Pair;

static GstSharedMatrixShape
make_shape (guint64 rows, guint cols, int dtype)
{
  GstSharedMatrixShape shape;

  shape.rows = rows;
  shape.cols = cols;
  shape.dtype = dtype;
  shape.row_bytes = (gsize) cols * sm_dtype_size (dtype);
  return shape;
}

static void
pair_init (Pair * p, guint64 rows, guint cols, int dtype,
    const guint8 * initial)
{
  GError *err = NULL;

  p->shape = make_shape (rows, cols, dtype);
  p->cpu = gst_shared_matrix_backend_cpu.create (&p->shape, -1, &err);
  fail_unless (p->cpu != NULL);
  p->gpu = gst_shared_matrix_backend_cuda.create (&p->shape, -1, &err);
  fail_unless (p->gpu != NULL, "%s", err ? err->message : "?");
  if (initial) {
    gst_shared_matrix_backend_cpu.write (p->cpu, initial);
    gst_shared_matrix_backend_cuda.write (p->gpu, initial);
  }
}

static void
pair_clear (Pair * p)
{
  gst_shared_matrix_backend_cpu.destroy (p->cpu);
  gst_shared_matrix_backend_cuda.destroy (p->gpu);
}

/* Equal bytes, or NaN in both (a NaN's payload is not part of the
 * semantics). */
static void
assert_same (const guint8 * a, const guint8 * b, gsize bytes, int dtype,
    const gchar * what)
{
  unsigned size = sm_dtype_size (dtype);
  gsize i;

  for (i = 0; i < bytes; i += size) {
    if (memcmp (a + i, b + i, size) != 0 &&
        !(isnan (sm_load (a + i, dtype)) && isnan (sm_load (b + i, dtype))))
      fail ("%s: element %" G_GSIZE_FORMAT ": cpu %.17g, cuda %.17g", what,
          i / size, sm_load (a + i, dtype), sm_load (b + i, dtype));
  }
  fail_unless (mock_cuda_first_misuse () == NULL, "%s: %s", what,
      mock_cuda_first_misuse ());
}

static void
assert_pair_same (Pair * p, const gchar * what)
{
  gsize bytes = p->shape.rows * p->shape.row_bytes;
  guint8 *a = g_malloc (bytes), *b = g_malloc (bytes);

  gst_shared_matrix_backend_cpu.read (p->cpu, a);
  gst_shared_matrix_backend_cuda.read (p->gpu, b);
  assert_same (a, b, bytes, p->shape.dtype, what);
  g_free (a);
  g_free (b);
}

static void
apply_both (Pair * p, GstSharedMatrixUpdatePlan * plan)
{
  gst_shared_matrix_backend_cpu.apply (p->cpu, plan);
  gst_shared_matrix_backend_cuda.apply (p->gpu, plan);
}

static void
assert_gather_same (Pair * p, const guint8 * idx, gboolean int64, gsize n,
    const gchar * what)
{
  gsize bytes = n * p->shape.row_bytes;
  guint8 *a = g_malloc (MAX (bytes, 1)), *b = g_malloc (MAX (bytes, 1));

  gst_shared_matrix_backend_cpu.gather (p->cpu, idx, int64, n, a);
  gst_shared_matrix_backend_cuda.gather (p->gpu, idx, int64, n, b);
  assert_same (a, b, bytes, p->shape.dtype, what);
  g_free (a);
  g_free (b);
}

/* ---- tests ----------------------------------------------------------------*/

GST_START_TEST (test_mock_probe_reasons)
{
  static const struct
  {
    MockCudaConfig config;
    const gchar *expect;
  } cases[] = {
    {{cudaErrorInsufficientDriver, 0, 90, 1 << 30, 1}, "no NVIDIA driver"},
    {{cudaErrorNoDevice, 0, 90, 1 << 30, 1}, "no CUDA-capable device"},
    {{cudaErrorStubLibrary, 0, 90, 1 << 30, 1}, "stub library"},
    {{cudaErrorInitializationError, 0, 90, 1 << 30, 1}, "error 3"},
    {{cudaSuccess, 0, 90, 1 << 30, 1}, "0 CUDA devices"},
    {{cudaSuccess, 2, 70, 1 << 30, 1}, "compute capability 7.5 or newer"},
    {{cudaSuccess, 1, 90, 1 << 30, 1}, NULL},
  };
  GError *err = NULL;

  /* the probe runs once per process: one case per forked test process;
   * without fork (valgrind) only the usable device, which the other tests
   * need */
  if (!forked () && cases[__i__].expect != NULL)
    return;
  mock_cuda_configure (&cases[__i__].config);
  if (cases[__i__].expect == NULL) {
    fail_unless (gst_shared_matrix_backend_cuda_usable (&err));
    /* a device id that does not exist is named */
    fail_if (gst_shared_matrix_backend_cuda.create (&(GstSharedMatrixShape) {
            2, 2, 0, 8}, 7, &err));
    fail_unless (strstr (err->message, "device 7") != NULL, "%s",
        err->message);
    g_clear_error (&err);
    return;
  }
  fail_if (gst_shared_matrix_backend_cuda_usable (&err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_BACKEND));
  fail_unless (strstr (err->message, cases[__i__].expect) != NULL,
      "expected '%s' in: %s", cases[__i__].expect, err->message);
  g_clear_error (&err);
}

GST_END_TEST;

GST_START_TEST (test_mock_force_cpu_env)
{
  GError *err = NULL;

  configure (1 << 30);
  g_setenv ("GST_SHARED_MATRIX_FORCE_CPU", "1", TRUE);
  fail_if (gst_shared_matrix_backend_cuda_usable (&err));
  fail_unless (strstr (err->message, "GST_SHARED_MATRIX_FORCE_CPU=1") != NULL,
      "%s", err->message);
  g_clear_error (&err);
  g_setenv ("GST_SHARED_MATRIX_FORCE_CPU", "0", TRUE);
  fail_unless (gst_shared_matrix_backend_cuda_usable (NULL));
  g_unsetenv ("GST_SHARED_MATRIX_FORCE_CPU");
  fail_unless (gst_shared_matrix_backend_cuda_usable (NULL));
}

GST_END_TEST;

/* Device memory starts as garbage: the backend's fill kernel zeroes it. */
GST_START_TEST (test_mock_zero_fill_and_roundtrip)
{
  int dtype;

  configure (1 << 30);
  for (dtype = 0; dtype < 4; dtype++) {
    guint64 s = 3 + dtype;
    Pair p;
    gsize bytes;
    guint8 *data;

    pair_init (&p, 301, 17, dtype, NULL);
    assert_pair_same (&p, "new matrix");
    bytes = p.shape.rows * p.shape.row_bytes;
    data = g_malloc (bytes);
    fill_random (data, bytes / sm_dtype_size (dtype), dtype, &s, TRUE);
    gst_shared_matrix_backend_cpu.write (p.cpu, data);
    gst_shared_matrix_backend_cuda.write (p.gpu, data);
    assert_pair_same (&p, "write/read");
    g_free (data);
    pair_clear (&p);
  }
  fail_unless_equals_uint64 (mock_cuda_device_bytes_in_use (), 0);
  fail_unless_equals_uint64 (mock_cuda_pinned_bytes_in_use (), 0);
}

GST_END_TEST;

/* Many updates, different shapes, with no reader in between except where
 * noted: the mock runs queued copies late, so a pinned slot refilled
 * before its copy ran would corrupt the result. */
GST_START_TEST (test_mock_ops_match_cpu)
{
  int op = __i__ / 16, dtype = (__i__ / 4) % 4, ddt = __i__ % 4;
  guint64 s = 77 + __i__, rows = 157;
  guint cols = 45, k;
  gsize nmax = 400, i;
  guint8 *initial = g_malloc (rows * cols * sm_dtype_size (dtype));
  guint8 *deltas = g_malloc (nmax * cols * sm_dtype_size (ddt));
  gint64 *idx = g_new (gint64, nmax);
  gint32 *idx32 = g_new (gint32, nmax);
  guint8 *skip = g_malloc0 (nmax);
  GstSharedMatrixUpdatePlan plan;
  gchar *what;
  Pair p;

  configure_full (1 << 30, __i__ % 2);
  fill_random (initial, rows * cols, dtype, &s, TRUE);
  pair_init (&p, rows, cols, dtype, initial);

  for (k = 0; k < 40; k++) {
    gsize n = k % 5 == 0 ? 1 : k % 5 == 1 ? nmax : k % 5 == 2 ? 33 :
        k % 5 == 3 ? 7 : 200;
    gboolean use_skip = k % 3 == 0;

    for (i = 0; i < n; i++) {
      idx[i] = k % 7 == 0 ? 3 : k % 7 == 1 ? (i % 2 ? 0 : (gint64) rows - 1)
          : (gint64) (rng_next (&s) % rows);
      idx32[i] = (gint32) idx[i];
      skip[i] = use_skip && rng_next (&s) % 4 == 0;
    }
    fill_random (deltas, n * cols, ddt, &s, k % 4 == 0);
    plan.op = op;
    plan.indices = k % 2 ? (guint8 *) idx : (guint8 *) idx32;
    plan.indices_int64 = k % 2;
    plan.deltas = deltas;
    plan.delta_dtype = ddt;
    plan.n = n;
    plan.skip = use_skip ? skip : NULL;
    apply_both (&p, &plan);
    if (k == 20)
      assert_pair_same (&p, "after 21 updates");
    if (k == 30)
      assert_gather_same (&p, (guint8 *) idx, TRUE, n, "gather in between");
  }
  what = g_strdup_printf ("op %s, matrix %s, deltas %s", op_names[op],
      dtype_names[dtype], dtype_names[ddt]);
  assert_pair_same (&p, what);
  g_free (what);
  pair_clear (&p);
  g_free (initial);
  g_free (deltas);
  g_free (idx);
  g_free (idx32);
  g_free (skip);
}

GST_END_TEST;

/* An update bigger than the largest staging slot (16 MiB): slots grow,
 * then the update is applied as chunks in buffer order. */
GST_START_TEST (test_mock_big_update_chunked)
{
  guint64 s = 5, rows = 700;
  guint cols = 1024;
  gsize n = 5000, i;            /* 5000 float64 rows: 40 MiB of deltas */
  guint8 *deltas = g_malloc (n * cols * 8);
  gint32 *idx = g_new (gint32, n);
  GstSharedMatrixUpdatePlan plan = { 0, };
  int op;
  Pair p;

  configure_full ((gsize) 1 << 30, TRUE);
  pair_init (&p, rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT16, NULL);
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (i % 10 == 0 ? 9 : rng_next (&s) % rows);
  fill_random (deltas, n * cols, GST_SHARED_MATRIX_DTYPE_FLOAT64, &s, FALSE);
  plan.indices = (guint8 *) idx;
  plan.deltas = deltas;
  plan.delta_dtype = GST_SHARED_MATRIX_DTYPE_FLOAT64;
  /* first small updates on every slot, still queued when the slots grow */
  plan.op = GST_SHARED_MATRIX_OP_ADD;
  plan.n = 100;
  for (i = 0; i < 4; i++)
    apply_both (&p, &plan);
  plan.n = n;
  for (op = GST_SHARED_MATRIX_OP_SET; op <= GST_SHARED_MATRIX_OP_MAX; op++) {
    plan.op = op;
    apply_both (&p, &plan);
  }
  assert_pair_same (&p, "40 MiB updates");
  /* 4 slots of at most 16 MiB, pinned and on the device */
  fail_unless (mock_cuda_pinned_bytes_in_use () <= 4 * ((gsize) 16 << 20),
      "%" G_GSIZE_FORMAT " bytes pinned", mock_cuda_pinned_bytes_in_use ());
  assert_gather_same (&p, (guint8 *) idx, FALSE, n, "big gather");
  pair_clear (&p);
  g_free (deltas);
  g_free (idx);
}

GST_END_TEST;

/* Not enough device memory to grow a slot: the update still applies, in
 * chunks that fit the slots the matrix has. */
GST_START_TEST (test_mock_slot_growth_fails)
{
  guint64 s = 9, rows = 100;
  guint cols = 256;
  gsize n = 3000, i;            /* 3 MiB of float32 deltas, slots of 1 MiB */
  guint8 *deltas = g_malloc (n * cols * 4);
  gint32 *idx = g_new (gint32, n);
  GstSharedMatrixUpdatePlan plan = { 0, };
  Pair p;

  /* the matrix, 4 minimum slots and a little more: no room to grow */
  configure (rows * cols * 4 + 4 * ((gsize) 1 << 20) + 4096);
  pair_init (&p, rows, cols, 0, NULL);
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (rng_next (&s) % rows);
  fill_random (deltas, n * cols, 0, &s, FALSE);
  plan.op = GST_SHARED_MATRIX_OP_ADD;
  plan.indices = (guint8 *) idx;
  plan.deltas = deltas;
  plan.delta_dtype = 0;
  plan.n = n;
  apply_both (&p, &plan);
  plan.op = GST_SHARED_MATRIX_OP_SET;
  apply_both (&p, &plan);
  assert_pair_same (&p, "chunked without growth");
  assert_gather_same (&p, (guint8 *) idx, FALSE, n, "gather without growth");
  pair_clear (&p);
  g_free (deltas);
  g_free (idx);
}

GST_END_TEST;

GST_START_TEST (test_mock_out_of_memory_is_a_gerror)
{
  GstSharedMatrixShape shape = make_shape (1000, 1000, 0);
  GError *err = NULL;

  /* the matrix does not fit */
  configure (2000000);
  fail_if (gst_shared_matrix_backend_cuda.create (&shape, -1, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY));
  fail_unless (strstr (err->message, "4000000 bytes") != NULL, "%s",
      err->message);
  fail_unless (strstr (err->message, "2000000 bytes free") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  fail_unless_equals_uint64 (mock_cuda_device_bytes_in_use (), 0);

  /* the matrix fits, its staging slots do not: everything is released */
  configure (4000000 + ((gsize) 1 << 20));
  fail_if (gst_shared_matrix_backend_cuda.create (&shape, -1, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY));
  fail_unless (strstr (err->message, "staging") != NULL, "%s", err->message);
  g_clear_error (&err);
  fail_unless_equals_uint64 (mock_cuda_device_bytes_in_use (), 0);
  fail_unless_equals_uint64 (mock_cuda_pinned_bytes_in_use (), 0);
  fail_unless (mock_cuda_first_misuse () == NULL, "%s",
      mock_cuda_first_misuse ());
}

GST_END_TEST;

/* The update path never waits for the stream; only readers do. */
GST_START_TEST (test_mock_updates_do_not_synchronise)
{
  guint64 s = 1, rows = 70000;
  guint cols = 100, k;
  gsize n = 200, i;
  float *deltas = g_new (float, n * cols);
  gint32 idx[200];
  GstSharedMatrixUpdatePlan plan = { 0, };
  GstSharedMatrixShape shape = make_shape (rows, cols, 0);
  GError *err = NULL;
  unsigned long syncs, waits;
  gpointer gpu;
  guint8 *out = g_malloc (rows * cols * 4);

  configure ((gsize) 1 << 30);
  gpu = gst_shared_matrix_backend_cuda.create (&shape, -1, &err);
  fail_unless (gpu != NULL);
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (rng_next (&s) % rows);
  fill_random ((guint8 *) deltas, n * cols, 0, &s, FALSE);
  plan.op = GST_SHARED_MATRIX_OP_ADD;
  plan.indices = (guint8 *) idx;
  plan.deltas = (guint8 *) deltas;
  plan.n = n;

  syncs = mock_cuda_stream_syncs ();
  waits = mock_cuda_event_waits ();
  for (k = 0; k < 100; k++)
    gst_shared_matrix_backend_cuda.apply (gpu, &plan);
  fail_unless_equals_int (mock_cuda_stream_syncs () - syncs, 0);
  /* at most one wait per slot reuse (4 slots) */
  fail_unless (mock_cuda_event_waits () - waits <= 100 - 4);
  gst_shared_matrix_backend_cuda.read (gpu, out);
  fail_unless_equals_int (mock_cuda_stream_syncs () - syncs, 1);
  gst_shared_matrix_backend_cuda.destroy (gpu);
  fail_unless_equals_uint64 (mock_cuda_device_bytes_in_use (), 0);
  fail_unless_equals_uint64 (mock_cuda_pinned_bytes_in_use (), 0);
  fail_unless (mock_cuda_first_misuse () == NULL, "%s",
      mock_cuda_first_misuse ());
  g_free (deltas);
  g_free (out);
}

GST_END_TEST;

/* The staging allocator: pinned memory (cudaHostAlloc) from the CUDA
 * backend, none from the CPU backend; freed with cudaFreeHost. */
GST_START_TEST (test_mock_staging_allocator)
{
  GstSharedMatrixShape shape = make_shape (10, 4, 0);
  GstAllocationParams params;
  GstAllocator *alloc, *again;
  GstMemory *mem, *sub;
  GstMapInfo map, smap;
  GError *err = NULL;
  gsize pinned;
  gpointer gpu;

  fail_unless (gst_shared_matrix_backend_cpu.staging_allocator == NULL);
  configure (1 << 30);
  gpu = gst_shared_matrix_backend_cuda.create (&shape, -1, &err);
  fail_unless (gpu != NULL);
  alloc = gst_shared_matrix_backend_cuda.staging_allocator (gpu);
  fail_unless (alloc != NULL);
  fail_unless_equals_string (alloc->mem_type, "SharedMatrixPinned");
  again = gst_shared_matrix_backend_cuda.staging_allocator (gpu);
  fail_unless (again == alloc);
  gst_object_unref (again);

  pinned = mock_cuda_pinned_bytes_in_use ();
  gst_allocation_params_init (&params);
  params.align = 1023;
  params.prefix = 16;
  params.padding = 8;
  params.flags = GST_MEMORY_FLAG_ZERO_PREFIXED;
  mem = gst_allocator_alloc (alloc, 1000, &params);
  fail_unless (mem != NULL);
  fail_unless (mock_cuda_pinned_bytes_in_use () >= pinned + 1024);
  fail_unless (gst_memory_map (mem, &map, GST_MAP_READWRITE));
  fail_unless_equals_int (map.size, 1000);
  fail_unless (((guintptr) map.data - 16) % 1024 == 0);
  fail_unless (map.data[-1] == 0 && map.data[-16] == 0);
  memset (map.data, 0x5a, map.size);
  map.data[100] = 7;
  gst_memory_unmap (mem, &map);
  sub = gst_memory_share (mem, 100, 10);
  fail_unless (sub != NULL);
  fail_unless (gst_memory_map (sub, &smap, GST_MAP_READ));
  fail_unless_equals_int (smap.size, 10);
  fail_unless (smap.data == map.data + 100 && smap.data[0] == 7);
  gst_memory_unmap (sub, &smap);
  gst_memory_unref (mem);
  /* the share keeps the allocation */
  fail_unless (mock_cuda_pinned_bytes_in_use () > pinned);
  gst_memory_unref (sub);
  fail_unless_equals_uint64 (mock_cuda_pinned_bytes_in_use (), pinned);

  gst_object_unref (alloc);
  gst_shared_matrix_backend_cuda.destroy (gpu);
  fail_unless_equals_uint64 (mock_cuda_pinned_bytes_in_use (), 0);
  fail_unless (mock_cuda_first_misuse () == NULL, "%s",
      mock_cuda_first_misuse ());
}

GST_END_TEST;

/* Updates written into the staging allocator's memory (as a producer using
 * the element's pool does) are copied to the device straight from it, give
 * the CPU backend's result, and the memory can be refilled, or freed, as
 * soon as apply returns: the lazy mock runs a copy only when the host
 * waits, so a copy still queued would read the refill (or trip the
 * use-after-free check). */
GST_START_TEST (test_mock_pinned_updates_match_cpu)
{
  int ddt = __i__ / 2, dtype = (__i__ / 2 + 1) % 4;
  gboolean lazy = __i__ % 2 == 0;
  guint64 s = 991 + __i__, rows = 157;
  guint cols = 45, k;
  gsize nmax = 400, i, drow = cols * sm_dtype_size (ddt);
  gsize size = nmax * 8 + nmax * drow;
  guint8 *initial = g_malloc (rows * cols * sm_dtype_size (dtype));
  guint8 *skip = g_malloc0 (nmax);
  GstSharedMatrixUpdatePlan plan;
  GstAllocator *alloc;
  GstMemory *mem;
  GstMapInfo map;
  Pair p;

  configure_full (1 << 30, lazy);
  fill_random (initial, rows * cols, dtype, &s, TRUE);
  pair_init (&p, rows, cols, dtype, initial);
  alloc = gst_shared_matrix_backend_cuda.staging_allocator (p.gpu);
  mem = gst_allocator_alloc (alloc, size, NULL);
  fail_unless (gst_memory_map (mem, &map, GST_MAP_READWRITE));

  for (k = 0; k < 30; k++) {
    gsize n = k % 4 == 0 ? 1 : k % 4 == 1 ? nmax : k % 4 == 2 ? 33 : 200;
    gboolean int64 = k % 2, use_skip = k % 3 == 0;
    gsize isize = int64 ? 8 : 4;
    guint8 *deltas = map.data + n * isize;

    /* the element's layout: n indices, then n delta rows, unaligned */
    for (i = 0; i < n; i++) {
      gint64 r = k % 5 == 0 ? 3 : (gint64) (rng_next (&s) % rows);

      if (int64)
        memcpy (map.data + i * 8, &r, 8);
      else {
        gint32 r32 = (gint32) r;

        memcpy (map.data + i * 4, &r32, 4);
      }
      skip[i] = use_skip && rng_next (&s) % 4 == 0;
    }
    fill_random (deltas, n * cols, ddt, &s, k % 4 == 0);
    plan.op = k % 6;
    plan.indices = map.data;
    plan.indices_int64 = int64;
    plan.deltas = deltas;
    plan.delta_dtype = ddt;
    plan.n = n;
    plan.skip = use_skip ? skip : NULL;
    mock_cuda_watch_copies_from (map.data, map.size);
    apply_both (&p, &plan);
    if (!use_skip || n > 1)
      fail_unless (mock_cuda_watched_copies () > 0,
          "update %u not copied from the pinned buffer", k);
    /* the producer refills its buffer right away */
    fill_random (map.data, map.size / sm_dtype_size (ddt), ddt, &s, TRUE);
    if (k == 15)
      assert_pair_same (&p, "after 16 pinned updates");
  }
  mock_cuda_watch_copies_from (NULL, 0);
  /* ... or frees it: no queued copy may still read it */
  gst_memory_unmap (mem, &map);
  gst_memory_unref (mem);
  fail_unless (mock_cuda_first_misuse () == NULL, "%s",
      mock_cuda_first_misuse ());
  assert_pair_same (&p, "pinned updates");
  gst_object_unref (alloc);
  pair_clear (&p);
  fail_unless_equals_uint64 (mock_cuda_pinned_bytes_in_use (), 0);
  g_free (initial);
  g_free (skip);
}

GST_END_TEST;

/* A pinned update bigger than the largest slot goes in chunks, all copied
 * from the caller's memory, all finished when apply returns. */
GST_START_TEST (test_mock_pinned_update_chunked)
{
  guint64 s = 15, rows = 700;
  guint cols = 1024;
  gsize n = 2600, i;            /* 2600 float64 rows: 20 MiB of deltas */
  GstSharedMatrixUpdatePlan plan = { 0, };
  GstAllocator *alloc;
  GstMemory *mem;
  GstMapInfo map;
  gint32 *idx;
  Pair p;

  configure_full ((gsize) 1 << 30, TRUE);
  pair_init (&p, rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL);
  alloc = gst_shared_matrix_backend_cuda.staging_allocator (p.gpu);
  mem = gst_allocator_alloc (alloc, n * 4 + n * cols * 8, NULL);
  fail_unless (gst_memory_map (mem, &map, GST_MAP_READWRITE));
  idx = (gint32 *) map.data;
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (rng_next (&s) % rows);
  fill_random (map.data + n * 4, n * cols, GST_SHARED_MATRIX_DTYPE_FLOAT64,
      &s, FALSE);
  plan.op = GST_SHARED_MATRIX_OP_ADD;
  plan.indices = map.data;
  plan.deltas = map.data + n * 4;
  plan.delta_dtype = GST_SHARED_MATRIX_DTYPE_FLOAT64;
  plan.n = n;
  mock_cuda_watch_copies_from (map.data, map.size);
  apply_both (&p, &plan);
  fail_unless (mock_cuda_watched_copies () >= 2, "%lu copies",
      mock_cuda_watched_copies ());
  mock_cuda_watch_copies_from (NULL, 0);
  memset (map.data + n * 4, 0x7f, n * cols * 8);
  gst_memory_unmap (mem, &map);
  gst_memory_unref (mem);
  assert_pair_same (&p, "chunked pinned update");
  gst_object_unref (alloc);
  pair_clear (&p);
}

GST_END_TEST;

static Suite *
mock_suite (void)
{
  Suite *s = suite_create ("cuda-backend-mock");
  TCase *tc = tcase_create ("mock");

  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_mock_probe_reasons, 0, 7);
  tcase_add_test (tc, test_mock_force_cpu_env);
  tcase_add_test (tc, test_mock_zero_fill_and_roundtrip);
  tcase_add_loop_test (tc, test_mock_ops_match_cpu, 0, 96);
  tcase_add_test (tc, test_mock_big_update_chunked);
  tcase_add_test (tc, test_mock_slot_growth_fails);
  tcase_add_test (tc, test_mock_out_of_memory_is_a_gerror);
  tcase_add_test (tc, test_mock_updates_do_not_synchronise);
  tcase_add_test (tc, test_mock_staging_allocator);
  tcase_add_loop_test (tc, test_mock_pinned_updates_match_cpu, 0, 8);
  tcase_add_test (tc, test_mock_pinned_update_chunked);
  return s;
}

GST_CHECK_MAIN (mock);
