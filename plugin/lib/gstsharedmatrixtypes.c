/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstsharedmatrixtypes.h"
#include "sharedmatrix-ops.h"

/* The kernel header mirrors these enums with plain ints. */
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_DTYPE_FLOAT32 == SM_DTYPE_FLOAT32);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_DTYPE_FLOAT64 == SM_DTYPE_FLOAT64);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_DTYPE_FLOAT16 == SM_DTYPE_FLOAT16);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_DTYPE_BFLOAT16 == SM_DTYPE_BFLOAT16);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OP_SET == SM_OP_SET);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OP_ADD == SM_OP_ADD);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OP_SUB == SM_OP_SUB);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OP_MUL == SM_OP_MUL);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OP_MIN == SM_OP_MIN);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OP_MAX == SM_OP_MAX);

/**
 * gst_shared_matrix_error_quark:
 *
 * The error domain of the shared matrix library, #GST_SHARED_MATRIX_ERROR;
 * its codes are #GstSharedMatrixError.
 *
 * Returns: the quark of the "gst-shared-matrix-error-quark" domain
 */
G_DEFINE_QUARK (gst-shared-matrix-error-quark, gst_shared_matrix_error);

static const gchar *
enum_nick (GType type, gint value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const gchar *nick = v ? v->value_nick : NULL;

  /* enum classes are static: the nick outlives the reference */
  g_type_class_unref (klass);
  return nick;
}

static gboolean
enum_from_nick (GType type, const gchar * str, gint * value)
{
  GEnumClass *klass;
  GEnumValue *v;

  if (str == NULL)
    return FALSE;
  klass = g_type_class_ref (type);
  v = g_enum_get_value_by_nick (klass, str);
  if (v)
    *value = v->value;
  g_type_class_unref (klass);
  return v != NULL;
}

/**
 * gst_shared_matrix_dtype_size:
 * @dtype: a dtype
 *
 * Gets the size of one value of @dtype: 4, 8, 2 and 2 bytes for float32,
 * float64, float16 and bfloat16.
 *
 * Returns: the size of one element in bytes, 0 for an unknown dtype
 */
guint
gst_shared_matrix_dtype_size (GstSharedMatrixDType dtype)
{
  if ((guint) dtype > GST_SHARED_MATRIX_DTYPE_BFLOAT16)
    return 0;
  return sm_dtype_size (dtype);
}

/**
 * gst_shared_matrix_dtype_to_string:
 * @dtype: a dtype
 *
 * Gets the name of @dtype used in caps and as the enum nick.
 *
 * Returns: (nullable): the dtype's name as used in caps ("float32", …)
 */
const gchar *
gst_shared_matrix_dtype_to_string (GstSharedMatrixDType dtype)
{
  return enum_nick (GST_TYPE_SHARED_MATRIX_DTYPE, dtype);
}

/**
 * gst_shared_matrix_dtype_from_string:
 * @str: (nullable): a dtype name as used in caps
 * @dtype: (out): the dtype
 *
 * Parses a dtype name as used in caps ("float32", "float64", "float16",
 * "bfloat16").
 *
 * Returns: %TRUE when @str names a dtype
 */
gboolean
gst_shared_matrix_dtype_from_string (const gchar * str,
    GstSharedMatrixDType * dtype)
{
  gint v;

  if (!enum_from_nick (GST_TYPE_SHARED_MATRIX_DTYPE, str, &v))
    return FALSE;
  *dtype = v;
  return TRUE;
}

/**
 * gst_shared_matrix_index_type_size:
 * @index_type: an index type
 *
 * Gets the size of one row index of @index_type: 4 or 8 bytes.
 *
 * Returns: the size of one index in bytes, 0 for an unknown type
 */
guint
gst_shared_matrix_index_type_size (GstSharedMatrixIndexType index_type)
{
  switch (index_type) {
    case GST_SHARED_MATRIX_INDEX_TYPE_INT32:
      return 4;
    case GST_SHARED_MATRIX_INDEX_TYPE_INT64:
      return 8;
  }
  return 0;
}

/**
 * gst_shared_matrix_index_type_to_string:
 * @index_type: an index type
 *
 * Gets the name of @index_type used in caps and as the enum nick.
 *
 * Returns: (nullable): the index type's name as used in caps ("int32", "int64")
 */
const gchar *
gst_shared_matrix_index_type_to_string (GstSharedMatrixIndexType index_type)
{
  return enum_nick (GST_TYPE_SHARED_MATRIX_INDEX_TYPE, index_type);
}

/**
 * gst_shared_matrix_index_type_from_string:
 * @str: (nullable): an index type name as used in caps
 * @index_type: (out): the index type
 *
 * Parses an index type name as used in caps ("int32", "int64").
 *
 * Returns: %TRUE when @str names an index type
 */
gboolean
gst_shared_matrix_index_type_from_string (const gchar * str,
    GstSharedMatrixIndexType * index_type)
{
  gint v;

  if (!enum_from_nick (GST_TYPE_SHARED_MATRIX_INDEX_TYPE, str, &v))
    return FALSE;
  *index_type = v;
  return TRUE;
}

/**
 * gst_shared_matrix_backend_to_string:
 * @backend: a backend
 *
 * Gets the name of @backend, as used by the elements' `backend` and
 * `active-backend` properties and in `sharedmatrix-stats` messages.
 *
 * Returns: (nullable): the backend's name ("auto", "cpu", "cuda")
 */
const gchar *
gst_shared_matrix_backend_to_string (GstSharedMatrixBackend backend)
{
  return enum_nick (GST_TYPE_SHARED_MATRIX_BACKEND, backend);
}
