/* gst-sharedmatrix: optimizer steps, CPU backend vs CUDA kernels
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The same gradient updates, step after step, through three paths that
 * must agree byte for byte (matrix and optimizer state):
 * - the CPU backend (sm_backend_cpu.optimizer_step: its vectorised float32
 *   loops, and the shared bodies for other dtypes);
 * - the CUDA kernel bodies (kernels/optimizer-kernels.h) run by the
 *   kernel emulation in forward, reverse and shuffled block/thread order,
 *   on the host grouping the backends use;
 * - the CUDA backend's host code (staging, chunking by groups, launches)
 *   against the mock CUDA runtime, whose kernels are those bodies.
 * Every optimizer x matrix dtype x gradient dtype, with duplicates, dropped
 * occurrences, weight decay and several steps; and one update big enough to
 * be staged in several chunks. The numpy reference of the formulas is
 * tests/python/test_optimizers.py; on a GPU, test-cuda.c.
 */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>

#include "cuda_runtime_api.h"
#include "backend.h"
#include "kernel-emulation.h"
#include "update-grouping.h"
#include "random.h"
#include "reference.h"

static void
configure (void)
{
  MockCudaConfig c = { cudaSuccess, 1, 90, (gsize) 1 << 31, 12345 };

  mock_cuda_configure (&c);
}

/* the state's slots and their values per matrix row (backend.h) */
static guint
state_slots (int opt)
{
  return opt == SM_OPTIM_ADAM ? 2 : opt == SM_OPTIM_ADAGRAD ||
      opt == SM_OPTIM_ROWWISE_ADAGRAD ? 1 : 0;
}

static gsize
state_width (int opt, const SmShape * shape)
{
  return opt == SM_OPTIM_ROWWISE_ADAGRAD ? 1 : shape->cols;
}

typedef struct
{
  SmShape shape;
  int opt;
  gpointer cpu, cpu_state, cuda, cuda_state;
  /* the emulated kernels' matrix and state, host memory */
  guint8 *emu;
  float *emu_state;             /* row by row, as the kernels keep it */
  guint slots;
  gsize width, n_floats;
  guint step;
} Three;

static void
three_init (Three * t, guint64 rows, guint cols, int dtype, int opt,
    const guint8 * initial)
{
  GError *err = NULL;

  t->shape.rows = rows;
  t->shape.cols = cols;
  t->shape.dtype = dtype;
  t->shape.row_bytes = (gsize) cols * sm_dtype_size (dtype);
  t->opt = opt;
  t->step = 0;
  t->slots = state_slots (opt);
  t->width = state_width (opt, &t->shape);
  t->n_floats = rows * t->slots * t->width;
  t->cpu = sm_backend_cpu.create (&t->shape, -1, &err);
  g_assert_no_error (err);
  t->cuda = sm_backend_cuda.create (&t->shape, -1, &err);
  g_assert_no_error (err);
  fail_unless (sm_backend_cpu.write (t->cpu, initial, NULL));
  fail_unless (sm_backend_cuda.write (t->cuda, initial, NULL));
  t->cpu_state = sm_backend_cpu.state_create (t->cpu, t->slots, t->width,
      &err);
  g_assert_no_error (err);
  t->cuda_state = sm_backend_cuda.state_create (t->cuda, t->slots, t->width,
      &err);
  g_assert_no_error (err);
  t->emu = g_memdup2 (initial, rows * t->shape.row_bytes);
  t->emu_state = g_new0 (float, MAX (t->n_floats, 1));
}

static void
three_clear (Three * t)
{
  sm_backend_cpu.state_destroy (t->cpu, t->cpu_state);
  sm_backend_cuda.state_destroy (t->cuda, t->cuda_state);
  sm_backend_cpu.destroy (t->cpu);
  sm_backend_cuda.destroy (t->cuda);
  g_free (t->emu);
  g_free (t->emu_state);
}

static void
three_step (Three * t, const SmUpdatePlan * u, double lr, double wd,
    SmEmuOrder order)
{
  SmOptimPlan plan = { 0, };
  SmUpdateGrouping g;
  SmOptimArgs a;
  GError *err = NULL;
  double *mult;

  t->step++;
  plan.update = *u;
  plan.optimizer = t->opt;
  plan.lr = lr;
  plan.eps = 1e-8;
  plan.beta1 = 0.9;
  plan.beta2 = 0.999;
  plan.weight_decay = wd;
  plan.step_size = lr * sqrt (1.0 - pow (0.999, t->step)) /
      (1.0 - pow (0.9, t->step));
  fail_unless (sm_backend_cpu.optimizer_step (t->cpu, t->cpu_state, &plan,
          &err));
  fail_unless (sm_backend_cuda.optimizer_step (t->cuda, t->cuda_state, &plan,
          &err));
  g_assert_no_error (err);

  /* the kernels, emulated, on the grouping the backends compute */
  sm_update_grouping_init (&g);
  sm_update_grouping_compute (&g, u->indices, u->indices_int64, 0, u->n,
      u->skip);
  mult = g_new0 (double, MAX (g.n_groups, 1));
  memset (&a, 0, sizeof a);
  a.matrix = t->emu;
  a.state0 = t->emu_state;
  a.state1 = t->slots > 1 ? t->emu_state + t->width : NULL;
  a.state_stride = t->slots * t->width;
  a.grads = u->deltas;
  a.rows = g.rows;
  a.group_start = g.group_start;
  a.order = g.order;
  a.row_mult = mult;
  a.row_bytes = t->shape.row_bytes;
  a.n_groups = g.n_groups;
  a.cols = t->shape.cols;
  a.dtype = t->shape.dtype;
  a.grad_dtype = u->delta_dtype;
  a.optimizer = t->opt;
  a.lr = plan.lr;
  a.eps = plan.eps;
  a.one_minus_beta1 = 1.0 - plan.beta1;
  a.one_minus_beta2 = 1.0 - plan.beta2;
  a.weight_decay = wd;
  a.step_size = plan.step_size;
  if (u->n > 0)
    sm_emu_optim (&a, order, t->step * 31u);
  g_free (mult);
  sm_update_grouping_clear (&g);
}

static void
three_assert_same (Three * t, const gchar * what)
{
  gsize bytes = t->shape.rows * t->shape.row_bytes;
  guint8 *m1 = g_malloc (bytes), *m2 = g_malloc (bytes);
  float *s1 = g_new0 (float, MAX (t->n_floats, 1));
  float *s2 = g_new0 (float, MAX (t->n_floats, 1));
  float *emu = g_new0 (float, MAX (t->n_floats, 1));
  guint64 r;
  guint k;

  fail_unless (sm_backend_cpu.read (t->cpu, m1, NULL));
  fail_unless (sm_backend_cuda.read (t->cuda, m2, NULL));
  fail_unless (sm_backend_cpu.state_read (t->cpu, t->cpu_state, s1, NULL));
  fail_unless (sm_backend_cuda.state_read (t->cuda, t->cuda_state, s2,
          NULL));
  fail_unless (memcmp (m1, t->emu, bytes) == 0,
      "%s: CPU backend and emulated kernels differ (matrix)", what);
  fail_unless (memcmp (m1, m2, bytes) == 0,
      "%s: CPU backend and CUDA backend (mock runtime) differ (matrix)",
      what);
  /* the backends read the state slot by slot */
  for (k = 0; k < t->slots; k++)
    for (r = 0; r < t->shape.rows; r++)
      memcpy (emu + (k * t->shape.rows + r) * t->width,
          t->emu_state + (r * t->slots + k) * t->width, t->width * 4);
  fail_unless (memcmp (s1, emu, t->n_floats * 4) == 0,
      "%s: CPU backend and emulated kernels differ (state)", what);
  fail_unless (memcmp (s1, s2, t->n_floats * 4) == 0,
      "%s: CPU backend and CUDA backend differ (state)", what);
  g_free (m1);
  g_free (m2);
  g_free (s1);
  g_free (s2);
  g_free (emu);
}

static const gchar *const opt_names[] = { "none", "sgd", "adagrad",
  "rowwise-adagrad", "adam"
};

/* __i__: optimizer (1..4) x matrix dtype x gradient dtype */
GST_START_TEST (test_optimizer_paths_agree)
{
  int opt = 1 + __i__ / 16, dtype = (__i__ / 4) % 4, gdt = __i__ % 4;
  guint64 s = 1000 + __i__, rows = 97;
  guint cols = 13, k;
  gsize nmax = 300, i;
  guint8 *initial = g_malloc (rows * cols * 8);
  guint8 *grads = g_malloc (nmax * cols * 8);
  gint64 *idx = g_new (gint64, nmax);
  gint32 *idx32 = g_new (gint32, nmax);
  guint8 *skip = g_malloc0 (nmax);
  SmUpdatePlan u = { 0, };
  gchar *what;
  Three t;

  configure ();
  test_rng_fill (initial, rows * cols, dtype, &s, FALSE);
  three_init (&t, rows, cols, dtype, opt, initial);
  for (k = 0; k < 8; k++) {
    gsize n = k == 0 ? 1 : k == 3 ? 0 : k % 2 ? nmax : 57;
    gboolean use_skip = k % 3 == 1;

    for (i = 0; i < n; i++) {
      /* half the rows: plenty of duplicates */
      idx[i] = (gint64) (test_rng_next (&s) % (rows / 2));
      idx32[i] = (gint32) idx[i];
      skip[i] = use_skip && test_rng_next (&s) % 4 == 0;
    }
    test_rng_fill (grads, n * cols, gdt, &s, FALSE);
    u.op = GST_SHARED_MATRIX_OP_ADD;
    u.indices = k % 2 ? (guint8 *) idx : (guint8 *) idx32;
    u.indices_int64 = k % 2;
    u.deltas = grads;
    u.delta_dtype = gdt;
    u.n = n;
    u.skip = use_skip ? skip : NULL;
    three_step (&t, &u, 0.05 / (k + 1), k == 4 ? 0.01 : 0.0,
        k % 3 == 0 ? SM_EMU_FORWARD : k % 3 == 1 ? SM_EMU_REVERSE :
        SM_EMU_SHUFFLED);
  }
  what = g_strdup_printf ("%s, matrix %s, gradients %s", opt_names[opt],
      test_ref_dtype_name (dtype), test_ref_dtype_name (gdt));
  three_assert_same (&t, what);
  g_free (what);
  three_clear (&t);
  g_free (initial);
  g_free (grads);
  g_free (idx);
  g_free (idx32);
  g_free (skip);
}

GST_END_TEST;

/* An update whose gradients exceed the largest staging slot (16 MiB): the
 * CUDA backend stages it as several chunks of whole groups. */
GST_START_TEST (test_optimizer_big_update_chunked)
{
  int opt = __i__ == 0 ? SM_OPTIM_ADAM : SM_OPTIM_ROWWISE_ADAGRAD;
  guint64 s = 5, rows = 3000;
  guint cols = 512;
  gsize n = 6000, i;
  guint8 *initial = g_malloc (rows * cols * 4);
  guint8 *grads = g_malloc (n * cols * 8);
  gint64 *idx = g_new (gint64, n);
  SmUpdatePlan u = { 0, };
  Three t;

  configure ();
  test_rng_fill (initial, rows * cols, GST_SHARED_MATRIX_DTYPE_FLOAT32, &s, FALSE);
  three_init (&t, rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32, opt, initial);
  for (i = 0; i < n; i++)
    idx[i] = (gint64) (test_rng_next (&s) % rows);
  test_rng_fill (grads, n * cols, GST_SHARED_MATRIX_DTYPE_FLOAT64, &s, FALSE);
  u.indices = (guint8 *) idx;
  u.indices_int64 = TRUE;
  u.deltas = grads;
  u.delta_dtype = GST_SHARED_MATRIX_DTYPE_FLOAT64;
  u.n = n;
  three_step (&t, &u, 0.01, 0.0, SM_EMU_SHUFFLED);
  three_step (&t, &u, 0.01, 0.0, SM_EMU_FORWARD);
  three_assert_same (&t, opt_names[opt]);
  three_clear (&t);
  g_free (initial);
  g_free (grads);
  g_free (idx);
}

GST_END_TEST;

/* The CPU backend's float32/float32 path groups rows by hash and steps
 * rows that occur once straight from their gradient row: distinct rows
 * (no duplicates at all), a few duplicates, -0.0, NaN and infinite
 * gradients, weight decay, rows wider than its stack scratch, an update
 * big enough for the worker pool, and one of 12 distinct rows. Column
 * counts with a tail after the whole blocks of eight (37, 1100) and
 * without one (64), for rowwise-adagrad's sum of squares.
 * __i__: optimizer x case. */
GST_START_TEST (test_optimizer_f32_paths)
{
  int opt = 1 + __i__ / 5, kase = __i__ % 5;
  guint64 s = 77 + __i__;
  guint64 rows = kase == 3 ? 5000 : 301;
  guint cols = kase == 2 ? 1100 : kase == 3 ? 64 : 37;
  /* case 4: a short update, 12 distinct rows */
  gsize n = kase == 3 ? 4000 : kase == 4 ? 13 : 150, i;
  guint8 *initial = g_malloc (rows * cols * 4);
  float *grads = g_new (float, n * cols);
  gint32 *idx = g_new (gint32, n);
  SmUpdatePlan u = { 0, };
  Three t;
  guint k;

  configure ();
  test_rng_fill (initial, rows * cols, GST_SHARED_MATRIX_DTYPE_FLOAT32, &s,
      FALSE);
  /* column 3 is -0.0 in every row, and the last step's gradients are -0.0
   * there: a row stepped for the first time then shows whether g was
   * summed from +0 (w - lr * +0 = -0) or taken as is (-0 - -0 = +0) */
  for (i = 0; i < rows; i++)
    ((float *) initial)[i * cols + 3] = -0.0f;
  three_init (&t, rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32, opt, initial);
  for (k = 0; k < 3; k++) {
    /* a permutation's prefix: every row once; case 1: a few repeats */
    for (i = 0; i < n; i++)
      idx[i] = (gint32) ((i * 7919 + k * 13) % rows);
    if (kase == 1)
      for (i = 0; i < n; i += 10)
        idx[i] = idx[(i * 3) % n];
    if (kase == 4)
      idx[n - 1] = idx[k];
    test_rng_fill ((guint8 *) grads, n * cols,
        GST_SHARED_MATRIX_DTYPE_FLOAT32, &s, FALSE);
    grads[0] = -0.0f;
    grads[cols + 1] = -0.0f;
    if (k == 2)
      for (i = 0; i < n; i++)
        grads[i * cols + 3] = -0.0f;
    if (kase == 1) {
      grads[2 * cols] = NAN;
      grads[3 * cols + 2] = INFINITY;
    }
    u.op = GST_SHARED_MATRIX_OP_ADD;
    u.indices = (guint8 *) idx;
    u.deltas = (guint8 *) grads;
    u.delta_dtype = GST_SHARED_MATRIX_DTYPE_FLOAT32;
    u.n = n;
    three_step (&t, &u, 0.05, k == 1 ? 0.01 : 0.0, SM_EMU_SHUFFLED);
  }
  three_assert_same (&t, opt_names[opt]);
  three_clear (&t);
  g_free (initial);
  g_free (grads);
  g_free (idx);
}

GST_END_TEST;

static Suite *
optimizers_suite (void)
{
  Suite *s = suite_create ("optimizers");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_optimizer_paths_agree, 0, 64);
  tcase_add_loop_test (tc, test_optimizer_big_update_chunked, 0, 2);
  tcase_add_loop_test (tc, test_optimizer_f32_paths, 0, 20);
  return s;
}

GST_CHECK_MAIN (optimizers);
