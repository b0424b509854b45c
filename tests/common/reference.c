/* gst-sharedmatrix: the tests' own reference for the update semantics
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See reference.h. Written from SPEC.md only: slow, obvious loops; the
 * narrow formats rounded with floor/ldexp arithmetic on the value rather
 * than with bit manipulation, so that it shares no code or method with the
 * library's kernels/sharedmatrix-ops.h.
 */
#include <math.h>
#include <string.h>

#include "reference.h"

/* The fuzz targets compile this file with coverage instrumentation; the
 * reference is not the code under test, so keep it out of the feedback. */
#if defined(__clang__) && __clang_major__ >= 13
#define REF_FN __attribute__ ((no_sanitize ("coverage")))
#else
#define REF_FN
#endif

REF_FN const gchar *
test_ref_op_name (gint op)
{
  static const gchar *names[] = { "set", "add", "sub", "mul", "min", "max" };

  return op >= 0 && op < (gint) G_N_ELEMENTS (names) ? names[op] : "(bad op)";
}

REF_FN const gchar *
test_ref_dtype_name (gint dtype)
{
  static const gchar *names[] =
      { "float32", "float64", "float16", "bfloat16" };

  return dtype >= 0 && dtype < (gint) G_N_ELEMENTS (names) ? names[dtype] :
      "(bad dtype)";
}

REF_FN guint
test_ref_dtype_size (GstSharedMatrixDType dtype)
{
  switch (dtype) {
    case GST_SHARED_MATRIX_DTYPE_FLOAT32:
      return 4;
    case GST_SHARED_MATRIX_DTYPE_FLOAT64:
      return 8;
    default:
      return 2;
  }
}

/* ---- narrow binary floats ---------------------------------------------------
 * A format with @ebits exponent bits (bias 2^(ebits-1) - 1) and @mbits
 * explicit mantissa bits: float16 is (5, 10), bfloat16 (8, 7). */

REF_FN static guint16
round_narrow (gdouble v, gint mbits, gint ebits)
{
  const gint bias = (1 << (ebits - 1)) - 1;
  const gint emin = 1 - bias;   /* exponent of the smallest normal number */
  const guint16 sign = signbit (v) ? (guint16) (1u << (mbits + ebits)) : 0;
  const guint16 all_ones = (guint16) (((1u << ebits) - 1) << mbits);
  const gdouble one = ldexp (1.0, mbits);       /* the implicit bit */
  gdouble a = fabs (v), q, r;
  gint e;

  if (isnan (v))
    return sign | all_ones | (guint16) (1u << (mbits - 1));     /* quiet */
  if (isinf (v))
    return sign | all_ones;
  if (a == 0.0)
    return sign;

  frexp (a, &e);                /* a = f * 2^e, 0.5 <= f < 1 */
  e -= 1;                       /* now 2^e <= a < 2^(e+1) */
  if (e > bias)                 /* at least twice the largest finite */
    return sign | all_ones;

  /* representable magnitudes near a are multiples of 2^(max(e,emin)-mbits):
   * count them (exact, a power-of-two scaling) and round to nearest even */
  q = ldexp (a, mbits - MAX (e, emin));
  r = floor (q);
  if (q - r > 0.5 || (q - r == 0.5 && fmod (r, 2.0) == 1.0))
    r += 1.0;

  if (e < emin)                 /* subnormal: the count is the mantissa; a */
    return sign | (guint16) r;  /* count of 2^mbits is the smallest normal */
  if (r == 2.0 * one) {         /* rounded up to the next power of two */
    r = one;
    e += 1;
    if (e > bias)
      return sign | all_ones;
  }
  return sign | (guint16) (((guint) (e + bias) << mbits) | (guint) (r - one));
}

REF_FN static gfloat
narrow_to_float (guint16 bits, gint mbits, gint ebits)
{
  const gint bias = (1 << (ebits - 1)) - 1;
  guint sign = bits >> (mbits + ebits);
  guint e = (bits >> mbits) & ((1u << ebits) - 1);
  guint m = bits & ((1u << mbits) - 1);
  gdouble v;

  if (e == (1u << ebits) - 1) {
    /* infinity, or a NaN whose payload moves to float32's top bits */
    guint32 u = (sign << 31) | 0x7f800000u | (m << (23 - mbits));
    gfloat f;

    memcpy (&f, &u, 4);
    return f;
  }
  if (e == 0)
    v = ldexp ((gdouble) m, 1 - bias - mbits);
  else
    v = ldexp ((gdouble) (m + (1u << mbits)), (gint) e - bias - mbits);
  return (gfloat) (sign ? -v : v);      /* exact: fits in float32 */
}

REF_FN guint16
test_ref_round_to_half (gdouble v)
{
  return round_narrow (v, 10, 5);
}

REF_FN guint16
test_ref_round_to_bfloat16 (gdouble v)
{
  return round_narrow (v, 7, 8);
}

REF_FN gfloat
test_ref_half_to_float (guint16 bits)
{
  return narrow_to_float (bits, 10, 5);
}

REF_FN gfloat
test_ref_bfloat16_to_float (guint16 bits)
{
  return narrow_to_float (bits, 7, 8);
}

/* ---- elements ---------------------------------------------------------- */

REF_FN gdouble
test_ref_load (const guint8 * p, GstSharedMatrixDType dtype)
{
  switch (dtype) {
    case GST_SHARED_MATRIX_DTYPE_FLOAT32:{
      gfloat f;

      memcpy (&f, p, 4);
      return f;
    }
    case GST_SHARED_MATRIX_DTYPE_FLOAT64:{
      gdouble d;

      memcpy (&d, p, 8);
      return d;
    }
    case GST_SHARED_MATRIX_DTYPE_FLOAT16:{
      guint16 h;

      memcpy (&h, p, 2);
      return test_ref_half_to_float (h);
    }
    default:{
      guint16 b;

      memcpy (&b, p, 2);
      return test_ref_bfloat16_to_float (b);
    }
  }
}

REF_FN void
test_ref_store (guint8 * p, GstSharedMatrixDType dtype, gdouble v)
{
  switch (dtype) {
    case GST_SHARED_MATRIX_DTYPE_FLOAT32:{
      gfloat f = (gfloat) v;    /* C's conversion rounds to nearest even */

      memcpy (p, &f, 4);
      break;
    }
    case GST_SHARED_MATRIX_DTYPE_FLOAT64:
      memcpy (p, &v, 8);
      break;
    case GST_SHARED_MATRIX_DTYPE_FLOAT16:{
      guint16 h = test_ref_round_to_half (v);

      memcpy (p, &h, 2);
      break;
    }
    default:{
      guint16 b = test_ref_round_to_bfloat16 (v);

      memcpy (p, &b, 2);
      break;
    }
  }
}

REF_FN gboolean
test_ref_is_finite (const guint8 * p, GstSharedMatrixDType dtype)
{
  return isfinite (test_ref_load (p, dtype));
}

REF_FN gboolean
test_ref_row_is_finite (const guint8 * row, GstSharedMatrixDType dtype,
    guint cols)
{
  guint j, size = test_ref_dtype_size (dtype);

  for (j = 0; j < cols; j++)
    if (!test_ref_is_finite (row + (gsize) j * size, dtype))
      return FALSE;
  return TRUE;
}

REF_FN gint64
test_ref_index (const guint8 * indices, GstSharedMatrixIndexType type,
    gsize i)
{
  if (type == GST_SHARED_MATRIX_INDEX_TYPE_INT64) {
    gint64 v;

    memcpy (&v, indices + i * 8, 8);
    return GINT64_FROM_LE (v);
  } else {
    gint32 v;

    memcpy (&v, indices + i * 4, 4);
    return GINT32_FROM_LE (v);
  }
}

REF_FN gboolean
test_ref_same_element (const guint8 * a, const guint8 * b,
    GstSharedMatrixDType dtype)
{
  if (memcmp (a, b, test_ref_dtype_size (dtype)) == 0)
    return TRUE;
  return isnan (test_ref_load (a, dtype)) && isnan (test_ref_load (b, dtype));
}

REF_FN gboolean
test_ref_same_elements (const guint8 * a, const guint8 * b, gsize count,
    GstSharedMatrixDType dtype, gsize * where)
{
  guint size = test_ref_dtype_size (dtype);
  gsize i;

  for (i = 0; i < count; i++)
    if (!test_ref_same_element (a + i * size, b + i * size, dtype)) {
      if (where)
        *where = i;
      return FALSE;
    }
  return TRUE;
}

/* ---- the ops ----------------------------------------------------------- */

REF_FN gdouble
test_ref_combine (GstSharedMatrixOp op, gdouble a, gdouble b)
{
  switch (op) {
    case GST_SHARED_MATRIX_OP_SET:
      return b;
    case GST_SHARED_MATRIX_OP_ADD:
      return a + b;
    case GST_SHARED_MATRIX_OP_SUB:
      return a - b;
    case GST_SHARED_MATRIX_OP_MUL:
      return a * b;
    case GST_SHARED_MATRIX_OP_MIN:
      /* numpy.minimum: a NaN operand wins (the first when both are); of
       * two equal values (+0/-0) the delta is taken, which the spec leaves
       * open and every backend does */
      if (isnan (a) || isnan (b))
        return isnan (a) ? a : b;
      return a < b ? a : b;
    case GST_SHARED_MATRIX_OP_MAX:
      if (isnan (a) || isnan (b))
        return isnan (a) ? a : b;
      return a > b ? a : b;
  }
  g_return_val_if_reached (NAN);
}

REF_FN void
test_ref_apply_row (GstSharedMatrixOp op, guint8 * dst,
    GstSharedMatrixDType dtype, const guint8 * src,
    GstSharedMatrixDType src_dtype, guint cols)
{
  guint dsize = test_ref_dtype_size (dtype);
  guint ssize = test_ref_dtype_size (src_dtype);
  gboolean wide = dtype == GST_SHARED_MATRIX_DTYPE_FLOAT64 ||
      src_dtype == GST_SHARED_MATRIX_DTYPE_FLOAT64;
  guint j;

  for (j = 0; j < cols; j++) {
    guint8 *c = dst + (gsize) j * dsize;
    gdouble v = test_ref_combine (op, test_ref_load (c, dtype),
        test_ref_load (src + (gsize) j * ssize, src_dtype));

    /* float32 arithmetic: both operands are float32 values and one +, -
     * or * is exact in double, so rounding the double result once to
     * float32 gives the float32 result */
    if (!wide)
      v = (gfloat) v;
    test_ref_store (c, dtype, v);
  }
}

REF_FN static gboolean
ref_fail (TestRefResult * res, gint code, gssize occurrence)
{
  res->error_code = code;
  res->error_occurrence = occurrence;
  return FALSE;
}

REF_FN gboolean
test_ref_update (guint8 * matrix, guint64 rows, guint cols,
    GstSharedMatrixDType dtype, GstSharedMatrixOp op, const guint8 * indices,
    GstSharedMatrixIndexType index_type, gsize n, const guint8 * deltas,
    GstSharedMatrixDType delta_dtype,
    GstSharedMatrixInvalidIndexPolicy invalid_index,
    GstSharedMatrixNonFinitePolicy non_finite, TestRefResult * res)
{
  TestRefResult dummy;
  gsize drow, mrow, i;
  guint8 *skip;

  if (res == NULL)
    res = &dummy;
  memset (res, 0, sizeof *res);
  res->error_code = -1;
  res->error_occurrence = -1;

  if ((guint) op > GST_SHARED_MATRIX_OP_MAX ||
      (guint) dtype > GST_SHARED_MATRIX_DTYPE_BFLOAT16 ||
      (guint) delta_dtype > GST_SHARED_MATRIX_DTYPE_BFLOAT16 ||
      (guint) index_type > GST_SHARED_MATRIX_INDEX_TYPE_INT64 ||
      (guint) invalid_index > GST_SHARED_MATRIX_INVALID_INDEX_DROP ||
      (guint) non_finite > GST_SHARED_MATRIX_NON_FINITE_ERROR)
    return ref_fail (res, GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT, -1);

  drow = (gsize) cols * test_ref_dtype_size (delta_dtype);
  mrow = (gsize) cols * test_ref_dtype_size (dtype);

  /* validation, before any row is written */
  skip = g_malloc0 (MAX (n, 1));
  for (i = 0; i < n; i++) {
    gint64 r = test_ref_index (indices, index_type, i);

    if (r < 0 || (guint64) r >= rows) {
      if (invalid_index == GST_SHARED_MATRIX_INVALID_INDEX_ERROR) {
        g_free (skip);
        return ref_fail (res, GST_SHARED_MATRIX_ERROR_INVALID_INDEX, i);
      }
      res->rows_dropped_invalid++;
      skip[i] = 1;
    } else if (non_finite != GST_SHARED_MATRIX_NON_FINITE_APPLY &&
        !test_ref_row_is_finite (deltas + i * drow, delta_dtype, cols)) {
      if (non_finite == GST_SHARED_MATRIX_NON_FINITE_ERROR) {
        g_free (skip);
        return ref_fail (res, GST_SHARED_MATRIX_ERROR_NON_FINITE, i);
      }
      res->rows_dropped_non_finite++;
      skip[i] = 1;
    }
  }

  /* every remaining occurrence, in buffer order */
  for (i = 0; i < n; i++) {
    if (skip[i])
      continue;
    test_ref_apply_row (op,
        matrix + (gsize) test_ref_index (indices, index_type, i) * mrow,
        dtype, deltas + i * drow, delta_dtype, cols);
    res->rows_applied++;
  }
  g_free (skip);
  return TRUE;
}

REF_FN void
test_ref_update_f32 (gfloat * matrix, guint64 rows, guint cols,
    GstSharedMatrixOp op, const gint32 * indices, gsize n,
    const gfloat * deltas)
{
  gboolean ok = test_ref_update ((guint8 *) matrix, rows, cols,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, op, (const guint8 *) indices,
      GST_SHARED_MATRIX_INDEX_TYPE_INT32, n, (const guint8 *) deltas,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_INVALID_INDEX_DROP,
      GST_SHARED_MATRIX_NON_FINITE_APPLY, NULL);

  g_assert (ok);
}
