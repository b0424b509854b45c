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
 *
 * Device failures after creation are injected into the mock (failing
 * copies, launches and waits, kernels that fault, sticky errors that break
 * the context) and followed through the library's API and the element.
 */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "cuda_runtime_api.h"
#include "backend.h"
#include "gstsharedmatrix.h"
#include "sharedmatrix-ops.h"
#include "random.h"
#include "reference.h"

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
  SmShape shape;
  gpointer cpu, gpu;
} Pair;

static SmShape
make_shape (guint64 rows, guint cols, int dtype)
{
  SmShape shape;

  shape.rows = rows;
  shape.cols = cols;
  shape.dtype = dtype;
  shape.row_bytes = (gsize) cols * test_ref_dtype_size (dtype);
  return shape;
}

static void
pair_init (Pair * p, guint64 rows, guint cols, int dtype,
    const guint8 * initial)
{
  GError *err = NULL;

  p->shape = make_shape (rows, cols, dtype);
  p->cpu = sm_backend_cpu.create (&p->shape, -1, &err);
  fail_unless (p->cpu != NULL);
  p->gpu = sm_backend_cuda.create (&p->shape, -1, &err);
  fail_unless (p->gpu != NULL, "%s", err ? err->message : "?");
  if (initial) {
    fail_unless (sm_backend_cpu.write (p->cpu, initial, NULL));
    fail_unless (sm_backend_cuda.write (p->gpu, initial,
            NULL));
  }
}

static void
pair_clear (Pair * p)
{
  sm_backend_cpu.destroy (p->cpu);
  sm_backend_cuda.destroy (p->gpu);
}

/* Equal bytes, or NaN in both (a NaN's payload is not part of the
 * semantics). */
static void
assert_same (const guint8 * a, const guint8 * b, gsize bytes, int dtype,
    const gchar * what)
{
  unsigned size = test_ref_dtype_size (dtype);
  gsize i;

  for (i = 0; i < bytes; i += size) {
    if (!test_ref_same_element (a + i, b + i, dtype))
      fail ("%s: element %" G_GSIZE_FORMAT ": cpu %.17g, cuda %.17g", what,
          i / size, test_ref_load (a + i, dtype), test_ref_load (b + i, dtype));
  }
  fail_unless (mock_cuda_first_misuse () == NULL, "%s: %s", what,
      mock_cuda_first_misuse ());
}

static void
assert_pair_same (Pair * p, const gchar * what)
{
  gsize bytes = p->shape.rows * p->shape.row_bytes;
  guint8 *a = g_malloc (bytes), *b = g_malloc (bytes);

  fail_unless (sm_backend_cpu.read (p->cpu, a, NULL));
  fail_unless (sm_backend_cuda.read (p->gpu, b, NULL));
  assert_same (a, b, bytes, p->shape.dtype, what);
  g_free (a);
  g_free (b);
}

static void
apply_both (Pair * p, SmUpdatePlan * plan)
{
  fail_unless (sm_backend_cpu.apply (p->cpu, plan, NULL));
  fail_unless (sm_backend_cuda.apply (p->gpu, plan, NULL));
}

static void
assert_gather_same (Pair * p, const guint8 * idx, gboolean int64, gsize n,
    const gchar * what)
{
  gsize bytes = n * p->shape.row_bytes;
  guint8 *a = g_malloc (MAX (bytes, 1)), *b = g_malloc (MAX (bytes, 1));

  fail_unless (sm_backend_cpu.gather (p->cpu, idx, int64, n, a,
          NULL));
  fail_unless (sm_backend_cuda.gather (p->gpu, idx, int64, n, b,
          NULL));
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
    fail_unless (sm_backend_cuda_usable (&err));
    /* a device id that does not exist is named */
    fail_if (sm_backend_cuda.create (&(SmShape) {
            2, 2, 0, 8}, 7, &err));
    fail_unless (strstr (err->message, "device 7") != NULL, "%s",
        err->message);
    g_clear_error (&err);
    return;
  }
  fail_if (sm_backend_cuda_usable (&err));
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
  fail_if (sm_backend_cuda_usable (&err));
  fail_unless (strstr (err->message, "GST_SHARED_MATRIX_FORCE_CPU=1") != NULL,
      "%s", err->message);
  g_clear_error (&err);
  g_setenv ("GST_SHARED_MATRIX_FORCE_CPU", "0", TRUE);
  fail_unless (sm_backend_cuda_usable (NULL));
  g_unsetenv ("GST_SHARED_MATRIX_FORCE_CPU");
  fail_unless (sm_backend_cuda_usable (NULL));
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
    test_rng_fill (data, bytes / test_ref_dtype_size (dtype), dtype, &s, TRUE);
    fail_unless (sm_backend_cpu.write (p.cpu, data, NULL));
    fail_unless (sm_backend_cuda.write (p.gpu, data, NULL));
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
  guint8 *initial = g_malloc (rows * cols * test_ref_dtype_size (dtype));
  guint8 *deltas = g_malloc (nmax * cols * test_ref_dtype_size (ddt));
  gint64 *idx = g_new (gint64, nmax);
  gint32 *idx32 = g_new (gint32, nmax);
  guint8 *skip = g_malloc0 (nmax);
  SmUpdatePlan plan;
  gchar *what;
  Pair p;

  configure_full (1 << 30, __i__ % 2);
  test_rng_fill (initial, rows * cols, dtype, &s, TRUE);
  pair_init (&p, rows, cols, dtype, initial);

  for (k = 0; k < 40; k++) {
    gsize n = k % 5 == 0 ? 1 : k % 5 == 1 ? nmax : k % 5 == 2 ? 33 :
        k % 5 == 3 ? 7 : 200;
    gboolean use_skip = k % 3 == 0;

    for (i = 0; i < n; i++) {
      idx[i] = k % 7 == 0 ? 3 : k % 7 == 1 ? (i % 2 ? 0 : (gint64) rows - 1)
          : (gint64) (test_rng_next (&s) % rows);
      idx32[i] = (gint32) idx[i];
      skip[i] = use_skip && test_rng_next (&s) % 4 == 0;
    }
    test_rng_fill (deltas, n * cols, ddt, &s, k % 4 == 0);
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
  what = g_strdup_printf ("op %s, matrix %s, deltas %s", test_ref_op_name (op),
      test_ref_dtype_name (dtype), test_ref_dtype_name (ddt));
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

/* Delta snapshots: the same updates on a CPU matrix and on a (mock) CUDA
 * matrix give byte-identical deltas (the rows, found from the row-version
 * record, gathered by the CUDA gather kernel), whose rows are exactly the
 * ones the test itself saw written since each delta's start. */
GST_START_TEST (test_mock_delta_matches_cpu)
{
  int dtype = __i__ % 4;
  GstSharedMatrixIndexType itype = __i__ / 4 % 2 ?
      GST_SHARED_MATRIX_INDEX_TYPE_INT64 : GST_SHARED_MATRIX_INDEX_TYPE_INT32;
  guint64 s = 500 + __i__, rows = 1500, since[2] = { 0, 0 };
  guint cols = 9, k;
  gsize nmax = 300, i, isize = itype ? 8 : 4;
  guint8 *deltas = g_malloc (nmax * cols * test_ref_dtype_size (dtype));
  gint64 *idx = g_new (gint64, nmax);
  guint64 *written = g_new0 (guint64, rows);    /* version, the test's own */
  GstSharedMatrix *m[2];
  guint64 version = 0;

  configure_full (1 << 30, __i__ % 2);
  m[0] = gst_shared_matrix_new (rows, cols, dtype,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  m[1] = gst_shared_matrix_new (rows, cols, dtype,
      GST_SHARED_MATRIX_BACKEND_CUDA, NULL);
  fail_unless (m[0] && m[1]);
  fail_unless_equals_int (gst_shared_matrix_get_backend (m[1]),
      GST_SHARED_MATRIX_BACKEND_CUDA);

  for (k = 0; k < 30; k++) {
    gsize n = k % 4 == 0 ? nmax : 1 + test_rng_below (&s, 60);
    GstSharedMatrixUpdateResult res;
    int j;

    for (i = 0; i < n; i++) {
      /* duplicates, both ends, and now and then an invalid id (dropped) */
      idx[i] = i % 5 == 0 ? 7 : i % 11 == 0 ? (gint64) rows - 1 :
          i % 37 == 0 ? (gint64) rows + 3 : (gint64) test_rng_below (&s,
          rows);
    }
    test_rng_fill (deltas, n * cols, dtype, &s, FALSE);
    version++;
    for (i = 0; i < n; i++)
      if (idx[i] < (gint64) rows)
        written[idx[i]] = version;
    for (j = 0; j < 2; j++)
      fail_unless (gst_shared_matrix_update (m[j], k % 2 ?
              GST_SHARED_MATRIX_OP_ADD : GST_SHARED_MATRIX_OP_SET, idx, n,
              GST_SHARED_MATRIX_INDEX_TYPE_INT64, deltas, dtype,
              &(GstSharedMatrixPolicies) { GST_SHARED_MATRIX_INVALID_INDEX_DROP,
                  GST_SHARED_MATRIX_NON_FINITE_APPLY }, &res, NULL));

    if (k % 3 == 2 || k % 7 == 0) {
      /* consumer k % 2 takes its delta */
      guint64 *from = &since[k % 2], v[2];
      GBytes *d[2];
      gsize nd[2], size[2], want = 0;
      const guint8 *a, *b;
      guint64 r;

      for (j = 0; j < 2; j++) {
        d[j] = gst_shared_matrix_get_delta (m[j], *from, itype, &v[j],
            &nd[j], NULL);
        fail_unless (d[j] != NULL);
      }
      a = g_bytes_get_data (d[0], &size[0]);
      b = g_bytes_get_data (d[1], &size[1]);
      fail_unless (v[0] == version && v[1] == version);
      fail_unless (nd[0] == nd[1] && size[0] == size[1]);
      fail_unless (nd[0] == 0 || memcmp (a, b, nd[0] * isize) == 0,
          "indices differ");
      for (r = 0; r < rows; r++) {
        if (written[r] <= *from)
          continue;
        fail_unless (want < nd[0] && test_ref_index (a, itype, want) ==
            (gint64) r, "delta %u: row %" G_GUINT64_FORMAT " missing", k, r);
        want++;
      }
      fail_unless_equals_uint64 (want, nd[0]);
      if (nd[0])
        assert_same (a + nd[0] * isize, b + nd[0] * isize,
            size[0] - nd[0] * isize, dtype, "delta rows");
      *from = version;
      g_bytes_unref (d[0]);
      g_bytes_unref (d[1]);
    }
  }
  gst_object_unref (m[0]);
  gst_object_unref (m[1]);
  g_free (deltas);
  g_free (idx);
  g_free (written);
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
  SmUpdatePlan plan = { 0, };
  int op;
  Pair p;

  configure_full ((gsize) 1 << 30, TRUE);
  pair_init (&p, rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT16, NULL);
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (i % 10 == 0 ? 9 : test_rng_next (&s) % rows);
  test_rng_fill (deltas, n * cols, GST_SHARED_MATRIX_DTYPE_FLOAT64, &s, FALSE);
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
  SmUpdatePlan plan = { 0, };
  Pair p;

  /* the matrix, 4 minimum slots and a little more: no room to grow */
  configure (rows * cols * 4 + 4 * ((gsize) 1 << 20) + 4096);
  pair_init (&p, rows, cols, 0, NULL);
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (test_rng_next (&s) % rows);
  test_rng_fill (deltas, n * cols, 0, &s, FALSE);
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
  SmShape shape = make_shape (1000, 1000, 0);
  GError *err = NULL;

  /* the matrix does not fit */
  configure (2000000);
  fail_if (sm_backend_cuda.create (&shape, -1, &err));
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
  fail_if (sm_backend_cuda.create (&shape, -1, &err));
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
  SmUpdatePlan plan = { 0, };
  SmShape shape = make_shape (rows, cols, 0);
  GError *err = NULL;
  unsigned long syncs, waits;
  gpointer gpu;
  guint8 *out = g_malloc (rows * cols * 4);

  configure ((gsize) 1 << 30);
  gpu = sm_backend_cuda.create (&shape, -1, &err);
  fail_unless (gpu != NULL);
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (test_rng_next (&s) % rows);
  test_rng_fill ((guint8 *) deltas, n * cols, 0, &s, FALSE);
  plan.op = GST_SHARED_MATRIX_OP_ADD;
  plan.indices = (guint8 *) idx;
  plan.deltas = (guint8 *) deltas;
  plan.n = n;

  syncs = mock_cuda_stream_syncs ();
  waits = mock_cuda_event_waits ();
  for (k = 0; k < 100; k++)
    fail_unless (sm_backend_cuda.apply (gpu, &plan, NULL));
  fail_unless_equals_int (mock_cuda_stream_syncs () - syncs, 0);
  /* at most one wait per slot reuse (4 slots) */
  fail_unless (mock_cuda_event_waits () - waits <= 100 - 4);
  fail_unless (sm_backend_cuda.read (gpu, out, NULL));
  fail_unless_equals_int (mock_cuda_stream_syncs () - syncs, 1);
  sm_backend_cuda.destroy (gpu);
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
  SmShape shape = make_shape (10, 4, 0);
  GstAllocationParams params;
  GstAllocator *alloc, *again;
  GstMemory *mem, *sub;
  GstMapInfo map, smap;
  GError *err = NULL;
  gsize pinned;
  gpointer gpu;

  fail_unless (sm_backend_cpu.staging_allocator == NULL);
  configure (1 << 30);
  gpu = sm_backend_cuda.create (&shape, -1, &err);
  fail_unless (gpu != NULL);
  alloc = sm_backend_cuda.staging_allocator (gpu);
  fail_unless (alloc != NULL);
  fail_unless_equals_string (alloc->mem_type, "SharedMatrixPinned");
  again = sm_backend_cuda.staging_allocator (gpu);
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
  sm_backend_cuda.destroy (gpu);
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
  gsize nmax = 400, i, drow = cols * test_ref_dtype_size (ddt);
  gsize size = nmax * 8 + nmax * drow;
  guint8 *initial = g_malloc (rows * cols * test_ref_dtype_size (dtype));
  guint8 *skip = g_malloc0 (nmax);
  SmUpdatePlan plan;
  GstAllocator *alloc;
  GstMemory *mem;
  GstMapInfo map;
  Pair p;

  configure_full (1 << 30, lazy);
  test_rng_fill (initial, rows * cols, dtype, &s, TRUE);
  pair_init (&p, rows, cols, dtype, initial);
  alloc = sm_backend_cuda.staging_allocator (p.gpu);
  mem = gst_allocator_alloc (alloc, size, NULL);
  fail_unless (gst_memory_map (mem, &map, GST_MAP_READWRITE));

  for (k = 0; k < 30; k++) {
    gsize n = k % 4 == 0 ? 1 : k % 4 == 1 ? nmax : k % 4 == 2 ? 33 : 200;
    gboolean int64 = k % 2, use_skip = k % 3 == 0;
    gsize isize = int64 ? 8 : 4;
    guint8 *deltas = map.data + n * isize;

    /* the element's layout: n indices, then n delta rows, unaligned */
    for (i = 0; i < n; i++) {
      gint64 r = k % 5 == 0 ? 3 : (gint64) (test_rng_next (&s) % rows);

      if (int64)
        memcpy (map.data + i * 8, &r, 8);
      else {
        gint32 r32 = (gint32) r;

        memcpy (map.data + i * 4, &r32, 4);
      }
      skip[i] = use_skip && test_rng_next (&s) % 4 == 0;
    }
    test_rng_fill (deltas, n * cols, ddt, &s, k % 4 == 0);
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
    test_rng_fill (map.data, map.size / test_ref_dtype_size (ddt), ddt, &s,
        TRUE);
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
  SmUpdatePlan plan = { 0, };
  GstAllocator *alloc;
  GstMemory *mem;
  GstMapInfo map;
  gint32 *idx;
  Pair p;

  configure_full ((gsize) 1 << 30, TRUE);
  pair_init (&p, rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL);
  alloc = sm_backend_cuda.staging_allocator (p.gpu);
  mem = gst_allocator_alloc (alloc, n * 4 + n * cols * 8, NULL);
  fail_unless (gst_memory_map (mem, &map, GST_MAP_READWRITE));
  idx = (gint32 *) map.data;
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (test_rng_next (&s) % rows);
  test_rng_fill (map.data + n * 4, n * cols, GST_SHARED_MATRIX_DTYPE_FLOAT64,
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

/* ---- device failures after creation ---------------------------------------*/

#define FAULT_ROWS 157
#define FAULT_COLS 45

static GstSharedMatrix *
new_matrix (GstSharedMatrixBackend backend)
{
  GError *err = NULL;
  GstSharedMatrix *m = gst_shared_matrix_new (FAULT_ROWS, FAULT_COLS,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, backend, &err);

  fail_unless (m != NULL, "%s", err ? err->message : "?");
  fail_unless_equals_int (gst_shared_matrix_get_backend (m), backend);
  return m;
}

/* 50 rows of float32 deltas added to random rows, the same for a seed */
static gboolean
small_update (GstSharedMatrix * m, guint64 seed, GError ** error)
{
  guint cols = gst_shared_matrix_get_cols (m);
  gint32 idx[50];
  float *deltas = g_new (float, G_N_ELEMENTS (idx) * cols);
  gboolean ok;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (idx); i++)
    idx[i] = (gint32) (test_rng_next (&seed) % gst_shared_matrix_get_rows (m));
  test_rng_fill ((guint8 *) deltas, G_N_ELEMENTS (idx) * cols,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, &seed, FALSE);
  ok = gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, idx,
      G_N_ELEMENTS (idx), GST_SHARED_MATRIX_INDEX_TYPE_INT32, deltas,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, error);
  g_free (deltas);
  return ok;
}

static void
assert_same_value (GstSharedMatrix * a, GstSharedMatrix * b)
{
  GBytes *va = gst_shared_matrix_get_value (a);
  GBytes *vb = gst_shared_matrix_get_value (b);

  fail_unless (va != NULL && vb != NULL);
  fail_unless (g_bytes_equal (va, vb), "the matrices differ");
  g_bytes_unref (va);
  g_bytes_unref (vb);
}

/* @err is a device error naming the CUDA call and error, and saying
 * whether the matrix is lost. */
static void
assert_device_error (const GError * err, const gchar * call,
    cudaError_t cuda_error, gboolean lost)
{
  fail_unless (err != NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_DEVICE), "%s", err->message);
  fail_unless (strstr (err->message, call) != NULL, "no %s in: %s", call,
      err->message);
  fail_unless (strstr (err->message, cudaGetErrorName (cuda_error)) != NULL,
      "no %s in: %s", cudaGetErrorName (cuda_error), err->message);
  fail_unless (strstr (err->message, cudaGetErrorString (cuda_error)) != NULL,
      "no '%s' in: %s", cudaGetErrorString (cuda_error), err->message);
  if (lost)
    fail_unless (strstr (err->message, "every later operation on it fails")
        != NULL, "not lost: %s", err->message);
  else
    fail_unless (strstr (err->message, "the matrix is unchanged and can "
            "still be used") != NULL, "lost: %s", err->message);
}

/* A lost matrix: every operation fails at once with @expect, without a
 * single CUDA call, and the version stays. */
static void
assert_lost (GstSharedMatrix * m, const GError * expect)
{
  guint64 version = gst_shared_matrix_get_version (m);
  unsigned long calls = mock_cuda_calls ();
  gsize size = gst_shared_matrix_get_size (m, GST_SHARED_MATRIX_FORMAT_RAW);
  guint8 *dest = g_malloc (size);
  gint32 idx[2] = { 0, (gint32) gst_shared_matrix_get_rows (m) - 1 };
  GBytes *indices = g_bytes_new (idx, sizeof idx);
  GBytes *zeros = g_bytes_new_take (g_malloc0 (size), size);
  gchar *dir = g_dir_make_tmp ("sharedmatrix-mock-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "m.npy", NULL);
  GError *errs[8] = { NULL, };
  guint i;

  fail_if (small_update (m, 99, &errs[0]));
  fail_if (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, NULL, 0,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, NULL,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, &errs[1]));
  fail_if (gst_shared_matrix_set_value (m, zeros, &errs[2]));
  fail_if (gst_shared_matrix_get_value_full (m, GST_SHARED_MATRIX_FORMAT_NPY,
          &errs[3]));
  fail_if (gst_shared_matrix_copy_to (m, GST_SHARED_MATRIX_FORMAT_RAW, dest,
          size, NULL, &errs[4]));
  fail_if (gst_shared_matrix_gather_bytes (m, indices,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, &errs[5]));
  fail_if (gst_shared_matrix_save_npy (m, path, &errs[6]));
  fail_if (gst_shared_matrix_get_checkpoint (m, 7, &errs[7]));
  /* no GError here: NULL, and a warning in the debug log only */
  fail_if (gst_shared_matrix_get_value (m));
  for (i = 0; i < G_N_ELEMENTS (errs); i++) {
    fail_unless (g_error_matches (errs[i], expect->domain, expect->code),
        "call %u: %s", i, errs[i] ? errs[i]->message : "no error");
    /* save_npy says where it did not save to first */
    fail_unless (g_str_has_suffix (errs[i]->message, expect->message),
        "call %u: %s", i, errs[i]->message);
    g_error_free (errs[i]);
  }
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS));
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), version);
  fail_unless_equals_int (mock_cuda_calls () - calls, 0);

  g_rmdir (dir);
  g_free (path);
  g_free (dir);
  g_bytes_unref (zeros);
  g_bytes_unref (indices);
  g_free (dest);
}

static void
assert_all_released (void)
{
  fail_unless_equals_uint64 (mock_cuda_device_bytes_in_use (), 0);
  fail_unless_equals_uint64 (mock_cuda_pinned_bytes_in_use (), 0);
  fail_unless (mock_cuda_first_misuse () == NULL, "%s",
      mock_cuda_first_misuse ());
}

static const struct
{
  MockCudaSite site;
  cudaError_t err;
  gboolean sticky;
  const gchar *call;
} update_faults[] = {
  {MOCK_CUDA_MEMCPY, cudaErrorInvalidValue, FALSE, "cudaMemcpyAsync"},
  {MOCK_CUDA_LAUNCH, cudaErrorInvalidValue, FALSE, "sm_cuda_launch_scatter"},
  {MOCK_CUDA_MEMCPY, cudaErrorIllegalAddress, TRUE, "cudaMemcpyAsync"},
  {MOCK_CUDA_LAUNCH, cudaErrorLaunchFailure, TRUE, "sm_cuda_launch_scatter"},
  /* the fifth update reuses the first one's slot: it waits for its copy */
  {MOCK_CUDA_EVENT_SYNC, cudaErrorECCUncorrectable, TRUE,
      "cudaEventSynchronize"},
};

/* A failed update is an error of the library call, the version stays. A
 * non-sticky failure before anything was written leaves a usable matrix
 * without the update; a sticky one loses the matrix for good. */
GST_START_TEST (test_mock_update_device_errors)
{
  GstSharedMatrix *m, *ref;
  GError *err = NULL;
  guint64 k;

  configure (1 << 30);
  m = new_matrix (GST_SHARED_MATRIX_BACKEND_CUDA);
  ref = new_matrix (GST_SHARED_MATRIX_BACKEND_CPU);
  for (k = 1; k <= 4; k++) {
    fail_unless (small_update (m, k, NULL));
    fail_unless (small_update (ref, k, NULL));
  }
  mock_cuda_inject_fault (update_faults[__i__].site, 1,
      update_faults[__i__].err, update_faults[__i__].sticky);
  fail_if (small_update (m, 5, &err));
  assert_device_error (err, update_faults[__i__].call,
      update_faults[__i__].err, update_faults[__i__].sticky);
  fail_unless (strstr (err->message, "failed to apply an update to the 157 "
          "x 45 float32 matrix") != NULL, "%s", err->message);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 4);

  if (update_faults[__i__].sticky) {
    fail_unless (strstr (err->message, "sticky") != NULL, "%s", err->message);
    assert_lost (m, err);
  } else {
    fail_unless (small_update (m, 5, NULL));
    fail_unless (small_update (ref, 5, NULL));
    fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 5);
    assert_same_value (m, ref);
  }
  g_clear_error (&err);
  gst_object_unref (m);
  gst_object_unref (ref);
  assert_all_released ();
}

GST_END_TEST;

/* A kernel that faults does so after its update returned: the error
 * surfaces at the next wait (here a gather's), sticky. */
GST_START_TEST (test_mock_kernel_fault_surfaces_at_next_wait)
{
  gint32 idx[1] = { 3 };
  GBytes *indices = g_bytes_new (idx, sizeof idx);
  GstSharedMatrix *m;
  GError *err = NULL;

  /* lazy: queued work runs only when the host waits */
  configure_full (1 << 30, TRUE);
  m = new_matrix (GST_SHARED_MATRIX_BACKEND_CUDA);
  mock_cuda_inject_fault (MOCK_CUDA_KERNEL, 1, cudaErrorIllegalAddress, TRUE);
  fail_unless (small_update (m, 1, NULL));
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 1);
  fail_if (gst_shared_matrix_gather_bytes (m, indices,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, &err));
  assert_device_error (err, "cudaStreamSynchronize", cudaErrorIllegalAddress,
      TRUE);
  fail_unless (strstr (err->message, "failed to gather rows from") != NULL,
      "%s", err->message);
  assert_lost (m, err);
  g_clear_error (&err);
  gst_object_unref (m);
  g_bytes_unref (indices);
  assert_all_released ();
}

GST_END_TEST;

/* An update in chunks whose second chunk fails (not sticky) leaves the
 * first one applied: the matrix is lost, even though the device works. */
GST_START_TEST (test_mock_partial_update_loses_the_matrix)
{
  guint64 s = 3, rows = 700;
  guint cols = 1024;
  gsize n = 2600, i;            /* 20 MiB of float64 deltas: 2 chunks */
  guint8 *deltas = g_malloc (n * cols * 8);
  gint32 *idx = g_new (gint32, n);
  GstSharedMatrix *m;
  GError *err = NULL;

  configure_full ((gsize) 1 << 30, TRUE);
  m = gst_shared_matrix_new (rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_CUDA, &err);
  fail_unless (m != NULL, "%s", err ? err->message : "?");
  for (i = 0; i < n; i++)
    idx[i] = (gint32) (test_rng_next (&s) % rows);
  test_rng_fill (deltas, n * cols, GST_SHARED_MATRIX_DTYPE_FLOAT64, &s, FALSE);
  mock_cuda_inject_fault (MOCK_CUDA_MEMCPY, 2, cudaErrorInvalidValue, FALSE);
  fail_if (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, idx, n,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, deltas,
          GST_SHARED_MATRIX_DTYPE_FLOAT64, NULL, NULL, &err));
  assert_device_error (err, "cudaMemcpyAsync", cudaErrorInvalidValue, TRUE);
  fail_unless (strstr (err->message, "part of the update") != NULL, "%s",
      err->message);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 0);
  assert_lost (m, err);
  g_clear_error (&err);
  gst_object_unref (m);
  g_free (deltas);
  g_free (idx);
  assert_all_released ();
}

GST_END_TEST;

/* The zero policy through the library on the device path: invalid ids
 * give zero rows from the gather kernel, byte for byte what the CPU
 * backend gives, in one chunk and in many (rows bigger than a slot), and
 * the error policy rejects the read before any launch. */
GST_START_TEST (test_mock_gather_zero_policy_matches_cpu)
{
  static const struct
  {
    guint64 rows;
    guint cols;
    gsize n;
  } cases[] = { {97, 33, 300}, {700, 1024, 5000} };
  guint c;

  configure_full ((gsize) 1 << 30, TRUE);
  for (c = 0; c < G_N_ELEMENTS (cases); c++) {
    int dtype = c ? GST_SHARED_MATRIX_DTYPE_FLOAT64 :
        GST_SHARED_MATRIX_DTYPE_BFLOAT16;
    guint64 rows = cases[c].rows, s = 31 + c, zeroed_cpu = 9, zeroed_gpu = 9;
    guint64 version = 0, n_invalid = 0;
    gsize n = cases[c].n, i, bytes = rows * cases[c].cols *
        test_ref_dtype_size (dtype);
    guint8 *initial = g_malloc (bytes);
    gint64 *idx = g_new (gint64, n);
    GstSharedMatrix *cpu, *gpu;
    GBytes *init, *ib, *a, *b;
    GError *err = NULL;

    test_rng_fill (initial, rows * cases[c].cols, dtype, &s, TRUE);
    init = g_bytes_new_take (initial, bytes);
    cpu = gst_shared_matrix_new (rows, cases[c].cols, dtype,
        GST_SHARED_MATRIX_BACKEND_CPU, &err);
    gpu = gst_shared_matrix_new (rows, cases[c].cols, dtype,
        GST_SHARED_MATRIX_BACKEND_CUDA, &err);
    fail_unless (cpu && gpu, "%s", err ? err->message : "");
    fail_unless (gst_shared_matrix_set_value (cpu, init, NULL));
    fail_unless (gst_shared_matrix_set_value (gpu, init, NULL));
    for (i = 0; i < n; i++) {
      idx[i] = i % 9 == 4 ? -1 - (gint64) i : i % 9 == 7 ? (gint64) rows :
          i % 17 == 5 ? G_MAXINT64 : (gint64) (test_rng_next (&s) % rows);
      n_invalid += idx[i] < 0 || idx[i] >= (gint64) rows;
    }
    ib = g_bytes_new (idx, n * 8);
    a = gst_shared_matrix_gather_bytes_full (cpu, ib,
        GST_SHARED_MATRIX_INDEX_TYPE_INT64,
        GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO, NULL, &zeroed_cpu, &err);
    b = gst_shared_matrix_gather_bytes_full (gpu, ib,
        GST_SHARED_MATRIX_INDEX_TYPE_INT64,
        GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO, &version, &zeroed_gpu,
        &err);
    fail_unless (a && b, "%s", err ? err->message : "");
    fail_unless_equals_uint64 (zeroed_cpu, n_invalid);
    fail_unless_equals_uint64 (zeroed_gpu, n_invalid);
    fail_unless_equals_uint64 (version, 1);
    fail_unless (g_bytes_equal (a, b), "case %u: device gather differs", c);
    assert_same (g_bytes_get_data (a, NULL), g_bytes_get_data (b, NULL),
        g_bytes_get_size (a), dtype, "zero-policy gather");
    g_bytes_unref (a);
    g_bytes_unref (b);

    fail_if (gst_shared_matrix_gather_bytes_full (gpu, ib,
            GST_SHARED_MATRIX_INDEX_TYPE_INT64,
            GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR, NULL, NULL, &err));
    fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
            GST_SHARED_MATRIX_ERROR_INVALID_INDEX));
    g_clear_error (&err);

    g_bytes_unref (ib);
    g_bytes_unref (init);
    g_free (idx);
    gst_object_unref (cpu);
    gst_object_unref (gpu);
  }
  assert_all_released ();
}

GST_END_TEST;

/* Reads, writes and gathers that fail before writing anything are errors
 * of the call only: the matrix keeps its contents and its version. */
GST_START_TEST (test_mock_read_write_gather_errors)
{
  gint32 idx[3] = { 0, 5, FAULT_ROWS - 1 };
  GBytes *indices = g_bytes_new (idx, sizeof idx);
  gsize size = (gsize) FAULT_ROWS * FAULT_COLS * 4;
  GBytes *zeros = g_bytes_new_take (g_malloc0 (size), size);
  GstSharedMatrix *m, *ref;
  GError *err = NULL;
  GBytes *before, *after;

  configure (1 << 30);
  m = new_matrix (GST_SHARED_MATRIX_BACKEND_CUDA);
  ref = new_matrix (GST_SHARED_MATRIX_BACKEND_CPU);
  fail_unless (small_update (m, 1, NULL) && small_update (ref, 1, NULL));
  before = gst_shared_matrix_get_value (m);

  mock_cuda_inject_fault (MOCK_CUDA_MEMCPY, 1, cudaErrorInvalidValue, FALSE);
  fail_if (gst_shared_matrix_get_value_full (m, GST_SHARED_MATRIX_FORMAT_RAW,
          &err));
  assert_device_error (err, "cudaMemcpyAsync", cudaErrorInvalidValue, FALSE);
  fail_unless (strstr (err->message, "failed to read") != NULL, "%s",
      err->message);
  g_clear_error (&err);

  mock_cuda_inject_fault (MOCK_CUDA_MEMCPY, 1, cudaErrorInvalidValue, FALSE);
  fail_if (gst_shared_matrix_set_value (m, zeros, &err));
  assert_device_error (err, "cudaMemcpyAsync", cudaErrorInvalidValue, FALSE);
  fail_unless (strstr (err->message, "failed to write") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 1);

  mock_cuda_inject_fault (MOCK_CUDA_LAUNCH, 1, cudaErrorInvalidValue, FALSE);
  fail_if (gst_shared_matrix_gather_bytes (m, indices,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, &err));
  assert_device_error (err, "sm_cuda_launch_gather", cudaErrorInvalidValue,
      FALSE);
  g_clear_error (&err);

  /* the getter without a GError: NULL, no warning or critical */
  mock_cuda_inject_fault (MOCK_CUDA_MEMCPY, 1, cudaErrorInvalidValue, FALSE);
  fail_if (gst_shared_matrix_get_value (m));

  after = gst_shared_matrix_get_value (m);
  fail_unless (after != NULL && g_bytes_equal (before, after));
  g_bytes_unref (after);
  assert_same_value (m, ref);
  /* and it goes on working */
  fail_unless (small_update (m, 2, NULL) && small_update (ref, 2, NULL));
  assert_same_value (m, ref);
  fail_unless (gst_shared_matrix_set_value (m, zeros, NULL));
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 3);

  g_bytes_unref (before);
  g_bytes_unref (zeros);
  g_bytes_unref (indices);
  gst_object_unref (m);
  gst_object_unref (ref);
  assert_all_released ();
}

GST_END_TEST;

/* A matrix made from a file whose contents cannot be written to the device
 * is not made: an error, and nothing left allocated. */
GST_START_TEST (test_mock_new_from_npy_write_error)
{
  gchar *dir = g_dir_make_tmp ("sharedmatrix-mock-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "m.npy", NULL);
  GstSharedMatrix *m, *ref;
  GError *err = NULL;

  configure (1 << 30);
  ref = new_matrix (GST_SHARED_MATRIX_BACKEND_CPU);
  fail_unless (small_update (ref, 1, NULL));
  fail_unless (gst_shared_matrix_save_npy (ref, path, NULL));
  m = gst_shared_matrix_new_from_npy (path, GST_SHARED_MATRIX_BACKEND_CUDA,
      NULL);
  fail_unless (m != NULL);
  assert_same_value (m, ref);
  gst_object_unref (m);

  /* the first wait is the zero fill's at creation, the second the write's */
  mock_cuda_inject_fault (MOCK_CUDA_STREAM_SYNC, 2, cudaErrorIllegalAddress,
      TRUE);
  fail_if (gst_shared_matrix_new_from_npy (path,
          GST_SHARED_MATRIX_BACKEND_CUDA, &err));
  assert_device_error (err, "cudaStreamSynchronize", cudaErrorIllegalAddress,
      TRUE);
  fail_unless (strstr (err->message, "failed to write") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  assert_all_released ();

  gst_object_unref (ref);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

static GstBuffer *
update_buffer (guint64 seed)
{
  gsize n = 10, i;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, n * 4 + n * FAULT_COLS * 4,
      NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (i = 0; i < n; i++) {
    gint32 r = (gint32) (test_rng_next (&seed) % FAULT_ROWS);

    memcpy (map.data + i * 4, &r, 4);
  }
  test_rng_fill (map.data + n * 4, n * FAULT_COLS,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, &seed, FALSE);
  gst_buffer_unmap (buf, &map);
  return buf;
}

/* The next message on @bus is a RESOURCE FAILED error starting with
 * @what and carrying the sticky illegal address error. */
static void
assert_element_error (GstBus * bus, const gchar * what)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *err = NULL;

  fail_unless (msg != NULL, "no ERROR message for: %s", what);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_FAILED), "%s", err->message);
  fail_unless (g_str_has_prefix (err->message, what), "%s", err->message);
  fail_unless (strstr (err->message, "cudaErrorIllegalAddress") != NULL &&
      strstr (err->message, "restart the process") != NULL, "%s",
      err->message);
  g_error_free (err);
  gst_message_unref (msg);
}

/* The element on a device that fails: the snapshot that finds the fault,
 * every later update and the snapshot action are element errors, and the
 * flow stops with GST_FLOW_ERROR. */
GST_START_TEST (test_mock_element_device_errors)
{
  GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
  GstBus *bus = gst_bus_new ();
  GstSample *sample = NULL;
  GstSharedMatrixBackend active;
  guint64 version, applied;
  GstHarness *h;

  fail_unless (el != NULL, "sharedmatrix element not found");
  configure_full (1 << 30, TRUE);
  g_object_set (el, "rows", (guint64) FAULT_ROWS, "cols", FAULT_COLS,
      "backend", GST_SHARED_MATRIX_BACKEND_CUDA, "snapshot-every", 2, NULL);
  gst_element_set_bus (el, bus);
  h = gst_harness_new_with_element (el, "sink", "src");
  gst_harness_set_src_caps_str (h, "application/x-matrix-update, "
      "dtype=(string)float32, index-type=(string)int32, cols=(int)"
      G_STRINGIFY (FAULT_COLS));
  g_object_get (el, "active-backend", &active, NULL);
  fail_unless_equals_int (active, GST_SHARED_MATRIX_BACKEND_CUDA);

  fail_unless_equals_int (gst_harness_push (h, update_buffer (1)),
      GST_FLOW_OK);
  /* the next kernel to run faults: the first update's, which the lazy
   * device runs when the snapshot after the second update waits */
  mock_cuda_inject_fault (MOCK_CUDA_KERNEL, 1, cudaErrorIllegalAddress, TRUE);
  fail_unless_equals_int (gst_harness_push (h, update_buffer (2)),
      GST_FLOW_ERROR);
  assert_element_error (bus, "Cannot take a snapshot of the matrix");
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);

  fail_unless_equals_int (gst_harness_push (h, update_buffer (3)),
      GST_FLOW_ERROR);
  assert_element_error (bus, "Cannot apply an update");
  g_object_get (el, "version", &version, "updates-applied", &applied, NULL);
  fail_unless_equals_uint64 (version, 2);
  fail_unless_equals_uint64 (applied, 2);

  g_signal_emit_by_name (el, "snapshot", &sample);
  fail_unless (sample == NULL);
  assert_element_error (bus, "Cannot take a snapshot of the matrix");

  gst_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (el);
  fail_unless_equals_uint64 (mock_cuda_device_bytes_in_use (), 0);
  fail_unless (mock_cuda_first_misuse () == NULL, "%s",
      mock_cuda_first_misuse ());
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
  tcase_add_loop_test (tc, test_mock_delta_matches_cpu, 0, 8);
  tcase_add_test (tc, test_mock_big_update_chunked);
  tcase_add_test (tc, test_mock_gather_zero_policy_matches_cpu);
  tcase_add_test (tc, test_mock_slot_growth_fails);
  tcase_add_test (tc, test_mock_out_of_memory_is_a_gerror);
  tcase_add_test (tc, test_mock_updates_do_not_synchronise);
  tcase_add_test (tc, test_mock_staging_allocator);
  tcase_add_loop_test (tc, test_mock_pinned_updates_match_cpu, 0, 8);
  tcase_add_test (tc, test_mock_pinned_update_chunked);
  tcase_add_loop_test (tc, test_mock_update_device_errors, 0,
      G_N_ELEMENTS (update_faults));
  tcase_add_test (tc, test_mock_kernel_fault_surfaces_at_next_wait);
  tcase_add_test (tc, test_mock_partial_update_loses_the_matrix);
  tcase_add_test (tc, test_mock_read_write_gather_errors);
  tcase_add_test (tc, test_mock_new_from_npy_write_error);
  tcase_add_test (tc, test_mock_element_device_errors);
  return s;
}

GST_CHECK_MAIN (mock);
