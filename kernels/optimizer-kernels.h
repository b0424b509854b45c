/* gst-sharedmatrix: optimizer steps, one definition for CPU and GPU
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The arithmetic of the optimizers (sgd, adagrad, rowwise-adagrad, adam)
 * and the CUDA kernel bodies that apply them. Like scatter-kernels.h this
 * compiles as plain C (the CPU backend's reference path, the kernel
 * emulation tests) and as CUDA (kernels/optimizer.cu wraps the bodies).
 *
 * One update buffer, grouped by row (plugin/lib/update-grouping.c): group
 * g is matrix row rows[g]; its gradient rows are summed in buffer order,
 * starting from 0, in the compute type T (float32, or float64 when the
 * matrix or the gradients are float64), giving g; then one step per row,
 * element-wise (w = the matrix element loaded as T, state float32):
 *
 *   weight decay (when non-zero)  g = g + wd * w
 *   sgd               w = w - lr * g
 *   adagrad           G = G + g * g;  w = w - lr * (g / (sqrt (G) + eps))
 *   rowwise-adagrad   G_r = G_r + (sum_j g_j * g_j) / cols  (the sum in
 *                     the order described before sm_optim_rowwise_reduce ())
 *                     w = w - (lr / (sqrt (G_r) + eps)) * g
 *   adam              m = m + (1 - beta1) * (g - m)
 *                     v = v + (1 - beta2) * (g * g - v)
 *                     w = w - step_size * (m / (sqrt (v) + eps))
 *                     step_size = lr * sqrt (1 - beta2^t) / (1 - beta1^t),
 *                     computed in float64 on the host
 *
 * which is torch.optim.SparseAdam's (and Adagrad's, SGD's) order of
 * operations. Every operation is rounded to T (float arithmetic is done in
 * double and rounded to float after each operation, which gives the
 * correctly rounded float result for + - * / sqrt), the new state is
 * rounded to float32 and that value is used, the new w is rounded to the
 * matrix dtype (round to nearest even). No contraction into multiply-add:
 * the .cu is built with -fmad=false, the CPU backend with -ffp-contract=off.
 */
#ifndef SHAREDMATRIX_OPTIMIZER_KERNELS_H
#define SHAREDMATRIX_OPTIMIZER_KERNELS_H

#include <math.h>

#include "scatter-kernels.h"

/* mirror GstSharedMatrixOptimizer (checked in plugin/lib/optimizer.c) */
enum
{
  SM_OPTIM_NONE = 0,
  SM_OPTIM_SGD = 1,
  SM_OPTIM_ADAGRAD = 2,
  SM_OPTIM_ROWWISE_ADAGRAD = 3,
  SM_OPTIM_ADAM = 4,
};

typedef struct
{
  unsigned char *matrix;        /* rows x row_bytes */
  /* The state, row by row: a row's values of every slot side by side
   * (adam: its m then its v, 2 x cols floats), so a step reads and writes
   * one block of state per row, not one per slot. Row r's values of
   * slot 0 start at state0 + r * state_stride, of slot 1 at
   * state1 + r * state_stride. */
  float *state0;                /* adagrad G (cols per row), rowwise-adagrad
                                 * G_r (1), adam m (cols) */
  float *state1;                /* adam v (cols) */
  uint64_t state_stride;        /* floats from one row's state to the next */
  const unsigned char *grads;   /* gradient rows of grad_dtype */
  const uint64_t *rows;         /* n_groups destination rows */
  const uint32_t *group_start;  /* n_groups + 1 offsets */
  const uint32_t *order;        /* gradient row of each occurrence, grouped;
                                 * NULL: occurrence k is gradient row k */
  double *row_mult;             /* rowwise-adagrad: n_groups multipliers,
                                 * written by sm_optim_rowwise_body */
  uint64_t row_bytes;
  uint32_t n_groups;
  uint32_t cols;
  int32_t dtype;
  int32_t grad_dtype;
  int32_t optimizer;
  double lr, eps, one_minus_beta1, one_minus_beta2, weight_decay;
  double step_size;             /* adam */
} SmOptimArgs;

/* x rounded to the compute type: float unless @wide */
SM_FN double
sm_optim_round (double x, int wide)
{
  return wide ? x : (double) (float) x;
}

SM_FN int
sm_optim_wide (const SmOptimArgs * a)
{
  return a->dtype == SM_DTYPE_FLOAT64 || a->grad_dtype == SM_DTYPE_FLOAT64;
}

/* Element loads. On the device the data is naturally aligned (cudaMalloc'd
 * bases, staged at aligned offsets), and a typed load is one access; on
 * the host gradient rows may be unaligned, sm_load copies. */
SM_FN double
sm_optim_load (const unsigned char *p, int dtype)
{
#ifdef __CUDA_ARCH__
  switch (dtype) {
    case SM_DTYPE_FLOAT32:
      return *(const float *) p;
    case SM_DTYPE_FLOAT64:
      return *(const double *) p;
    case SM_DTYPE_FLOAT16:
      return sm_half_to_float (*(const uint16_t *) p);
    default:
      return sm_bfloat16_to_float (*(const uint16_t *) p);
  }
#else
  return sm_load (p, dtype);
#endif
}

/* g of column @j of group @grp: its occurrences summed in buffer order from
 * 0, then the weight decay term added (@w the matrix element) */
SM_FN double
sm_optim_grad (const SmOptimArgs * a, uint64_t grp, uint64_t j, double w,
    int wide)
{
  unsigned gsize = sm_dtype_size (a->grad_dtype);
  uint64_t grow = (uint64_t) a->cols * gsize;
  uint32_t k;
  double g = 0.0;

  for (k = a->group_start[grp]; k < a->group_start[grp + 1]; k++) {
    uint64_t occ = a->order ? a->order[k] : k;

    g = sm_optim_round (g + sm_optim_load (a->grads + occ * grow + j * gsize,
            a->grad_dtype), wide);
  }
  if (a->weight_decay != 0.0)
    g = sm_optim_round (g + sm_optim_round (sm_optim_round (a->weight_decay,
                wide) * w, wide), wide);
  return g;
}

/* rowwise-adagrad's sum of squares sum_j g_j * g_j is taken in one fixed
 * order, which a CPU's vector unit follows as easily as a GPU thread:
 * eight partial sums from 0, lane k adding the squares of columns k,
 * k + 8, k + 16, ... of the whole blocks of eight columns, in turn; then
 * the lanes combined as ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)); then
 * the squares of the columns after the last whole block, in column order.
 * Every operation is rounded to T. */
#define SM_OPTIM_ROWWISE_LANES 8

/* the eight partial sums @p combined, as above */
SM_FN double
sm_optim_rowwise_reduce (const double *p, int wide)
{
#define R_(x) sm_optim_round ((x), wide)
  return R_ (R_ (R_ (p[0] + p[4]) + R_ (p[2] + p[6])) +
      R_ (R_ (p[1] + p[5]) + R_ (p[3] + p[7])));
#undef R_
}

/* rowwise-adagrad: the new G_r from the old one and sum_j g_j^2 */
SM_FN float
sm_optim_rowwise_state (float G, double sum_sq, uint32_t cols, int wide)
{
  double mean = sm_optim_round (sum_sq / (double) cols, wide);

  return (float) sm_optim_round ((double) G + mean, wide);
}

/* rowwise-adagrad: lr / (sqrt (G_r) + eps) */
SM_FN double
sm_optim_rowwise_mult (double lr, double eps, float G, int wide)
{
  double d = sm_optim_round (sm_optim_round (sqrt ((double) G), wide) +
      sm_optim_round (eps, wide), wide);

  return sm_optim_round (sm_optim_round (lr, wide) / d, wide);
}

/* One element's step: @w and @g in T; updates the state element(s) *s0,
 * *s1 (unused ones may be NULL); @row_mult for rowwise-adagrad. Returns
 * the new w in T (the caller rounds it to the matrix dtype). */
SM_FN double
sm_optim_element (const SmOptimArgs * a, double w, double g, float *s0,
    float *s1, double row_mult, int wide)
{
#define R_(x) sm_optim_round ((x), wide)
  double lr = R_ (a->lr), eps = R_ (a->eps);

  switch (a->optimizer) {
    case SM_OPTIM_SGD:
      return R_ (w - R_ (lr * g));
    case SM_OPTIM_ADAGRAD:{
      float G = (float) R_ ((double) *s0 + R_ (g * g));
      double d;

      *s0 = G;
      d = R_ (R_ (sqrt ((double) G)) + eps);
      return R_ (w - R_ (lr * R_ (g / d)));
    }
    case SM_OPTIM_ROWWISE_ADAGRAD:
      return R_ (w - R_ (row_mult * g));
    default:{                  /* SM_OPTIM_ADAM */
      double m0 = *s0, v0 = *s1, d;
      float m = (float) R_ (m0 + R_ (R_ (a->one_minus_beta1) * R_ (g - m0)));
      float v = (float) R_ (v0 + R_ (R_ (a->one_minus_beta2) *
              R_ (R_ (g * g) - v0)));

      *s0 = m;
      *s1 = v;
      d = R_ (R_ (sqrt ((double) v)) + eps);
      return R_ (w - R_ (R_ (a->step_size) * R_ ((double) m / d)));
    }
  }
#undef R_
}

/* ---- kernels ------------------------------------------------------------
 * rowwise-adagrad runs sm_optim_rowwise_body (one thread per group: the
 * row's sum of squares, its new G_r and multiplier) and
 * then sm_optim_body; the other optimizers run sm_optim_body only. One
 * thread owns one (group, column) element of sm_optim_body, so no thread
 * depends on another. Geometry: sm_scatter_geometry () for sm_optim_body,
 * sm_fill_geometry () (over groups) for sm_optim_rowwise_body. */

SM_FN void
sm_optim_rowwise_body (unsigned block_x, unsigned grid_x, unsigned thread_x,
    unsigned dim_x, const SmOptimArgs * a)
{
  unsigned dsize = sm_dtype_size (a->dtype);
  int wide = sm_optim_wide (a);
  uint64_t grp;

  for (grp = (uint64_t) block_x * dim_x + thread_x; grp < a->n_groups;
      grp += (uint64_t) grid_x * dim_x) {
    const unsigned char *row = a->matrix + a->rows[grp] * a->row_bytes;
    uint64_t blocks = a->cols / SM_OPTIM_ROWWISE_LANES *
        SM_OPTIM_ROWWISE_LANES;
    double part[SM_OPTIM_ROWWISE_LANES] = { 0.0 }, sum = 0.0;
    float *G_r = a->state0 + a->rows[grp] * a->state_stride, G;
    uint64_t j;

    /* in the order sm_optim_rowwise_reduce () describes */
    for (j = 0; j < a->cols; j++) {
      double g = sm_optim_grad (a, grp, j, sm_optim_load (row + j * dsize,
              a->dtype), wide);
      double sq = sm_optim_round (g * g, wide);

      if (j < blocks) {
        double *p = &part[j % SM_OPTIM_ROWWISE_LANES];

        *p = sm_optim_round (*p + sq, wide);
      } else {
        if (j == blocks)
          sum = sm_optim_rowwise_reduce (part, wide);
        sum = sm_optim_round (sum + sq, wide);
      }
    }
    if (blocks == a->cols)
      sum = sm_optim_rowwise_reduce (part, wide);
    G = sm_optim_rowwise_state (*G_r, sum, a->cols, wide);
    *G_r = G;
    a->row_mult[grp] = sm_optim_rowwise_mult (a->lr, a->eps, G, wide);
  }
}

SM_FN void
sm_optim_body (unsigned block_x, unsigned block_y, unsigned grid_x,
    unsigned grid_y, unsigned thread_x, unsigned thread_y, unsigned dim_x,
    unsigned dim_y, const SmOptimArgs * a)
{
  unsigned dsize = sm_dtype_size (a->dtype);
  int wide = sm_optim_wide (a);
  uint64_t grp;

  for (grp = (uint64_t) block_x * dim_y + thread_y; grp < a->n_groups;
      grp += (uint64_t) grid_x * dim_y) {
    uint64_t r = a->rows[grp];
    unsigned char *row = a->matrix + r * a->row_bytes;
    double mult = a->optimizer == SM_OPTIM_ROWWISE_ADAGRAD ?
        a->row_mult[grp] : 0.0;
    uint64_t j;

    for (j = (uint64_t) block_y * dim_x + thread_x; j < a->cols;
        j += (uint64_t) grid_y * dim_x) {
      uint64_t e = r * a->state_stride + j;
      double w = sm_optim_load (row + j * dsize, a->dtype);
      double g = sm_optim_grad (a, grp, j, w, wide);
      float *s0 = a->optimizer == SM_OPTIM_ADAGRAD ||
          a->optimizer == SM_OPTIM_ADAM ? a->state0 + e : 0;
      float *s1 = a->optimizer == SM_OPTIM_ADAM ? a->state1 + e : 0;

      sm_store (row + j * dsize, a->dtype,
          sm_optim_element (a, w, g, s0, s1, mult, wide));
    }
  }
}

#endif /* SHAREDMATRIX_OPTIMIZER_KERNELS_H */
