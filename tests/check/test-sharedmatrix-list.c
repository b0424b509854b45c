/* gst-sharedmatrix: sharedmatrix with buffer lists
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A list of K updates must do exactly what K single buffers do: the same
 * matrix bytes and version, counters, last-offset, snapshots (count, PTS,
 * OFFSET, bytes), checkpoints, and the same skipping of what a restored
 * checkpoint holds. Two elements, one fed buffer by buffer, one fed the
 * same buffers as one list, are compared with each other and with the
 * counts the updates imply.
 */
#include <string.h>
#include <unistd.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include "element-helpers.h"
#include "gstsharedmatrix.h"
#include "random.h"

#define ROWS 50
#define COLS 4
#define K 10

/* Update k: 3 rows (a duplicate, and in update 4 an out-of-range row that
 * invalid-index=drop skips), PTS k seconds, OFFSET @first_offset + k. */
static GstBuffer *
make_update (guint k, guint64 first_offset, guint64 * seed)
{
  gint32 idx[3];
  float d[3 * COLS];
  GstBuffer *buf = gst_buffer_new_allocate (NULL, sizeof idx + sizeof d,
      NULL);
  guint i;

  idx[0] = (gint32) test_rng_below (seed, ROWS);
  idx[1] = k == 4 ? ROWS + 3 : (gint32) test_rng_below (seed, ROWS);
  idx[2] = idx[0];
  for (i = 0; i < 3 * COLS; i++)
    d[i] = (float) test_rng_uniform (seed, -1, 1);
  gst_buffer_fill (buf, 0, idx, sizeof idx);
  gst_buffer_fill (buf, sizeof idx, d, sizeof d);
  GST_BUFFER_PTS (buf) = k * GST_SECOND;
  GST_BUFFER_OFFSET (buf) = first_offset + k;
  return buf;
}

/* sharedmatrix op=add with @invalid_index, snapshot-every=@snapshot_every,
 * checkpoint-every=3 when @checkpoint is set. */
static GstHarness *
start_full (const gchar * checkpoint, gint invalid_index, guint snapshot_every,
    GstElement ** el, GstBus ** bus)
{
  GstHarness *h;
  gchar *caps;

  *el = gst_element_factory_make ("sharedmatrix", NULL);
  fail_unless (*el != NULL);
  g_object_set (*el, "rows", (guint64) ROWS, "cols", COLS, "op", 1,
      "invalid-index", invalid_index, "snapshot-every", snapshot_every,
      "snapshot-on-eos", FALSE, "checkpoint-location", checkpoint,
      "checkpoint-every", checkpoint ? 3 : 0, NULL);
  *bus = gst_bus_new ();
  gst_element_set_bus (*el, *bus);
  h = gst_harness_new_with_element (*el, "sink", "src");
  caps = g_strdup_printf ("application/x-matrix-update, dtype=float32, "
      "index-type=int32, cols=%u", COLS);
  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
  return h;
}

static GstHarness *
start (const gchar * checkpoint, GstElement ** el, GstBus ** bus)
{
  return start_full (checkpoint, 1, 2, el, bus);
}

/* Feeds updates [0, @to) of the stream: @list as one list, else one by
 * one; returns the last flow return. */
static GstFlowReturn
feed (GstHarness * h, gboolean list, guint to,
    guint64 first_offset, GstBuffer * (*make) (guint, guint64, guint64 *))
{
  GstBufferList *l = gst_buffer_list_new ();
  GstFlowReturn ret = GST_FLOW_OK;
  guint64 seed = 99;
  guint k;

  for (k = 0; k < to; k++) {
    GstBuffer *buf = make (k, first_offset, &seed);

    if (list) {
      /* a macro ending in a semicolon */
      gst_buffer_list_add (l, buf);
    } else if ((ret = gst_harness_push (h, buf)) != GST_FLOW_OK) {
      break;
    }
  }
  if (list)
    return gst_pad_push_list (h->srcpad, l);
  gst_buffer_list_unref (l);
  return ret;
}

static void
assert_same_counters (GstElement * a, GstElement * b, guint64 applied,
    guint64 skipped)
{
  static const gchar *names[] = { "version", "updates-applied",
    "rows-applied", "rows-dropped", "last-offset", "updates-skipped"
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    guint64 va, vb;

    g_object_get (a, names[i], &va, NULL);
    g_object_get (b, names[i], &vb, NULL);
    fail_unless_equals_uint64 (vb, va);
    if (i == 1)
      fail_unless_equals_uint64 (va, applied);
    if (i == 5)
      fail_unless_equals_uint64 (va, skipped);
  }
}

static void
assert_same_matrix (GstElement * a, GstElement * b)
{
  GstSharedMatrix *ma, *mb;
  GBytes *va, *vb;

  g_object_get (a, "matrix", &ma, NULL);
  g_object_get (b, "matrix", &mb, NULL);
  fail_unless (ma != mb);
  va = gst_shared_matrix_get_value (ma);
  vb = gst_shared_matrix_get_value (mb);
  fail_unless (g_bytes_equal (va, vb), "matrices differ");
  g_bytes_unref (va);
  g_bytes_unref (vb);
  gst_object_unref (ma);
  gst_object_unref (mb);
}

/* The snapshots both pushed: same count (@expect), PTS, OFFSET, bytes. */
static void
assert_same_snapshots (GstHarness * ha, GstHarness * hb, guint expect)
{
  guint i;

  fail_unless_equals_int (gst_harness_buffers_in_queue (ha), expect);
  fail_unless_equals_int (gst_harness_buffers_in_queue (hb), expect);
  for (i = 0; i < expect; i++) {
    GstBuffer *a = gst_harness_pull (ha), *b = gst_harness_pull (hb);
    GstMapInfo ma, mb;

    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), GST_BUFFER_PTS (a));
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), GST_BUFFER_OFFSET (a));
    gst_buffer_map (a, &ma, GST_MAP_READ);
    gst_buffer_map (b, &mb, GST_MAP_READ);
    fail_unless (ma.size == mb.size && memcmp (ma.data, mb.data,
            ma.size) == 0, "snapshot %u differs", i);
    gst_buffer_unmap (a, &ma);
    gst_buffer_unmap (b, &mb);
    gst_buffer_unref (a);
    gst_buffer_unref (b);
  }
}

static gboolean
same_file (const gchar * a, const gchar * b)
{
  gchar *ca, *cb;
  gsize la, lb;
  gboolean same;

  fail_unless (g_file_get_contents (a, &ca, &la, NULL));
  fail_unless (g_file_get_contents (b, &cb, &lb, NULL));
  same = la == lb && memcmp (ca, cb, la) == 0;
  g_free (ca);
  g_free (cb);
  return same;
}

/* A temporary folder for the two elements' checkpoints. */
typedef struct
{
  gchar *dir, *a, *b;
} Paths;

static void
paths_init (Paths * p)
{
  p->dir = g_dir_make_tmp ("test-sharedmatrix-list-XXXXXX", NULL);
  fail_unless (p->dir != NULL);
  p->a = g_build_filename (p->dir, "a.npy", NULL);
  p->b = g_build_filename (p->dir, "b.npy", NULL);
}

static void
paths_clear (Paths * p)
{
  g_unlink (p->a);
  g_unlink (p->b);
  g_rmdir (p->dir);
  g_free (p->a);
  g_free (p->b);
  g_free (p->dir);
}

/* K updates as singles and as one list; then both restart from their EOS
 * checkpoints and get the stream replayed from offset 0 plus 2 new
 * updates, again as singles and as a list: the replayed ones are skipped
 * alike. */
GST_START_TEST (test_list_equals_singles)
{
  GstElement *a, *b;
  GstBus *bus_a, *bus_b;
  GstHarness *ha, *hb;
  Paths p;

  paths_init (&p);
  ha = start (p.a, &a, &bus_a);
  hb = start (p.b, &b, &bus_b);

  fail_unless_equals_int (feed (ha, FALSE, K, 0, make_update),
      GST_FLOW_OK);
  fail_unless_equals_int (feed (hb, TRUE, K, 0, make_update), GST_FLOW_OK);
  assert_same_counters (a, b, K, 0);
  assert_same_matrix (a, b);
  /* snapshot-every=2: after updates 2, 4, …, 10 */
  assert_same_snapshots (ha, hb, K / 2);
  gst_harness_push_event (ha, gst_event_new_eos ());
  gst_harness_push_event (hb, gst_event_new_eos ());
  fail_unless (same_file (p.a, p.b), "EOS checkpoints differ");
  test_teardown_with_bus (ha, a, bus_a);
  test_teardown_with_bus (hb, b, bus_b);

  ha = start (p.a, &a, &bus_a);
  hb = start (p.b, &b, &bus_b);
  fail_unless_equals_int (feed (ha, FALSE, K + 2, 0, make_update),
      GST_FLOW_OK);
  fail_unless_equals_int (feed (hb, TRUE, K + 2, 0, make_update),
      GST_FLOW_OK);
  assert_same_counters (a, b, 2, K);
  assert_same_matrix (a, b);
  assert_same_snapshots (ha, hb, 1);
  test_teardown_with_bus (ha, a, bus_a);
  test_teardown_with_bus (hb, b, bus_b);

  paths_clear (&p);
}

GST_END_TEST;

/* Update 6 is malformed (one byte short): singles stop there with an
 * error, and so does the list, with updates 0-5 applied and none after. */
static GstBuffer *
make_update_malformed_6 (guint k, guint64 first_offset, guint64 * seed)
{
  GstBuffer *buf = make_update (k, first_offset, seed);

  if (k == 6)
    gst_buffer_resize (buf, 0, gst_buffer_get_size (buf) - 1);
  return buf;
}

GST_START_TEST (test_list_stops_at_first_error)
{
  GstElement *a, *b;
  GstBus *bus_a, *bus_b;
  GstHarness *ha, *hb;
  Paths p;

  gchar *ta, *tb;

  paths_init (&p);
  ha = start (p.a, &a, &bus_a);
  hb = start (p.b, &b, &bus_b);

  fail_unless_equals_int (feed (ha, FALSE, K, 0, make_update_malformed_6),
      GST_FLOW_ERROR);
  fail_unless_equals_int (feed (hb, TRUE, K, 0, make_update_malformed_6),
      GST_FLOW_ERROR);
  assert_same_counters (a, b, 6, 0);
  assert_same_matrix (a, b);
  ta = test_pop_error_text (bus_a);
  tb = test_pop_error_text (bus_b);
  fail_unless_equals_string (tb, ta);
  g_free (ta);
  g_free (tb);
  test_teardown_with_bus (ha, a, bus_a);
  test_teardown_with_bus (hb, b, bus_b);
  paths_clear (&p);
}

GST_END_TEST;

/* invalid-index=error: update 4 (an out-of-range row) is rejected by the
 * library, inside a batch: updates 0-3 applied, the same error. */
GST_START_TEST (test_list_stops_at_rejected_update)
{
  GstElement *a, *b;
  GstBus *bus_a, *bus_b;
  GstHarness *ha, *hb;
  gchar *ta, *tb;

  ha = start_full (NULL, 0, 3, &a, &bus_a);
  hb = start_full (NULL, 0, 3, &b, &bus_b);
  fail_unless_equals_int (feed (ha, FALSE, K, 0, make_update),
      GST_FLOW_ERROR);
  fail_unless_equals_int (feed (hb, TRUE, K, 0, make_update),
      GST_FLOW_ERROR);
  assert_same_counters (a, b, 4, 0);
  assert_same_matrix (a, b);
  /* snapshot-every=3: after update 3 only */
  assert_same_snapshots (ha, hb, 1);
  ta = test_pop_error_text (bus_a);
  tb = test_pop_error_text (bus_b);
  fail_unless (ta != NULL);
  fail_unless_equals_string (tb, ta);
  g_free (ta);
  g_free (tb);
  test_teardown_with_bus (ha, a, bus_a);
  test_teardown_with_bus (hb, b, bus_b);
}

GST_END_TEST;

/* 150 updates (more than one batch of 64), snapshot-every=7 so that
 * snapshots fall inside batches, two lists in a row. */
GST_START_TEST (test_long_lists)
{
  GstElement *a, *b;
  GstBus *bus_a, *bus_b;
  GstHarness *ha, *hb;

  ha = start_full (NULL, 1, 7, &a, &bus_a);
  hb = start_full (NULL, 1, 7, &b, &bus_b);
  fail_unless_equals_int (feed (ha, FALSE, 150, 0, make_update),
      GST_FLOW_OK);
  fail_unless_equals_int (feed (hb, TRUE, 150, 0, make_update), GST_FLOW_OK);
  fail_unless_equals_int (feed (ha, FALSE, 70, 150, make_update),
      GST_FLOW_OK);
  fail_unless_equals_int (feed (hb, TRUE, 70, 150, make_update),
      GST_FLOW_OK);
  assert_same_counters (a, b, 220, 0);
  assert_same_matrix (a, b);
  assert_same_snapshots (ha, hb, 220 / 7);
  test_teardown_with_bus (ha, a, bus_a);
  test_teardown_with_bus (hb, b, bus_b);
}

GST_END_TEST;

/* An upstream element that wants sharedmatrix-durable events: answers
 * the sharedmatrix-durable query, as jetstreamsrc does. */
static GstPadProbeReturn
answer_durable_query (GstPad * pad, GstPadProbeInfo * info, gpointer unused)
{
  GstQuery *q = GST_PAD_PROBE_INFO_QUERY (info);
  const GstStructure *st;

  if (GST_QUERY_TYPE (q) == GST_QUERY_CUSTOM &&
      (st = gst_query_get_structure (q)) &&
      gst_structure_has_name (st, "sharedmatrix-durable"))
    return GST_PAD_PROBE_HANDLED;
  return GST_PAD_PROBE_OK;
}

/* The durable offsets the element sent upstream, in order (-1 ends). */
static guint
pop_durable (GstHarness * h, guint64 * offsets, guint max)
{
  GstEvent *ev;
  guint n = 0;

  while ((ev = gst_harness_try_pull_upstream_event (h))) {
    const GstStructure *st = gst_event_get_structure (ev);

    if (st && gst_structure_has_name (st, "sharedmatrix-durable")) {
      fail_unless (n < max);
      fail_unless (gst_structure_get_uint64 (st, "offset", &offsets[n++]));
    }
    gst_event_unref (ev);
  }
  return n;
}

/* Without checkpoint-location, sharedmatrix says which OFFSETs are durable
 * (applied) only to an upstream element that asked, after each single
 * buffer, and once for a whole list (its last OFFSET). */
GST_START_TEST (test_durable_events)
{
  GstElement *a;
  GstBus *bus_a;
  GstHarness *ha, *hb;
  guint64 off[2 * K];
  guint i, n;

  /* nobody asked: no events */
  ha = start_full (NULL, 1, 0, &a, &bus_a);
  fail_unless_equals_int (feed (ha, FALSE, K, 0, make_update), GST_FLOW_OK);
  fail_unless_equals_int (feed (ha, TRUE, K, K, make_update), GST_FLOW_OK);
  fail_unless_equals_int (pop_durable (ha, off, 2 * K), 0);
  test_teardown_with_bus (ha, a, bus_a);

  for (i = 0; i < 2; i++) {
    GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
    GstHarness *h;

    g_object_set (el, "rows", (guint64) ROWS, "cols", COLS,
        "invalid-index", 1, NULL);
    h = gst_harness_new_with_element (el, "sink", NULL);
    gst_object_unref (el);
    if (i)
      hb = h;
    else
      ha = h;
    gst_pad_add_probe (h->srcpad, GST_PAD_PROBE_TYPE_QUERY_UPSTREAM,
        answer_durable_query, NULL, NULL);
    gst_harness_set_src_caps_str (h, "application/x-matrix-update, "
        "dtype=float32, index-type=int32, cols=4");
  }
  fail_unless_equals_int (feed (ha, FALSE, K, 0, make_update), GST_FLOW_OK);
  n = pop_durable (ha, off, 2 * K);
  fail_unless_equals_int (n, K);
  for (i = 0; i < K; i++)
    fail_unless_equals_uint64 (off[i], i);
  fail_unless_equals_int (feed (hb, TRUE, K, 0, make_update), GST_FLOW_OK);
  fail_unless_equals_int (pop_durable (hb, off, 2 * K), 1);
  fail_unless_equals_uint64 (off[0], K - 1);
  gst_harness_teardown (ha);
  gst_harness_teardown (hb);
}

GST_END_TEST;

static Suite *
sharedmatrix_list_suite (void)
{
  Suite *s = suite_create ("sharedmatrix-list");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_list_equals_singles);
  tcase_add_test (tc, test_list_stops_at_first_error);
  tcase_add_test (tc, test_list_stops_at_rejected_update);
  tcase_add_test (tc, test_long_lists);
  tcase_add_test (tc, test_durable_events);
  return s;
}

GST_CHECK_MAIN (sharedmatrix_list);
