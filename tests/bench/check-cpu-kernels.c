/* gst-sharedmatrix: the CPU backend's vectorised rows against the reference
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The CPU backend applies float16/bfloat16 and mixed-dtype rows with
 * branch-free conversions that vectorise (plugin/lib/backend-cpu.c); they
 * are checked against the tests' own reference (tests/common/reference.h),
 * which is written from the specification independently of
 * kernels/sharedmatrix-ops.h.
 * This program builds the backend's row loops (plugin/lib/backend-cpu-rows.h)
 * with the backend's flags, links the backend from the library's internal
 * static library, and checks, bit for bit:
 *  - every float16 -> float conversion (all 65,536),
 *  - float -> float16 / bfloat16 on a stride through all 2^32 floats plus
 *    float16's rounding-sensitive range on a finer one (--exhaustive: all
 *    2^32, two minutes),
 *  - double -> float16 / bfloat16 through the round-to-odd step,
 *  - whole rows, every op and every (matrix, delta) dtype pair, on random,
 *    extreme and non-finite values,
 *  - the row-range split used by the worker threads against one thread,
 *  - the backend's apply, which picks its thread mode per update by
 *    measurement, against one thread, over many mid-size and big updates.
 * Prints "N passed, N failed" and exits non-zero on any mismatch.
 */
#include <math.h>
#include <stdio.h>

#include "backend-cpu.h"
#include "backend-cpu-rows.h"

#include "random.h"
#include "reference.h"

static guint64 checks, failures;

static void
fail (const gchar * what, guint64 input, guint64 got, guint64 want)
{
  if (failures++ < 20)
    g_printerr ("MISMATCH %s: input 0x%" G_GINT64_MODIFIER "x got 0x%"
        G_GINT64_MODIFIER "x want 0x%" G_GINT64_MODIFIER "x\n", what, input,
        got, want);
}

static void
check_float_to_narrow (guint32 bits)
{
  float f = u2f (bits);
  guint16 h = float_to_half (f), b = float_to_bfloat16 (f);
  guint16 h_ref = test_ref_round_to_half (f);
  guint16 b_ref = test_ref_round_to_bfloat16 (f);

  checks += 2;
  if (h != h_ref)
    fail ("float->float16", bits, h, h_ref);
  if (b != b_ref)
    fail ("float->bfloat16", bits, b, b_ref);
}

static void
check_double_to_narrow (double d)
{
  guint8 h[2], b[2];
  guint16 hv, bv, h_ref = test_ref_round_to_half (d), b_ref =
      test_ref_round_to_bfloat16 (d);
  guint64 bits;

  store_doubles (h, SM_DTYPE_FLOAT16, &d, 1);
  store_doubles (b, SM_DTYPE_BFLOAT16, &d, 1);
  memcpy (&hv, h, 2);
  memcpy (&bv, b, 2);
  memcpy (&bits, &d, 8);
  checks += 2;
  if (hv != h_ref)
    fail ("double->float16", bits, hv, h_ref);
  if (bv != b_ref)
    fail ("double->bfloat16", bits, bv, b_ref);
}

static guint64 rng = 0x1234567;

static guint64
next (void)
{
  return test_rng_next (&rng);
}

/* A random value of @dtype as raw bits: mostly ordinary numbers, some
 * extreme, subnormal, zero, infinite and NaN ones */
static void
random_element (guint8 * p, int dtype)
{
  guint64 r = next ();
  guint kind = r % 16;
  double v;

  if (kind < 9)
    v = ((gint64) (next () >> 11) / 4503599627370496.0 - 1.0) * 8.0;
  else if (kind == 9)
    v = ldexp ((double) (next () >> 11), -(gint) (next () % 200) - 53);
  else if (kind == 10)
    v = ldexp ((double) (next () >> 11), (gint) (next () % 80) - 53);
  else if (kind == 11)
    v = 0.0 * ((r >> 8) & 1 ? -1 : 1);
  else if (kind == 12)
    v = (r >> 8) & 1 ? INFINITY : -INFINITY;
  else if (kind == 13)
    v = NAN;
  else {
    /* any bit pattern at all */
    guint64 bits = next ();

    memcpy (p, &bits, sm_dtype_size (dtype));
    return;
  }
  if ((r >> 9) & 1)
    v = -v;
  test_ref_store (p, dtype, v);
}

/* Both NaN: which NaN (sign, payload) comes out of an operation on two
 * NaNs depends on operand order, which the compiler may commute; numpy
 * makes no promise there either. Everything else must match bit for bit. */
static gboolean
both_nan (const guint8 * x, const guint8 * y, int dtype)
{
  return isnan (test_ref_load (x, dtype)) && isnan (test_ref_load (y, dtype));
}

/* Same-dtype float32/float64 rows run the header's own fast path in the
 * backend; the other pairs run row_convert (), checked here. */
static void
check_rows (void)
{
  static const guint cols_list[] = { 1, 3, 8, 100, 129, 300 };
  int dtype, sdtype, op;
  guint ci, rep;

  for (dtype = 0; dtype < 4; dtype++)
    for (sdtype = 0; sdtype < 4; sdtype++)
      for (op = 0; op <= SM_OP_MAX; op++)
        for (ci = 0; ci < G_N_ELEMENTS (cols_list); ci++) {
          if (dtype == sdtype && (dtype == SM_DTYPE_FLOAT32 ||
                  dtype == SM_DTYPE_FLOAT64))
            continue;
          for (rep = 0; rep < 20; rep++) {
            guint cols = cols_list[ci];
            guint dsize = sm_dtype_size (dtype), ssize = sm_dtype_size (sdtype);
            guint8 *a = g_malloc (cols * dsize + 1), *b = g_malloc (cols *
                dsize + 1), *s = g_malloc (cols * ssize + 1);
            guint j;

            /* odd offsets: rows need no alignment */
            for (j = 0; j < cols; j++) {
              random_element (a + 1 + j * dsize, dtype);
              random_element (s + 1 + j * ssize, sdtype);
            }
            memcpy (b, a, cols * dsize + 1);
            row_convert (op, a + 1, dtype, s + 1, sdtype, cols);
            test_ref_apply_row (op, b + 1, dtype, s + 1, sdtype, cols);
            checks++;
            for (j = 0; j < cols * dsize; j++)
              if (a[1 + j] != b[1 + j] && !both_nan (a + 1 + j / dsize *
                      dsize, b + 1 + j / dsize * dsize, dtype)) {
                gchar *what = g_strdup_printf ("row dtype %d delta %d op %d "
                    "cols %u col %u", dtype, sdtype, op, cols, j / dsize);
                guint64 got = 0, want = 0, in = 0;

                memcpy (&got, a + 1 + j / dsize * dsize, dsize);
                memcpy (&want, b + 1 + j / dsize * dsize, dsize);
                memcpy (&in, s + 1 + j / dsize * ssize, ssize);
                fail (what, in, got, want);
                g_free (what);
                break;
              }
            g_free (a);
            g_free (b);
            g_free (s);
          }
        }
}

/* The worker split: parts by row range must give what one thread gives */
static void
check_split (void)
{
  SmShape shape = { 1000, 37, GST_SHARED_MATRIX_DTYPE_FLOAT32,
    37 * 4
  };
  int op;

  for (op = 0; op <= SM_OP_MAX; op++) {
    SmCpuStorage *one = sm_backend_cpu.create (&shape, -1, NULL);
    SmCpuStorage *split = sm_backend_cpu.create (&shape, -1, NULL);
    gsize size = shape.rows * shape.row_bytes;
    guint8 *a = g_malloc (size), *b = g_malloc (size);
    SmUpdatePlan plan = { 0, };
    gsize n = 5000, i;
    gint32 *idx = g_new (gint32, n);
    float *d = g_new (float, n * shape.cols);
    guint8 *skip = g_new0 (guint8, n);
    guint part;

    for (i = 0; i < n; i++) {
      /* many duplicates, some skipped (invalid ones among them) */
      idx[i] = (gint32) (next () % 300) * 3;
      skip[i] = next () % 10 == 0;
      if (skip[i] && i % 2)
        idx[i] = -5;
    }
    for (i = 0; i < n * shape.cols; i++)
      d[i] = (gint32) (next () >> 40) / 8388608.0f - 1.0f;
    plan.op = op;
    plan.indices = (const guint8 *) idx;
    plan.deltas = (const guint8 *) d;
    plan.delta_dtype = GST_SHARED_MATRIX_DTYPE_FLOAT32;
    plan.n = n;
    plan.skip = skip;

    sm_cpu_apply_serial (one, &plan);
    for (part = 0; part < 7; part++) {
      guint64 first = shape.rows * part / 7, end = shape.rows * (part + 1) / 7;

      sm_cpu_apply_rows_in_range (split, &plan, first, end - first);
    }
    checks++;
    sm_backend_cpu.read (one, a, NULL);
    sm_backend_cpu.read (split, b, NULL);
    if (memcmp (a, b, size) != 0)
      fail ("row-range split", op, 1, 0);
    sm_backend_cpu.destroy (one);
    sm_backend_cpu.destroy (split);
    g_free (a);
    g_free (b);
    g_free (idx);
    g_free (d);
    g_free (skip);
  }
}

/* sm_backend_cpu.apply () chooses one thread or the workers per update
 * (measured per size class, tried in turn): whatever it chose, a matrix
 * must equal one updated on one thread throughout. Mid-size updates (one
 * part per thread) and big ones (two), duplicates, skipped rows, set and
 * add. */
static void
check_modes (void)
{
  /* few rows: every part boundary is hit by many updates */
  SmShape shape = { 300, 40, GST_SHARED_MATRIX_DTYPE_FLOAT32, 40 * 4 };
  const gsize sizes[] = { 150, 2000 };  /* 6,000 and 80,000 elements */
  SmCpuStorage *one = sm_backend_cpu.create (&shape, -1, NULL);
  SmCpuStorage *chosen = sm_backend_cpu.create (&shape, -1, NULL);
  gsize size = shape.rows * shape.row_bytes, max_n = 2000, i;
  guint8 *a = g_malloc (size), *b = g_malloc (size);
  gint32 *idx = g_new (gint32, max_n);
  float *d = g_new (float, max_n * shape.cols);
  guint8 *skip = g_new0 (guint8, max_n);
  guint u;

  for (u = 0; u < 200; u++) {
    SmUpdatePlan plan = { 0, };
    gsize n = sizes[u % 2];

    for (i = 0; i < n; i++) {
      idx[i] = (gint32) (next () % shape.rows);
      skip[i] = next () % 16 == 0;
    }
    for (i = 0; i < n * shape.cols; i++)
      d[i] = (gint32) (next () >> 40) / 8388608.0f - 1.0f;
    plan.op = u % 5 == 4 ? GST_SHARED_MATRIX_OP_SET :
        GST_SHARED_MATRIX_OP_ADD;
    plan.indices = (const guint8 *) idx;
    plan.deltas = (const guint8 *) d;
    plan.delta_dtype = GST_SHARED_MATRIX_DTYPE_FLOAT32;
    plan.n = n;
    plan.skip = u % 3 == 0 ? skip : NULL;
    sm_cpu_apply_serial (one, &plan);
    sm_backend_cpu.apply (chosen, &plan, NULL);
    /* after every update: a later set may cover an earlier difference */
    checks++;
    sm_backend_cpu.read (one, a, NULL);
    sm_backend_cpu.read (chosen, b, NULL);
    if (memcmp (a, b, size) != 0) {
      fail ("apply with the measured thread mode, update", u, 1, 0);
      break;
    }
  }
  sm_backend_cpu.destroy (one);
  sm_backend_cpu.destroy (chosen);
  g_free (a);
  g_free (b);
  g_free (idx);
  g_free (d);
  g_free (skip);
}

int
main (int argc, char **argv)
{
  gboolean exhaustive = argc > 1 && strcmp (argv[1], "--exhaustive") == 0;
  guint64 bits;
  guint32 h;
  int i;

  for (h = 0; h < 65536; h++) {
    guint32 got = f2u (half_to_float ((guint16) h));
    guint32 want = f2u (test_ref_half_to_float ((guint16) h));

    checks++;
    if (got != want)
      fail ("float16->float", h, got, want);
  }

  if (exhaustive) {
    for (bits = 0; bits < G_GUINT64_CONSTANT (1) << 32; bits++)
      check_float_to_narrow ((guint32) bits);
  } else {
    /* a stride through all floats, then float16's rounding-sensitive
     * range (2^-25 .. 2^16, both signs) on a finer stride */
    for (bits = 0; bits < G_GUINT64_CONSTANT (1) << 32; bits += 4099)
      check_float_to_narrow ((guint32) bits);
    for (bits = 102u << 23; bits < 144u << 23; bits += 251) {
      check_float_to_narrow ((guint32) bits);
      check_float_to_narrow ((guint32) bits | 0x80000000u);
    }
  }

  for (i = 0; i < 300000; i++) {
    guint64 r = next ();
    double d;

    if (i % 4 == 0) {
      memcpy (&d, &r, 8);       /* any bit pattern */
    } else {
      /* near float16 / bfloat16 rounding boundaries and ranges */
      d = ldexp ((double) (r >> 11) / 9007199254740992.0,
          (gint) (next () % 300) - 160);
      if (r & 1)
        d = -d;
    }
    check_double_to_narrow (d);
  }

  check_rows ();
  check_split ();
  /* workers even on a one-processor machine (read once, at first use) */
  g_setenv ("GST_SHARED_MATRIX_THREADS", "3", FALSE);
  check_modes ();

  g_print ("%" G_GUINT64_FORMAT " checks, %" G_GUINT64_FORMAT " mismatches\n",
      checks, failures);
  g_print ("%d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
  return failures ? 1 : 0;
}
