/* gst-sharedmatrix: CPU backend
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The reference for the update semantics. Big updates are split across
 * persistent worker threads by destination row range: every worker walks all
 * occurrences in buffer order and applies only the rows in its range, so
 * each row sees exactly the sequence of operations a single thread would
 * apply. Results are bit-for-bit identical for any thread count.
 */
#include <string.h>

#include "backend.h"
#include "sharedmatrix-ops.h"

/* Below this many delta elements, waking workers costs more than it saves. */
#define PARALLEL_MIN_ELEMENTS (64 * 1024)
#define MAX_THREADS 64

typedef struct
{
  GstSharedMatrixShape shape;
  guint8 *data;
} CpuStorage;

typedef struct
{
  const CpuStorage *storage;
  const GstSharedMatrixUpdatePlan *plan;
  guint n_parts;
  guint64 rows_per_part;

  GMutex lock;
  GCond done;
  guint pending;
} ApplyJob;

typedef struct
{
  ApplyJob *job;
  guint part;
} ApplyTask;

static void
apply_part (const CpuStorage * s, const GstSharedMatrixUpdatePlan * plan,
    guint64 first_row, guint64 end_row)
{
  const GstSharedMatrixShape *shape = &s->shape;
  gsize delta_row_bytes =
      (gsize) shape->cols * sm_dtype_size (plan->delta_dtype);
  gsize i;

  for (i = 0; i < plan->n; i++) {
    guint64 r;

    if (plan->skip && plan->skip[i])
      continue;
    r = (guint64) sm_load_index (plan->indices, plan->indices_int64, i);
    if (r < first_row || r >= end_row)
      continue;
    sm_apply_row (plan->op, s->data + r * shape->row_bytes, shape->dtype,
        plan->deltas + i * delta_row_bytes, plan->delta_dtype, shape->cols);
  }
}

static void
apply_range_of_part (ApplyJob * job, guint part)
{
  guint64 first = job->rows_per_part * part;
  guint64 end = part + 1 == job->n_parts ? job->storage->shape.rows :
      first + job->rows_per_part;

  apply_part (job->storage, job->plan, first, end);
}

static void
worker_func (gpointer data, gpointer user_data)
{
  ApplyTask *task = data;
  ApplyJob *job = task->job;

  apply_range_of_part (job, task->part);
  g_mutex_lock (&job->lock);
  if (--job->pending == 0)
    g_cond_signal (&job->done);
  g_mutex_unlock (&job->lock);
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

static GThreadPool *
worker_pool (void)
{
  static GThreadPool *pool = NULL;

  if (g_once_init_enter (&pool)) {
    /* persistent threads: starting threads per update would cost more than
     * a typical update */
    GThreadPool *p = g_thread_pool_new (worker_func, NULL,
        (gint) thread_count () - 1, FALSE, NULL);
    g_once_init_leave (&pool, p);
  }
  return pool;
}

static void
cpu_apply (gpointer storage, const GstSharedMatrixUpdatePlan * plan)
{
  CpuStorage *s = storage;
  guint n_threads = thread_count ();
  ApplyTask tasks[MAX_THREADS];
  ApplyJob job;
  guint part;

  if (n_threads == 1 || s->shape.rows < n_threads ||
      (guint64) plan->n * s->shape.cols < PARALLEL_MIN_ELEMENTS) {
    apply_part (s, plan, 0, s->shape.rows);
    return;
  }

  job.storage = s;
  job.plan = plan;
  job.n_parts = n_threads;
  job.rows_per_part = s->shape.rows / n_threads;
  job.pending = n_threads - 1;
  g_mutex_init (&job.lock);
  g_cond_init (&job.done);

  for (part = 1; part < n_threads; part++) {
    tasks[part].job = &job;
    tasks[part].part = part;
    g_thread_pool_push (worker_pool (), &tasks[part], NULL);
  }
  apply_range_of_part (&job, 0);

  g_mutex_lock (&job.lock);
  while (job.pending > 0)
    g_cond_wait (&job.done, &job.lock);
  g_mutex_unlock (&job.lock);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.done);
}

static gpointer
cpu_create (const GstSharedMatrixShape * shape, gint device_id,
    GError ** error)
{
  CpuStorage *s;
  guint8 *data;

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
  return s;
}

static void
cpu_destroy (gpointer storage)
{
  CpuStorage *s = storage;

  g_free (s->data);
  g_free (s);
}

static void
cpu_read (gpointer storage, guint8 * dest)
{
  CpuStorage *s = storage;

  memcpy (dest, s->data, s->shape.rows * s->shape.row_bytes);
}

static void
cpu_write (gpointer storage, const guint8 * src)
{
  CpuStorage *s = storage;

  memcpy (s->data, src, s->shape.rows * s->shape.row_bytes);
}

static void
cpu_gather (gpointer storage, const guint8 * indices, gboolean indices_int64,
    gsize n, guint8 * dest)
{
  CpuStorage *s = storage;
  gsize i;

  for (i = 0; i < n; i++) {
    guint64 r = (guint64) sm_load_index (indices, indices_int64, i);

    memcpy (dest + i * s->shape.row_bytes, s->data + r * s->shape.row_bytes,
        s->shape.row_bytes);
  }
}

const GstSharedMatrixBackendOps gst_shared_matrix_backend_cpu = {
  .kind = GST_SHARED_MATRIX_BACKEND_CPU,
  .create = cpu_create,
  .destroy = cpu_destroy,
  .apply = cpu_apply,
  .read = cpu_read,
  .write = cpu_write,
  .gather = cpu_gather,
};
