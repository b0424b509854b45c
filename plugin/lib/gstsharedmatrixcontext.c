/* gst-sharedmatrix: sharing a matrix through GstContext
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The context's format, once. The elements' side of the protocol (queries,
 * messages, answering) is plugin/elements/sharedmatrix-context.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsharedmatrixcontext.h"

/**
 * gst_shared_matrix_make_context:
 * @self: a #GstSharedMatrix
 * @name: (nullable): the matrix-name the context answers to: elements
 *   with this matrix-name take the matrix from it; %NULL for elements
 *   without a matrix-name
 *
 * Makes a persistent #GstContext of type #GST_SHARED_MATRIX_CONTEXT_TYPE
 * carrying @self. Set it on a pipeline (gst_element_set_context()) before
 * it starts, or answer an element's NEED_CONTEXT message with it, and the
 * `sharedmatrix` (and `matrixlookup`) elements that look for a matrix use
 * this one.
 *
 * Returns: (transfer full): the new context
 */
GstContext *
gst_shared_matrix_make_context (GstSharedMatrix * self, const gchar * name)
{
  GstContext *context;
  GstStructure *s;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);

  context = gst_context_new (GST_SHARED_MATRIX_CONTEXT_TYPE, TRUE);
  s = gst_context_writable_structure (context);
  gst_structure_set (s, "matrix", GST_TYPE_SHARED_MATRIX, self,
      "name", G_TYPE_STRING, name, NULL);
  return context;
}

/**
 * gst_shared_matrix_context_get_matrix:
 * @context: a #GstContext
 * @matrix: (out) (transfer full) (optional): the matrix it carries
 * @name: (out) (transfer full) (optional) (nullable): the matrix-name it
 *   answers to, %NULL for none
 *
 * Reads a context made by gst_shared_matrix_make_context().
 *
 * Returns: %TRUE when @context is of type #GST_SHARED_MATRIX_CONTEXT_TYPE
 *   and carries a matrix; %FALSE (outputs untouched) otherwise
 */
gboolean
gst_shared_matrix_context_get_matrix (GstContext * context,
    GstSharedMatrix ** matrix, gchar ** name)
{
  const GstStructure *s;
  GstSharedMatrix *m = NULL;

  g_return_val_if_fail (GST_IS_CONTEXT (context), FALSE);

  if (g_strcmp0 (gst_context_get_context_type (context),
          GST_SHARED_MATRIX_CONTEXT_TYPE) != 0)
    return FALSE;
  s = gst_context_get_structure (context);
  if (!gst_structure_get (s, "matrix", GST_TYPE_SHARED_MATRIX, &m, NULL) ||
      m == NULL)
    return FALSE;
  if (matrix)
    *matrix = m;
  else
    gst_object_unref (m);
  if (name)
    *name = g_strdup (gst_structure_get_string (s, "name"));
  return TRUE;
}
