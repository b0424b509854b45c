/* gst-sharedmatrix: the CPU backend's persistent worker threads (private)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One process-wide pool of threads that run the parts of one job at a time
 * together with the thread that submits it. Starting threads per update
 * would cost more than a typical update, so they are started once, on the
 * first job, and then spin briefly or sleep between jobs.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Parts per thread for big jobs: the threads claim parts as they come, so
 * a worker that wakes late (a busy machine) leaves its parts to the
 * others. (With one part per thread the caller takes a late worker's part
 * too, only later.) */
#define SM_WORKER_POOL_PARTS_PER_THREAD 2

/* Runs part @part of @n_parts of a job. */
typedef void (*SmWorkerPoolFunc) (guint part, guint n_parts, gpointer data);

/* Threads a job runs on, the calling one included: the number of
 * processors, or GST_SHARED_MATRIX_THREADS when set (tests and benchmarks
 * pin it), at most 64. */
guint sm_worker_pool_n_threads (void);

/* Runs @func on every part of a job of (workers + 1) * @parts_per_thread
 * parts, on the workers and the calling thread, and returns when all parts
 * are done. With @linger the workers then spin for a while, so that a job
 * coming soon after costs no wake-up; without, they sleep at once. FALSE,
 * with nothing run, when there are no workers or they are busy with
 * another caller's job. */
gboolean sm_worker_pool_run (SmWorkerPoolFunc func, gpointer data,
    guint parts_per_thread, gboolean linger);

/* TRUE when there are workers and none of them sleeps: a job now costs no
 * wake-up (they spin for a while after each job). */
gboolean sm_worker_pool_awake (void);

G_END_DECLS
