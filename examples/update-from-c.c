/* gst-sharedmatrix: the library from C (docs/user-guide.md shows this file)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * cc update-from-c.c $(pkg-config --cflags --libs gstreamer-sharedmatrix-1.0)
 */
#include <gst/sharedmatrix/gstsharedmatrix.h>

int
main (int argc, char **argv)
{
  const gint32 indices[] = { 3, 17, 3, 70000 };  /* row 3 twice; 70000 is out of range */
  gfloat deltas[4 * 100];
  GstSharedMatrixPolicies policies = {
    .invalid_index = GST_SHARED_MATRIX_INVALID_INDEX_DROP,
    .non_finite = GST_SHARED_MATRIX_NON_FINITE_ERROR,
  };
  GstSharedMatrixUpdateResult res;
  GstSharedMatrix *m;
  GError *err = NULL;
  GBytes *value;
  const gfloat *c;

  gst_init (&argc, &argv);
  m = gst_shared_matrix_new (70000, 100, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_AUTO, &err);
  if (m == NULL)
    goto failed;

  for (guint i = 0; i < G_N_ELEMENTS (deltas); i++)
    deltas[i] = 1.0f;
  if (!gst_shared_matrix_update (m, GST_SHARED_MATRIX_OP_ADD, indices,
          G_N_ELEMENTS (indices), GST_SHARED_MATRIX_INDEX_TYPE_INT32, deltas,
          GST_SHARED_MATRIX_DTYPE_FLOAT32, &policies, &res, &err))
    goto failed;                /* matrix unchanged */

  value = gst_shared_matrix_get_value (m);      /* a host copy, row-major */
  c = g_bytes_get_data (value, NULL);
  g_print ("version %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT " rows applied, %"
      G_GUINT64_FORMAT " dropped; C[3][0] = %g, C[17][0] = %g\n", res.version,
      res.rows_applied, res.rows_dropped_invalid, c[3 * 100], c[17 * 100]);
  g_bytes_unref (value);
  gst_object_unref (m);
  return 0;

failed:
  g_printerr ("error: %s\n", err->message);
  g_clear_error (&err);
  gst_clear_object (&m);
  return 1;
}
