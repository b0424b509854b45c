/* gst-sharedmatrix: tests for the updatetestsrc element
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Statistical checks use a fixed seed, so they are deterministic; their
 * bounds are still derived (5 standard deviations of the statistic for the
 * sample size used) so that any correct generator passes them with
 * overwhelming probability and a seed change cannot make them flaky.
 */
#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "sharedmatrix-ops.h"

static const gchar *dtypes[] = { "float32", "float64", "float16", "bfloat16" };
static const guint dtype_sizes[] = { 4, 8, 2, 2 };
static const gchar *index_types[] = { "int32", "int64" };
static const guint index_sizes[] = { 4, 8 };

static GstHarness *
start_src (const gchar * props)
{
  gchar *desc = g_strdup_printf ("updatetestsrc %s", props);
  GstHarness *h = gst_harness_new_parse (desc);

  g_free (desc);
  gst_harness_play (h);
  return h;
}

/* Pulls @n buffers and concatenates their bytes. */
static GByteArray *
pull_bytes (GstHarness * h, guint n)
{
  GByteArray *bytes = g_byte_array_new ();
  guint i;

  for (i = 0; i < n; i++) {
    GstBuffer *buf = gst_harness_pull (h);
    GstMapInfo map;

    fail_unless (buf != NULL, "buffer %u missing", i);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    g_byte_array_append (bytes, map.data, map.size);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  return bytes;
}

/* Runs a fresh element and returns the bytes of its first @n buffers. */
static GByteArray *
run_src (const gchar * props, guint n)
{
  gchar *all = g_strdup_printf ("%s num-buffers=%u", props, n);
  GstHarness *h = start_src (all);
  GByteArray *bytes = pull_bytes (h, n);

  gst_harness_teardown (h);
  g_free (all);
  return bytes;
}

static gboolean
bytes_equal (GByteArray * a, GByteArray * b)
{
  return a->len == b->len && memcmp (a->data, b->data, a->len) == 0;
}

/* Walks the records of the concatenated buffers of a run with @batch rows
 * per buffer: calls back with each buffer's indices and deltas. */
typedef void (*UpdateFunc) (const guint8 * indices, const guint8 * deltas,
    guint batch, gpointer user_data);

static void
for_each_update (GByteArray * bytes, guint n_buffers, guint batch,
    guint isize, guint cols, guint dsize, UpdateFunc func, gpointer user_data)
{
  gsize buf_size = (gsize) batch * (isize + (gsize) cols * dsize);
  guint i;

  fail_unless_equals_uint64 (bytes->len, buf_size * n_buffers);
  for (i = 0; i < n_buffers; i++) {
    const guint8 *p = bytes->data + i * buf_size;

    func (p, p + (gsize) batch * isize, batch, user_data);
  }
}

/* ---- caps and layout --------------------------------------------------- */

GST_START_TEST (test_caps)
{
  GstHarness *h = start_src ("cols=7 dtype=bfloat16 index-type=int64 "
      "num-buffers=1");
  GstBuffer *buf = gst_harness_pull (h);
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s;
  gint cols;

  fail_unless (buf != NULL);
  fail_unless (caps != NULL);
  fail_unless (gst_caps_is_fixed (caps));
  s = gst_caps_get_structure (caps, 0);
  assert_equals_string (gst_structure_get_name (s),
      "application/x-matrix-update");
  assert_equals_string (gst_structure_get_string (s, "dtype"), "bfloat16");
  assert_equals_string (gst_structure_get_string (s, "index-type"), "int64");
  fail_unless (gst_structure_get_int (s, "cols", &cols));
  fail_unless_equals_int (cols, 7);
  fail_unless_equals_int (gst_structure_n_fields (s), 3);

  gst_caps_unref (caps);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_properties)
{
  GstElement *src = gst_element_factory_make ("updatetestsrc", NULL);
  guint64 rows, seed;
  guint cols, batch;
  gdouble zipf_exponent, scale;
  gint dtype, index_type, distribution;

  fail_unless (src != NULL);
  g_object_get (src, "rows", &rows, "cols", &cols, "batch", &batch,
      "zipf-exponent", &zipf_exponent, "seed", &seed, "scale", &scale,
      "dtype", &dtype, "index-type", &index_type, "distribution",
      &distribution, NULL);
  fail_unless_equals_uint64 (rows, 70000);
  fail_unless_equals_int (cols, 100);
  fail_unless_equals_int (batch, 200);
  fail_unless_equals_float (zipf_exponent, 1.1);
  fail_unless_equals_uint64 (seed, 0);
  fail_unless_equals_float (scale, 1.0);
  fail_unless_equals_int (dtype, 0);    /* float32 */
  fail_unless_equals_int (index_type, 0);       /* int32 */
  fail_unless_equals_int (distribution, 0);     /* uniform */

  gst_util_set_object_arg (G_OBJECT (src), "distribution", "zipf");
  gst_util_set_object_arg (G_OBJECT (src), "dtype", "float16");
  g_object_set (src, "seed", G_MAXUINT64, "rows", G_GUINT64_CONSTANT (1) << 63,
      NULL);
  g_object_get (src, "distribution", &distribution, "dtype", &dtype,
      "seed", &seed, "rows", &rows, NULL);
  fail_unless_equals_int (distribution, 1);
  fail_unless_equals_int (dtype, 2);
  fail_unless_equals_uint64 (seed, G_MAXUINT64);
  fail_unless_equals_uint64 (rows, G_GUINT64_CONSTANT (1) << 63);

  gst_object_unref (src);
}

GST_END_TEST;

/* size = N × (index size + cols × dtype size), for every combination */
GST_START_TEST (test_buffer_sizes)
{
  guint d, i;

  for (d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    for (i = 0; i < G_N_ELEMENTS (index_types); i++) {
      gchar *props = g_strdup_printf ("batch=13 cols=5 dtype=%s "
          "index-type=%s num-buffers=2", dtypes[d], index_types[i]);
      GstHarness *h = start_src (props);
      guint k;

      for (k = 0; k < 2; k++) {
        GstBuffer *buf = gst_harness_pull (h);

        fail_unless (buf != NULL);
        fail_unless_equals_uint64 (gst_buffer_get_size (buf),
            13 * (index_sizes[i] + 5 * dtype_sizes[d]));
        gst_buffer_unref (buf);
      }
      gst_harness_teardown (h);
      g_free (props);
    }
  }
}

GST_END_TEST;

/* OFFSET = 0, 1, 2, …; OFFSET_END = OFFSET + 1; no timestamps of our own */
GST_START_TEST (test_offsets)
{
  GstHarness *h = start_src ("batch=3 cols=2 num-buffers=6");
  guint64 i;

  for (i = 0; i < 6; i++) {
    GstBuffer *buf = gst_harness_pull (h);

    fail_unless (buf != NULL);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), i);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), i + 1);
    fail_if (GST_BUFFER_DURATION_IS_VALID (buf));
    gst_buffer_unref (buf);
  }
  gst_harness_teardown (h);
}

GST_END_TEST;

/* num-buffers is honoured: exactly n buffers, then EOS */
GST_START_TEST (test_num_buffers_eos)
{
  GstHarness *h = start_src ("batch=2 cols=2 num-buffers=4");
  GstBuffer *buf = NULL;
  guint i;

  for (i = 0; i < 4; i++) {
    buf = gst_harness_pull (h);
    fail_unless (buf != NULL);
    gst_buffer_unref (buf);
  }
  fail_unless (gst_harness_pull_until_eos (h, &buf));
  fail_unless (buf == NULL, "a buffer after num-buffers");
  fail_unless_equals_int (gst_harness_buffers_received (h), 4);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* batch=0: valid, empty updates, still numbered */
GST_START_TEST (test_batch_zero)
{
  GstHarness *h = start_src ("batch=0 cols=9 num-buffers=3");
  guint64 i;

  for (i = 0; i < 3; i++) {
    GstBuffer *buf = gst_harness_pull (h);

    fail_unless (buf != NULL);
    fail_unless_equals_uint64 (gst_buffer_get_size (buf), 0);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), i);
    gst_buffer_unref (buf);
  }
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- indices --------------------------------------------------------- */

typedef struct
{
  gboolean is_int64;
  guint64 rows;
  guint64 *counts;              /* rows entries, or NULL */
  guint64 count_last;           /* occurrences of rows - 1 */
  guint64 n;
} IndexCheck;

static void
check_indices (const guint8 * indices, const guint8 * deltas, guint batch,
    gpointer user_data)
{
  IndexCheck *c = user_data;
  guint i;

  for (i = 0; i < batch; i++) {
    gint64 idx = sm_load_index (indices, c->is_int64, i);

    fail_unless (idx >= 0 && (guint64) idx < c->rows,
        "index %" G_GINT64_FORMAT " outside [0, %" G_GUINT64_FORMAT ")", idx,
        c->rows);
    if (c->counts)
      c->counts[idx]++;
    if ((guint64) idx == c->rows - 1)
      c->count_last++;
    c->n++;
  }
}

static void
collect_indices (const gchar * props, guint batch, guint n_buffers,
    IndexCheck * c)
{
  gchar *all = g_strdup_printf ("%s batch=%u cols=1 rows=%" G_GUINT64_FORMAT
      " index-type=%s", props, batch, c->rows, c->is_int64 ? "int64" : "int32");
  GByteArray *bytes = run_src (all, n_buffers);

  for_each_update (bytes, n_buffers, batch, c->is_int64 ? 8 : 4, 1, 4,
      check_indices, c);
  fail_unless_equals_uint64 (c->n, (guint64) batch * n_buffers);
  g_byte_array_unref (bytes);
  g_free (all);
}

/* Every index lies in [0, rows), for both distributions, small and huge
 * rows, up to the largest each index type allows. */
GST_START_TEST (test_indices_in_range)
{
  static const struct
  {
    guint64 rows;
    gboolean is_int64;
  } shapes[] = {
    {1, FALSE}, {7, FALSE}, {70000, FALSE},
    {G_GUINT64_CONSTANT (2147483648), FALSE},   /* int32 limit */
    {7, TRUE}, {G_GUINT64_CONSTANT (3) << 61, TRUE},    /* Lemire rejects 1/4 */
    {G_GUINT64_CONSTANT (1) << 63, TRUE},       /* int64 limit */
  };
  static const gchar *dists[] = {
    "distribution=uniform", "distribution=zipf zipf-exponent=1.1",
    "distribution=zipf zipf-exponent=0.5", "distribution=zipf zipf-exponent=1",
  };
  guint s, d;

  for (s = 0; s < G_N_ELEMENTS (shapes); s++) {
    for (d = 0; d < G_N_ELEMENTS (dists); d++) {
      IndexCheck c = { shapes[s].is_int64, shapes[s].rows, NULL, 0, 0 };
      gchar *props = g_strdup_printf ("%s seed=%u", dists[d], s * 10 + d);

      collect_indices (props, 500, 4, &c);
      g_free (props);
    }
  }
}

GST_END_TEST;

/* |count - M p| <= 5 sqrt (M p (1 - p)) for a binomial count */
static void
assert_count_near (guint64 count, guint64 m, gdouble p, const gchar * what)
{
  gdouble mean = m * p, sigma = sqrt (m * p * (1.0 - p));

  fail_unless (fabs ((gdouble) count - mean) <= 5.0 * sigma,
      "%s: count %" G_GUINT64_FORMAT ", expected %.1f +- 5 x %.1f", what,
      count, mean, sigma);
}

/* Uniform rows: each of 7 rows within 5 sigma of M / 7. */
GST_START_TEST (test_uniform_frequencies)
{
  guint64 counts[7] = { 0 };
  IndexCheck c = { FALSE, 7, counts, 0, 0 };
  guint r;

  collect_indices ("seed=42", 1000, 20, &c);
  for (r = 0; r < 7; r++)
    assert_count_near (counts[r], c.n, 1.0 / 7, "uniform row");
}

GST_END_TEST;

/* Zipf rows, rows = 7: every row's count within 5 sigma of M p(r), with
 * p(r) = (r + 1)^-s / sum_k k^-s, for exponents below, at and above 1.
 * M = 100000 draws each: enough to tell the sampler from its hat function
 * (accepting every candidate shifts p(1) by 10 sigma for s = 2.5).
 * For s = 1.1 this bounds the ratio count(row 0) / count(row 6) below by
 * (E0 - 5 sigma0) / (E6 + 5 sigma6), about 7.8 (the true ratio is
 * 7^1.1 = 8.5); asserted explicitly. */
GST_START_TEST (test_zipf_frequencies)
{
  static const gdouble exponents[] = { 0.5, 1.0, 1.1, 2.5 };
  const guint64 rows = 7;
  guint e;

  for (e = 0; e < G_N_ELEMENTS (exponents); e++) {
    gdouble s = exponents[e], norm = 0.0, p[7];
    guint64 counts[7] = { 0 };
    IndexCheck c = { FALSE, rows, counts, 0, 0 };
    gchar *props;
    guint r;

    for (r = 0; r < rows; r++)
      norm += pow (r + 1, -s);
    for (r = 0; r < rows; r++)
      p[r] = pow (r + 1, -s) / norm;

    props = g_strdup_printf ("seed=%u distribution=zipf zipf-exponent=%g",
        100 + e, s);
    collect_indices (props, 5000, 20, &c);
    g_free (props);

    for (r = 0; r < rows; r++)
      assert_count_near (counts[r], c.n, p[r], "zipf row");

    if (s == 1.1) {
      gdouble m = c.n;
      gdouble lo0 = m * p[0] - 5 * sqrt (m * p[0] * (1 - p[0]));
      gdouble hi6 = m * p[6] + 5 * sqrt (m * p[6] * (1 - p[6]));

      fail_unless ((gdouble) counts[0] / counts[6] >= lo0 / hi6,
          "row 0 / row 6 = %g, derived bound %g", (gdouble) counts[0] /
          counts[6], lo0 / hi6);
      fail_unless (lo0 / hi6 > 7.5);
    }
  }
}

GST_END_TEST;

/* Zipf s = 1.1 over 70000 rows: row 0 has p0 = 1 / H(70000, 1.1) ~ 0.137
 * and its count is within 5 sigma of M p0; row 69999 has
 * p = p0 × 70000^-1.1 ~ 6.5e-7, so in M = 20000 draws its count is Poisson
 * with lambda ~ 0.013 and P(count >= 4) < 1e-9: we assert count <= 3,
 * hence count(row 0) / max (count(last), 1) >= (M p0 - 5 sigma) / 3, which
 * is about 870. */
GST_START_TEST (test_zipf_skew_large)
{
  const guint64 rows = 70000;
  gdouble norm = 0.0, p0, p_last;
  guint64 *counts = g_new0 (guint64, rows);
  IndexCheck c = { FALSE, rows, counts, 0, 0 };
  guint64 r;

  for (r = rows; r >= 1; r--)   /* small terms first */
    norm += pow ((gdouble) r, -1.1);
  p0 = 1.0 / norm;
  p_last = p0 * pow ((gdouble) rows, -1.1);
  fail_unless (p_last * 20000 < 0.02, "lambda %g", p_last * 20000);

  collect_indices ("seed=7 distribution=zipf zipf-exponent=1.1", 1000, 20, &c);
  assert_count_near (counts[0], c.n, p0, "zipf row 0");
  fail_unless (c.count_last <= 3, "row %" G_GUINT64_FORMAT " drawn %"
      G_GUINT64_FORMAT " times", rows - 1, c.count_last);
  fail_unless (counts[0] > counts[1] && counts[1] > counts[9]
      && counts[9] > counts[999]);
  g_free (counts);
}

GST_END_TEST;

/* ---- deltas ------------------------------------------------------------ */

typedef struct
{
  gint dtype;
  guint cols;
  gdouble sum, sum2;
  guint64 n;
} Moments;

static void
add_moments (const guint8 * indices, const guint8 * deltas, guint batch,
    gpointer user_data)
{
  Moments *m = user_data;
  guint64 i, n = (guint64) batch * m->cols;
  guint size = sm_dtype_size (m->dtype);

  for (i = 0; i < n; i++) {
    gdouble v = sm_load (deltas + i * size, m->dtype);

    m->sum += v;
    m->sum2 += v * v;
  }
  m->n += n;
}

/* Deltas ~ N(0, scale²) for scale = 3, every dtype: over n = 100000
 * values the sample mean has sd scale / sqrt (n) = 0.0095 and the sample
 * standard deviation has sd ~ scale / sqrt (2 n) = 0.0067; both must lie
 * within 5 of those. Rounding to bfloat16 (relative 2^-9) moves the
 * standard deviation by far less than that. */
GST_START_TEST (test_delta_moments)
{
  const gdouble scale = 3.0;
  gint d;

  for (d = 0; d < (gint) G_N_ELEMENTS (dtypes); d++) {
    Moments m = { d, 100, 0.0, 0.0, 0 };
    gchar *props = g_strdup_printf ("seed=%d scale=3 batch=200 cols=100 "
        "dtype=%s", 1000 + d, dtypes[d]);
    GByteArray *bytes = run_src (props, 5);
    gdouble mean, sd;

    for_each_update (bytes, 5, 200, 4, 100, dtype_sizes[d], add_moments, &m);
    fail_unless_equals_uint64 (m.n, 100000);
    mean = m.sum / m.n;
    sd = sqrt (m.sum2 / m.n - mean * mean);
    fail_unless (fabs (mean) <= 5 * scale / sqrt (m.n),
        "%s: mean %g", dtypes[d], mean);
    fail_unless (fabs (sd - scale) <= 5 * scale / sqrt (2.0 * m.n),
        "%s: sd %g", dtypes[d], sd);
    g_byte_array_unref (bytes);
    g_free (props);
  }
}

GST_END_TEST;

/* The dtype only changes the final rounding: the same seed draws the same
 * rows and the same normals, so every dtype's deltas are the float64
 * deltas rounded (round to nearest even, from double). */
GST_START_TEST (test_dtypes_share_stream)
{
  const guint batch = 9, cols = 7, n_buffers = 3;
  GByteArray *ref = run_src ("seed=5 batch=9 cols=7 dtype=float64 "
      "index-type=int64 distribution=zipf scale=1e-3", n_buffers);
  guint d;

  for (d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    gchar *props = g_strdup_printf ("seed=5 batch=9 cols=7 dtype=%s "
        "index-type=int64 distribution=zipf scale=1e-3", dtypes[d]);
    GByteArray *got = run_src (props, n_buffers);
    gsize rec = batch * (8 + cols * 8), grec = batch * (8 + cols *
        dtype_sizes[d]);
    gsize b, i;

    fail_unless_equals_uint64 (got->len, grec * n_buffers);
    for (b = 0; b < n_buffers; b++) {
      const guint8 *rp = ref->data + b * rec, *gp = got->data + b * grec;

      fail_unless (memcmp (rp, gp, batch * 8) == 0, "%s: rows differ",
          dtypes[d]);
      for (i = 0; i < (gsize) batch * cols; i++) {
        gdouble v;
        guint8 want[8];

        memcpy (&v, rp + batch * 8 + i * 8, 8);
        v = GDOUBLE_FROM_LE (v);
        sm_store (want, d, v);
        fail_unless (memcmp (want, gp + batch * 8 + i * dtype_sizes[d],
                dtype_sizes[d]) == 0, "%s: delta %" G_GSIZE_FORMAT
            " of buffer %" G_GSIZE_FORMAT " differs", dtypes[d], i, b);
      }
    }
    g_byte_array_unref (got);
    g_free (props);
  }
  g_byte_array_unref (ref);
}

GST_END_TEST;

/* ---- determinism --------------------------------------------------------- */

GST_START_TEST (test_same_seed_same_bytes)
{
  static const gchar *configs[] = {
    "seed=77",
    "seed=77 distribution=zipf dtype=float16 index-type=int64 batch=31 cols=3",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (configs); i++) {
    GByteArray *a = run_src (configs[i], 4);
    GByteArray *b = run_src (configs[i], 4);
    gchar *other = g_strdup_printf ("%s seed=78", configs[i]);
    GByteArray *c = run_src (other, 4);

    fail_unless (a->len > 0);
    fail_unless (bytes_equal (a, b), "same seed, different bytes");
    fail_unless_equals_int (a->len, c->len);
    fail_if (bytes_equal (a, c), "different seed, same bytes");
    g_byte_array_unref (a);
    g_byte_array_unref (b);
    g_byte_array_unref (c);
    g_free (other);
  }
}

GST_END_TEST;

/* Going through READY -> PAUSED again restarts the stream from the seed. */
GST_START_TEST (test_restart_regenerates)
{
  GstHarness *h = start_src ("seed=3 batch=5 cols=3 num-buffers=3");
  GByteArray *first = pull_bytes (h, 3), *second;
  GstBuffer *buf;

  fail_unless (gst_harness_pull_until_eos (h, &buf) && buf == NULL);
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_harness_play (h);
  second = pull_bytes (h, 3);
  fail_unless (bytes_equal (first, second), "restart changed the bytes");

  g_byte_array_unref (first);
  g_byte_array_unref (second);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- allocation ---------------------------------------------------------- */

static GstPadProbeReturn
offer_pool (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);

  /* downstream answered; add a pool with a size of its own */
  if (GST_QUERY_TYPE (query) == GST_QUERY_ALLOCATION)
    gst_query_add_allocation_pool (query, GST_BUFFER_POOL (user_data), 16, 2,
        0);
  return GST_PAD_PROBE_OK;
}

/* A pool offered downstream is used, configured for our buffer size, and
 * does not change the bytes. */
GST_START_TEST (test_downstream_pool)
{
  GstBufferPool *pool = gst_buffer_pool_new ();
  GstHarness *h = gst_harness_new_parse ("updatetestsrc seed=9 batch=6 "
      "cols=4 num-buffers=3");
  GstPad *srcpad = gst_element_get_static_pad (h->element, "src");
  GByteArray *bytes = g_byte_array_new (), *ref;
  guint i;

  gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM |
      GST_PAD_PROBE_TYPE_PULL, offer_pool, pool, NULL);
  gst_harness_play (h);
  for (i = 0; i < 3; i++) {
    GstBuffer *buf = gst_harness_pull (h);
    GstMapInfo map;

    fail_unless (buf != NULL);
    fail_unless (buf->pool == pool, "buffer not from the offered pool");
    fail_unless_equals_uint64 (gst_buffer_get_size (buf), 6 * (4 + 4 * 4));
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_byte_array_append (bytes, map.data, map.size);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  gst_harness_teardown (h);
  gst_object_unref (srcpad);
  gst_object_unref (pool);

  ref = run_src ("seed=9 batch=6 cols=4", 3);
  fail_unless (bytes_equal (bytes, ref));
  g_byte_array_unref (ref);
  g_byte_array_unref (bytes);
}

GST_END_TEST;

/* ---- errors -------------------------------------------------------------- */

/* Sets @desc to PAUSED and returns the first error's message. */
static gchar *
start_error (const gchar * desc, GstStateChangeReturn expected_ret)
{
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  GstBus *bus;
  GstMessage *msg;
  gchar *text;

  fail_unless (pipeline != NULL, "%s", err ? err->message : desc);
  bus = gst_element_get_bus (pipeline);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PAUSED),
      expected_ret);
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
      "no error from %s", desc);
  gst_message_parse_error (msg, &err, NULL);
  text = g_strdup (err->message);
  GST_INFO ("%s: %s", desc, text);

  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return text;
}

GST_START_TEST (test_rows_too_large_for_int32)
{
  gchar *msg = start_error ("updatetestsrc rows=2147483649 ! fakesink",
      GST_STATE_CHANGE_FAILURE);

  fail_unless (strstr (msg, "rows=2147483649") != NULL, "%s", msg);
  fail_unless (strstr (msg, "2147483648") != NULL, "%s", msg);
  fail_unless (strstr (msg, "int64") != NULL, "%s", msg);
  g_free (msg);
}

GST_END_TEST;

GST_START_TEST (test_buffer_too_large)
{
  gchar *msg = start_error ("updatetestsrc batch=2147483647 cols=2147483647 "
      "dtype=float64 ! fakesink", GST_STATE_CHANGE_FAILURE);

  fail_unless (strstr (msg, "batch=2147483647") != NULL, "%s", msg);
  g_free (msg);
}

GST_END_TEST;

/* Downstream wants other cols/dtype: the error names ours and theirs. */
GST_START_TEST (test_not_negotiated_message)
{
  gchar *msg = start_error ("updatetestsrc cols=100 num-buffers=1 ! "
      "capsfilter caps=\"application/x-matrix-update, cols=(int)50\" ! "
      "fakesink", GST_STATE_CHANGE_ASYNC);

  fail_unless (strstr (msg, "cols=100") != NULL, "%s", msg);
  fail_unless (strstr (msg, "dtype=float32") != NULL, "%s", msg);
  fail_unless (strstr (msg, "cols=(int)50") != NULL, "%s", msg);
  g_free (msg);

  msg = start_error ("updatetestsrc dtype=float16 num-buffers=1 ! "
      "capsfilter caps=\"application/x-matrix-update, dtype=float32\" ! "
      "fakesink", GST_STATE_CHANGE_ASYNC);
  fail_unless (strstr (msg, "dtype=float16") != NULL, "%s", msg);
  fail_unless (strstr (msg, "dtype=(string)float32") != NULL, "%s", msg);
  g_free (msg);
}

GST_END_TEST;

/* Joins GstTask's pooled streaming threads after each test, so valgrind
 * does not report their thread-local storage as possibly lost. */
static void
join_task_threads (void)
{
  gst_task_cleanup_all ();
}

static Suite *
updatetestsrc_suite (void)
{
  Suite *s = suite_create ("updatetestsrc");
  TCase *tc = tcase_create ("general");

  /* the frequency tests draw a few hundred thousand values */
  tcase_set_timeout (tc, 120);
  tcase_add_checked_fixture (tc, NULL, join_task_threads);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_buffer_sizes);
  tcase_add_test (tc, test_offsets);
  tcase_add_test (tc, test_num_buffers_eos);
  tcase_add_test (tc, test_batch_zero);
  tcase_add_test (tc, test_indices_in_range);
  tcase_add_test (tc, test_uniform_frequencies);
  tcase_add_test (tc, test_zipf_frequencies);
  tcase_add_test (tc, test_zipf_skew_large);
  tcase_add_test (tc, test_delta_moments);
  tcase_add_test (tc, test_dtypes_share_stream);
  tcase_add_test (tc, test_same_seed_same_bytes);
  tcase_add_test (tc, test_restart_regenerates);
  tcase_add_test (tc, test_downstream_pool);
  tcase_add_test (tc, test_rows_too_large_for_int32);
  tcase_add_test (tc, test_buffer_too_large);
  tcase_add_test (tc, test_not_negotiated_message);
  return s;
}

GST_CHECK_MAIN (updatetestsrc);
