/* gst-sharedmatrix: benchmark of the update path, side by side
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Measures the time per sparse update (float32 matrix, int32 indices, op
 * add) through every layer, on the same data, in one process:
 *
 *   library   gst_shared_matrix_update () on a mapped update buffer
 *   harness   the sharedmatrix element driven through GstHarness
 *   pipeline  appsrc (pre-built buffers, queued ahead) ! sharedmatrix !
 *             fakesink: time from releasing the queue to EOS, per buffer
 *   plain     the obvious C loop on a malloc'ed float array, one thread
 *   prefetch  the same loop with software prefetch of the destination rows
 *             (split over the bench's two threads for big updates)
 *   copy      Theano's get_value/set_value path: copy the whole matrix out,
 *             change the rows, copy it back
 *   bound     a STREAM-style bound: the bytes an update must move (delta
 *             rows and indices read, matrix rows read and written) at the
 *             two-thread STREAM "add" bandwidth measured in this run
 *
 * Every sample times a batch of consecutive updates (at least ~2 ms) and
 * the methods are interleaved sample by sample (ABCABC...), so background
 * load hits all of them alike; the figures are medians. The program prints
 * figures only: it never fails on time.
 *
 * The element and the library share one GstSharedMatrix (the element's
 * `matrix` property), so all layers update the same memory.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>

#include "gstsharedmatrix.h"

/* ---- options ------------------------------------------------------------- */

static gint opt_reps = 21;
static gint opt_sweep_reps = 9;
static gdouble opt_sample_ms = 2.0;
static gboolean opt_quick = FALSE;
static gboolean opt_no_sweep = FALSE;
static gboolean opt_no_big = FALSE;
static gchar *opt_csv = NULL;
static gboolean opt_one_row = FALSE;

static GOptionEntry entries[] = {
  {"reps", 'r', 0, G_OPTION_ARG_INT, &opt_reps,
      "Samples per method for the three main cases (default 21)", "R"},
  {"sweep-reps", 0, 0, G_OPTION_ARG_INT, &opt_sweep_reps,
      "Samples per method for each point of the N sweep (default 9)", "R"},
  {"sample-ms", 0, 0, G_OPTION_ARG_DOUBLE, &opt_sample_ms,
      "Target duration of one sample (default 2 ms)", "MS"},
  {"quick", 'q', 0, G_OPTION_ARG_NONE, &opt_quick,
      "Few repetitions (a smoke run, figures are rough)", NULL},
  {"no-sweep", 0, 0, G_OPTION_ARG_NONE, &opt_no_sweep,
      "Skip the N sweep", NULL},
  {"no-big", 0, 0, G_OPTION_ARG_NONE, &opt_no_big,
      "Skip the 1,000,000 x 128 case (needs ~2 GB of memory)", NULL},
  {"one-row", 0, 0, G_OPTION_ARG_NONE, &opt_one_row,
      "Only the 1-row case (per-buffer costs), nothing else", NULL},
  {"csv", 0, 0, G_OPTION_ARG_FILENAME, &opt_csv,
      "Also write every median to this CSV file (for plot.py)", "FILE"},
  {NULL}
};

/* ---- small helpers --------------------------------------------------------- */

static inline gdouble
now_us (void)
{
  return g_get_monotonic_time ();
}

static inline gdouble
precise_now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

static gdouble
median (gdouble * v, guint n)
{
  if (n == 0)
    return NAN;
  qsort (v, n, sizeof (gdouble), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static gdouble
quantile (gdouble * v, guint n, gdouble q)
{
  if (n == 0)
    return NAN;
  qsort (v, n, sizeof (gdouble), cmp_double);
  return v[(guint) MIN (n - 1, floor (q * (n - 1) + 0.5))];
}

static guint64
splitmix (guint64 * s)
{
  guint64 z = (*s += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Memory the benchmark touches once so that no method pays page faults */
static gpointer
alloc_touched (gsize size)
{
  guint8 *p = g_malloc (size);

  memset (p, 0, size);
  return p;
}

static gdouble
load_average (void)
{
  gdouble l = NAN;
  FILE *f = fopen ("/proc/loadavg", "r");

  if (f) {
    if (fscanf (f, "%lf", &l) != 1)
      l = NAN;
    fclose (f);
  }
  return l;
}

/* ---- a second thread for the hand-written loops and STREAM ---------------- */

typedef void (*WorkFunc) (gpointer data, guint part, guint n_parts);

/* Work is split in parts claimed with a compare-and-swap on (generation <<
 * 16 | next part), as the CPU backend does: when the helper is late (a busy
 * machine) the main thread takes its parts, instead of waiting for it. */
#define TWO_PARTS 4

static struct
{
  GThread *thread;
  guint64 state;                /* atomic: generation << 16 | next part */
  guint parts_done;             /* atomic */
  gint sleeping;                /* atomic: helper waits on cond */
  GMutex lock;
  GCond cond;
  WorkFunc func;
  gpointer data;
  gboolean quit;
} helper;

static void
claim_parts (guint64 generation)
{
  for (;;) {
    guint64 st = __atomic_load_n (&helper.state, __ATOMIC_ACQUIRE);
    guint part = (guint) (st & 0xffff);

    if ((st >> 16) != generation || part >= TWO_PARTS)
      return;
    if (!__atomic_compare_exchange_n (&helper.state, &st, st + 1, FALSE,
            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      continue;
    helper.func (helper.data, part, TWO_PARTS);
    __atomic_add_fetch (&helper.parts_done, 1, __ATOMIC_RELEASE);
  }
}

static gpointer
helper_main (gpointer unused)
{
  guint64 seen = 0;

  for (;;) {
    gdouble spin_until = precise_now_us () + 200;
    guint64 g;

    /* spin a little (work comes back to back while a method is measured),
     * then sleep so the helper does not steal a core from the others */
    while ((g = __atomic_load_n (&helper.state, __ATOMIC_ACQUIRE) >> 16) ==
        seen && precise_now_us () < spin_until);
    if (g == seen) {
      g_mutex_lock (&helper.lock);
      g_atomic_int_set (&helper.sleeping, 1);
      while ((g = __atomic_load_n (&helper.state, __ATOMIC_SEQ_CST) >> 16) ==
          seen)
        g_cond_wait (&helper.cond, &helper.lock);
      g_atomic_int_set (&helper.sleeping, 0);
      g_mutex_unlock (&helper.lock);
    }
    seen = g;
    if (helper.quit)
      return NULL;
    claim_parts (g);
  }
}

static void
wake_helper (void)
{
  if (g_atomic_int_get (&helper.sleeping)) {
    g_mutex_lock (&helper.lock);
    g_cond_signal (&helper.cond);
    g_mutex_unlock (&helper.lock);
  }
}

static void
next_generation (void)
{
  guint64 g = (__atomic_load_n (&helper.state, __ATOMIC_RELAXED) >> 16) + 1;

  __atomic_store_n (&helper.state, g << 16, __ATOMIC_SEQ_CST);
  wake_helper ();
}

/* Runs @func on two threads (TWO_PARTS parts) and waits for all parts */
static void
run_two (WorkFunc func, gpointer data)
{
  guint spins = 0;

  helper.func = func;
  helper.data = data;
  __atomic_store_n (&helper.parts_done, 0, __ATOMIC_RELAXED);
  next_generation ();
  claim_parts (__atomic_load_n (&helper.state, __ATOMIC_RELAXED) >> 16);
  while (__atomic_load_n (&helper.parts_done, __ATOMIC_ACQUIRE) < TWO_PARTS)
    if (++spins > 20000)
      g_thread_yield ();
}

/* ---- STREAM "add": c = a + b ---------------------------------------------- */

#define STREAM_N (24u * 1024 * 1024)    /* floats per array: 3 x 96 MB */

static float *stream_a, *stream_b, *stream_c;

static void
stream_add (gpointer data, guint part, guint n_parts)
{
  gsize first = (gsize) STREAM_N * part / n_parts;
  gsize end = (gsize) STREAM_N * (part + 1) / n_parts;
  gsize i;

  for (i = first; i < end; i++)
    stream_c[i] = stream_a[i] + stream_b[i];
}

/* GB/s (10^9 bytes) counted as STREAM does: 3 arrays moved */
static gdouble
stream_bandwidth (guint threads)
{
  gdouble t0 = precise_now_us (), t;

  if (threads == 1)
    stream_add (NULL, 0, 1);
  else
    run_two (stream_add, NULL);
  t = precise_now_us () - t0;
  return 3.0 * STREAM_N * sizeof (float) / (t * 1e3);
}

/* ---- one benchmark case ---------------------------------------------------- */

typedef enum
{
  M_LIBRARY,
  M_HARNESS,
  M_PIPELINE,
  M_PLAIN,
  M_PREFETCH,
  M_COPY,
  M_COUNT
} Method;

static const gchar *method_names[M_COUNT] = {
  "library", "harness", "pipeline", "plain", "prefetch", "copy"
};

typedef struct
{
  const gchar *label;
  guint64 rows;
  guint cols;
  gsize n;

  GstSharedMatrix *matrix;
  float *plain;                 /* the hand-written loops' matrix */
  guint n_bufs;
  GstBuffer **bufs;
  const gint32 **idx;           /* into bufs, mapped once */
  const float **deltas;
  guint next;

  GstHarness *harness;

  /* work handed to the helper thread */
  const gint32 *w_idx;
  const float *w_deltas;
} Case;

/* Indices uniform over the rows, deltas uniform in [-1, 1) */
static void
case_make_buffers (Case * c, guint64 seed)
{
  gsize record = 4 + (gsize) c->cols * 4;
  gsize size = record * c->n;
  guint b;

  /* enough distinct buffers that the deltas do not all sit in the cache */
  c->n_bufs = CLAMP ((64u << 20) / MAX (size, 1), 2, 256);
  c->bufs = g_new0 (GstBuffer *, c->n_bufs);
  c->idx = g_new0 (const gint32 *, c->n_bufs);
  c->deltas = g_new0 (const float *, c->n_bufs);
  for (b = 0; b < c->n_bufs; b++) {
    guint8 *data = g_malloc (MAX (size, 1));
    gint32 *idx = (gint32 *) data;
    float *d = (float *) (data + 4 * c->n);
    gsize i;

    for (i = 0; i < c->n; i++)
      idx[i] = (gint32) (splitmix (&seed) % c->rows);
    for (i = 0; i < c->n * c->cols; i++)
      d[i] = (gint32) (splitmix (&seed) >> 40) / 8388608.0f - 1.0f;
    c->bufs[b] = gst_buffer_new_wrapped (data, size);
    /* a producer's sequence number, as updatetestsrc and jetstreamsrc
     * set it: per-OFFSET work in the element is measured too */
    GST_BUFFER_OFFSET (c->bufs[b]) = b;
    c->idx[b] = idx;
    c->deltas[b] = d;
  }
}

static GstElement *
make_element (Case * c)
{
  GstElement *e = gst_element_factory_make ("sharedmatrix", NULL);

  if (e == NULL) {
    g_printerr ("bench: no sharedmatrix element: set GST_PLUGIN_PATH to the "
        "build's plugin/elements (tests/bench/run.sh does)\n");
    exit (2);
  }
  g_object_set (e, "matrix", c->matrix, "snapshot-on-eos", FALSE, NULL);
  return e;
}

static gchar *
update_caps (Case * c)
{
  return g_strdup_printf ("application/x-matrix-update, dtype=(string)float32, "
      "index-type=(string)int32, cols=(int)%u", c->cols);
}

static void
case_setup (Case * c, guint64 seed)
{
  GError *err = NULL;
  gsize bytes = c->rows * c->cols * 4;
  GBytes *zeros;
  gchar *caps;

  c->matrix = gst_shared_matrix_new (c->rows, c->cols,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_BACKEND_CPU, &err);
  if (c->matrix == NULL)
    g_error ("cannot create the matrix: %s", err->message);
  /* touch every page of the matrix once, as a real model's would be */
  zeros = g_bytes_new_take (g_malloc0 (bytes), bytes);
  gst_shared_matrix_set_value (c->matrix, zeros, NULL);
  g_bytes_unref (zeros);
  c->plain = alloc_touched (bytes);
  case_make_buffers (c, seed);

  c->harness = gst_harness_new_with_element (make_element (c), "sink", NULL);
  caps = update_caps (c);
  gst_harness_set_src_caps_str (c->harness, caps);
  g_free (caps);
}

static void
case_teardown (Case * c)
{
  guint b;

  gst_harness_teardown (c->harness);
  for (b = 0; b < c->n_bufs; b++)
    gst_buffer_unref (c->bufs[b]);
  g_free (c->bufs);
  g_free (c->idx);
  g_free (c->deltas);
  g_free (c->plain);
  gst_object_unref (c->matrix);
}

/* ---- the hand-written loops ----------------------------------------------- */

static void
plain_loop (float *m, guint cols, const gint32 * idx, const float *d, gsize n)
{
  gsize i;
  guint j;

  for (i = 0; i < n; i++) {
    float *row = m + (gsize) idx[i] * cols;
    const float *src = d + i * cols;

    for (j = 0; j < cols; j++)
      row[j] += src[j];
  }
}

#define PREFETCH_AHEAD 8

/* The loop with the destination rows prefetched PREFETCH_AHEAD rows ahead;
 * with @n_parts > 1 each part takes the destination rows in its range, so
 * the parts never write the same row. */
static void
prefetch_loop (float *m, guint64 rows, guint cols, const gint32 * idx,
    const float *d, gsize n, guint part, guint n_parts)
{
  guint64 first = rows * part / n_parts, end = rows * (part + 1) / n_parts;
  gsize row_bytes = (gsize) cols * 4;
  gsize i, k;
  guint j;

  for (i = 0; i < MIN (n, PREFETCH_AHEAD); i++)
    for (k = 0; k < row_bytes; k += 64)
      __builtin_prefetch ((guint8 *) (m + (gsize) idx[i] * cols) + k, 1, 3);
  for (i = 0; i < n; i++) {
    float *row = m + (gsize) idx[i] * cols;
    const float *src = d + i * cols;

    if (i + PREFETCH_AHEAD < n) {
      guint64 r = (guint64) idx[i + PREFETCH_AHEAD];

      if (r >= first && r < end)
        for (k = 0; k < row_bytes; k += 64)
          __builtin_prefetch ((guint8 *) (m + r * cols) + k, 1, 3);
    }
    if ((guint64) idx[i] < first || (guint64) idx[i] >= end)
      continue;
    for (j = 0; j < cols; j++)
      row[j] += src[j];
  }
}

static void
prefetch_part (gpointer data, guint part, guint n_parts)
{
  Case *c = data;

  prefetch_loop (c->plain, c->rows, c->cols, c->w_idx, c->w_deltas, c->n,
      part, n_parts);
}

/* Same threshold as the CPU backend: two threads only for big updates */
#define TWO_THREADS_MIN_ELEMENTS (64 * 1024)

/* ---- one sample of a method: us per update over @iters updates ------------ */

static GstPadProbeReturn
hold_buffers (GstPad * pad, GstPadProbeInfo * info, gpointer unused)
{
  return GST_PAD_PROBE_OK;
}

/* How a pipeline sample feeds its buffers (only --one-row uses the
 * others). */
typedef enum
{
  FEED_SINGLE,                  /* appsrc ! sharedmatrix ! fakesink */
  FEED_LISTS,                   /* the same, buffers pushed in lists of 64 */
  FEED_NO_ELEMENT,              /* appsrc ! fakesink: GStreamer's share */
} Feed;

#define FEED_LIST_LEN 64

static gdouble
sample_pipeline_feed (Case * c, guint iters, Feed feed)
{
  GstElement *pipeline, *src, *sm, *sink;
  GstPad *srcpad;
  GstCaps *caps;
  GstMessage *msg;
  gchar *caps_str;
  gulong probe;
  gdouble t0, t1;
  guint i;

  pipeline = gst_pipeline_new (NULL);
  src = gst_element_factory_make ("appsrc", NULL);
  sm = make_element (c);
  sink = gst_element_factory_make ("fakesink", NULL);
  caps_str = update_caps (c);
  caps = gst_caps_from_string (caps_str);
  g_free (caps_str);
  g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, "max-bytes",
      (guint64) 0, "max-buffers", (guint64) 0, "max-time", (guint64) 0,
      "block", FALSE, NULL);
  gst_caps_unref (caps);
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  if (feed == FEED_NO_ELEMENT) {
    gst_object_unref (gst_object_ref_sink (sm));
    gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
    gst_element_link (src, sink);
  } else {
    gst_bin_add_many (GST_BIN (pipeline), src, sm, sink, NULL);
    gst_element_link_many (src, sm, sink, NULL);
  }

  /* hold the stream at appsrc's src pad until every buffer is queued, so
   * the timed part is the streaming thread draining a full queue */
  srcpad = gst_element_get_static_pad (src, "src");
  probe = gst_pad_add_probe (srcpad,
      GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER, hold_buffers,
      NULL, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  gst_element_get_state (pipeline, NULL, NULL, GST_CLOCK_TIME_NONE);
  if (feed == FEED_LISTS) {
    iters -= iters % FEED_LIST_LEN;
    for (i = 0; i < iters; i += FEED_LIST_LEN) {
      GstBufferList *list = gst_buffer_list_new_sized (FEED_LIST_LEN);
      guint j;

      for (j = 0; j < FEED_LIST_LEN; j++)
        gst_buffer_list_add (list,
            gst_buffer_ref (c->bufs[c->next++ % c->n_bufs]));
      gst_app_src_push_buffer_list (GST_APP_SRC (src), list);
    }
  } else {
    for (i = 0; i < iters; i++)
      gst_app_src_push_buffer (GST_APP_SRC (src),
          gst_buffer_ref (c->bufs[c->next++ % c->n_bufs]));
  }
  gst_app_src_end_of_stream (GST_APP_SRC (src));

  t0 = precise_now_us ();
  gst_pad_remove_probe (srcpad, probe);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  t1 = precise_now_us ();
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;

    gst_message_parse_error (msg, &err, NULL);
    g_error ("pipeline error: %s", err->message);
  }
  gst_message_unref (msg);
  gst_object_unref (srcpad);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return (t1 - t0) / iters;
}

static gdouble
sample_pipeline (Case * c, guint iters)
{
  return sample_pipeline_feed (c, iters, FEED_SINGLE);
}

static gdouble
sample (Case * c, Method m, guint iters)
{
  gdouble t0, t1;
  guint i;

  if (m == M_PIPELINE)
    return sample_pipeline (c, iters);

  t0 = precise_now_us ();
  switch (m) {
    case M_LIBRARY:
      for (i = 0; i < iters; i++) {
        guint b = c->next++ % c->n_bufs;

        if (!gst_shared_matrix_update (c->matrix, GST_SHARED_MATRIX_OP_ADD,
                c->idx[b], c->n, GST_SHARED_MATRIX_INDEX_TYPE_INT32,
                c->deltas[b], GST_SHARED_MATRIX_DTYPE_FLOAT32,
                NULL, NULL, NULL))
          g_error ("library update failed");
      }
      break;
    case M_HARNESS:
      for (i = 0; i < iters; i++)
        if (gst_harness_push (c->harness,
                gst_buffer_ref (c->bufs[c->next++ % c->n_bufs])) !=
            GST_FLOW_OK)
          g_error ("harness push failed");
      break;
    case M_PLAIN:
      for (i = 0; i < iters; i++) {
        guint b = c->next++ % c->n_bufs;

        plain_loop (c->plain, c->cols, c->idx[b], c->deltas[b], c->n);
      }
      break;
    case M_PREFETCH:
      for (i = 0; i < iters; i++) {
        guint b = c->next++ % c->n_bufs;

        if ((guint64) c->n * c->cols >= TWO_THREADS_MIN_ELEMENTS) {
          c->w_idx = c->idx[b];
          c->w_deltas = c->deltas[b];
          run_two (prefetch_part, c);
        } else {
          prefetch_loop (c->plain, c->rows, c->cols, c->idx[b], c->deltas[b],
              c->n, 0, 1);
        }
      }
      break;
    case M_COPY:
      for (i = 0; i < iters; i++) {
        guint b = c->next++ % c->n_bufs;
        GBytes *value = gst_shared_matrix_get_value (c->matrix);
        gsize size;
        float *host = g_bytes_unref_to_data (value, &size);

        plain_loop (host, c->cols, c->idx[b], c->deltas[b], c->n);
        value = g_bytes_new_take (host, size);
        gst_shared_matrix_set_value (c->matrix, value, NULL);
        g_bytes_unref (value);
      }
      break;
    default:
      g_assert_not_reached ();
  }
  t1 = precise_now_us ();
  return (t1 - t0) / iters;
}

/* ---- results ------------------------------------------------------------- */

typedef struct
{
  gdouble med[M_COUNT];
  gdouble p25[M_COUNT], p75[M_COUNT];
  gdouble bound;                /* us at the two-thread bandwidth */
  gdouble bw;                   /* that bandwidth, GB/s */
} Result;

static FILE *csv;
static gdouble bw1 = NAN, bw2 = NAN;    /* GB/s, medians */

static gdouble
update_bytes (guint cols, gsize n)
{
  /* delta rows and indices read, matrix rows read and written back */
  return (gdouble) n * (4 + 3.0 * cols * 4);
}

static void
csv_row (const gchar * group, Case * c, const gchar * method, gdouble med,
    gdouble p25, gdouble p75)
{
  if (csv)
    fprintf (csv, "%s,%" G_GUINT64_FORMAT ",%u,%" G_GSIZE_FORMAT ",%s,%.4f,"
        "%.4f,%.4f\n", group, c->rows, c->cols, c->n, method, med, p25, p75);
}

/* Runs every method @reps times, interleaved, and records the medians. With
 * @stream, a two-thread STREAM sample joins the rotation and the bound
 * uses their median: the bandwidth of the same minutes, on a machine whose
 * bandwidth moves with its neighbours' load. */
static void
run_case (Case * c, const gchar * group, gint reps, gboolean stream,
    Result * r)
{
  gdouble *bw = g_new0 (gdouble, reps), bw_case = bw2;
  gdouble *samples[M_COUNT];
  guint iters[M_COUNT];
  gint m, k;

  for (m = 0; m < M_COUNT; m++) {
    gdouble t;

    samples[m] = g_new0 (gdouble, reps);
    /* warm up and size a sample to about opt_sample_ms */
    t = sample (c, m, m == M_COPY ? 1 : 4);
    /* a pipeline sample of 4 buffers is all fixed latency: size it again
     * from one of about opt_sample_ms */
    if (m == M_PIPELINE)
      t = sample (c, m, CLAMP ((guint) (opt_sample_ms * 1000 / MAX (t, 0.01)),
              64, 200000));
    if (m == M_COPY)
      iters[m] = 1;
    else if (m == M_PIPELINE)
      /* per-sample setup outside the timing; about 10 x opt_sample_ms and
       * at least 64 buffers, so that the fixed latency of a sample (the
       * streaming thread waking up, EOS reaching the bus: milliseconds on
       * a busy machine) stays a few percent of it: with 2.5 x, it made a
       * 1-row buffer look 5 us slower than it is */
      iters[m] = CLAMP ((guint) (opt_sample_ms * 10000 / MAX (t, 0.01)), 64,
          200000);
    else
      iters[m] = CLAMP ((guint) (opt_sample_ms * 1000 / MAX (t, 0.01)), 1,
          1000000);
  }
  for (k = 0; k < reps; k++) {
    gint j;

    /* each method in every position of the rotation in turn: the first
     * one after the STREAM sample finds the caches and TLB flushed */
    for (j = 0; j < M_COUNT; j++) {
      m = (j + k) % M_COUNT;
      /* the full copy is ~1000x slower: a few samples say enough */
      if (m == M_COPY && k >= MAX (3, reps / 3))
        continue;
      samples[m][k] = sample (c, m, iters[m]);
    }
    if (stream)
      bw[k] = stream_bandwidth (2);
  }
  if (stream)
    bw_case = median (bw, reps);
  g_free (bw);
  for (m = 0; m < M_COUNT; m++) {
    guint n = m == M_COPY ? (guint) MIN (reps, MAX (3, reps / 3)) :
        (guint) reps;

    r->p25[m] = quantile (samples[m], n, 0.25);
    r->p75[m] = quantile (samples[m], n, 0.75);
    r->med[m] = median (samples[m], n);
    csv_row (group, c, method_names[m], r->med[m], r->p25[m], r->p75[m]);
    g_free (samples[m]);
  }
  r->bw = bw_case;
  r->bound = update_bytes (c->cols, c->n) / (bw_case * 1e3);
  csv_row (group, c, "bound", r->bound, r->bound, r->bound);
}

static void
print_header (void)
{
  g_print ("%-26s %9s %9s %9s %9s %9s %9s %9s | %8s %8s %8s %8s\n",
      "case", "library", "harness", "pipeline", "plain", "prefetch",
      "copy", "bound", "elem/", "elem/", "pipe/", "copy/");
  g_print ("%-26s %9s %9s %9s %9s %9s %9s %9s | %8s %8s %8s %8s\n",
      "(us per update, median)", "", "(element)", "", "C loop", "C loop",
      "get/set", "(2 thr)", "plain", "bound", "plain", "elem");
}

static void
print_row (const gchar * label, Result * r)
{
  gdouble e = r->med[M_HARNESS];

  g_print ("%-26s %9.3f %9.3f %9.3f %9.3f %9.3f %9.0f %9.3f | %7.2fx %7.2fx "
      "%7.2fx %7.0fx\n", label, r->med[M_LIBRARY], e, r->med[M_PIPELINE],
      r->med[M_PLAIN], r->med[M_PREFETCH], r->med[M_COPY], r->bound,
      e / r->med[M_PLAIN], e / r->bound, r->med[M_PIPELINE] / r->med[M_PLAIN],
      r->med[M_COPY] / e);
}

/* ---- snapshots ------------------------------------------------------------- */

/* Snapshot copy against memcpy of the same size into warm memory */
static void
bench_snapshot (gint reps)
{
  GError *err = NULL;
  GstSharedMatrix *matrix;
  GstElement *e;
  GstHarness *h;
  gsize size = (gsize) 70000 * 100 * 4;
  guint8 *a, *b;
  gdouble *t_memcpy = g_new0 (gdouble, reps), *t_snap = g_new0 (gdouble, reps);
  gdouble *t_value = g_new0 (gdouble, reps);
  gdouble m_memcpy, m_snap, m_value;
  GBytes *zeros;
  gint k;

  matrix = gst_shared_matrix_new (70000, 100, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_CPU, &err);
  zeros = g_bytes_new_take (g_malloc0 (size), size);
  gst_shared_matrix_set_value (matrix, zeros, NULL);
  g_bytes_unref (zeros);
  e = gst_element_factory_make ("sharedmatrix", NULL);
  g_object_set (e, "matrix", matrix, "snapshot-on-eos", FALSE, NULL);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_harness_set_src_caps_str (h, "application/x-matrix-update, "
      "dtype=float32, index-type=int32, cols=100");
  gst_object_unref (e);

  a = alloc_touched (size);
  b = alloc_touched (size);
  for (k = 0; k < reps; k++) {
    GstSample *s = NULL;
    GBytes *v;
    gdouble t0;

    t0 = precise_now_us ();
    memcpy (b, a, size);
    t_memcpy[k] = precise_now_us () - t0;

    /* the action signal: the same copy a pushed snapshot makes; the sample
     * is released at once, as a consumer downstream would */
    t0 = precise_now_us ();
    g_signal_emit_by_name (h->element, "snapshot", &s);
    t_snap[k] = precise_now_us () - t0;
    gst_sample_unref (s);

    t0 = precise_now_us ();
    v = gst_shared_matrix_get_value (matrix);
    t_value[k] = precise_now_us () - t0;
    g_bytes_unref (v);
  }
  m_memcpy = median (t_memcpy, reps);
  m_snap = median (t_snap, reps);
  m_value = median (t_value, reps);
  g_print ("\nSnapshot of the 70,000 x 100 float32 matrix (%.1f MB), median of "
      "%d:\n", size / 1e6, reps);
  g_print ("  memcpy into warm memory   %8.0f us  %6.2f GB/s\n", m_memcpy,
      size / (m_memcpy * 1e3));
  g_print ("  element snapshot          %8.0f us  %6.2f GB/s  = %3.0f%% of "
      "memcpy\n", m_snap, size / (m_snap * 1e3), 100.0 * m_memcpy / m_snap);
  g_print ("  library get_value (fresh) %8.0f us  %6.2f GB/s  = %3.0f%% of "
      "memcpy\n", m_value, size / (m_value * 1e3), 100.0 * m_memcpy / m_value);
  if (csv) {
    fprintf (csv, "snapshot,70000,100,0,memcpy,%.4f,%.4f,%.4f\n", m_memcpy,
        m_memcpy, m_memcpy);
    fprintf (csv, "snapshot,70000,100,0,snapshot,%.4f,%.4f,%.4f\n", m_snap,
        m_snap, m_snap);
    fprintf (csv, "snapshot,70000,100,0,get_value,%.4f,%.4f,%.4f\n", m_value,
        m_value, m_value);
  }
  g_free (a);
  g_free (b);
  g_free (t_memcpy);
  g_free (t_snap);
  g_free (t_value);
  gst_harness_teardown (h);
  gst_object_unref (matrix);
}

/* Delta snapshots against full snapshots, and what the row-version
 * marking adds to an update. */
static void
bench_delta (gint reps)
{
  const guint64 rows = 70000;
  const guint cols = 100;
  const gsize touched[] = { 200, 2000, 20000 };
  gsize size = rows * cols * 4, t, i;
  GstSharedMatrix *m = gst_shared_matrix_new (rows, cols,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  gint32 *perm = g_new (gint32, rows);
  gfloat *deltas = g_new0 (gfloat, 20000 * cols);
  guint8 *full = alloc_touched (size);
  gdouble *t_delta = g_new0 (gdouble, reps), *t_full = g_new0 (gdouble, reps);
  guint64 state = 1234, *row_version, *block_version;
  guint64 *journal_row, *journal_version;
  gsize jn = 0;
  gdouble t0, t_mark, t_update;
  gint k;

  for (i = 0; i < rows; i++)
    perm[i] = (gint32) i;
  g_print ("\nDelta snapshot vs full snapshot, 70,000 x 100 float32 (CPU "
      "backend), median of %d:\n", reps);
  for (t = 0; t < G_N_ELEMENTS (touched); t++) {
    gsize n = touched[t], nd = 0;

    for (k = 0; k < reps; k++) {
      guint64 since = gst_shared_matrix_get_version (m), v;
      GBytes *d;

      /* n distinct random rows (a partial Fisher-Yates shuffle) */
      for (i = 0; i < n; i++) {
        gsize j = i + (gsize) (splitmix (&state) % (rows - i));
        gint32 x = perm[i];

        perm[i] = perm[j];
        perm[j] = x;
      }
      gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, perm, n,
          GST_SHARED_MATRIX_INDEX_TYPE_INT32, deltas,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL);
      t0 = precise_now_us ();
      d = gst_shared_matrix_get_delta (m, since,
          GST_SHARED_MATRIX_INDEX_TYPE_INT64, &v, &nd, NULL);
      t_delta[k] = precise_now_us () - t0;
      g_bytes_unref (d);
      t0 = precise_now_us ();
      gst_shared_matrix_copy_to (m, GST_SHARED_MATRIX_FORMAT_RAW, full, size,
          NULL, NULL);
      t_full[k] = precise_now_us () - t0;
    }
    g_print ("  %6" G_GSIZE_FORMAT " rows written: delta %8.1f us (%5.2f MB)"
        "   full copy %8.1f us (%.1f MB)   delta = %5.1f%% of full\n", nd,
        median (t_delta, reps), nd * (8 + cols * 4) / 1e6,
        median (t_full, reps), size / 1e6,
        100.0 * median (t_delta, reps) / median (t_full, reps));
    if (csv) {
      fprintf (csv, "delta,70000,100,%" G_GSIZE_FORMAT ",delta,%.4f,%.4f,"
          "%.4f\n", n, median (t_delta, reps), median (t_delta, reps),
          median (t_delta, reps));
      fprintf (csv, "delta,70000,100,%" G_GSIZE_FORMAT ",full,%.4f,%.4f,"
          "%.4f\n", n, median (t_full, reps), median (t_full, reps),
          median (t_full, reps));
    }
  }

  /* marking: the loop of plugin/lib/row-tracking.c (the row's and its
   * block's version, and the journal's entry), timed alone on 200-row
   * updates, against the whole library update */
  row_version = g_new0 (guint64, rows);
  block_version = g_new0 (guint64, rows / 1024 + 1);
  journal_row = g_new0 (guint64, rows / 4);
  journal_version = g_new0 (guint64, rows / 4);
  /* 300 updates of 200 random rows, cycled (perm holds 70,000 ids) */
  for (i = 0; i < 300 * 200; i++)
    perm[i] = (gint32) (splitmix (&state) % rows);
  t0 = precise_now_us ();
  for (k = 0; k < 5000; k++) {
    const gint32 *idx = perm + k % 300 * 200;

    for (i = 0; i < 200; i++) {
      guint64 r = (guint64) idx[i];

      row_version[r] = k + 1;
      block_version[r / 1024] = k + 1;
      journal_row[jn] = r;
      journal_version[jn] = k + 1;
      jn = jn + 1 == rows / 4 ? 0 : jn + 1;
    }
  }
  t_mark = (precise_now_us () - t0) / 5000;
  t0 = precise_now_us ();
  for (k = 0; k < 5000; k++)
    gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD,
        perm + k % 300 * 200, 200,
        GST_SHARED_MATRIX_INDEX_TYPE_INT32, deltas,
        GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL, NULL);
  t_update = (precise_now_us () - t0) / 5000;
  g_print ("  row-version marking of a 200-row update: %.3f us alone; the "
      "library update (marking included) %.3f us: marking = %.1f%%, "
      "without it %.3f us\n", t_mark, t_update, 100.0 * t_mark / t_update,
      t_update - t_mark);
  if (csv)
    fprintf (csv, "delta,70000,100,200,marking,%.4f,%.4f,%.4f\n", t_mark,
        t_mark, t_mark);

  g_free (row_version);
  g_free (block_version);
  g_free (journal_row);
  g_free (journal_version);
  g_free (perm);
  g_free (deltas);
  g_free (full);
  g_free (t_delta);
  g_free (t_full);
  gst_object_unref (m);
}

/* Updates keep flowing while a slow consumer holds snapshots: appsrc !
 * sharedmatrix snapshot-every=K ! queue ! fakesink, the sink taking
 * @hold_ms per snapshot. Reports how many updates were applied while the
 * consumer held a snapshot. */
typedef struct
{
  GstElement *sm;
  gdouble hold_ms;
  guint snapshots;
  guint64 applied_during_hold;
} FlowState;

static void
slow_consumer (GstElement * sink, GstBuffer * buf, GstPad * pad,
    gpointer user_data)
{
  FlowState *fs = user_data;
  guint64 before, after;

  g_object_get (fs->sm, "updates-applied", &before, NULL);
  g_usleep ((gulong) (fs->hold_ms * 1000));
  g_object_get (fs->sm, "updates-applied", &after, NULL);
  fs->snapshots++;
  fs->applied_during_hold += after - before;
}

static void
bench_flow (void)
{
  GError *err = NULL;
  GstSharedMatrix *matrix;
  GstElement *pipeline, *src, *sink;
  GstMessage *msg;
  FlowState fs = { 0, };
  Case c = { "flow", 70000, 100, 200 };
  const guint n_updates = 20000, every = 1000;
  gdouble t0, t1;
  guint i;

  matrix = gst_shared_matrix_new (70000, 100, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_CPU, &err);
  c.matrix = matrix;
  case_make_buffers (&c, 99);
  pipeline = gst_parse_launch ("appsrc name=src format=time max-bytes=0 "
      "! sharedmatrix name=sm snapshot-on-eos=false snapshot-every=1000 "
      "! queue max-size-buffers=2 max-size-bytes=0 max-size-time=0 "
      "leaky=downstream ! fakesink name=sink sync=false "
      "signal-handoffs=true", &err);
  if (pipeline == NULL)
    g_error ("%s", err->message);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  fs.sm = gst_bin_get_by_name (GST_BIN (pipeline), "sm");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  fs.hold_ms = 20;
  g_object_set (fs.sm, "matrix", matrix, NULL);
  {
    GstCaps *caps = gst_caps_from_string ("application/x-matrix-update, "
        "dtype=float32, index-type=int32, cols=100");

    g_object_set (src, "caps", caps, NULL);
    gst_caps_unref (caps);
  }
  g_signal_connect (sink, "handoff", G_CALLBACK (slow_consumer), &fs);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  t0 = precise_now_us ();
  for (i = 0; i < n_updates; i++)
    gst_app_src_push_buffer (GST_APP_SRC (src),
        gst_buffer_ref (c.bufs[i % c.n_bufs]));
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  t1 = precise_now_us ();
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_print ("\nUpdates while snapshots are consumed: %u updates of 200 rows, a "
      "snapshot every %u,\n  consumer holding each snapshot %.0f ms (behind a "
      "leaky queue):\n", n_updates, every, fs.hold_ms);
  g_print ("  %u snapshots consumed; %.0f updates applied on average while "
      "the consumer held one;\n  %.2f us per update overall, snapshot copies "
      "included\n", fs.snapshots, fs.snapshots ? (gdouble)
      fs.applied_during_hold / fs.snapshots : 0.0, (t1 - t0) / n_updates);
  gst_object_unref (src);
  gst_object_unref (fs.sm);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  for (i = 0; i < c.n_bufs; i++)
    gst_buffer_unref (c.bufs[i]);
  g_free (c.bufs);
  g_free (c.idx);
  g_free (c.deltas);
  gst_object_unref (matrix);
}

/* ---- main ------------------------------------------------------------------- */

static void
measure_bandwidth (gint reps)
{
  gdouble *b1 = g_new0 (gdouble, reps), *b2 = g_new0 (gdouble, reps);
  gint k;

  if (stream_a == NULL) {
    stream_a = alloc_touched (STREAM_N * sizeof (float));
    stream_b = alloc_touched (STREAM_N * sizeof (float));
    stream_c = alloc_touched (STREAM_N * sizeof (float));
  }
  for (k = 0; k < reps; k++) {
    b1[k] = stream_bandwidth (1);
    b2[k] = stream_bandwidth (2);
  }
  bw1 = median (b1, reps);
  bw2 = median (b2, reps);
  g_free (b1);
  g_free (b2);
}

int
main (int argc, char **argv)
{
  GOptionContext *ctx;
  GError *err = NULL;
  Case cases[3] = {
    {"70,000x100, 200 rows", 70000, 100, 200},
    {"1,000,000x128, 4,096 rows", 1000000, 128, 4096},
    {"70,000x100, 1 row", 70000, 100, 1},
  };
  Result results[3];
  gdouble load0, t_start = now_us ();
  guint i;

  ctx = g_option_context_new ("- sharedmatrix update benchmark");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (opt_quick) {
    opt_reps = 5;
    opt_sweep_reps = 3;
    opt_sample_ms = 1.0;
  }
  gst_init (&argc, &argv);
  if (opt_csv) {
    csv = fopen (opt_csv, "w");
    if (csv == NULL) {
      g_printerr ("cannot write %s: %s\n", opt_csv, g_strerror (errno));
      return 2;
    }
    fprintf (csv, "group,rows,cols,n,method,median_us,p25_us,p75_us\n");
  }

  helper.thread = g_thread_new ("bench-helper", helper_main, NULL);
  load0 = load_average ();
  g_print ("gst-sharedmatrix update benchmark: %u CPUs, load average %.2f at "
      "start, GST_SHARED_MATRIX_THREADS=%s\n", g_get_num_processors (), load0,
      g_getenv ("GST_SHARED_MATRIX_THREADS") ?
      g_getenv ("GST_SHARED_MATRIX_THREADS") : "(unset)");
  measure_bandwidth (opt_quick ? 3 : 9);
  g_print ("STREAM add bandwidth: %.1f GB/s one thread, %.1f GB/s two "
      "threads\n\n", bw1, bw2);

  print_header ();
  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    if ((opt_no_big && cases[i].rows > 100000) ||
        (opt_one_row && cases[i].n != 1))
      continue;
    case_setup (&cases[i], 1 + i);
    run_case (&cases[i], "case", opt_reps, TRUE, &results[i]);
    print_row (cases[i].label, &results[i]);
    case_teardown (&cases[i]);
  }

  if (opt_one_row) {
    /* the pipeline's share of GStreamer (appsrc ! fakesink alone) and the
     * same buffers in lists, alternating */
    Case *c = &cases[2];
    gdouble t_single[64], t_lists[64], t_none[64];
    gint k, reps = MIN (opt_reps, 64);
    guint iters = 20000;

    case_setup (c, 3);
    for (k = 0; k < reps; k++) {
      gint j;

      for (j = 0; j < 3; j++)
        switch ((j + k) % 3) {
          case 0:
            t_single[k] = sample_pipeline_feed (c, iters, FEED_SINGLE);
            break;
          case 1:
            t_lists[k] = sample_pipeline_feed (c, iters, FEED_LISTS);
            break;
          default:
            t_none[k] = sample_pipeline_feed (c, iters, FEED_NO_ELEMENT);
            break;
        }
    }
    case_teardown (c);
    {
      gdouble p = results[2].med[M_PLAIN], ts = median (t_single, reps),
          tl = median (t_lists, reps), tn = median (t_none, reps);

      g_print ("  1 row per buffer: element overhead %.3f us over the plain "
          "loop (harness)\n", results[2].med[M_HARNESS] - p);
      g_print ("  pipeline, us per update (median of %d x %u):\n", reps,
          iters);
      g_print ("    appsrc ! fakesink (no element)        %7.3f\n", tn);
      g_print ("    appsrc ! sharedmatrix ! fakesink      %7.3f   (+%.3f "
          "over the plain loop; +%.3f over the plain loop and appsrc ! "
          "fakesink)\n", ts, ts - p, ts - tn - p);
      g_print ("    the same, lists of %d buffers         %7.3f   (+%.3f "
          "over the plain loop; %.1fx cheaper per update than single "
          "buffers)\n", FEED_LIST_LEN, tl, tl - p, ts / tl);
    }
    return 0;
  }

  if (!opt_no_sweep) {
    guint64 n;

    g_print ("\nSweep over N, 70,000 x 100 float32 (us per update, median of "
        "%d):\n", opt_sweep_reps);
    print_header ();
    for (n = 1; n <= 65536; n *= 2) {
      Case c = { NULL, 70000, 100, n };
      Result r;
      gchar *label = g_strdup_printf ("N = %" G_GUINT64_FORMAT, n);

      case_setup (&c, 100 + n);
      run_case (&c, "sweep", opt_sweep_reps, FALSE, &r);
      print_row (label, &r);
      case_teardown (&c);
      g_free (label);
    }
  }

  bench_snapshot (opt_quick ? 5 : 15);
  bench_delta (opt_quick ? 5 : 15);
  bench_flow ();

  /* bandwidth again: the bound uses the median of both measurements */
  {
    gdouble first1 = bw1, first2 = bw2;

    measure_bandwidth (opt_quick ? 3 : 9);
    g_print ("\nSTREAM add bandwidth at the end: %.1f / %.1f GB/s (start: "
        "%.1f / %.1f)\n", bw1, bw2, first1, first2);
  }

  g_print ("\nTargets (this run):\n");
  {
    Result *a = &results[0], *b = &results[1], *c1 = &results[2];

    g_print ("  70,000x100, 200 rows: element %.3f us = %.2fx the plain C loop "
        "(target <= 1.0x), %.0fx faster than the full copy (target >= 500x)\n",
        a->med[M_HARNESS], a->med[M_HARNESS] / a->med[M_PLAIN],
        a->med[M_COPY] / a->med[M_HARNESS]);
    if (!opt_no_big)
      g_print ("  1,000,000x128, 4,096 rows: element %.1f us = %.2fx the "
          "two-thread bandwidth bound %.1f us (target <= 1.15x; STREAM %.1f "
          "GB/s, sampled between the methods); %.2fx the prefetching C loop\n",
          b->med[M_HARNESS], b->med[M_HARNESS] / b->bound, b->bound, b->bw,
          b->med[M_HARNESS] / b->med[M_PREFETCH]);
    g_print ("  1 row per buffer: element overhead %.3f us over the plain loop "
        "(target <= 1 us); in a pipeline %.3f us\n",
        c1->med[M_HARNESS] - c1->med[M_PLAIN],
        c1->med[M_PIPELINE] - c1->med[M_PLAIN]);
  }
  g_print ("\nLoad average %.2f at start, %.2f at the end; %.0f s in all\n",
      load0, load_average (), (now_us () - t_start) / 1e6);

  helper.quit = TRUE;
  next_generation ();
  g_thread_join (helper.thread);
  if (csv)
    fclose (csv);
  return 0;
}
