/* gst-sharedmatrix: matrixlookup element tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The element is driven through GstHarness. Every output is compared with
 * rows sliced out of the matrix's get_value () copy by hand (not with the
 * library's gather), and PTS / OFFSET / counters with the values the
 * pushed requests imply.
 */
#include <string.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "element-helpers.h"

#include "gstsharedmatrix.h"
#include "gstsharedmatrixregistry.h"
#include "random.h"
#include "reference.h"

#define ROWS 10
#define COLS 3

/* A ROWS x COLS float32 matrix with C[r][c] = 10 r + c, version 1. */
static GstSharedMatrix *
new_matrix (GstSharedMatrixDType dtype, guint64 * seed)
{
  gsize size = (gsize) ROWS * COLS * test_ref_dtype_size (dtype), i;
  guint8 *data = g_malloc (size);
  GstSharedMatrix *m;
  GBytes *b;

  m = gst_shared_matrix_new (ROWS, COLS, dtype, GST_SHARED_MATRIX_BACKEND_CPU,
      NULL);
  fail_unless (m != NULL);
  if (seed)
    test_rng_fill (data, (gsize) ROWS * COLS, dtype, seed, TRUE);
  else
    for (i = 0; i < (gsize) ROWS * COLS; i++)
      test_ref_store (data + i * test_ref_dtype_size (dtype), dtype,
          10.0 * (i / COLS) + i % COLS);
  b = g_bytes_new_take (data, size);
  fail_unless (gst_shared_matrix_set_value (m, b, NULL));
  g_bytes_unref (b);
  return m;
}

static GstHarness *
harness_for (GstElement * el, GstBus ** bus, const gchar * index_type)
{
  GstHarness *h;
  gchar *caps;

  *bus = gst_bus_new ();
  gst_element_set_bus (el, *bus);
  h = gst_harness_new_with_element (el, "sink", "src");
  caps = g_strdup_printf ("application/x-matrix-ids, index-type=%s",
      index_type);
  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
  return h;
}

static GstElement *
new_lookup (GstSharedMatrix * m)
{
  GstElement *el = gst_element_factory_make ("matrixlookup", NULL);

  fail_unless (el != NULL, "matrixlookup element not found");
  if (m)
    g_object_set (el, "matrix", m, NULL);
  return el;
}

static GstBuffer *
make_request (const gint64 * ids, guint n, gboolean int64, GstClockTime pts,
    guint64 offset)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, n * (int64 ? 8 : 4), NULL);
  guint i;

  for (i = 0; i < n; i++) {
    gint32 id32 = (gint32) ids[i];

    gst_buffer_fill (buf, i * (int64 ? 8 : 4), int64 ? (gpointer) & ids[i] :
        (gpointer) & id32, int64 ? 8 : 4);
  }
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_OFFSET (buf) = offset;
  return buf;
}

/* @out holds the ids of the request then, for each, the row of @matrix
 * (a get_value () copy) or zeros for an invalid id. */
static void
assert_rows (GstBuffer * out, const gint64 * ids, guint n, gboolean int64,
    GBytes * matrix, GstSharedMatrixDType dtype)
{
  gsize isize = int64 ? 8 : 4, row = (gsize) COLS * test_ref_dtype_size (dtype);
  const guint8 *c = g_bytes_get_data (matrix, NULL);
  guint8 *zero = g_malloc0 (row);
  GstMapInfo map;
  guint i;

  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, n * (isize + row));
  for (i = 0; i < n; i++) {
    const guint8 *expect = ids[i] >= 0 && ids[i] < ROWS ?
        c + ids[i] * row : zero;

    fail_unless_equals_int64 (test_ref_index (map.data,
            int64 ? GST_SHARED_MATRIX_INDEX_TYPE_INT64 :
            GST_SHARED_MATRIX_INDEX_TYPE_INT32, i), ids[i]);
    fail_unless (memcmp (map.data + n * isize + i * row, expect, row) == 0,
        "row %u (id %" G_GINT64_FORMAT ") differs", i, ids[i]);
  }
  gst_buffer_unmap (out, &map);
  g_free (zero);
}

static void
assert_counters (GstElement * el, guint64 requests, guint64 read,
    guint64 zeroed)
{
  guint64 r, rr, z;

  g_object_get (el, "requests", &r, "rows-read", &rr, "rows-zeroed", &z,
      NULL);
  fail_unless_equals_uint64 (r, requests);
  fail_unless_equals_uint64 (rr, read);
  fail_unless_equals_uint64 (z, zeroed);
}

/* ---- tests --------------------------------------------------------------- */

/* Ids (with duplicates) come back with their rows; PTS is the request's,
 * OFFSET the matrix version at the read; the caps name the matrix dtype,
 * its cols and the request's index type. */
GST_START_TEST (test_lookup_rows_pts_offset)
{
  GstSharedMatrix *m = new_matrix (GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL);
  GstElement *el = new_lookup (m);
  gint64 ids[] = { 3, 0, 3, 9 };
  gint32 idx = 3;
  float delta[COLS] = { 1, 1, 1 };
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, "int32");
  GstBuffer *out;
  GstCaps *caps, *expect;
  GBytes *value;

  fail_unless_equals_int (gst_harness_push (h, make_request (ids, 4, FALSE,
              42 * GST_MSECOND, 7)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  value = gst_shared_matrix_get_value (m);
  assert_rows (out, ids, 4, FALSE, value, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  g_bytes_unref (value);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 42 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 1);
  gst_buffer_unref (out);

  caps = gst_pad_get_current_caps (h->sinkpad);
  expect = gst_caps_from_string ("application/x-matrix-update, "
      "dtype=float32, index-type=int32, cols=3");
  fail_unless (gst_caps_is_equal (caps, expect), "caps %" GST_PTR_FORMAT,
      caps);
  gst_caps_unref (caps);
  gst_caps_unref (expect);

  /* an update in between: the next read shows it and its version */
  fail_unless (gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, &idx, 1,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, delta,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL));
  fail_unless_equals_int (gst_harness_push (h, make_request (ids, 4, FALSE,
              43 * GST_MSECOND, 8)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  value = gst_shared_matrix_get_value (m);
  assert_rows (out, ids, 4, FALSE, value, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  g_bytes_unref (value);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 43 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 2);
  {
    GstMapInfo map;

    gst_buffer_map (out, &map, GST_MAP_READ);
    /* row 3 was 30, 31, 32 and had 1 added */
    fail_unless (((float *) (map.data + 16))[0] == 31.0f);
    gst_buffer_unmap (out, &map);
  }
  gst_buffer_unref (out);

  /* an empty request: an empty answer, still stamped */
  fail_unless_equals_int (gst_harness_push (h, make_request (NULL, 0, FALSE,
              44 * GST_MSECOND, 9)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (gst_buffer_get_size (out), 0);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 44 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 2);
  gst_buffer_unref (out);

  assert_counters (el, 3, 8, 0);
  test_teardown_with_bus (h, el, bus);
  gst_object_unref (m);
}

GST_END_TEST;

/* Every dtype, both index types, random rows: the bytes of the rows. */
GST_START_TEST (test_lookup_dtypes_index_types)
{
  GstSharedMatrixDType dtype = __i__ / 2;
  gboolean int64 = __i__ % 2;
  guint64 seed = 11 + __i__;
  GstSharedMatrix *m = new_matrix (dtype, &seed);
  GstElement *el = new_lookup (m);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, int64 ? "int64" : "int32");
  GBytes *value = gst_shared_matrix_get_value (m);
  gint64 ids[64];
  GstBuffer *out;
  GstCaps *caps;
  guint i, k;

  for (k = 0; k < 5; k++) {
    for (i = 0; i < 64; i++)
      ids[i] = (gint64) test_rng_below (&seed, ROWS);
    fail_unless_equals_int (gst_harness_push (h, make_request (ids, 64,
                int64, k, k)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    assert_rows (out, ids, 64, int64, value, dtype);
    gst_buffer_unref (out);
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless_equals_string (gst_structure_get_string
      (gst_caps_get_structure (caps, 0), "dtype"), test_ref_dtype_name (dtype));
  fail_unless_equals_string (gst_structure_get_string
      (gst_caps_get_structure (caps, 0), "index-type"),
      int64 ? "int64" : "int32");
  gst_caps_unref (caps);
  assert_counters (el, 5, 5 * 64, 0);
  g_bytes_unref (value);
  test_teardown_with_bus (h, el, bus);
  gst_object_unref (m);
}

GST_END_TEST;

/* invalid-index=error: an error naming the id, nothing pushed; zero: a
 * zero row, counted. */
GST_START_TEST (test_lookup_invalid_ids)
{
  GstSharedMatrix *m = new_matrix (GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL);
  GstElement *el = new_lookup (m);
  gint64 ids[] = { 1, -1, ROWS, 2, G_MAXINT64 };
  GBytes *value = gst_shared_matrix_get_value (m);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, "int64");
  GstBuffer *out;
  gchar *text;

  fail_unless_equals_int (gst_harness_push (h, make_request (ids, 5, TRUE, 0,
              0)), GST_FLOW_ERROR);
  text = test_pop_error_text (bus);
  fail_unless (strstr (text, "Row index -1") != NULL, "%s", text);
  fail_unless (strstr (text, "invalid-index=zero") != NULL, "%s", text);
  g_free (text);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  assert_counters (el, 0, 0, 0);
  test_teardown_with_bus (h, el, bus);

  el = new_lookup (m);
  g_object_set (el, "invalid-index", 1, NULL);
  h = harness_for (el, &bus, "int64");
  fail_unless_equals_int (gst_harness_push (h, make_request (ids, 5, TRUE, 0,
              0)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  assert_rows (out, ids, 5, TRUE, value, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  gst_buffer_unref (out);
  assert_counters (el, 1, 2, 3);
  test_teardown_with_bus (h, el, bus);
  g_bytes_unref (value);
  gst_object_unref (m);
}

GST_END_TEST;

/* A request that is not whole ids is an error naming both sizes. */
GST_START_TEST (test_lookup_malformed_request)
{
  GstSharedMatrix *m = new_matrix (GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL);
  GstElement *el = new_lookup (m);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, "int64");
  gchar *text;

  fail_unless_equals_int (gst_harness_push (h,
          gst_buffer_new_allocate (NULL, 12, NULL)), GST_FLOW_ERROR);
  text = test_pop_error_text (bus);
  fail_unless (strstr (text, "12 bytes") != NULL, "%s", text);
  fail_unless (strstr (text, "8-byte int64") != NULL, "%s", text);
  g_free (text);
  test_teardown_with_bus (h, el, bus);
  gst_object_unref (m);
}

GST_END_TEST;

/* By name: found at the first caps even when registered after start; a
 * name nobody registered is an error at the first caps naming it; no
 * matrix and no name fails the start. */
GST_START_TEST (test_lookup_by_name_and_missing)
{
  GstSharedMatrix *m = new_matrix (GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL);
  GstElement *el = gst_element_factory_make ("matrixlookup", NULL);
  GstSharedMatrix *in_use = NULL;
  gint64 ids[] = { 4 };
  GBytes *value = gst_shared_matrix_get_value (m);
  GstHarness *h;
  GstBus *bus;
  GstBuffer *out;
  gchar *text;

  g_object_set (el, "matrix-name", "lookup-test-late", NULL);
  bus = gst_bus_new ();
  gst_element_set_bus (el, bus);
  h = gst_harness_new_with_element (el, "sink", "src");
  /* started with no such matrix: registered before the first caps */
  fail_unless (gst_shared_matrix_register (m, "lookup-test-late", NULL));
  gst_harness_set_src_caps_str (h, "application/x-matrix-ids, "
      "index-type=int64");
  fail_unless_equals_int (gst_harness_push (h, make_request (ids, 1, TRUE, 0,
              0)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  assert_rows (out, ids, 1, TRUE, value, GST_SHARED_MATRIX_DTYPE_FLOAT32);
  gst_buffer_unref (out);
  g_object_get (el, "matrix", &in_use, NULL);
  fail_unless (in_use == m);
  gst_object_unref (in_use);
  test_teardown_with_bus (h, el, bus);

  el = gst_element_factory_make ("matrixlookup", NULL);
  g_object_set (el, "matrix-name", "lookup-test-nobody", NULL);
  h = harness_for (el, &bus, "int32");
  text = test_pop_error_text (bus);
  fail_unless (strstr (text, "'lookup-test-nobody'") != NULL, "%s", text);
  fail_unless (strstr (text, "never creates") != NULL, "%s", text);
  g_free (text);
  fail_unless_equals_int (gst_harness_push (h, make_request (ids, 1, FALSE,
              0, 0)), GST_FLOW_NOT_NEGOTIATED);
  test_teardown_with_bus (h, el, bus);

  el = gst_element_factory_make ("matrixlookup", NULL);
  bus = gst_bus_new ();
  gst_element_set_bus (el, bus);
  fail_unless_equals_int (gst_element_set_state (el, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  text = test_pop_error_text (bus);
  fail_unless (strstr (text, "matrix-name") != NULL, "%s", text);
  g_free (text);
  gst_element_set_state (el, GST_STATE_NULL);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);

  g_bytes_unref (value);
  gst_object_unref (m);
}

GST_END_TEST;

/* A list of K requests gives the same K outputs (bytes, PTS, OFFSET) and
 * counters as K single buffers. */
GST_START_TEST (test_lookup_buffer_list)
{
  GstSharedMatrix *m = new_matrix (GST_SHARED_MATRIX_DTYPE_FLOAT64, NULL);
  GstElement *el_single = new_lookup (m), *el_list = new_lookup (m);
  GstBufferList *list = gst_buffer_list_new ();
  GstBus *bus_single, *bus_list;
  GstHarness *hs, *hl;
  guint64 seed = 5;
  guint k, i;

  g_object_set (el_list, "invalid-index", 1, NULL);
  g_object_set (el_single, "invalid-index", 1, NULL);
  hs = harness_for (el_single, &bus_single, "int32");
  hl = harness_for (el_list, &bus_list, "int32");
  for (k = 0; k < 9; k++) {
    gint64 ids[7];
    guint n = k % 4 == 3 ? 0 : 7;

    for (i = 0; i < n; i++)
      ids[i] = (gint64) test_rng_below (&seed, ROWS + 2) - 1;
    fail_unless_equals_int (gst_harness_push (hs, make_request (ids, n, FALSE,
                k * GST_SECOND, k)), GST_FLOW_OK);
    gst_buffer_list_add (list, make_request (ids, n, FALSE, k * GST_SECOND,
            k));
  }
  fail_unless_equals_int (gst_pad_push_list (hl->srcpad, list), GST_FLOW_OK);
  for (k = 0; k < 9; k++) {
    GstBuffer *a = gst_harness_pull (hs), *b = gst_harness_pull (hl);

    fail_unless (gst_buffer_get_size (a) == gst_buffer_get_size (b));
    {
      GstMapInfo ma, mb;

      gst_buffer_map (a, &ma, GST_MAP_READ);
      gst_buffer_map (b, &mb, GST_MAP_READ);
      fail_unless (ma.size == 0 || memcmp (ma.data, mb.data, ma.size) == 0);
      gst_buffer_unmap (a, &ma);
      gst_buffer_unmap (b, &mb);
    }
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), k * GST_SECOND);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (a), GST_BUFFER_PTS (b));
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (a), GST_BUFFER_OFFSET (b));
    gst_buffer_unref (a);
    gst_buffer_unref (b);
  }
  {
    guint64 a[3], b[3];

    g_object_get (el_single, "requests", &a[0], "rows-read", &a[1],
        "rows-zeroed", &a[2], NULL);
    g_object_get (el_list, "requests", &b[0], "rows-read", &b[1],
        "rows-zeroed", &b[2], NULL);
    fail_unless_equals_uint64 (a[0], 9);
    fail_unless_equals_uint64 (b[0], a[0]);
    fail_unless_equals_uint64 (b[1], a[1]);
    fail_unless_equals_uint64 (b[2], a[2]);
    fail_unless (a[2] > 0);
  }
  test_teardown_with_bus (hs, el_single, bus_single);
  test_teardown_with_bus (hl, el_list, bus_list);
  gst_object_unref (m);
}

GST_END_TEST;

static Suite *
matrixlookup_suite (void)
{
  Suite *s = suite_create ("matrixlookup");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_lookup_rows_pts_offset);
  tcase_add_loop_test (tc, test_lookup_dtypes_index_types, 0, 8);
  tcase_add_test (tc, test_lookup_invalid_ids);
  tcase_add_test (tc, test_lookup_malformed_request);
  tcase_add_test (tc, test_lookup_by_name_and_missing);
  tcase_add_test (tc, test_lookup_buffer_list);
  return s;
}

GST_CHECK_MAIN (matrixlookup);
