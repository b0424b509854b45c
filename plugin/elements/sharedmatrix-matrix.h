/* gst-sharedmatrix: how the sharedmatrix element gets its matrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gstsharedmatrix.h"

G_BEGIN_DECLS

/* The settings that define the matrix an element creates or shares. */
typedef struct
{
  gchar *name;                  /* matrix-name */
  gchar *location;
  gchar *checkpoint_location;
  guint64 rows;
  guint cols;
  GstSharedMatrixDType dtype;
  GstSharedMatrixBackend backend;
  gint device_id;
} SmMatrixSpec;

void sm_matrix_spec_copy (SmMatrixSpec * dest, const SmMatrixSpec * src);
void sm_matrix_spec_clear (SmMatrixSpec * spec);

gboolean sm_matrix_spec_predict_shape (const SmMatrixSpec * spec,
    GstSharedMatrixDType * dtype, guint64 * rows, guint * cols);
GstSharedMatrix *sm_matrix_obtain (GstElement * element,
    const SmMatrixSpec * spec, GstSharedMatrix * current, gboolean * created,
    guint64 * last_offset);

G_END_DECLS
