/* gst-sharedmatrix: lookup and buffer-list benchmark (figures, never
 * pass/fail)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * 1. A 200-row lookup on a 70000 x 100 float32 matrix, three layers side by
 *    side in alternating runs: a plain C gather loop (memcpy per row), the
 *    library call gst_shared_matrix_gather (), and a request through
 *    matrixlookup in a GstHarness (push the ids, pull the answer). The
 *    element's per-request overhead is its time minus the library call's.
 * 2. 10,000 one-row updates into sharedmatrix (70000 x 100 float32), four
 *    ways side by side: the plain C loop, gst_shared_matrix_update (),
 *    10,000 single buffers through a GstHarness, one GstBufferList of
 *    them; per update, and each above the plain loop.
 *
 * Medians over --reps runs (default 15) in alternating order; the CPU
 * backend (GST_SHARED_MATRIX_FORCE_CPU is not needed: auto is CPU without
 * a GPU; the backend used is printed).
 */
#include <string.h>

#include <gst/gst.h>
#include <gst/check/gstharness.h>

#include "gstsharedmatrix.h"

#define ROWS 70000
#define COLS 100
#define N_IDS 200
#define N_UPDATES 10000

static gint reps = 15;
static gboolean lists_only = FALSE;

static int
cmp_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

static gdouble
median (gdouble * v, guint n)
{
  qsort (v, n, sizeof (gdouble), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static guint64
next (guint64 * s)
{
  guint64 z = (*s += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* ---- 1. lookup ----------------------------------------------------------- */

#define LOOKUP_ITERS 2000

static void
plain_gather (const float *m, const gint32 * idx, float *out)
{
  guint i;

  for (i = 0; i < N_IDS; i++)
    memcpy (out + (gsize) i * COLS, m + (gsize) idx[i] * COLS,
        COLS * sizeof (float));
}

static void
bench_lookup (void)
{
  GstSharedMatrix *m = gst_shared_matrix_new (ROWS, COLS,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_BACKEND_AUTO, NULL);
  float *plain = g_new0 (float, (gsize) ROWS * COLS);
  float *out = g_new (float, (gsize) N_IDS * COLS);
  gint32 (*idx)[N_IDS] = g_malloc (sizeof (gint32[N_IDS]) * LOOKUP_ITERS);
  gdouble t_plain[64], t_lib[64], t_el[64], t_id[64];
  GstElement *el = gst_element_factory_make ("matrixlookup", NULL);
  GstHarness *h, *hid;
  guint64 s = 1;
  gint r;
  guint i, k;

  g_assert (el != NULL && reps <= 64);
  g_object_set (el, "matrix", m, NULL);
  h = gst_harness_new_with_element (el, "sink", "src");
  gst_harness_set_src_caps_str (h,
      "application/x-matrix-ids, index-type=int32");
  /* the harness's own cost per request: the same push and pull through
   * identity, which passes the request on untouched */
  hid = gst_harness_new ("identity");
  gst_harness_set_src_caps_str (hid,
      "application/x-matrix-ids, index-type=int32");
  for (k = 0; k < LOOKUP_ITERS; k++)
    for (i = 0; i < N_IDS; i++)
      idx[k][i] = (gint32) (next (&s) % ROWS);

  for (r = 0; r < reps; r++) {
    gint64 t0;
    guint order;

    for (order = 0; order < 4; order++) {
      /* alternating: each layer first, second, third and fourth in turn */
      switch ((order + r) % 4) {
        case 0:
          t0 = g_get_monotonic_time ();
          for (k = 0; k < LOOKUP_ITERS; k++)
            plain_gather (plain, idx[k], out);
          t_plain[r] = (gdouble) (g_get_monotonic_time () - t0) / LOOKUP_ITERS;
          break;
        case 1:
          t0 = g_get_monotonic_time ();
          for (k = 0; k < LOOKUP_ITERS; k++)
            gst_shared_matrix_gather (m, idx[k], N_IDS,
                GST_SHARED_MATRIX_INDEX_TYPE_INT32,
                GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR, out,
                sizeof (float) * N_IDS * COLS, NULL, NULL, NULL);
          t_lib[r] = (gdouble) (g_get_monotonic_time () - t0) / LOOKUP_ITERS;
          break;
        default:{
          GstHarness *through = (order + r) % 4 == 2 ? h : hid;
          GstBuffer **req = g_new (GstBuffer *, LOOKUP_ITERS);

          for (k = 0; k < LOOKUP_ITERS; k++)
            req[k] = gst_buffer_new_memdup (idx[k], sizeof idx[k]);
          t0 = g_get_monotonic_time ();
          for (k = 0; k < LOOKUP_ITERS; k++) {
            gst_harness_push (through, req[k]);
            gst_buffer_unref (gst_harness_pull (through));
          }
          (through == h ? t_el : t_id)[r] =
              (gdouble) (g_get_monotonic_time () - t0) / LOOKUP_ITERS;
          g_free (req);
          break;
        }
      }
    }
  }
  {
    gdouble p = median (t_plain, reps), l = median (t_lib, reps),
        e = median (t_el, reps), id = median (t_id, reps);

    g_print ("lookup of %d rows, %d x %d float32 (%s backend), us per "
        "request (median of %d x %d):\n", N_IDS, ROWS, COLS,
        gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
            (m)), reps, LOOKUP_ITERS);
    g_print ("  plain C gather loop        %8.2f\n", p);
    g_print ("  gst_shared_matrix_gather   %8.2f   (%.2fx the plain loop)\n",
        l, l / p);
    g_print ("  harness ! matrixlookup     %8.2f   (+%.2f us per request "
        "over the library call, +%.2f over the plain loop)\n", e, e - l,
        e - p);
    g_print ("  harness ! identity         %8.2f   (the harness's own push "
        "and pull; the element's own cost: +%.2f over the library call)\n",
        id, e - id - l);
  }
  gst_harness_teardown (hid);
  gst_harness_teardown (h);
  gst_object_unref (el);
  gst_object_unref (m);
  g_free (plain);
  g_free (out);
  g_free (idx);
}

/* ---- 2. buffer lists ----------------------------------------------------- */

/* The update buffers are built once, before any timing, and every push
 * hands the element a new reference (like bench-sharedmatrix's harness
 * method): what is timed is the element's per-buffer path, not the
 * producer's allocation, filling or freeing of buffers. They carry OFFSETs
 * 0, 1, 2, ..., as a real producer's (updatetestsrc, jetstreamsrc) do:
 * an element that does per-OFFSET work pays for it here. Upstream events
 * the element sends land in the harness's queue and are dropped between
 * the timed runs, outside the timing. */
static GstBuffer **
make_updates (guint64 * s, guint64 row_range, guint n_distinct)
{
  GstBuffer **b = g_new (GstBuffer *, N_UPDATES);
  guint k, j;

  for (k = 0; k < N_UPDATES; k++) {
    guint8 data[4 + COLS * 4];
    gint32 r;
    float d[COLS];

    if (k >= n_distinct) {
      b[k] = gst_buffer_ref (b[k % n_distinct]);
      continue;
    }
    r = (gint32) (next (s) % row_range);

    for (j = 0; j < COLS; j++)
      d[j] = 1e-3f * (gfloat) (next (s) % 1000);
    memcpy (data, &r, 4);
    memcpy (data + 4, d, sizeof d);
    b[k] = gst_buffer_new_memdup (data, sizeof data);
    GST_BUFFER_OFFSET (b[k]) = k;
  }
  return b;
}

static void
plain_add_row (float *m, const guint8 * data)
{
  gint32 r;
  const float *d = (const float *) (data + 4);
  float *row;
  guint j;

  memcpy (&r, data, 4);
  row = m + (gsize) r * COLS;
  for (j = 0; j < COLS; j++)
    row[j] += d[j];
}

static void
drain_upstream_events (GstHarness * h)
{
  GstEvent *ev;

  while ((ev = gst_harness_try_pull_upstream_event (h)))
    gst_event_unref (ev);
}

/* Two cases: random rows all over the matrix in 10,000 distinct buffers
 * (@hot FALSE: each row and each buffer a cache miss, memory latency
 * dominates), and 64 distinct buffers (each pushed about 156 times) whose
 * rows lie in the first 64 (@hot: rows and buffers stay in the cache, as
 * bench-sharedmatrix's 1-row case; the fixed per-update costs dominate). */
static void
bench_lists (gboolean hot)
{
  guint64 row_range = hot ? 64 : ROWS;
  gdouble t_plain[64], t_lib[64], t_single[64], t_list[64];
  GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
  GstSharedMatrix *m;
  float *plain = g_new0 (float, (gsize) ROWS * COLS);
  GstHarness *h;
  GstBuffer **b;
  GstMapInfo *maps = g_new (GstMapInfo, N_UPDATES);
  guint64 s = 2;
  gint r;
  guint k;

  g_assert (el != NULL && reps <= 64);
  g_object_set (el, "rows", (guint64) ROWS, "cols", COLS, "snapshot-on-eos",
      FALSE, NULL);
  h = gst_harness_new_with_element (el, "sink", NULL);
  gst_harness_set_src_caps_str (h, "application/x-matrix-update, "
      "dtype=float32, index-type=int32, cols=100");
  g_object_get (el, "matrix", &m, NULL);
  b = make_updates (&s, row_range, hot ? 64 : N_UPDATES);
  /* the plain loop's matrix paged in, as the element's is */
  memset (plain, 1, sizeof (float) * ROWS * COLS);
  for (k = 0; k < N_UPDATES; k++)
    gst_buffer_map (b[k], &maps[k], GST_MAP_READ);

  for (r = 0; r < reps; r++) {
    guint order;

    for (order = 0; order < 4; order++) {
      GstBufferList *list = NULL;
      gint64 t0;

      switch ((order + r) % 4) {
        case 0:
          t0 = g_get_monotonic_time ();
          for (k = 0; k < N_UPDATES; k++)
            plain_add_row (plain, maps[k].data);
          t_plain[r] = (gdouble) (g_get_monotonic_time () - t0) / N_UPDATES;
          break;
        case 1:
          t0 = g_get_monotonic_time ();
          for (k = 0; k < N_UPDATES; k++)
            gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD,
                maps[k].data, 1, GST_SHARED_MATRIX_INDEX_TYPE_INT32,
                maps[k].data + 4, GST_SHARED_MATRIX_DTYPE_FLOAT32, NULL, NULL,
                NULL);
          t_lib[r] = (gdouble) (g_get_monotonic_time () - t0) / N_UPDATES;
          break;
        case 2:
          t0 = g_get_monotonic_time ();
          for (k = 0; k < N_UPDATES; k++)
            gst_harness_push (h, gst_buffer_ref (b[k]));
          t_single[r] = (gdouble) (g_get_monotonic_time () - t0) / N_UPDATES;
          break;
        default:
          list = gst_buffer_list_new_sized (N_UPDATES);
          for (k = 0; k < N_UPDATES; k++)
            gst_buffer_list_insert (list, -1, gst_buffer_ref (b[k]));
          t0 = g_get_monotonic_time ();
          gst_pad_push_list (h->srcpad, list);
          t_list[r] = (gdouble) (g_get_monotonic_time () - t0) / N_UPDATES;
          break;
      }
      drain_upstream_events (h);
    }
  }
  {
    gdouble p = median (t_plain, reps), l = median (t_lib, reps),
        a = median (t_single, reps), bl = median (t_list, reps);

    g_print ("%d one-row updates into sharedmatrix %d x %d float32, %s, "
        "us per update (median of %d):\n", N_UPDATES, ROWS, COLS, hot ?
        "64 buffers, rows 0-63 (cache-resident: fixed costs)" :
        "10,000 buffers, random rows (a cache miss each)", reps);
    g_print ("  plain C loop               %8.3f\n", p);
    g_print ("  gst_shared_matrix_update   %8.3f   (+%.3f over the plain "
        "loop)\n", l, l - p);
    g_print ("  single buffers (harness)   %8.3f   (+%.3f over the plain "
        "loop)\n", a, a - p);
    g_print ("  one buffer list            %8.3f   (+%.3f over the plain "
        "loop; %.1fx lower per update than single buffers)\n", bl, bl - p,
        a / bl);
  }
  for (k = 0; k < N_UPDATES; k++) {
    gst_buffer_unmap (b[k], &maps[k]);
    gst_buffer_unref (b[k]);
  }
  g_free (b);
  g_free (maps);
  g_free (plain);
  gst_object_unref (m);
  gst_harness_teardown (h);
  gst_object_unref (el);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    {"reps", 0, 0, G_OPTION_ARG_INT, &reps, "Runs per figure (max 64)",
        "N"},
    {"lists-only", 0, 0, G_OPTION_ARG_NONE, &lists_only,
        "Only the buffer-list figures", NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- matrixlookup and buffer "
      "list figures");

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, NULL) || reps < 1 ||
      reps > 64)
    return 2;
  g_option_context_free (ctx);
  gst_init (&argc, &argv);
  if (!lists_only)
    bench_lookup ();
  bench_lists (FALSE);
  bench_lists (TRUE);
  return 0;
}
