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

G_END_DECLS
