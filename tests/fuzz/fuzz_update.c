/* gst-sharedmatrix: libFuzzer target for update parsing, validation and apply
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input layout (see also make_corpus.py and docs/reliability.md):
 *
 *   byte 0  bits 0-1 matrix dtype, bits 2-3 delta dtype, bit 4 index type
 *           (int64 when set), bit 5 invalid-index policy (drop when set),
 *           bits 6-7 non-finite policy (3 = an invalid value)
 *   byte 1  bits 0-2 op (6 and 7 are invalid values); bits 3-7 = 31 gives
 *           an invalid delta dtype, 30 an invalid index type
 *   byte 2  cols - 1 (low 4 bits: 1 to 16 columns)
 *   byte 3  bits 0-4 rows - 1 (1 to 32 rows); bits 5-7 all set together
 *           with bits 3-7 of byte 4: repeat the update until it is large
 *           enough for the multi-threaded CPU path (slow: kept rare)
 *   byte 4  bits 0-2 misalignment of the update buffer (0 to 7 bytes),
 *           bit 3 start from special values (±0, ±Inf, NaN, huge, tiny)
 *           instead of small ones, bit 4 go through
 *           gst_shared_matrix_update_bytes_full() instead of
 *           gst_shared_matrix_update()
 *   rest    the update buffer exactly as it arrives on the sink pad:
 *           N indices followed by N x cols deltas
 *
 * For every input the target checks, beyond what ASan/UBSan catch:
 *   - parse_update accepts exactly the sizes that are whole records, and
 *     names the size when it refuses;
 *   - update succeeds exactly when the spec says it must (policies, enum
 *     arguments), with the error code the spec implies;
 *   - success bumps the version by exactly one and the matrix equals an
 *     independent reference of tests/common/reference.h (occurrences
 *     applied one by one in buffer order, dropped rows skipped, arithmetic
 *     in float32 unless float64 is involved); failure leaves version and
 *     every matrix byte unchanged;
 *   - rows_applied / rows_dropped match the reference counts;
 *   - the caller's buffer is never written to;
 *   - the same update on a second matrix gives the same bits
 *     (determinism), and gather_bytes returns the rows get_value shows.
 * Any violation aborts with a message, which libFuzzer reports as a crash.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>

#include "fuzz-common.h"

#include "gstsharedmatrix.h"
#include "reference.h"

#define HEADER_BYTES 5
/* the CPU backend splits updates of at least 64 Ki delta elements across
 * threads; the repeat mode makes updates that big */
#define PARALLEL_ELEMENTS (64 * 1024)

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* more threads than rows-per-part ever matter for 32 rows, and a fixed
   * count keeps runs reproducible across machines */
  g_setenv ("GST_SHARED_MATRIX_THREADS", "4", FALSE);
  gst_init (NULL, NULL);
  /* a g_return_if_fail or g_warning in the library is a bug: make it crash */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

HARNESS static gdouble
special_value (guint k)
{
  static const gdouble values[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, 65504.0, 65520.0, 1e-8, -3e-5, 3.0e38,
    -3.4e38, 1e300, INFINITY, -INFINITY, NAN, 5.877e-39,
  };
  return values[k % G_N_ELEMENTS (values)];
}

HARNESS static GstSharedMatrix *
make_matrix (guint64 rows, guint cols, gint dtype, gboolean special,
    guint8 ** init_out)
{
  guint esize = test_ref_dtype_size (dtype);
  gsize size = rows * cols * esize, k;
  GError *err = NULL;
  GstSharedMatrix *m;
  guint8 *init;
  GBytes *bytes;

  m = gst_shared_matrix_new (rows, cols, dtype, GST_SHARED_MATRIX_BACKEND_CPU,
      &err);
  CHECK (m != NULL, "gst_shared_matrix_new %" G_GUINT64_FORMAT " x %u: %s",
      rows, cols, err ? err->message : "?");
  CHECK (gst_shared_matrix_get_version (m) == 0, "new matrix version %"
      G_GUINT64_FORMAT, gst_shared_matrix_get_version (m));

  init = g_malloc (size);
  for (k = 0; k < rows * cols; k++)
    test_ref_store (init + k * esize, dtype,
        special ? special_value (k * 7 + 3) : ((gint) (k % 13) - 6) * 0.25);
  bytes = g_bytes_new (init, size);
  CHECK (gst_shared_matrix_set_value (m, bytes, &err), "set_value: %s",
      err ? err->message : "?");
  g_bytes_unref (bytes);
  CHECK (gst_shared_matrix_get_version (m) == 1, "version after set_value %"
      G_GUINT64_FORMAT, gst_shared_matrix_get_version (m));
  *init_out = init;
  return m;
}

HARNESS static guint8 *
get_value (GstSharedMatrix * m, gsize expect_size)
{
  GBytes *b = gst_shared_matrix_get_value (m);
  gsize size;
  guint8 *copy;

  CHECK (b != NULL, "get_value returned NULL");
  copy = g_bytes_unref_to_data (b, &size);
  CHECK (size == expect_size, "get_value size %" G_GSIZE_FORMAT " != %"
      G_GSIZE_FORMAT, size, expect_size);
  return copy;
}

HARNESS int
LLVMFuzzerTestOneInput (const guint8 * data, size_t size)
{
  gint mdtype, ddtype, itype, op;
  GstSharedMatrixInvalidIndexPolicy inv;
  GstSharedMatrixNonFinitePolicy nf;
  guint cols, misalign, isize = 0, dsize = 0, msize;
  guint64 rows;
  gboolean special, use_bytes, repeat, bad_dtype, bad_itype;
  gboolean ok, expect_ok;
  const guint8 *payload;
  gsize payload_size, alloc, record = 0, n = 0, i, mbytes;
  guint8 *buf = NULL, *pristine, *p, *init, *ref, *got, *before;
  gconstpointer indices = NULL, deltas = NULL;
  GstSharedMatrix *m, *m2;
  GstSharedMatrixUpdateResult res = { 0, };
  GstSharedMatrixPolicies policies;
  GError *err = NULL;
  gint expect_code = -1;
  TestRefResult want;
  guint64 exp_applied = 0, exp_drop_inv = 0, exp_drop_nf = 0;

  if (size < HEADER_BYTES)
    return 0;

  mdtype = data[0] & 3;
  ddtype = (data[0] >> 2) & 3;
  itype = (data[0] >> 4) & 1;
  inv = (data[0] >> 5) & 1;
  nf = (data[0] >> 6) & 3;
  op = data[1] & 7;
  bad_dtype = (data[1] >> 3) == 31;
  bad_itype = (data[1] >> 3) == 30;
  if (bad_dtype)
    ddtype = 4 + (data[2] >> 4);
  if (bad_itype)
    itype = 2 + (data[2] >> 4);
  cols = 1 + (data[2] & 15);
  rows = 1 + (data[3] & 31);
  misalign = data[4] & 7;
  special = (data[4] >> 3) & 1;
  use_bytes = (data[4] >> 4) & 1;
  repeat = (data[4] >> 3) == 31 && (data[3] >> 5) == 7;

  payload = data + HEADER_BYTES;
  payload_size = size - HEADER_BYTES;

  if (!bad_itype && !bad_dtype) {
    isize = itype == GST_SHARED_MATRIX_INDEX_TYPE_INT64 ? 8 : 4;
    dsize = test_ref_dtype_size (ddtype);
    record = isize + (gsize) cols * dsize;
  }

  /* repeat mode: the payload, when it is a non-empty whole number of
   * records, is repeated until the update reaches the threaded path */
  if (repeat && record && payload_size && payload_size % record == 0 &&
      payload_size / record * cols < PARALLEL_ELEMENTS) {
    gsize n1 = payload_size / record;
    gsize times = (PARALLEL_ELEMENTS + n1 * cols - 1) / (n1 * cols);
    gsize k;
    guint8 *big = g_malloc (payload_size * times);

    /* indices first, then deltas, each block repeated */
    for (k = 0; k < times; k++) {
      memcpy (big + k * n1 * isize, payload, n1 * isize);
      memcpy (big + times * n1 * isize + k * (payload_size - n1 * isize),
          payload + n1 * isize, payload_size - n1 * isize);
    }
    payload_size *= times;
    pristine = big;
  } else {
    pristine = g_malloc (MAX (payload_size, 1));
    memcpy (pristine, payload, payload_size);
  }

  /* exactly the update's bytes, at the chosen misalignment: ASan sees any
   * read past its end */
  alloc = payload_size + misalign;
  if (alloc) {
    buf = g_malloc (alloc);
    memcpy (buf + misalign, pristine, payload_size);
  }
  p = buf ? buf + misalign : NULL;

  msize = test_ref_dtype_size (mdtype);
  mbytes = rows * cols * msize;
  m = make_matrix (rows, cols, mdtype, special, &init);
  before = get_value (m, mbytes);
  CHECK (memcmp (before, init, mbytes) == 0, "get_value differs from the "
      "set_value data");

  /* ---- parse ---- */
  ok = gst_shared_matrix_parse_update (m, itype, ddtype, p, payload_size,
      &indices, &deltas, &n, &err);
  if (bad_itype || bad_dtype) {
    CHECK (!ok && err && err->domain == GST_SHARED_MATRIX_ERROR &&
        err->code == GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "parse with index type %d / delta dtype %d: ok=%d err=%s", itype,
        ddtype, ok, err ? err->message : "none");
    goto unchanged;
  }
  if (payload_size % record != 0) {
    gchar *num = g_strdup_printf ("%" G_GSIZE_FORMAT, payload_size);

    CHECK (!ok && err && err->code == GST_SHARED_MATRIX_ERROR_SIZE &&
        strstr (err->message, num), "parse of %" G_GSIZE_FORMAT " bytes, "
        "record %" G_GSIZE_FORMAT ": ok=%d err=%s", payload_size, record, ok,
        err ? err->message : "none");
    g_free (num);
    goto unchanged;
  }
  CHECK (ok && err == NULL, "parse of %" G_GSIZE_FORMAT " bytes (record %"
      G_GSIZE_FORMAT ") failed: %s", payload_size, record,
      err ? err->message : "?");
  CHECK (n == payload_size / record && indices == (gconstpointer) p &&
      (n == 0 || deltas == (gconstpointer) (p + n * isize)),
      "parse split: n=%" G_GSIZE_FORMAT, n);

  /* ---- what the spec says must happen ---- */
  ref = g_memdup2 (init, mbytes);
  expect_ok = test_ref_update (ref, rows, cols, mdtype, op, indices, itype, n,
      deltas, ddtype, inv, nf, &want);
  expect_code = want.error_code;
  exp_applied = want.rows_applied;
  exp_drop_inv = want.rows_dropped_invalid;
  exp_drop_nf = want.rows_dropped_non_finite;

  /* ---- apply ---- */
  policies.invalid_index = inv;
  policies.non_finite = nf;
  if (use_bytes) {
    GBytes *ib = g_bytes_new_static (n ? indices : "", n * isize);
    GBytes *db = g_bytes_new_static (n ? deltas : "", n * cols * dsize);

    ok = gst_shared_matrix_update_bytes_full (m, op, ib, itype, db, ddtype,
        &policies, &res, &err);
    g_bytes_unref (ib);
    g_bytes_unref (db);
  } else {
    ok = gst_shared_matrix_update (m, op, indices, n, itype, deltas, ddtype,
        &policies, &res, &err);
  }

  CHECK (ok == expect_ok, "update (op %d, invalid-index %d, non-finite %d, "
      "n %" G_GSIZE_FORMAT ", %" G_GUINT64_FORMAT " x %u %s matrix, %s deltas)"
      " returned %d, expected %d: %s", op, inv, nf, n, rows, cols,
      gst_shared_matrix_dtype_to_string (mdtype),
      gst_shared_matrix_dtype_to_string (ddtype), ok, expect_ok,
      err ? err->message : "no error");
  if (!ok) {
    CHECK (err && err->domain == GST_SHARED_MATRIX_ERROR &&
        err->code == expect_code && err->message && err->message[0],
        "error code %d, expected %d: %s", err ? err->code : -1, expect_code,
        err ? err->message : "none");
    g_free (ref);
    goto unchanged;
  }
  CHECK (err == NULL, "success with an error set: %s", err->message);
  CHECK (gst_shared_matrix_get_version (m) == 2 && res.version == 2,
      "version %" G_GUINT64_FORMAT " (result %" G_GUINT64_FORMAT ") after "
      "one update, expected 2", gst_shared_matrix_get_version (m),
      res.version);
  CHECK (res.rows_applied == exp_applied &&
      res.rows_dropped_invalid == exp_drop_inv &&
      res.rows_dropped_non_finite == exp_drop_nf,
      "counts applied %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT "+%"
      G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
      "+%" G_GUINT64_FORMAT, res.rows_applied, res.rows_dropped_invalid,
      res.rows_dropped_non_finite, exp_applied, exp_drop_inv, exp_drop_nf);

  got = get_value (m, mbytes);
  for (i = 0; i < rows * cols; i++) {
    CHECK (test_ref_same_element (got + i * msize, ref + i * msize, mdtype),
        "op %d: element (%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT ") of a %s "
        "matrix is %.17g, the reference says %.17g (was %.17g)", op,
        i / cols, i % cols, gst_shared_matrix_dtype_to_string (mdtype),
        test_ref_load (got + i * msize, mdtype),
        test_ref_load (ref + i * msize, mdtype),
        test_ref_load (init + i * msize, mdtype));
  }

  /* determinism: the same update on an identical matrix, same bits */
  {
    guint8 *init2, *got2;
    gboolean ok2;

    m2 = make_matrix (rows, cols, mdtype, special, &init2);
    ok2 = gst_shared_matrix_update (m2, op, indices, n, itype, deltas, ddtype,
        &policies, NULL, NULL);
    CHECK (ok2, "the same update failed the second time");
    got2 = get_value (m2, mbytes);
    CHECK (memcmp (got, got2, mbytes) == 0, "the same update on the same "
        "matrix gave different bits");
    g_free (got2);
    g_free (init2);
    gst_object_unref (m2);
  }

  /* gather: the rows get_value shows, or INVALID_INDEX */
  {
    GBytes *ib = g_bytes_new_static (n ? indices : "", n * isize);
    GBytes *rows_b;
    GError *gerr = NULL;

    rows_b = gst_shared_matrix_gather_bytes (m, ib, itype, &gerr);
    if (exp_drop_inv > 0) {
      CHECK (rows_b == NULL && gerr &&
          gerr->code == GST_SHARED_MATRIX_ERROR_INVALID_INDEX,
          "gather with invalid indices: %s", gerr ? gerr->message : "none");
    } else {
      gsize gsize_;
      const guint8 *gdata;

      CHECK (rows_b != NULL, "gather failed: %s", gerr ? gerr->message : "?");
      gdata = g_bytes_get_data (rows_b, &gsize_);
      CHECK (gsize_ == n * cols * msize, "gather size %" G_GSIZE_FORMAT,
          gsize_);
      for (i = 0; i < n; i++) {
        gint64 r = test_ref_index (indices, itype, i);

        CHECK (memcmp (gdata + i * cols * msize, got + r * cols * msize,
                cols * msize) == 0, "gathered row %" G_GINT64_FORMAT
            " differs", r);
      }
      g_bytes_unref (rows_b);
    }
    g_clear_error (&gerr);
    g_bytes_unref (ib);
  }

  g_free (got);
  g_free (ref);
  goto done;

unchanged:
  CHECK (gst_shared_matrix_get_version (m) == 1, "version %" G_GUINT64_FORMAT
      " after a rejected update, expected 1",
      gst_shared_matrix_get_version (m));
  got = get_value (m, mbytes);
  CHECK (memcmp (got, before, mbytes) == 0, "a rejected update changed the "
      "matrix");
  g_free (got);

done:
  CHECK (payload_size == 0 || memcmp (p, pristine, payload_size) == 0,
      "the library wrote into the caller's update buffer");
  g_clear_error (&err);
  g_free (before);
  g_free (init);
  g_free (buf);
  g_free (pristine);
  gst_object_unref (m);
  return 0;
}
