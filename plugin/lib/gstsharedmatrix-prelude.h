/* gst-sharedmatrix: the export macro of libgstsharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The library is built with hidden symbol visibility: only the functions
 * declared with GST_SHARED_MATRIX_API in its public headers are exported,
 * and tests/check/check-exports.py checks that nothing else is.
 */
#pragma once

#include <gst/gstconfig.h>

/**
 * GST_SHARED_MATRIX_API: (skip)
 *
 * Marks a function of the public API: exported from the library when it is
 * built (BUILDING_GST_SHARED_MATRIX), an ordinary extern declaration for
 * its users.
 */
#ifndef GST_SHARED_MATRIX_API
# ifdef BUILDING_GST_SHARED_MATRIX
#  define GST_SHARED_MATRIX_API GST_API_EXPORT
# else
#  define GST_SHARED_MATRIX_API GST_API_IMPORT
# endif
#endif
