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

#include "backend-cpu.h"
#include "backend-cpu-rows.h"
#include "worker-pool.h"

/* Below this many delta elements per update one thread does the work: a
 * part must be worth well more than waking a worker (~5-50 µs when it
 * sleeps). */
#define PARALLEL_MIN_ELEMENTS (64 * 1024)
/* Destination rows prefetched this many rows ahead */
#define PREFETCH_ROWS 6
/* Occurrences a part filters at a time (a list on the stack) */
#define BLOCK 2048
/* Big updates try the thread mode they do not use this often */
#define PROBE_EVERY 16
/* Matrices from this size on get their own mapping, in huge pages */
#define HUGE_MIN_BYTES (4u << 20)
#define HUGE_PAGE (2u << 20)

struct _SmCpuStorage
{
  SmShape shape;
  guint8 *data;
  gsize mapped;                 /* mmap'ed bytes, 0 when g_malloc'ed */

  /* Big updates: measured cost (ns per delta element, a moving average) on
   * the calling thread alone [0] and with the workers [1]; 0 = not yet
   * measured. Written under the matrix lock, like everything here. */
  gdouble cost[2];
  guint big_updates;
};

/* ---- applying a range of occurrences ------------------------------------- */

/* The whole update on this thread, in buffer order, prefetching ahead. */
void
sm_cpu_apply_serial (const SmCpuStorage * s, const SmUpdatePlan * plan)
{
  const SmShape *shape = &s->shape;
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

static gboolean
cpu_apply (gpointer storage, const SmUpdatePlan * plan,
    GError ** error)
{
  SmCpuStorage *s = storage;
  CpuJob job = { s, plan };
  guint64 elements = (guint64) plan->n * s->shape.cols;
  gint64 t0;
  gdouble cost;
  int mode;

  if (sm_worker_pool_n_threads () == 1 ||
      s->shape.rows < sm_worker_pool_n_threads () *
      SM_WORKER_POOL_PARTS_PER_THREAD || elements < PARALLEL_MIN_ELEMENTS) {
    sm_cpu_apply_serial (s, plan);
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
  if (mode == 0 || !sm_worker_pool_run (apply_part, &job)) {
    sm_cpu_apply_serial (s, plan);
    mode = 0;
  }
  cost = MAX (g_get_monotonic_time () - t0, 1) * 1000.0 / elements;
  s->cost[mode] = s->cost[mode] == 0 ? cost : 0.75 * s->cost[mode] +
      0.25 * cost;
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
