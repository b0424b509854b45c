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
 * rowwise-adagrad's per-row sums of squares (chains of dependent
 * additions in column order) run eight rows to a vector, one batch of rows
 * ahead of the writes, so that the writes stream like sgd's. Rows are
 * independent, so big updates split the distinct rows across the worker
 * pool and the result is the same bytes for any thread count.
 *
 * Every other dtype pair groups the occurrences by row (stable:
 * update-grouping.c) and runs the shared bodies directly, the same code the
 * CUDA kernels run. tests/check/test-optimizers.c checks both paths against
 * the emulated kernels and the CUDA host code bit for bit.
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
  gsize n;
  gsize mapped;                 /* sm_cpu_alloc_zeroed () */
  SmUpdateGrouping grouping;    /* every dtype pair but float32/float32 */
  double *row_mult;             /* generic rowwise-adagrad path */
  gsize row_mult_capacity;

  F32Groups f32;                /* float32/float32: distinct rows by hash */
} CpuOptimState;

gpointer
sm_cpu_state_create (gpointer storage, gsize n_floats, GError ** error)
{
  CpuOptimState *st = g_new0 (CpuOptimState, 1);

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

/* Starts the cache misses of @bytes at @p (for writing when @write).
 * Always inlined, like its callers: gcc 12's IPA pure-const pass takes a
 * function that only prefetches for one without side effects, and deletes
 * the calls (an out-of-line prefetch helper lost every prefetch). */
#define PREFETCH_BYTES(p, bytes, write, locality) \
  G_STMT_START { \
    const guint8 *p_ = (const guint8 *) (p); \
    gsize k_, n_ = (bytes); \
    for (k_ = 0; k_ < n_; k_ += 64) \
      __builtin_prefetch (p_ + k_, (write), (locality)); \
    __builtin_prefetch (p_ + n_ - 1, (write), (locality)); \
  } G_STMT_END

/* distinct row @d's first gradient row, into L2: it is read a few rows
 * later, and into L1 it would take fill buffers the matrix rows need
 * (5-25 % faster steps than into L1) */
SM_ALWAYS_INLINE void
prefetch_grad (const F32Step * c, guint32 d)
{
  PREFETCH_BYTES (c->grads + (gsize) c->grp->first[d] * c->grow, c->grow,
      0, 1);
}

/* distinct row @d's matrix row and state: with @far into L2 (a read
 * prefetch of locality 1, as backend-cpu-rows.h's), else into L1 with
 * write intent */
SM_ALWAYS_INLINE void
prefetch_row (const F32Step * c, guint32 d, gboolean far)
{
  const SmOptimArgs *a = c->a;
  guint64 r = c->grp->row[d];
  gsize srow = (gsize) a->cols * 4;

  /* __builtin_prefetch wants constants: one call per case */
#define PF(p, n) G_STMT_START { if (far) PREFETCH_BYTES (p, n, 0, 1); \
    else PREFETCH_BYTES (p, n, 1, 3); } G_STMT_END
  PF (c->matrix + r * a->row_bytes, a->row_bytes);
  if (a->optimizer == SM_OPTIM_ADAGRAD || a->optimizer == SM_OPTIM_ADAM)
    PF (a->state0 + r * a->cols, srow);
  if (a->optimizer == SM_OPTIM_ADAM)
    PF (a->state1 + r * a->cols, srow);
#undef PF
}

/* sgd, adagrad, adam: one row's step, element-wise, vectorised; @g as
 * grad_row () gives it */
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
      float *restrict G = a->state0 + r * cols;

      for (j = 0; j < cols; j++) {
        float gj = 0.0f + g[j];
        float Gn = G[j] + gj * gj;

        G[j] = Gn;
        w[j] = w[j] - lr * (gj / (sqrtf (Gn) + eps));
      }
      break;
    }
    default:{                  /* adam */
      float *restrict m = a->state0 + r * cols;
      float *restrict v = a->state1 + r * cols;
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
    prefetch_row (c, d, d >= first + pf);
  for (d = first; d < MIN (end, first + pf); d++)
    prefetch_grad (c, d);
  for (d = first; d < end; d++) {
    guint64 r = c->grp->row[d];
    float *w = (float *) (c->matrix + r * a->row_bytes);

    if (d + far < end)
      prefetch_row (c, d + far, TRUE);
    if (d + pf < end) {
      prefetch_row (c, d + pf, FALSE);
      prefetch_grad (c, d + pf);
    }
    step_row (a, r, w, grad_row (c, d, w, scratch));
  }
}

/* rowwise-adagrad: a row's G_r needs its sum of squares, a chain of cols
 * dependent float additions (column order, as the shared body sums) over
 * its g, before the row can be written. Done just before the row's write,
 * that chain (and G_r's sqrt and division) sits between the row's arrival
 * and its write, and the next rows' misses wait. So the rows go in batches
 * of ROWWISE_BATCH, one row in each lane of a vector of sums, and a batch's
 * sums (which need the matrix rows only for a weight decay) are computed
 * while the batch before it is written, a few columns after each row's
 * write: the chains then run beside the memory accesses instead of between
 * them, and the writes stream the matrix rows like sgd's. */
#define ROWWISE_BATCH 8           /* lanes of SmF32x8 */
/* gradient rows and G_r prefetched this far ahead of the writes (a batch's
 * sums start one batch ahead) */
#define ROWWISE_GRAD_AHEAD (3 * ROWWISE_BATCH)

/* Eight floats, one row's chain in each lane: a GCC/clang vector type, so
 * the lanes are independent IEEE operations (the default build makes two
 * SSE2 halves of it, the AVX2 build one register). Loads through memcpy:
 * gradient rows may be unaligned. */
typedef float SmF32x8 __attribute__ ((vector_size (32)));

#define LOAD_F32X8(v, p) memcpy (&(v), (p), sizeof (SmF32x8))

/* A batch's sums in progress */
typedef struct
{
  const float *g[ROWWISE_BATCH];        /* its rows' g, grad_row () */
  SmF32x8 s;
  guint32 d, nb;                /* distinct rows [d, d + nb) */
  guint32 j;                    /* next column */
} RowwiseSums;

/* Starts the sums of distinct rows [d, d + nb), nb <= ROWWISE_BATCH;
 * @gbuf: ROWWISE_BATCH scratch rows for grad_row () */
SM_ALWAYS_INLINE void
rowwise_start (const F32Step * c, RowwiseSums * rs, float *gbuf, guint32 d,
    guint32 nb)
{
  const SmOptimArgs *a = c->a;
  const SmF32x8 zero = { 0.0f };
  guint32 b;

  for (b = 0; b < ROWWISE_BATCH; b++) {
    /* a short batch sums its first row again, unused */
    guint32 e = d + (b < nb ? b : 0);
    guint64 r = c->grp->row[e];

    rs->g[b] = grad_row (c, e, (const float *) (c->matrix +
            r * a->row_bytes), gbuf + (gsize) b * a->cols);
  }
  rs->s = zero;
  rs->d = d;
  rs->nb = nb;
  rs->j = 0;
}

/* Adds up to @blocks blocks of eight columns to the sums: the eight rows'
 * columns transposed so that lane b holds row b. The square of g is that
 * of grad_row ()'s 0 + g, bit for bit (-0 and +0 square to +0, a NaN
 * stays that NaN), so the 0 + is left out here. */
SM_ALWAYS_INLINE void
rowwise_columns (RowwiseSums * rs, guint32 cols, guint32 blocks)
{
  const float *const *g = rs->g;
  SmF32x8 s = rs->s;
  guint32 j = rs->j, k;

  for (k = 0; k < blocks && j + 8 <= cols; k++, j += 8) {
    SmF32x8 r0, r1, r2, r3, r4, r5, r6, r7;
    SmF32x8 t0, t1, t2, t3, t4, t5, t6, t7, u0, u1, u2, u3, u4, u5, u6, u7;

    LOAD_F32X8 (r0, g[0] + j);
    LOAD_F32X8 (r1, g[1] + j);
    LOAD_F32X8 (r2, g[2] + j);
    LOAD_F32X8 (r3, g[3] + j);
    LOAD_F32X8 (r4, g[4] + j);
    LOAD_F32X8 (r5, g[5] + j);
    LOAD_F32X8 (r6, g[6] + j);
    LOAD_F32X8 (r7, g[7] + j);
    t0 = __builtin_shufflevector (r0, r1, 0, 8, 1, 9, 4, 12, 5, 13);
    t1 = __builtin_shufflevector (r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
    t2 = __builtin_shufflevector (r2, r3, 0, 8, 1, 9, 4, 12, 5, 13);
    t3 = __builtin_shufflevector (r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
    t4 = __builtin_shufflevector (r4, r5, 0, 8, 1, 9, 4, 12, 5, 13);
    t5 = __builtin_shufflevector (r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
    t6 = __builtin_shufflevector (r6, r7, 0, 8, 1, 9, 4, 12, 5, 13);
    t7 = __builtin_shufflevector (r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
    u0 = __builtin_shufflevector (t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
    u1 = __builtin_shufflevector (t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    u2 = __builtin_shufflevector (t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
    u3 = __builtin_shufflevector (t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    u4 = __builtin_shufflevector (t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
    u5 = __builtin_shufflevector (t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    u6 = __builtin_shufflevector (t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
    u7 = __builtin_shufflevector (t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    /* column j + k: k < 4 from the low halves of u, the others from the
     * high halves */
    r0 = __builtin_shufflevector (u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
    r1 = __builtin_shufflevector (u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
    r2 = __builtin_shufflevector (u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
    r3 = __builtin_shufflevector (u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
    r4 = __builtin_shufflevector (u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    r5 = __builtin_shufflevector (u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    r6 = __builtin_shufflevector (u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    r7 = __builtin_shufflevector (u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
    s = s + r0 * r0;
    s = s + r1 * r1;
    s = s + r2 * r2;
    s = s + r3 * r3;
    s = s + r4 * r4;
    s = s + r5 * r5;
    s = s + r6 * r6;
    s = s + r7 * r7;
  }
  rs->s = s;
  rs->j = j;
}

/* Completes the sums and gives each row its new G_r (stored) and its
 * multiplier, into @mult */
SM_ALWAYS_INLINE void
rowwise_finish (const F32Step * c, RowwiseSums * rs, float *restrict mult)
{
  const SmOptimArgs *a = c->a;
  guint32 cols = a->cols, j, b;
  const float *const *g = rs->g;
  float G[ROWWISE_BATCH], m[ROWWISE_BATCH];
  SmF32x8 s;

  rowwise_columns (rs, cols, G_MAXUINT32);
  s = rs->s;
  for (j = rs->j; j < cols; j++) {
    SmF32x8 cj = { g[0][j], g[1][j], g[2][j], g[3][j], g[4][j], g[5][j],
      g[6][j], g[7][j]
    };

    s = s + cj * cj;
  }
  for (b = 0; b < ROWWISE_BATCH; b++)
    G[b] = b < rs->nb ? a->state0[c->grp->row[rs->d + b]] : 0.0f;
  /* the shared arithmetic, lane by lane (vectorised) */
  for (b = 0; b < ROWWISE_BATCH; b++) {
    G[b] = sm_optim_rowwise_state (G[b], s[b], cols, FALSE);
    m[b] = (float) sm_optim_rowwise_mult (a->lr, a->eps, G[b], FALSE);
  }
  for (b = 0; b < rs->nb; b++) {
    a->state0[c->grp->row[rs->d + b]] = G[b];
    mult[b] = m[b];
  }
}

SM_ALWAYS_INLINE void
step_groups_rowwise_f32 (const F32Step * c, float *gbuf, guint32 first,
    guint32 end)
{
  const SmOptimArgs *a = c->a;
  guint32 cols = a->cols, pf = c->prefetch, far = c->prefetch_far, d, j;
  /* blocks of columns of the next batch's sums after each row's write:
   * all of them within the batch */
  guint32 blocks = (cols / 8 + ROWWISE_BATCH - 1) / ROWWISE_BATCH;
  /* the multipliers of this batch [0] and the next [1] */
  float mult[2][ROWWISE_BATCH];
  /* the write's scratch row, after the sums' */
  float *scratch = gbuf + (gsize) ROWWISE_BATCH * cols;
  RowwiseSums rs;

  if (first >= end)
    return;
  for (d = first; d < MIN (end, first + ROWWISE_GRAD_AHEAD); d++) {
    prefetch_grad (c, d);
    __builtin_prefetch (a->state0 + c->grp->row[d], 1, 3);
  }
  for (d = first; d < MIN (end, first + far); d++)
    prefetch_row (c, d, d >= first + pf);
  rowwise_start (c, &rs, gbuf, first, MIN (ROWWISE_BATCH, end - first));
  rowwise_finish (c, &rs, mult[1]);
  for (d = first; d < end; d++) {
    guint32 b = (d - first) % ROWWISE_BATCH;
    guint64 r = c->grp->row[d];
    float *restrict w = (float *) (c->matrix + r * a->row_bytes);
    const float *restrict g;
    float mu;

    if (b == 0) {
      memcpy (mult[0], mult[1], sizeof mult[0]);
      if (d + ROWWISE_BATCH < end)
        rowwise_start (c, &rs, gbuf, d + ROWWISE_BATCH,
            MIN (ROWWISE_BATCH, end - d - ROWWISE_BATCH));
    }
    if (d + far < end)
      prefetch_row (c, d + far, TRUE);
    if (d + pf < end)
      prefetch_row (c, d + pf, FALSE);
    if (d + ROWWISE_GRAD_AHEAD < end) {
      prefetch_grad (c, d + ROWWISE_GRAD_AHEAD);
      __builtin_prefetch (a->state0 + c->grp->row[d + ROWWISE_GRAD_AHEAD],
          1, 3);
    }
    mu = mult[0][b];
    g = grad_row (c, d, w, scratch);
    for (j = 0; j < cols; j++)
      w[j] = w[j] - mu * (0.0f + g[j]);
    /* the next batch's sums, a few columns at a time (this batch is
     * whole when there is a next one) */
    if (d - b + ROWWISE_BATCH < end) {
      if (b + 1 < ROWWISE_BATCH)
        rowwise_columns (&rs, cols, blocks);
      else
        rowwise_finish (c, &rs, mult[1]);
    }
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
  /* rowwise-adagrad: a batch's rows and the write's */
  gsize need = (gsize) c->a->cols * (c->a->optimizer ==
      SM_OPTIM_ROWWISE_ADAGRAD ? ROWWISE_BATCH + 1 : 1);
  float stack[STACK_FLOATS];
  /* only rows wider than the stack scratch allocate */
  float *g = need <= STACK_FLOATS ? stack : g_new (float, need);

  if (c->a->optimizer == SM_OPTIM_ROWWISE_ADAGRAD)
    step_groups_rowwise_f32 (c, g, first, end);
  else
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

  sm_optim_args_init (&a, shape, plan);
  a.matrix = sm_cpu_storage_data (s);
  a.state0 = st->data;
  a.state1 = plan->optimizer == SM_OPTIM_ADAM ?
      st->data + shape->rows * shape->cols : NULL;
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
