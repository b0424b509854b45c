/* gst-sharedmatrix: process-wide matrix names
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:gstsharedmatrixregistry
 * @title: Matrix names
 *
 * A process-wide table from names to matrices: the `sharedmatrix` elements
 * with the same `matrix-name`, in any pipeline of the process, share one
 * matrix through it, and an application (or Python) finds that matrix with
 * gst_shared_matrix_lookup().
 *
 * The table holds weak references: the users of a matrix own it, and when
 * the last one drops it the name is free again.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsharedmatrixregistry.h"

/* name -> GWeakRef to a matrix; both under registry_lock */
static GMutex registry_lock;
static GHashTable *registry;

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* A new reference to the live matrix named @name, or NULL. */
static GstSharedMatrix *
lookup_locked (const gchar * name)
{
  GWeakRef *ref;

  if (registry == NULL)
    registry = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
        weak_ref_free);
  ref = g_hash_table_lookup (registry, name);
  return ref ? g_weak_ref_get (ref) : NULL;
}

static void
insert_locked (const gchar * name, GstSharedMatrix * matrix)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  g_weak_ref_init (ref, matrix);
  g_hash_table_replace (registry, g_strdup (name), ref);
}

/**
 * gst_shared_matrix_lookup:
 * @name: a matrix name (an element's `matrix-name`)
 *
 * Finds the live matrix registered under @name.
 *
 * Returns: (transfer full) (nullable): the matrix, %NULL when no live
 *   matrix has that name
 */
GstSharedMatrix *
gst_shared_matrix_lookup (const gchar * name)
{
  GstSharedMatrix *matrix;

  g_return_val_if_fail (name != NULL, NULL);

  g_mutex_lock (&registry_lock);
  matrix = lookup_locked (name);
  g_mutex_unlock (&registry_lock);
  return matrix;
}

/**
 * gst_shared_matrix_register:
 * @self: a #GstSharedMatrix
 * @name: the name to give it
 *
 * Registers @self under @name, so that gst_shared_matrix_lookup() and the
 * elements with that `matrix-name` find it. The registry does not keep
 * @self alive. Registering a matrix under the name it already has does
 * nothing.
 *
 * Returns: %TRUE when @name now names @self; %FALSE with
 *   %GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT when another live matrix has
 *   that name
 */
gboolean
gst_shared_matrix_register (GstSharedMatrix * self, const gchar * name,
    GError ** error)
{
  GstSharedMatrix *other;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  g_mutex_lock (&registry_lock);
  other = lookup_locked (name);
  if (other == NULL)
    insert_locked (name, self);
  g_mutex_unlock (&registry_lock);

  if (other && other != self)
    goto name_taken;
  gst_clear_object (&other);
  return TRUE;

  /* ERRORS */
name_taken:
  {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "The name '%s' already names another %" G_GUINT64_FORMAT " x %u "
        "matrix", name, gst_shared_matrix_get_rows (other),
        gst_shared_matrix_get_cols (other));
    gst_object_unref (other);
    return FALSE;
  }
}

/**
 * gst_shared_matrix_obtain_named:
 * @name: a matrix name
 * @create: (scope call) (closure user_data): makes the matrix when @name
 *   names none yet
 * @user_data: data for @create
 * @error: return location for a #GError
 *
 * Gets the live matrix named @name, or creates it with @create and
 * registers it, atomically: two callers racing on one name get one matrix.
 *
 * Returns: (transfer full) (nullable): the matrix, %NULL when @create
 *   returned %NULL (with @error as @create set it)
 */
GstSharedMatrix *
gst_shared_matrix_obtain_named (const gchar * name,
    GstSharedMatrixCreateFunc create, gpointer user_data, GError ** error)
{
  GstSharedMatrix *matrix;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (create != NULL, NULL);

  /* held while creating, so two callers starting at once agree */
  g_mutex_lock (&registry_lock);
  matrix = lookup_locked (name);
  if (matrix == NULL) {
    matrix = create (user_data, error);
    if (matrix)
      insert_locked (name, matrix);
  }
  g_mutex_unlock (&registry_lock);
  return matrix;
}
