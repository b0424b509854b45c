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
 *   snapshot          copy_to () of the whole matrix into pinned memory
 *                     (the staging allocator's) and into pageable memory
 *   large batches     updates of --large-batch rows on a --large-rows x cols
 *                     matrix, from pageable and from pinned memory: updates/s,
 *                     the bytes the scatter kernel moves per second, and the
 *                     update data sent over the host link per second
 *
 * and, to compare those with what the machine can do, in the same run:
 *
 *   device reference  the device's memory bandwidth from its memory clock and
 *                     bus width, a device-to-device cuMemcpy, and pinned
 *                     host<->device cuMemcpy of the matrix's size. These use
 *                     the CUDA driver API, loaded with dlopen () so that the
 *                     program builds and starts without CUDA.
 *
 * It ends with each figure against its target (docs/cuda.md): the 200-row
 * update <= 10 us end to end, large batches >= 70% of the device's memory
 * bandwidth, snapshots >= 80% of the host link's. Ratios, never pass/fail.
 *
 * Usage: bench-cuda [--rows N] [--cols N] [--batch N] [--updates N]
 *                   [--dtype float32|float64|float16|bfloat16]
 *                   [--op set|add|sub|mul|min|max] [--backend cuda|cpu|auto]
 *                   [--large-rows N] [--large-batch N] [--large-updates N]
 *                   [--no-large]
 *
 * Without a usable CUDA device, --backend cuda (the default) prints why and
 * exits 77 (--backend cpu runs the same measurements on the CPU backend).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* microseconds, with the clock's full resolution (the 200-row update is
 * measured against a 10 us target) */
static double
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
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


/* Waits for every queued update: a one-row gather synchronises the stream. */
static gboolean
large_wait (GstSharedMatrix * m)
{
  gint32 row = 0;
  GBytes *idx = g_bytes_new (&row, sizeof row);
  GBytes *got = gst_shared_matrix_gather_bytes (m, idx,
      GST_SHARED_MATRIX_INDEX_TYPE_INT32, NULL);

  g_bytes_unref (idx);
  if (got == NULL)
    return FALSE;
  g_bytes_unref (got);
  return TRUE;
}

/* ---- the device's own figures, through the CUDA driver API -------------- */

/* The few driver API declarations used, so that no CUDA header is needed
 * (values from CUDA 13's cuda.h). */
typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef unsigned long long CUdeviceptr;
#define CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE 36        /* kHz */
#define CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH 37  /* bits */

typedef struct
{
  gboolean have;
  gchar why[512];
  gchar name[256];
  double mem_clock_mhz, bus_bits;
  double theoretical_gbs;       /* 2 (DDR) x memory clock x bus width */
  double d2d_gbs;               /* device-to-device copy, read + write */
  gsize host_bytes;
  double h2d_gbs, d2h_gbs;      /* pinned host memory, host_bytes each */
} DeviceReference;

static double
median_of (double *v, guint n)
{
  qsort (v, n, sizeof (double), compare_doubles);
  return v[n / 2];
}

/* Device ordinal 0, the device the library picks with device-id -1 when it
 * is usable. Copies of host_bytes between pinned host memory and the
 * device; a 256 MiB device-to-device copy. Medians of 15. */
static void
measure_device_reference (gsize host_bytes, DeviceReference * ref)
{
  CUresult (*cuInit) (unsigned) = NULL;
  CUresult (*cuDeviceGet) (CUdevice *, int) = NULL;
  CUresult (*cuDeviceGetAttribute) (int *, int, CUdevice) = NULL;
  CUresult (*cuDeviceGetName) (char *, int, CUdevice) = NULL;
  CUresult (*cuDevicePrimaryCtxRetain) (CUcontext *, CUdevice) = NULL;
  CUresult (*cuDevicePrimaryCtxRelease) (CUdevice) = NULL;
  CUresult (*cuCtxSetCurrent) (CUcontext) = NULL;
  CUresult (*cuCtxSynchronize) (void) = NULL;
  CUresult (*cuMemAlloc) (CUdeviceptr *, size_t) = NULL;
  CUresult (*cuMemFree) (CUdeviceptr) = NULL;
  CUresult (*cuMemHostAlloc) (void **, size_t, unsigned) = NULL;
  CUresult (*cuMemFreeHost) (void *) = NULL;
  CUresult (*cuMemcpyDtoD) (CUdeviceptr, CUdeviceptr, size_t) = NULL;
  CUresult (*cuMemcpyHtoD) (CUdeviceptr, const void *, size_t) = NULL;
  CUresult (*cuMemcpyDtoH) (void *, CUdeviceptr, size_t) = NULL;
  const gsize d2d_bytes = 256u << 20;
  const guint reps = 15;
  double t[15];
  void *lib, *host = NULL;
  CUdevice dev = 0;
  CUcontext ctx = NULL;
  CUdeviceptr a = 0, b = 0, dh = 0;
  int clock_khz = 0, bus_bits = 0;
  double t0;
  CUresult r;
  guint i;

  memset (ref, 0, sizeof *ref);
  ref->host_bytes = host_bytes;
  lib = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    g_snprintf (ref->why, sizeof ref->why, "libcuda.so.1 cannot be loaded: "
        "%s", dlerror ());
    return;
  }
#define SYM(var, name) \
  if ((*(void **) &var = dlsym (lib, name)) == NULL) { \
    g_snprintf (ref->why, sizeof ref->why, "libcuda.so.1 has no %s", name); \
    goto out; \
  }
  SYM (cuInit, "cuInit");
  SYM (cuDeviceGet, "cuDeviceGet");
  SYM (cuDeviceGetAttribute, "cuDeviceGetAttribute");
  SYM (cuDeviceGetName, "cuDeviceGetName");
  SYM (cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  SYM (cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  SYM (cuCtxSetCurrent, "cuCtxSetCurrent");
  SYM (cuCtxSynchronize, "cuCtxSynchronize");
  SYM (cuMemAlloc, "cuMemAlloc_v2");
  SYM (cuMemFree, "cuMemFree_v2");
  SYM (cuMemHostAlloc, "cuMemHostAlloc");
  SYM (cuMemFreeHost, "cuMemFreeHost");
  SYM (cuMemcpyDtoD, "cuMemcpyDtoD_v2");
  SYM (cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  SYM (cuMemcpyDtoH, "cuMemcpyDtoH_v2");
#undef SYM

#define CU(call) \
  if ((r = (call)) != 0) { \
    g_snprintf (ref->why, sizeof ref->why, "%s failed: CUresult %d", #call, r); \
    goto out; \
  }
  CU (cuInit (0));
  CU (cuDeviceGet (&dev, 0));
  CU (cuDeviceGetName (ref->name, sizeof ref->name - 1, dev));
  CU (cuDeviceGetAttribute (&clock_khz, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE,
          dev));
  CU (cuDeviceGetAttribute (&bus_bits,
          CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, dev));
  ref->mem_clock_mhz = clock_khz / 1e3;
  ref->bus_bits = bus_bits;
  ref->theoretical_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  CU (cuDevicePrimaryCtxRetain (&ctx, dev));
  CU (cuCtxSetCurrent (ctx));

  CU (cuMemAlloc (&a, d2d_bytes));
  CU (cuMemAlloc (&b, d2d_bytes));
  CU (cuMemcpyDtoD (b, a, d2d_bytes));  /* warm up */
  CU (cuCtxSynchronize ());
  for (i = 0; i < reps; i++) {
    t0 = now_us ();
    CU (cuMemcpyDtoD (b, a, d2d_bytes));
    CU (cuCtxSynchronize ());
    t[i] = MAX (now_us () - t0, 1e-3);
  }
  ref->d2d_gbs = 2.0 * d2d_bytes / (median_of (t, reps) * 1e3);

  CU (cuMemHostAlloc (&host, host_bytes, 0));
  memset (host, 1, host_bytes);
  CU (cuMemAlloc (&dh, host_bytes));
  CU (cuMemcpyHtoD (dh, host, host_bytes));     /* warm up */
  for (i = 0; i < reps; i++) {
    t0 = now_us ();
    CU (cuMemcpyHtoD (dh, host, host_bytes));
    t[i] = MAX (now_us () - t0, 1e-3);
  }
  ref->h2d_gbs = host_bytes / (median_of (t, reps) * 1e3);
  for (i = 0; i < reps; i++) {
    t0 = now_us ();
    CU (cuMemcpyDtoH (host, dh, host_bytes));
    t[i] = MAX (now_us () - t0, 1e-3);
  }
  ref->d2h_gbs = host_bytes / (median_of (t, reps) * 1e3);
  ref->have = TRUE;
#undef CU

out:
  if (dh)
    cuMemFree (dh);
  if (b)
    cuMemFree (b);
  if (a)
    cuMemFree (a);
  if (host)
    cuMemFreeHost (host);
  if (ctx)
    cuDevicePrimaryCtxRelease (dev);
  /* the library's CUDA runtime still uses the driver: never dlclose it */
}

/* copy_to () of the whole matrix into dest, median of 15 after a warm-up:
 * GB/s, or 0 when it failed */
static double
time_snapshot (GstSharedMatrix * m, guint8 * dest, gsize bytes,
    const gchar * what)
{
  const guint reps = 15;
  double t[15], t0, gbs;
  GError *err = NULL;
  guint k;

  for (k = 0; k <= reps; k++) {         /* k == 0 warms up */
    t0 = now_us ();
    if (!gst_shared_matrix_copy_to (m, GST_SHARED_MATRIX_FORMAT_RAW, dest,
            bytes, NULL, &err)) {
      g_print ("snapshot           into %s memory failed: %s\n", what,
          err->message);
      g_clear_error (&err);
      return 0;
    }
    if (k > 0)
      t[k - 1] = MAX (now_us () - t0, 1e-3);
  }
  gbs = bytes / (median_of (t, reps) * 1e3);
  g_print ("snapshot           %.1f us per copy_to of %.3g bytes into %s "
      "memory, %.2f GB/s (median of %u)\n", median_of (t, reps),
      (double) bytes, what, gbs, reps);
  return gbs;
}

/* ---- update data ----------------------------------------------------------- */

/* Fills n values of dtype near 1.0, so that mul/add stay finite over many
 * updates. */
static void
fill_deltas (guint8 * out, gsize n, GstSharedMatrixDType dtype, guint64 * s)
{
  gsize i;

  for (i = 0; i < n; i++) {
    double v = 1.0 + ((rng_next (s) >> 11) * (1.0 / 9007199254740992.0)
        - 0.5) * 1e-3;
    float f = (float) v;
    guint16 h;

    switch (dtype) {
      case GST_SHARED_MATRIX_DTYPE_FLOAT32:
        memcpy (out + i * 4, &f, 4);
        break;
      case GST_SHARED_MATRIX_DTYPE_FLOAT64:
        memcpy (out + i * 8, &v, 8);
        break;
      case GST_SHARED_MATRIX_DTYPE_FLOAT16:
        h = 0x3c00;             /* 1.0 */
        memcpy (out + i * 2, &h, 2);
        break;
      default:
        h = 0x3f80;             /* 1.0 */
        memcpy (out + i * 2, &h, 2);
        break;
    }
  }
}

/* An update's indices and deltas in one block of host memory, pinned when
 * the matrix's staging allocator gives one. */
typedef struct
{
  GstMemory *mem;               /* pinned, or NULL: pageable */
  GstMapInfo map;
  guint8 *pageable;
  gint32 *idx;
  guint8 *deltas;
} UpdateBlock;

static gboolean
update_block_init (UpdateBlock * u, GstAllocator * pinned, gsize n,
    gsize row_bytes)
{
  gsize size = n * 4 + n * row_bytes;

  memset (u, 0, sizeof *u);
  if (pinned) {
    u->mem = gst_allocator_alloc (pinned, size, NULL);
    if (u->mem == NULL || !gst_memory_map (u->mem, &u->map, GST_MAP_WRITE)) {
      if (u->mem)
        gst_memory_unref (u->mem);
      u->mem = NULL;
      return FALSE;
    }
    u->idx = (gint32 *) u->map.data;
  } else {
    u->pageable = g_malloc (size);
    u->idx = (gint32 *) u->pageable;
  }
  u->deltas = (guint8 *) u->idx + n * 4;
  return TRUE;
}

static void
update_block_clear (UpdateBlock * u)
{
  if (u->mem) {
    gst_memory_unmap (u->mem, &u->map);
    gst_memory_unref (u->mem);
  }
  g_free (u->pageable);
  memset (u, 0, sizeof *u);
}

/* Large batches: figures for one source of update data (pinned or
 * pageable). Returns FALSE when an update failed. */
typedef struct
{
  gboolean done;
  double sec;
  guint updates;
  double kernel_bytes;          /* per update, see large_batches () */
  double link_bytes;            /* per update: indices + deltas */
} LargeFigures;

#define N_LARGE_BLOCKS 4

static gboolean
large_batches (GstSharedMatrix * m, GstSharedMatrixOp op,
    GstSharedMatrixDType dtype, guint64 rows, gint cols, gint batch,
    gint updates, GstAllocator * pinned, LargeFigures * fig)
{
  gsize dsize = gst_shared_matrix_dtype_size (dtype);
  gsize row_bytes = (gsize) cols * dsize;
  UpdateBlock blk[N_LARGE_BLOCKS];
  guint8 *seen = g_malloc0 ((rows + 7) / 8);
  guint64 s = pinned ? 7 : 5, distinct = 0;
  GError *err = NULL;
  gboolean ok = TRUE;
  double t0;
  gint i, k;

  memset (fig, 0, sizeof *fig);
  for (k = 0; k < N_LARGE_BLOCKS; k++) {
    if (!update_block_init (&blk[k], pinned, batch, row_bytes)) {
      g_print ("large batches      no pinned memory for %d rows\n", batch);
      for (i = 0; i < k; i++)
        update_block_clear (&blk[i]);
      g_free (seen);
      return FALSE;
    }
    for (i = 0; i < batch; i++)
      blk[k].idx[i] = (gint32) (rng_next (&s) % rows);
    fill_deltas (blk[k].deltas, (gsize) batch * cols, dtype, &s);
  }
  /* distinct rows of one update (the kernel reads and writes each once) */
  for (i = 0; i < batch; i++) {
    guint64 r = (guint64) blk[0].idx[i];

    if (!(seen[r / 8] & (1u << (r % 8)))) {
      seen[r / 8] |= 1u << (r % 8);
      distinct++;
    }
  }
  /* the scatter kernel reads every delta row, reads each distinct row (not
   * for set) and writes it, and reads the grouping: rows[] and
   * group_start[] per distinct row, order[] per occurrence */
  fig->kernel_bytes = (double) batch * row_bytes
      + (double) distinct * row_bytes * (op == GST_SHARED_MATRIX_OP_SET ? 1 : 2)
      + (double) distinct * 8 + (double) batch * 4;
  fig->link_bytes = (double) batch * (4 + row_bytes);

#define LARGE_UPDATE(k) \
  gst_shared_matrix_update (m, op, blk[(k) % N_LARGE_BLOCKS].idx, batch, \
      GST_SHARED_MATRIX_INDEX_TYPE_INT32, blk[(k) % N_LARGE_BLOCKS].deltas, \
      dtype, NULL, NULL, &err)

  for (k = 0; k < 3 && ok; k++)         /* warm up: slots grow */
    ok = LARGE_UPDATE (k);
  if (ok)
    ok = large_wait (m);
  t0 = now_us ();
  for (k = 0; k < updates && ok; k++)
    ok = LARGE_UPDATE (k);
  if (ok)
    ok = large_wait (m);
  fig->sec = (now_us () - t0) / 1e6;
  fig->updates = updates;
  fig->done = ok;
#undef LARGE_UPDATE
  if (!ok)
    g_print ("large batches      an update failed: %s\n", err ? err->message
        : "(no message)");
  g_clear_error (&err);
  for (k = 0; k < N_LARGE_BLOCKS; k++)
    update_block_clear (&blk[k]);
  g_free (seen);
  return ok;
}

static void
print_large (const gchar * what, const LargeFigures * f, gint batch)
{
  if (!f->done)
    return;
  g_print ("large batches      %-8s %.0f updates/s, %.3g rows/s; the kernel's "
      "memory traffic %.1f GB/s; update data over the host link %.2f GB/s "
      "(%u updates in %.3f s)\n", what, f->updates / f->sec,
      f->updates * (double) batch / f->sec,
      f->updates * f->kernel_bytes / f->sec / 1e9,
      f->updates * f->link_bytes / f->sec / 1e9, f->updates, f->sec);
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
  gint64 large_rows = 1000000;
  gint large_batch = 65536, large_updates = 40;
  gboolean no_large = FALSE;
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
    {"large-rows", 0, 0, G_OPTION_ARG_INT64, &large_rows, "rows of the "
          "large-batch matrix (1000000)", "N"},
    {"large-batch", 0, 0, G_OPTION_ARG_INT, &large_batch, "rows per large "
          "update (65536)", "N"},
    {"large-updates", 0, 0, G_OPTION_ARG_INT, &large_updates, "large updates "
          "timed (40)", "N"},
    {"no-large", 0, 0, G_OPTION_ARG_NONE, &no_large, "skip the large "
          "batches", NULL},
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
  double t0, t1;
  gint i, k;
  double applied_p50 = 0, snap_pinned_gbs = 0, snap_pageable_gbs = 0;
  LargeFigures large_pageable = { 0 }, large_pinned = { 0 };
  DeviceReference ref;

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (rows < 1 || cols < 1 || batch < 1 || updates < 10 || large_rows < 1
      || large_batch < 1 || large_updates < 1) {
    g_printerr ("rows, cols, batch and the large-* options must be >= 1, "
        "updates >= 10\n");
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
    fill_deltas (deltas[k], (gsize) batch * cols, dtype, &s);
  }
  probe_idx = g_bytes_new (&probe_row, sizeof probe_row);
  lat = g_new (double, updates);

#define UPDATE(k) \
  gst_shared_matrix_update (m, op, idx[(k) % N_DISTINCT_UPDATES], batch, \
      GST_SHARED_MATRIX_INDEX_TYPE_INT32, deltas[(k) % N_DISTINCT_UPDATES], \
      dtype, NULL, NULL, NULL)
#define WAIT() \
  g_bytes_unref (gst_shared_matrix_gather_bytes (m, probe_idx, \
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, NULL))

  /* warm up: staging slots, kernels loaded, caches */
  for (k = 0; k < 50; k++)
    UPDATE (k);
  WAIT ();

  for (k = 0; k < updates; k++) {
    t0 = now_us ();
    UPDATE (k);
    lat[k] = (double) (now_us () - t0);
  }
  WAIT ();
  print_latency ("enqueue latency", lat, updates);

  for (k = 0; k < updates / 10; k++) {
    t0 = now_us ();
    UPDATE (k);
    WAIT ();
    lat[k] = (double) (now_us () - t0);
  }
  print_latency ("applied latency", lat, updates / 10);
  applied_p50 = lat[updates / 20];      /* sorted by print_latency () */

  t0 = now_us ();
  for (k = 0; k < updates; k++)
    UPDATE (k);
  WAIT ();
  t1 = now_us ();
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

    t0 = now_us ();
    for (k = 0; k < reps; k++) {
      all = gst_shared_matrix_get_value (m);
      if (all == NULL || !gst_shared_matrix_set_value (m, all, &err)) {
        g_print ("full round trip    failed: %s\n", err ? err->message :
            "no host memory");
        break;
      }
      g_bytes_unref (all);
    }
    t1 = now_us ();
    if (k == reps)
      g_print ("full round trip    %.1f us per get_value + set_value of %.3g "
          "bytes (the copy-out/copy-in an in-place update avoids)\n",
          (t1 - t0) / (double) reps, (double) rows * cols * dsize);
  }

  /* snapshots: the copy a snapshot, checkpoint or get_value makes, into
   * pinned memory (as fast as the host link allows) and pageable memory */
  {
    gsize bytes = gst_shared_matrix_get_size (m, GST_SHARED_MATRIX_FORMAT_RAW);
    GstAllocator *pinned = gst_shared_matrix_get_staging_allocator (m);
    GstMemory *mem = pinned ? gst_allocator_alloc (pinned, bytes, NULL) : NULL;
    GstMapInfo map;
    guint8 *pageable = g_malloc (bytes);

    memset (pageable, 0, bytes);
    snap_pageable_gbs = time_snapshot (m, pageable, bytes, "pageable");
    if (mem && gst_memory_map (mem, &map, GST_MAP_WRITE)) {
      snap_pinned_gbs = time_snapshot (m, map.data, bytes, "pinned");
      gst_memory_unmap (mem, &map);
    } else {
      g_print ("snapshot           not measured into pinned memory: the %s "
          "backend has no staging allocator\n",
          gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
              (m)));
    }
    if (mem)
      gst_memory_unref (mem);
    if (pinned)
      gst_object_unref (pinned);
    g_free (pageable);
  }

  if (!no_large) {
    GstSharedMatrix *big = gst_shared_matrix_new (large_rows, cols, dtype,
        backend, &err);

    if (big == NULL) {
      g_print ("large batches      not measured: %s\n", err->message);
      g_clear_error (&err);
    } else {
      GstAllocator *pinned = gst_shared_matrix_get_staging_allocator (big);

      g_print ("large batches      matrix %" G_GINT64_FORMAT " x %d, updates "
          "of %d rows\n", large_rows, cols, large_batch);
      if (large_batches (big, op, dtype, large_rows, cols, large_batch,
              large_updates, NULL, &large_pageable))
        print_large ("pageable", &large_pageable, large_batch);
      if (pinned && large_batches (big, op, dtype, large_rows, cols,
              large_batch, large_updates, pinned, &large_pinned))
        print_large ("pinned", &large_pinned, large_batch);
      if (pinned)
        gst_object_unref (pinned);
      gst_object_unref (big);
    }
  }

  measure_device_reference (gst_shared_matrix_get_size (m,
          GST_SHARED_MATRIX_FORMAT_RAW), &ref);
  if (ref.have)
    g_print ("device reference   %s: memory bandwidth %.0f GB/s in theory "
        "(2 x %.0f MHz x %.0f bit), device-to-device copy %.0f GB/s (read + "
        "write); pinned copies of %.3g bytes: host to device %.2f GB/s, "
        "device to host %.2f GB/s\n", ref.name, ref.theoretical_gbs,
        ref.mem_clock_mhz, ref.bus_bits, ref.d2d_gbs, (double) ref.host_bytes,
        ref.h2d_gbs, ref.d2h_gbs);
  else
    g_print ("device reference   not measured: %s\n", ref.why);

  /* the figures against the targets of docs/cuda.md: ratios, never a
   * verdict (a figure is measured, a target is what we aim at) */
  g_print ("\nAgainst the targets (docs/cuda.md), %s backend%s:\n",
      gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend (m)),
      gst_shared_matrix_get_backend (m) == GST_SHARED_MATRIX_BACKEND_CUDA ?
      "" : " (the targets are the CUDA backend's; shown for comparison)");
  g_print ("  %d-row update, end to end (update + host-to-device copy + "
      "kernel + a one-row read that waits for it): p50 %.1f us = %.2fx the "
      "10 us target (target <= 1.00x)\n", batch, applied_p50,
      applied_p50 / 10.0);
  {
    const LargeFigures *lf[2] = { &large_pinned, &large_pageable };
    const gchar *lname[2] = { "pinned", "pageable" };

    for (k = 0; k < 2; k++) {
      double kernel_gbs, link_gbs;

      if (!lf[k]->done)
        continue;
      kernel_gbs = lf[k]->updates * lf[k]->kernel_bytes / lf[k]->sec / 1e9;
      link_gbs = lf[k]->updates * lf[k]->link_bytes / lf[k]->sec / 1e9;
      if (ref.have)
        g_print ("  large batches from %s memory: kernel memory traffic "
            "%.1f GB/s = %.1f%% of the device's memory bandwidth, %.1f%% of "
            "its device-to-device copy (target >= 70%%); the update data "
            "crossed the host link at %.1f%% of a pinned host-to-device "
            "copy\n", lname[k], kernel_gbs,
            100 * kernel_gbs / ref.theoretical_gbs,
            100 * kernel_gbs / ref.d2d_gbs, 100 * link_gbs / ref.h2d_gbs);
      else
        g_print ("  large batches from %s memory: kernel memory traffic "
            "%.1f GB/s, update data %.2f GB/s (no device reference to "
            "compare with)\n", lname[k], kernel_gbs, link_gbs);
    }
  }
  {
    const double sg[2] = { snap_pinned_gbs, snap_pageable_gbs };
    const gchar *sname[2] = { "pinned", "pageable" };

    for (k = 0; k < 2; k++) {
      if (sg[k] <= 0)
        continue;
      if (ref.have)
        g_print ("  snapshot into %s memory: %.2f GB/s = %.1f%% of a pinned "
            "device-to-host copy of the same size (target >= 80%%)\n",
            sname[k], sg[k], 100 * sg[k] / ref.d2h_gbs);
      else
        g_print ("  snapshot into %s memory: %.2f GB/s (no device reference "
            "to compare with)\n", sname[k], sg[k]);
    }
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
