/* gst-sharedmatrix: what the matrix object shares with the library's other
 * files (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"
#include "backend.h"

G_BEGIN_DECLS

/* The matrix's fixed parts and its data lock (gstsharedmatrix.c). */
const SmShape *sm_matrix_shape (GstSharedMatrix * self);
const SmBackendOps *sm_matrix_ops (GstSharedMatrix * self);
gpointer sm_matrix_storage (GstSharedMatrix * self);
GMutex *sm_matrix_data_lock (GstSharedMatrix * self);
/* the optimizer's state (optimizer.c owns it); data lock held */
gpointer *sm_matrix_optimizer_slot (GstSharedMatrix * self);
/* After @plan was written (data lock held): version + 1, returned, and the
 * rows @plan wrote marked with it for deltas. Every write path ends here. */
guint64 sm_matrix_commit_update (GstSharedMatrix * self,
    const SmUpdatePlan * plan);
/* the policy checks of an update (see gst_shared_matrix_update ()) */
gboolean sm_matrix_validate_update (GstSharedMatrix * self,
    const SmUpdatePlan * plan, const GstSharedMatrixPolicies * policies,
    guint8 ** skip, GstSharedMatrixUpdateResult * result, GError ** error);

/* optimizer.c: checkpoints and the object's end. All with the data lock
 * held. The state part of a checkpoint: the optimizer, its step count and
 * its float32 values (little-endian). */
void sm_optimizer_free (GstSharedMatrix * self);
GstSharedMatrixOptimizer sm_optimizer_get_locked (GstSharedMatrix * self,
    guint64 * step, gsize * n_floats);
gboolean sm_optimizer_read_locked (GstSharedMatrix * self, float *dest,
    GError ** error);
gboolean sm_optimizer_restore_locked (GstSharedMatrix * self,
    GstSharedMatrixOptimizer optimizer, guint64 step, const guint8 * data,
    gsize size, GError ** error);

G_END_DECLS
