/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SHARED_MATRIX_ELEMENT (gst_shared_matrix_element_get_type ())
G_DECLARE_FINAL_TYPE (GstSharedMatrixElement, gst_shared_matrix_element, GST,
    SHARED_MATRIX_ELEMENT, GstElement)

GST_ELEMENT_REGISTER_DECLARE (sharedmatrix);

G_END_DECLS
