/* gst-sharedmatrix: the one deterministic random source of the C tests
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * SplitMix64 (Steele, Lea, Flood 2014): any 64-bit state, including 0, is a
 * good seed, and the stream is the same on every machine. The state is a
 * plain guint64 the test owns, so each test (and each case of a loop) can
 * start its own reproducible stream.
 */
#pragma once

#include <glib.h>

#include "gstsharedmatrixtypes.h"

G_BEGIN_DECLS

guint64 test_rng_next (guint64 * state);
/* in [0, @bound) (@bound > 0) */
guint64 test_rng_below (guint64 * state, guint64 bound);
/* uniform in [@lo, @hi), 53 random bits */
gdouble test_rng_uniform (guint64 * state, gdouble lo, gdouble hi);
/* uniform float32 in [@lo, @hi), never exactly 0 */
gfloat test_rng_float_nonzero (guint64 * state, gfloat lo, gfloat hi);

/* NaN, ±Inf, ±0, a float16 overflow, a subnormal or a huge value */
gdouble test_rng_special (guint64 * state);
/* values that stress rounding and the special cases (ties, the float16
 * limits, subnormals of every dtype, float32 overflow), or a uniform one
 * in [-1e5, 1e5) */
gdouble test_rng_adversarial (guint64 * state);

/* @count elements of @dtype, uniform in [-3, 3); with @specials about one
 * in 19 is test_rng_special (). */
void test_rng_fill (guint8 * data, gsize count, GstSharedMatrixDType dtype,
    guint64 * state, gboolean specials);
/* @count elements of @dtype, uniform in [-3, 3); with @adversarial about
 * half are test_rng_adversarial (), with @non_finite one in 16 NaN and one
 * in 16 ±Inf. */
void test_rng_fill_adversarial (guint8 * data, gsize count,
    GstSharedMatrixDType dtype, guint64 * state, gboolean adversarial,
    gboolean non_finite);

G_END_DECLS
