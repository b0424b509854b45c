/* gst-sharedmatrix: how the sharedmatrix element gets its matrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The application's matrix (matrix property), one a GstContext carries
 * (sharedmatrix-context.c), the one registered under matrix-name (in the
 * library's registry, where the application finds it too), or a new one:
 * restored from an existing checkpoint, loaded from location, or zeros.
 * Failures are posted as element errors here, naming what to change.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sharedmatrix-matrix.h"
#include "sharedmatrix-context.h"
#include "sharedmatrix-util.h"
#include "gstsharedmatrixregistry.h"

GST_DEBUG_CATEGORY_EXTERN (gst_shared_matrix_element_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_element_debug

void
sm_matrix_spec_copy (SmMatrixSpec * dest, const SmMatrixSpec * src)
{
  *dest = *src;
  dest->name = g_strdup (src->name);
  dest->location = g_strdup (src->location);
  dest->checkpoint_location = g_strdup (src->checkpoint_location);
}

void
sm_matrix_spec_clear (SmMatrixSpec * spec)
{
  g_clear_pointer (&spec->name, g_free);
  g_clear_pointer (&spec->location, g_free);
  g_clear_pointer (&spec->checkpoint_location, g_free);
}

/* The shape and dtype of the matrix the element will have, before it has
 * one (a caps query in READY): the matrix registered under the name, the
 * checkpoint or location file's header, or rows × cols × dtype; FALSE when
 * nothing says (then it could be anything). */
gboolean
sm_matrix_spec_predict_shape (const SmMatrixSpec * spec,
    GstSharedMatrixDType * dtype, guint64 * rows, guint * cols)
{
  const gchar *file = NULL;

  if (spec->name) {
    GstSharedMatrix *named = gst_shared_matrix_lookup (spec->name);

    if (named) {
      *dtype = gst_shared_matrix_get_dtype (named);
      *rows = gst_shared_matrix_get_rows (named);
      *cols = gst_shared_matrix_get_cols (named);
      gst_object_unref (named);
      return TRUE;
    }
  }
  if (spec->checkpoint_location &&
      g_file_test (spec->checkpoint_location, G_FILE_TEST_EXISTS))
    file = spec->checkpoint_location;
  else if (spec->location)
    file = spec->location;
  if (file)
    return gst_shared_matrix_npy_get_shape (file, rows, cols, dtype, NULL);
  if (spec->rows == 0 || spec->cols == 0)
    return FALSE;
  *dtype = spec->dtype;
  *rows = spec->rows;
  *cols = spec->cols;
  return TRUE;
}

/* TRUE when @matrix has the shape @spec asks for (0 = any). */
static gboolean
shape_matches (const SmMatrixSpec * spec, GstSharedMatrix * matrix)
{
  return (spec->rows == 0 || spec->rows == gst_shared_matrix_get_rows (matrix))
      && (spec->cols == 0 || spec->cols == gst_shared_matrix_get_cols (matrix));
}

/* A matrix restored from an existing checkpoint, or NULL (with an error
 * posted when the file exists but cannot be restored: starting afresh would
 * silently lose the model). */
static GstSharedMatrix *
restore_checkpoint (GstElement * element, const SmMatrixSpec * spec,
    guint64 * last_offset)
{
  const gchar *path = spec->checkpoint_location;
  GstSharedMatrix *matrix;
  GError *err = NULL;

  matrix = gst_shared_matrix_new_from_checkpoint (path, spec->backend,
      spec->device_id, last_offset, &err);
  if (matrix == NULL)
    goto restore_failed;
  if (!shape_matches (spec, matrix))
    goto wrong_shape;
  GST_INFO_OBJECT (element, "restored checkpoint %s: version %"
      G_GUINT64_FORMAT ", last offset %" G_GUINT64_FORMAT, path,
      gst_shared_matrix_get_version (matrix), *last_offset);
  return matrix;

  /* ERRORS */
restore_failed:
  {
    SM_ELEMENT_ERROR_FROM_GERROR_HINT (element, RESOURCE, OPEN_READ, err,
        "move the file away to start from scratch",
        "Cannot restore the checkpoint '%s'", path);
    g_clear_error (&err);
    return NULL;
  }
wrong_shape:
  {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("The checkpoint '%s' holds a %" G_GUINT64_FORMAT " x %u matrix but "
            "the element was set to rows=%" G_GUINT64_FORMAT " cols=%u", path,
            gst_shared_matrix_get_rows (matrix),
            gst_shared_matrix_get_cols (matrix), spec->rows, spec->cols),
        (NULL));
    gst_object_unref (matrix);
    return NULL;
  }
}

static GstSharedMatrix *
load_location (GstElement * element, const SmMatrixSpec * spec)
{
  GstSharedMatrix *matrix;
  GError *err = NULL;

  matrix = gst_shared_matrix_new_from_npy_full (spec->location, spec->backend,
      spec->device_id, &err);
  if (matrix == NULL)
    goto load_failed;
  if (!shape_matches (spec, matrix))
    goto wrong_shape;
  return matrix;

  /* ERRORS */
load_failed:
  {
    SM_ELEMENT_ERROR_FROM_GERROR (element, RESOURCE, OPEN_READ, err,
        "Cannot initialise the matrix from location");
    g_clear_error (&err);
    return NULL;
  }
wrong_shape:
  {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("The file '%s' holds a %" G_GUINT64_FORMAT " x %u matrix but the "
            "element was set to rows=%" G_GUINT64_FORMAT " cols=%u "
            "(leave rows and cols at 0 to take the file's shape)",
            spec->location, gst_shared_matrix_get_rows (matrix),
            gst_shared_matrix_get_cols (matrix), spec->rows, spec->cols),
        (NULL));
    gst_object_unref (matrix);
    return NULL;
  }
}

typedef struct
{
  GstElement *element;
  const SmMatrixSpec *spec;
  gboolean created;
  guint64 last_offset;
} CreateContext;

/* A new matrix as @spec says, or NULL with an error posted. Sets the
 * context's last_offset: the restored one, or none for a new matrix (it
 * holds no producer's updates yet). */
static GstSharedMatrix *
create_matrix (CreateContext * ctx)
{
  const SmMatrixSpec *spec = ctx->spec;
  GstSharedMatrix *matrix;
  GError *err = NULL;

  ctx->created = TRUE;
  ctx->last_offset = GST_BUFFER_OFFSET_NONE;
  if (spec->checkpoint_location &&
      g_file_test (spec->checkpoint_location, G_FILE_TEST_EXISTS))
    return restore_checkpoint (ctx->element, spec, &ctx->last_offset);
  if (spec->location)
    return load_location (ctx->element, spec);
  if (spec->rows == 0 || spec->cols == 0)
    goto no_shape;

  matrix = gst_shared_matrix_new_full (spec->rows, spec->cols, spec->dtype,
      spec->backend, spec->device_id, &err);
  if (matrix == NULL)
    goto create_failed;
  return matrix;

  /* ERRORS */
no_shape:
  {
    GST_ELEMENT_ERROR (ctx->element, RESOURCE, SETTINGS,
        ("No matrix to work on: set rows and cols (now rows=%" G_GUINT64_FORMAT
            ", cols=%u), a location to load from, the matrix property, or the "
            "matrix-name of an existing matrix", spec->rows, spec->cols),
        (NULL));
    return NULL;
  }
create_failed:
  {
    SM_ELEMENT_ERROR_FROM_GERROR (ctx->element, RESOURCE, SETTINGS, err, NULL);
    g_clear_error (&err);
    return NULL;
  }
}

/* GstSharedMatrixCreateFunc: errors are posted, not returned */
static GstSharedMatrix *
create_named (gpointer user_data, GError ** error)
{
  return create_matrix (user_data);
}

/* Whether the element looks for a matrix in a GstContext: when it has a
 * matrix-name (contexts of that name), or nothing to create one from. An
 * unnamed element that defines its own matrix (shape, location,
 * checkpoint) keeps creating its own, so two of them in one pipeline stay
 * two matrices, as before contexts. */
static gboolean
wants_context (const SmMatrixSpec * spec)
{
  return spec->name != NULL || (spec->rows == 0 && spec->cols == 0 &&
      spec->location == NULL && spec->checkpoint_location == NULL);
}

/* The matrix the element is to use, or NULL with an error posted:
 * - with no @current (the application's or the one from the last start)
 *   and wants_context (): the matrix of a context for its name, which must
 *   have the shape @spec asks for;
 * - with a matrix-name: the live matrix of that name (which must then be
 *   @current when there is one, and have the shape @spec asks for), else
 *   @current or a new matrix, registered under the name;
 * - else a new matrix.
 * *@created: whether it is new, in which case *@last_offset is the OFFSET
 * it holds updates through (restored from a checkpoint, or
 * GST_BUFFER_OFFSET_NONE). */
GstSharedMatrix *
sm_matrix_obtain (GstElement * element, const SmMatrixSpec * spec,
    GstSharedMatrix * current, gboolean * created, guint64 * last_offset)
{
  CreateContext ctx = { element, spec, FALSE, GST_BUFFER_OFFSET_NONE };
  GstSharedMatrix *matrix;
  GError *err = NULL;

  if (current == NULL && wants_context (spec) &&
      (matrix = sm_context_find (element, spec->name))) {
    if (!shape_matches (spec, matrix))
      goto wrong_context_shape;
  } else if (spec->name == NULL) {
    matrix = create_matrix (&ctx);
  } else if (current) {
    if (!gst_shared_matrix_register (current, spec->name, &err))
      goto name_taken;
    matrix = gst_object_ref (current);
  } else {
    matrix = gst_shared_matrix_obtain_named (spec->name, create_named, &ctx,
        NULL);
    if (matrix && !ctx.created && !shape_matches (spec, matrix))
      goto wrong_shape;
  }

  *created = ctx.created && matrix != NULL;
  *last_offset = ctx.last_offset;
  return matrix;

  /* ERRORS */
name_taken:
  {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("matrix-name '%s' already names another matrix than the one set "
            "in the matrix property", spec->name), ("%s", err->message));
    g_clear_error (&err);
    return NULL;
  }
wrong_context_shape:
  {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("The pipeline's matrix context (name '%s') holds a %" G_GUINT64_FORMAT
            " x %u matrix, but this element was set to rows=%" G_GUINT64_FORMAT
            " cols=%u (leave them at 0 to take the shared shape)",
            GST_STR_NULL (spec->name), gst_shared_matrix_get_rows (matrix),
            gst_shared_matrix_get_cols (matrix), spec->rows, spec->cols),
        (NULL));
    gst_object_unref (matrix);
    return NULL;
  }
wrong_shape:
  {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("matrix-name '%s' names an existing %" G_GUINT64_FORMAT " x %u "
            "matrix, but this element was set to rows=%" G_GUINT64_FORMAT
            " cols=%u (leave them at 0 to take the shared shape)", spec->name,
            gst_shared_matrix_get_rows (matrix),
            gst_shared_matrix_get_cols (matrix), spec->rows, spec->cols),
        (NULL));
    gst_object_unref (matrix);
    return NULL;
  }
}
