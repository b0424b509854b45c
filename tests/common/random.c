/* gst-sharedmatrix: the one deterministic random source of the C tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>

#include "random.h"
#include "reference.h"

guint64
test_rng_next (guint64 * state)
{
  guint64 z = (*state += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15));

  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

guint64
test_rng_below (guint64 * state, guint64 bound)
{
  g_return_val_if_fail (bound > 0, 0);
  /* the modulo bias is below 2^-40 for the bounds tests use */
  return test_rng_next (state) % bound;
}

gdouble
test_rng_uniform (guint64 * state, gdouble lo, gdouble hi)
{
  return lo + (hi - lo) * ((test_rng_next (state) >> 11) *
      (1.0 / 9007199254740992.0));
}

gfloat
test_rng_float_nonzero (guint64 * state, gfloat lo, gfloat hi)
{
  gfloat v;

  do
    v = (gfloat) test_rng_uniform (state, lo, hi);
  while (v == 0.0f || v >= hi);
  return v;
}

gdouble
test_rng_special (guint64 * state)
{
  static const gdouble special[] = { NAN, INFINITY, -INFINITY, 0.0, -0.0,
    65520.0, 6e-8, 1e-40, 3.4e38, 1e300
  };

  return special[test_rng_below (state, G_N_ELEMENTS (special))];
}

gdouble
test_rng_adversarial (guint64 * state)
{
  static const gdouble values[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, 1.0 + 1.0 / 2048, 1.0 + 1.0 / 256,
    65504.0, 65520.0, -65504.0, 6e-8, -6e-8, 1e-5, 3e-39, -1e-45,
    3.4e38, -3.4e38, 1e300, -1e300, 1e-310, 2.5, 3.5,
  };
  guint64 r = test_rng_below (state, G_N_ELEMENTS (values) + 4);

  if (r < G_N_ELEMENTS (values))
    return values[r];
  return test_rng_uniform (state, -1e5, 1e5);
}

void
test_rng_fill (guint8 * data, gsize count, GstSharedMatrixDType dtype,
    guint64 * state, gboolean specials)
{
  guint size = test_ref_dtype_size (dtype);
  gsize i;

  for (i = 0; i < count; i++) {
    gdouble v = test_rng_uniform (state, -3.0, 3.0);

    if (specials && test_rng_below (state, 19) == 0)
      v = test_rng_special (state);
    test_ref_store (data + i * size, dtype, v);
  }
}

void
test_rng_fill_adversarial (guint8 * data, gsize count,
    GstSharedMatrixDType dtype, guint64 * state, gboolean adversarial,
    gboolean non_finite)
{
  guint size = test_ref_dtype_size (dtype);
  gsize i;

  for (i = 0; i < count; i++) {
    gdouble v;
    guint64 r = test_rng_below (state, 16);

    if (non_finite && r == 0)
      v = NAN;
    else if (non_finite && r == 1)
      v = (test_rng_next (state) & 1) ? INFINITY : -INFINITY;
    else if (adversarial && r < 8)
      v = test_rng_adversarial (state);
    else
      v = test_rng_uniform (state, -3.0, 3.0);
    test_ref_store (data + i * size, dtype, v);
  }
}
