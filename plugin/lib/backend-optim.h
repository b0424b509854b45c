/* gst-sharedmatrix: an optimizer step's kernel arguments from its plan
 * (private to the library; the CPU and CUDA backends)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <string.h>

#include "backend.h"
#include "optimizer-kernels.h"

/* The optimizer state's shape (backend.h, state_create): how many slots
 * @optimizer keeps (adagrad and rowwise-adagrad 1, adam 2, sgd none) ... */
static inline guint
sm_optim_state_slots (int optimizer)
{
  return optimizer == SM_OPTIM_ADAM ? 2 : optimizer == SM_OPTIM_ADAGRAD ||
      optimizer == SM_OPTIM_ROWWISE_ADAGRAD ? 1 : 0;
}

/* ... and how many values a slot holds per row */
static inline gsize
sm_optim_state_width (int optimizer, guint cols)
{
  return optimizer == SM_OPTIM_ROWWISE_ADAGRAD ? 1 : cols;
}

/* Everything but the pointers to the matrix and the grouping; @state is
 * the backend's state (state_create), laid out as SmOptimArgs says. */
static inline void
sm_optim_args_init (SmOptimArgs * a, const SmShape * shape,
    const SmOptimPlan * plan, float *state)
{
  guint slots = sm_optim_state_slots (plan->optimizer);
  gsize width = sm_optim_state_width (plan->optimizer, shape->cols);

  memset (a, 0, sizeof *a);
  a->state0 = slots > 0 ? state : NULL;
  a->state1 = slots > 1 ? state + width : NULL;
  a->state_stride = slots * width;
  a->row_bytes = shape->row_bytes;
  a->cols = shape->cols;
  a->dtype = shape->dtype;
  a->grad_dtype = plan->update.delta_dtype;
  a->optimizer = plan->optimizer;
  a->lr = plan->lr;
  a->eps = plan->eps;
  a->one_minus_beta1 = 1.0 - plan->beta1;
  a->one_minus_beta2 = 1.0 - plan->beta2;
  a->weight_decay = plan->weight_decay;
  a->step_size = plan->step_size;
}
