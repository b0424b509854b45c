/* gst-sharedmatrix: process-wide matrix names
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

/**
 * GstSharedMatrixCreateFunc:
 * @user_data: the data passed to gst_shared_matrix_obtain_named()
 * @error: return location for a #GError
 *
 * Creates the matrix a name is to hold, when no live matrix holds it yet.
 * Called with the registry locked: it must not call the registry functions.
 *
 * Returns: (transfer full) (nullable): a new matrix, or %NULL with @error
 *   set when it cannot be made
 */
typedef GstSharedMatrix *(*GstSharedMatrixCreateFunc) (gpointer user_data,
    GError ** error);

GST_SHARED_MATRIX_API
GstSharedMatrix *gst_shared_matrix_lookup (const gchar * name);
GST_SHARED_MATRIX_API
gboolean gst_shared_matrix_register (GstSharedMatrix * self,
    const gchar * name, GError ** error);
GST_SHARED_MATRIX_API
GstSharedMatrix *gst_shared_matrix_obtain_named (const gchar * name,
    GstSharedMatrixCreateFunc create, gpointer user_data, GError ** error);

G_END_DECLS
