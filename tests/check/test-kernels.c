/* gst-sharedmatrix: CUDA kernel bodies, executed on the CPU, against the
 * CPU backend
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * No GPU is needed: the kernel bodies the CUDA backend launches (kernels/
 * scatter-kernels.h) run through the emulation shim (kernel-emulation.h),
 * fed by the same host grouping code the CUDA backend uses
 * (plugin/lib/update-grouping.c, from the internal library). Independently,
 * the same update goes through the public API into a matrix on the CPU
 * backend. The two results must be identical byte for byte (a NaN matches
 * any NaN, see describe_first_difference ()), and the CPU result must
 * equal the tests' own reference (tests/common/reference.h), for every
 * op x matrix dtype x delta dtype, on random and adversarial updates (all
 * duplicates, one row, empty, first/last rows, dropped rows, NaN/Inf,
 * subnormals, overflow), in several launch geometries and block orders,
 * and with the update split into chunks as the backend does for big ones.
 */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>

#include "gstsharedmatrix.h"
#include "update-grouping.h"
#include "kernel-emulation.h"
#include "random.h"
#include "reference.h"

#define N_OPS 6
#define N_DTYPES 4

/* ---- one update, both ways ---------------------------------------------- */

typedef enum
{
  CASE_RANDOM,                  /* many duplicates */
  CASE_SMALL,                   /* n <= 32: the insertion-sort grouping */
  CASE_ALL_DUPLICATES,
  CASE_ONE_ROW,
  CASE_EMPTY,
  CASE_FIRST_LAST,
  CASE_INVALID_DROPPED,         /* invalid-index=drop: skip[] */
  CASE_NON_FINITE_DROPPED,      /* non-finite=drop: skip[] */
  CASE_SPECIAL_VALUES,          /* NaN/Inf applied, subnormals, overflow */
  CASE_THREADED,                /* big enough for the CPU worker threads */
  CASE_TALL,                    /* rows > 2^16: multi-pass radix grouping */
  N_CASES
} UpdateCase;

static const gchar *case_names[] = {
  "random", "small", "all-duplicates", "one-row", "empty", "first-last",
  "invalid-dropped", "non-finite-dropped", "special-values", "threaded",
  "tall",
};

typedef struct
{
  guint64 rows;
  guint cols;
  gsize n;
  gboolean int64;
  guint8 *indices;
  guint8 *deltas_mem;
  guint8 *deltas;               /* deltas_mem + 1: deliberately unaligned */
  guint8 *skip;                 /* as the library's validation flags them */
  GstSharedMatrixInvalidIndexPolicy invalid_index;
  GstSharedMatrixNonFinitePolicy non_finite;
  guint8 *initial;
} Update;

static void
set_index (Update * u, gsize i, gint64 v)
{
  if (u->int64) {
    memcpy (u->indices + i * 8, &v, 8);
  } else {
    gint32 w = (gint32) v;

    memcpy (u->indices + i * 4, &w, 4);
  }
}

static Update *
make_update (UpdateCase c, int dtype, int delta_dtype, guint64 seed)
{
  Update *u = g_new0 (Update, 1);
  guint64 s = seed * 0x9E3779B97F4A7C15ULL + c + 1;
  gsize dsize = test_ref_dtype_size (delta_dtype), i;
  gboolean non_finite = FALSE, adversarial = FALSE;

  u->rows = 97;
  u->cols = 37;
  u->int64 = (seed & 1) != 0;
  u->invalid_index = GST_SHARED_MATRIX_INVALID_INDEX_ERROR;
  u->non_finite = GST_SHARED_MATRIX_NON_FINITE_APPLY;
  switch (c) {
    case CASE_RANDOM:
      u->n = 300;
      break;
    case CASE_SMALL:
      u->n = 17;
      u->cols = 5;
      break;
    case CASE_ALL_DUPLICATES:
      u->n = 200;
      break;
    case CASE_ONE_ROW:
      u->n = 1;
      break;
    case CASE_EMPTY:
      u->n = 0;
      break;
    case CASE_FIRST_LAST:
      u->n = 40;
      u->cols = 300;            /* several column tiles */
      break;
    case CASE_INVALID_DROPPED:
      u->n = 120;
      u->invalid_index = GST_SHARED_MATRIX_INVALID_INDEX_DROP;
      break;
    case CASE_NON_FINITE_DROPPED:
      u->n = 120;
      u->non_finite = GST_SHARED_MATRIX_NON_FINITE_DROP;
      break;
    case CASE_SPECIAL_VALUES:
      u->n = 150;
      non_finite = adversarial = TRUE;
      break;
    case CASE_THREADED:
      u->rows = 400;
      u->cols = 41;
      u->n = 2000;              /* 82,000 elements: the CPU backend splits */
      break;
    case CASE_TALL:
      u->rows = 300007;
      u->cols = 1;
      u->n = 700;
      u->int64 = TRUE;
      break;
    default:
      g_assert_not_reached ();
  }

  u->indices = g_malloc (MAX (u->n, 1) * 8);
  u->deltas_mem = g_malloc (u->n * u->cols * dsize + 1);
  u->deltas = u->deltas_mem + 1;
  u->skip = g_malloc0 (MAX (u->n, 1));
  {
    guint64 dup = test_rng_next (&s) % u->rows;

    for (i = 0; i < u->n; i++) {
      gint64 r = (gint64) (test_rng_next (&s) % u->rows);

      if (c == CASE_ALL_DUPLICATES || c == CASE_ONE_ROW)
        r = (gint64) dup;
      else if (c == CASE_FIRST_LAST)
        r = (i % 3 == 0) ? 0 : (i % 3 == 1) ? (gint64) u->rows - 1 : r;
      else if (c == CASE_INVALID_DROPPED && test_rng_next (&s) % 4 == 0) {
        static const gint64 bad[] = { -1, 97, 98, 1000, G_MININT32 };

        r = bad[test_rng_next (&s) % G_N_ELEMENTS (bad)];
      }
      set_index (u, i, r);
      if (r < 0 || (guint64) r >= u->rows)
        u->skip[i] = 1;
    }
  }
  test_rng_fill_adversarial (u->deltas, u->n * u->cols, delta_dtype, &s,
      adversarial, non_finite);
  if (u->non_finite == GST_SHARED_MATRIX_NON_FINITE_DROP) {
    /* one NaN or infinity in about every third row */
    for (i = 0; i < u->n; i++)
      if (test_rng_next (&s) % 3 == 0)
        test_ref_store (u->deltas + (i * u->cols +
                test_rng_next (&s) % u->cols) * dsize, delta_dtype,
            (test_rng_next (&s) % 3) == 0 ? NAN :
            (test_rng_next (&s) & 1) ? INFINITY : -INFINITY);
    for (i = 0; i < u->n; i++)
      if (!test_ref_row_is_finite (u->deltas + i * u->cols * dsize, delta_dtype,
              u->cols))
        u->skip[i] = 1;
  }

  u->initial = g_malloc (u->rows * u->cols * test_ref_dtype_size (dtype));
  test_rng_fill_adversarial (u->initial, u->rows * u->cols, dtype, &s,
      adversarial, FALSE);
  return u;
}

static void
free_update (Update * u)
{
  g_free (u->indices);
  g_free (u->deltas_mem);
  g_free (u->skip);
  g_free (u->initial);
  g_free (u);
}

/* The CPU backend through the public API. */
static GBytes *
apply_cpu (const Update * u, int op, int dtype, int delta_dtype)
{
  GError *err = NULL;
  GstSharedMatrix *m = gst_shared_matrix_new (u->rows, u->cols, dtype,
      GST_SHARED_MATRIX_BACKEND_CPU, &err);
  GBytes *init, *out;

  fail_unless (m != NULL, "%s", err ? err->message : "");
  init = g_bytes_new_static (u->initial,
      u->rows * u->cols * test_ref_dtype_size (dtype));
  fail_unless (gst_shared_matrix_set_value (m, init, &err), "%s",
      err ? err->message : "");
  g_bytes_unref (init);
  fail_unless (gst_shared_matrix_update (m, op, u->indices, u->n,
          u->int64 ? GST_SHARED_MATRIX_INDEX_TYPE_INT64 :
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, u->deltas, delta_dtype,
          &(GstSharedMatrixPolicies) { u->invalid_index,
              u->non_finite }, NULL, &err), "%s",
      err ? err->message : "");
  out = gst_shared_matrix_get_value (m);
  gst_object_unref (m);
  return out;
}

typedef enum
{
  VARIANT_BACKEND,              /* the geometry scatter.cu launches */
  VARIANT_TINY_GRID_SHUFFLED,   /* grid-stride loops, any block order */
  VARIANT_ODD_BLOCKS_REVERSE,
  VARIANT_CHUNKED_1,            /* the backend's split of big updates */
  VARIANT_CHUNKED_7,
  N_VARIANTS
} Variant;

static const gchar *variant_names[] = {
  "backend geometry", "tiny grid, shuffled blocks", "odd blocks, reversed",
  "chunks of 1", "chunks of 7",
};

/* The CUDA backend's path with the device replaced by the emulation. */
static guint8 *
apply_emulated (const Update * u, int op, int dtype, int delta_dtype,
    Variant v)
{
  gsize bytes = u->rows * u->cols * test_ref_dtype_size (dtype);
  gsize drow = (gsize) u->cols * test_ref_dtype_size (delta_dtype);
  guint8 *matrix = g_memdup2 (u->initial, bytes);
  gsize chunk = v == VARIANT_CHUNKED_1 ? 1 : v == VARIANT_CHUNKED_7 ? 7 :
      MAX (u->n, 1);
  SmUpdateGrouping g;
  gsize first;

  sm_update_grouping_init (&g);
  for (first = 0; first < u->n; first += chunk) {
    gsize n = MIN (chunk, u->n - first);
    SmScatterArgs a;
    SmEmuLaunch l;

    sm_update_grouping_compute (&g, u->indices, u->int64, first, n, u->skip);
    a.matrix = matrix;
    a.deltas = u->deltas + first * drow;
    a.rows = g.rows;
    a.group_start = g.group_start;
    a.order = g.order;
    a.row_bytes = (guint64) u->cols * test_ref_dtype_size (dtype);
    a.n_groups = g.n_groups;
    a.cols = u->cols;
    a.dtype = dtype;
    a.delta_dtype = delta_dtype;
    a.op = op;

    switch (v) {
      case VARIANT_TINY_GRID_SHUFFLED:
        l = (SmEmuLaunch) {
        2, 1, 4, 2, SM_EMU_SHUFFLED, (guint32) (first + 11)};
        break;
      case VARIANT_ODD_BLOCKS_REVERSE:
        l = (SmEmuLaunch) {
        3, 2, 5, 3, SM_EMU_REVERSE, 0};
        break;
      default:
        l = sm_emu_scatter_launch (&a, SM_EMU_FORWARD, 0);
        break;
    }
    sm_emu_scatter (&l, &a);
  }
  sm_update_grouping_clear (&g);
  return matrix;
}

/* NaN matches NaN: the sign and payload of a NaN made by arithmetic are
 * not part of the semantics; they differ between the CPU backend's
 * vectorised loops and scalar code on the same machine, and on GPUs (which
 * return the canonical NaN) */
static void
describe_first_difference (const guint8 * a, const guint8 * b, gsize bytes,
    const Update * u, int dtype, const gchar * a_name, const gchar * b_name,
    gchar ** where)
{
  gsize e;

  *where = NULL;
  if (!test_ref_same_elements (a, b, bytes / test_ref_dtype_size (dtype),
          dtype, &e))
    *where = g_strdup_printf ("element (%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT
        "): %s %.17g, %s %.17g", e / u->cols, e % u->cols, a_name,
        test_ref_load (a + e * test_ref_dtype_size (dtype), dtype), b_name,
        test_ref_load (b + e * test_ref_dtype_size (dtype), dtype));
}

static void
check_combination (int op, int dtype, int delta_dtype)
{
  UpdateCase c;

  for (c = 0; c < N_CASES; c++) {
    guint64 seed = (guint64) op * 1000 + dtype * 100 + delta_dtype * 10 + c;
    Update *u = make_update (c, dtype, delta_dtype, seed);
    GBytes *cpu = apply_cpu (u, op, dtype, delta_dtype);
    gsize bytes;
    const guint8 *expect = g_bytes_get_data (cpu, &bytes);
    Variant v;

    fail_unless_equals_uint64 (bytes,
        u->rows * u->cols * test_ref_dtype_size (dtype));
    /* not a vacuous comparison: every case but the empty one changes rows */
    if (c == CASE_EMPTY)
      fail_unless (memcmp (expect, u->initial, bytes) == 0);
    else
      fail_if (memcmp (expect, u->initial, bytes) == 0, "case %s changed "
          "nothing", case_names[c]);

    /* the CPU backend against the tests' independent reference */
    {
      guint8 *ref = g_memdup2 (u->initial, bytes);
      gchar *where;

      fail_unless (test_ref_update (ref, u->rows, u->cols, dtype, op,
              u->indices, u->int64 ? GST_SHARED_MATRIX_INDEX_TYPE_INT64 :
              GST_SHARED_MATRIX_INDEX_TYPE_INT32, u->n, u->deltas,
              delta_dtype, u->invalid_index, u->non_finite, NULL));
      describe_first_difference (ref, expect, bytes, u, dtype, "reference",
          "cpu", &where);
      fail_unless (where == NULL, "op %s, matrix %s, deltas %s, case %s: %s",
          test_ref_op_name (op), test_ref_dtype_name (dtype),
          test_ref_dtype_name (delta_dtype), case_names[c], where);
      g_free (ref);
    }

    for (v = 0; v < N_VARIANTS; v++) {
      guint8 *got;
      gchar *where;

      /* the tall case has 700 occurrences: chunks of 1 are enough there */
      if (c == CASE_TALL && v == VARIANT_CHUNKED_7)
        continue;
      got = apply_emulated (u, op, dtype, delta_dtype, v);
      describe_first_difference (expect, got, bytes, u, dtype, "cpu",
          "emulated kernel", &where);
      fail_unless (where == NULL, "op %s, matrix %s, deltas %s, %s indices, "
          "case %s, %s: %s", test_ref_op_name (op), test_ref_dtype_name (dtype),
          test_ref_dtype_name (delta_dtype), u->int64 ? "int64" : "int32",
          case_names[c], variant_names[v], where);
      g_free (got);
    }
    g_bytes_unref (cpu);
    free_update (u);
  }
}

/* One loop iteration per op x matrix dtype x delta dtype (96). */
GST_START_TEST (test_kernel_scatter_matches_cpu)
{
  int op = __i__ / (N_DTYPES * N_DTYPES);
  int dtype = (__i__ / N_DTYPES) % N_DTYPES;
  int delta_dtype = __i__ % N_DTYPES;

  check_combination (op, dtype, delta_dtype);
}

GST_END_TEST;

/* The empty update and the all-skipped update leave every byte alone. */
GST_START_TEST (test_kernel_scatter_nothing_to_do)
{
  guint8 matrix[4 * 3 * 4], before[sizeof matrix];
  gint32 idx[3] = { 1, 2, 1 };
  guint8 skip[3] = { 1, 1, 1 };
  float deltas[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
  SmUpdateGrouping g;
  SmScatterArgs a;
  SmEmuLaunch l;
  guint i;

  for (i = 0; i < sizeof matrix; i++)
    matrix[i] = before[i] = (guint8) (i * 37);
  sm_update_grouping_init (&g);
  sm_update_grouping_compute (&g, (guint8 *) idx, FALSE, 0, 3, skip);
  fail_unless_equals_int (g.n_groups, 0);
  fail_unless_equals_int (g.n_order, 0);
  sm_update_grouping_compute (&g, (guint8 *) idx, FALSE, 0, 0, NULL);
  fail_unless_equals_int (g.n_groups, 0);

  memset (&a, 0, sizeof a);
  a.matrix = matrix;
  a.deltas = (guint8 *) deltas;
  a.rows = g.rows;
  a.group_start = g.group_start;
  a.order = g.order;
  a.row_bytes = 12;
  a.cols = 3;
  a.op = SM_OP_ADD;
  /* even a launch with zero groups (the launcher skips it) writes nothing */
  l = (SmEmuLaunch) {
  1, 1, 4, 4, SM_EMU_FORWARD, 0};
  SM_EMU_RUN_2D (&l, sm_scatter_body, &a);
  fail_unless (memcmp (matrix, before, sizeof matrix) == 0);
  sm_update_grouping_clear (&g);
}

GST_END_TEST;

/* ---- the host grouping on its own ---------------------------------------- */

/* Every kept occurrence exactly once, rows ascending and distinct, buffer
 * order inside a row. (Checked with plain ifs: a check assertion per
 * element costs a system call.) */
static void
check_grouping (const guint8 * indices, gboolean int64, gsize start, gsize n,
    const guint8 * skip)
{
  SmUpdateGrouping g;
  guint8 *seen = g_malloc0 (MAX (n, 1));
  const gchar *problem = NULL;
  gsize i, kept = 0;
  guint32 k;

  sm_update_grouping_init (&g);
  sm_update_grouping_compute (&g, indices, int64, start, n, skip);
  for (i = 0; i < n; i++)
    if (!skip || !skip[start + i])
      kept++;
  fail_unless_equals_uint64 (g.n_order, kept);
  fail_unless_equals_int (g.group_start[0], 0);
  fail_unless_equals_uint64 (g.group_start[g.n_groups], kept);
  for (k = 0; k < g.n_groups && !problem; k++) {
    guint32 j;

    if (k > 0 && g.rows[k] <= g.rows[k - 1])
      problem = "rows not strictly ascending";
    if (g.group_start[k] >= g.group_start[k + 1])
      problem = "empty group";
    for (j = g.group_start[k]; j < g.group_start[k + 1] && !problem; j++) {
      guint32 pos = g.order[j];

      if (pos >= n)
        problem = "position out of range";
      else if (j > g.group_start[k] && pos <= g.order[j - 1])
        problem = "positions of a row not in buffer order";
      else if ((guint64) test_ref_index (indices, int64, start + pos) !=
          g.rows[k])
        problem = "position in the wrong row's group";
      else if (seen[pos])
        problem = "position listed twice";
      else
        seen[pos] = 1;
    }
  }
  for (i = 0; i < n && !problem; i++)
    if (seen[i] != ((skip && skip[start + i]) ? 0 : 1))
      problem = seen[i] ? "skipped position grouped" : "position missing";
  fail_unless (problem == NULL, "grouping of %" G_GSIZE_FORMAT " %s indices "
      "(from %" G_GSIZE_FORMAT ", %s): %s", n, int64 ? "int64" : "int32",
      start, skip ? "with skips" : "no skips", problem);
  g_free (seen);
  sm_update_grouping_clear (&g);
}

GST_START_TEST (test_kernel_grouping_is_stable_and_complete)
{
  static const gsize sizes[] = { 0, 1, 2, 31, 32, 33, 200, 5000, 70001 };
  static const guint64 ranges[] = { 1, 3, 256, 257, 70000, 1ULL << 40 };
  guint64 s = 42;
  guint si, ri;

  for (si = 0; si < G_N_ELEMENTS (sizes); si++) {
    for (ri = 0; ri < G_N_ELEMENTS (ranges); ri++) {
      gsize n = sizes[si], i;
      guint8 *idx64 = g_malloc (MAX (n, 1) * 8);
      guint8 *idx32 = g_malloc (MAX (n, 1) * 4);
      guint8 *skip = g_malloc0 (MAX (n, 1));

      for (i = 0; i < n; i++) {
        gint64 r = (gint64) (test_rng_next (&s) % ranges[ri]);
        gint32 r32 = (gint32) (r & 0x7fffffff);

        memcpy (idx64 + i * 8, &r, 8);
        memcpy (idx32 + i * 4, &r32, 4);
        skip[i] = test_rng_next (&s) % 5 == 0;
      }
      check_grouping (idx64, TRUE, 0, n, NULL);
      check_grouping (idx64, TRUE, 0, n, skip);
      check_grouping (idx32, FALSE, 0, n, NULL);
      check_grouping (idx32, FALSE, 0, n, skip);
      if (n > 10) {
        /* a chunk in the middle: positions relative to its start */
        check_grouping (idx64, TRUE, 3, n - 10, skip);
        check_grouping (idx32, FALSE, 5, n - 10, NULL);
      }
      g_free (idx64);
      g_free (idx32);
      g_free (skip);
    }
  }
}

GST_END_TEST;

/* ---- gather and fill ------------------------------------------------------*/

GST_START_TEST (test_kernel_gather_matches_cpu)
{
  int dtype;

  for (dtype = 0; dtype < N_DTYPES; dtype++) {
    static const guint cols_list[] = { 1, 7, 300 };
    guint ci;

    for (ci = 0; ci < G_N_ELEMENTS (cols_list); ci++) {
      guint cols = cols_list[ci];
      guint64 rows = 53, s = 7 + dtype * 3 + ci;
      gsize size = test_ref_dtype_size (dtype), n = 90, i, bytes;
      guint8 *initial = g_malloc (rows * cols * size);
      GError *err = NULL;
      GstSharedMatrix *m;
      GBytes *b;
      int int64;

      test_rng_fill_adversarial (initial, rows * cols, dtype, &s, TRUE, TRUE);
      m = gst_shared_matrix_new (rows, cols, dtype,
          GST_SHARED_MATRIX_BACKEND_CPU, &err);
      fail_unless (m != NULL);
      b = g_bytes_new_static (initial, rows * cols * size);
      fail_unless (gst_shared_matrix_set_value (m, b, &err));
      g_bytes_unref (b);

      for (int64 = 0; int64 < 2; int64++) {
        guint8 *idx = g_malloc (n * 8);
        GBytes *ib, *expect;
        const guint8 *e;
        Variant v;

        guint64 zeroed = 0, n_invalid = 0;

        for (i = 0; i < n; i++) {
          /* duplicates, first and last rows, and invalid ids on both sides
           * (the zero policy: zero rows) */
          gint64 r = i % 5 == 0 ? 0 : i % 5 == 1 ? (gint64) rows - 1 :
              i % 11 == 2 ? -1 - (gint64) (i % 3) :
              i % 13 == 3 ? (gint64) rows + (gint64) (i % 4) :
              (gint64) (test_rng_next (&s) % rows);

          if (r < 0 || r >= (gint64) rows)
            n_invalid++;

          if (int64)
            memcpy (idx + i * 8, &r, 8);
          else {
            gint32 r32 = (gint32) r;
            memcpy (idx + i * 4, &r32, 4);
          }
        }
        ib = g_bytes_new (idx, n * (int64 ? 8 : 4));
        expect = gst_shared_matrix_gather_bytes_full (m, ib, int64 ?
            GST_SHARED_MATRIX_INDEX_TYPE_INT64 :
            GST_SHARED_MATRIX_INDEX_TYPE_INT32,
            GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO, NULL, &zeroed, &err);
        fail_unless (expect != NULL, "%s", err ? err->message : "");
        fail_unless (n_invalid > 0);
        fail_unless_equals_uint64 (zeroed, n_invalid);
        e = g_bytes_get_data (expect, &bytes);
        fail_unless_equals_uint64 (bytes, n * cols * size);

        for (v = 0; v < 3; v++) {
          guint8 *out = g_malloc0 (bytes);
          SmGatherArgs a;
          SmEmuLaunch l;

          a.matrix = initial;
          a.indices = idx;
          a.out = out;
          a.row_bytes = (guint64) cols * size;
          a.n = n;
          a.rows = rows;
          a.cols = cols;
          a.dtype = dtype;
          a.indices_int64 = int64;
          l = v == 0 ? sm_emu_gather_launch (&a, SM_EMU_FORWARD, 0) :
              v == 1 ? (SmEmuLaunch) {
          2, 1, 8, 2, SM_EMU_SHUFFLED, 3} : (SmEmuLaunch) {
          3, 2, 3, 5, SM_EMU_REVERSE, 0};
          sm_emu_gather (&l, &a);
          fail_unless (memcmp (e, out, bytes) == 0,
              "gather %s, %u cols, %s indices, variant %d differs",
              test_ref_dtype_name (dtype), cols, int64 ? "int64" : "int32", v);
          g_free (out);
        }
        g_bytes_unref (expect);
        g_bytes_unref (ib);
        g_free (idx);
      }
      gst_object_unref (m);
      g_free (initial);
    }
  }
}

GST_END_TEST;

GST_START_TEST (test_kernel_fill)
{
  int dtype;

  for (dtype = 0; dtype < N_DTYPES; dtype++) {
    static const gsize counts[] = { 0, 1, 255, 256, 257, 100000 };
    unsigned size = test_ref_dtype_size (dtype);
    guint ci;

    for (ci = 0; ci < G_N_ELEMENTS (counts); ci++) {
      gsize n = counts[ci], i;
      guint8 *buf = g_malloc (n * size + 16);
      SmFillArgs a;
      SmEmuLaunch l;
      int v;

      for (v = 0; v < 3; v++) {
        double value = v == 0 ? 0.0 : v == 1 ? -1.5 : 1e-7;

        memset (buf, 0xab, n * size + 16);
        memset (&a, 0, sizeof a);
        a.dst = buf;
        a.n_elements = n;
        a.element_size = size;
        test_ref_store (a.value.b, dtype, value);
        l = v == 1 ? (SmEmuLaunch) {
        3, 1, 7, 1, SM_EMU_SHUFFLED, 5} : sm_emu_fill_launch (&a,
            v == 0 ? SM_EMU_FORWARD : SM_EMU_REVERSE, 0);
        sm_emu_fill (&l, &a);
        for (i = 0; i < n; i++)
          if (memcmp (buf + i * size, a.value.b, size) != 0)
            break;
        fail_unless (i == n, "fill %s: element %" G_GSIZE_FORMAT " of %"
            G_GSIZE_FORMAT " not set", test_ref_dtype_name (dtype), i, n);
        /* and not one byte past the end */
        for (i = n * size; i < n * size + 16; i++)
          if (buf[i] != 0xab)
            break;
        fail_unless (i == n * size + 16, "fill %s wrote past the end",
            test_ref_dtype_name (dtype));
      }
      g_free (buf);
    }
  }
}

GST_END_TEST;

/* The zero fill the backend starts a matrix with equals a new CPU matrix. */
GST_START_TEST (test_kernel_zero_fill_matches_new_matrix)
{
  int dtype;

  for (dtype = 0; dtype < N_DTYPES; dtype++) {
    GError *err = NULL;
    GstSharedMatrix *m = gst_shared_matrix_new (33, 9, dtype,
        GST_SHARED_MATRIX_BACKEND_CPU, &err);
    GBytes *b = gst_shared_matrix_get_value (m);
    gsize bytes;
    const guint8 *expect = g_bytes_get_data (b, &bytes);
    guint8 *buf = g_malloc (bytes);
    SmFillArgs a;
    SmEmuLaunch l;

    memset (buf, 0x5a, bytes);
    memset (&a, 0, sizeof a);
    a.dst = buf;
    a.element_size = test_ref_dtype_size (dtype);
    a.n_elements = bytes / a.element_size;
    l = sm_emu_fill_launch (&a, SM_EMU_FORWARD, 0);
    sm_emu_fill (&l, &a);
    fail_unless (memcmp (buf, expect, bytes) == 0);
    g_free (buf);
    g_bytes_unref (b);
    gst_object_unref (m);
  }
}

GST_END_TEST;

/* The launch geometry stays inside CUDA's limits for any shape. */
GST_START_TEST (test_kernel_geometry_limits)
{
  static const guint32 groups[] = { 0, 1, 255, 256, 1000000, G_MAXUINT32 };
  static const guint32 cols[] = { 1, 2, 3, 100, 256, 257, 100000, G_MAXINT };
  guint gi, ci;

  for (gi = 0; gi < G_N_ELEMENTS (groups); gi++) {
    for (ci = 0; ci < G_N_ELEMENTS (cols); ci++) {
      unsigned gx, gy, bx, by;

      sm_scatter_geometry (groups[gi], cols[ci], &gx, &gy, &bx, &by);
      fail_unless (bx * by == SM_BLOCK_THREADS);
      fail_unless (bx >= MIN (cols[ci], SM_BLOCK_THREADS));
      fail_unless (gx >= 1 && gx <= SM_GRID_X_MAX);
      fail_unless (gy >= 1 && gy <= SM_GRID_Y_MAX);
    }
  }
}

GST_END_TEST;

static Suite *
kernels_suite (void)
{
  Suite *s = suite_create ("kernels");
  TCase *tc = tcase_create ("emulation");

  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_kernel_scatter_matches_cpu, 0,
      N_OPS * N_DTYPES * N_DTYPES);
  tcase_add_test (tc, test_kernel_scatter_nothing_to_do);
  tcase_add_test (tc, test_kernel_grouping_is_stable_and_complete);
  tcase_add_test (tc, test_kernel_gather_matches_cpu);
  tcase_add_test (tc, test_kernel_fill);
  tcase_add_test (tc, test_kernel_zero_fill_matches_new_matrix);
  tcase_add_test (tc, test_kernel_geometry_limits);
  return s;
}

GST_CHECK_MAIN (kernels);
