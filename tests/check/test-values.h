/* gst-sharedmatrix: deterministic test data shared by the kernel and CUDA
 * tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <math.h>

#include <glib.h>

#include "sharedmatrix-ops.h"

static const gchar *op_names[] = { "set", "add", "sub", "mul", "min", "max" };
static const gchar *dtype_names[] =
    { "float32", "float64", "float16", "bfloat16" };

/* xorshift64*: the same stream on every machine */
static inline guint64
rng_next (guint64 * s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi) */
static inline double
rng_double (guint64 * s, double lo, double hi)
{
  return lo + (hi - lo) * ((rng_next (s) >> 11) * (1.0 / 9007199254740992.0));
}

/* @count values of @dtype, uniform in [-3, 3); with @specials, about one in
 * 19 is NaN, ±Inf, ±0, a float16 overflow, a subnormal or a huge value. */
static inline void
fill_random (guint8 * data, gsize count, int dtype, guint64 * s,
    gboolean specials)
{
  static const double special[] = { NAN, INFINITY, -INFINITY, 0.0, -0.0,
    65520.0, 6e-8, 1e-40, 3.4e38, 1e300
  };
  unsigned size = sm_dtype_size (dtype);
  gsize i;

  for (i = 0; i < count; i++) {
    guint64 r = rng_next (s);
    double v = ((r >> 11) * (1.0 / 9007199254740992.0)) * 6.0 - 3.0;

    if (specials && r % 19 == 0)
      v = special[(r >> 8) % G_N_ELEMENTS (special)];
    sm_store (data + i * size, dtype, v);
  }
}
