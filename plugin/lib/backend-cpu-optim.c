/* gst-sharedmatrix: the CPU backend's optimizer steps
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The occurrences of a gradient update are grouped by row (stable, so each
 * row's gradient rows are summed in buffer order: update-grouping.c), then
 * every distinct row gets one step. Rows are independent, so big updates
 * split their groups across the worker pool and the result is the same
 * bytes for any thread count.
 *
 * float32 matrix with float32 gradients (the common case) runs vectorised
 * float loops written here; they compute exactly what the shared bodies of
 * kernels/optimizer-kernels.h compute (float arithmetic, no contraction,
 * sqrtf correctly rounded), which every other dtype pair runs directly —
 * the same code the CUDA kernels run. tests/check/test-optimizers.c checks
 * the two paths bit for bit.
 */
#include <math.h>
#include <string.h>

#include "backend-cpu.h"
#include "backend-optim.h"
#include "update-grouping.h"
#include "worker-pool.h"

/* Below this many gradient elements per update one thread does the work */
#define PARALLEL_MIN_ELEMENTS (64 * 1024)
/* Scratch floats on the stack; wider rows use the heap */
#define STACK_FLOATS 1024

typedef struct
{
  float *data;                  /* n floats, NULL when n == 0 */
  gsize n;
  SmUpdateGrouping grouping;
  double *row_mult;             /* generic rowwise-adagrad path */
  gsize row_mult_capacity;
} CpuOptimState;

gpointer
sm_cpu_state_create (gpointer storage, gsize n_floats, GError ** error)
{
  CpuOptimState *st = g_new0 (CpuOptimState, 1);

  if (n_floats > 0) {
    /* calloc: large zeroed blocks come straight from the kernel */
    st->data = g_try_malloc0_n (n_floats, sizeof (float));
    if (st->data == NULL) {
      g_set_error (error, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY,
          "Cannot allocate %" G_GSIZE_FORMAT " bytes of host memory for "
          "optimizer state", n_floats * sizeof (float));
      g_free (st);
      return NULL;
    }
  }
  st->n = n_floats;
  sm_update_grouping_init (&st->grouping);
  return st;
}

void
sm_cpu_state_destroy (gpointer storage, gpointer state)
{
  CpuOptimState *st = state;

  sm_update_grouping_clear (&st->grouping);
  g_free (st->data);
  g_free (st->row_mult);
  g_free (st);
}

gboolean
sm_cpu_state_read (gpointer storage, gpointer state, float *dest,
    GError ** error)
{
  CpuOptimState *st = state;

  if (st->n)
    memcpy (dest, st->data, st->n * sizeof (float));
  return TRUE;
}

gboolean
sm_cpu_state_write (gpointer storage, gpointer state, const float *src,
    GError ** error)
{
  CpuOptimState *st = state;

  if (st->n)
    memcpy (st->data, src, st->n * sizeof (float));
  return TRUE;
}

/* ---- float32 matrix, float32 gradients ---------------------------------- */

/* One group: g summed into @g (cols floats), then the step. */
static void
step_group_f32 (const SmOptimArgs * a, guint64 grp, float *restrict g)
{
  guint32 cols = a->cols, k, j;
  guint64 r = a->rows[grp];
  float *restrict w = (float *) (a->matrix + r * a->row_bytes);
  gsize grow = (gsize) cols * 4;
  float lr = (float) a->lr, eps = (float) a->eps;

  memset (g, 0, grow);
  for (k = a->group_start[grp]; k < a->group_start[grp + 1]; k++) {
    const guint8 *src = a->grads + (gsize) a->order[k] * grow;

    for (j = 0; j < cols; j++) {
      float x;

      memcpy (&x, src + (gsize) j * 4, 4);
      g[j] = g[j] + x;
    }
  }
  if (a->weight_decay != 0.0) {
    float wd = (float) a->weight_decay;

    for (j = 0; j < cols; j++)
      g[j] = g[j] + wd * w[j];
  }

  switch (a->optimizer) {
    case SM_OPTIM_SGD:
      for (j = 0; j < cols; j++)
        w[j] = w[j] - lr * g[j];
      break;
    case SM_OPTIM_ADAGRAD:{
      float *restrict G = a->state0 + r * cols;

      for (j = 0; j < cols; j++) {
        float Gn = G[j] + g[j] * g[j];

        G[j] = Gn;
        w[j] = w[j] - lr * (g[j] / (sqrtf (Gn) + eps));
      }
      break;
    }
    case SM_OPTIM_ROWWISE_ADAGRAD:{
      float sum = 0.0f, Gr, mult;

      /* column order, as the shared body sums */
      for (j = 0; j < cols; j++)
        sum = sum + g[j] * g[j];
      Gr = sm_optim_rowwise_state (a->state0[r], sum, cols, FALSE);
      a->state0[r] = Gr;
      mult = (float) sm_optim_rowwise_mult (a->lr, a->eps, Gr, FALSE);
      for (j = 0; j < cols; j++)
        w[j] = w[j] - mult * g[j];
      break;
    }
    default:{                  /* adam */
      float *restrict m = a->state0 + r * cols;
      float *restrict v = a->state1 + r * cols;
      float c1 = (float) a->one_minus_beta1, c2 = (float) a->one_minus_beta2;
      float ss = (float) a->step_size;

      for (j = 0; j < cols; j++) {
        float mj = m[j] + c1 * (g[j] - m[j]);
        float vj = v[j] + c2 * (g[j] * g[j] - v[j]);

        m[j] = mj;
        v[j] = vj;
        w[j] = w[j] - ss * (mj / (sqrtf (vj) + eps));
      }
      break;
    }
  }
}

static void
step_groups_f32 (const SmOptimArgs * a, guint64 first, guint64 end)
{
  float stack[STACK_FLOATS];
  float *g = a->cols <= STACK_FLOATS ? stack : g_new (float, a->cols);
  guint64 grp;

  for (grp = first; grp < end; grp++) {
    if (grp + 2 < end) {
      /* the next rows are random accesses: start their misses now */
      __builtin_prefetch (a->matrix + a->rows[grp + 2] * a->row_bytes, 1);
      if (a->state0 && a->optimizer != SM_OPTIM_ROWWISE_ADAGRAD)
        __builtin_prefetch (a->state0 + a->rows[grp + 2] * a->cols, 1);
      if (a->state1)
        __builtin_prefetch (a->state1 + a->rows[grp + 2] * a->cols, 1);
    }
    step_group_f32 (a, grp, g);
  }
  if (g != stack)
    g_free (g);
}

static void
step_part (guint part, guint n_parts, gpointer data)
{
  const SmOptimArgs *a = data;
  guint64 first = (guint64) a->n_groups * part / n_parts;
  guint64 end = (guint64) a->n_groups * (part + 1) / n_parts;

  step_groups_f32 (a, first, end);
}

/* ---- the step ----------------------------------------------------------- */

gboolean
sm_cpu_optimizer_step (gpointer storage, gpointer state,
    const SmOptimPlan * plan, GError ** error)
{
  const SmCpuStorage *s = storage;
  const SmShape *shape = sm_cpu_storage_shape (s);
  CpuOptimState *st = state;
  const SmUpdatePlan *u = &plan->update;
  SmUpdateGrouping *grouping = &st->grouping;
  SmOptimArgs a;

  if (u->n == 0)
    return TRUE;
  /* the library refuses updates of more occurrences (optimizer.c) */
  g_assert (u->n <= SM_UPDATE_GROUPING_MAX_N);
  sm_update_grouping_compute (grouping, u->indices, u->indices_int64, 0,
      u->n, u->skip);
  if (grouping->n_groups == 0)
    return TRUE;

  sm_optim_args_init (&a, shape, plan);
  a.matrix = sm_cpu_storage_data (s);
  a.state0 = st->data;
  a.state1 = plan->optimizer == SM_OPTIM_ADAM ?
      st->data + shape->rows * shape->cols : NULL;
  a.grads = u->deltas;
  a.rows = grouping->rows;
  a.group_start = grouping->group_start;
  a.order = grouping->order;
  a.n_groups = grouping->n_groups;

  if (a.dtype == SM_DTYPE_FLOAT32 && a.grad_dtype == SM_DTYPE_FLOAT32) {
    if ((guint64) u->n * a.cols < PARALLEL_MIN_ELEMENTS ||
        a.n_groups < sm_worker_pool_n_threads () *
        SM_WORKER_POOL_PARTS_PER_THREAD || sm_worker_pool_n_threads () == 1
        || !sm_worker_pool_run (step_part, &a))
      step_groups_f32 (&a, 0, a.n_groups);
    return TRUE;
  }

  /* every other dtype pair: the shared kernel bodies, one "thread" */
  if (a.optimizer == SM_OPTIM_ROWWISE_ADAGRAD) {
    if (st->row_mult_capacity < a.n_groups) {
      g_free (st->row_mult);
      st->row_mult_capacity = MAX (a.n_groups, 2 * st->row_mult_capacity);
      st->row_mult = g_new (double, st->row_mult_capacity);
    }
    a.row_mult = st->row_mult;
    sm_optim_rowwise_body (0, 1, 0, 1, &a);
  }
  sm_optim_body (0, 0, 1, 1, 0, 0, 1, 1, &a);
  return TRUE;
}
