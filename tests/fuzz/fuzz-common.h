/* gst-sharedmatrix: what the libFuzzer targets share
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

/* A violated invariant aborts with a message: libFuzzer reports a crash. */
#define CHECK(cond, ...) G_STMT_START { \
  if (G_UNLIKELY (!(cond))) { \
    fprintf (stderr, "%s:%d: check failed: %s\n  ", __FILE__, __LINE__, \
        #cond); \
    fprintf (stderr, __VA_ARGS__); \
    fprintf (stderr, "\n"); \
    abort (); \
  } \
} G_STMT_END

/* The harness's own loops (reference, comparisons) are not the code under
 * test: keep them out of the coverage and value-profile feedback, which
 * they would otherwise dominate. */
#if defined(__clang__) && __clang_major__ >= 13
#define HARNESS __attribute__ ((no_sanitize ("coverage")))
#else
#define HARNESS
#endif

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 * data, size_t size);
