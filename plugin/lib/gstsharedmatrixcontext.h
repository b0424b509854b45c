/* gst-sharedmatrix: sharing a matrix through GstContext
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

/**
 * GST_SHARED_MATRIX_CONTEXT_TYPE:
 *
 * The #GstContext type that carries a matrix between the elements of a
 * pipeline and the application (NEED_CONTEXT / HAVE_CONTEXT, the way
 * gst-plugins-bad's CUDA library shares its device context). Its structure
 * has the fields `matrix` (#GstSharedMatrix) and `name` (string, the
 * matrix-name it answers to, or none).
 */
#define GST_SHARED_MATRIX_CONTEXT_TYPE "gst.sharedmatrix.matrix"

GST_SHARED_MATRIX_API
GstContext *gst_shared_matrix_make_context (GstSharedMatrix * self,
    const gchar * name);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_context_get_matrix (GstContext * context,
    GstSharedMatrix ** matrix, gchar ** name);

G_END_DECLS
