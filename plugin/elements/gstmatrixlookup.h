/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MATRIX_LOOKUP (gst_matrix_lookup_get_type ())
G_DECLARE_FINAL_TYPE (GstMatrixLookup, gst_matrix_lookup, GST, MATRIX_LOOKUP,
    GstElement)

GST_ELEMENT_REGISTER_DECLARE (matrixlookup);

G_END_DECLS
