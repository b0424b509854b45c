/* gst-sharedmatrix: lookup and buffer-list benchmark (figures, never
 * pass/fail)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * 1. A 200-row lookup on a 70000 x 100 float32 matrix, three layers side by
 *    side in alternating runs: a plain C gather loop (memcpy per row), the
 *    library call gst_shared_matrix_gather (), and a request through
 *    matrixlookup in a GstHarness (push the ids, pull the answer). The
 *    element's per-request overhead is its time minus the library call's.
 * 2. 10,000 one-row updates into sharedmatrix (70000 x 100 float32): pushed
 *    as 10,000 single buffers vs as one GstBufferList, per update.
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
  gdouble t_plain[64], t_lib[64], t_el[64];
  GstElement *el = gst_element_factory_make ("matrixlookup", NULL);
  GstHarness *h;
  guint64 s = 1;
  gint r;
  guint i, k;

  g_assert (el != NULL && reps <= 64);
  g_object_set (el, "matrix", m, NULL);
  h = gst_harness_new_with_element (el, "sink", "src");
  gst_harness_set_src_caps_str (h,
      "application/x-matrix-ids, index-type=int32");
  for (k = 0; k < LOOKUP_ITERS; k++)
    for (i = 0; i < N_IDS; i++)
      idx[k][i] = (gint32) (next (&s) % ROWS);

  for (r = 0; r < reps; r++) {
    gint64 t0;
    guint order;

    for (order = 0; order < 3; order++) {
      /* alternating: each layer first, second and third in turn */
      switch ((order + r) % 3) {
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
          GstBuffer **req = g_new (GstBuffer *, LOOKUP_ITERS);

          for (k = 0; k < LOOKUP_ITERS; k++)
            req[k] = gst_buffer_new_memdup (idx[k], sizeof idx[k]);
          t0 = g_get_monotonic_time ();
          for (k = 0; k < LOOKUP_ITERS; k++) {
            gst_harness_push (h, req[k]);
            gst_buffer_unref (gst_harness_pull (h));
          }
          t_el[r] = (gdouble) (g_get_monotonic_time () - t0) / LOOKUP_ITERS;
          g_free (req);
          break;
        }
      }
    }
  }
  {
    gdouble p = median (t_plain, reps), l = median (t_lib, reps),
        e = median (t_el, reps);

    g_print ("lookup of %d rows, %d x %d float32 (%s backend), us per "
        "request (median of %d x %d):\n", N_IDS, ROWS, COLS,
        gst_shared_matrix_backend_to_string (gst_shared_matrix_get_backend
            (m)), reps, LOOKUP_ITERS);
    g_print ("  plain C gather loop        %8.2f\n", p);
    g_print ("  gst_shared_matrix_gather   %8.2f   (%.2fx the plain loop)\n",
        l, l / p);
    g_print ("  harness ! matrixlookup     %8.2f   (+%.2f us per request "
        "over the library call)\n", e, e - l);
  }
  gst_harness_teardown (h);
  gst_object_unref (el);
  gst_object_unref (m);
  g_free (plain);
  g_free (out);
  g_free (idx);
}

/* ---- 2. buffer lists ----------------------------------------------------- */

static GstBuffer *
one_row_update (guint64 * s, guint64 offset)
{
  guint8 data[4 + COLS * 4];
  gint32 r = (gint32) (next (s) % ROWS);
  float d[COLS];
  GstBuffer *buf;
  guint j;

  for (j = 0; j < COLS; j++)
    d[j] = 1e-3f * (gfloat) (next (s) % 1000);
  memcpy (data, &r, 4);
  memcpy (data + 4, d, sizeof d);
  buf = gst_buffer_new_memdup (data, sizeof data);
  GST_BUFFER_OFFSET (buf) = offset;
  return buf;
}

static void
bench_lists (void)
{
  gdouble t_single[64], t_list[64];
  GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
  GstHarness *h;
  guint64 s = 2, offset = 0;
  gint r;
  guint k;

  g_assert (el != NULL);
  g_object_set (el, "rows", (guint64) ROWS, "cols", COLS, NULL);
  h = gst_harness_new_with_element (el, "sink", NULL);
  gst_harness_set_src_caps_str (h, "application/x-matrix-update, "
      "dtype=float32, index-type=int32, cols=100");

  for (r = 0; r < reps; r++) {
    guint order;

    for (order = 0; order < 2; order++) {
      GstBuffer **b = g_new (GstBuffer *, N_UPDATES);
      gint64 t0;

      for (k = 0; k < N_UPDATES; k++)
        b[k] = one_row_update (&s, offset++);
      if ((order + r) % 2 == 0) {
        t0 = g_get_monotonic_time ();
        for (k = 0; k < N_UPDATES; k++)
          gst_harness_push (h, b[k]);
        t_single[r] = (gdouble) (g_get_monotonic_time () - t0) / N_UPDATES;
      } else {
        GstBufferList *list = gst_buffer_list_new_sized (N_UPDATES);

        for (k = 0; k < N_UPDATES; k++)
          gst_buffer_list_insert (list, -1, b[k]);
        t0 = g_get_monotonic_time ();
        gst_pad_push_list (h->srcpad, list);
        t_list[r] = (gdouble) (g_get_monotonic_time () - t0) / N_UPDATES;
      }
      g_free (b);
    }
  }
  {
    gdouble a = median (t_single, reps), b = median (t_list, reps);

    g_print ("%d one-row updates into sharedmatrix %d x %d float32, us per "
        "update (median of %d):\n", N_UPDATES, ROWS, COLS, reps);
    g_print ("  single buffers             %8.3f\n", a);
    g_print ("  one buffer list            %8.3f   (%.1fx lower per update)\n",
        b, a / b);
  }
  gst_harness_teardown (h);
  gst_object_unref (el);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    {"reps", 0, 0, G_OPTION_ARG_INT, &reps, "Runs per figure (max 64)",
        "N"},
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
  bench_lookup ();
  bench_lists ();
  return 0;
}
