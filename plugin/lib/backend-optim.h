/* gst-sharedmatrix: an optimizer step's kernel arguments from its plan
 * (private to the library; the CPU and CUDA backends)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <string.h>

#include "backend.h"
#include "optimizer-kernels.h"

/* Everything but the pointers to the matrix, the state and the grouping. */
static inline void
sm_optim_args_init (SmOptimArgs * a, const SmShape * shape,
    const SmOptimPlan * plan)
{
  memset (a, 0, sizeof *a);
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
