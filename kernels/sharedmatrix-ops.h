/* gst-sharedmatrix: element conversions and row update bodies
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * This header is the single definition of the update semantics. It compiles
 * as plain C (the CPU backend, the kernel emulation tests) and as CUDA
 * (device kernels), so it uses only what both understand: fixed-width
 * integers, float/double arithmetic and memcpy for unaligned loads.
 *
 * Enum values mirror GstSharedMatrixDType / GstSharedMatrixOp (checked by
 * static assertions in the library).
 */
#ifndef SHAREDMATRIX_OPS_H
#define SHAREDMATRIX_OPS_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define SM_FN static inline __host__ __device__
#else
#define SM_FN static inline
#endif

enum
{
  SM_DTYPE_FLOAT32 = 0,
  SM_DTYPE_FLOAT64 = 1,
  SM_DTYPE_FLOAT16 = 2,
  SM_DTYPE_BFLOAT16 = 3,
};

enum
{
  SM_OP_SET = 0,
  SM_OP_ADD = 1,
  SM_OP_SUB = 2,
  SM_OP_MUL = 3,
  SM_OP_MIN = 4,
  SM_OP_MAX = 5,
};

SM_FN unsigned
sm_dtype_size (int dtype)
{
  return dtype == SM_DTYPE_FLOAT64 ? 8 : dtype == SM_DTYPE_FLOAT32 ? 4 : 2;
}

/* ---- 16-bit floats ------------------------------------------------------ */

/* Round a double to a narrow binary float with @mbits mantissa bits and
 * @ebits exponent bits, round to nearest even, with subnormals, overflow to
 * infinity and quiet NaNs. Rounding from double directly (not through float)
 * avoids double rounding, so results match numpy's float64 -> float16. */
SM_FN uint16_t
sm_double_to_narrow (double d, int mbits, int ebits)
{
  uint64_t x, absx, mant, q, rem, halfway;
  uint16_t sign;
  int bias = (1 << (ebits - 1)) - 1;
  int emin = 1 - bias;
  int e, shift;
  uint16_t inf = (uint16_t) (((1u << ebits) - 1) << mbits);

  memcpy (&x, &d, sizeof x);
  sign = (uint16_t) ((x >> 63) << (mbits + ebits));
  absx = x & 0x7fffffffffffffffULL;
  if (absx >= 0x7ff0000000000000ULL)    /* Inf or NaN */
    return sign | inf | (absx > 0x7ff0000000000000ULL ?
        (uint16_t) (1u << (mbits - 1)) : 0);
  if (absx == 0)
    return sign;
  e = (int) (absx >> 52) - 1023;
  if (e > bias)
    return sign | inf;
  if (e < emin - mbits - 1)     /* below half the smallest subnormal */
    return sign;
  mant = (absx & 0xfffffffffffffULL) | 0x10000000000000ULL;
  shift = 52 - mbits + (e >= emin ? 0 : emin - e);
  q = mant >> shift;
  rem = mant & ((1ULL << shift) - 1);
  halfway = 1ULL << (shift - 1);
  /* round to nearest even; as arithmetic, not a branch: random data takes
   * it either way and the mispredictions cost more than the rest */
  q += (rem > halfway) | ((rem == halfway) & (q & 1));
  if (e >= emin)                /* q carries the implicit bit; a carry bumps the exponent */
    return sign | (uint16_t) (((uint32_t) (e - emin) << mbits) + q);
  return sign | (uint16_t) q;   /* subnormal; q == 1 << mbits is the smallest normal */
}

SM_FN uint16_t
sm_double_to_half (double d)
{
  return sm_double_to_narrow (d, 10, 5);
}

SM_FN uint16_t
sm_double_to_bfloat16 (double d)
{
  return sm_double_to_narrow (d, 7, 8);
}

SM_FN float
sm_bits_to_float (uint32_t u)
{
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

SM_FN float
sm_half_to_float (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t e = (h >> 10) & 0x1f;
  uint32_t m = h & 0x3ff;

  if (e == 0x1f)                /* Inf/NaN, keep the payload */
    return sm_bits_to_float (sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    /* zero or subnormal: m * 2^-24 is exact in float */
    float v = (float) m * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return sm_bits_to_float (sign | ((e + 112) << 23) | (m << 13));
}

SM_FN float
sm_bfloat16_to_float (uint16_t b)
{
  return sm_bits_to_float ((uint32_t) b << 16);
}

/* ---- element loads and stores (unaligned-safe) --------------------------- */

SM_FN double
sm_load (const unsigned char *p, int dtype)
{
  switch (dtype) {
    case SM_DTYPE_FLOAT32:{
      float f;
      memcpy (&f, p, 4);
      return f;
    }
    case SM_DTYPE_FLOAT64:{
      double d;
      memcpy (&d, p, 8);
      return d;
    }
    case SM_DTYPE_FLOAT16:{
      uint16_t h;
      memcpy (&h, p, 2);
      return sm_half_to_float (h);
    }
    default:{
      uint16_t b;
      memcpy (&b, p, 2);
      return sm_bfloat16_to_float (b);
    }
  }
}

SM_FN int
sm_is_finite_bits (const unsigned char *p, int dtype)
{
  switch (dtype) {
    case SM_DTYPE_FLOAT32:{
      uint32_t u;
      memcpy (&u, p, 4);
      return (u & 0x7f800000u) != 0x7f800000u;
    }
    case SM_DTYPE_FLOAT64:{
      uint64_t u;
      memcpy (&u, p, 8);
      return (u & 0x7ff0000000000000ULL) != 0x7ff0000000000000ULL;
    }
    case SM_DTYPE_FLOAT16:{
      uint16_t u;
      memcpy (&u, p, 2);
      return (u & 0x7c00) != 0x7c00;
    }
    default:{
      uint16_t u;
      memcpy (&u, p, 2);
      return (u & 0x7f80) != 0x7f80;
    }
  }
}

/* Does a delta row hold only finite values? */
SM_FN int
sm_row_is_finite (const unsigned char *row, int dtype, unsigned cols)
{
  unsigned size = sm_dtype_size (dtype);
  unsigned j;

  for (j = 0; j < cols; j++)
    if (!sm_is_finite_bits (row + (size_t) j * size, dtype))
      return 0;
  return 1;
}

/* ---- the ops ------------------------------------------------------------- */

/* NaN in either operand gives NaN, like numpy.minimum/maximum. */
#define SM_COMBINE(op, a, b) \
  ((op) == SM_OP_SET ? (b) : \
   (op) == SM_OP_ADD ? (a) + (b) : \
   (op) == SM_OP_SUB ? (a) - (b) : \
   (op) == SM_OP_MUL ? (a) * (b) : \
   (op) == SM_OP_MIN ? (((a) != (a) || (a) < (b)) ? (a) : (b)) : \
   (((a) != (a) || (a) > (b)) ? (a) : (b)))

/* Same-type fast paths: arithmetic in the storage type itself, which is
 * exact IEEE arithmetic followed by one rounding, as the semantics ask. The
 * switch on op sits outside the loop so each loop vectorises. */
#define SM_DEFINE_SAME_TYPE_ROW(name, T) \
SM_FN void \
name (int op, T * dst, const unsigned char *src, unsigned cols) \
{ \
  unsigned j; \
  switch (op) { \
    case SM_OP_SET: memcpy (dst, src, (size_t) cols * sizeof (T)); break; \
    case SM_OP_ADD: for (j = 0; j < cols; j++) { T b; memcpy (&b, src + j * sizeof (T), sizeof b); dst[j] = SM_COMBINE (SM_OP_ADD, dst[j], b); } break; \
    case SM_OP_SUB: for (j = 0; j < cols; j++) { T b; memcpy (&b, src + j * sizeof (T), sizeof b); dst[j] = SM_COMBINE (SM_OP_SUB, dst[j], b); } break; \
    case SM_OP_MUL: for (j = 0; j < cols; j++) { T b; memcpy (&b, src + j * sizeof (T), sizeof b); dst[j] = SM_COMBINE (SM_OP_MUL, dst[j], b); } break; \
    case SM_OP_MIN: for (j = 0; j < cols; j++) { T b; memcpy (&b, src + j * sizeof (T), sizeof b); dst[j] = SM_COMBINE (SM_OP_MIN, dst[j], b); } break; \
    default:        for (j = 0; j < cols; j++) { T b; memcpy (&b, src + j * sizeof (T), sizeof b); dst[j] = SM_COMBINE (SM_OP_MAX, dst[j], b); } break; \
  } \
}

SM_DEFINE_SAME_TYPE_ROW (sm_row_f32_f32, float)
SM_DEFINE_SAME_TYPE_ROW (sm_row_f64_f64, double)

/* Round a computed value to the matrix dtype and store it. */
SM_FN void
sm_store (unsigned char *p, int dtype, double v)
{
  switch (dtype) {
    case SM_DTYPE_FLOAT32:{
      float f = (float) v;
      memcpy (p, &f, 4);
      break;
    }
    case SM_DTYPE_FLOAT64:
      memcpy (p, &v, 8);
      break;
    case SM_DTYPE_FLOAT16:{
      uint16_t h = sm_double_to_half (v);
      memcpy (p, &h, 2);
      break;
    }
    default:{
      uint16_t b = sm_double_to_bfloat16 (v);
      memcpy (p, &b, 2);
      break;
    }
  }
}

/* Mixed dtypes: the arithmetic is done in float32 unless either side is
 * float64 (then float64), and the result rounded to the matrix dtype.
 * float32 arithmetic is done in double and rounded to float, which gives the
 * correctly rounded float result for one +, -, * (double has more than
 * 2 * 24 + 2 mantissa bits, so the double rounding is innocuous). */
SM_FN void
sm_row_generic (int op, unsigned char *dst, int dtype,
    const unsigned char *src, int src_dtype, unsigned cols)
{
  unsigned dsize = sm_dtype_size (dtype), ssize = sm_dtype_size (src_dtype);
  int wide = dtype == SM_DTYPE_FLOAT64 || src_dtype == SM_DTYPE_FLOAT64;
  unsigned j;

  for (j = 0; j < cols; j++) {
    unsigned char *d = dst + (size_t) j * dsize;
    double a = sm_load (d, dtype);
    double b = sm_load (src + (size_t) j * ssize, src_dtype);
    double v = SM_COMBINE (op, a, b);

    if (!wide)
      v = (float) v;
    sm_store (d, dtype, v);
  }
}

/* Apply one delta row to one matrix row. */
SM_FN void
sm_apply_row (int op, unsigned char *dst, int dtype,
    const unsigned char *src, int src_dtype, unsigned cols)
{
  if (dtype == SM_DTYPE_FLOAT32 && src_dtype == SM_DTYPE_FLOAT32)
    sm_row_f32_f32 (op, (float *) dst, src, cols);
  else if (dtype == SM_DTYPE_FLOAT64 && src_dtype == SM_DTYPE_FLOAT64)
    sm_row_f64_f64 (op, (double *) dst, src, cols);
  else
    sm_row_generic (op, dst, dtype, src, src_dtype, cols);
}

/* Row index @i of an index array; int64 covers both index types. */
SM_FN int64_t
sm_load_index (const unsigned char *indices, int is_int64, size_t i)
{
  if (is_int64) {
    int64_t v;
    memcpy (&v, indices + i * 8, 8);
    return v;
  } else {
    int32_t v;
    memcpy (&v, indices + i * 4, 4);
    return v;
  }
}

#endif /* SHAREDMATRIX_OPS_H */
