/* gst-sharedmatrix: run the CUDA kernel bodies on the CPU
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A GPU runs a kernel as gridDim blocks of blockDim threads in an order
 * nobody promises. This shim calls the very same bodies (kernels/
 * scatter-kernels.h, wrapped by kernels/scatter.cu for the GPU) once per
 * (block, thread) coordinate, sequentially, in forward, reverse or
 * shuffled block order. A body that gives the same bytes in every order has
 * no dependency between threads, which is what makes the sequential run a
 * faithful model of the parallel one (no atomics, no shared memory, no
 * intrinsics in the bodies, so nothing else differs).
 */
#ifndef SHAREDMATRIX_KERNEL_EMULATION_H
#define SHAREDMATRIX_KERNEL_EMULATION_H

#include <glib.h>

#include "scatter-kernels.h"
#include "optimizer-kernels.h"

typedef enum
{
  SM_EMU_FORWARD,
  SM_EMU_REVERSE,
  SM_EMU_SHUFFLED,
} SmEmuOrder;

typedef struct
{
  unsigned grid_x, grid_y;
  unsigned block_x, block_y;
  SmEmuOrder order;
  guint32 seed;                 /* for SM_EMU_SHUFFLED */
} SmEmuLaunch;

/* The order in which to visit @n items (blocks or threads). */
static inline guint32 *
sm_emu_permutation (guint32 n, SmEmuOrder order, guint32 seed)
{
  guint32 *p = g_new (guint32, MAX (n, 1));
  guint32 i;

  for (i = 0; i < n; i++)
    p[i] = order == SM_EMU_REVERSE ? n - 1 - i : i;
  if (order == SM_EMU_SHUFFLED) {
    guint32 s = seed | 1;

    for (i = n; i > 1; i--) {
      guint32 j, t;

      s ^= s << 13;
      s ^= s >> 17;
      s ^= s << 5;
      j = s % i;
      t = p[i - 1];
      p[i - 1] = p[j];
      p[j] = t;
    }
  }
  return p;
}

/* Loops every (block, thread) of a 2-D launch and calls @body. */
#define SM_EMU_RUN_2D(launch, body, args) \
  G_STMT_START { \
    const SmEmuLaunch *l_ = (launch); \
    guint32 nb_ = l_->grid_x * l_->grid_y, nt_ = l_->block_x * l_->block_y; \
    guint32 *bp_ = sm_emu_permutation (nb_, l_->order, l_->seed); \
    guint32 *tp_ = sm_emu_permutation (nt_, l_->order, l_->seed * 7 + 1); \
    guint32 b_, t_; \
    for (b_ = 0; b_ < nb_; b_++) { \
      unsigned bx_ = bp_[b_] % l_->grid_x, by_ = bp_[b_] / l_->grid_x; \
      for (t_ = 0; t_ < nt_; t_++) { \
        unsigned tx_ = tp_[t_] % l_->block_x, ty_ = tp_[t_] / l_->block_x; \
        body (bx_, by_, l_->grid_x, l_->grid_y, tx_, ty_, l_->block_x, \
            l_->block_y, (args)); \
      } \
    } \
    g_free (bp_); \
    g_free (tp_); \
  } G_STMT_END

/* The geometry kernels/scatter.cu launches with. */
static inline SmEmuLaunch
sm_emu_scatter_launch (const SmScatterArgs * a, SmEmuOrder order, guint32 seed)
{
  SmEmuLaunch l = { 0, 0, 0, 0, order, seed };

  sm_scatter_geometry (a->n_groups, a->cols, &l.grid_x, &l.grid_y,
      &l.block_x, &l.block_y);
  return l;
}

static inline void
sm_emu_scatter (const SmEmuLaunch * l, const SmScatterArgs * a)
{
  if (a->n_groups == 0)         /* the launcher queues nothing */
    return;
  SM_EMU_RUN_2D (l, sm_scatter_body, a);
}

static inline SmEmuLaunch
sm_emu_gather_launch (const SmGatherArgs * a, SmEmuOrder order, guint32 seed)
{
  SmEmuLaunch l = { 0, 0, 0, 0, order, seed };

  sm_gather_geometry (a->n, a->cols, &l.grid_x, &l.grid_y, &l.block_x,
      &l.block_y);
  return l;
}

static inline void
sm_emu_gather (const SmEmuLaunch * l, const SmGatherArgs * a)
{
  if (a->n == 0)
    return;
  SM_EMU_RUN_2D (l, sm_gather_body, a);
}

/* fill is 1-D: grid_y and block_y are 1 */
static inline SmEmuLaunch
sm_emu_fill_launch (const SmFillArgs * a, SmEmuOrder order, guint32 seed)
{
  SmEmuLaunch l = { 0, 1, 0, 1, order, seed };

  sm_fill_geometry (a->n_elements, &l.grid_x, &l.block_x);
  return l;
}

static inline void
sm_emu_fill_body_2d (unsigned bx, unsigned by, unsigned gx, unsigned gy,
    unsigned tx, unsigned ty, unsigned dx, unsigned dy, const SmFillArgs * a)
{
  (void) by;
  (void) gy;
  (void) ty;
  (void) dy;
  sm_fill_body (bx, gx, tx, dx, a);
}

static inline void
sm_emu_fill (const SmEmuLaunch * l, const SmFillArgs * a)
{
  if (a->n_elements == 0)
    return;
  SM_EMU_RUN_2D (l, sm_emu_fill_body_2d, a);
}

/* The optimizer step as kernels/optimizer.cu launches it: for
 * rowwise-adagrad the 1-D per-row kernel first, then the 2-D element
 * kernel; every block and thread order in @order. */
static inline void
sm_emu_optim_rowwise_body_2d (unsigned bx, unsigned by, unsigned gx,
    unsigned gy, unsigned tx, unsigned ty, unsigned dx, unsigned dy,
    const SmOptimArgs * a)
{
  (void) by;
  (void) gy;
  (void) ty;
  (void) dy;
  sm_optim_rowwise_body (bx, gx, tx, dx, a);
}

static inline void
sm_emu_optim (const SmOptimArgs * a, SmEmuOrder order, guint32 seed)
{
  SmEmuLaunch l = { 0, 1, 0, 1, order, seed };

  if (a->n_groups == 0)
    return;
  if (a->optimizer == SM_OPTIM_ROWWISE_ADAGRAD) {
    sm_fill_geometry (a->n_groups, &l.grid_x, &l.block_x);
    SM_EMU_RUN_2D (&l, sm_emu_optim_rowwise_body_2d, a);
  }
  sm_scatter_geometry (a->n_groups, a->cols, &l.grid_x, &l.grid_y,
      &l.block_x, &l.block_y);
  SM_EMU_RUN_2D (&l, sm_optim_body, a);
}

#endif /* SHAREDMATRIX_KERNEL_EMULATION_H */
