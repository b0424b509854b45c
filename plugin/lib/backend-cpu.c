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
 * - Tiny updates run on the calling thread. From 4 Ki delta elements on
 *   (N = 41 at 100 columns) the backend measures, per size class (powers
 *   of two of the element count), whether the workers pay: a hand-off to
 *   a spinning worker is cheap, but on a memory system shared with others
 *   two threads of random row accesses can be slower than one. It keeps
 *   to the faster mode and retries the other now and then.
 * - The destination rows are random accesses into a matrix much larger than
 *   the caches: each is prefetched into L2 far ahead and into L1 a few rows
 *   ahead, so that many cache misses are in flight at once (a worker part
 *   prefetches its scattered delta rows too), and the matrix
 *   lives in transparent huge pages where the kernel offers them (one TLB
 *   entry per 2 MB).
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

#include "backend-cpu.h"
#include "backend-cpu-rows.h"
#include "worker-pool.h"

/* Below this many delta elements per update one thread does the work:
 * about 3 µs of rows, no more than handing half of them to a worker costs
 * even when it spins. From here on whether the workers pay is measured. */
#define PARALLEL_MIN_ELEMENTS (4 * 1024)
/* Updates below this many delta elements are split in one part per
 * thread: each part filters all the occurrences, which mid-size parts
 * cannot amortise; big ones get SM_WORKER_POOL_PARTS_PER_THREAD. */
#define FEW_PARTS_MAX_ELEMENTS (64 * 1024)
/* The thread mode is chosen per size class: powers of two of delta
 * elements from PARALLEL_MIN_ELEMENTS on (the last one open-ended), since
 * the hand-off is a fixed cost and the memory system's share is not. */
#define SIZE_CLASSES 16
/* Destination rows are prefetched in two steps: into L2 PREFETCH_FAR rows
 * ahead, then into L1, with write intent, PREFETCH_NEAR rows ahead. L1
 * prefetches alone keep no more rows in flight at any distance (the core's
 * L1 miss buffers are the limit); the L2 step adds more. Measured on
 * 1,000,000 x 128 float32 rows: 15-20 % faster on one thread, 5-8 % on
 * two; no change for 400 B rows (docs/performance.md). */
#define PREFETCH_FAR 16
#define PREFETCH_NEAR 4
/* Occurrences a part filters at a time (a list on the stack) */
#define BLOCK 2048
/* Each size class tries the thread mode it does not use after this many
 * updates; the interval doubles, up to PROBE_MAX, while the tries confirm
 * the mode (a try of the workers from sleep costs tens of µs here) */
#define PROBE_EVERY 16
#define PROBE_MAX 1024
/* A try of the workers that finds them asleep is not measured, and the
 * next update tries again, up to this many times */
#define WAKE_RETRIES 4
/* Matrices from this size on get their own mapping, in huge pages */
#define HUGE_MIN_BYTES (4u << 20)
#define HUGE_PAGE (2u << 20)

GST_DEBUG_CATEGORY_STATIC (sm_cpu_debug);
#define GST_CAT_DEFAULT sm_cpu_debug

/* The measured cost of one size class of updates (ns per delta element, a
 * moving average) on the calling thread alone [0] and with the workers
 * [1]; 0 = not yet measured. */
typedef struct
{
  gdouble cost[2];
  guint since_probe, probe_every;
  /* tries of the workers in a row that found them asleep */
  guint retries;
} SmCpuSizeClass;

struct _SmCpuStorage
{
  SmShape shape;
  guint8 *data;
  gsize mapped;                 /* mmap'ed bytes, 0 when g_malloc'ed */

  /* written under the matrix lock, like everything here */
  SmCpuSizeClass classes[SIZE_CLASSES];
};

/* ---- applying a range of occurrences ------------------------------------- */

/* Prefetches the destination row of occurrence @i, into L2 (@far) or L1;
 * skipped occurrences may hold any index. (Always inlined, as
 * prefetch_row () is.) */
static inline __attribute__ ((always_inline)) void
prefetch_occurrence (const SmCpuStorage * s, const SmUpdatePlan * plan,
    gsize i, gboolean far)
{
  guint64 r = (guint64) sm_load_index (plan->indices, plan->indices_int64, i);

  if (r < s->shape.rows)
    prefetch_row (s->data + r * s->shape.row_bytes, s->shape.row_bytes, far);
}

/* The whole update on this thread, in buffer order, prefetching ahead. */
void
sm_cpu_apply_serial (const SmCpuStorage * s, const SmUpdatePlan * plan)
{
  const SmShape *shape = &s->shape;
  gsize row_bytes = shape->row_bytes;
  gsize delta_row_bytes =
      (gsize) shape->cols * sm_dtype_size (plan->delta_dtype);
  gsize i, n = plan->n;

  /* the first rows straight into L1, the next ones into L2 */
  for (i = 0; i < MIN (n, PREFETCH_NEAR); i++)
    prefetch_occurrence (s, plan, i, FALSE);
  for (; i < MIN (n, PREFETCH_FAR); i++)
    prefetch_occurrence (s, plan, i, TRUE);
  for (i = 0; i < n; i++) {
    guint64 r;

    if (i + PREFETCH_FAR < n)
      prefetch_occurrence (s, plan, i + PREFETCH_FAR, TRUE);
    if (i + PREFETCH_NEAR < n)
      prefetch_occurrence (s, plan, i + PREFETCH_NEAR, FALSE);
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
void
sm_cpu_apply_rows_in_range (const SmCpuStorage * s,
    const SmUpdatePlan * plan, guint64 first, guint64 span)
{
  const SmShape *shape = &s->shape;
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

    for (i = 0; i < MIN (k, PREFETCH_NEAR); i++)
      prefetch_row (s->data + rows[i] * row_bytes, row_bytes, FALSE);
    for (; i < MIN (k, PREFETCH_FAR); i++)
      prefetch_row (s->data + rows[i] * row_bytes, row_bytes, TRUE);
    for (i = 0; i < k; i++) {
      if (i + PREFETCH_FAR < k) {
        prefetch_row (s->data + rows[i + PREFETCH_FAR] * row_bytes,
            row_bytes, TRUE);
        /* a part reads only its occurrences' delta rows, scattered
         * through the update, where the hardware prefetcher does not
         * follow (the serial path reads them in order) */
        prefetch_row (plan->deltas + (b0 + list[i + PREFETCH_FAR]) *
            delta_row_bytes, delta_row_bytes, TRUE);
      }
      if (i + PREFETCH_NEAR < k)
        prefetch_row (s->data + rows[i + PREFETCH_NEAR] * row_bytes,
            row_bytes, FALSE);
      apply_row (shape, plan, s->data + rows[i] * row_bytes,
          plan->deltas + (b0 + list[i]) * delta_row_bytes);
    }
  }
}

/* ---- big updates on the worker pool -------------------------------------- */

typedef struct
{
  const SmCpuStorage *storage;
  const SmUpdatePlan *plan;
} CpuJob;

/* Part @part of @n_parts: the rows in its share of the matrix */
static void
apply_part (guint part, guint n_parts, gpointer data)
{
  const CpuJob *job = data;
  guint64 rows = job->storage->shape.rows;
  guint64 first = rows * part / n_parts, end = rows * (part + 1) / n_parts;

  sm_cpu_apply_rows_in_range (job->storage, job->plan, first, end - first);
}

static guint
size_class (guint64 elements)
{
  guint c = g_bit_storage (elements) - g_bit_storage (PARALLEL_MIN_ELEMENTS);

  return MIN (c, SIZE_CLASSES - 1);
}

static gboolean
cpu_apply (gpointer storage, const SmUpdatePlan * plan,
    GError ** error)
{
  SmCpuStorage *s = storage;
  CpuJob job = { s, plan };
  guint64 elements = (guint64) plan->n * s->shape.cols;
  SmCpuSizeClass *c;
  gboolean awake = FALSE, preferred;
  gint64 t0;
  gdouble cost;
  int mode;

  if (sm_worker_pool_n_threads () == 1 ||
      s->shape.rows < sm_worker_pool_n_threads () *
      SM_WORKER_POOL_PARTS_PER_THREAD || elements < PARALLEL_MIN_ELEMENTS) {
    sm_cpu_apply_serial (s, plan);
    return TRUE;
  }

  /* Whether a second thread pays is measured, not assumed: for mid-size
   * updates the hand-off is a good part of the time, and random rows are
   * bound by the memory system, where two threads can move fewer bytes
   * than one when it is shared (a virtual machine, a busy host). Use the
   * cheaper mode of this size class; try the other one now and then, so a
   * change of conditions is noticed. The result is the same either way. */
  c = &s->classes[size_class (elements)];
  if (c->probe_every == 0)
    c->probe_every = PROBE_EVERY;
  preferred = c->cost[1] == 0 || (c->cost[0] != 0 && c->cost[1] < c->cost[0]);
  mode = preferred;
  if (c->retries)
    mode = 1;
  else if (c->cost[0] != 0 && c->cost[1] != 0 &&
      ++c->since_probe >= c->probe_every) {
    mode = !mode;
    c->since_probe = 0;
  }

  if (mode == 1)
    awake = sm_worker_pool_awake ();
  t0 = g_get_monotonic_time ();
  /* workers that are not the preferred mode go to sleep after their job
   * instead of spinning: a spinning thread takes a core from the caller's
   * neighbours, which then crowd onto the caller's own core */
  if (mode == 0 || !sm_worker_pool_run (apply_part, &job,
          elements < FEW_PARTS_MAX_ELEMENTS ? 1 :
          SM_WORKER_POOL_PARTS_PER_THREAD, preferred || !awake)) {
    sm_cpu_apply_serial (s, plan);
    mode = 0;
  }
  cost = MAX (g_get_monotonic_time () - t0, 1) * 1000.0 / elements;

  /* A try that had to wake the workers paid a wake-up (tens of µs in a
   * virtual machine) that updates coming back to back do not: the workers
   * spin between them, and sleep between the tries of a class that runs
   * on one thread. Measure a later update instead, once they are awake.
   * If they are still asleep after WAKE_RETRIES updates, updates come that
   * far apart and the wake-up is part of their cost. */
  if (mode == 1 && !awake && c->retries < WAKE_RETRIES) {
    c->retries++;
    return TRUE;
  }
  c->retries = 0;
  /* one descheduled sample must not decide the mode for long */
  if (c->cost[mode] != 0)
    cost = MIN (cost, 4 * c->cost[mode]);
  c->cost[mode] = c->cost[mode] == 0 ? cost : 0.75 * c->cost[mode] +
      0.25 * cost;
  if (mode != preferred && c->cost[0] != 0 && c->cost[1] != 0)
    c->probe_every = (c->cost[1] < c->cost[0]) == preferred ?
        MIN (2 * c->probe_every, PROBE_MAX) : PROBE_EVERY;
  GST_LOG ("%" G_GUINT64_FORMAT " delta elements %s: %.3f ns per element "
      "on one thread, %.3f with the workers", elements, mode ? "with the "
      "workers" : "on one thread", c->cost[0], c->cost[1]);
  return TRUE;
}

/* ---- storage ------------------------------------------------------------- */

/* @size zeroed bytes, untouched until used. Big blocks are their own
 * anonymous mapping with huge pages (*@mapped its size, for
 * sm_cpu_free_zeroed ()): updates and optimizer steps hit random rows, and
 * with 4 kB pages nearly every row would also miss the TLB. NULL when
 * there is not enough memory. */
gpointer
sm_cpu_alloc_zeroed (gsize n, gsize elem_size, gsize * mapped)
{
  gpointer data = NULL;
  gsize size;

  *mapped = 0;
  if (elem_size != 0 && n > G_MAXSIZE / elem_size)
    return NULL;
  size = n * elem_size;
  if (size >= HUGE_MIN_BYTES && size <= G_MAXSIZE - HUGE_PAGE) {
    gsize len = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;

    data = mmap (NULL, len, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) {
      data = NULL;
    } else {
      *mapped = len;
#ifdef MADV_HUGEPAGE
      madvise (data, len, MADV_HUGEPAGE);
#endif
    }
  }
  if (data == NULL)
    /* calloc: large zeroed blocks come straight from the kernel, untouched */
    data = g_try_malloc0_n (n, elem_size);
  return data;
}

void
sm_cpu_free_zeroed (gpointer data, gsize mapped)
{
  if (mapped)
    munmap (data, mapped);
  else
    g_free (data);
}

static gpointer
cpu_create (const SmShape * shape, gint device_id,
    GError ** error)
{
  static gsize debug_initialised = 0;
  SmCpuStorage *s;
  gsize mapped;
  guint8 *data = sm_cpu_alloc_zeroed (shape->rows, shape->row_bytes, &mapped);

  if (data == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GUINT64_FORMAT " bytes of host memory for a %"
        G_GUINT64_FORMAT " x %u %s matrix", shape->rows * shape->row_bytes,
        shape->rows, shape->cols,
        gst_shared_matrix_dtype_to_string (shape->dtype));
    return NULL;
  }
  if (g_once_init_enter (&debug_initialised)) {
    GST_DEBUG_CATEGORY_INIT (sm_cpu_debug, "sharedmatrixcpu", 0,
        "sharedmatrix CPU backend");
    g_once_init_leave (&debug_initialised, 1);
  }
  s = g_new0 (SmCpuStorage, 1);
  s->shape = *shape;
  s->data = data;
  s->mapped = mapped;
  return s;
}

static void
cpu_destroy (gpointer storage)
{
  SmCpuStorage *s = storage;

  sm_cpu_free_zeroed (s->data, s->mapped);
  g_free (s);
}

/* host memory: reads, writes and updates cannot fail */

static gboolean
cpu_read (gpointer storage, guint8 * dest, GError ** error)
{
  SmCpuStorage *s = storage;

  memcpy (dest, s->data, s->shape.rows * s->shape.row_bytes);
  return TRUE;
}

static gboolean
cpu_write (gpointer storage, const guint8 * src, GError ** error)
{
  SmCpuStorage *s = storage;

  memcpy (s->data, src, s->shape.rows * s->shape.row_bytes);
  return TRUE;
}

static gboolean
cpu_gather (gpointer storage, const guint8 * indices, gboolean indices_int64,
    gsize n, guint8 * dest, GError ** error)
{
  SmCpuStorage *s = storage;
  gsize i;

  for (i = 0; i < n; i++) {
    /* negative indices wrap to huge ones: out of range either way */
    guint64 r = (guint64) sm_load_index (indices, indices_int64, i);

    if (G_LIKELY (r < s->shape.rows))
      memcpy (dest + i * s->shape.row_bytes, s->data + r * s->shape.row_bytes,
          s->shape.row_bytes);
    else
      memset (dest + i * s->shape.row_bytes, 0, s->shape.row_bytes);
  }
  return TRUE;
}

guint8 *
sm_cpu_storage_data (const SmCpuStorage * s)
{
  return s->data;
}

const SmShape *
sm_cpu_storage_shape (const SmCpuStorage * s)
{
  return &s->shape;
}

const SmBackendOps sm_backend_cpu = {
  .kind = GST_SHARED_MATRIX_BACKEND_CPU,
  .create = cpu_create,
  .destroy = cpu_destroy,
  .apply = cpu_apply,
  .read = cpu_read,
  .write = cpu_write,
  .gather = cpu_gather,
  /* host memory is what the CPU backend reads anyway */
  .staging_allocator = NULL,
  /* backend-cpu-optim.c */
  .state_create = sm_cpu_state_create,
  .state_destroy = sm_cpu_state_destroy,
  .state_read = sm_cpu_state_read,
  .state_write = sm_cpu_state_write,
  .optimizer_step = sm_cpu_optimizer_step,
};
