/* gst-sharedmatrix: sharedmatrix element tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The element is driven through GstHarness (and, for state changes, a real
 * pipeline). Every test checks values: the matrix read back through the
 * element's `matrix` property or from pushed snapshots is compared with a
 * naive reference of tests/common/reference.h, statistics and messages with
 * the counts the pushed buffers imply.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include "gstsharedmatrix.h"
#include "gstsharedmatrixregistry.h"
#include "random.h"
#include "reference.h"

#define UPDATE_CAPS_F32 "application/x-matrix-update, dtype=float32, " \
    "index-type=int32, cols=%u"

/* ---- helpers ------------------------------------------------------------- */

/* N int32 indices followed by N x cols float32 deltas (little-endian host) */
static GstBuffer *
make_update (const gint32 * idx, guint n, const float *d, guint cols,
    GstClockTime pts, guint64 offset)
{
  gsize isize = (gsize) n * 4, dsize = (gsize) n * cols * 4;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, isize + dsize, NULL);

  if (n) {
    gst_buffer_fill (buf, 0, idx, isize);
    gst_buffer_fill (buf, isize, d, dsize);
  }
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_OFFSET (buf) = offset;
  return buf;
}

static GstFlowReturn
push_update (GstHarness * h, const gint32 * idx, guint n, const float *d,
    guint cols, GstClockTime pts, guint64 offset)
{
  return gst_harness_push (h, make_update (idx, n, d, cols, pts, offset));
}

/* Random update of @n rows (with forced duplicates) for a rows x cols matrix */
static void
random_update (guint64 * state, guint64 rows, guint cols, gint32 * idx,
    guint n, float *d)
{
  guint i;

  for (i = 0; i < n; i++)
    idx[i] = (i % 3 == 2) ? idx[i - 1] : (gint32) test_rng_below (state, rows);
  for (i = 0; i < n * cols; i++)
    d[i] = test_rng_float_nonzero (state, -2.0f, 2.0f);
}

static GstSharedMatrix *
element_matrix (GstElement * el)
{
  GstSharedMatrix *m = NULL;

  g_object_get (el, "matrix", &m, NULL);
  fail_unless (m != NULL, "element has no matrix");
  return m;
}

static void
assert_floats_equal (const float *got, const float *want, gsize count,
    const gchar * what)
{
  gsize where = 0;

  fail_unless (test_ref_same_elements ((const guint8 *) got,
          (const guint8 *) want, count, GST_SHARED_MATRIX_DTYPE_FLOAT32,
          &where),
      "%s: element %" G_GSIZE_FORMAT " is %.9g, reference %.9g", what, where,
      got[where], want[where]);
}

/* Bit-exact comparison of the element's matrix with a float32 reference */
static void
assert_matrix_equals (GstElement * el, const float *ref, guint64 rows,
    guint cols)
{
  GstSharedMatrix *m = element_matrix (el);
  GBytes *b = gst_shared_matrix_get_value (m);
  gsize size;
  const float *got = g_bytes_get_data (b, &size);

  fail_unless_equals_uint64 (gst_shared_matrix_get_rows (m), rows);
  fail_unless_equals_int (gst_shared_matrix_get_cols (m), cols);
  fail_unless_equals_uint64 (size, rows * cols * 4);
  assert_floats_equal (got, ref, rows * cols, "matrix");
  g_bytes_unref (b);
  gst_object_unref (m);
}

static guint64
get_u64 (GstElement * el, const gchar * prop)
{
  guint64 v = 0;

  g_object_get (el, prop, &v, NULL);
  return v;
}

static GstSharedMatrix *
new_app_matrix (guint64 rows, guint cols, const float *values)
{
  GError *err = NULL;
  GstSharedMatrix *m = gst_shared_matrix_new (rows, cols,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_BACKEND_CPU, &err);

  fail_unless (m != NULL, "new: %s", err ? err->message : "?");
  if (values) {
    GBytes *b = g_bytes_new (values, rows * cols * 4);

    fail_unless (gst_shared_matrix_set_value (m, b, &err), "set_value: %s",
        err ? err->message : "?");
    g_bytes_unref (b);
  }
  return m;
}

/* A sharedmatrix element with properties, a private bus (so its error
 * messages can be popped) and a harness around it, already PLAYING. */
static GstHarness *
harness_for (GstElement * el, GstBus ** bus, gboolean link_src)
{
  GstHarness *h;

  if (bus) {
    *bus = gst_bus_new ();
    gst_element_set_bus (el, *bus);
  }
  h = gst_harness_new_with_element (el, "sink", link_src ? "src" : NULL);
  return h;
}

static GstElement *
new_element (const gchar * first_property, ...)
{
  GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
  va_list args;

  fail_unless (el != NULL, "sharedmatrix element not found");
  if (first_property) {
    va_start (args, first_property);
    g_object_set_valist (G_OBJECT (el), first_property, args);
    va_end (args);
  }
  return el;
}

static void
set_update_caps (GstHarness * h, guint cols)
{
  gchar *caps = g_strdup_printf (UPDATE_CAPS_F32, cols);

  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
}

/* Pops the next ERROR message from @bus and returns its user text */
static gchar *
pop_error_text (GstBus * bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *err = NULL;
  gchar *dbg = NULL, *text;

  fail_unless (msg != NULL, "no ERROR message on the bus");
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, GST_STR_NULL (dbg));
  text = g_strdup (err->message);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (msg);
  return text;
}

static void
assert_no_error (GstBus * bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

  if (msg) {
    GError *err = NULL;

    gst_message_parse_error (msg, &err, NULL);
    fail ("unexpected error: %s", err->message);
  }
}

static void
teardown (GstHarness * h, GstElement * el, GstBus * bus)
{
  gst_harness_teardown (h);
  if (bus) {
    gst_element_set_bus (el, NULL);
    gst_bus_set_flushing (bus, TRUE);
    gst_object_unref (bus);
  }
  gst_object_unref (el);
}

/* Checks a raw other/tensors snapshot buffer against a reference */
static void
assert_raw_snapshot (GstBuffer * buf, const float *ref, gsize count)
{
  GstMapInfo map;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, count * 4);
  assert_floats_equal ((const float *) map.data, ref, count, "snapshot");
  gst_buffer_unmap (buf, &map);
}

static void
assert_tensor_caps (GstCaps * caps, guint64 rows, guint cols,
    const gchar * type)
{
  GstStructure *s;
  gchar *dims = g_strdup_printf ("%u:%" G_GUINT64_FORMAT, cols, rows);
  gint num = 0, fn = -1, fd = -1;

  fail_unless (caps != NULL);
  fail_unless (gst_caps_is_fixed (caps));
  s = gst_caps_get_structure (caps, 0);
  fail_unless_equals_string (gst_structure_get_name (s), "other/tensors");
  fail_unless_equals_string (gst_structure_get_string (s, "format"), "static");
  fail_unless (gst_structure_get_int (s, "num_tensors", &num));
  fail_unless_equals_int (num, 1);
  fail_unless_equals_string (gst_structure_get_string (s, "types"), type);
  fail_unless_equals_string (gst_structure_get_string (s, "dimensions"), dims);
  fail_unless (gst_structure_get_fraction (s, "framerate", &fn, &fd));
  fail_unless (fn == 0 && fd == 1);
  g_free (dims);
}

/* ---- update semantics through the element -------------------------------- */

#define OPS_ROWS 16
#define OPS_COLS 5
#define OPS_N 12

/* Every op, with duplicate indices (every third index repeats the one
 * before), three buffers each, against the reference loop. The matrix
 * starts from random values so that mul/min/max have something to do. */
GST_START_TEST (test_ops_with_duplicates)
{
  GstSharedMatrixOp op;

  for (op = GST_SHARED_MATRIX_OP_SET; op <= GST_SHARED_MATRIX_OP_MAX; op++) {
    float ref[OPS_ROWS * OPS_COLS], d[OPS_N * OPS_COLS];
    gint32 idx[OPS_N];
    guint64 state = 1234 + op;
    GstSharedMatrix *m;
    GstElement *el;
    GstHarness *h;
    GstBus *bus;
    guint i, b;

    for (i = 0; i < OPS_ROWS * OPS_COLS; i++)
      ref[i] = test_rng_float_nonzero (&state, -2.0f, 2.0f);
    m = new_app_matrix (OPS_ROWS, OPS_COLS, ref);
    el = new_element ("matrix", m, "op", op, NULL);
    h = harness_for (el, &bus, TRUE);
    set_update_caps (h, OPS_COLS);

    for (b = 0; b < 3; b++) {
      random_update (&state, OPS_ROWS, OPS_COLS, idx, OPS_N, d);
      fail_unless_equals_int (push_update (h, idx, OPS_N, d, OPS_COLS,
              b * GST_SECOND, b), GST_FLOW_OK);
      test_ref_update_f32 (ref, OPS_ROWS, OPS_COLS, op, idx, OPS_N, d);
      assert_matrix_equals (el, ref, OPS_ROWS, OPS_COLS);
    }
    fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 4);   /* set_value + 3 */
    fail_unless_equals_uint64 (get_u64 (el, "updates-applied"), 3);
    fail_unless_equals_uint64 (get_u64 (el, "rows-applied"), 3 * OPS_N);
    assert_no_error (bus);
    teardown (h, el, bus);
    gst_object_unref (m);
  }
}

GST_END_TEST;

/* set with the same row three times: the last occurrence wins exactly */
GST_START_TEST (test_set_last_wins)
{
  const gint32 idx[4] = { 2, 2, 1, 2 };
  const float d[4 * 2] = { 1, 1, 2, 2, 3, 3, 4, 4 };
  float ref[4 * 2] = { 0 };
  GstElement *el = new_element ("rows", (guint64) 4, "cols", 2, "op",
      GST_SHARED_MATRIX_OP_SET, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);

  set_update_caps (h, 2);
  fail_unless_equals_int (push_update (h, idx, 4, d, 2, 0, 0), GST_FLOW_OK);
  ref[1 * 2 + 0] = ref[1 * 2 + 1] = 3;
  ref[2 * 2 + 0] = ref[2 * 2 + 1] = 4;
  assert_matrix_equals (el, ref, 4, 2);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* op is mutable in PLAYING and applies from the next buffer on */
GST_START_TEST (test_op_change_while_playing)
{
  const GstSharedMatrixOp seq[] = { GST_SHARED_MATRIX_OP_ADD,
    GST_SHARED_MATRIX_OP_SET, GST_SHARED_MATRIX_OP_MUL,
    GST_SHARED_MATRIX_OP_SUB, GST_SHARED_MATRIX_OP_MAX,
    GST_SHARED_MATRIX_OP_MIN, GST_SHARED_MATRIX_OP_ADD
  };
  float ref[OPS_ROWS * OPS_COLS] = { 0 }, d[OPS_N * OPS_COLS];
  gint32 idx[OPS_N];
  guint64 state = 99;
  GstElement *el = new_element ("rows", (guint64) OPS_ROWS, "cols", OPS_COLS,
      NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  GstSharedMatrixOp op;
  guint i;

  set_update_caps (h, OPS_COLS);
  fail_unless_equals_int (GST_STATE (el), GST_STATE_PLAYING);
  for (i = 0; i < G_N_ELEMENTS (seq); i++) {
    g_object_set (el, "op", seq[i], NULL);
    g_object_get (el, "op", &op, NULL);
    fail_unless_equals_int (op, seq[i]);
    random_update (&state, OPS_ROWS, OPS_COLS, idx, OPS_N, d);
    fail_unless_equals_int (push_update (h, idx, OPS_N, d, OPS_COLS, i, i),
        GST_FLOW_OK);
    test_ref_update_f32 (ref, OPS_ROWS, OPS_COLS, seq[i], idx, OPS_N, d);
    assert_matrix_equals (el, ref, OPS_ROWS, OPS_COLS);
  }
  teardown (h, el, NULL);
}

GST_END_TEST;

/* float64 deltas into a float32 matrix: computed in float64, rounded once */
GST_START_TEST (test_float64_deltas)
{
  const gint32 idx[3] = { 0, 2, 0 };
  double d[3 * 2] = { 0.1, 1e-10, 0.2, -3.0, 0.3, 1.0 };
  float ref[3 * 2] = { 0 };
  GstElement *el = new_element ("rows", (guint64) 3, "cols", 2, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 3 * 4 + 6 * 8, NULL);
  guint i, j;

  gst_harness_set_src_caps_str (h, "application/x-matrix-update, "
      "dtype=float64, index-type=int32, cols=2");
  gst_buffer_fill (buf, 0, idx, sizeof idx);
  gst_buffer_fill (buf, sizeof idx, d, sizeof d);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  for (i = 0; i < 3; i++)
    for (j = 0; j < 2; j++)
      ref[idx[i] * 2 + j] = (float) ((double) ref[idx[i] * 2 + j] +
          d[i * 2 + j]);
  assert_matrix_equals (el, ref, 3, 2);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* ---- snapshots ----------------------------------------------------------- */

#define SNAP_ROWS 8
#define SNAP_COLS 4
#define SNAP_N 6

/* snapshot-every=3: one snapshot after the 3rd and the 6th update, OFFSET =
 * version, PTS = PTS of the last applied update, other/tensors caps, data =
 * the matrix at that point; EOS adds a final one. */
GST_START_TEST (test_snapshot_every)
{
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 }, d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 7;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "snapshot-every", 3, NULL);
  GstHarness *h;
  GstBuffer *buf;
  GstCaps *caps;
  GstEvent *ev;
  guint i;

  h = harness_for (el, NULL, TRUE);
  gst_harness_set_sink_caps_str (h, "other/tensors, format=static, "
      "num_tensors=1, types=float32, dimensions=(string)4:8, "
      "framerate=0/1");
  set_update_caps (h, SNAP_COLS);

  for (i = 1; i <= 7; i++) {
    GstClockTime pts = i * 10 * GST_MSECOND;

    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS, pts,
            100 + i), GST_FLOW_OK);
    test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
        GST_SHARED_MATRIX_OP_ADD, idx, SNAP_N, d);
    if (i % 3 == 0) {
      fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
      buf = gst_harness_pull (h);
      fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), i);
      fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), pts);
      assert_raw_snapshot (buf, ref, SNAP_ROWS * SNAP_COLS);
      gst_buffer_unref (buf);
    } else {
      fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
    }
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  assert_tensor_caps (caps, SNAP_ROWS, SNAP_COLS, "float32");
  gst_caps_unref (caps);

  /* snapshot-on-eos (default TRUE): one final snapshot, then EOS */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  buf = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), 7);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 70 * GST_MSECOND);
  assert_raw_snapshot (buf, ref, SNAP_ROWS * SNAP_COLS);
  gst_buffer_unref (buf);
  while ((ev = gst_harness_try_pull_event (h))) {
    gboolean eos = GST_EVENT_TYPE (ev) == GST_EVENT_EOS;

    gst_event_unref (ev);
    if (eos)
      break;
  }
  fail_unless (ev != NULL, "EOS was not forwarded");
  fail_unless_equals_uint64 (get_u64 (el, "last-offset"), 107);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* application/x-npy downstream: each snapshot is a complete .npy file whose
 * data equals the matrix */
GST_START_TEST (test_snapshot_npy)
{
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 }, d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 8;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "snapshot-every", 1, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  GstStructure *s;
  GstCaps *caps;
  guint i;

  gst_harness_set_sink_caps_str (h, "application/x-npy");
  set_update_caps (h, SNAP_COLS);
  for (i = 0; i < 3; i++) {
    GstBuffer *buf;
    GstMapInfo map;
    gsize header;
    gchar *text;

    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS,
            i * GST_SECOND, i), GST_FLOW_OK);
    test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
        GST_SHARED_MATRIX_OP_ADD, idx, SNAP_N, d);
    buf = gst_harness_pull (h);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), i + 1);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless (map.size > 10);
    fail_unless (memcmp (map.data, "\x93NUMPY", 6) == 0);
    /* version 1 header: 2-byte length; 2/3: 4-byte length */
    if (map.data[6] == 1)
      header = 10 + (map.data[8] | (map.data[9] << 8));
    else
      header = 12 + (map.data[8] | (map.data[9] << 8) |
          (map.data[10] << 16) | ((gsize) map.data[11] << 24));
    fail_unless_equals_int (header % 16, 0);
    text = g_strndup ((const gchar *) map.data + 10, header - 10);
    fail_unless (strstr (text, "'<f4'") != NULL, "header %s", text);
    fail_unless (strstr (text, "(8, 4)") != NULL, "header %s", text);
    fail_unless (strstr (text, "'fortran_order': False") != NULL, "%s", text);
    g_free (text);
    fail_unless_equals_uint64 (map.size - header, sizeof ref);
    assert_floats_equal ((const float *) (map.data + header), ref,
        SNAP_ROWS * SNAP_COLS, "npy data");
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  s = gst_caps_get_structure (caps, 0);
  fail_unless_equals_string (gst_structure_get_name (s), "application/x-npy");
  gst_caps_unref (caps);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* snapshot-on-eos=FALSE: EOS is forwarded without a snapshot */
GST_START_TEST (test_no_snapshot_on_eos)
{
  const gint32 idx[1] = { 3 };
  const float d[SNAP_COLS] = { 1, 2, 3, 4 };
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "snapshot-on-eos", FALSE, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  gboolean saw_eos = FALSE;
  GstEvent *ev;

  set_update_caps (h, SNAP_COLS);
  fail_unless_equals_int (push_update (h, idx, 1, d, SNAP_COLS, 0, 0),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  while ((ev = gst_harness_try_pull_event (h))) {
    saw_eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (saw_eos);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 1);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* snapshot-interval=1 s with updates every 250 ms from 0 to 2.25 s: the
 * first update starts the interval, snapshots follow the updates at 1 s and
 * 2 s, exactly two. */
GST_START_TEST (test_snapshot_interval)
{
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 }, d[SNAP_N * SNAP_COLS];
  float at_1s[SNAP_ROWS * SNAP_COLS], at_2s[SNAP_ROWS * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 9;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "snapshot-interval", (guint64) GST_SECOND,
      "snapshot-on-eos", FALSE, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  GstBuffer *buf;
  guint i;

  set_update_caps (h, SNAP_COLS);
  for (i = 0; i < 10; i++) {
    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS,
            i * 250 * GST_MSECOND, i), GST_FLOW_OK);
    test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
        GST_SHARED_MATRIX_OP_ADD, idx, SNAP_N, d);
    if (i == 4)
      memcpy (at_1s, ref, sizeof ref);
    if (i == 8)
      memcpy (at_2s, ref, sizeof ref);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
  buf = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), 5);
  assert_raw_snapshot (buf, at_1s, SNAP_ROWS * SNAP_COLS);
  gst_buffer_unref (buf);
  buf = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 2 * GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), 9);
  assert_raw_snapshot (buf, at_2s, SNAP_ROWS * SNAP_COLS);
  gst_buffer_unref (buf);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* Unlinked src pad: updates are applied, snapshots silently skipped, no
 * error, also at EOS */
GST_START_TEST (test_unlinked_src)
{
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 }, d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 10;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "snapshot-every", 1, NULL);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, FALSE);
  GstPad *srcpad;
  guint i;

  srcpad = gst_element_get_static_pad (el, "src");
  fail_if (gst_pad_is_linked (srcpad));
  gst_object_unref (srcpad);
  set_update_caps (h, SNAP_COLS);
  for (i = 0; i < 5; i++) {
    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS,
            i * GST_SECOND, i), GST_FLOW_OK);
    test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
        GST_SHARED_MATRIX_OP_ADD, idx, SNAP_N, d);
  }
  /* EOS has nowhere to go (FALSE is the usual answer of an unlinked pad),
   * but no snapshot is attempted and nothing errors */
  gst_harness_push_event (h, gst_event_new_eos ());
  assert_matrix_equals (el, ref, SNAP_ROWS, SNAP_COLS);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 5);
  fail_unless_equals_uint64 (get_u64 (el, "updates-applied"), 5);
  assert_no_error (bus);
  teardown (h, el, bus);
}

GST_END_TEST;

/* ---- the snapshot action signal ------------------------------------------ */

GST_START_TEST (test_snapshot_signal)
{
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 }, d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 11;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "snapshot-on-eos", FALSE, NULL);
  GstSample *sample = NULL;
  GstHarness *h;
  guint i;

  /* no matrix before the first start */
  g_signal_emit_by_name (el, "snapshot", &sample);
  fail_unless (sample == NULL);

  h = harness_for (el, NULL, TRUE);
  set_update_caps (h, SNAP_COLS);
  for (i = 0; i < 4; i++) {
    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS,
            (i + 1) * GST_SECOND, i), GST_FLOW_OK);
    test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
        GST_SHARED_MATRIX_OP_ADD, idx, SNAP_N, d);
  }
  g_signal_emit_by_name (el, "snapshot", &sample);
  fail_unless (sample != NULL);
  assert_tensor_caps (gst_sample_get_caps (sample), SNAP_ROWS, SNAP_COLS,
      "float32");
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (gst_sample_get_buffer
          (sample)), 4);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (gst_sample_get_buffer
          (sample)), 4 * GST_SECOND);
  assert_raw_snapshot (gst_sample_get_buffer (sample), ref,
      SNAP_ROWS * SNAP_COLS);
  gst_sample_unref (sample);
  /* pulled nothing: the signal does not push */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  teardown (h, el, NULL);
}

GST_END_TEST;

typedef struct
{
  GstElement *el;
  gint stop;
  guint samples;
  guint bad;
  guint64 last_version;
  gchar *problem;
} SnapshotThreadCtx;

/* Every update adds 1 to every element, so a consistent snapshot of version
 * v holds v everywhere. */
static gpointer
snapshot_thread (gpointer data)
{
  SnapshotThreadCtx *ctx = data;

  while (!g_atomic_int_get (&ctx->stop) || ctx->samples < 10) {
    GstSample *sample = NULL;
    GstBuffer *buf;
    GstMapInfo map;
    guint64 v;
    gsize i;

    g_signal_emit_by_name (ctx->el, "snapshot", &sample);
    if (sample == NULL) {
      ctx->bad++;
      continue;
    }
    ctx->samples++;
    buf = gst_sample_get_buffer (sample);
    v = GST_BUFFER_OFFSET (buf);
    if (v < ctx->last_version && !ctx->problem)
      ctx->problem = g_strdup_printf ("version went back from %"
          G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, ctx->last_version, v);
    ctx->last_version = v;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    for (i = 0; i < map.size / 4; i++) {
      if (((const float *) map.data)[i] != (float) v) {
        if (!ctx->problem)
          ctx->problem = g_strdup_printf ("snapshot of version %"
              G_GUINT64_FORMAT " holds %g at %" G_GSIZE_FORMAT, v,
              ((const float *) map.data)[i], i);
        ctx->bad++;
        break;
      }
    }
    gst_buffer_unmap (buf, &map);
    gst_sample_unref (sample);
  }
  return NULL;
}

GST_START_TEST (test_snapshot_signal_from_thread)
{
  const guint64 rows = 512;
  const guint cols = 64, n_updates = 300;
  GstElement *el = new_element ("rows", rows, "cols", cols, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  SnapshotThreadCtx ctx = { el, 0, 0, 0, 0, NULL };
  gint32 *idx = g_new (gint32, rows);
  float *ones = g_new (float, rows * cols);
  GThread *thread;
  guint i;

  for (i = 0; i < rows; i++)
    idx[i] = i;
  for (i = 0; i < rows * cols; i++)
    ones[i] = 1.0f;
  set_update_caps (h, cols);
  thread = g_thread_new ("snapshotter", snapshot_thread, &ctx);
  for (i = 0; i < n_updates; i++)
    fail_unless_equals_int (push_update (h, idx, rows, ones, cols, i, i),
        GST_FLOW_OK);
  g_atomic_int_set (&ctx.stop, 1);
  g_thread_join (thread);

  fail_unless (ctx.problem == NULL, "%s", ctx.problem);
  fail_unless_equals_int (ctx.bad, 0);
  fail_unless (ctx.samples >= 10);
  fail_unless_equals_uint64 (get_u64 (el, "version"), n_updates);
  GST_INFO ("%u consistent snapshots while %u updates flowed", ctx.samples,
      n_updates);
  g_free (idx);
  g_free (ones);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* ---- malformed input and negotiation ------------------------------------- */

GST_START_TEST (test_malformed_buffer)
{
  const gint32 idx[2] = { 1, 2 };
  const float d[2 * SNAP_COLS] = { 1, 1, 1, 1, 2, 2, 2, 2 };
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 };
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, NULL);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, TRUE);
  GstBuffer *buf;
  gchar *text;

  set_update_caps (h, SNAP_COLS);
  fail_unless_equals_int (push_update (h, idx, 2, d, SNAP_COLS, 0, 0),
      GST_FLOW_OK);
  test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
      GST_SHARED_MATRIX_OP_ADD, idx, 2, d);

  /* two records of 4 + 4 * 4 = 20 bytes, plus 3 stray bytes = 43 */
  buf = make_update (idx, 2, d, SNAP_COLS, GST_SECOND, 1);
  buf = gst_buffer_append (buf, gst_buffer_new_wrapped (g_strdup ("xyz"), 3));
  fail_unless_equals_int (gst_buffer_get_size (buf), 43);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_ERROR);
  text = pop_error_text (bus);
  fail_unless (strstr (text, "43") != NULL, "size not named: %s", text);
  fail_unless (strstr (text, "20") != NULL, "record size not named: %s", text);
  g_free (text);
  assert_matrix_equals (el, ref, SNAP_ROWS, SNAP_COLS);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 1);
  fail_unless_equals_uint64 (get_u64 (el, "last-offset"), 0);

  /* an empty update (N = 0) is valid and counts as an update */
  fail_unless_equals_int (push_update (h, NULL, 0, NULL, SNAP_COLS,
          2 * GST_SECOND, 2), GST_FLOW_OK);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 2);
  assert_matrix_equals (el, ref, SNAP_ROWS, SNAP_COLS);
  teardown (h, el, bus);
}

GST_END_TEST;

/* Update caps with other cols than the matrix: negotiation fails with an
 * error naming both numbers */
GST_START_TEST (test_cols_mismatch)
{
  const gint32 idx[1] = { 0 };
  const float d[4] = { 1, 1, 1, 1 };
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols", 4, NULL);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, TRUE);
  GstSegment segment;
  GstPad *sinkpad;
  GstCaps *caps;
  gchar *text;

  fail_unless (gst_pad_push_event (h->srcpad,
          gst_event_new_stream_start ("mismatch")));
  caps = gst_caps_from_string ("application/x-matrix-update, dtype=float32, "
      "index-type=int32, cols=7");
  /* (a sticky event is stored on the harness pad whatever the peer says) */
  gst_pad_push_event (h->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_pad_push_event (h->srcpad, gst_event_new_segment (&segment));
  text = pop_error_text (bus);
  fail_unless (strstr (text, "cols=7") != NULL, "%s", text);
  fail_unless (strstr (text, "4 columns") != NULL, "%s", text);
  g_free (text);
  sinkpad = gst_element_get_static_pad (el, "sink");
  fail_if (gst_pad_has_current_caps (sinkpad));
  gst_object_unref (sinkpad);
  /* data after refused caps is not applied */
  fail_unless_equals_int (push_update (h, idx, 1, d, 4, 0, 0),
      GST_FLOW_NOT_NEGOTIATED);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 0);
  teardown (h, el, bus);
}

GST_END_TEST;

static gint
query_sink_cols (GstElement * el)
{
  GstPad *pad = gst_element_get_static_pad (el, "sink");
  GstCaps *caps = gst_pad_query_caps (pad, NULL);
  const GValue *v;
  gint cols = -1;

  fail_unless (!gst_caps_is_empty (caps));
  v = gst_structure_get_value (gst_caps_get_structure (caps, 0), "cols");
  if (G_VALUE_HOLDS_INT (v))
    cols = g_value_get_int (v);
  else
    fail_unless (GST_VALUE_HOLDS_INT_RANGE (v));
  gst_caps_unref (caps);
  gst_object_unref (pad);
  return cols;
}

/* The sink caps query fixes cols to the cols property before start and to
 * the matrix's cols once it exists (here from a file, cols property 0) */
GST_START_TEST (test_caps_query_cols)
{
  GstSharedMatrix *m = new_app_matrix (3, 6, NULL);
  gchar *path = g_build_filename (g_get_tmp_dir (), "sm-test-capsq-XXXXXX.npy",
      NULL);
  GError *err = NULL;
  GstElement *el;
  GstHarness *h;
  gint fd = g_mkstemp (path);

  close (fd);
  fail_unless (gst_shared_matrix_save_npy (m, path, &err), "%s",
      err ? err->message : "?");
  gst_object_unref (m);

  el = new_element ("rows", (guint64) 8, "cols", 5, NULL);
  fail_unless_equals_int (query_sink_cols (el), 5);
  gst_object_unref (el);

  el = new_element ("location", path, NULL);
  fail_unless_equals_int (query_sink_cols (el), -1);    /* any */
  h = harness_for (el, NULL, TRUE);
  fail_unless_equals_int (query_sink_cols (el), 6);
  teardown (h, el, NULL);
  g_unlink (path);
  g_free (path);
}

GST_END_TEST;

/* With the CPU backend there is no pinned staging memory to offer: the
 * ALLOCATION query is answered (or not) as by any element, with no
 * "SharedMatrixPinned" allocator and no pool of it. */
GST_START_TEST (test_allocation_query_cpu)
{
  GstElement *el = new_element ("rows", (guint64) 8, "cols", 5, "backend",
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  GstCaps *caps;
  GstQuery *query;
  guint i;

  set_update_caps (h, 5);
  caps = gst_caps_from_string ("application/x-matrix-update, "
      "dtype=float32, index-type=int32, cols=5");
  query = gst_query_new_allocation (caps, TRUE);
  gst_pad_peer_query (h->srcpad, query);
  for (i = 0; i < gst_query_get_n_allocation_params (query); i++) {
    GstAllocator *alloc = NULL;

    gst_query_parse_nth_allocation_param (query, i, &alloc, NULL);
    fail_if (alloc && g_strcmp0 (alloc->mem_type, "SharedMatrixPinned") == 0);
    gst_clear_object (&alloc);
  }
  for (i = 0; i < gst_query_get_n_allocation_pools (query); i++) {
    GstBufferPool *pool = NULL;
    GstAllocator *alloc = NULL;
    GstStructure *config;

    gst_query_parse_nth_allocation_pool (query, i, &pool, NULL, NULL, NULL);
    if (pool == NULL)
      continue;
    config = gst_buffer_pool_get_config (pool);
    if (gst_buffer_pool_config_get_allocator (config, &alloc, NULL))
      fail_if (alloc && g_strcmp0 (alloc->mem_type,
              "SharedMatrixPinned") == 0);
    gst_structure_free (config);
    gst_object_unref (pool);
  }
  gst_query_unref (query);
  gst_caps_unref (caps);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* ---- validation policies and statistics ---------------------------------- */

GST_START_TEST (test_invalid_index)
{
  const gint32 good[2] = { 0, 7 };
  const gint32 bad[3] = { 1, 12345, 2 };
  const gint32 negative[2] = { -3, 4 };
  const float d[3 * SNAP_COLS] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 };
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, NULL);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, TRUE);
  gchar *text;

  set_update_caps (h, SNAP_COLS);
  fail_unless_equals_int (push_update (h, good, 2, d, SNAP_COLS, 0, 10),
      GST_FLOW_OK);
  test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
      GST_SHARED_MATRIX_OP_ADD, good, 2, d);

  /* error (default): whole update rejected, message names the index */
  fail_unless_equals_int (push_update (h, bad, 3, d, SNAP_COLS, 1, 11),
      GST_FLOW_ERROR);
  text = pop_error_text (bus);
  fail_unless (strstr (text, "12345") != NULL, "%s", text);
  g_free (text);
  assert_matrix_equals (el, ref, SNAP_ROWS, SNAP_COLS);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 1);
  fail_unless_equals_uint64 (get_u64 (el, "last-offset"), 10);
  fail_unless_equals_uint64 (get_u64 (el, "rows-dropped"), 0);

  fail_unless_equals_int (push_update (h, negative, 2, d, SNAP_COLS, 2, 12),
      GST_FLOW_ERROR);
  text = pop_error_text (bus);
  fail_unless (strstr (text, "-3") != NULL, "%s", text);
  g_free (text);
  assert_matrix_equals (el, ref, SNAP_ROWS, SNAP_COLS);

  teardown (h, el, bus);

  /* drop: the valid rows land, the invalid ones are counted */
  el = new_element ("rows", (guint64) SNAP_ROWS, "cols", SNAP_COLS,
      "invalid-index", GST_SHARED_MATRIX_INVALID_INDEX_DROP, NULL);
  h = harness_for (el, &bus, TRUE);
  memset (ref, 0, sizeof ref);
  set_update_caps (h, SNAP_COLS);
  fail_unless_equals_int (push_update (h, bad, 3, d, SNAP_COLS, 0, 20),
      GST_FLOW_OK);
  fail_unless_equals_int (push_update (h, negative, 2, d, SNAP_COLS, 1, 21),
      GST_FLOW_OK);
  test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
      GST_SHARED_MATRIX_OP_ADD, bad, 3, d);
  test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
      GST_SHARED_MATRIX_OP_ADD, negative, 2, d);
  assert_matrix_equals (el, ref, SNAP_ROWS, SNAP_COLS);
  fail_unless_equals_uint64 (get_u64 (el, "rows-dropped"), 2);
  fail_unless_equals_uint64 (get_u64 (el, "rows-applied"), 3);
  fail_unless_equals_uint64 (get_u64 (el, "updates-applied"), 2);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 2);
  fail_unless_equals_uint64 (get_u64 (el, "last-offset"), 21);
  assert_no_error (bus);
  teardown (h, el, bus);
}

GST_END_TEST;

GST_START_TEST (test_non_finite)
{
  const gint32 idx[3] = { 1, 2, 3 };
  float d[3 * SNAP_COLS] = { 1, 1, 1, 1, 2, NAN, 2, 2, 3, 3, INFINITY, 3 };
  GstSharedMatrixNonFinitePolicy policy;

  for (policy = GST_SHARED_MATRIX_NON_FINITE_APPLY;
      policy <= GST_SHARED_MATRIX_NON_FINITE_ERROR; policy++) {
    float ref[SNAP_ROWS * SNAP_COLS] = { 0 };
    GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
        SNAP_COLS, "non-finite", policy, NULL);
    GstBus *bus;
    GstHarness *h = harness_for (el, &bus, TRUE);
    GstFlowReturn ret;

    set_update_caps (h, SNAP_COLS);
    ret = push_update (h, idx, 3, d, SNAP_COLS, 0, 5);
    switch (policy) {
      case GST_SHARED_MATRIX_NON_FINITE_APPLY:
        fail_unless_equals_int (ret, GST_FLOW_OK);
        test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
            GST_SHARED_MATRIX_OP_ADD, idx, 3, d);
        fail_unless (isnan (ref[2 * SNAP_COLS + 1]));
        fail_unless (isinf (ref[3 * SNAP_COLS + 2]));
        fail_unless_equals_uint64 (get_u64 (el, "rows-applied"), 3);
        fail_unless_equals_uint64 (get_u64 (el, "rows-dropped"), 0);
        fail_unless_equals_uint64 (get_u64 (el, "version"), 1);
        assert_no_error (bus);
        break;
      case GST_SHARED_MATRIX_NON_FINITE_DROP:
        fail_unless_equals_int (ret, GST_FLOW_OK);
        test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
            GST_SHARED_MATRIX_OP_ADD, idx, 1, d);
        fail_unless_equals_uint64 (get_u64 (el, "rows-applied"), 1);
        fail_unless_equals_uint64 (get_u64 (el, "rows-dropped"), 2);
        fail_unless_equals_uint64 (get_u64 (el, "version"), 1);
        assert_no_error (bus);
        break;
      default:{
        gchar *text;

        fail_unless_equals_int (ret, GST_FLOW_ERROR);
        text = pop_error_text (bus);
        fail_unless (strstr (text, "NaN") != NULL ||
            strstr (text, "non-finite") != NULL, "%s", text);
        g_free (text);
        fail_unless_equals_uint64 (get_u64 (el, "version"), 0);
        fail_unless_equals_uint64 (get_u64 (el, "updates-applied"), 0);
        break;
      }
    }
    assert_matrix_equals (el, ref, SNAP_ROWS, SNAP_COLS);
    teardown (h, el, bus);
  }
}

GST_END_TEST;

GST_START_TEST (test_statistics)
{
  float d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 12;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "backend", GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstSharedMatrixBackend backend = -1;
  GstHarness *h;
  GstBuffer *buf;
  guint i;

  g_object_get (el, "active-backend", &backend, NULL);
  fail_unless_equals_int (backend, GST_SHARED_MATRIX_BACKEND_AUTO);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 0);

  h = harness_for (el, NULL, TRUE);
  g_object_get (el, "active-backend", &backend, NULL);
  fail_unless_equals_int (backend, GST_SHARED_MATRIX_BACKEND_CPU);
  set_update_caps (h, SNAP_COLS);
  for (i = 0; i < 5; i++) {
    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS, i,
            1000 + 3 * i), GST_FLOW_OK);
  }
  fail_unless_equals_uint64 (get_u64 (el, "version"), 5);
  fail_unless_equals_uint64 (get_u64 (el, "updates-applied"), 5);
  fail_unless_equals_uint64 (get_u64 (el, "rows-applied"), 5 * SNAP_N);
  fail_unless_equals_uint64 (get_u64 (el, "rows-dropped"), 0);
  fail_unless_equals_uint64 (get_u64 (el, "last-offset"), 1012);

  /* a buffer without OFFSET leaves last-offset alone */
  buf = make_update (idx, SNAP_N, d, SNAP_COLS, 10, GST_BUFFER_OFFSET_NONE);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  fail_unless_equals_uint64 (get_u64 (el, "last-offset"), 1012);
  fail_unless_equals_uint64 (get_u64 (el, "updates-applied"), 6);

  /* read-only */
  fail_unless ((g_object_class_find_property (G_OBJECT_GET_CLASS (el),
              "version")->flags & G_PARAM_WRITABLE) == 0);
  fail_unless ((g_object_class_find_property (G_OBJECT_GET_CLASS (el),
              "active-backend")->flags & G_PARAM_WRITABLE) == 0);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* ---- matrix sharing ------------------------------------------------------ */

GST_START_TEST (test_share_by_name)
{
  float ref[SNAP_ROWS * SNAP_COLS] = { 0 }, d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 13;
  GstElement *a = new_element ("matrix-name", "test-share-by-name", "rows",
      (guint64) SNAP_ROWS, "cols", SNAP_COLS, NULL);
  /* the second takes the shape of the shared matrix */
  GstElement *b = new_element ("matrix-name", "test-share-by-name", NULL);
  GstHarness *ha = harness_for (a, NULL, TRUE);
  GstHarness *hb = harness_for (b, NULL, TRUE);
  GstSharedMatrix *ma = element_matrix (a), *mb = element_matrix (b);
  guint i;

  fail_unless (ma == mb, "the two elements hold different matrices");
  set_update_caps (ha, SNAP_COLS);
  set_update_caps (hb, SNAP_COLS);
  for (i = 0; i < 6; i++) {
    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (i % 2 ? hb : ha, idx, SNAP_N, d,
            SNAP_COLS, i, i), GST_FLOW_OK);
    test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
        GST_SHARED_MATRIX_OP_ADD, idx, SNAP_N, d);
  }
  assert_matrix_equals (a, ref, SNAP_ROWS, SNAP_COLS);
  assert_matrix_equals (b, ref, SNAP_ROWS, SNAP_COLS);
  fail_unless_equals_uint64 (get_u64 (a, "version"), 6);
  fail_unless_equals_uint64 (get_u64 (b, "version"), 6);
  fail_unless_equals_uint64 (get_u64 (a, "updates-applied"), 3);
  fail_unless_equals_uint64 (get_u64 (b, "updates-applied"), 3);
  gst_object_unref (ma);
  gst_object_unref (mb);
  teardown (ha, a, NULL);
  teardown (hb, b, NULL);
}

GST_END_TEST;

GST_START_TEST (test_share_by_object)
{
  float ref[SNAP_ROWS * SNAP_COLS], d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 14;
  GstSharedMatrix *m, *got;
  GstElement *el;
  GstHarness *h;
  GBytes *bytes;
  guint i;

  for (i = 0; i < SNAP_ROWS * SNAP_COLS; i++)
    ref[i] = test_rng_float_nonzero (&state, -2.0f, 2.0f);
  m = new_app_matrix (SNAP_ROWS, SNAP_COLS, ref);
  /* rows/cols of the element are ignored when a matrix is given */
  el = new_element ("matrix", m, NULL);
  got = element_matrix (el);
  fail_unless (got == m);
  gst_object_unref (got);
  h = harness_for (el, NULL, TRUE);
  got = element_matrix (el);
  fail_unless (got == m);
  gst_object_unref (got);
  set_update_caps (h, SNAP_COLS);
  for (i = 0; i < 3; i++) {
    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
    fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS, i, i),
        GST_FLOW_OK);
    test_ref_update_f32 (ref, SNAP_ROWS, SNAP_COLS,
        GST_SHARED_MATRIX_OP_ADD, idx, SNAP_N, d);
  }
  teardown (h, el, NULL);
  /* the application's object holds the result after the element is gone */
  bytes = gst_shared_matrix_get_value (m);
  assert_floats_equal (g_bytes_get_data (bytes, NULL), ref,
      SNAP_ROWS * SNAP_COLS, "application matrix");
  g_bytes_unref (bytes);
  fail_unless_equals_uint64 (gst_shared_matrix_get_version (m), 4);
  gst_object_unref (m);
}

GST_END_TEST;

/* ---- matrix creation and start errors ------------------------------------ */

GST_START_TEST (test_location)
{
  float init[5 * 3], ref[5 * 3], d[2 * 3] = { 1, 2, 3, 4, 5, 6 };
  const gint32 idx[2] = { 4, 0 };
  guint64 state = 15;
  GstSharedMatrix *m;
  gchar *path = g_build_filename (g_get_tmp_dir (), "sm-test-loc-XXXXXX.npy",
      NULL);
  GError *err = NULL;
  GstElement *el;
  GstHarness *h;
  gint fd = g_mkstemp (path);
  guint i;

  close (fd);
  for (i = 0; i < G_N_ELEMENTS (init); i++)
    init[i] = ref[i] = test_rng_float_nonzero (&state, -2.0f, 2.0f);
  m = new_app_matrix (5, 3, init);
  fail_unless (gst_shared_matrix_save_npy (m, path, &err), "%s",
      err ? err->message : "?");
  gst_object_unref (m);

  el = new_element ("location", path, NULL);
  h = harness_for (el, NULL, TRUE);
  assert_matrix_equals (el, ref, 5, 3);
  set_update_caps (h, 3);
  fail_unless_equals_int (push_update (h, idx, 2, d, 3, 0, 0), GST_FLOW_OK);
  test_ref_update_f32 (ref, 5, 3, GST_SHARED_MATRIX_OP_ADD, idx, 2, d);
  assert_matrix_equals (el, ref, 5, 3);
  teardown (h, el, NULL);
  g_unlink (path);
  g_free (path);
}

GST_END_TEST;

/* bfloat16 storage: float32 deltas rounded to nearest even, snapshots typed
 * bfloat16 */
GST_START_TEST (test_bfloat16_matrix)
{
  const gint32 idx[1] = { 1 };
  /* 1 + 2^-8 ties to 1.0 (even), 1 + 3 * 2^-8 ties up to 1 + 2^-6 */
  const float d[3] = { 1.00390625f, 1.01171875f, -3.0f };
  const guint16 want[2 * 3] = { 0, 0, 0, 0x3F80, 0x3F82, 0xC040 };
  GstElement *el = new_element ("rows", (guint64) 2, "cols", 3, "dtype",
      GST_SHARED_MATRIX_DTYPE_BFLOAT16, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  GstSample *sample = NULL;
  GstMapInfo map;
  GstBuffer *buf;

  set_update_caps (h, 3);
  fail_unless_equals_int (push_update (h, idx, 1, d, 3, 0, 0), GST_FLOW_OK);
  g_signal_emit_by_name (el, "snapshot", &sample);
  fail_unless (sample != NULL);
  assert_tensor_caps (gst_sample_get_caps (sample), 2, 3, "bfloat16");
  buf = gst_sample_get_buffer (sample);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_int (map.size, sizeof want);
  fail_unless (memcmp (map.data, want, sizeof want) == 0,
      "bits %04x %04x %04x", ((guint16 *) map.data)[3],
      ((guint16 *) map.data)[4], ((guint16 *) map.data)[5]);
  gst_buffer_unmap (buf, &map);
  gst_sample_unref (sample);
  teardown (h, el, NULL);
}

GST_END_TEST;

/* Starts a bare element and expects the start to fail; returns the error */
static gchar *
start_fails (GstElement * el)
{
  GstBus *bus = gst_bus_new ();
  gchar *text;

  gst_element_set_bus (el, bus);
  fail_unless_equals_int (gst_element_set_state (el, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  text = pop_error_text (bus);
  gst_element_set_state (el, GST_STATE_NULL);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  return text;
}

/* location= or checkpoint-location= naming a FIFO: the start fails at once
 * with an error that says what the path is, instead of waiting in open ()
 * for a writer that never comes */
GST_START_TEST (test_location_fifo)
{
  const gchar *property = __i__ == 0 ? "location" : "checkpoint-location";
  gchar *dir = g_dir_make_tmp ("test-sharedmatrix-XXXXXX", NULL);
  gchar *fifo = g_build_filename (dir, "matrix.npy", NULL);
  GstElement *el;
  gint64 t0;
  gchar *text;

  fail_unless (mkfifo (fifo, 0600) == 0);
  el = __i__ == 0 ? new_element (property, fifo, NULL) :
      new_element ("rows", (guint64) 4, "cols", 2, property, fifo, NULL);
  t0 = g_get_monotonic_time ();
  text = start_fails (el);
  /* generous: the refusal takes microseconds; a blocking open never ends */
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC);
  fail_unless (strstr (text, fifo) != NULL, "%s", text);
  fail_unless (strstr (text, "FIFO") != NULL, "%s", text);
  fail_unless (strstr (text, "regular .npy file") != NULL, "%s", text);
  g_free (text);
  gst_object_unref (el);
  g_unlink (fifo);
  g_rmdir (dir);
  g_free (fifo);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_location_missing)
{
  const gchar *path = "/nonexistent/dir/sm-missing-matrix.npy";
  GstElement *el = new_element ("location", path, NULL);
  gchar *text = start_fails (el);

  fail_unless (strstr (text, path) != NULL, "%s", text);
  g_free (text);
  gst_object_unref (el);
}

GST_END_TEST;

GST_START_TEST (test_no_shape)
{
  GstElement *el = new_element (NULL, NULL);
  gchar *text = start_fails (el);

  fail_unless (strstr (text, "rows") != NULL, "%s", text);
  fail_unless (strstr (text, "cols") != NULL, "%s", text);
  g_free (text);
  g_object_set (el, "rows", (guint64) 10, NULL);
  text = start_fails (el);
  fail_unless (strstr (text, "cols=0") != NULL, "%s", text);
  g_free (text);
  gst_object_unref (el);
}

GST_END_TEST;

/* A file whose shape contradicts rows/cols set on the element */
GST_START_TEST (test_location_shape_mismatch)
{
  GstSharedMatrix *m = new_app_matrix (5, 3, NULL);
  gchar *path = g_build_filename (g_get_tmp_dir (), "sm-test-shape-XXXXXX.npy",
      NULL);
  GError *err = NULL;
  GstElement *el;
  gchar *text;
  gint fd = g_mkstemp (path);

  close (fd);
  fail_unless (gst_shared_matrix_save_npy (m, path, &err));
  gst_object_unref (m);
  el = new_element ("location", path, "rows", (guint64) 5, "cols", 4, NULL);
  text = start_fails (el);
  fail_unless (strstr (text, path) != NULL, "%s", text);
  fail_unless (strstr (text, "5 x 3") != NULL, "%s", text);
  fail_unless (strstr (text, "cols=4") != NULL, "%s", text);
  g_free (text);
  gst_object_unref (el);
  g_unlink (path);
  g_free (path);
}

GST_END_TEST;

/* A matrix-name already in use with another shape */
GST_START_TEST (test_share_by_name_shape_mismatch)
{
  GstElement *a = new_element ("matrix-name", "test-share-mismatch", "rows",
      (guint64) 8, "cols", 4, NULL);
  GstElement *b = new_element ("matrix-name", "test-share-mismatch", "rows",
      (guint64) 8, "cols", 5, NULL);
  GstHarness *ha = harness_for (a, NULL, TRUE);
  gchar *text = start_fails (b);

  fail_unless (strstr (text, "test-share-mismatch") != NULL, "%s", text);
  fail_unless (strstr (text, "8 x 4") != NULL, "%s", text);
  g_free (text);
  teardown (ha, a, NULL);
  gst_object_unref (b);
}

GST_END_TEST;

GST_START_TEST (test_backend_cuda)
{
  GstElement *el = new_element ("rows", (guint64) 10, "cols", 3,
      "backend", GST_SHARED_MATRIX_BACKEND_CUDA, NULL);
  GError *err = NULL;
  GstSharedMatrix *probe = gst_shared_matrix_new (1, 1,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_BACKEND_CUDA, &err);

  if (probe == NULL) {
    /* no usable GPU (or no CUDA in this build): start fails, naming CUDA */
    gchar *text = start_fails (el);

    fail_unless (strstr (text, "CUDA") != NULL, "%s", text);
    g_free (text);
    g_clear_error (&err);
  } else {
    GstSharedMatrixBackend backend;

    fail_unless_equals_int (gst_element_set_state (el, GST_STATE_PLAYING),
        GST_STATE_CHANGE_SUCCESS);
    g_object_get (el, "active-backend", &backend, NULL);
    fail_unless_equals_int (backend, GST_SHARED_MATRIX_BACKEND_CUDA);
    gst_element_set_state (el, GST_STATE_NULL);
    gst_object_unref (probe);
  }
  gst_object_unref (el);
}

GST_END_TEST;

/* ---- stats messages ------------------------------------------------------ */

/* post-messages with message-interval=100 ms and updates every 50 ms (PTS):
 * the first update starts the interval, a message follows every second
 * update after it; rows-per-second = rows of the last interval / 0.1 s. */
GST_START_TEST (test_stats_messages)
{
  const guint n = 5;
  float d[5 * SNAP_COLS];
  gint32 idx[5];
  guint64 state = 16;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "post-messages", TRUE, "message-interval",
      (guint64) (100 * GST_MSECOND), "snapshot-on-eos", FALSE,
      "backend", GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, TRUE);
  GstMessage *msg;
  guint i, count = 0;

  set_update_caps (h, SNAP_COLS);
  for (i = 0; i <= 8; i++) {
    random_update (&state, SNAP_ROWS, SNAP_COLS, idx, n, d);
    fail_unless_equals_int (push_update (h, idx, n, d, SNAP_COLS,
            i * 50 * GST_MSECOND, i), GST_FLOW_OK);
  }
  /* updates at 0..400 ms: messages after those at 100, 200, 300, 400 ms */
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    guint64 version, updates, rows, dropped;
    gdouble rate;
    const gchar *backend;

    fail_unless (gst_structure_has_name (s, "sharedmatrix-stats"));
    fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (el));
    fail_unless (gst_structure_get_uint64 (s, "version", &version));
    fail_unless (gst_structure_get_uint64 (s, "updates-applied", &updates));
    fail_unless (gst_structure_get_uint64 (s, "rows-applied", &rows));
    fail_unless (gst_structure_get_uint64 (s, "rows-dropped", &dropped));
    fail_unless (gst_structure_get_double (s, "rows-per-second", &rate));
    backend = gst_structure_get_string (s, "backend");
    count++;
    /* message k follows update 2k (0-based) */
    fail_unless_equals_uint64 (version, 2 * count + 1);
    fail_unless_equals_uint64 (updates, 2 * count + 1);
    fail_unless_equals_uint64 (rows, (2 * count + 1) * n);
    fail_unless_equals_uint64 (dropped, 0);
    /* 2 updates of n rows in 100 ms */
    fail_unless (fabs (rate - 2 * n * 10) < 1e-6, "message %u: rate %g",
        count, rate);
    fail_unless_equals_string (backend, "cpu");
    gst_message_unref (msg);
  }
  fail_unless_equals_int (count, 4);

  /* one more at EOS with the final counts */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL, "no stats message at EOS");
  {
    const GstStructure *s = gst_message_get_structure (msg);
    guint64 updates = 0;

    fail_unless (gst_structure_has_name (s, "sharedmatrix-stats"));
    fail_unless (gst_structure_get_uint64 (s, "updates-applied", &updates));
    fail_unless_equals_uint64 (updates, 9);
  }
  gst_message_unref (msg);
  teardown (h, el, bus);
}

GST_END_TEST;

/* post-messages=FALSE (default): no element messages */
GST_START_TEST (test_no_stats_messages)
{
  const gint32 idx[1] = { 0 };
  const float d[SNAP_COLS] = { 1, 1, 1, 1 };
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "message-interval", (guint64) 1, NULL);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, TRUE);
  guint i;

  set_update_caps (h, SNAP_COLS);
  for (i = 0; i < 5; i++)
    fail_unless_equals_int (push_update (h, idx, 1, d, SNAP_COLS,
            i * GST_SECOND, i), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_if (gst_bus_have_pending (bus) &&
      gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT) != NULL);
  teardown (h, el, bus);
}

GST_END_TEST;

/* ---- state changes ------------------------------------------------------- */

/* 50 NULL -> PLAYING -> NULL cycles of a real pipeline with data flowing:
 * the matrix outlives state changes, so its version keeps growing. */
GST_START_TEST (test_state_changes)
{
  GstElement *pipeline, *sm;
  GError *err = NULL;
  guint64 last = 0;
  GstBus *bus;
  guint i;

  pipeline = gst_parse_launch ("updatetestsrc rows=1000 cols=16 batch=50 "
      "! sharedmatrix name=sm rows=1000 cols=16 snapshot-every=5 "
      "! fakesink sync=false", &err);
  fail_unless (pipeline != NULL, "%s", err ? err->message : "?");
  sm = gst_bin_get_by_name (GST_BIN (pipeline), "sm");
  bus = gst_element_get_bus (pipeline);

  for (i = 0; i < 50; i++) {
    GstSharedMatrix *m;
    GstMessage *msg;
    guint64 v;
    gint wait;

    fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
            10 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
    /* wait until at least one more update was applied */
    for (wait = 0; wait < 5000; wait++) {
      if (get_u64 (sm, "version") > last)
        break;
      g_usleep (1000);
    }
    v = get_u64 (sm, "version");
    fail_unless (v > last, "cycle %u: version %" G_GUINT64_FORMAT
        " did not grow past %" G_GUINT64_FORMAT, i, v, last);
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (msg == NULL, "error in cycle %u", i);
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    /* the same matrix object survives, holding every applied update */
    m = element_matrix (sm);
    last = gst_shared_matrix_get_version (m);
    fail_unless (last >= v);
    fail_unless_equals_uint64 (get_u64 (sm, "updates-applied"), last);
    gst_object_unref (m);
  }
  fail_unless (last >= 50);
  gst_object_unref (bus);
  gst_object_unref (sm);
  gst_object_unref (pipeline);
}

GST_END_TEST;

/* A capsfilter naming the snapshot shape links in gst-launch (the template
 * allows any dimensions); a shape that is not the matrix's is an error
 * naming ours and what downstream accepts. */
static gboolean
from_sharedmatrix (GstMessage * msg)
{
  GstObject *src = GST_MESSAGE_SRC (msg);

  return GST_IS_ELEMENT (src) && g_str_equal (GST_OBJECT_NAME
      (gst_element_get_factory (GST_ELEMENT (src))), "sharedmatrix");
}

/* @late: a matrix registered under the name "late" after the pipeline was
 * built (so that its shape is unknown while linking), or NULL */
static GstMessage *
run_to_eos_or_error (const gchar * description, guint * sharedmatrix_errors,
    GstSharedMatrix * late)
{
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (description, &err);
  GstBus *bus;
  GstMessage *msg, *other;

  fail_unless (pipeline != NULL && err == NULL, "%s", err ? err->message : "?");
  if (late)
    fail_unless (gst_shared_matrix_register (late, "late", NULL));
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no EOS or error within 10 s: %s", description);
  /* the errors the element posted, this one included, until the stream
   * has been quiet for 200 ms (going to NULL flushes the bus) */
  *sharedmatrix_errors = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR &&
      from_sharedmatrix (msg);
  while ((other = gst_bus_timed_pop_filtered (bus, 200 * GST_MSECOND,
              GST_MESSAGE_ERROR))) {
    *sharedmatrix_errors += from_sharedmatrix (other);
    gst_message_unref (other);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return msg;
}

GST_START_TEST (test_snapshot_shape_capsfilter)
{
  GstMessage *msg;
  GError *err = NULL;
  guint errors;

  GstSharedMatrix *late = new_app_matrix (100, 4, NULL);
  GstElement *pipeline;

  msg = run_to_eos_or_error ("updatetestsrc num-buffers=3 rows=100 cols=4 "
      "! sharedmatrix rows=100 cols=4 "
      "! other/tensors,dimensions=(string)4:100 ! fakesink", &errors, NULL);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  fail_unless_equals_int (errors, 0);
  gst_message_unref (msg);

  /* a shape known before start (rows, cols): the wrong one does not link */
  pipeline = gst_parse_launch ("updatetestsrc num-buffers=3 rows=100 cols=4 "
      "! sharedmatrix rows=100 cols=4 "
      "! other/tensors,dimensions=(string)4:99 ! fakesink", &err);
  fail_unless (err != NULL && err->code == GST_PARSE_ERROR_LINK,
      "linked a capsfilter of another shape");
  g_clear_error (&err);
  gst_clear_object (&pipeline);

  /* known only at start: refused once, posted once however often upstream
   * retries */
  msg = run_to_eos_or_error ("updatetestsrc num-buffers=3 rows=100 cols=4 "
      "! sharedmatrix matrix-name=late "
      "! other/tensors,dimensions=(string)4:99 ! fakesink", &errors, late);
  gst_object_unref (late);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_ERROR);
  fail_unless_equals_int (errors, 1);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "dimensions=4:100") &&
      strstr (err->message, "it accepts: other/tensors, dimensions=(string)4:99"),
      "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
}

GST_END_TEST;

/* ---- NNStreamer tensors in ------------------------------------------------ */

#define NNS_ROWS 40
#define NNS_COLS 6
#define NNS_N 30

/* other/tensors, num_tensors=2: the ids tensor and the deltas tensor in a
 * GstMemory each, as NNStreamer's tensor_filter produces them */
static GstBuffer *
make_tensors_update (const gint32 * idx, guint n, const float *d, guint cols,
    guint64 offset)
{
  gsize dsize = (gsize) n * cols * 4;
  gpointer ids = g_memdup2 (idx, n * 4), deltas = g_memdup2 (d, dsize);
  GstBuffer *buf = gst_buffer_new ();

  gst_buffer_append_memory (buf, gst_memory_new_wrapped (0, ids, n * 4, 0,
          n * 4, ids, g_free));
  gst_buffer_append_memory (buf, gst_memory_new_wrapped (0, deltas, dsize, 0,
          dsize, deltas, g_free));
  GST_BUFFER_OFFSET (buf) = offset;
  return buf;
}

/* The same random updates through the packed layout and through two-memory
 * NNStreamer tensors (ids as "N" and as "1:N") give the same matrix, bit
 * for bit, equal to the reference. */
GST_START_TEST (test_nnstreamer_tensors_in)
{
  static const gchar *ids_dims[] = { "30", "1:30", "30:1:1:1" };
  gint32 idx[3][NNS_N];
  float d[3][NNS_N * NNS_COLS];
  float ref[NNS_ROWS * NNS_COLS] = { 0 }, ref2[NNS_ROWS * NNS_COLS];
  guint64 state = 7;
  GstElement *packed_el = new_element ("rows", (guint64) NNS_ROWS, "cols",
      NNS_COLS, NULL);
  GstHarness *packed = harness_for (packed_el, NULL, FALSE);
  guint b, v;

  set_update_caps (packed, NNS_COLS);
  for (b = 0; b < 3; b++) {
    random_update (&state, NNS_ROWS, NNS_COLS, idx[b], NNS_N, d[b]);
    fail_unless_equals_int (push_update (packed, idx[b], NNS_N, d[b],
            NNS_COLS, b * GST_SECOND, b), GST_FLOW_OK);
    test_ref_update_f32 (ref, NNS_ROWS, NNS_COLS, GST_SHARED_MATRIX_OP_ADD,
        idx[b], NNS_N, d[b]);
  }
  assert_matrix_equals (packed_el, ref, NNS_ROWS, NNS_COLS);

  for (v = 0; v < G_N_ELEMENTS (ids_dims); v++) {
    GstElement *el = new_element ("rows", (guint64) NNS_ROWS, "cols",
        NNS_COLS, NULL);
    GstBus *bus;
    GstHarness *h = harness_for (el, &bus, FALSE);
    gchar *caps = g_strdup_printf ("other/tensors, format=static, "
        "num_tensors=2, types=\"int32,float32\", dimensions=\"%s,%u:%u\", "
        "framerate=0/1", ids_dims[v], NNS_COLS, NNS_N);

    gst_harness_set_src_caps_str (h, caps);
    for (b = 0; b < 3; b++)
      fail_unless_equals_int (gst_harness_push (h,
              make_tensors_update (idx[b], NNS_N, d[b], NNS_COLS, b)),
          GST_FLOW_OK);
    assert_no_error (bus);
    assert_matrix_equals (el, ref, NNS_ROWS, NNS_COLS);
    fail_unless_equals_uint64 (get_u64 (el, "last-offset"), 2);
    fail_unless_equals_uint64 (get_u64 (el, "rows-applied"), 3 * NNS_N);
    /* both tensors in one memory (a gdpdepay replay): the packed layout */
    memcpy (ref2, ref, sizeof (ref));
    test_ref_update_f32 (ref2, NNS_ROWS, NNS_COLS, GST_SHARED_MATRIX_OP_ADD,
        idx[0], NNS_N, d[0]);
    fail_unless_equals_int (push_update (h, idx[0], NNS_N, d[0], NNS_COLS, 0,
            3), GST_FLOW_OK);
    assert_no_error (bus);
    assert_matrix_equals (el, ref2, NNS_ROWS, NNS_COLS);
    g_free (caps);
    teardown (h, el, bus);
  }
  teardown (packed, packed_el, NULL);
}

GST_END_TEST;

/* A tensors buffer that is not two memories of matching N: an error naming
 * what was found, matrix unchanged; bfloat16 (not an NNStreamer type) and
 * ids/deltas of different N are refused at caps. */
GST_START_TEST (test_nnstreamer_tensors_malformed)
{
  gint32 idx[4] = { 1, 2, 3, 4 };
  float d[4 * NNS_COLS] = { 1 };
  float ref[NNS_ROWS * NNS_COLS] = { 0 };
  GstElement *el = new_element ("rows", (guint64) NNS_ROWS, "cols",
      NNS_COLS, NULL);
  GstBus *bus;
  GstHarness *h = harness_for (el, &bus, FALSE);
  GstBuffer *buf;
  GstCaps *refused;
  gchar *text;

  gst_harness_set_src_caps_str (h, "other/tensors, format=static, "
      "num_tensors=2, types=\"int32,float32\", dimensions=\"4,6:4\"");
  /* three memories */
  buf = make_tensors_update (idx, 4, d, NNS_COLS, 0);
  gst_buffer_append_memory (buf, gst_allocator_alloc (NULL, 4, NULL));
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_ERROR);
  text = pop_error_text (bus);
  fail_unless (strstr (text, "3 memories") != NULL, "%s", text);
  g_free (text);
  /* 4 ids, 3 delta rows */
  buf = make_tensors_update (idx, 4, d, NNS_COLS, 1);
  fail_unless (gst_buffer_resize_range (buf, 1, 1, 0, 3 * NNS_COLS * 4));
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_ERROR);
  text = pop_error_text (bus);
  fail_unless (strstr (text, "16 bytes") != NULL &&
      strstr (text, "72 bytes") != NULL, "sizes not named: %s", text);
  g_free (text);
  assert_matrix_equals (el, ref, NNS_ROWS, NNS_COLS);
  fail_unless_equals_uint64 (get_u64 (el, "version"), 0);

  refused = gst_caps_from_string ("other/tensors, format=static, "
      "num_tensors=2, types=\"int32,bfloat16\", dimensions=\"4,6:4\"");
  fail_unless (!gst_shared_matrix_update_info_from_caps
      (&(GstSharedMatrixUpdateInfo) { 0 }, refused));
  gst_caps_unref (refused);
  refused = gst_caps_from_string ("other/tensors, format=static, "
      "num_tensors=2, types=\"int64,float16\", dimensions=\"4,6:5\"");
  fail_unless (!gst_shared_matrix_update_info_from_caps
      (&(GstSharedMatrixUpdateInfo) { 0 }, refused));
  gst_caps_unref (refused);
  teardown (h, el, bus);
}

GST_END_TEST;

/* snapshot-every=3 and 6 updates: the snapshot after the 6th already
 * shows the final version, so EOS adds none (NNStreamer consumers saw the
 * same matrix twice); one more update and EOS snapshots again. */
GST_START_TEST (test_no_repeated_snapshot_at_eos)
{
  float d[SNAP_N * SNAP_COLS];
  gint32 idx[SNAP_N];
  guint64 state = 3;
  GstElement *el = new_element ("rows", (guint64) SNAP_ROWS, "cols",
      SNAP_COLS, "snapshot-every", 3, NULL);
  GstHarness *h = harness_for (el, NULL, TRUE);
  GstSegment segment;
  guint i, round;

  gst_harness_set_sink_caps_str (h, "other/tensors, format=static, "
      "num_tensors=1, types=float32, dimensions=(string)4:8, framerate=0/1");
  set_update_caps (h, SNAP_COLS);
  for (round = 0; round < 2; round++) {
    GstBuffer *buf;

    for (i = 0; i < 6 + round; i++) {
      random_update (&state, SNAP_ROWS, SNAP_COLS, idx, SNAP_N, d);
      fail_unless_equals_int (push_update (h, idx, SNAP_N, d, SNAP_COLS,
              i * GST_MSECOND, i), GST_FLOW_OK);
    }
    fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
    gst_buffer_unref (gst_harness_pull (h));
    buf = gst_harness_pull (h);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), round ? 12 : 6);
    gst_buffer_unref (buf);
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    /* round 0: version 6 was just pushed; round 1: version 13 was not */
    fail_unless_equals_int (gst_harness_buffers_in_queue (h), round);
    if (round) {
      buf = gst_harness_pull (h);
      fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), 13);
      gst_buffer_unref (buf);
    }
    gst_segment_init (&segment, GST_FORMAT_TIME);
    gst_harness_push_event (h, gst_event_new_flush_start ());
    gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
    gst_harness_push_event (h, gst_event_new_segment (&segment));
  }
  teardown (h, el, NULL);
}

GST_END_TEST;

/* The src pad's caps query answer; @first_only: just its first structure
 * (raw other/tensors, before application/x-npy and delta updates) */
static GstCaps *
query_src_caps (GstElement * el, gboolean first_only)
{
  GstPad *src = gst_element_get_static_pad (el, "src");
  GstCaps *caps = gst_pad_query_caps (src, NULL);

  gst_object_unref (src);
  if (first_only) {
    GstCaps *all = caps;

    fail_unless_equals_int (gst_caps_get_size (all), 3);
    caps = gst_caps_copy_nth (all, 0);
    gst_caps_unref (all);
  }
  return caps;
}

/* In NULL/READY, before the matrix exists, the src pad's caps query answers
 * the fixed snapshot caps of the shape the element will have: from rows,
 * cols and dtype, or from the header of the location file; with nothing
 * to go by, the template. */
GST_START_TEST (test_src_caps_before_start)
{
  GstElement *el = new_element ("rows", (guint64) 70000, "cols", 100,
      "dtype", GST_SHARED_MATRIX_DTYPE_FLOAT16, NULL);
  GstSharedMatrix *m = new_app_matrix (5, 3, NULL);
  gchar *path = g_build_filename (g_get_tmp_dir (), "sm-caps-XXXXXX.npy", NULL);
  GstCaps *caps;
  GError *err = NULL;
  gint fd;

  caps = query_src_caps (el, TRUE);
  assert_tensor_caps (caps, 70000, 100, "float16");
  gst_caps_unref (caps);
  gst_object_unref (el);

  fd = g_mkstemp (path);
  fail_unless (fd >= 0);
  close (fd);
  fail_unless (gst_shared_matrix_save_npy (m, path, &err), "%s",
      err ? err->message : "");
  el = new_element ("location", path, NULL);
  caps = query_src_caps (el, TRUE);
  assert_tensor_caps (caps, 5, 3, "float32");
  gst_caps_unref (caps);
  gst_object_unref (el);

  el = new_element (NULL, NULL);
  caps = query_src_caps (el, FALSE);
  fail_if (gst_caps_is_fixed (caps));
  gst_caps_unref (caps);
  gst_object_unref (el);
  g_unlink (path);
  g_free (path);
  gst_object_unref (m);
}

GST_END_TEST;

static Suite *
sharedmatrix_suite (void)
{
  Suite *s = suite_create ("sharedmatrix");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_ops_with_duplicates);
  tcase_add_test (tc, test_set_last_wins);
  tcase_add_test (tc, test_op_change_while_playing);
  tcase_add_test (tc, test_float64_deltas);
  tcase_add_test (tc, test_snapshot_every);
  tcase_add_test (tc, test_snapshot_npy);
  tcase_add_test (tc, test_no_snapshot_on_eos);
  tcase_add_test (tc, test_snapshot_interval);
  tcase_add_test (tc, test_unlinked_src);
  tcase_add_test (tc, test_snapshot_signal);
  tcase_add_test (tc, test_snapshot_signal_from_thread);
  tcase_add_test (tc, test_malformed_buffer);
  tcase_add_test (tc, test_cols_mismatch);
  tcase_add_test (tc, test_caps_query_cols);
  tcase_add_test (tc, test_invalid_index);
  tcase_add_test (tc, test_non_finite);
  tcase_add_test (tc, test_statistics);
  tcase_add_test (tc, test_share_by_name);
  tcase_add_test (tc, test_share_by_object);
  tcase_add_test (tc, test_location);
  tcase_add_test (tc, test_location_missing);
  tcase_add_loop_test (tc, test_location_fifo, 0, 2);
  tcase_add_test (tc, test_location_shape_mismatch);
  tcase_add_test (tc, test_share_by_name_shape_mismatch);
  tcase_add_test (tc, test_bfloat16_matrix);
  tcase_add_test (tc, test_no_shape);
  tcase_add_test (tc, test_backend_cuda);
  tcase_add_test (tc, test_stats_messages);
  tcase_add_test (tc, test_no_stats_messages);
  tcase_add_test (tc, test_state_changes);
  tcase_add_test (tc, test_snapshot_shape_capsfilter);
  tcase_add_test (tc, test_allocation_query_cpu);
  tcase_add_test (tc, test_nnstreamer_tensors_in);
  tcase_add_test (tc, test_nnstreamer_tensors_malformed);
  tcase_add_test (tc, test_no_repeated_snapshot_at_eos);
  tcase_add_test (tc, test_src_caps_before_start);
  return s;
}

GST_CHECK_MAIN (sharedmatrix);
