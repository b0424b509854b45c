/* gst-sharedmatrix: the CPU backend (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * sm_backend_cpu (backend.h) is the backend; the two ways it applies an
 * update are declared here as well, for tests/bench/check-cpu-kernels.c,
 * which checks that the worker split by row range gives what one thread
 * gives.
 */
#pragma once

#include "backend.h"

G_BEGIN_DECLS

/* the storage sm_backend_cpu.create () returns */
typedef struct _SmCpuStorage SmCpuStorage;

/* The whole update on this thread, in buffer order. */
void sm_cpu_apply_serial (const SmCpuStorage * s, const SmUpdatePlan * plan);

/* The occurrences whose row lies in [first, first + span), in buffer order
 * (one worker's part of an update). */
void sm_cpu_apply_rows_in_range (const SmCpuStorage * s,
    const SmUpdatePlan * plan, guint64 first, guint64 span);

/* The matrix memory and shape (for backend-cpu-optim.c). */
guint8 *sm_cpu_storage_data (const SmCpuStorage * s);
const SmShape *sm_cpu_storage_shape (const SmCpuStorage * s);

/* Zeroed host memory for a matrix or optimizer state: huge pages when big
 * (backend-cpu.c); free with sm_cpu_free_zeroed (). */
gpointer sm_cpu_alloc_zeroed (gsize n, gsize elem_size, gsize * mapped);
void sm_cpu_free_zeroed (gpointer data, gsize mapped);

/* The optimizer operations of sm_backend_cpu (backend-cpu-optim.c). */
gpointer sm_cpu_state_create (gpointer storage, guint n_slots, gsize width,
    GError ** error);
void sm_cpu_state_destroy (gpointer storage, gpointer state);
gboolean sm_cpu_state_read (gpointer storage, gpointer state, float *dest,
    GError ** error);
gboolean sm_cpu_state_write (gpointer storage, gpointer state,
    const float *src, GError ** error);
gboolean sm_cpu_optimizer_step (gpointer storage, gpointer state,
    const SmOptimPlan * plan, GError ** error);

G_END_DECLS
