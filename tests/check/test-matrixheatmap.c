/* gst-sharedmatrix: matrixheatmap element tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every frame the element draws is compared pixel by pixel with a naive
 * reference written here from the documented rules: for each pixel, the
 * block of cells it covers, their mean, the linear map to 0 … 255. The
 * viridis colours are checked against published anchor values, then used to
 * check RGB frames. Input buffers deliberately start at odd addresses.
 */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "element-helpers.h"

#include "sharedmatrix-ops.h"

#define TENSOR_CAPS "other/tensors, format=static, num_tensors=1, " \
    "types=%s, dimensions=(string)\"%u:%" G_GUINT64_FORMAT "\", framerate=0/1"

static const gchar *dtypes[] = { "float32", "float64", "float16", "bfloat16" };

/* ---- helpers ------------------------------------------------------------- */

/* k / 64 for k in [-255, 255]: exact in every dtype, bfloat16 included */
static gdouble
rnd_value (guint32 * state)
{
  *state = *state * 1664525u + 1013904223u;
  return ((gint) ((*state >> 8) % 511) - 255) / 64.0;
}

static void
random_matrix (gdouble * m, gsize n, guint32 seed)
{
  gsize i;

  for (i = 0; i < n; i++)
    m[i] = rnd_value (&seed);
}

/* The matrix in @dtype, starting one byte into its memory so that no
 * element is aligned. */
static GstBuffer *
matrix_buffer (const gdouble * m, gsize n, const gchar * dtype)
{
  gsize size = g_str_equal (dtype, "float64") ? 8 :
      g_str_equal (dtype, "float32") ? 4 : 2;
  guint8 *mem = g_malloc (n * size + 1), *p = mem + 1;
  gsize i;

  for (i = 0; i < n; i++) {
    if (g_str_equal (dtype, "float32")) {
      gfloat f = (gfloat) m[i];

      memcpy (p + i * 4, &f, 4);
    } else if (g_str_equal (dtype, "float64")) {
      memcpy (p + i * 8, &m[i], 8);
    } else {
      guint16 h = g_str_equal (dtype, "float16") ?
          sm_double_to_half (m[i]) : sm_double_to_bfloat16 (m[i]);

      memcpy (p + i * 2, &h, 2);
    }
  }
  return gst_buffer_new_wrapped_full (0, mem, n * size + 1, 1, n * size, mem,
      g_free);
}

/* A harness around a fresh element whose bus catches its errors; after
 * @out_caps (what the harness sink accepts, NULL: anything) come property
 * name, value-string pairs and a NULL. */
static GstHarness *
new_harness (GstElement ** el, GstBus ** bus, const gchar * dtype,
    guint64 rows, guint cols, const gchar * out_caps, ...)
{
  GstHarness *h;
  const gchar *name;
  gchar *caps;
  va_list args;

  *el = gst_element_factory_make ("matrixheatmap", NULL);
  fail_unless (*el != NULL, "matrixheatmap element not found");
  va_start (args, out_caps);
  while ((name = va_arg (args, const gchar *)))
    gst_util_set_object_arg (G_OBJECT (*el), name, va_arg (args,
            const gchar *));
  va_end (args);
  *bus = gst_bus_new ();
  gst_element_set_bus (*el, *bus);
  h = gst_harness_new_with_element (*el, "sink", "src");
  if (out_caps)
    gst_harness_set_sink_caps_str (h, out_caps);
  caps = g_strdup_printf (TENSOR_CAPS, dtype, cols, rows);
  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
  return h;
}

static void
assert_no_error (GstBus * bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

  fail_unless (msg == NULL, "unexpected ERROR message");
}

/* Checks the negotiated output caps. */
static void
assert_out_caps (GstHarness * h, const gchar * format, gint width, gint height)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s;
  gint w = 0, hh = 0;

  fail_unless (caps != NULL, "no caps on the output");
  s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "video/x-raw"));
  fail_unless_equals_string (gst_structure_get_string (s, "format"), format);
  fail_unless (gst_structure_get_int (s, "width", &w));
  fail_unless (gst_structure_get_int (s, "height", &hh));
  fail_unless_equals_int (w, width);
  fail_unless_equals_int (hh, height);
  gst_caps_unref (caps);
}

/* ---- the reference ------------------------------------------------------- */

/* The cells pixel @i of @N covers along a dimension of @n cells, as the
 * element documents: [⌊i·n/N⌋, ⌊(i+1)·n/N⌋) when N ≤ n, else ⌊i·n/N⌋ only. */
static void
ref_block (guint64 i, guint64 n, guint64 N, guint64 * first, guint64 * end)
{
  *first = i * n / N;
  *end = N <= n ? (i + 1) * n / N : *first + 1;
}

/* Unrounded level of every pixel, (mean − lo) × 255 / (hi − lo), NaN where
 * the pixel is to be 0 regardless (NaN mean, or lo = hi). */
static gdouble *
ref_heatmap (const gdouble * m, guint64 rows, guint cols, guint W, guint H,
    gboolean fixed, gdouble min, gdouble max)
{
  gdouble *t = g_new (gdouble, (gsize) W * H);
  gdouble lo = INFINITY, hi = -INFINITY;
  guint64 i, r, r0, r1, c, c0, c1;
  guint x, y;

  if (fixed) {
    lo = min;
    hi = max;
  } else {
    for (i = 0; i < rows * cols; i++) {
      if (isfinite (m[i])) {
        lo = MIN (lo, m[i]);
        hi = MAX (hi, m[i]);
      }
    }
  }
  for (y = 0; y < H; y++) {
    for (x = 0; x < W; x++) {
      gdouble sum = 0.0, mean;

      ref_block (y, rows, H, &r0, &r1);
      ref_block (x, cols, W, &c0, &c1);
      for (r = r0; r < r1; r++)
        for (c = c0; c < c1; c++)
          sum += m[r * cols + c];
      mean = sum / ((r1 - r0) * (c1 - c0));
      t[(gsize) y * W + x] = lo < hi ? (mean - lo) * 255.0 / (hi - lo) : NAN;
    }
  }
  return t;
}

/* round half up, clamp to 0 … 255, NaN -> 0 */
static gint
ref_level (gdouble t)
{
  if (isnan (t))
    return 0;
  return (gint) CLAMP (floor (t + 0.5), 0.0, 255.0);
}

/* The element's 256 colours, from a 1 × 256 ramp; checked by test_viridis. */
static void
element_viridis (guint8 lut[256][3])
{
  gdouble ramp[256];
  GstElement *el;
  GstBus *bus;
  GstHarness *h;
  GstBuffer *out;
  GstMapInfo map;
  gint i;

  for (i = 0; i < 256; i++)
    ramp[i] = i;
  h = new_harness (&el, &bus, "float64", 1, 256,
      "video/x-raw, format=RGB, width=256, height=1",
      "range", "fixed", "min", "0", "max", "255", NULL);
  out = gst_harness_push_and_pull (h, matrix_buffer (ramp, 256, "float64"));
  fail_unless (out != NULL);
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, 768);
  memcpy (lut, map.data, 768);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  test_teardown_with_bus (h, el, bus);
}

/* Pixel by pixel against the unrounded reference levels @t: exact, except
 * that a reference within 1e-9 of a rounding tie may round either way (the
 * element sums in another order). */
static void
assert_frame (GstBuffer * buf, gboolean rgb, guint W, guint H,
    const gdouble * t, guint8 lut[256][3])
{
  guint bpp = rgb ? 3 : 1, stride = GST_ROUND_UP_4 (W * bpp);
  GstMapInfo map;
  guint x, y;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, (gsize) stride * H);
  for (y = 0; y < H; y++) {
    for (x = 0; x < W; x++) {
      const guint8 *p = map.data + (gsize) y * stride + x * bpp;
      gdouble ty = t[(gsize) y * W + x];
      gint want = ref_level (ty), alt = want;

      if (!isnan (ty) && fabs (ty - floor (ty) - 0.5) < 1e-9)
        alt = ref_level (ty - 1e-6) == want ? ref_level (ty + 1e-6) :
            ref_level (ty - 1e-6);
      if (rgb) {
        fail_unless (memcmp (p, lut[want], 3) == 0 || memcmp (p, lut[alt],
                3) == 0, "pixel (%u, %u) is #%02x%02x%02x, expected level %d "
            "#%02x%02x%02x (t = %.9g)", x, y, p[0], p[1], p[2], want,
            lut[want][0], lut[want][1], lut[want][2], ty);
      } else {
        fail_unless (p[0] == want || p[0] == alt,
            "pixel (%u, %u) is %u, expected %d (t = %.9g)", x, y, p[0], want,
            ty);
      }
    }
  }
  gst_buffer_unmap (buf, &map);
}

/* Pushes @m through a fresh element with the given output and range and
 * checks the frame (and that PTS and OFFSET carry over). */
static void
check_render (const gdouble * m, guint64 rows, guint cols, const gchar * dtype,
    gboolean rgb, guint W, guint H, gboolean fixed, gdouble min, gdouble max)
{
  guint8 lut[256][3];
  gchar *caps, smin[G_ASCII_DTOSTR_BUF_SIZE], smax[G_ASCII_DTOSTR_BUF_SIZE];
  GstElement *el;
  GstBus *bus;
  GstHarness *h;
  GstBuffer *in, *out;
  gdouble *t;

  if (rgb)
    element_viridis (lut);
  caps = g_strdup_printf ("video/x-raw, format=%s, width=%u, height=%u",
      rgb ? "RGB" : "GRAY8", W, H);
  g_ascii_dtostr (smin, sizeof smin, min);
  g_ascii_dtostr (smax, sizeof smax, max);
  h = new_harness (&el, &bus, dtype, rows, cols, caps, "range",
      fixed ? "fixed" : "auto", "min", smin, "max", smax, NULL);
  in = matrix_buffer (m, rows * cols, dtype);
  GST_BUFFER_PTS (in) = 7 * GST_SECOND;
  GST_BUFFER_OFFSET (in) = 42;
  out = gst_harness_push_and_pull (h, in);
  fail_unless (out != NULL, "no frame");
  assert_out_caps (h, rgb ? "RGB" : "GRAY8", W, H);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 7 * GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 42);
  t = ref_heatmap (m, rows, cols, W, H, fixed, min, max);
  assert_frame (out, rgb, W, H, t, lut);
  g_free (t);
  gst_buffer_unref (out);
  assert_no_error (bus);
  test_teardown_with_bus (h, el, bus);
  g_free (caps);
}

/* ---- tests --------------------------------------------------------------- */

/* The RGB colours are viridis: published anchors, lightness rising */
GST_START_TEST (test_viridis)
{
  static const guint8 anchors[][4] = {
    /* level, #rrggbb: viridis (0), (0.5), (1) */
    {0, 0x44, 0x01, 0x54}, {128, 0x21, 0x91, 0x8c}, {255, 0xfd, 0xe7, 0x25},
  };
  guint8 lut[256][3];
  guint i;

  element_viridis (lut);
  for (i = 0; i < G_N_ELEMENTS (anchors); i++)
    fail_unless (memcmp (lut[anchors[i][0]], anchors[i] + 1, 3) == 0,
        "level %u is #%02x%02x%02x", anchors[i][0], lut[anchors[i][0]][0],
        lut[anchors[i][0]][1], lut[anchors[i][0]][2]);
  /* Rec. 709 luma grows over every 4 levels */
  for (i = 0; i + 4 < 256; i += 4) {
    guint a = 2126 * lut[i][0] + 7152 * lut[i][1] + 722 * lut[i][2];
    guint b = 2126 * lut[i + 4][0] + 7152 * lut[i + 4][1] + 722 * lut[i + 4][2];

    fail_unless (b > a, "luma falls from level %u to %u", i, i + 4);
  }
}

GST_END_TEST;

/* Levels: round half up, clamp, exact at the ends of the range */
GST_START_TEST (test_levels)
{
  static const gdouble values[] =
      { -5, -0.5, 0.49, 0.5, 10.5, 127.499, 254.5, 255, 300 };
  static const guint8 want[] = { 0, 0, 0, 1, 11, 127, 255, 255, 255 };
  static const gdouble unit[] = { -1, -0.5, 0, 0.5, 1 };
  static const guint8 unit_want[] = { 0, 64, 128, 191, 255 };
  GstElement *el;
  GstBus *bus;
  GstHarness *h;
  GstBuffer *out;
  GstMapInfo map;

  h = new_harness (&el, &bus, "float64", 1, G_N_ELEMENTS (values),
      "video/x-raw, format=GRAY8", "range", "fixed", "min", "0", "max", "255",
      NULL);
  out = gst_harness_push_and_pull (h, matrix_buffer (values,
          G_N_ELEMENTS (values), "float64"));
  assert_out_caps (h, "GRAY8", G_N_ELEMENTS (values), 1);
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  fail_unless (memcmp (map.data, want, sizeof want) == 0,
      "levels %u %u %u %u %u %u %u %u %u", map.data[0], map.data[1],
      map.data[2], map.data[3], map.data[4], map.data[5], map.data[6],
      map.data[7], map.data[8]);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  test_teardown_with_bus (h, el, bus);

  /* the default fixed range is -1 … 1: 0 is 127.5 -> 128 */
  h = new_harness (&el, &bus, "float32", 1, 5, "video/x-raw, format=GRAY8",
      "range", "fixed", NULL);
  out = gst_harness_push_and_pull (h, matrix_buffer (unit, 5, "float32"));
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  fail_unless (memcmp (map.data, unit_want, 5) == 0, "levels %u %u %u %u %u",
      map.data[0], map.data[1], map.data[2], map.data[3], map.data[4]);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  test_teardown_with_bus (h, el, bus);
}

GST_END_TEST;

/* Every dtype, GRAY8 and RGB, auto and fixed range, downscaled in both
 * dimensions with blocks of uneven size (37 rows to 5, 23 columns to 7) */
GST_START_TEST (test_downscale_uneven)
{
  gdouble m[37 * 23];
  guint d, rgb, fixed;

  random_matrix (m, G_N_ELEMENTS (m), 1);
  for (d = 0; d < G_N_ELEMENTS (dtypes); d++)
    for (rgb = 0; rgb < 2; rgb++)
      for (fixed = 0; fixed < 2; fixed++)
        check_render (m, 37, 23, dtypes[d], rgb, 7, 5, fixed, -2.5, 1.75);
}

GST_END_TEST;

/* Larger than the matrix: cells repeat unevenly (3 x 2 to 7 x 10); and one
 * dimension down, the other up */
GST_START_TEST (test_upscale)
{
  gdouble m[30 * 4];
  guint d;

  random_matrix (m, G_N_ELEMENTS (m), 2);
  for (d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    check_render (m, 3, 2, dtypes[d], FALSE, 7, 10, FALSE, 0, 0);
    check_render (m, 3, 2, dtypes[d], TRUE, 7, 10, TRUE, -1, 1);
    check_render (m, 4, 30, dtypes[d], FALSE, 8, 9, FALSE, 0, 0);
    check_render (m, 30, 4, dtypes[d], TRUE, 9, 8, FALSE, 0, 0);
  }
}

GST_END_TEST;

/* One pixel per cell: levels straight from the cells */
GST_START_TEST (test_same_size)
{
  gdouble m[16 * 9];

  random_matrix (m, G_N_ELEMENTS (m), 3);
  check_render (m, 16, 9, "float32", FALSE, 9, 16, FALSE, 0, 0);
  check_render (m, 16, 9, "bfloat16", TRUE, 9, 16, TRUE, -3, 3);
}

GST_END_TEST;

/* A constant matrix: auto range draws all 0, a fixed range maps the value */
GST_START_TEST (test_constant)
{
  gdouble m[6 * 5];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (m); i++)
    m[i] = 3.25;
  check_render (m, 6, 5, "float32", FALSE, 5, 6, FALSE, 0, 0);
  check_render (m, 6, 5, "float16", TRUE, 3, 4, FALSE, 0, 0);
  check_render (m, 6, 5, "float64", FALSE, 5, 6, TRUE, 3, 4);
  check_render (m, 6, 5, "float64", FALSE, 5, 6, TRUE, 2, 3.5);
  /* infinities do not count for the range, and are 0 too when lo = hi */
  m[7] = INFINITY;
  m[8] = -INFINITY;
  check_render (m, 6, 5, "float32", FALSE, 5, 6, FALSE, 0, 0);
  check_render (m, 6, 5, "float32", FALSE, 5, 6, TRUE, 3, 4);
}

GST_END_TEST;

/* NaN blocks draw 0, infinities clamp, and neither counts for auto range */
GST_START_TEST (test_non_finite)
{
  gdouble m[8 * 6];
  guint d;

  random_matrix (m, G_N_ELEMENTS (m), 4);
  m[0 * 6 + 0] = NAN;           /* block (0, 0) of 2 x 2 */
  m[2 * 6 + 3] = INFINITY;      /* block (1, 1) */
  m[5 * 6 + 5] = -INFINITY;     /* block (2, 2) */
  m[7 * 6 + 0] = INFINITY;      /* block (0, 3): +inf and -inf */
  m[7 * 6 + 1] = -INFINITY;
  for (d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    check_render (m, 8, 6, dtypes[d], FALSE, 3, 4, FALSE, 0, 0);
    check_render (m, 8, 6, dtypes[d], FALSE, 6, 8, FALSE, 0, 0);
    check_render (m, 8, 6, dtypes[d], TRUE, 3, 4, TRUE, -1, 1);
  }
}

GST_END_TEST;

/* An all-NaN matrix has no auto range: all 0, no error */
GST_START_TEST (test_all_nan)
{
  gdouble m[4] = { NAN, NAN, NAN, NAN };

  check_render (m, 2, 2, "float32", FALSE, 2, 2, FALSE, 0, 0);
}

GST_END_TEST;

/* Sizes downstream leaves open: one pixel per cell up to 1024, each
 * dimension on its own; RGB unless downstream wants GRAY8 */
GST_START_TEST (test_default_size)
{
  static const struct
  {
    guint64 rows;
    guint cols;
    const gchar *caps;
    const gchar *format;
    gint width, height;
  } cases[] = {
    {37, 23, NULL, "RGB", 23, 37},
    {70000, 100, NULL, "RGB", 100, 1024},
    {3, 5000, "video/x-raw, format=GRAY8", "GRAY8", 1024, 3},
    {2000, 3000, "video/x-raw, width=300", "RGB", 300, 1024},
    {10, 10, "video/x-raw, width=[40, 50], height=[1, 5]", "RGB", 40, 5},
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    gsize n = cases[i].rows * cases[i].cols;
    gdouble *m = g_new0 (gdouble, n);
    GstElement *el;
    GstBus *bus;
    GstHarness *h = new_harness (&el, &bus, "bfloat16", cases[i].rows,
        cases[i].cols, cases[i].caps, NULL);
    GstBuffer *out;

    out = gst_harness_push_and_pull (h, matrix_buffer (m, n, "bfloat16"));
    fail_unless (out != NULL);
    assert_out_caps (h, cases[i].format, cases[i].width, cases[i].height);
    gst_buffer_unref (out);
    assert_no_error (bus);
    test_teardown_with_bus (h, el, bus);
    g_free (m);
  }
}

GST_END_TEST;

/* A 70000 x 100 matrix to its default 100 x 1024 image, by value */
GST_START_TEST (test_large_default)
{
  gsize n = 70000 * 100;
  gdouble *m = g_new (gdouble, n);

  random_matrix (m, n, 5);
  check_render (m, 70000, 100, "float32", TRUE, 100, 1024, FALSE, 0, 0);
  g_free (m);
}

GST_END_TEST;

/* range, min and max apply from the next frame while playing */
GST_START_TEST (test_range_change_while_playing)
{
  gdouble m[4] = { 0, 1, 2, 4 };
  GstElement *el;
  GstBus *bus;
  GstHarness *h = new_harness (&el, &bus, "float64", 1, 4,
      "video/x-raw, format=GRAY8", NULL);
  GstBuffer *out;
  GstMapInfo map;

  out = gst_harness_push_and_pull (h, matrix_buffer (m, 4, "float64"));
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  /* auto: 0 … 4 */
  fail_unless (map.data[0] == 0 && map.data[1] == 64 && map.data[2] == 128
      && map.data[3] == 255);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);

  g_object_set (el, "range", 1, "min", 0.0, "max", 2.0, NULL);
  out = gst_harness_push_and_pull (h, matrix_buffer (m, 4, "float64"));
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  fail_unless (map.data[0] == 0 && map.data[1] == 128 && map.data[2] == 255
      && map.data[3] == 255);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  assert_no_error (bus);
  test_teardown_with_bus (h, el, bus);
}

GST_END_TEST;

/* A buffer of the wrong size is an error naming both sizes */
GST_START_TEST (test_bad_buffer_size)
{
  gdouble m[12] = { 0 };
  GstElement *el;
  GstBus *bus;
  GstHarness *h = new_harness (&el, &bus, "float32", 3, 4, NULL, NULL);
  gchar *text;

  /* 11 float32 values = 44 bytes for a 3 x 4 matrix of 48 */
  fail_unless_equals_int (gst_harness_push (h, matrix_buffer (m, 11,
              "float32")), GST_FLOW_ERROR);
  text = test_pop_error_text (bus);
  fail_unless (strstr (text, "44") && strstr (text, "48"),
      "sizes not named: %s", text);
  g_free (text);
  test_teardown_with_bus (h, el, bus);
}

GST_END_TEST;

/* Caps that do not describe one matrix fail negotiation with an error
 * saying what is needed */
GST_START_TEST (test_bad_dimensions)
{
  static const gchar *bad[] = { "4:3:2", "x:3", "0:3", "4:0" };
  gdouble m[12] = { 0 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++) {
    GstElement *el = gst_element_factory_make ("matrixheatmap", NULL);
    GstBus *bus = gst_bus_new ();
    GstHarness *h;
    GstSegment segment;
    GstCaps *caps;
    gchar *text;

    gst_element_set_bus (el, bus);
    h = gst_harness_new_with_element (el, "sink", "src");
    /* not gst_harness_set_src_caps (), which asserts that caps are taken */
    fail_unless (gst_pad_push_event (h->srcpad,
            gst_event_new_stream_start ("bad")));
    caps = gst_caps_from_string ("other/tensors, format=static, "
        "num_tensors=1, types=float32, framerate=0/1");
    gst_caps_set_simple (caps, "dimensions", G_TYPE_STRING, bad[i], NULL);
    gst_pad_push_event (h->srcpad, gst_event_new_caps (caps));
    gst_caps_unref (caps);
    gst_segment_init (&segment, GST_FORMAT_TIME);
    gst_pad_push_event (h->srcpad, gst_event_new_segment (&segment));
    fail_unless_equals_int (gst_harness_push (h, matrix_buffer (m, 12,
                "float32")), GST_FLOW_NOT_NEGOTIATED);
    text = test_pop_error_text (bus);
    fail_unless (strstr (text, "dimensions=<cols>:<rows>") != NULL,
        "%s: %s", bad[i], text);
    g_free (text);
    test_teardown_with_bus (h, el, bus);
  }
}

GST_END_TEST;

/* range=fixed with min >= max is an error naming both values */
GST_START_TEST (test_bad_fixed_range)
{
  gdouble m[4] = { 0 };
  GstElement *el;
  GstBus *bus;
  GstHarness *h = new_harness (&el, &bus, "float32", 2, 2, NULL, "range",
      "fixed", "min", "2.5", "max", "-1.5", NULL);
  gchar *text;

  fail_unless_equals_int (gst_harness_push (h, matrix_buffer (m, 4,
              "float32")), GST_FLOW_ERROR);
  text = test_pop_error_text (bus);
  fail_unless (strstr (text, "2.5") && strstr (text, "-1.5"),
      "values not named: %s", text);
  g_free (text);
  test_teardown_with_bus (h, el, bus);
}

GST_END_TEST;

static Suite *
matrixheatmap_suite (void)
{
  Suite *s = suite_create ("matrixheatmap");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_viridis);
  tcase_add_test (tc, test_levels);
  tcase_add_test (tc, test_downscale_uneven);
  tcase_add_test (tc, test_upscale);
  tcase_add_test (tc, test_same_size);
  tcase_add_test (tc, test_constant);
  tcase_add_test (tc, test_non_finite);
  tcase_add_test (tc, test_all_nan);
  tcase_add_test (tc, test_default_size);
  tcase_add_test (tc, test_large_default);
  tcase_add_test (tc, test_range_change_while_playing);
  tcase_add_test (tc, test_bad_buffer_size);
  tcase_add_test (tc, test_bad_dimensions);
  tcase_add_test (tc, test_bad_fixed_range);
  return s;
}

GST_CHECK_MAIN (matrixheatmap);
