/* gst-sharedmatrix: the CPU backend's persistent worker threads
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "worker-pool.h"

#define MAX_THREADS 64
/* Workers spin this long for the next job before they sleep (when the
 * job asks them to linger) */
#define SPIN_US 50

/* One job at a time (other callers run theirs on their own thread). The
 * job's description lives here; a worker reads it only after claiming a
 * part. Parts are claimed with a compare-and-swap on (generation << 16 |
 * next part), so a late worker can never claim a part of a job that has
 * ended, and the caller returns only when every claimed part is done.
 * The fields each side writes in a job's life are on cache lines of their
 * own: the state with the job (one line moves to a spinning worker), the
 * count of finished parts (polled by the caller) apart from it. */
static struct
{
  GMutex busy;                  /* held by the caller of the running job */
  GMutex lock;                  /* for sleeping workers */
  GCond wake;
  guint n_workers;
  gint sleeping;                /* atomic: workers waiting on wake */

  /* atomic: generation << 16 | next part; then the job, written before
   * the generation is bumped */
  guint64 state __attribute__ ((aligned (64)));
  SmWorkerPoolFunc func;
  gpointer data;
  guint n_parts;
  gboolean linger;              /* spin for the next job after this one */

  guint parts_done __attribute__ ((aligned (64)));        /* atomic */
} pool;

static inline guint64
now_us (void)
{
  return (guint64) g_get_monotonic_time ();
}

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* Claims and runs parts of the job of @generation until none is left */
static void
run_parts (guint64 generation)
{
  for (;;) {
    guint64 st = __atomic_load_n (&pool.state, __ATOMIC_ACQUIRE);
    guint part = (guint) (st & 0xffff);

    if ((st >> 16) != generation || part >= pool.n_parts)
      return;
    if (!__atomic_compare_exchange_n (&pool.state, &st, st + 1, FALSE,
            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      continue;
    pool.func (part, pool.n_parts, pool.data);
    __atomic_add_fetch (&pool.parts_done, 1, __ATOMIC_RELEASE);
  }
}

static gpointer
worker_main (gpointer unused)
{
  guint64 seen = 0;
  gboolean spin = FALSE;

  for (;;) {
    guint64 gen = __atomic_load_n (&pool.state, __ATOMIC_ACQUIRE) >> 16;

    if (gen == seen && spin) {
      guint64 until = now_us () + SPIN_US;

      /* spin briefly: updates tend to come back to back */
      while ((gen = __atomic_load_n (&pool.state,
                  __ATOMIC_ACQUIRE) >> 16) == seen && now_us () < until)
        cpu_relax ();
    }
    if (gen == seen) {
      g_mutex_lock (&pool.lock);
      g_atomic_int_inc (&pool.sleeping);
      while ((gen = __atomic_load_n (&pool.state,
                  __ATOMIC_SEQ_CST) >> 16) == seen)
        g_cond_wait (&pool.wake, &pool.lock);
      g_atomic_int_add (&pool.sleeping, -1);
      g_mutex_unlock (&pool.lock);
    }
    seen = gen;
    run_parts (gen);
    /* (a newer job's wish, if one has started: it is the one to serve) */
    spin = __atomic_load_n (&pool.linger, __ATOMIC_RELAXED);
    /* the next job comes only after the caller's last part: count the
     * spin from then, not from the end of this worker's parts, or a big
     * job's last part outlasts it and every job pays a wake-up */
    if (spin)
      while ((__atomic_load_n (&pool.state, __ATOMIC_ACQUIRE) >> 16) == seen
          && __atomic_load_n (&pool.parts_done,
              __ATOMIC_ACQUIRE) < pool.n_parts)
        cpu_relax ();
  }
  return NULL;
}

guint
sm_worker_pool_n_threads (void)
{
  static gsize count = 0;

  if (g_once_init_enter (&count)) {
    /* GST_SHARED_MATRIX_THREADS lets tests and benchmarks pin the count */
    const gchar *env = g_getenv ("GST_SHARED_MATRIX_THREADS");
    guint64 n = env ? g_ascii_strtoull (env, NULL, 10) : 0;

    if (n == 0)
      n = g_get_num_processors ();
    g_once_init_leave (&count, (gsize) CLAMP (n, 1, MAX_THREADS));
  }
  return (guint) count;
}

static gboolean
start_workers (void)
{
  static gsize started = 0;

  if (g_once_init_enter (&started)) {
    guint i;

    for (i = 0; i + 1 < sm_worker_pool_n_threads (); i++) {
      GThread *t = g_thread_try_new ("sharedmatrix-cpu", worker_main, NULL,
          NULL);

      if (t == NULL)
        break;
      g_thread_unref (t);
      pool.n_workers++;
    }
    g_once_init_leave (&started, 1);
  }
  return pool.n_workers > 0;
}

gboolean
sm_worker_pool_awake (void)
{
  return start_workers () && g_atomic_int_get (&pool.sleeping) == 0;
}

gboolean
sm_worker_pool_run (SmWorkerPoolFunc func, gpointer data,
    guint parts_per_thread, gboolean linger)
{
  guint64 st, generation;
  guint n_parts;

  if (!start_workers () || !g_mutex_trylock (&pool.busy))
    return FALSE;

  n_parts = (pool.n_workers + 1) * parts_per_thread;
  pool.func = func;
  pool.data = data;
  pool.n_parts = n_parts;
  pool.linger = linger;
  __atomic_store_n (&pool.parts_done, 0, __ATOMIC_RELAXED);
  st = __atomic_load_n (&pool.state, __ATOMIC_RELAXED);
  generation = ((st >> 16) + 1) & G_GUINT64_CONSTANT (0xffffffffffff);
  if (generation == 0)
    generation = 1;
  __atomic_store_n (&pool.state, generation << 16, __ATOMIC_SEQ_CST);
  if (g_atomic_int_get (&pool.sleeping) > 0) {
    g_mutex_lock (&pool.lock);
    g_cond_broadcast (&pool.wake);
    g_mutex_unlock (&pool.lock);
  }

  run_parts (generation);
  /* the parts still running were claimed by workers: wait for them,
   * yielding the core if a worker has lost its own */
  {
    guint spins = 0;

    while (__atomic_load_n (&pool.parts_done, __ATOMIC_ACQUIRE) < n_parts) {
      if (++spins < 20000)
        cpu_relax ();
      else
        g_thread_yield ();
    }
  }
  g_mutex_unlock (&pool.busy);
  return TRUE;
}
