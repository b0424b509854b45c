/* gst-sharedmatrix: the CPU backend's optimizer steps
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * float32 matrix with float32 gradients (the common case): the distinct
 * rows are found with a small open-addressing hash table (O(n), no sort,
 * no allocation once the workspace has grown) and stepped in the order of
 * their first occurrence; a row that occurs once is stepped from its
 * gradient row directly, a repeated one from the sum of its gradient rows
 * in buffer order (a chain through the positions). The step loops are
 * vectorised float loops written here; they compute exactly what the
 * shared bodies of kernels/optimizer-kernels.h compute (float arithmetic,
 * no contraction, sqrtf correctly rounded). Matrix rows and state rows
 * are prefetched into L2 and then into L1 a few rows ahead, gradient rows
 * into L2, and the state lives in huge pages like the matrix.
 * rowwise-adagrad's sum of squares runs in the eight lanes of a vector,
 * in the order the shared body defines for it (kernels/optimizer-kernels.h,
 * before sm_optim_rowwise_reduce ()). Rows are independent, so big
 * updates split the distinct rows across the worker pool and the result
 * is the same bytes for any thread count.
 *
 * Every other dtype pair groups the occurrences by row (stable:
 * update-grouping.c) and runs the shared bodies directly, the same code the
 * CUDA kernels run. tests/check/test-optimizers.c checks both paths against
 * the emulated kernels and the CUDA host code bit for bit.
 */
#include <math.h>
#include <string.h>

#include "backend-cpu.h"
#include "backend-cpu-rows.h"
#include "backend-optim.h"
#include "update-grouping.h"
#include "worker-pool.h"

/* Below this many gradient elements per update one thread does the work */
#define PARALLEL_MIN_ELEMENTS (64 * 1024)
/* Scratch floats on the stack; wider rows use the heap */
#define STACK_FLOATS 2048
/* Matrix and state rows are prefetched in two steps, as the add path
 * (backend-cpu.c) prefetches its rows: into L1, with write intent, about
 * PREFETCH_LINES cache lines ahead (as many as one core keeps
 * outstanding), and before that into L2, about PREFETCH_FAR_LINES ahead,
 * which keeps more misses in flight than the L1 step can. The L2 step made
 * the 200-row steps of 70,000 x 100 float32 20-40 % faster. */
#define PREFETCH_LINES 42
#define PREFETCH_FAR_LINES 128

/* The distinct rows of an update in the order of their first occurrence,
 * found with an open-addressing hash table (row -> distinct slot): O(n),
 * no sort. A row's occurrences are chained in buffer order through
 * d_first and next[], so its gradient rows are summed in buffer order, as
 * the semantics (and the shared bodies, on the sorted grouping) have it.
 * Which order the distinct rows are stepped in does not matter: every row
 * is stepped once, independently of the others. */
typedef struct
{
  guint32 n;                    /* distinct rows */
  gboolean dups;                /* some row occurs more than once */
  guint64 *row;                 /* n distinct rows */
  guint32 *first;               /* position of the first occurrence */
  guint32 *count;               /* occurrences */
  guint32 *last;                /* position of the last occurrence */
  guint32 *next;                /* per position: the next occurrence of its
                                 * row (valid for rows with count > 1) */
  /* workspace, grown (never shrunk) as updates get larger */
  gsize capacity;               /* occurrences */
  guint64 *keys;                /* hash table: row + 1, 0 = empty */
  guint32 *slots;               /* its distinct row */
  gsize table_capacity;
} F32Groups;

typedef struct
{
  float *data;                  /* n floats, NULL when n == 0 */
  gsize n;                      /* rows x slots x width */
  guint slots;
  gsize width;
  gsize mapped;                 /* sm_cpu_alloc_zeroed () */
  SmUpdateGrouping grouping;    /* every dtype pair but float32/float32 */
  double *row_mult;             /* generic rowwise-adagrad path */
  gsize row_mult_capacity;

  F32Groups f32;                /* float32/float32: distinct rows by hash */
} CpuOptimState;

gpointer
sm_cpu_state_create (gpointer storage, guint n_slots, gsize width,
    GError ** error)
{
  CpuOptimState *st = g_new0 (CpuOptimState, 1);
  guint64 rows = sm_cpu_storage_shape (storage)->rows;
  gsize n_floats = rows * n_slots * width;

  if (n_floats > 0) {
    /* like the matrix: zeroed, untouched, huge pages when big (the steps
     * read and write random state rows) */
    st->data = sm_cpu_alloc_zeroed (n_floats, sizeof (float), &st->mapped);
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
  st->slots = n_slots;
  st->width = width;
  sm_update_grouping_init (&st->grouping);
  return st;
}

void
sm_cpu_state_destroy (gpointer storage, gpointer state)
{
  CpuOptimState *st = state;

  sm_update_grouping_clear (&st->grouping);
  if (st->data)
    sm_cpu_free_zeroed (st->data, st->mapped);
  g_free (st->row_mult);
  g_free (st->f32.row);
  g_free (st->f32.first);
  g_free (st->f32.count);
  g_free (st->f32.last);
  g_free (st->f32.next);
  g_free (st->f32.keys);
  g_free (st->f32.slots);
  g_free (st);
}

/* Copies the state of a @rows-row matrix between its rows (the storage)
 * and its slots (@by_slot: slot 0's rows, then slot 1's), in the
 * direction @to_slots */
static void
copy_state (CpuOptimState * st, guint64 rows, float *by_slot,
    gboolean to_slots)
{
  gsize bytes = st->width * sizeof (float);
  guint64 r;
  guint k;

  if (st->n == 0)
    return;
  if (st->slots == 1) {
    if (to_slots)
      memcpy (by_slot, st->data, st->n * sizeof (float));
    else
      memcpy (st->data, by_slot, st->n * sizeof (float));
    return;
  }
  for (k = 0; k < st->slots; k++)
    for (r = 0; r < rows; r++) {
      float *row = st->data + (r * st->slots + k) * st->width;
      float *slot = by_slot + (k * rows + r) * st->width;

      if (to_slots)
        memcpy (slot, row, bytes);
      else
        memcpy (row, slot, bytes);
    }
}

gboolean
sm_cpu_state_read (gpointer storage, gpointer state, float *dest,
    GError ** error)
{
  copy_state (state, sm_cpu_storage_shape (storage)->rows, dest, TRUE);
  return TRUE;
}

gboolean
sm_cpu_state_write (gpointer storage, gpointer state, const float *src,
    GError ** error)
{
  copy_state (state, sm_cpu_storage_shape (storage)->rows, (float *) src,
      FALSE);
  return TRUE;
}

/* ---- float32 matrix, float32 gradients ---------------------------------- */

/* One step's constants, for every part */
typedef struct
{
  const SmOptimArgs *a;
  const F32Groups *grp;
  guint8 *matrix;
  const guint8 *grads;
  gsize grow;                   /* gradient row bytes */
  guint prefetch;               /* distinct rows prefetched ahead into L1 */
  guint prefetch_far;           /* ... and into L2 (more than prefetch) */
} F32Step;

/* always inlined, as is everything step_range_f32 () runs: into each of
 * its builds */
#define SM_ALWAYS_INLINE static inline __attribute__ ((always_inline))

/* The g of distinct row @d (@w its matrix row), to be read as 0 + g[j]:
 * the row's gradient row itself when it occurs once and there is no weight
 * decay (nearly every row: nothing copied), else its gradient rows summed
 * in buffer order from 0, then the weight decay term, into @scratch. The
 * 0 + turns a -0 gradient into the +0 of the sum from 0, and changes no
 * sum (which is never -0). */
SM_ALWAYS_INLINE const float *
grad_row (const F32Step * c, guint32 d, const float *restrict w,
    float *restrict scratch)
{
  guint32 cols = c->a->cols, j, k, pos = c->grp->first[d];
  const guint8 *src = c->grads + (gsize) pos * c->grow;

  if (c->grp->count[d] == 1 && c->a->weight_decay == 0.0)
    return (const float *) src;
  for (j = 0; j < cols; j++) {
    float x;

    memcpy (&x, src + (gsize) j * 4, 4);
    scratch[j] = 0.0f + x;
  }
  for (k = 1; k < c->grp->count[d]; k++) {
    pos = c->grp->next[pos];
    src = c->grads + (gsize) pos * c->grow;
    for (j = 0; j < cols; j++) {
      float x;

      memcpy (&x, src + (gsize) j * 4, 4);
      scratch[j] = scratch[j] + x;
    }
  }
  if (c->a->weight_decay != 0.0) {
    float wd = (float) c->a->weight_decay;

    for (j = 0; j < cols; j++)
      scratch[j] = scratch[j] + wd * w[j];
  }
  return scratch;
}

/* distinct row @d's first gradient row, into L2: it is read a few rows
 * later, and into L1 it would take fill buffers the matrix rows need
 * (5-25 % faster steps than into L1) */
SM_ALWAYS_INLINE void
prefetch_grad (const F32Step * c, guint32 d)
{
  prefetch_row (c->grads + (gsize) c->grp->first[d] * c->grow, c->grow,
      TRUE);
}

/* distinct row @d's matrix row and state (one block: adam's m and v side
 * by side), as prefetch_row (): with @far into L2, else into L1 with
 * write intent */
SM_ALWAYS_INLINE void
prefetch_group (const F32Step * c, guint32 d, gboolean far)
{
  const SmOptimArgs *a = c->a;
  guint64 r = c->grp->row[d];

  prefetch_row (c->matrix + r * a->row_bytes, a->row_bytes, far);
  if (a->state_stride)
    prefetch_row ((const guint8 *) (a->state0 + r * a->state_stride),
        a->state_stride * sizeof (float), far);
}

/* Eight floats: a GCC/clang vector type, whose lanes are independent IEEE
 * operations (the default build makes two SSE2 halves of it, the AVX2
 * build one register). Loads through memcpy: gradient rows may be
 * unaligned. */
typedef float SmF32x8 __attribute__ ((vector_size (32)));

#define LOAD_F32X8(v, p) memcpy (&(v), (p), sizeof (SmF32x8))

/* rowwise-adagrad: row @r's new G_r (stored) from its @g (as grad_row ()
 * gives it), and its multiplier lr / (sqrt (G_r) + eps). The sum of
 * squares in the shared body's order (sm_optim_rowwise_reduce ()): lane k
 * of the vector sums columns k, k + 8, ...; the squares of g are those of
 * 0 + g bit for bit (-0 and +0 square to +0, a NaN stays that NaN). */
SM_ALWAYS_INLINE float
rowwise_mult (const SmOptimArgs * a, guint64 r, const float *restrict g)
{
  SmF32x8 part = { 0.0f }, x;
  guint32 cols = a->cols, blocks = cols / 8 * 8, j;
  float sum, G;

  for (j = 0; j < blocks; j += 8) {
    LOAD_F32X8 (x, g + j);
    part = part + x * x;
  }
  sum = ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) +
      (part[3] + part[7]));
  for (j = blocks; j < cols; j++)
    sum = sum + g[j] * g[j];
  G = sm_optim_rowwise_state (a->state0[r * a->state_stride], sum, cols,
      FALSE);
  a->state0[r * a->state_stride] = G;
  return (float) sm_optim_rowwise_mult (a->lr, a->eps, G, FALSE);
}

/* One row's step, vectorised; @g as grad_row () gives it */
SM_ALWAYS_INLINE void
step_row (const SmOptimArgs * a, guint64 r, float *restrict w,
    const float *restrict g)
{
  guint32 cols = a->cols, j;
  float lr = (float) a->lr, eps = (float) a->eps;

  switch (a->optimizer) {
    case SM_OPTIM_SGD:
      for (j = 0; j < cols; j++)
        w[j] = w[j] - lr * (0.0f + g[j]);
      break;
    case SM_OPTIM_ADAGRAD:{
      float *restrict G = a->state0 + r * a->state_stride;

      for (j = 0; j < cols; j++) {
        float gj = 0.0f + g[j];
        float Gn = G[j] + gj * gj;

        G[j] = Gn;
        w[j] = w[j] - lr * (gj / (sqrtf (Gn) + eps));
      }
      break;
    }
    case SM_OPTIM_ROWWISE_ADAGRAD:{
      float mu = rowwise_mult (a, r, g);

      for (j = 0; j < cols; j++)
        w[j] = w[j] - mu * (0.0f + g[j]);
      break;
    }
    default:{                  /* adam */
      float *restrict m = a->state0 + r * a->state_stride;
      float *restrict v = a->state1 + r * a->state_stride;
      float c1 = (float) a->one_minus_beta1, c2 = (float) a->one_minus_beta2;
      float ss = (float) a->step_size;

      for (j = 0; j < cols; j++) {
        float gj = 0.0f + g[j];
        float mj = m[j] + c1 * (gj - m[j]);
        float vj = v[j] + c2 * (gj * gj - v[j]);

        m[j] = mj;
        v[j] = vj;
        w[j] = w[j] - ss * (mj / (sqrtf (vj) + eps));
      }
      break;
    }
  }
}

SM_ALWAYS_INLINE void
step_groups_f32 (const F32Step * c, float *scratch, guint32 first,
    guint32 end)
{
  const SmOptimArgs *a = c->a;
  guint32 d, pf = c->prefetch, far = c->prefetch_far;

  for (d = first; d < MIN (end, first + far); d++)
    prefetch_group (c, d, d >= first + pf);
  for (d = first; d < MIN (end, first + pf); d++)
    prefetch_grad (c, d);
  for (d = first; d < end; d++) {
    guint64 r = c->grp->row[d];
    float *w = (float *) (c->matrix + r * a->row_bytes);

    if (d + far < end)
      prefetch_group (c, d + far, TRUE);
    if (d + pf < end) {
      prefetch_group (c, d + pf, FALSE);
      prefetch_grad (c, d + pf);
    }
    step_row (a, r, w, grad_row (c, d, w, scratch));
  }
}

/* distinct rows [first, end) on this thread. Also built for AVX2 (chosen
 * at load time where the CPU has it): twice the lanes for adagrad's and
 * adam's sqrt and division. Same results: no FMA (-ffp-contract=off, and
 * the avx2 target does not enable it), sqrt and division correctly rounded
 * at any width. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__ ((target_clones ("avx2", "default")))
#endif
static void
step_range_f32 (const F32Step * c, guint32 first, guint32 end)
{
  gsize need = c->a->cols;
  float stack[STACK_FLOATS];
  /* only rows wider than the stack scratch allocate */
  float *g = need <= STACK_FLOATS ? stack : g_new (float, need);

  step_groups_f32 (c, g, first, end);
  if (g != stack)
    g_free (g);
}

static void
step_part (guint part, guint n_parts, gpointer data)
{
  const F32Step *c = data;
  guint32 first = (guint32) ((guint64) c->grp->n * part / n_parts);
  guint32 end = (guint32) ((guint64) c->grp->n * (part + 1) / n_parts);

  step_range_f32 (c, first, end);
}

/* Fills @f with the distinct rows of the occurrences of @u not skipped */
static void
group_by_hash (F32Groups * f, const SmUpdatePlan * u)
{
  gsize n = u->n, i, tsize;
  guint bits = 6;
  guint32 nd = 0;
  gboolean dups = FALSE;

  if (n > f->capacity) {
    gsize cap = MAX (n, MAX (2 * f->capacity, 256));

    f->row = g_renew (guint64, f->row, cap);
    f->first = g_renew (guint32, f->first, cap);
    f->count = g_renew (guint32, f->count, cap);
    f->last = g_renew (guint32, f->last, cap);
    f->next = g_renew (guint32, f->next, cap);
    f->capacity = cap;
  }
  /* at most half full */
  while (((gsize) 1 << bits) < 2 * n)
    bits++;
  tsize = (gsize) 1 << bits;
  if (tsize > f->table_capacity) {
    g_free (f->keys);
    g_free (f->slots);
    f->keys = g_new (guint64, tsize);
    f->slots = g_new (guint32, tsize);
    f->table_capacity = tsize;
  }
  /* only the part this update uses is cleared */
  memset (f->keys, 0, tsize * sizeof (guint64));

  for (i = 0; i < n; i++) {
    guint64 r, key;
    gsize h;

    if (u->skip && u->skip[i])
      continue;
    r = (guint64) sm_load_index (u->indices, u->indices_int64, i);
    key = r + 1;
    /* Fibonacci hashing: consecutive rows spread over the table */
    h = (gsize) ((key * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15)) >> (64 -
            bits));
    while (f->keys[h] != 0 && f->keys[h] != key)
      h = (h + 1) & (tsize - 1);
    if (f->keys[h] == 0) {
      f->keys[h] = key;
      f->slots[h] = nd;
      f->row[nd] = r;
      f->first[nd] = (guint32) i;
      f->last[nd] = (guint32) i;
      f->count[nd] = 1;
      nd++;
    } else {
      guint32 d = f->slots[h];

      /* appended to the row's chain: buffer order */
      f->next[f->last[d]] = (guint32) i;
      f->last[d] = (guint32) i;
      f->count[d]++;
      dups = TRUE;
    }
  }
  f->n = nd;
  f->dups = dups;
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

  sm_optim_args_init (&a, shape, plan, st->data);
  a.matrix = sm_cpu_storage_data (s);
  a.grads = u->deltas;

  if (a.dtype == SM_DTYPE_FLOAT32 && a.grad_dtype == SM_DTYPE_FLOAT32) {
    F32Step c;
    gsize lines;

    group_by_hash (&st->f32, u);
    if (st->f32.n == 0)
      return TRUE;
    c.a = &a;
    c.grp = &st->f32;
    c.matrix = a.matrix;
    c.grads = a.grads;
    c.grow = (gsize) a.cols * 4;
    /* rows ahead: the L1 step about PREFETCH_LINES cache lines (the add
     * path's 6 rows of 400 B), the L2 step about PREFETCH_FAR_LINES */
    lines = (a.row_bytes + 63) / 64 * (a.optimizer == SM_OPTIM_ADAGRAD ? 2 :
        a.optimizer == SM_OPTIM_ADAM ? 3 : 1);
    c.prefetch = (guint) CLAMP (PREFETCH_LINES / lines, 2, 8);
    c.prefetch_far = (guint) CLAMP (PREFETCH_FAR_LINES / lines,
        c.prefetch + 1, 16);
    a.n_groups = st->f32.n;
    if ((guint64) u->n * a.cols < PARALLEL_MIN_ELEMENTS ||
        st->f32.n < sm_worker_pool_n_threads () *
        SM_WORKER_POOL_PARTS_PER_THREAD || sm_worker_pool_n_threads () == 1
        || !sm_worker_pool_run (step_part, &c,
            SM_WORKER_POOL_PARTS_PER_THREAD, TRUE))
      step_range_f32 (&c, 0, st->f32.n);
    return TRUE;
  }

  sm_update_grouping_compute (grouping, u->indices, u->indices_int64, 0,
      u->n, u->skip);
  if (grouping->n_groups == 0)
    return TRUE;
  a.rows = grouping->rows;
  a.group_start = grouping->group_start;
  a.order = grouping->order;
  a.n_groups = grouping->n_groups;

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
