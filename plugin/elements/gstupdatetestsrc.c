/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-updatetestsrc
 * @title: updatetestsrc
 * @see_also: sharedmatrix
 *
 * updatetestsrc produces a deterministic random stream of sparse matrix
 * updates in the `application/x-matrix-update` format that `sharedmatrix`
 * consumes, the way `audiotestsrc` feeds audio pipelines. Each buffer holds
 * #GstUpdateTestSrc:batch row indices (#GstUpdateTestSrc:index-type,
 * little-endian) immediately followed by batch × #GstUpdateTestSrc:cols
 * deltas (#GstUpdateTestSrc:dtype, little-endian, row-major), no header.
 * Buffer OFFSETs count the updates 0, 1, 2, … (OFFSET_END = OFFSET + 1).
 * Buffers carry no timestamps unless #GstBaseSrc:do-timestamp is set; then
 * #GstBaseSrc stamps each with the running time at which it was made, once
 * the pipeline has a clock (the buffer made while prerolling has none).
 * With #GstUpdateTestSrc:is-live the element is a live source (like
 * `audiotestsrc is-live=true`): it produces only in PLAYING, nothing while
 * prerolling (the pipeline's state change to PAUSED returns NO_PREROLL), and
 * stamps every buffer with PTS = the clock's running time when it was made,
 * as updates from a live producer (a sensor, a trainer, a network source)
 * would be: snapshot-interval, stats messages and latency then measure real
 * time.
 * The properties are read when the element starts (READY → PAUSED).
 *
 * ## The random stream
 *
 * The bytes are a function of the properties alone, the same on every
 * machine. One generator is consumed in buffer order: for each buffer first
 * its N row indices, then its N × cols deltas in row-major order. It
 * restarts from #GstUpdateTestSrc:seed on every READY → PAUSED, so running
 * a pipeline twice gives identical bytes.
 *
 * - Generator: xoshiro256** (Blackman & Vigna). Its four state words are
 *   the first four outputs of SplitMix64 started at the seed. "Draw x"
 *   below means: take the next 64-bit output x.
 * - Uniform rows: Lemire's unbiased bounded integer. Draw x, let m be the
 *   128-bit product x × rows and l = m mod 2^64; while l < (2^64 − rows) mod
 *   rows, draw again. The row is m >> 64.
 * - Zipf rows: rank k in [1, rows] with P(k) ∝ k^−s
 *   (s = #GstUpdateTestSrc:zipf-exponent) by rejection-inversion (Hörmann &
 *   Derflinger 1996), exactly as Apache Commons RNG's
 *   RejectionInversionZipfSampler; the row is k − 1, so row 0 is the most
 *   popular. With h(x) = exp (−s × log x),
 *   H(x) = helper2 ((1 − s) × log x) × log x and
 *   H⁻¹(y) = exp (helper1 (max (y × (1 − s), −1)) × y), where
 *   helper1(t) = log1p(t) / t and helper2(t) = expm1(t) / t, or for
 *   |t| ≤ 1e-8 their series 1 − t × (1/2 − t × (1/3 − 1/4 × t)) and
 *   1 + t × 1/2 × (1 + t × 1/3 × (1 + 1/4 × t)): precompute
 *   H1 = H(1.5) − 1, Hn = H(rows + 0.5), c = 2 − H⁻¹(H(2.5) − h(2)).
 *   Then draw x, r = (x >> 11) × 2^−53, u = Hn + r × (H1 − Hn),
 *   y = H⁻¹(u), k = ⌊y + 0.5⌋ clamped to [1, rows]; accept k if k − y ≤ c
 *   or u ≥ H(k + 0.5) − h(k), else start over. This is valid for every
 *   s > 0, s = 1 included, and accurate near s = 1.
 * - Deltas: Marsaglia's polar method. Draw x1 then x2,
 *   u = (x1 >> 11) × 2^−52 − 1, v = (x2 >> 11) × 2^−52 − 1 (that is
 *   2 × (x >> 11) × 2^−53 − 1), w = u × u + v × v; start over if w ≥ 1 or
 *   w = 0; f = sqrt (−2 × log (w) / w). The normals are u × f, then v × f:
 *   the second is kept for the next delta, even when that is the first
 *   delta of the next buffer (drawn after that buffer's indices).
 *   A delta is scale × normal in double, then rounded to the dtype:
 *   float32 by a C cast, float64 as is, float16 and bfloat16 rounded to
 *   nearest even directly from the double (subnormals kept, overflow to
 *   ±inf).
 *
 * All arithmetic is IEEE 754 double evaluated one operation at a time, in
 * the order written above (no fused multiply-add, no extended precision).
 * Uniform rows use integers only and are the same everywhere. Zipf rows
 * and deltas also use log, exp, log1p, expm1 and sqrt from the C library:
 * sqrt is exact, so they are bit-identical across machines as far as those
 * machines' log, exp, log1p and expm1 agree.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=100 ! sharedmatrix rows=70000 cols=100 ! fakesink
 * ]| Applies 100 updates of 200 random rows each to a 70000 × 100 float32
 * matrix.
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=3 seed=7 distribution=zipf batch=4 cols=2 ! filesink location=updates.bin
 * ]| Writes three small updates with zipf-distributed rows to a file.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include "gstupdatetestsrc.h"
#include "gstsharedmatrix-elements-enumtypes.h"
#include "gstsharedmatrixtypes.h"
#include "gstsharedmatrixinfo.h"
#include "sharedmatrix-util.h"
#include "sharedmatrix-ops.h"

GST_DEBUG_CATEGORY_STATIC (gst_update_test_src_debug);
#define GST_CAT_DEFAULT gst_update_test_src_debug

/* Indices are signed: rows - 1 must fit the index type. */
#define MAX_ROWS_INT32 ((guint64) G_MAXINT32 + 1)
#define MAX_ROWS_INT64 ((guint64) G_MAXINT64 + 1)

#define DEFAULT_PROP_ROWS 70000
#define DEFAULT_PROP_COLS 100
#define DEFAULT_PROP_BATCH 200
#define DEFAULT_PROP_DTYPE GST_SHARED_MATRIX_DTYPE_FLOAT32
#define DEFAULT_PROP_INDEX_TYPE GST_SHARED_MATRIX_INDEX_TYPE_INT32
#define DEFAULT_PROP_DISTRIBUTION GST_UPDATE_TEST_SRC_DISTRIBUTION_UNIFORM
#define DEFAULT_PROP_ZIPF_EXPONENT 1.1
#define DEFAULT_PROP_SEED 0
#define DEFAULT_PROP_SCALE 1.0
#define DEFAULT_PROP_IS_LIVE FALSE

#define MAX_ZIPF_EXPONENT 100.0

enum
{
  PROP_0,
  PROP_ROWS,
  PROP_COLS,
  PROP_BATCH,
  PROP_DTYPE,
  PROP_INDEX_TYPE,
  PROP_DISTRIBUTION,
  PROP_ZIPF_EXPONENT,
  PROP_SEED,
  PROP_SCALE,
  PROP_IS_LIVE,
};

/* The whole generator state: the stream is one generator, so the polar
 * method's spare normal is part of it. */
typedef struct
{
  guint64 s[4];
  gboolean have_spare;
  gdouble spare;
} Rng;

/* Rejection-inversion constants for one (rows, exponent). */
typedef struct
{
  guint64 n;
  gdouble exponent;
  gdouble h_integral_x1;
  gdouble h_integral_n;
  gdouble squeeze;
} Zipf;

typedef struct
{
  guint64 rows;
  guint cols;
  guint batch;
  GstSharedMatrixDType dtype;
  GstSharedMatrixIndexType index_type;
  GstUpdateTestSrcDistribution distribution;
  gdouble zipf_exponent;
  guint64 seed;
  gdouble scale;
  gboolean is_live;
} Settings;

typedef struct
{
  Settings settings;            /* copy taken at start */
  gsize buffer_size;
  GstCaps *caps;
  Rng rng;
  Zipf zipf;
  guint64 offset;               /* OFFSET of the next buffer */
} State;

struct _GstUpdateTestSrc
{
  GstPushSrc parent;

  /* properties, under the object lock */
  Settings settings;

  /* owned by the streaming thread, set up in start () */
  State state;
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE));

#define gst_update_test_src_parent_class parent_class
G_DEFINE_TYPE (GstUpdateTestSrc, gst_update_test_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (updatetestsrc, "updatetestsrc", GST_RANK_NONE,
    GST_TYPE_UPDATE_TEST_SRC);

static void gst_update_test_src_set_property (GObject * object,
    guint prop_id, const GValue * value, GParamSpec * pspec);
static void gst_update_test_src_get_property (GObject * object,
    guint prop_id, GValue * value, GParamSpec * pspec);
static void gst_update_test_src_finalize (GObject * object);
static GstCaps *gst_update_test_src_get_caps (GstBaseSrc * bsrc,
    GstCaps * filter);
static gboolean gst_update_test_src_negotiate (GstBaseSrc * bsrc);
static gboolean gst_update_test_src_decide_allocation (GstBaseSrc * bsrc,
    GstQuery * query);
static gboolean gst_update_test_src_start (GstBaseSrc * bsrc);
static gboolean gst_update_test_src_stop (GstBaseSrc * bsrc);
static GstFlowReturn gst_update_test_src_create (GstPushSrc * psrc,
    GstBuffer ** outbuf);

/* ---- the generator (see the documentation above) ----------------------- */

/* Rounds a product before it feeds an addition: GNU C contracts a * b + c
 * into one fused multiply-add where the CPU has one (-march=haswell, arm64),
 * which would change the bits from machine to machine. An empty asm that the
 * value passes through hides it from the compiler as a volatile does, minus
 * the store and load (glibc's math_opt_barrier): that trip through memory
 * cost the polar method's candidate loop some 15%. */
static inline gdouble
unfused (gdouble x)
{
#if defined (__GNUC__) && defined (__SSE2_MATH__)
  __asm__ ("" : "+x" (x));
#else
  volatile gdouble v = x;

  x = v;
#endif
  return x;
}

static inline guint64
rotl64 (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static guint64
splitmix64_next (guint64 * x)
{
  guint64 z = (*x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static void
rng_seed (Rng * rng, guint64 seed)
{
  guint64 sm = seed;
  guint i;

  for (i = 0; i < 4; i++)
    rng->s[i] = splitmix64_next (&sm);
  rng->have_spare = FALSE;
  rng->spare = 0.0;
}

/* xoshiro256** 1.0 */
static inline guint64
rng_next (Rng * rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl64 (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64 (s[3], 45);
  return result;
}

/* 64 × 64 → 128-bit product, high word returned, low word in @lo. */
static inline guint64
mul_64x64 (guint64 a, guint64 b, guint64 * lo)
{
#ifdef __SIZEOF_INT128__
  unsigned __int128 m = (unsigned __int128) a * b;

  *lo = (guint64) m;
  return (guint64) (m >> 64);
#else
  guint64 a_lo = a & 0xffffffffu, a_hi = a >> 32;
  guint64 b_lo = b & 0xffffffffu, b_hi = b >> 32;
  guint64 ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo;
  guint64 hh = a_hi * b_hi;
  guint64 mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);

  *lo = (mid << 32) | (ll & 0xffffffffu);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
#endif
}

/* Lemire, "Fast random integer generation in an interval" (2019):
 * uniform in [0, range), range >= 1, without bias. */
static guint64
rng_bounded (Rng * rng, guint64 range)
{
  guint64 lo, hi;

  hi = mul_64x64 (rng_next (rng), range, &lo);
  if (lo < range) {
    guint64 threshold = (0 - range) % range;

    while (lo < threshold)
      hi = mul_64x64 (rng_next (rng), range, &lo);
  }
  return hi;
}

/* [0, 1) in steps of 2^-53 */
static inline gdouble
rng_double (Rng * rng)
{
  return (gdouble) (rng_next (rng) >> 11) * 0x1.0p-53;
}

/* Normals are made in blocks of up to 2 × NORMAL_PAIRS so that neither the
 * rejection test nor the latency of log, division and sqrt serialises the
 * work. Pass 1 runs the sequential generator and keeps the accepted
 * (u, v, w) in order; pass 2 transforms them in loops whose iterations are
 * independent, which the CPU overlaps. Every value goes through the same
 * operations, in the same order, as one pair at a time would put it
 * through, so the bits are the same. The scratch (12 KiB on the stack with
 * the caller's) stays in L1. */
#define NORMAL_PAIRS 256

/* Marsaglia's polar method: fills out[0, n) with the next n normals of the
 * stream, both outputs of each pair used in order. @out has room for n + 1
 * values: a pair's second normal past n becomes the spare. */
static void
rng_normals (Rng * rng, gdouble * out, guint n)
{
  gdouble cu[NORMAL_PAIRS], cv[NORMAL_PAIRS], cw[NORMAL_PAIRS];
  gdouble log_w[NORMAL_PAIRS];
  guint i = 0, k, pairs;

  g_assert (n <= 2 * NORMAL_PAIRS);
  if (n == 0)
    return;
  if (rng->have_spare) {
    out[i++] = rng->spare;
    rng->have_spare = FALSE;
  }
  pairs = (n - i + 1) / 2;

  /* Pass 1. A rejected candidate is overwritten by the next one: an index
   * step instead of a branch mispredicted about one time in five. */
  for (k = 0; k < pairs;) {
    /* 2 * m * 2^-53 - 1: the product is exact, fused or not */
    gdouble u = (gdouble) (rng_next (rng) >> 11) * 0x1.0p-52 - 1.0;
    gdouble v = (gdouble) (rng_next (rng) >> 11) * 0x1.0p-52 - 1.0;
    gdouble w = unfused (u * u) + unfused (v * v);

    cu[k] = u;
    cv[k] = v;
    cw[k] = w;
    k += (w < 1.0) & (w != 0.0);
  }

  /* Pass 2, log apart: a loop body holding the call and the division and
   * sqrt after it is too long for the CPU to overlap many iterations. */
  for (k = 0; k < pairs; k++)
    log_w[k] = log (cw[k]);
  for (k = 0; k < pairs; k++) {
    gdouble f = sqrt (-2.0 * log_w[k] / cw[k]);

    out[i + 2 * k] = cu[k] * f;
    out[i + 2 * k + 1] = cv[k] * f;
  }
  if (i + 2 * pairs > n) {
    rng->spare = out[n];
    rng->have_spare = TRUE;
  }
}

#define ZIPF_TAYLOR_THRESHOLD 1e-8

/* log1p(x) / x, continuous at 0 */
static gdouble
zipf_helper1 (gdouble x)
{
  if (fabs (x) > ZIPF_TAYLOR_THRESHOLD)
    return log1p (x) / x;
  return 1.0 - unfused (x * (0.5 - unfused (x * (1.0 / 3 - unfused (0.25 *
                      x)))));
}

/* expm1(x) / x, continuous at 0 */
static gdouble
zipf_helper2 (gdouble x)
{
  if (fabs (x) > ZIPF_TAYLOR_THRESHOLD)
    return expm1 (x) / x;
  return 1.0 + unfused (x * 0.5 * (1.0 + unfused (x * (1.0 / 3) * (1.0 +
                  unfused (0.25 * x)))));
}

/* H(x) = (x^(1-s) - 1) / (1 - s), or log x for s = 1 */
static gdouble
zipf_h_integral (const Zipf * z, gdouble x)
{
  gdouble log_x = log (x);

  return unfused (zipf_helper2 ((1.0 - z->exponent) * log_x) * log_x);
}

/* h(x) = x^-s */
static gdouble
zipf_h (const Zipf * z, gdouble x)
{
  return exp (-z->exponent * log (x));
}

static gdouble
zipf_h_integral_inverse (const Zipf * z, gdouble x)
{
  gdouble t = x * (1.0 - z->exponent);

  /* rounding can push t below -1, where log1p is undefined */
  if (t < -1.0)
    t = -1.0;
  return exp (zipf_helper1 (t) * x);
}

static void
zipf_init (Zipf * z, guint64 n, gdouble exponent)
{
  z->n = n;
  z->exponent = exponent;
  z->h_integral_x1 = zipf_h_integral (z, 1.5) - 1.0;
  z->h_integral_n = zipf_h_integral (z, (gdouble) n + 0.5);
  z->squeeze = 2.0 - zipf_h_integral_inverse (z,
      zipf_h_integral (z, 2.5) - zipf_h (z, 2.0));
}

/* rank in [1, n] with P(k) ∝ k^-s */
static guint64
zipf_sample (const Zipf * z, Rng * rng)
{
  for (;;) {
    gdouble u = z->h_integral_n + unfused (rng_double (rng) *
        (z->h_integral_x1 - z->h_integral_n));
    gdouble x = zipf_h_integral_inverse (z, u);
    gdouble kd = x + 0.5;
    guint64 k;

    /* (guint64) of a double >= 2^64 or NaN is undefined: clamp first */
    if (!(kd >= 1.0))
      k = 1;
    else if (kd >= 0x1.0p64)
      k = z->n;
    else
      k = MIN ((guint64) kd, z->n);

    if ((gdouble) k - x <= z->squeeze
        || u >= zipf_h_integral (z, (gdouble) k + 0.5) - zipf_h (z,
            (gdouble) k))
      return k;
  }
}

/* Writes scale × x[j] rounded to @dtype, little-endian; returns the end.
 * One loop per dtype, so the inner loops carry no dispatch. */
static guint8 *
store_deltas (guint8 * p, const gdouble * x, guint n,
    GstSharedMatrixDType dtype, gdouble scale)
{
  guint j;

  switch (dtype) {
    case GST_SHARED_MATRIX_DTYPE_FLOAT32:
      for (j = 0; j < n; j++, p += 4) {
        gfloat f = (gfloat) (scale * x[j]);
        guint32 bits;

        memcpy (&bits, &f, 4);
        bits = GUINT32_TO_LE (bits);
        memcpy (p, &bits, 4);
      }
      break;
    case GST_SHARED_MATRIX_DTYPE_FLOAT64:
      for (j = 0; j < n; j++, p += 8) {
        gdouble d = scale * x[j];
        guint64 bits;

        memcpy (&bits, &d, 8);
        bits = GUINT64_TO_LE (bits);
        memcpy (p, &bits, 8);
      }
      break;
    case GST_SHARED_MATRIX_DTYPE_FLOAT16:
      for (j = 0; j < n; j++, p += 2) {
        guint16 bits = GUINT16_TO_LE (sm_double_to_half (scale * x[j]));

        memcpy (p, &bits, 2);
      }
      break;
    case GST_SHARED_MATRIX_DTYPE_BFLOAT16:
      for (j = 0; j < n; j++, p += 2) {
        guint16 bits = GUINT16_TO_LE (sm_double_to_bfloat16 (scale * x[j]));

        memcpy (p, &bits, 2);
      }
      break;
  }
  return p;
}

static void
generate_update (State * st, guint8 * data)
{
  const Settings *s = &st->settings;
  gdouble normals[2 * NORMAL_PAIRS + 1];
  guint8 *p = data;
  guint64 i, n_values, done;
  guint n;

  for (i = 0; i < s->batch; i++) {
    guint64 row;

    if (s->distribution == GST_UPDATE_TEST_SRC_DISTRIBUTION_ZIPF)
      row = zipf_sample (&st->zipf, &st->rng) - 1;
    else
      row = rng_bounded (&st->rng, s->rows);

    if (s->index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64) {
      guint64 le = GUINT64_TO_LE (row);

      memcpy (p, &le, 8);
      p += 8;
    } else {
      guint32 le = GUINT32_TO_LE ((guint32) row);

      memcpy (p, &le, 4);
      p += 4;
    }
  }

  n_values = (guint64) s->batch * s->cols;
  for (done = 0; done < n_values; done += n) {
    n = (guint) MIN (n_values - done, G_N_ELEMENTS (normals) - 1);
    rng_normals (&st->rng, normals, n);
    p = store_deltas (p, normals, n, s->dtype, s->scale);
  }
}

/* ---- the element --------------------------------------------------------- */

static void
gst_update_test_src_class_init (GstUpdateTestSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_update_test_src_debug, "updatetestsrc", 0,
      "Random matrix update source");

  gobject_class->set_property = gst_update_test_src_set_property;
  gobject_class->get_property = gst_update_test_src_get_property;
  gobject_class->finalize = gst_update_test_src_finalize;

  g_object_class_install_property (gobject_class, PROP_ROWS,
      g_param_spec_uint64 ("rows", "Rows",
          "Number of rows of the target matrix: row indices are drawn from "
          "[0, rows). With index-type=int32 at most 2147483648",
          1, MAX_ROWS_INT64, DEFAULT_PROP_ROWS, flags));
  g_object_class_install_property (gobject_class, PROP_COLS,
      g_param_spec_uint ("cols", "Columns",
          "Number of values in each delta row (the caps' cols, which must "
          "match the matrix downstream)",
          1, G_MAXINT, DEFAULT_PROP_COLS, flags));
  g_object_class_install_property (gobject_class, PROP_BATCH,
      g_param_spec_uint ("batch", "Batch",
          "Number of rows N in each update buffer (0 = empty updates)",
          0, G_MAXINT, DEFAULT_PROP_BATCH, flags));
  g_object_class_install_property (gobject_class, PROP_DTYPE,
      g_param_spec_enum ("dtype", "Delta dtype",
          "Element type of the deltas (the caps' dtype)",
          GST_TYPE_SHARED_MATRIX_DTYPE, DEFAULT_PROP_DTYPE, flags));
  g_object_class_install_property (gobject_class, PROP_INDEX_TYPE,
      g_param_spec_enum ("index-type", "Index type",
          "Integer type of the row indices (the caps' index-type)",
          GST_TYPE_SHARED_MATRIX_INDEX_TYPE, DEFAULT_PROP_INDEX_TYPE, flags));
  g_object_class_install_property (gobject_class, PROP_DISTRIBUTION,
      g_param_spec_enum ("distribution", "Distribution",
          "How row indices are drawn: uniform over [0, rows), or zipf with "
          "row 0 the most popular",
          GST_TYPE_UPDATE_TEST_SRC_DISTRIBUTION, DEFAULT_PROP_DISTRIBUTION,
          flags));
  g_object_class_install_property (gobject_class, PROP_ZIPF_EXPONENT,
      g_param_spec_double ("zipf-exponent", "Zipf exponent",
          "Exponent s of distribution=zipf: row r is drawn with probability "
          "proportional to (r + 1)^-s. Any s > 0 (s <= 1 included); larger "
          "is more skewed",
          G_MINDOUBLE, MAX_ZIPF_EXPONENT, DEFAULT_PROP_ZIPF_EXPONENT, flags));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the random generator: the same seed and properties give "
          "the same bytes on every machine and every run",
          0, G_MAXUINT64, DEFAULT_PROP_SEED, flags));
  g_object_class_install_property (gobject_class, PROP_SCALE,
      g_param_spec_double ("scale", "Scale",
          "Standard deviation of the deltas, drawn from N(0, scale^2)",
          0.0, G_MAXDOUBLE, DEFAULT_PROP_SCALE, flags));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Act as a live source: produce only in PLAYING and stamp each buffer "
          "with the running time of the clock when it was made",
          DEFAULT_PROP_IS_LIVE, flags));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Matrix update test source", "Source/Generic",
      "Produces a deterministic random stream of sparse matrix row updates",
      "gst-sharedmatrix developers");

  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_update_test_src_get_caps);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_update_test_src_negotiate);
  basesrc_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_update_test_src_decide_allocation);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_update_test_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_update_test_src_stop);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_update_test_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_UPDATE_TEST_SRC_DISTRIBUTION, 0);
}

static void
gst_update_test_src_init (GstUpdateTestSrc * self)
{
  Settings *s = &self->settings;

  s->rows = DEFAULT_PROP_ROWS;
  s->cols = DEFAULT_PROP_COLS;
  s->batch = DEFAULT_PROP_BATCH;
  s->dtype = DEFAULT_PROP_DTYPE;
  s->index_type = DEFAULT_PROP_INDEX_TYPE;
  s->distribution = DEFAULT_PROP_DISTRIBUTION;
  s->zipf_exponent = DEFAULT_PROP_ZIPF_EXPONENT;
  s->seed = DEFAULT_PROP_SEED;
  s->scale = DEFAULT_PROP_SCALE;
  s->is_live = DEFAULT_PROP_IS_LIVE;

  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_PROP_IS_LIVE);
}

static void
gst_update_test_src_finalize (GObject * object)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (object);

  gst_clear_caps (&self->state.caps);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_update_test_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (object);
  Settings *s = &self->settings;

  /* read at start (): a change while running applies from the next start */
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ROWS:
      s->rows = g_value_get_uint64 (value);
      break;
    case PROP_COLS:
      s->cols = g_value_get_uint (value);
      break;
    case PROP_BATCH:
      s->batch = g_value_get_uint (value);
      break;
    case PROP_DTYPE:
      s->dtype = g_value_get_enum (value);
      break;
    case PROP_INDEX_TYPE:
      s->index_type = g_value_get_enum (value);
      break;
    case PROP_DISTRIBUTION:
      s->distribution = g_value_get_enum (value);
      break;
    case PROP_ZIPF_EXPONENT:
      s->zipf_exponent = g_value_get_double (value);
      break;
    case PROP_SEED:
      s->seed = g_value_get_uint64 (value);
      break;
    case PROP_SCALE:
      s->scale = g_value_get_double (value);
      break;
    case PROP_IS_LIVE:
      /* GstBaseSrc's live flag decides NO_PREROLL: set it now, as
       * audiotestsrc does, not at start () (below: it takes the object
       * lock itself) */
      s->is_live = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (prop_id == PROP_IS_LIVE)
    gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
}

static void
gst_update_test_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ROWS:
      g_value_set_uint64 (value, s->rows);
      break;
    case PROP_COLS:
      g_value_set_uint (value, s->cols);
      break;
    case PROP_BATCH:
      g_value_set_uint (value, s->batch);
      break;
    case PROP_DTYPE:
      g_value_set_enum (value, s->dtype);
      break;
    case PROP_INDEX_TYPE:
      g_value_set_enum (value, s->index_type);
      break;
    case PROP_DISTRIBUTION:
      g_value_set_enum (value, s->distribution);
      break;
    case PROP_ZIPF_EXPONENT:
      g_value_set_double (value, s->zipf_exponent);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, s->seed);
      break;
    case PROP_SCALE:
      g_value_set_double (value, s->scale);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean (value, s->is_live);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* Once started, answer caps queries with our fixed caps. Before that,
 * the template: gst-launch's link-time check then lets a pipeline with a
 * mismatched cols through to negotiate (), which says what is wrong,
 * instead of a bare "could not link". */
static GstCaps *
gst_update_test_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (bsrc);
  GstCaps *caps = NULL;

  GST_OBJECT_LOCK (self);
  if (self->state.caps)
    caps = gst_caps_ref (self->state.caps);
  GST_OBJECT_UNLOCK (self);

  if (caps == NULL)
    return GST_BASE_SRC_CLASS (parent_class)->get_caps (bsrc, filter);

  caps = sm_caps_filter (caps, filter);
  return caps;
}

/* Like the default negotiation, but a refusal says what we offered and
 * what downstream takes instead of a bare not-negotiated. */
static gboolean
gst_update_test_src_negotiate (GstBaseSrc * bsrc)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (bsrc);
  const Settings *s = &self->state.settings;
  GstCaps *caps = self->state.caps;
  GstCaps *peercaps;
  gchar *peer_str;

  peercaps = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (bsrc), NULL);
  if (peercaps && !gst_caps_can_intersect (caps, peercaps))
    goto refused;
  if (!gst_base_src_set_caps (bsrc, caps)) {
    /* shutting down is not an error */
    if (GST_PAD_IS_FLUSHING (GST_BASE_SRC_PAD (bsrc)))
      goto flushing;
    goto refused;
  }
  gst_clear_caps (&peercaps);
  return TRUE;

  /* ERRORS */
refused:
  {
    peer_str = peercaps ? gst_caps_to_string (peercaps) : g_strdup ("nothing");
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream does not accept updates with cols=%u, dtype=%s, "
            "index-type=%s; it accepts: %s", s->cols,
            gst_shared_matrix_dtype_to_string (s->dtype),
            gst_shared_matrix_index_type_to_string (s->index_type),
            peer_str),
        ("our caps %" GST_PTR_FORMAT ", downstream caps %" GST_PTR_FORMAT,
            caps, peercaps));
    g_free (peer_str);
    gst_clear_caps (&peercaps);
    return FALSE;
  }
flushing:
  {
    GST_DEBUG_OBJECT (self, "flushing, not negotiating");
    gst_clear_caps (&peercaps);
    return FALSE;
  }
}

/* A pool offered downstream (pinned host memory, say) is configured for
 * our buffer size, whatever size it proposed, so we write straight into
 * it. Without one, create () allocates from the negotiated allocator. */
static gboolean
gst_update_test_src_decide_allocation (GstBaseSrc * bsrc, GstQuery * query)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (bsrc);
  gsize size = self->state.buffer_size;

  if (gst_query_get_n_allocation_pools (query) > 0) {
    GstBufferPool *pool;
    guint pool_size, min, max;

    gst_query_parse_nth_allocation_pool (query, 0, &pool, &pool_size, &min,
        &max);
    if (size > 0 && size <= G_MAXUINT)
      gst_query_set_nth_allocation_pool (query, 0, pool, (guint) size, min,
          max);
    else
      gst_query_remove_nth_allocation_pool (query, 0);
    if (pool)
      gst_object_unref (pool);
  }

  return GST_BASE_SRC_CLASS (parent_class)->decide_allocation (bsrc, query);
}

static gboolean
gst_update_test_src_start (GstBaseSrc * bsrc)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (bsrc);
  State *st = &self->state;
  const Settings *s = &st->settings;
  GstSharedMatrixUpdateInfo info;
  guint64 max_rows, buffer_bytes;
  GstCaps *caps;

  GST_OBJECT_LOCK (self);
  st->settings = self->settings;
  GST_OBJECT_UNLOCK (self);

  max_rows = s->index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT32 ?
      MAX_ROWS_INT32 : MAX_ROWS_INT64;
  if (s->rows > max_rows)
    goto too_many_rows;

  gst_shared_matrix_update_info_set_format (&info, s->dtype, s->index_type,
      s->cols);
  if (!g_uint64_checked_mul (&buffer_bytes,
          gst_shared_matrix_update_info_record_size (&info), s->batch)
      || buffer_bytes > G_MAXSIZE)
    goto too_large;

  st->buffer_size = (gsize) buffer_bytes;
  st->offset = 0;
  rng_seed (&st->rng, s->seed);
  if (s->distribution == GST_UPDATE_TEST_SRC_DISTRIBUTION_ZIPF)
    zipf_init (&st->zipf, s->rows, s->zipf_exponent);
  caps = gst_shared_matrix_update_info_to_caps (&info);
  /* get_caps () reads it from any thread */
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&st->caps, caps);
  GST_OBJECT_UNLOCK (self);
  gst_caps_unref (caps);

  GST_INFO_OBJECT (self, "%" GST_PTR_FORMAT ", batch %u, rows %"
      G_GUINT64_FORMAT ", %" G_GSIZE_FORMAT " bytes per buffer, seed %"
      G_GUINT64_FORMAT, st->caps, s->batch, s->rows, st->buffer_size, s->seed);
  return TRUE;

  /* ERRORS */
too_many_rows:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("rows=%" G_GUINT64_FORMAT " is too large for index-type=%s: at most "
            "%" G_GUINT64_FORMAT " rows can be indexed; use index-type=int64",
            s->rows, gst_shared_matrix_index_type_to_string (s->index_type),
            max_rows), (NULL));
    return FALSE;
  }
too_large:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("batch=%u rows of cols=%u %s values with %s indices do not fit in "
            "one buffer; lower batch or cols", s->batch, s->cols,
            gst_shared_matrix_dtype_to_string (s->dtype),
            gst_shared_matrix_index_type_to_string (s->index_type)), (NULL));
    return FALSE;
  }
}

static gboolean
gst_update_test_src_stop (GstBaseSrc * bsrc)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  gst_clear_caps (&self->state.caps);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static GstFlowReturn
alloc_buffer (GstUpdateTestSrc * self, GstBuffer ** buf)
{
  GstBaseSrc *bsrc = GST_BASE_SRC (self);
  gsize size = self->state.buffer_size;
  GstBufferPool *pool;
  GstAllocator *allocator = NULL;
  GstAllocationParams params;

  if (size == 0) {
    *buf = gst_buffer_new ();
    return GST_FLOW_OK;
  }

  pool = gst_base_src_get_buffer_pool (bsrc);
  if (pool) {
    GstFlowReturn ret = gst_buffer_pool_acquire_buffer (pool, buf, NULL);

    gst_object_unref (pool);
    if (ret != GST_FLOW_OK)
      return ret;
    if (gst_buffer_get_size (*buf) == size)
      return GST_FLOW_OK;
    /* the pool kept a size of its own */
    GST_DEBUG_OBJECT (self, "pool buffer of %" G_GSIZE_FORMAT " bytes, "
        "need %" G_GSIZE_FORMAT, gst_buffer_get_size (*buf), size);
    gst_buffer_unref (*buf);
  }

  gst_base_src_get_allocator (bsrc, &allocator, &params);
  *buf = gst_buffer_new_allocate (allocator, size, &params);
  if (allocator)
    gst_object_unref (allocator);
  if (*buf == NULL)
    goto alloc_failed;
  return GST_FLOW_OK;

  /* ERRORS */
alloc_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Could not allocate an update buffer of %" G_GSIZE_FORMAT " bytes",
            size), (NULL));
    return GST_FLOW_ERROR;
  }
}

/* Live: PTS = the running time now (clock time - base time), as a live
 * capture stamps its data. No clock (never in PLAYING): no PTS. */
static void
stamp_running_time (GstUpdateTestSrc * self, GstBuffer * buf)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTime now, base;

  if (clock == NULL)
    return;
  now = gst_clock_get_time (clock);
  base = gst_element_get_base_time (GST_ELEMENT (self));
  GST_BUFFER_PTS (buf) = now >= base ? now - base : 0;
  gst_object_unref (clock);
}

static GstFlowReturn
gst_update_test_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstUpdateTestSrc *self = GST_UPDATE_TEST_SRC (psrc);
  State *st = &self->state;
  GstBuffer *buf = NULL;
  GstFlowReturn ret;

  ret = alloc_buffer (self, &buf);
  if (ret != GST_FLOW_OK)
    return ret;

  if (st->buffer_size > 0) {
    GstMapInfo map;

    if (!gst_buffer_map (buf, &map, GST_MAP_WRITE))
      goto map_failed;
    generate_update (st, map.data);
    gst_buffer_unmap (buf, &map);
  }

  GST_BUFFER_OFFSET (buf) = st->offset;
  GST_BUFFER_OFFSET_END (buf) = st->offset + 1;
  st->offset++;
  if (st->settings.is_live)
    stamp_running_time (self, buf);

  *outbuf = buf;
  return GST_FLOW_OK;

  /* ERRORS */
map_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not map an update buffer for writing"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
}
