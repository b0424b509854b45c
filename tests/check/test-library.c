/* gst-sharedmatrix: library unit tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Values are checked against the naive reference of tests/common/reference.h,
 * independent of the library's kernels. The exhaustive
 * op x dtype x delta dtype comparison against numpy lives in
 * tests/python/test_library.py.
 */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>

#include "gstsharedmatrix.h"
#include "random.h"
#include "reference.h"

static GstSharedMatrix *
new_matrix (guint64 rows, guint cols, GstSharedMatrixDType dtype)
{
  GError *err = NULL;
  GstSharedMatrix *m = gst_shared_matrix_new (rows, cols, dtype,
      GST_SHARED_MATRIX_BACKEND_CPU, &err);

  fail_unless (m != NULL, "new failed: %s", err ? err->message : "?");
  return m;
}

static float *
get_f32 (GstSharedMatrix * m)
{
  GBytes *b = gst_shared_matrix_get_value (m);
  gsize size;
  float *out = g_bytes_unref_to_data (b, &size);

  fail_unless_equals_uint64 (size, gst_shared_matrix_get_rows (m) *
      gst_shared_matrix_get_cols (m) * 4);
  return out;
}

static void
set_f32 (GstSharedMatrix * m, const float *data)
{
  GBytes *b = g_bytes_new (data, gst_shared_matrix_get_rows (m) *
      gst_shared_matrix_get_cols (m) * 4);
  GError *err = NULL;

  fail_unless (gst_shared_matrix_set_value (m, b, &err));
  g_bytes_unref (b);
}

/* Every op on float32 with many duplicates, against a naive loop that
 * applies occurrences in buffer order. */
GST_START_TEST (test_ops_f32_against_naive_loop)
{
  const guint64 rows = 37;
  const guint cols = 13;
  const gsize n = 300;          /* ~8 occurrences per row */
  GstSharedMatrixOp op;

  for (op = GST_SHARED_MATRIX_OP_SET; op <= GST_SHARED_MATRIX_OP_MAX; op++) {
    GstSharedMatrix *m = new_matrix (rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32);
    float *init = g_new (float, rows * cols);
    float *expect = g_new (float, rows * cols);
    gint32 *idx = g_new (gint32, n);
    float *d = g_new (float, n * cols);
    GstSharedMatrixUpdateResult res;
    GError *err = NULL;
    guint64 state = 42 + op;
    float *got;
    gsize i;

    for (i = 0; i < rows * cols; i++)
      init[i] = expect[i] = (float) test_rng_uniform (&state, -2.0, 2.0);
    for (i = 0; i < n; i++)
      idx[i] = test_rng_below (&state, rows);
    for (i = 0; i < n * cols; i++)
      d[i] = (float) test_rng_uniform (&state, -2.0, 2.0);
    set_f32 (m, init);

    test_ref_update_f32 (expect, rows, cols, op, idx, n, d);

    fail_unless (gst_shared_matrix_update (m, op, idx, n,
            GST_SHARED_MATRIX_INDEX_TYPE_INT32, d,
            GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, &res, &err));
    fail_unless_equals_uint64 (res.rows_applied, n);
    fail_unless_equals_uint64 (res.version, 2);       /* set_value + update */

    got = get_f32 (m);
    for (i = 0; i < rows * cols; i++)
      fail_unless (memcmp (&got[i], &expect[i], 4) == 0,
          "op %d element %" G_GSIZE_FORMAT ": got %.9g expected %.9g", op, i,
          got[i], expect[i]);

    g_free (got);
    g_free (init);
    g_free (expect);
    g_free (idx);
    g_free (d);
    gst_object_unref (m);
  }
}

GST_END_TEST;

/* gst_shared_matrix_update_many () applies runs of small updates in one
 * backend call: each op on a float16 matrix (float32 deltas converted) with
 * int64 indices, updates of 0 to 11 rows (runs broken by the big ones, and
 * one run cut at its size limit), duplicates within and across updates,
 * dropped invalid and non-finite rows, must give what the updates applied
 * one by one by the reference give, and each update its own version. */
GST_START_TEST (test_update_many_runs)
{
  const guint64 rows = 41;
  const guint cols = 7;
  const guint n_items = 64;
  GstSharedMatrixPolicies pol = { GST_SHARED_MATRIX_INVALID_INDEX_DROP,
    GST_SHARED_MATRIX_NON_FINITE_DROP
  };
  GstSharedMatrixOp op;

  for (op = GST_SHARED_MATRIX_OP_SET; op <= GST_SHARED_MATRIX_OP_MAX; op++) {
    GstSharedMatrix *m = new_matrix (rows, cols,
        GST_SHARED_MATRIX_DTYPE_FLOAT16);
    GstSharedMatrixUpdateItem items[64];
    GstSharedMatrixUpdateResult results[64];
    guint8 *expect = g_malloc0 (rows * cols * 2);
    gint64 *idx = g_new (gint64, n_items * 11);
    float *d = g_new (float, n_items * 11 * cols);
    guint64 state = 7 + op;
    GError *err = NULL;
    GBytes *got;
    guint applied, k;
    gsize at = 0, i;

    for (k = 0; k < n_items; k++) {
      /* updates 0-31 of 1 to 3 rows, 5 and 21 of 11 (ending runs); 32-63
       * of 8 (the run from 22 reaches the size limit); 9, 25, 41, 57
       * empty */
      gsize n = k < 32 && k % 16 == 5 ? 11 : k % 16 == 9 ? 0 : k >= 32 ? 8 :
          1 + k % 3;
      TestRefResult ref;

      for (i = 0; i < n; i++) {
        /* few rows: duplicates within and across updates */
        idx[at + i] = (gint64) test_rng_below (&state, 12);
        if (k == 3 && i == 0)
          idx[at + i] = (gint64) rows + 2;
      }
      for (i = 0; i < n * cols; i++)
        d[at * cols + i] = (float) test_rng_uniform (&state, -2.0, 2.0);
      if (k == 40)
        d[at * cols + 3] = NAN;
      /* an empty update may come without data */
      items[k].indices = n ? idx + at : NULL;
      items[k].deltas = n ? d + at * cols : NULL;
      items[k].n = n;
      fail_unless (test_ref_update (expect, rows, cols,
              GST_SHARED_MATRIX_DTYPE_FLOAT16, op, (const guint8 *) (idx + at),
              GST_SHARED_MATRIX_INDEX_TYPE_INT64, n,
              (const guint8 *) (d + at * cols),
              GST_SHARED_MATRIX_DTYPE_FLOAT32, pol.invalid_index,
              pol.non_finite, &ref));
      at += n;
    }
    fail_unless (gst_shared_matrix_update_many (m, op, items, n_items,
            GST_SHARED_MATRIX_INDEX_TYPE_INT64,
            GST_SHARED_MATRIX_DTYPE_FLOAT32, &pol, results, &applied, &err),
        "update_many failed: %s", err ? err->message : "?");
    fail_unless_equals_int (applied, n_items);
    for (k = 0; k < n_items; k++)
      fail_unless_equals_uint64 (results[k].version, k + 1);
    fail_unless_equals_uint64 (results[3].rows_dropped_invalid, 1);
    fail_unless_equals_uint64 (results[40].rows_dropped_non_finite, 1);
    got = gst_shared_matrix_get_value (m);
    fail_unless (test_ref_same_elements (g_bytes_get_data (got, NULL), expect,
            rows * cols, GST_SHARED_MATRIX_DTYPE_FLOAT16, &i),
        "op %s: element %" G_GSIZE_FORMAT " differs", test_ref_op_name (op),
        i);
    g_bytes_unref (got);
    g_free (expect);
    g_free (idx);
    g_free (d);
    gst_object_unref (m);
  }
}

GST_END_TEST;

/* A big update goes through the worker threads: the result must equal the
 * same updates applied one row at a time (single-threaded path). */
GST_START_TEST (test_threaded_equals_sequential)
{
  const guint64 rows = 1000;
  const guint cols = 64;
  const gsize n = 4096;         /* n * cols above the parallel threshold */
  GstSharedMatrix *big = new_matrix (rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  GstSharedMatrix *small = new_matrix (rows, cols,
      GST_SHARED_MATRIX_DTYPE_FLOAT32);
  gint64 *idx = g_new (gint64, n);
  float *d = g_new (float, n * cols);
  guint64 state = 7;
  float *a, *b;
  gsize i;

  for (i = 0; i < n; i++)
    idx[i] = test_rng_below (&state, rows);       /* ~4 duplicates a row */
  for (i = 0; i < n * cols; i++)
    d[i] = (float) test_rng_uniform (&state, -2.0, 2.0);

  fail_unless (gst_shared_matrix_update (big, GST_SHARED_MATRIX_OP_ADD, idx, n,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, d, GST_SHARED_MATRIX_DTYPE_FLOAT32,
          NULL, NULL, NULL));
  for (i = 0; i < n; i++)
    fail_unless (gst_shared_matrix_update (small, GST_SHARED_MATRIX_OP_ADD,
            &idx[i], 1, GST_SHARED_MATRIX_INDEX_TYPE_INT64, &d[i * cols],
            GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL));

  a = get_f32 (big);
  b = get_f32 (small);
  fail_unless (memcmp (a, b, rows * cols * 4) == 0);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (big), 1);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (small), n);

  g_free (a);
  g_free (b);
  g_free (idx);
  g_free (d);
  gst_object_unref (big);
  gst_object_unref (small);
}

GST_END_TEST;

GST_START_TEST (test_invalid_index_policies)
{
  GstSharedMatrix *m = new_matrix (10, 2, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  gint32 idx[] = { 1, 10, -1, 3 };
  float d[] = { 1, 1, 2, 2, 3, 3, 4, 4 };
  GstSharedMatrixUpdateResult res;
  GError *err = NULL;
  float *got;
  guint i;

  /* error: nothing written, version unchanged, message names the index */
  fail_if (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, idx, 4,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, d,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, &res, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_INVALID_INDEX));
  fail_unless (strstr (err->message, "Row index 10") != NULL, "%s",
      err->message);
  fail_unless (strstr (err->message, "0 to 9") != NULL, "%s", err->message);
  g_clear_error (&err);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 0);
  got = get_f32 (m);
  for (i = 0; i < 20; i++)
    fail_unless (got[i] == 0.0f);
  g_free (got);

  /* drop: valid rows applied, two counted */
  fail_unless (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, idx, 4,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, d,
          GST_SHARED_MATRIX_DTYPE_FLOAT32,
          &(GstSharedMatrixPolicies) { GST_SHARED_MATRIX_INVALID_INDEX_DROP,
              GST_SHARED_MATRIX_NON_FINITE_APPLY }, &res, &err));
  fail_unless_equals_uint64 (res.rows_applied, 2);
  fail_unless_equals_uint64 (res.rows_dropped_invalid, 2);
  fail_unless_equals_uint64 (res.version, 1);
  got = get_f32 (m);
  for (i = 0; i < 10; i++) {
    float expect = i == 1 ? 1.0f : i == 3 ? 4.0f : 0.0f;
    fail_unless (got[2 * i] == expect && got[2 * i + 1] == expect,
        "row %u: %g %g, expected %g", i, got[2 * i], got[2 * i + 1], expect);
  }
  g_free (got);
  gst_object_unref (m);
}

GST_END_TEST;

GST_START_TEST (test_non_finite_policies)
{
  GstSharedMatrix *m = new_matrix (4, 2, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  gint64 idx[] = { 0, 1, 2 };
  float d[] = { 1, 1, NAN, 5, 7, INFINITY };
  GstSharedMatrixUpdateResult res;
  GError *err = NULL;
  float *got;

  fail_if (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, idx, 3,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, d,
          GST_SHARED_MATRIX_DTYPE_FLOAT32,
          &(GstSharedMatrixPolicies) { GST_SHARED_MATRIX_INVALID_INDEX_ERROR,
              GST_SHARED_MATRIX_NON_FINITE_ERROR }, &res, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NON_FINITE));
  fail_unless (strstr (err->message, "Delta row 1") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  got = get_f32 (m);
  fail_unless (got[0] == 0.0f && got[1] == 0.0f);
  g_free (got);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 0);

  fail_unless (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, idx, 3,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, d,
          GST_SHARED_MATRIX_DTYPE_FLOAT32,
          &(GstSharedMatrixPolicies) { GST_SHARED_MATRIX_INVALID_INDEX_ERROR,
              GST_SHARED_MATRIX_NON_FINITE_DROP }, &res, &err));
  fail_unless_equals_uint64 (res.rows_applied, 1);
  fail_unless_equals_uint64 (res.rows_dropped_non_finite, 2);
  got = get_f32 (m);
  fail_unless (got[0] == 1.0f && got[1] == 1.0f);
  fail_unless (got[2] == 0.0f && got[3] == 0.0f);
  fail_unless (got[4] == 0.0f && got[5] == 0.0f);
  g_free (got);

  fail_unless (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, idx, 3,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, d,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, &res, &err));
  fail_unless_equals_uint64 (res.rows_applied, 3);
  got = get_f32 (m);
  fail_unless (got[0] == 2.0f && isnan (got[2]) && got[3] == 5.0f);
  fail_unless (got[4] == 7.0f && isinf (got[5]));
  g_free (got);
  gst_object_unref (m);
}

GST_END_TEST;

/* float16 and bfloat16 storage: values round to nearest even */
GST_START_TEST (test_narrow_storage_rounding)
{
  GstSharedMatrix *h = new_matrix (1, 4, GST_SHARED_MATRIX_DTYPE_FLOAT16);
  GstSharedMatrix *b = new_matrix (1, 4, GST_SHARED_MATRIX_DTYPE_BFLOAT16);
  gint32 idx = 0;
  /* 1 + 2^-11 is halfway between two halfs: rounds to even (1.0);
   * 1 + 3 * 2^-11 rounds up to 1 + 2^-9; 65520 overflows to inf;
   * 2^-25 is half the smallest subnormal: rounds to 0 */
  double hd[] = { 1.0 + 1.0 / 2048, 1.0 + 3.0 / 2048, 65520.0,
    1.0 / 33554432.0
  };
  guint16 hexpect[] = { 0x3c00, 0x3c02, 0x7c00, 0x0000 };
  /* bfloat16 has 7 mantissa bits: 1 + 2^-8 is a tie (to 1.0), 1 + 3 * 2^-8
   * rounds up to 1 + 2^-6 */
  double bd[] = { 1.0 + 1.0 / 256, 1.0 + 3.0 / 256, -2.0, 3.0e38 };
  guint16 bexpect[] = { 0x3f80, 0x3f82, 0xc000, 0x7f62 };
  const guint16 *got;
  GBytes *v;
  guint i;

  fail_unless (gst_shared_matrix_update (h, GST_SHARED_MATRIX_OP_SET, &idx, 1,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, hd,
          GST_SHARED_MATRIX_DTYPE_FLOAT64, NULL, NULL, NULL));
  v = gst_shared_matrix_get_value (h);
  got = g_bytes_get_data (v, NULL);
  for (i = 0; i < 4; i++)
    fail_unless_equals_int_hex (got[i], hexpect[i]);
  g_bytes_unref (v);

  fail_unless (gst_shared_matrix_update (b, GST_SHARED_MATRIX_OP_SET, &idx, 1,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, bd,
          GST_SHARED_MATRIX_DTYPE_FLOAT64, NULL, NULL, NULL));
  v = gst_shared_matrix_get_value (b);
  got = g_bytes_get_data (v, NULL);
  for (i = 0; i < 4; i++)
    fail_unless_equals_int_hex (got[i], bexpect[i]);
  g_bytes_unref (v);

  gst_object_unref (h);
  gst_object_unref (b);
}

GST_END_TEST;

GST_START_TEST (test_parse_update_sizes)
{
  GstSharedMatrix *m = new_matrix (5, 3, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  guint8 buf[64] = { 0, };
  gconstpointer idx, deltas;
  GError *err = NULL;
  gsize n = 99;

  /* int32 + 3 float64 = 28-byte records */
  fail_unless (gst_shared_matrix_parse_update (m,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, GST_SHARED_MATRIX_DTYPE_FLOAT64,
          buf, 56, &idx, &deltas, &n, &err));
  fail_unless_equals_uint64 (n, 2);
  fail_unless ((const guint8 *) deltas == buf + 8);

  fail_unless (gst_shared_matrix_parse_update (m,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, GST_SHARED_MATRIX_DTYPE_FLOAT64,
          buf, 0, &idx, &deltas, &n, &err));
  fail_unless_equals_uint64 (n, 0);

  fail_if (gst_shared_matrix_parse_update (m,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, GST_SHARED_MATRIX_DTYPE_FLOAT64,
          buf, 57, &idx, &deltas, &n, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_SIZE));
  fail_unless (strstr (err->message, "57 bytes") != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "28-byte records") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  gst_object_unref (m);
}

GST_END_TEST;

GST_START_TEST (test_bad_shapes_and_backends)
{
  GError *err = NULL;

  fail_if (gst_shared_matrix_new (0, 3, GST_SHARED_MATRIX_DTYPE_FLOAT32,
          GST_SHARED_MATRIX_BACKEND_CPU, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT));
  g_clear_error (&err);

  /* more memory than any machine has: a clear error, not an abort */
  fail_if (gst_shared_matrix_new (G_GUINT64_CONSTANT (1) << 40, 1 << 20,
          GST_SHARED_MATRIX_DTYPE_FLOAT64, GST_SHARED_MATRIX_BACKEND_CPU,
          &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY), "%s", err->message);
  g_clear_error (&err);
  fail_if (gst_shared_matrix_new (G_GUINT64_CONSTANT (1) << 36, 1 << 10,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_BACKEND_CPU,
          &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY), "%s", err->message);
  fail_unless (strstr (err->message, "bytes") != NULL, "%s", err->message);
  g_clear_error (&err);

  fail_if (gst_shared_matrix_new (4, 4, 17, GST_SHARED_MATRIX_BACKEND_CPU,
          &err));
  fail_unless (strstr (err->message, "float32") != NULL, "%s", err->message);
  g_clear_error (&err);
}

GST_END_TEST;

GST_START_TEST (test_set_value_and_gather)
{
  GstSharedMatrix *m = new_matrix (6, 2, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  float data[12];
  gint64 idx[] = { 5, 0, 5 };
  gint64 bad[] = { 2, 6 };
  GBytes *ib, *rows, *small;
  const float *g;
  GError *err = NULL;
  guint i;

  for (i = 0; i < 12; i++)
    data[i] = i * 1.5f;
  set_f32 (m, data);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 1);

  small = g_bytes_new (data, 8);
  fail_if (gst_shared_matrix_set_value (m, small, &err));
  fail_unless (strstr (err->message, "8 bytes") != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "48") != NULL, "%s", err->message);
  g_clear_error (&err);
  g_bytes_unref (small);

  ib = g_bytes_new (idx, sizeof idx);
  rows = gst_shared_matrix_gather_bytes (m, ib,
      GST_SHARED_MATRIX_INDEX_TYPE_INT64, &err);
  fail_unless (rows != NULL);
  fail_unless_equals_uint64 (g_bytes_get_size (rows), 3 * 2 * 4);
  g = g_bytes_get_data (rows, NULL);
  fail_unless (g[0] == data[10] && g[1] == data[11]);
  fail_unless (g[2] == data[0] && g[3] == data[1]);
  fail_unless (g[4] == data[10] && g[5] == data[11]);
  g_bytes_unref (rows);
  g_bytes_unref (ib);

  ib = g_bytes_new (bad, sizeof bad);
  fail_if (gst_shared_matrix_gather_bytes (m, ib,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, &err));
  fail_unless (strstr (err->message, "Row index 6") != NULL, "%s",
      err->message);
  g_clear_error (&err);

  /* the zero policy: a zero row for the invalid id, counted, and the
   * version the read saw */
  {
    guint64 version = 0, zeroed = 0;
    float out[4] = { 9, 9, 9, 9 };

    rows = gst_shared_matrix_gather_bytes_full (m, ib,
        GST_SHARED_MATRIX_INDEX_TYPE_INT64,
        GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO, &version, &zeroed, &err);
    fail_unless (rows != NULL);
    fail_unless_equals_uint64 (version, 1);
    fail_unless_equals_uint64 (zeroed, 1);
    g = g_bytes_get_data (rows, NULL);
    fail_unless (g[0] == data[4] && g[1] == data[5]);
    fail_unless (g[2] == 0.0f && g[3] == 0.0f);
    g_bytes_unref (rows);

    /* into the caller's memory; a wrong size is an error naming both */
    fail_unless (gst_shared_matrix_gather (m, bad, 2,
            GST_SHARED_MATRIX_INDEX_TYPE_INT64,
            GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO, out, sizeof out,
            NULL, NULL, &err));
    fail_unless (out[0] == data[4] && out[1] == data[5] && out[2] == 0.0f);
    fail_if (gst_shared_matrix_gather (m, bad, 2,
            GST_SHARED_MATRIX_INDEX_TYPE_INT64,
            GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO, out, 12, NULL, NULL,
            &err));
    fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
            GST_SHARED_MATRIX_ERROR_SIZE));
    fail_unless (strstr (err->message, "12 bytes") != NULL, "%s",
        err->message);
    g_clear_error (&err);
    /* an empty read is valid */
    fail_unless (gst_shared_matrix_gather (m, NULL, 0,
            GST_SHARED_MATRIX_INDEX_TYPE_INT32,
            GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR, NULL, 0, &version,
            &zeroed, &err));
    fail_unless_equals_uint64 (zeroed, 0);
  }
  g_bytes_unref (ib);
  gst_object_unref (m);
}

GST_END_TEST;

/* Readers never see half an update: every update adds 1 to all rows at
 * once, so any consistent copy has all elements equal. */
typedef struct
{
  GstSharedMatrix *m;
  volatile gint stop;
  gint torn;
  gint reads;
} AtomicityCtx;

static gpointer
reader_thread (gpointer data)
{
  AtomicityCtx *ctx = data;

  while (!g_atomic_int_get (&ctx->stop)) {
    GBytes *v = gst_shared_matrix_get_value (ctx->m);
    gsize size, i;
    const float *f = g_bytes_get_data (v, &size);

    for (i = 1; i < size / 4; i++)
      if (f[i] != f[0]) {
        g_atomic_int_inc (&ctx->torn);
        break;
      }
    g_bytes_unref (v);
    g_atomic_int_inc (&ctx->reads);
  }
  return NULL;
}

GST_START_TEST (test_updates_atomic_for_readers)
{
  const guint rows = 2000, cols = 32;
  AtomicityCtx ctx = { 0, };
  gint32 *idx = g_new (gint32, rows);
  float *ones = g_new (float, (gsize) rows * cols);
  GThread *reader;
  guint i;

  ctx.m = new_matrix (rows, cols, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  for (i = 0; i < rows; i++)
    idx[i] = rows - 1 - i;
  for (i = 0; i < rows * cols; i++)
    ones[i] = 1.0f;

  reader = g_thread_new ("reader", reader_thread, &ctx);
  for (i = 0; i < 300 || g_atomic_int_get (&ctx.reads) < 20; i++)
    fail_unless (gst_shared_matrix_update (ctx.m, GST_SHARED_MATRIX_OP_ADD,
            idx, rows, GST_SHARED_MATRIX_INDEX_TYPE_INT32, ones,
            GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL));
  g_atomic_int_set (&ctx.stop, 1);
  g_thread_join (reader);

  fail_unless_equals_int (ctx.torn, 0);
  fail_unless (ctx.reads >= 20);
  g_free (idx);
  g_free (ones);
  gst_object_unref (ctx.m);
}

GST_END_TEST;

GST_START_TEST (test_cuda_backend_unavailable)
{
  GError *err = NULL;
  GstSharedMatrix *m;
  const gchar *why;

  /* GST_SHARED_MATRIX_FORCE_CPU makes CUDA unusable in any build: backend
   * cuda is an error that says why, auto serves on the CPU */
  g_setenv ("GST_SHARED_MATRIX_FORCE_CPU", "1", TRUE);
  fail_if (gst_shared_matrix_new (4, 4, GST_SHARED_MATRIX_DTYPE_FLOAT32,
          GST_SHARED_MATRIX_BACKEND_CUDA, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_BACKEND));
  fail_unless (strstr (err->message, "CUDA") != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "has no CUDA support") != NULL
      || strstr (err->message, "GST_SHARED_MATRIX_FORCE_CPU") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  m = gst_shared_matrix_new (4, 4, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_AUTO, &err);
  fail_unless (m != NULL);
  fail_unless_equals_int (gst_shared_matrix_get_backend (m),
      GST_SHARED_MATRIX_BACKEND_CPU);
  gst_object_unref (m);
  g_unsetenv ("GST_SHARED_MATRIX_FORCE_CPU");

  /* without it: a usable GPU serves cuda and auto; otherwise the error
   * says why (no CUDA in this build, or why no device is usable: no
   * driver, no device, which CUDA error) and auto serves on the CPU */
  m = gst_shared_matrix_new (4, 4, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_CUDA, &err);
  if (m != NULL) {
    fail_unless_equals_int (gst_shared_matrix_get_backend (m),
        GST_SHARED_MATRIX_BACKEND_CUDA);
    gst_object_unref (m);
    m = gst_shared_matrix_new (4, 4, GST_SHARED_MATRIX_DTYPE_FLOAT32,
        GST_SHARED_MATRIX_BACKEND_AUTO, &err);
    fail_unless_equals_int (gst_shared_matrix_get_backend (m),
        GST_SHARED_MATRIX_BACKEND_CUDA);
    gst_object_unref (m);
    return;
  }
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_BACKEND));
  fail_unless (strstr (err->message, "CUDA") != NULL, "%s", err->message);
  why = strstr (err->message, "no GPU is usable: ");
  fail_unless (strstr (err->message, "has no CUDA support") != NULL
      || (why != NULL && strlen (why) > strlen ("no GPU is usable: ") + 10),
      "the error does not say why: %s", err->message);
  g_clear_error (&err);

  m = gst_shared_matrix_new (4, 4, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_AUTO, &err);
  fail_unless (m != NULL);
  fail_unless_equals_int (gst_shared_matrix_get_backend (m),
      GST_SHARED_MATRIX_BACKEND_CPU);
  gst_object_unref (m);
}

GST_END_TEST;

static Suite *
library_suite (void)
{
  Suite *s = suite_create ("library");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_ops_f32_against_naive_loop);
  tcase_add_test (tc, test_threaded_equals_sequential);
  tcase_add_test (tc, test_update_many_runs);
  tcase_add_test (tc, test_invalid_index_policies);
  tcase_add_test (tc, test_non_finite_policies);
  tcase_add_test (tc, test_narrow_storage_rounding);
  tcase_add_test (tc, test_parse_update_sizes);
  tcase_add_test (tc, test_bad_shapes_and_backends);
  tcase_add_test (tc, test_set_value_and_gather);
  tcase_add_test (tc, test_updates_atomic_for_readers);
  tcase_add_test (tc, test_cuda_backend_unavailable);
  return s;
}

GST_CHECK_MAIN (library);
