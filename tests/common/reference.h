/* gst-sharedmatrix: the tests' own reference for the update semantics
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One naive implementation of SPEC.md's "Update semantics", written from
 * the specification and independent of the library: it never includes
 * kernels/sharedmatrix-ops.h or any plugin/lib source, so a test that
 * compares the library with it compares two implementations, not one with
 * itself. Every C test and fuzz target that needs expected values takes
 * them from here (tests/common/meson.build builds it as test_common_lib;
 * tests/fuzz/run.sh compiles reference.c into the fuzz targets).
 *
 * What it implements, element by element and occurrence by occurrence:
 *  - ops set/add/sub/mul/min/max; min/max propagate NaN like
 *    numpy.minimum/maximum (a NaN operand is returned, the first one when
 *    both are NaN);
 *  - arithmetic in float64 when the matrix or the delta dtype is float64,
 *    otherwise in float32, then rounded to nearest even to the matrix dtype
 *    (float16 and bfloat16 rounding written here from the IEEE formats,
 *    with subnormals and overflow to infinity);
 *  - duplicates: occurrences in buffer order (set: the last wins; the
 *    other ops combine every occurrence);
 *  - validation before any write: invalid-index error/drop, non-finite
 *    apply/drop/error; a rejected update leaves the matrix untouched.
 * Which NaN (sign, payload) an operation yields is not specified: compare
 * results with test_ref_same_element (), which lets any NaN match any NaN.
 */
#pragma once

#include <glib.h>

#include "gstsharedmatrixtypes.h"

G_BEGIN_DECLS

/* names of the enum values, for messages */
const gchar *test_ref_op_name (gint op);
const gchar *test_ref_dtype_name (gint dtype);

/* ---- elements ---------------------------------------------------------- */

guint test_ref_dtype_size (GstSharedMatrixDType dtype);

/* float16 / bfloat16 bits <-> values, round to nearest even */
guint16 test_ref_round_to_half (gdouble v);
guint16 test_ref_round_to_bfloat16 (gdouble v);
gfloat test_ref_half_to_float (guint16 bits);
gfloat test_ref_bfloat16_to_float (guint16 bits);

/* One element at @p (any alignment), as a double / rounded from a double */
gdouble test_ref_load (const guint8 * p, GstSharedMatrixDType dtype);
void test_ref_store (guint8 * p, GstSharedMatrixDType dtype, gdouble v);
gboolean test_ref_is_finite (const guint8 * p, GstSharedMatrixDType dtype);
gboolean test_ref_row_is_finite (const guint8 * row,
    GstSharedMatrixDType dtype, guint cols);
gint64 test_ref_index (const guint8 * indices, GstSharedMatrixIndexType type,
    gsize i);

/* Equal bits, or NaN on both sides. */
gboolean test_ref_same_element (const guint8 * a, const guint8 * b,
    GstSharedMatrixDType dtype);
/* Compares @count elements with test_ref_same_element (); on the first
 * difference returns FALSE and its element index in @where. */
gboolean test_ref_same_elements (const guint8 * a, const guint8 * b,
    gsize count, GstSharedMatrixDType dtype, gsize * where);

/* ---- the ops ----------------------------------------------------------- */

/* @a op @b, exact in double (the caller rounds) */
gdouble test_ref_combine (GstSharedMatrixOp op, gdouble a, gdouble b);

/* One occurrence: matrix row @dst (@dtype) op= delta row @src (@src_dtype) */
void test_ref_apply_row (GstSharedMatrixOp op, guint8 * dst,
    GstSharedMatrixDType dtype, const guint8 * src,
    GstSharedMatrixDType src_dtype, guint cols);

typedef struct
{
  guint64 rows_applied;
  guint64 rows_dropped_invalid;
  guint64 rows_dropped_non_finite;
  /* on failure: the GstSharedMatrixError code the library must report and
   * the occurrence it is about (-1 for a bad argument) */
  gint error_code;
  gssize error_occurrence;
} TestRefResult;

/* One whole update of @n occurrences on @matrix (@rows x @cols of @dtype,
 * row-major). Validates first (enum arguments, then every occurrence in
 * buffer order against the policies); on a violation returns FALSE with
 * @res's error fields set and @matrix untouched. Otherwise applies every
 * occurrence that is not dropped, in buffer order, fills the counts and
 * returns TRUE. @res may be NULL. */
gboolean test_ref_update (guint8 * matrix, guint64 rows, guint cols,
    GstSharedMatrixDType dtype, GstSharedMatrixOp op, const guint8 * indices,
    GstSharedMatrixIndexType index_type, gsize n, const guint8 * deltas,
    GstSharedMatrixDType delta_dtype,
    GstSharedMatrixInvalidIndexPolicy invalid_index,
    GstSharedMatrixNonFinitePolicy non_finite, TestRefResult * res);

/* The float32 / int32 case most element tests use: invalid indices are
 * dropped, non-finite deltas applied. */
void test_ref_update_f32 (gfloat * matrix, guint64 rows, guint cols,
    GstSharedMatrixOp op, const gint32 * indices, gsize n,
    const gfloat * deltas);

G_END_DECLS
