/* gst-sharedmatrix: the CPU backend's row loops (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Rows of any dtype, in functions the compiler inlines and vectorises where
 * they are used: backend-cpu.c, and tests/bench/check-cpu-kernels.c, which
 * checks them bit for bit against sm_row_generic () in
 * kernels/sharedmatrix-ops.h. Both are built with -fvect-cost-model=dynamic
 * (see plugin/lib/meson.build), so the checked code is the shipped code.
 */
#pragma once

#include <string.h>

#include "backend.h"
#include "sharedmatrix-ops.h"

/* Branch-free element conversions (select instead of branch, so that the
 * loops below vectorise). Each gives bit for bit what sm_load ()/sm_store ()
 * give, NaN included; tests/bench/check-cpu-kernels.c checks that (all
 * 2^16 halves; with --exhaustive all 2^32 floats, which passed). */

static inline guint32
f2u (float f)
{
  guint32 u;

  memcpy (&u, &f, 4);
  return u;
}

static inline float
u2f (guint32 u)
{
  float f;

  memcpy (&f, &u, 4);
  return f;
}

/* c ? a : b without a branch for the vectoriser to trip on (GCC keeps a
 * ternary around a floating-point operation as control flow) */
static inline guint32
select_u32 (guint32 c, guint32 a, guint32 b)
{
  guint32 mask = 0u - c;

  return (a & mask) | (b & ~mask);
}

static inline float
half_to_float (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 em = h & 0x7fff;
  guint32 normal = (em << 13) + (112u << 23);
  guint32 infnan = (em << 13) | 0x7f800000u;
  /* subnormal (and zero): em * 2^-24 is exact in float */
  guint32 sub = f2u ((float) (gint32) em * 5.9604644775390625e-8f);
  guint32 r = select_u32 (em >= 0x7c00, infnan, normal);

  r = select_u32 (em < 0x400, sub, r);
  return u2f (r | sign);
}

/* float -> float16, round to nearest even, overflow to infinity, NaN to
 * the quiet NaN 0x7e00 with the sign kept (F. Giesen's float_to_half_fast3
 * with selects) */
static inline guint16
float_to_half (float f)
{
  guint32 u = f2u (f);
  guint32 sign = (u >> 16) & 0x8000;
  guint32 a = u & 0x7fffffffu;
  guint32 o_inf = select_u32 (a > 0x7f800000u, 0x7e00u, 0x7c00u);
  /* below 2^-14: let the FPU round by adding 0.5 (exponent 126) */
  guint32 o_sub = f2u (u2f (a) + 0.5f) - (126u << 23);
  guint32 o_norm = (a + ((guint32) (15 - 127) << 23) + 0xfffu +
      ((a >> 13) & 1)) >> 13;
  guint32 o = select_u32 (a >= (143u << 23), o_inf,
      select_u32 (a < (113u << 23), o_sub, o_norm));

  return (guint16) (o | sign);
}

static inline guint16
float_to_bfloat16 (float f)
{
  guint32 u = f2u (f);
  guint32 rounded = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
  guint32 nan = ((u >> 16) & 0x8000) | 0x7fc0;

  return (guint16) select_u32 ((u & 0x7fffffffu) > 0x7f800000u, nan, rounded);
}

/* double -> double rounded to odd at float precision (the low 29 mantissa
 * bits cleared, the lowest kept bit set when any was set), so that the
 * conversion to float that follows is exact in float's normal range;
 * rounding that to float16 or bfloat16 (at least two bits narrower) gives
 * the correctly rounded result from the double, as sm_double_to_narrow ()
 * does, without double rounding. Written as a select on doubles: SSE2 has
 * no 64-bit integer compare, and GCC vectorises this form. NaN compares
 * unequal and stays NaN. */
static inline double
round_to_float_odd (double d)
{
  guint64 u, trunc;
  double t, t_odd;

  memcpy (&u, &d, 8);
  trunc = u & ~G_GUINT64_CONSTANT (0x1fffffff);
  memcpy (&t, &trunc, 8);
  trunc |= G_GUINT64_CONSTANT (1) << 29;
  memcpy (&t_odd, &trunc, 8);
  return t != d ? t_odd : t;
}

#define CHUNK 128

static inline void
load_floats (float *out, const guint8 * p, int dtype, guint m)
{
  guint j;

  switch (dtype) {
    case SM_DTYPE_FLOAT32:
      memcpy (out, p, m * 4);
      break;
    case SM_DTYPE_FLOAT16:
      for (j = 0; j < m; j++) {
        guint16 h;

        memcpy (&h, p + 2 * j, 2);
        out[j] = half_to_float (h);
      }
      break;
    default:
      for (j = 0; j < m; j++) {
        guint16 b;

        memcpy (&b, p + 2 * j, 2);
        out[j] = u2f ((guint32) b << 16);
      }
      break;
  }
}

static inline void
load_doubles (double *out, const guint8 * p, int dtype, guint m)
{
  float tmp[CHUNK];
  guint j;

  if (dtype == SM_DTYPE_FLOAT64) {
    memcpy (out, p, m * 8);
    return;
  }
  load_floats (tmp, p, dtype, m);
  for (j = 0; j < m; j++)
    out[j] = tmp[j];
}

static inline void
store_floats (guint8 * p, int dtype, const float *v, guint m)
{
  guint j;

  switch (dtype) {
    case SM_DTYPE_FLOAT32:
      memcpy (p, v, m * 4);
      break;
    case SM_DTYPE_FLOAT16:
      for (j = 0; j < m; j++) {
        guint16 h = float_to_half (v[j]);

        memcpy (p + 2 * j, &h, 2);
      }
      break;
    default:
      for (j = 0; j < m; j++) {
        guint16 b = float_to_bfloat16 (v[j]);

        memcpy (p + 2 * j, &b, 2);
      }
      break;
  }
}

static inline void
store_doubles (guint8 * p, int dtype, const double *v, guint m)
{
  float tmp[CHUNK];
  guint j;

  switch (dtype) {
    case SM_DTYPE_FLOAT64:
      memcpy (p, v, m * 8);
      return;
    case SM_DTYPE_FLOAT32:
      for (j = 0; j < m; j++)
        tmp[j] = (float) v[j];
      break;
    default:
      for (j = 0; j < m; j++)
        tmp[j] = (float) round_to_float_odd (v[j]);
      break;
  }
  store_floats (p, dtype, tmp, m);
  /* below float's normal range the conversion to float rounds once more:
   * bfloat16 has subnormals there (float16 rounds all of it to zero) */
  if (dtype == SM_DTYPE_BFLOAT16)
    for (j = 0; j < m; j++)
      if (__builtin_fabs (v[j]) < 0x1p-126 && v[j] != 0) {
        guint16 b = sm_double_to_bfloat16 (v[j]);

        memcpy (p + 2 * j, &b, 2);
      }
}

/* sm_row_generic () in vectorisable steps, CHUNK columns at a time: load
 * both sides into float (double when either is float64), combine them with
 * the header's same-type row (so the op semantics stay defined in one
 * place), round to the matrix dtype. */
static void
row_convert (int op, guint8 * dst, int dtype, const guint8 * src,
    int src_dtype, guint cols)
{
  guint dsize = sm_dtype_size (dtype), ssize = sm_dtype_size (src_dtype);
  gboolean wide = dtype == SM_DTYPE_FLOAT64 || src_dtype == SM_DTYPE_FLOAT64;
  guint j0;

  for (j0 = 0; j0 < cols; j0 += CHUNK) {
    guint m = MIN (CHUNK, cols - j0);
    guint8 *d = dst + (gsize) j0 * dsize;
    const guint8 *s = src + (gsize) j0 * ssize;

    if (wide) {
      double a[CHUNK], b[CHUNK];

      if (op != SM_OP_SET)
        load_doubles (a, d, dtype, m);
      load_doubles (b, s, src_dtype, m);
      sm_row_f64_f64 (op, a, (const unsigned char *) b, m);
      store_doubles (d, dtype, a, m);
    } else {
      float a[CHUNK], b[CHUNK];

      if (op != SM_OP_SET)
        load_floats (a, d, dtype, m);
      load_floats (b, s, src_dtype, m);
      sm_row_f32_f32 (op, a, (const unsigned char *) b, m);
      store_floats (d, dtype, a, m);
    }
  }
}

static inline void
apply_row (const SmShape * shape,
    const SmUpdatePlan * plan, guint8 * dst, const guint8 * src)
{
  int dtype = shape->dtype;

  if (dtype == (int) plan->delta_dtype && (dtype == SM_DTYPE_FLOAT32
          || dtype == SM_DTYPE_FLOAT64))
    sm_apply_row (plan->op, dst, shape->dtype, src, plan->delta_dtype,
        shape->cols);
  else
    row_convert (plan->op, dst, shape->dtype, src, plan->delta_dtype,
        shape->cols);
}

/* The cache lines of a row: with @far into L2 only (prefetcht2 on x86:
 * locality 1; a read prefetch, since GCC may make a write one prefetchw,
 * which fills L1), otherwise into L1 with write intent. Always inlined:
 * out of line, gcc 12 finds a function that only prefetches free of side
 * effects and deletes the calls (an out-of-line helper lost every
 * prefetch). The optimizer steps (backend-cpu-optim.c) use it too. */
static inline __attribute__ ((always_inline)) void
prefetch_row (const guint8 * row, gsize row_bytes, gboolean far)
{
  gsize k;

  if (far) {
    for (k = 0; k < row_bytes; k += 64)
      __builtin_prefetch (row + k, 0, 1);
    __builtin_prefetch (row + row_bytes - 1, 0, 1);
  } else {
    for (k = 0; k < row_bytes; k += 64)
      __builtin_prefetch (row + k, 1, 3);
    __builtin_prefetch (row + row_bytes - 1, 1, 3);
  }
}
