/* gst-sharedmatrix: CPU backend
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The reference for the update semantics, written to run at the memory
 * bandwidth limit (figures and method: docs/performance.md).
 *
 * - Rows are applied in buffer order. Big updates are split across
 *   persistent worker threads by destination row range: every part walks
 *   all occurrences in buffer order and applies only the rows in its range,
 *   so each row sees exactly the sequence of operations a single thread
 *   would apply. Results are bit-for-bit identical for any thread count.
 *   No grouping or sorting is needed for that, so small updates pay nothing.
 * - Small updates (the common 200 rows) run on the calling thread: waking a
 *   thread costs more than such an update. For big ones the backend
 *   measures whether the workers pay (on a memory system shared with
 *   others, two threads of random row accesses can be slower than one) and
 *   keeps to the faster mode, retrying the other now and then.
 * - The destination rows are random accesses into a matrix much larger than
 *   the caches: each is prefetched a few rows ahead so that several cache
 *   misses are in flight at once, and the matrix lives in transparent huge
 *   pages where the kernel offers them (one TLB entry per 2 MB).
 * - The row loops come from kernels/sharedmatrix-ops.h (float32 and float64
 *   fast paths) and, for float16/bfloat16 and mixed dtypes, from the
 *   branch-free conversions below, which compute what sm_row_generic ()
 *   computes; all of them are auto-vectorised (this file is built with
 *   -fvect-cost-model=dynamic, see plugin/lib/meson.build).
 * - Nothing is allocated on the update path: worker parts collect their
 *   rows in bounded blocks on the stack.
 */
#include <string.h>
#include <sys/mman.h>

#include "backend.h"
#include "sharedmatrix-ops.h"

/* Below this many delta elements per update one thread does the work: a
 * part must be worth well more than waking a worker (~5-50 µs when it
 * sleeps). */
#define PARALLEL_MIN_ELEMENTS (64 * 1024)
#define MAX_THREADS 64
/* Parts per thread: the threads claim parts as they come, so a worker that
 * wakes late (a busy machine) leaves its parts to the others. */
#define PARTS_PER_THREAD 2
/* Destination rows prefetched this many rows ahead */
#define PREFETCH_ROWS 6
/* Occurrences a part filters at a time (a list on the stack) */
#define BLOCK 2048
/* Big updates try the thread mode they do not use this often */
#define PROBE_EVERY 16
/* Workers spin this long for the next job before they sleep */
#define SPIN_US 50
/* Matrices from this size on get their own mapping, in huge pages */
#define HUGE_MIN_BYTES (4u << 20)
#define HUGE_PAGE (2u << 20)

typedef struct
{
  GstSharedMatrixShape shape;
  guint8 *data;
  gsize mapped;                 /* mmap'ed bytes, 0 when g_malloc'ed */

  /* Big updates: measured cost (ns per delta element, a moving average) on
   * the calling thread alone [0] and with the workers [1]; 0 = not yet
   * measured. Written under the matrix lock, like everything here. */
  gdouble cost[2];
  guint big_updates;
} CpuStorage;

/* ---- rows of any dtype ---------------------------------------------------- */

/* Branch-free element conversions (select instead of branch, so that the
 * loops below vectorise). Each gives bit for bit what sm_load ()/sm_store ()
 * give, NaN included; tests/bench/check-cpu-kernels.c checks that (all
 * 2^16 halves; with --exhaustive all 2^32 floats, which passed). */

static inline guint32
f2u (float f)
{
  guint32 u;

  memcpy (&u, &f, 4);
  return u;
}

static inline float
u2f (guint32 u)
{
  float f;

  memcpy (&f, &u, 4);
  return f;
}

/* c ? a : b without a branch for the vectoriser to trip on (GCC keeps a
 * ternary around a floating-point operation as control flow) */
static inline guint32
select_u32 (guint32 c, guint32 a, guint32 b)
{
  guint32 mask = 0u - c;

  return (a & mask) | (b & ~mask);
}

static inline float
half_to_float (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 em = h & 0x7fff;
  guint32 normal = (em << 13) + (112u << 23);
  guint32 infnan = (em << 13) | 0x7f800000u;
  /* subnormal (and zero): em * 2^-24 is exact in float */
  guint32 sub = f2u ((float) (gint32) em * 5.9604644775390625e-8f);
  guint32 r = select_u32 (em >= 0x7c00, infnan, normal);

  r = select_u32 (em < 0x400, sub, r);
  return u2f (r | sign);
}

/* float -> float16, round to nearest even, overflow to infinity, NaN to
 * the quiet NaN 0x7e00 with the sign kept (F. Giesen's float_to_half_fast3
 * with selects) */
static inline guint16
float_to_half (float f)
{
  guint32 u = f2u (f);
  guint32 sign = (u >> 16) & 0x8000;
  guint32 a = u & 0x7fffffffu;
  guint32 o_inf = select_u32 (a > 0x7f800000u, 0x7e00u, 0x7c00u);
  /* below 2^-14: let the FPU round by adding 0.5 (exponent 126) */
  guint32 o_sub = f2u (u2f (a) + 0.5f) - (126u << 23);
  guint32 o_norm = (a + ((guint32) (15 - 127) << 23) + 0xfffu +
      ((a >> 13) & 1)) >> 13;
  guint32 o = select_u32 (a >= (143u << 23), o_inf,
      select_u32 (a < (113u << 23), o_sub, o_norm));

  return (guint16) (o | sign);
}

static inline guint16
float_to_bfloat16 (float f)
{
  guint32 u = f2u (f);
  guint32 rounded = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
  guint32 nan = ((u >> 16) & 0x8000) | 0x7fc0;

  return (guint16) select_u32 ((u & 0x7fffffffu) > 0x7f800000u, nan, rounded);
}

/* double -> double rounded to odd at float precision (the low 29 mantissa
 * bits cleared, the lowest kept bit set when any was set), so that the
 * conversion to float that follows is exact in float's normal range;
 * rounding that to float16 or bfloat16 (at least two bits narrower) gives
 * the correctly rounded result from the double, as sm_double_to_narrow ()
 * does, without double rounding. Written as a select on doubles: SSE2 has
 * no 64-bit integer compare, and GCC vectorises this form. NaN compares
 * unequal and stays NaN. */
static inline double
round_to_float_odd (double d)
{
  guint64 u, trunc;
  double t, t_odd;

  memcpy (&u, &d, 8);
  trunc = u & ~G_GUINT64_CONSTANT (0x1fffffff);
  memcpy (&t, &trunc, 8);
  trunc |= G_GUINT64_CONSTANT (1) << 29;
  memcpy (&t_odd, &trunc, 8);
  return t != d ? t_odd : t;
}

#define CHUNK 128

static inline void
load_floats (float *out, const guint8 * p, int dtype, guint m)
{
  guint j;

  switch (dtype) {
    case SM_DTYPE_FLOAT32:
      memcpy (out, p, m * 4);
      break;
    case SM_DTYPE_FLOAT16:
      for (j = 0; j < m; j++) {
        guint16 h;

        memcpy (&h, p + 2 * j, 2);
        out[j] = half_to_float (h);
      }
      break;
    default:
      for (j = 0; j < m; j++) {
        guint16 b;

        memcpy (&b, p + 2 * j, 2);
        out[j] = u2f ((guint32) b << 16);
      }
      break;
  }
}

static inline void
load_doubles (double *out, const guint8 * p, int dtype, guint m)
{
  float tmp[CHUNK];
  guint j;

  if (dtype == SM_DTYPE_FLOAT64) {
    memcpy (out, p, m * 8);
    return;
  }
  load_floats (tmp, p, dtype, m);
  for (j = 0; j < m; j++)
    out[j] = tmp[j];
}

static inline void
store_floats (guint8 * p, int dtype, const float *v, guint m)
{
  guint j;

  switch (dtype) {
    case SM_DTYPE_FLOAT32:
      memcpy (p, v, m * 4);
      break;
    case SM_DTYPE_FLOAT16:
      for (j = 0; j < m; j++) {
        guint16 h = float_to_half (v[j]);

        memcpy (p + 2 * j, &h, 2);
      }
      break;
    default:
      for (j = 0; j < m; j++) {
        guint16 b = float_to_bfloat16 (v[j]);

        memcpy (p + 2 * j, &b, 2);
      }
      break;
  }
}

static inline void
store_doubles (guint8 * p, int dtype, const double *v, guint m)
{
  float tmp[CHUNK];
  guint j;

  switch (dtype) {
    case SM_DTYPE_FLOAT64:
      memcpy (p, v, m * 8);
      return;
    case SM_DTYPE_FLOAT32:
      for (j = 0; j < m; j++)
        tmp[j] = (float) v[j];
      break;
    default:
      for (j = 0; j < m; j++)
        tmp[j] = (float) round_to_float_odd (v[j]);
      break;
  }
  store_floats (p, dtype, tmp, m);
  /* below float's normal range the conversion to float rounds once more:
   * bfloat16 has subnormals there (float16 rounds all of it to zero) */
  if (dtype == SM_DTYPE_BFLOAT16)
    for (j = 0; j < m; j++)
      if (__builtin_fabs (v[j]) < 0x1p-126 && v[j] != 0) {
        guint16 b = sm_double_to_bfloat16 (v[j]);

        memcpy (p + 2 * j, &b, 2);
      }
}

/* sm_row_generic () in vectorisable steps, CHUNK columns at a time: load
 * both sides into float (double when either is float64), combine them with
 * the header's same-type row (so the op semantics stay defined in one
 * place), round to the matrix dtype. */
static void
row_convert (int op, guint8 * dst, int dtype, const guint8 * src,
    int src_dtype, guint cols)
{
  guint dsize = sm_dtype_size (dtype), ssize = sm_dtype_size (src_dtype);
  gboolean wide = dtype == SM_DTYPE_FLOAT64 || src_dtype == SM_DTYPE_FLOAT64;
  guint j0;

  for (j0 = 0; j0 < cols; j0 += CHUNK) {
    guint m = MIN (CHUNK, cols - j0);
    guint8 *d = dst + (gsize) j0 * dsize;
    const guint8 *s = src + (gsize) j0 * ssize;

    if (wide) {
      double a[CHUNK], b[CHUNK];

      if (op != SM_OP_SET)
        load_doubles (a, d, dtype, m);
      load_doubles (b, s, src_dtype, m);
      sm_row_f64_f64 (op, a, (const unsigned char *) b, m);
      store_doubles (d, dtype, a, m);
    } else {
      float a[CHUNK], b[CHUNK];

      if (op != SM_OP_SET)
        load_floats (a, d, dtype, m);
      load_floats (b, s, src_dtype, m);
      sm_row_f32_f32 (op, a, (const unsigned char *) b, m);
      store_floats (d, dtype, a, m);
    }
  }
}

static inline void
apply_row (const GstSharedMatrixShape * shape,
    const GstSharedMatrixUpdatePlan * plan, guint8 * dst, const guint8 * src)
{
  int dtype = shape->dtype;

  if (dtype == (int) plan->delta_dtype && (dtype == SM_DTYPE_FLOAT32
          || dtype == SM_DTYPE_FLOAT64))
    sm_apply_row (plan->op, dst, shape->dtype, src, plan->delta_dtype,
        shape->cols);
  else
    row_convert (plan->op, dst, shape->dtype, src, plan->delta_dtype,
        shape->cols);
}

static inline void
prefetch_row (const guint8 * row, gsize row_bytes)
{
  gsize k;

  for (k = 0; k < row_bytes; k += 64)
    __builtin_prefetch (row + k, 1, 3);
  __builtin_prefetch (row + row_bytes - 1, 1, 3);
}

/* ---- applying a range of occurrences ------------------------------------- */

/* The whole update on this thread, in buffer order, prefetching ahead. */
static void
apply_serial (const CpuStorage * s, const GstSharedMatrixUpdatePlan * plan)
{
  const GstSharedMatrixShape *shape = &s->shape;
  gsize row_bytes = shape->row_bytes;
  gsize delta_row_bytes =
      (gsize) shape->cols * sm_dtype_size (plan->delta_dtype);
  gsize i, n = plan->n;

  for (i = 0; i < MIN (n, PREFETCH_ROWS); i++) {
    guint64 r = (guint64) sm_load_index (plan->indices, plan->indices_int64, i);

    if (r < shape->rows)
      prefetch_row (s->data + r * row_bytes, row_bytes);
  }
  for (i = 0; i < n; i++) {
    guint64 r;

    if (i + PREFETCH_ROWS < n) {
      guint64 ahead = (guint64) sm_load_index (plan->indices,
          plan->indices_int64, i + PREFETCH_ROWS);

      /* skipped occurrences may hold any index */
      if (ahead < shape->rows)
        prefetch_row (s->data + ahead * row_bytes, row_bytes);
    }
    if (plan->skip && plan->skip[i])
      continue;
    r = (guint64) sm_load_index (plan->indices, plan->indices_int64, i);
    apply_row (shape, plan, s->data + r * row_bytes,
        plan->deltas + i * delta_row_bytes);
  }
}

/* The occurrences whose row lies in [first, first + span), in buffer order,
 * one block of occurrences at a time: the block is filtered without
 * branches into a list, and the list applied with prefetching. */
static void
apply_rows_in_range (const CpuStorage * s,
    const GstSharedMatrixUpdatePlan * plan, guint64 first, guint64 span)
{
  const GstSharedMatrixShape *shape = &s->shape;
  gsize row_bytes = shape->row_bytes;
  gsize delta_row_bytes =
      (gsize) shape->cols * sm_dtype_size (plan->delta_dtype);
  guint32 list[BLOCK];
  guint64 rows[BLOCK];
  gsize b0;

  for (b0 = 0; b0 < plan->n; b0 += BLOCK) {
    gsize m = MIN (BLOCK, plan->n - b0), i, k = 0;

    if (plan->indices_int64) {
      const guint8 *idx = plan->indices + b0 * 8;

      for (i = 0; i < m; i++) {
        gint64 v;

        memcpy (&v, idx + i * 8, 8);
        list[k] = (guint32) i;
        rows[k] = (guint64) v;
        k += (guint64) v - first < span;
      }
    } else {
      const guint8 *idx = plan->indices + b0 * 4;

      for (i = 0; i < m; i++) {
        gint32 v;

        memcpy (&v, idx + i * 4, 4);
        list[k] = (guint32) i;
        rows[k] = (guint64) (gint64) v;
        k += (guint64) (gint64) v - first < span;
      }
    }
    if (plan->skip) {
      const guint8 *skip = plan->skip + b0;
      gsize kept = 0;

      for (i = 0; i < k; i++) {
        list[kept] = list[i];
        rows[kept] = rows[i];
        kept += !skip[list[i]];
      }
      k = kept;
    }

    for (i = 0; i < MIN (k, PREFETCH_ROWS); i++)
      prefetch_row (s->data + rows[i] * row_bytes, row_bytes);
    for (i = 0; i < k; i++) {
      if (i + PREFETCH_ROWS < k)
        prefetch_row (s->data + rows[i + PREFETCH_ROWS] * row_bytes,
            row_bytes);
      apply_row (shape, plan, s->data + rows[i] * row_bytes,
          plan->deltas + (b0 + list[i]) * delta_row_bytes);
    }
  }
}

/* ---- persistent workers --------------------------------------------------- */

/* One parallel update at a time (others run on their calling thread). The
 * job lives here, not on a caller's stack: a worker that wakes late may
 * still look at it. Parts are claimed with a compare-and-swap on
 * (generation << 16 | next part), so a late worker can never claim a part
 * of a job that has ended, and the caller returns only when every claimed
 * part is done. */
static struct
{
  GMutex busy;                  /* held by the caller of the running job */
  GMutex lock;                  /* for sleeping workers */
  GCond wake;
  guint n_workers;
  gint sleeping;                /* atomic: workers waiting on wake */

  guint64 state;                /* atomic: generation << 16 | next part */
  guint parts_done;             /* atomic */

  /* the job, written before the generation is bumped */
  const CpuStorage *storage;
  const GstSharedMatrixUpdatePlan *plan;
  guint n_parts;
} pool;

static inline guint64
now_us (void)
{
  return (guint64) g_get_monotonic_time ();
}

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* Claims and runs parts of the job of @generation until none is left */
static void
run_parts (guint64 generation)
{
  for (;;) {
    guint64 st = __atomic_load_n (&pool.state, __ATOMIC_ACQUIRE);
    guint part = (guint) (st & 0xffff);
    guint64 first, end;

    if ((st >> 16) != generation || part >= pool.n_parts)
      return;
    if (!__atomic_compare_exchange_n (&pool.state, &st, st + 1, FALSE,
            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      continue;
    first = pool.storage->shape.rows * part / pool.n_parts;
    end = pool.storage->shape.rows * (part + 1) / pool.n_parts;
    apply_rows_in_range (pool.storage, pool.plan, first, end - first);
    __atomic_add_fetch (&pool.parts_done, 1, __ATOMIC_RELEASE);
  }
}

static gpointer
worker_main (gpointer unused)
{
  guint64 seen = 0;

  for (;;) {
    guint64 gen = __atomic_load_n (&pool.state, __ATOMIC_ACQUIRE) >> 16;

    if (gen == seen) {
      guint64 until = now_us () + SPIN_US;

      /* spin briefly: big updates tend to come back to back */
      while ((gen = __atomic_load_n (&pool.state,
                  __ATOMIC_ACQUIRE) >> 16) == seen && now_us () < until)
        cpu_relax ();
    }
    if (gen == seen) {
      g_mutex_lock (&pool.lock);
      g_atomic_int_inc (&pool.sleeping);
      while ((gen = __atomic_load_n (&pool.state,
                  __ATOMIC_SEQ_CST) >> 16) == seen)
        g_cond_wait (&pool.wake, &pool.lock);
      g_atomic_int_add (&pool.sleeping, -1);
      g_mutex_unlock (&pool.lock);
    }
    seen = gen;
    run_parts (gen);
  }
  return NULL;
}

static guint
thread_count (void)
{
  static gsize count = 0;

  if (g_once_init_enter (&count)) {
    /* GST_SHARED_MATRIX_THREADS lets tests and benchmarks pin the count */
    const gchar *env = g_getenv ("GST_SHARED_MATRIX_THREADS");
    guint64 n = env ? g_ascii_strtoull (env, NULL, 10) : 0;

    if (n == 0)
      n = g_get_num_processors ();
    g_once_init_leave (&count, (gsize) CLAMP (n, 1, MAX_THREADS));
  }
  return (guint) count;
}

static gboolean
start_workers (void)
{
  static gsize started = 0;

  if (g_once_init_enter (&started)) {
    guint i;

    /* persistent threads: starting threads per update would cost more than
     * a typical update */
    for (i = 0; i + 1 < thread_count (); i++) {
      GThread *t = g_thread_try_new ("sharedmatrix-cpu", worker_main, NULL,
          NULL);

      if (t == NULL)
        break;
      g_thread_unref (t);
      pool.n_workers++;
    }
    g_once_init_leave (&started, 1);
  }
  return pool.n_workers > 0;
}

/* The update on the workers and this thread; FALSE when the workers are
 * busy with another matrix's update (then nothing was done). */
static gboolean
apply_parallel (CpuStorage * s, const GstSharedMatrixUpdatePlan * plan)
{
  guint64 st, generation;
  guint n_parts;

  if (!start_workers () || !g_mutex_trylock (&pool.busy))
    return FALSE;

  n_parts = (pool.n_workers + 1) * PARTS_PER_THREAD;
  pool.storage = s;
  pool.plan = plan;
  pool.n_parts = n_parts;
  __atomic_store_n (&pool.parts_done, 0, __ATOMIC_RELAXED);
  st = __atomic_load_n (&pool.state, __ATOMIC_RELAXED);
  generation = ((st >> 16) + 1) & G_GUINT64_CONSTANT (0xffffffffffff);
  if (generation == 0)
    generation = 1;
  __atomic_store_n (&pool.state, generation << 16, __ATOMIC_SEQ_CST);
  if (g_atomic_int_get (&pool.sleeping) > 0) {
    g_mutex_lock (&pool.lock);
    g_cond_broadcast (&pool.wake);
    g_mutex_unlock (&pool.lock);
  }

  run_parts (generation);
  /* the parts still running were claimed by workers: wait for them,
   * yielding the core if a worker has lost its own */
  {
    guint spins = 0;

    while (__atomic_load_n (&pool.parts_done, __ATOMIC_ACQUIRE) < n_parts) {
      if (++spins < 20000)
        cpu_relax ();
      else
        g_thread_yield ();
    }
  }
  g_mutex_unlock (&pool.busy);
  return TRUE;
}

static gboolean
cpu_apply (gpointer storage, const GstSharedMatrixUpdatePlan * plan,
    GError ** error)
{
  CpuStorage *s = storage;
  guint64 elements = (guint64) plan->n * s->shape.cols;
  gint64 t0;
  gdouble cost;
  int mode;

  if (thread_count () == 1 ||
      s->shape.rows < thread_count () * PARTS_PER_THREAD ||
      elements < PARALLEL_MIN_ELEMENTS) {
    apply_serial (s, plan);
    return TRUE;
  }

  /* Whether a second thread pays for a big update is measured, not
   * assumed: random rows are bound by the memory system, and where it is
   * shared (a virtual machine, a busy host) two threads can move fewer
   * bytes than one. Use the cheaper mode; try the other one every
   * PROBE_EVERY big updates, so a change of conditions is noticed. The
   * result is the same either way. */
  if (s->cost[1] == 0)
    mode = 1;
  else if (s->cost[0] == 0)
    mode = 0;
  else {
    mode = s->cost[1] < s->cost[0];
    if (s->big_updates % PROBE_EVERY == 0)
      mode = !mode;
  }
  s->big_updates++;

  t0 = g_get_monotonic_time ();
  if (mode == 0 || !apply_parallel (s, plan)) {
    apply_serial (s, plan);
    mode = 0;
  }
  cost = MAX (g_get_monotonic_time () - t0, 1) * 1000.0 / elements;
  s->cost[mode] = s->cost[mode] == 0 ? cost : 0.75 * s->cost[mode] +
      0.25 * cost;
  return TRUE;
}

/* ---- storage ------------------------------------------------------------- */

static gpointer
cpu_create (const GstSharedMatrixShape * shape, gint device_id,
    GError ** error)
{
  CpuStorage *s;
  guint8 *data = NULL;
  gsize size = shape->rows * shape->row_bytes, mapped = 0;

  if (size >= HUGE_MIN_BYTES && size <= G_MAXSIZE - HUGE_PAGE) {
    /* an anonymous mapping is zero-filled and untouched until used; ask
     * for huge pages: updates hit random rows, and with 4 kB pages nearly
     * every row would also miss the TLB */
    mapped = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    data = mmap (NULL, mapped, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) {
      data = NULL;
      mapped = 0;
    } else {
#ifdef MADV_HUGEPAGE
      madvise (data, mapped, MADV_HUGEPAGE);
#endif
    }
  }
  if (data == NULL)
    /* calloc: large zeroed blocks come straight from the kernel, untouched */
    data = g_try_malloc0_n (shape->rows, shape->row_bytes);
  if (data == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GUINT64_FORMAT " bytes of host memory for a %"
        G_GUINT64_FORMAT " x %u %s matrix", shape->rows * shape->row_bytes,
        shape->rows, shape->cols,
        gst_shared_matrix_dtype_to_string (shape->dtype));
    return NULL;
  }
  s = g_new0 (CpuStorage, 1);
  s->shape = *shape;
  s->data = data;
  s->mapped = mapped;
  return s;
}

static void
cpu_destroy (gpointer storage)
{
  CpuStorage *s = storage;

  if (s->mapped)
    munmap (s->data, s->mapped);
  else
    g_free (s->data);
  g_free (s);
}

/* host memory: reads, writes and updates cannot fail */

static gboolean
cpu_read (gpointer storage, guint8 * dest, GError ** error)
{
  CpuStorage *s = storage;

  memcpy (dest, s->data, s->shape.rows * s->shape.row_bytes);
  return TRUE;
}

static gboolean
cpu_write (gpointer storage, const guint8 * src, GError ** error)
{
  CpuStorage *s = storage;

  memcpy (s->data, src, s->shape.rows * s->shape.row_bytes);
  return TRUE;
}

static gboolean
cpu_gather (gpointer storage, const guint8 * indices, gboolean indices_int64,
    gsize n, guint8 * dest, GError ** error)
{
  CpuStorage *s = storage;
  gsize i;

  for (i = 0; i < n; i++) {
    guint64 r = (guint64) sm_load_index (indices, indices_int64, i);

    memcpy (dest + i * s->shape.row_bytes, s->data + r * s->shape.row_bytes,
        s->shape.row_bytes);
  }
  return TRUE;
}

const GstSharedMatrixBackendOps gst_shared_matrix_backend_cpu = {
  .kind = GST_SHARED_MATRIX_BACKEND_CPU,
  .create = cpu_create,
  .destroy = cpu_destroy,
  .apply = cpu_apply,
  .read = cpu_read,
  .write = cpu_write,
  .gather = cpu_gather,
  /* host memory is what the CPU backend reads anyway */
  .staging_allocator = NULL,
};
