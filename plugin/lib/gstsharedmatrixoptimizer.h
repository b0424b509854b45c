/* gst-sharedmatrix: training at update time (optimizers)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Included by gstsharedmatrix.h; do not include directly.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * GstSharedMatrixOptimizerParams:
 * @learning_rate: lr, finite and >= 0 (default 0.01)
 * @epsilon: eps added to the square root in adagrad, rowwise-adagrad and
 *   adam, finite and >= 0 (default 1e-8)
 * @beta1: adam's first-moment decay, in [0, 1) (default 0.9)
 * @beta2: adam's second-moment decay, in [0, 1) (default 0.999)
 * @weight_decay: L2 coefficient, finite and >= 0: `g += weight_decay · w`
 *   for the touched rows before the step (default 0)
 *
 * The hyper-parameters of one optimizer step. They travel with each
 * gradient update (gst_shared_matrix_apply_gradients()), so a schedule
 * simply passes other values. gst_shared_matrix_optimizer_params_init()
 * sets the defaults; %NULL where a call takes a pointer means the defaults.
 */
typedef struct
{
  gdouble learning_rate;
  gdouble epsilon;
  gdouble beta1;
  gdouble beta2;
  gdouble weight_decay;
} GstSharedMatrixOptimizerParams;

#define GST_TYPE_SHARED_MATRIX_OPTIMIZER_PARAMS (gst_shared_matrix_optimizer_params_get_type ())
GST_SHARED_MATRIX_API
GType gst_shared_matrix_optimizer_params_get_type (void);

GST_SHARED_MATRIX_API
GstSharedMatrixOptimizerParams *gst_shared_matrix_optimizer_params_new (void);
GST_SHARED_MATRIX_API
void gst_shared_matrix_optimizer_params_init (GstSharedMatrixOptimizerParams *
    params);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_optimizer_params_validate (const
    GstSharedMatrixOptimizerParams * params, GError ** error);

GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_set_optimizer (GstSharedMatrix * self,
    GstSharedMatrixOptimizer optimizer, GError ** error);
GST_SHARED_MATRIX_API
GstSharedMatrixOptimizer gst_shared_matrix_get_optimizer (GstSharedMatrix *
    self);
GST_SHARED_MATRIX_API
guint64 gst_shared_matrix_get_optimizer_step (GstSharedMatrix * self);
GST_SHARED_MATRIX_API
guint gst_shared_matrix_get_optimizer_n_slots (GstSharedMatrix * self);

GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_apply_gradients (GstSharedMatrix * self,
    gconstpointer indices, gsize n, GstSharedMatrixIndexType index_type,
    gconstpointer grads, GstSharedMatrixDType grad_dtype,
    const GstSharedMatrixOptimizerParams * params,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_apply_gradients_bytes (GstSharedMatrix * self,
    GBytes * indices, GstSharedMatrixIndexType index_type, GBytes * grads,
    GstSharedMatrixDType grad_dtype,
    const GstSharedMatrixOptimizerParams * params,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error);

GST_SHARED_MATRIX_API
GBytes *gst_shared_matrix_get_optimizer_state (GstSharedMatrix * self,
    guint slot, GstSharedMatrixFormat format, guint64 * step,
    GError ** error);

G_END_DECLS
