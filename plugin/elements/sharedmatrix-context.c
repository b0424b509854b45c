/* gst-sharedmatrix: finding and offering a matrix through GstContext
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GStreamer's way of sharing a resource between the elements of a pipeline
 * and the application (as gst-plugins-bad's CUDA library does for its
 * device context, gstcudautils.c): an element that needs a matrix
 * 1. uses a context already set on it (by the application on the pipeline,
 *    or by its bin),
 * 2. else sends a NEED_CONTEXT query downstream, then upstream,
 * 3. else posts a NEED_CONTEXT message, which a bin holding such a context
 *    or the application (a sync bus handler) answers with set_context;
 * and an element that has a matrix sets the context on itself, posts
 * HAVE_CONTEXT (bins keep it for later askers) and answers the queries.
 * A context is taken only when its name equals the element's matrix-name
 * (both unset counts as equal), so differently named matrices of one
 * pipeline stay apart. Used by sharedmatrix (sharedmatrix-matrix.c) and
 * meant for every element that reads a shared matrix (matrixlookup: one
 * call to sm_context_find () and one to sm_context_answer_query ()).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sharedmatrix-context.h"

GST_DEBUG_CATEGORY_EXTERN (gst_shared_matrix_element_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_element_debug

/* The context's matrix when it is one for @name, else NULL. */
static GstSharedMatrix *
matrix_for_name (GstContext * context, const gchar * name)
{
  GstSharedMatrix *matrix = NULL;
  gchar *ctx_name = NULL;

  if (context == NULL ||
      !gst_shared_matrix_context_get_matrix (context, &matrix, &ctx_name))
    return NULL;
  if (g_strcmp0 (ctx_name, name) != 0)
    gst_clear_object (&matrix);
  g_free (ctx_name);
  return matrix;
}

static gboolean
pad_query (const GValue * item, GValue * found, gpointer user_data)
{
  GstPad *pad = g_value_get_object (item);
  GstQuery *query = user_data;

  if (gst_pad_peer_query (pad, query)) {
    g_value_set_boolean (found, TRUE);
    return FALSE;               /* stop */
  }
  return TRUE;
}

/* A context answered by the peers of @element's pads of @direction. */
static GstContext *
query_peers (GstElement * element, GstPadDirection direction)
{
  GstQuery *query = gst_query_new_context (GST_SHARED_MATRIX_CONTEXT_TYPE);
  GValue found = G_VALUE_INIT;
  GstContext *context = NULL;
  GstIterator *it;

  it = direction == GST_PAD_SRC ? gst_element_iterate_src_pads (element) :
      gst_element_iterate_sink_pads (element);
  g_value_init (&found, G_TYPE_BOOLEAN);
  while (gst_iterator_fold (it, pad_query, &found, query) ==
      GST_ITERATOR_RESYNC)
    gst_iterator_resync (it);
  gst_iterator_free (it);
  if (g_value_get_boolean (&found)) {
    gst_query_parse_context (query, &context);
    if (context)
      gst_context_ref (context);
  }
  gst_query_unref (query);
  return context;
}

/* The matrix a context for @name carries: one set on @element already,
 * else from its neighbours' answers downstream then upstream, else from a
 * NEED_CONTEXT message's answer. NULL when nobody has one. */
GstSharedMatrix *
sm_context_find (GstElement * element, const gchar * name)
{
  const GstPadDirection directions[] = { GST_PAD_SRC, GST_PAD_SINK };
  GstSharedMatrix *matrix;
  GstContext *context;
  guint i;

  context = gst_element_get_context (element, GST_SHARED_MATRIX_CONTEXT_TYPE);
  matrix = matrix_for_name (context, name);
  g_clear_pointer (&context, gst_context_unref);
  if (matrix)
    goto found;

  for (i = 0; i < G_N_ELEMENTS (directions); i++) {
    context = query_peers (element, directions[i]);
    matrix = matrix_for_name (context, name);
    if (matrix) {
      gst_element_set_context (element, context);
      gst_context_unref (context);
      goto found;
    }
    g_clear_pointer (&context, gst_context_unref);
  }

  /* a bin holding a context of the type, or the application's sync bus
   * handler, answers with gst_element_set_context () before this returns */
  gst_element_post_message (element,
      gst_message_new_need_context (GST_OBJECT (element),
          GST_SHARED_MATRIX_CONTEXT_TYPE));
  context = gst_element_get_context (element, GST_SHARED_MATRIX_CONTEXT_TYPE);
  matrix = matrix_for_name (context, name);
  g_clear_pointer (&context, gst_context_unref);
  if (matrix)
    goto found;
  GST_DEBUG_OBJECT (element, "no context carries a matrix named '%s'",
      GST_STR_NULL (name));
  return NULL;

found:
  GST_INFO_OBJECT (element, "using the matrix of a context (name '%s')",
      GST_STR_NULL (name));
  return matrix;
}

/* Offers @matrix under @name: set on @element (which then answers context
 * queries) and posted as HAVE_CONTEXT, unless @element holds it already. */
void
sm_context_publish (GstElement * element, GstSharedMatrix * matrix,
    const gchar * name)
{
  GstContext *context;
  GstSharedMatrix *current;

  context = gst_element_get_context (element, GST_SHARED_MATRIX_CONTEXT_TYPE);
  current = matrix_for_name (context, name);
  g_clear_pointer (&context, gst_context_unref);
  if (current == matrix) {
    gst_object_unref (current);
    return;
  }
  gst_clear_object (&current);

  context = gst_shared_matrix_make_context (matrix, name);
  gst_element_set_context (element, context);
  gst_element_post_message (element,
      gst_message_new_have_context (GST_OBJECT (element), context));
}

/* Answers a CONTEXT query for a matrix with the context @element holds.
 * FALSE when the query is of another type or there is none (the caller
 * then handles the query as it would otherwise). */
gboolean
sm_context_answer_query (GstElement * element, GstQuery * query)
{
  const gchar *type;
  GstContext *context;

  if (GST_QUERY_TYPE (query) != GST_QUERY_CONTEXT ||
      !gst_query_parse_context_type (query, &type) ||
      g_strcmp0 (type, GST_SHARED_MATRIX_CONTEXT_TYPE) != 0)
    return FALSE;
  context = gst_element_get_context (element, GST_SHARED_MATRIX_CONTEXT_TYPE);
  if (context == NULL)
    return FALSE;
  gst_query_set_context (query, context);
  gst_context_unref (context);
  return TRUE;
}
