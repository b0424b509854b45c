/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:gstsharedmatrix
 * @title: GstSharedMatrix
 * @short_description: a parameter matrix updated in place by sparse row updates
 *
 * A #GstSharedMatrix holds a rows × cols matrix of one dtype in the memory of
 * a backend (host memory, or a GPU's) and applies scatter updates to it in
 * place: an update names N rows and carries one delta row for each, combined
 * with the matrix rows by an op (#GstSharedMatrixOp).
 *
 * The object is thread-safe: any number of elements and application threads
 * may update and read one matrix. Each update is atomic with respect to
 * readers (gst_shared_matrix_get_value(), gst_shared_matrix_gather_bytes(),
 * snapshots), and every applied update increments the matrix version.
 * Input is validated before any row is written: a rejected update leaves the
 * matrix unchanged.
 */
#include <string.h>

#include "gstsharedmatrix.h"
#include "gstsharedmatrix-private.h"
#ifdef G_OS_UNIX
#include <dlfcn.h>              /* load_own_typelib () */
#endif
#include "backend.h"
#include "checkpoint.h"
#include "file-io.h"
#include "npy.h"
#include "row-tracking.h"
#include "sharedmatrix-ops.h"

GST_DEBUG_CATEGORY_STATIC (gst_shared_matrix_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_debug

struct _GstSharedMatrix
{
  GstObject parent;

  /* immutable after construction */
  SmShape shape;
  const SmBackendOps *ops;
  gpointer storage;

  /* serialises all access to the storage: one update or read at a time */
  GMutex data_lock;
  /* written with data_lock and the object lock held; read with either */
  guint64 version;
  /* the optimizer and its state (optimizer.c), under data_lock */
  gpointer optimizer;
  /* under data_lock: the version that last wrote each row (deltas) */
  SmRowTracking tracking;
  /* under data_lock: update_many's runs of small updates, one after the
   * other (grown, never shrunk) */
  guint8 *run;
  gsize run_size;
};

enum
{
  PROP_0,
  PROP_ROWS,
  PROP_COLS,
  PROP_DTYPE,
  PROP_BACKEND,
  PROP_VERSION,
};

G_DEFINE_TYPE_WITH_CODE (GstSharedMatrix, gst_shared_matrix, GST_TYPE_OBJECT,
    GST_DEBUG_CATEGORY_INIT (gst_shared_matrix_debug, "sharedmatrixlib", 0,
        "Shared matrix library"));

static gpointer
copy_struct_policies (gpointer p)
{
  return g_memdup2 (p, sizeof (GstSharedMatrixPolicies));
}

static gpointer
copy_struct_result (gpointer p)
{
  return g_memdup2 (p, sizeof (GstSharedMatrixUpdateResult));
}

/* plain structs, boxed so that bindings can allocate them */
G_DEFINE_BOXED_TYPE (GstSharedMatrixPolicies, gst_shared_matrix_policies,
    copy_struct_policies, g_free);
G_DEFINE_BOXED_TYPE (GstSharedMatrixUpdateResult,
    gst_shared_matrix_update_result, copy_struct_result, g_free);

static void
gst_shared_matrix_finalize (GObject * object)
{
  GstSharedMatrix *self = GST_SHARED_MATRIX (object);

  sm_optimizer_free (self);
  if (self->storage)
    self->ops->destroy (self->storage);
  sm_row_tracking_clear (&self->tracking);
  g_free (self->run);
  g_mutex_clear (&self->data_lock);

  G_OBJECT_CLASS (gst_shared_matrix_parent_class)->finalize (object);
}

static void
gst_shared_matrix_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSharedMatrix *self = GST_SHARED_MATRIX (object);

  switch (prop_id) {
    case PROP_ROWS:
      g_value_set_uint64 (value, self->shape.rows);
      break;
    case PROP_COLS:
      g_value_set_uint (value, self->shape.cols);
      break;
    case PROP_DTYPE:
      g_value_set_enum (value, self->shape.dtype);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, gst_shared_matrix_get_backend (self));
      break;
    case PROP_VERSION:
      g_value_set_uint64 (value, gst_shared_matrix_get_version (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* PyGObject wraps an object of a GType it has no class for in a bare
 * `__gi__.GstSharedMatrix` class (no methods of ours), and keeps that class
 * for the type and for the instance for good, unless the GType's typelib is
 * already loaded then: it looks the GType up in the typelibs loaded so far
 * only (g_irepository_find_by_gtype ()). A matrix an element creates may be
 * wrapped before the application imports GstSharedMatrix (reading the
 * element's matrix property first), so when the process uses introspection
 * (libgirepository is loaded: Python, GJS) the class loads its typelib
 * itself; PyGObject then finds it and imports gi.repository.GstSharedMatrix
 * (and its overrides) on first sight. No link dependency on libgirepository:
 * it is looked up only if already loaded (RTLD_NOLOAD). */
static void
load_own_typelib (void)
{
#if defined(G_OS_UNIX) && defined(RTLD_NOLOAD)
  typedef gpointer (*RequireFunc) (gpointer repository, const gchar * ns,
      const gchar * version, guint flags, GError ** error);
  gpointer handle;
  RequireFunc require;

  handle = dlopen ("libgirepository-1.0.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (handle == NULL)
    return;
  require = (RequireFunc) dlsym (handle, "g_irepository_require");
  /* not found (not on GI_TYPELIB_PATH): the import will say so */
  if (require && !require (NULL, "GstSharedMatrix", "1.0", 0, NULL))
    GST_DEBUG ("GstSharedMatrix-1.0 typelib not found");
  dlclose (handle);
#endif
}

static void
gst_shared_matrix_class_init (GstSharedMatrixClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  load_own_typelib ();

  gobject_class->finalize = gst_shared_matrix_finalize;
  gobject_class->get_property = gst_shared_matrix_get_property;

  /**
   * GstSharedMatrix:rows:
   *
   * Number of rows.
   */
  g_object_class_install_property (gobject_class, PROP_ROWS,
      g_param_spec_uint64 ("rows", "Rows", "Number of rows", 0, G_MAXUINT64,
          0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSharedMatrix:cols:
   *
   * Number of columns (the length of one row).
   */
  g_object_class_install_property (gobject_class, PROP_COLS,
      g_param_spec_uint ("cols", "Columns", "Number of columns", 0, G_MAXINT,
          0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSharedMatrix:dtype:
   *
   * Storage element type.
   */
  g_object_class_install_property (gobject_class, PROP_DTYPE,
      g_param_spec_enum ("dtype", "DType", "Storage element type",
          GST_TYPE_SHARED_MATRIX_DTYPE, GST_SHARED_MATRIX_DTYPE_FLOAT32,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSharedMatrix:backend:
   *
   * The backend actually holding the matrix (never auto).
   */
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_enum ("backend", "Backend",
          "Backend actually holding the matrix", GST_TYPE_SHARED_MATRIX_BACKEND,
          GST_SHARED_MATRIX_BACKEND_CPU,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSharedMatrix:version:
   *
   * Incremented by one by every applied update and by
   * gst_shared_matrix_set_value().
   */
  g_object_class_install_property (gobject_class, PROP_VERSION,
      g_param_spec_uint64 ("version", "Version",
          "Number of updates applied since creation", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
}

static void
gst_shared_matrix_init (GstSharedMatrix * self)
{
  g_mutex_init (&self->data_lock);
}

/* auto: CUDA when a device is usable, else CPU. cuda: CUDA or an error that
 * says why not. The CUDA probe runs here, lazily (once per process), never
 * at plugin load. */
static const SmBackendOps *
select_backend (GstSharedMatrixBackend backend, GError ** error)
{
  const SmBackendOps *ops;
  GError *why = NULL;

  switch (backend) {
    case GST_SHARED_MATRIX_BACKEND_AUTO:
      if ((ops = sm_backend_cuda_get (&why)))
        return ops;
      GST_INFO ("backend auto: using the CPU backend because the CUDA "
          "backend is not usable: %s", why->message);
      g_clear_error (&why);
      return &sm_backend_cpu;
    case GST_SHARED_MATRIX_BACKEND_CPU:
      return &sm_backend_cpu;
    case GST_SHARED_MATRIX_BACKEND_CUDA:
      if ((ops = sm_backend_cuda_get (&why)))
        return ops;
      g_set_error (error, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_BACKEND,
          "The CUDA backend was requested but %s; use backend=auto or cpu",
          why->message);
      g_clear_error (&why);
      return NULL;
  }
  g_set_error (error, GST_SHARED_MATRIX_ERROR,
      GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
      "Unknown backend %d: allowed are auto, cpu and cuda", backend);
  return NULL;
}

static gboolean
check_dtype (GstSharedMatrixDType dtype, const gchar * what, GError ** error)
{
  if (gst_shared_matrix_dtype_size (dtype) != 0)
    return TRUE;
  g_set_error (error, GST_SHARED_MATRIX_ERROR,
      GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
      "Unknown %s dtype %d: allowed are float32, float64, float16 and "
      "bfloat16", what, dtype);
  return FALSE;
}

static gboolean
check_index_type (GstSharedMatrixIndexType index_type, GError ** error)
{
  if (gst_shared_matrix_index_type_size (index_type) != 0)
    return TRUE;
  g_set_error (error, GST_SHARED_MATRIX_ERROR,
      GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
      "Unknown index type %d: allowed are int32 and int64", index_type);
  return FALSE;
}

/**
 * gst_shared_matrix_new_full:
 * @rows: number of rows, at least 1
 * @cols: number of columns, 1 to G_MAXINT
 * @dtype: storage dtype
 * @backend: requested backend
 * @device_id: GPU to use for the CUDA backend, -1 for the default one
 * @error: return location for a #GError
 *
 * Creates a zero-filled matrix.
 *
 * Returns: (transfer full) (nullable): the matrix, or %NULL with @error set
 */
GstSharedMatrix *
gst_shared_matrix_new_full (guint64 rows, guint cols,
    GstSharedMatrixDType dtype, GstSharedMatrixBackend backend,
    gint device_id, GError ** error)
{
  SmShape shape;
  const SmBackendOps *ops;
  GstSharedMatrix *self;
  gpointer storage;

  /* registers the type and with it the debug category that select_backend ()
   * logs to: with GST_DEBUG set, logging to the still-NULL category before
   * the first matrix exists is a GLib critical */
  g_type_ensure (GST_TYPE_SHARED_MATRIX);

  if (!check_dtype (dtype, "matrix", error))
    return NULL;
  if (rows == 0 || cols == 0 || cols > G_MAXINT) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "Invalid matrix shape %" G_GUINT64_FORMAT " x %u: rows must be at "
        "least 1 and cols between 1 and %d", rows, cols, G_MAXINT);
    return NULL;
  }
  shape.rows = rows;
  shape.cols = cols;
  shape.dtype = dtype;
  shape.row_bytes = (gsize) cols * gst_shared_matrix_dtype_size (dtype);
  /* allocators take sizes as signed: half the address space is the limit */
  if (rows > G_MAXSSIZE / shape.row_bytes) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "A %" G_GUINT64_FORMAT " x %u %s matrix does not fit in the address "
        "space", rows, cols, gst_shared_matrix_dtype_to_string (dtype));
    return NULL;
  }

  ops = select_backend (backend, error);
  if (ops == NULL)
    return NULL;
  storage = ops->create (&shape, device_id, error);
  if (storage == NULL)
    return NULL;

  self = g_object_new (GST_TYPE_SHARED_MATRIX, NULL);
  gst_object_ref_sink (self);
  self->shape = shape;
  self->ops = ops;
  self->storage = storage;
  if (!sm_row_tracking_init (&self->tracking, rows, error)) {
    gst_object_unref (self);
    return NULL;
  }
  GST_INFO_OBJECT (self, "created %" G_GUINT64_FORMAT " x %u %s matrix on %s",
      rows, cols, gst_shared_matrix_dtype_to_string (dtype),
      gst_shared_matrix_backend_to_string (ops->kind));
  return self;
}

/**
 * gst_shared_matrix_new:
 * @rows: number of rows, at least 1
 * @cols: number of columns, 1 to G_MAXINT
 * @dtype: storage dtype
 * @backend: requested backend
 * @error: return location for a #GError
 *
 * Creates a zero-filled matrix on the default device.
 *
 * Returns: (transfer full) (nullable): the matrix, or %NULL with @error set
 */
GstSharedMatrix *
gst_shared_matrix_new (guint64 rows, guint cols, GstSharedMatrixDType dtype,
    GstSharedMatrixBackend backend, GError ** error)
{
  return gst_shared_matrix_new_full (rows, cols, dtype, backend, -1, error);
}

/* A matrix of the loaded array's shape and dtype holding its @data (as
 * sm_npy_load () returns it), or NULL with @error. */
static GstSharedMatrix *
new_holding (const SmNpyInfo * info, GBytes * data,
    GstSharedMatrixBackend backend, gint device_id, GError ** error)
{
  GstSharedMatrix *self = gst_shared_matrix_new_full (info->rows, info->cols,
      info->dtype, backend, device_id, error);

  if (self && !self->ops->write (self->storage, g_bytes_get_data (data, NULL),
          error))
    gst_clear_object (&self);
  return self;
}

/**
 * gst_shared_matrix_new_from_npy_full:
 * @path: (type filename): a `.npy` file holding a 2-D float32, float64,
 *   float16 or bfloat16 array
 * @backend: requested backend
 * @device_id: GPU to use for the CUDA backend, -1 for the default one
 * @error: return location for a #GError
 *
 * Creates a matrix with the shape, dtype and contents of a `.npy` file.
 *
 * Returns: (transfer full) (nullable): the matrix, or %NULL with @error set
 */
GstSharedMatrix *
gst_shared_matrix_new_from_npy_full (const gchar * path,
    GstSharedMatrixBackend backend, gint device_id, GError ** error)
{
  SmNpyInfo info;
  GstSharedMatrix *self;
  GBytes *data;

  g_return_val_if_fail (path != NULL, NULL);

  data = sm_npy_load (path, &info, error);
  if (data == NULL)
    return NULL;
  self = new_holding (&info, data, backend, device_id, error);
  g_bytes_unref (data);
  return self;
}

/**
 * gst_shared_matrix_new_from_npy:
 * @path: (type filename): a `.npy` file holding a 2-D float32, float64,
 *   float16 or bfloat16 array
 * @backend: requested backend
 * @error: return location for a #GError
 *
 * Creates a matrix with the shape, dtype and contents of a `.npy` file.
 *
 * Returns: (transfer full) (nullable): the matrix, or %NULL with @error set
 */
GstSharedMatrix *
gst_shared_matrix_new_from_npy (const gchar * path,
    GstSharedMatrixBackend backend, GError ** error)
{
  return gst_shared_matrix_new_from_npy_full (path, backend, -1, error);
}

/**
 * gst_shared_matrix_get_rows:
 * @self: a #GstSharedMatrix
 *
 * Gets the number of rows, fixed when the matrix was created.
 *
 * Returns: the number of rows
 */
guint64
gst_shared_matrix_get_rows (GstSharedMatrix * self)
{
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  return self->shape.rows;
}

/**
 * gst_shared_matrix_get_cols:
 * @self: a #GstSharedMatrix
 *
 * Gets the number of columns (the length of one row), fixed when the matrix
 * was created. Update buffers must carry delta rows of this length.
 *
 * Returns: the number of columns
 */
guint
gst_shared_matrix_get_cols (GstSharedMatrix * self)
{
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  return self->shape.cols;
}

/**
 * gst_shared_matrix_get_dtype:
 * @self: a #GstSharedMatrix
 *
 * Gets the storage dtype, fixed when the matrix was created. Update deltas
 * may have another dtype; they are converted when applied.
 *
 * Returns: the storage dtype
 */
GstSharedMatrixDType
gst_shared_matrix_get_dtype (GstSharedMatrix * self)
{
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  return self->shape.dtype;
}

/**
 * gst_shared_matrix_get_backend:
 * @self: a #GstSharedMatrix
 *
 * Gets the backend that holds the matrix and applies its updates: what
 * %GST_SHARED_MATRIX_BACKEND_AUTO resolved to when the matrix was created.
 *
 * Returns: the backend actually holding the matrix (never
 *   %GST_SHARED_MATRIX_BACKEND_AUTO)
 */
GstSharedMatrixBackend
gst_shared_matrix_get_backend (GstSharedMatrix * self)
{
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  return self->ops->kind;
}

/**
 * gst_shared_matrix_get_staging_allocator:
 * @self: a #GstSharedMatrix
 *
 * An allocator of host memory that the matrix's backend reads update data
 * from without staging it first: page-locked (pinned) memory for the CUDA
 * backend, memory type "SharedMatrixPinned". Update data (indices and
 * deltas) in memory from it is copied to the GPU straight from that memory;
 * gst_shared_matrix_update() returns once that copy is done, so the memory
 * can be refilled right away. Any data works with any backend: this only
 * saves a copy. The sharedmatrix element offers it upstream in the
 * ALLOCATION query.
 *
 * Pinned memory is a scarce system resource; allocate a few buffers and
 * reuse them (a #GstBufferPool does).
 *
 * Returns: (transfer full) (nullable): the allocator, or %NULL when the
 *   backend has none (the CPU backend)
 */
GstAllocator *
gst_shared_matrix_get_staging_allocator (GstSharedMatrix * self)
{
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);

  if (self->ops->staging_allocator == NULL)
    return NULL;
  return self->ops->staging_allocator (self->storage);
}

/**
 * gst_shared_matrix_get_version:
 * @self: a #GstSharedMatrix
 *
 * Gets the matrix version: 0 for a new matrix (or the version recorded in
 * the checkpoint it was restored from), incremented by one by every applied
 * update and every gst_shared_matrix_set_value(), whoever made them.
 *
 * Returns: the number of updates (and set_value calls) applied so far
 */
guint64
gst_shared_matrix_get_version (GstSharedMatrix * self)
{
  guint64 version;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  GST_OBJECT_LOCK (self);
  version = self->version;
  GST_OBJECT_UNLOCK (self);
  return version;
}

/* Called with data_lock held. */
static guint64
bump_version (GstSharedMatrix * self)
{
  guint64 version;

  GST_OBJECT_LOCK (self);
  version = ++self->version;
  GST_OBJECT_UNLOCK (self);
  return version;
}

static gsize
raw_size (GstSharedMatrix * self)
{
  return self->shape.rows * self->shape.row_bytes;
}

static gsize
npy_header_size (GstSharedMatrix * self)
{
  return sm_npy_header_size (self->shape.dtype,
      self->shape.rows, self->shape.cols);
}

/**
 * gst_shared_matrix_get_size:
 * @self: a #GstSharedMatrix
 * @format: the layout of the copy
 *
 * Gets the size of a whole-matrix copy: rows × cols × the dtype size for
 * %GST_SHARED_MATRIX_FORMAT_RAW, plus the `.npy` header for
 * %GST_SHARED_MATRIX_FORMAT_NPY.
 *
 * Returns: the size in bytes of a whole-matrix copy in @format
 */
gsize
gst_shared_matrix_get_size (GstSharedMatrix * self,
    GstSharedMatrixFormat format)
{
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  if (format == GST_SHARED_MATRIX_FORMAT_NPY)
    return npy_header_size (self) + raw_size (self);
  return raw_size (self);
}

/**
 * gst_shared_matrix_npy_get_shape:
 * @path: a `.npy` file
 * @rows: (out) (optional): its rows
 * @cols: (out) (optional): its columns
 * @dtype: (out) (optional): its dtype
 * @error: return location for a #GError
 *
 * Reads the shape and dtype of the matrix a `.npy` file holds from its
 * header alone (the file is checked as gst_shared_matrix_new_from_npy()
 * checks it, except that the data is not read), e.g. to answer a caps
 * query before the matrix is loaded.
 *
 * Returns: %TRUE on success; %FALSE with @error
 *   (%GST_SHARED_MATRIX_ERROR_FILE, %GST_SHARED_MATRIX_ERROR_NPY)
 */
gboolean
gst_shared_matrix_npy_get_shape (const gchar * path, guint64 * rows,
    guint * cols, GstSharedMatrixDType * dtype, GError ** error)
{
  SmNpyInfo info;

  g_return_val_if_fail (path != NULL, FALSE);

  if (!sm_npy_read_header (path, &info, error))
    return FALSE;
  if (rows)
    *rows = info.rows;
  if (cols)
    *cols = info.cols;
  if (dtype)
    *dtype = info.dtype;
  return TRUE;
}

/**
 * gst_shared_matrix_copy_to:
 * @self: a #GstSharedMatrix
 * @format: the layout of the copy
 * @dest: (type gpointer) (not nullable): where to write the copy; from
 *   bindings, the address of writable memory (in Python, a numpy array's
 *   `arr.ctypes.data`)
 * @dest_size: size of @dest, must be gst_shared_matrix_get_size() for @format
 * @version: (out) (optional): the matrix version the copy shows
 * @error: return location for a #GError
 *
 * Copies the whole matrix to host memory, consistently: the copy shows the
 * matrix between two updates, never part of one.
 *
 * This is the one-copy read: the matrix goes straight into memory the
 * caller owns (a snapshot buffer, a numpy array), where
 * gst_shared_matrix_get_value() allocates new memory for each copy (and
 * PyGObject copies that GBytes again into Python bytes). Python's
 * `SharedMatrix.numpy ()` override uses it.
 *
 * Returns: %TRUE on success; %FALSE with @error when @dest_size is wrong
 *   (%GST_SHARED_MATRIX_ERROR_SIZE) or the device failed to read the
 *   matrix (%GST_SHARED_MATRIX_ERROR_DEVICE), and then @dest holds no copy
 */
gboolean
gst_shared_matrix_copy_to (GstSharedMatrix * self,
    GstSharedMatrixFormat format, gpointer dest, gsize dest_size,
    guint64 * version, GError ** error)
{
  gsize header = 0;
  guint8 *out = dest;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (dest != NULL, FALSE);

  if (format == GST_SHARED_MATRIX_FORMAT_NPY)
    header = npy_header_size (self);
  if (dest_size != header + raw_size (self)) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "Destination of %" G_GSIZE_FORMAT " bytes cannot hold the matrix "
        "copy of %" G_GSIZE_FORMAT " bytes", dest_size,
        header + raw_size (self));
    return FALSE;
  }
  if (header)
    sm_npy_write_header (self->shape.dtype, self->shape.rows,
        self->shape.cols, out, header);

  g_mutex_lock (&self->data_lock);
  ok = self->ops->read (self->storage, out + header, error);
  if (ok && version)
    *version = self->version;
  g_mutex_unlock (&self->data_lock);
  return ok;
}

/**
 * gst_shared_matrix_get_value_full:
 * @self: a #GstSharedMatrix
 * @format: the layout of the copy
 * @error: return location for a #GError
 *
 * A consistent host copy of the whole matrix in @format: row-major data
 * (%GST_SHARED_MATRIX_FORMAT_RAW, gst_shared_matrix_get_value() that says
 * why there is no copy) or a complete `.npy` file
 * (%GST_SHARED_MATRIX_FORMAT_NPY: `numpy.load (io.BytesIO (data))`; a
 * bfloat16 matrix is stored as the structured dtype `[('bfloat16', '<u2')]`
 * holding the raw bits).
 *
 * Returns: (transfer full) (nullable): the data, or %NULL with @error set:
 *   %GST_SHARED_MATRIX_ERROR_NO_MEMORY when host memory for the copy cannot
 *   be allocated, %GST_SHARED_MATRIX_ERROR_DEVICE when the device failed to
 *   read the matrix
 */
GBytes *
gst_shared_matrix_get_value_full (GstSharedMatrix * self,
    GstSharedMatrixFormat format, GError ** error)
{
  gsize size;
  guint8 *data;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);

  size = gst_shared_matrix_get_size (self, format);
  data = g_try_malloc (size);
  if (data == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " bytes for a copy of the matrix",
        size);
    return NULL;
  }
  if (!gst_shared_matrix_copy_to (self, format, data, size, NULL, error)) {
    g_free (data);
    return NULL;
  }
  return g_bytes_new_take (data, size);
}

/**
 * gst_shared_matrix_get_value:
 * @self: a #GstSharedMatrix
 *
 * A consistent host copy of the whole matrix, row-major little-endian, like
 * Theano's `get_value`. From Python:
 * `numpy.frombuffer (m.get_value ().get_data (), dtype='<f4').reshape (rows, cols)`.
 *
 * Returns: (transfer full) (nullable): the data, %NULL when host memory for
 *   the copy cannot be allocated or the device failed to read the matrix
 *   (logged as a warning; gst_shared_matrix_get_value_full() returns the
 *   error)
 */
GBytes *
gst_shared_matrix_get_value (GstSharedMatrix * self)
{
  GError *err = NULL;
  GBytes *data;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);
  /* no error return here: the reason goes to the log */
  data = gst_shared_matrix_get_value_full (self, GST_SHARED_MATRIX_FORMAT_RAW,
      &err);
  if (data == NULL) {
    GST_WARNING_OBJECT (self, "no copy of the matrix: %s", err->message);
    g_error_free (err);
  }
  return data;
}

/**
 * gst_shared_matrix_set_value:
 * @self: a #GstSharedMatrix
 * @data: the whole matrix, row-major little-endian in the matrix dtype
 * @error: return location for a #GError
 *
 * Replaces the whole matrix, like Theano's `set_value`. Counts as one update
 * for the version.
 *
 * Returns: %TRUE on success; %FALSE with @error when @data has the wrong
 *   size (the matrix is unchanged) or the device failed
 *   (%GST_SHARED_MATRIX_ERROR_DEVICE: its message says whether the matrix
 *   can still be used); the version is incremented only on success
 */
gboolean
gst_shared_matrix_set_value (GstSharedMatrix * self, GBytes * data,
    GError ** error)
{
  gsize size;
  gconstpointer bytes;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);

  bytes = g_bytes_get_data (data, &size);
  if (size != raw_size (self)) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "set_value got %" G_GSIZE_FORMAT " bytes, a %" G_GUINT64_FORMAT
        " x %u %s matrix needs exactly %" G_GSIZE_FORMAT, size,
        self->shape.rows, self->shape.cols,
        gst_shared_matrix_dtype_to_string (self->shape.dtype),
        raw_size (self));
    return FALSE;
  }
  g_mutex_lock (&self->data_lock);
  ok = self->ops->write (self->storage, bytes, error);
  if (ok)
    sm_row_tracking_mark_all (&self->tracking, bump_version (self));
  g_mutex_unlock (&self->data_lock);
  return ok;
}

/* The sizes of one index and one delta value, after checking both types
 * (the update layouts' common step). */
static gboolean
update_item_sizes (GstSharedMatrix * self, GstSharedMatrixIndexType index_type,
    GstSharedMatrixDType delta_dtype, guint * isize, guint * dsize,
    GError ** error)
{
  if (!check_index_type (index_type, error) ||
      !check_dtype (delta_dtype, "delta", error))
    return FALSE;
  *isize = gst_shared_matrix_index_type_size (index_type);
  *dsize = gst_shared_matrix_dtype_size (delta_dtype);
  return TRUE;
}

/**
 * gst_shared_matrix_parse_update: (skip)
 * @self: a #GstSharedMatrix
 * @index_type: type of the indices in @data
 * @delta_dtype: dtype of the deltas in @data
 * @data: an update buffer: N indices immediately followed by N × cols deltas
 * @size: size of @data in bytes
 * @indices: (out): where the indices start
 * @deltas: (out): where the deltas start
 * @n: (out): N, the number of rows in the update
 * @error: return location for a #GError
 *
 * Splits an update buffer (the layout of `application/x-matrix-update`) for
 * gst_shared_matrix_update(). A size that is not a whole number of records
 * is an error (%GST_SHARED_MATRIX_ERROR_SIZE) naming both sizes.
 *
 * Returns: %TRUE on success
 */
gboolean
gst_shared_matrix_parse_update (GstSharedMatrix * self,
    GstSharedMatrixIndexType index_type, GstSharedMatrixDType delta_dtype,
    gconstpointer data, gsize size, gconstpointer * indices,
    gconstpointer * deltas, gsize * n, GError ** error)
{
  guint isize, dsize;
  gsize record;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  if (!update_item_sizes (self, index_type, delta_dtype, &isize, &dsize,
          error))
    return FALSE;
  record = isize + (gsize) self->shape.cols * dsize;
  if (size % record != 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "Update of %" G_GSIZE_FORMAT " bytes is not a whole number of %"
        G_GSIZE_FORMAT "-byte records (one %s index + %u %s deltas); "
        "%" G_GSIZE_FORMAT " bytes left over", size, record,
        gst_shared_matrix_index_type_to_string (index_type), self->shape.cols,
        gst_shared_matrix_dtype_to_string (delta_dtype), size % record);
    return FALSE;
  }
  *n = size / record;
  *indices = data;
  /* an empty buffer may map to NULL, and NULL + 0 is undefined in C */
  *deltas = *n ? (const guint8 *) data + *n * isize : data;
  return TRUE;
}

/**
 * gst_shared_matrix_parse_update_tensors: (skip)
 * @self: a #GstSharedMatrix
 * @index_type: type of the ids
 * @delta_dtype: dtype of the deltas
 * @ids_size: size of the ids tensor in bytes
 * @deltas_size: size of the deltas tensor in bytes
 * @n: (out): N, the number of rows in the update
 * @error: return location for a #GError
 *
 * Checks an update given as two tensors (NNStreamer's `other/tensors,
 * num_tensors=2`: N ids, then cols × N deltas in memory of their own) for
 * gst_shared_matrix_update(): the ids must be a whole number of indices and
 * the deltas exactly N rows of the matrix's cols. Otherwise an error
 * (%GST_SHARED_MATRIX_ERROR_SIZE) names the sizes.
 *
 * Returns: %TRUE on success
 */
gboolean
gst_shared_matrix_parse_update_tensors (GstSharedMatrix * self,
    GstSharedMatrixIndexType index_type, GstSharedMatrixDType delta_dtype,
    gsize ids_size, gsize deltas_size, gsize * n, GError ** error)
{
  guint isize, dsize;
  gsize row;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  if (!update_item_sizes (self, index_type, delta_dtype, &isize, &dsize,
          error))
    return FALSE;
  row = (gsize) self->shape.cols * dsize;
  if (ids_size % isize != 0 || deltas_size / row != ids_size / isize ||
      deltas_size % row != 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "Ids tensor of %" G_GSIZE_FORMAT " bytes (%u-byte %s ids) and deltas "
        "tensor of %" G_GSIZE_FORMAT " bytes (%" G_GSIZE_FORMAT "-byte rows of "
        "%u %s) do not hold the same whole number of rows", ids_size, isize,
        gst_shared_matrix_index_type_to_string (index_type), deltas_size, row,
        self->shape.cols, gst_shared_matrix_dtype_to_string (delta_dtype));
    return FALSE;
  }
  *n = ids_size / isize;
  return TRUE;
}

/* Checks every occurrence against the policies before anything is written.
 * Returns FALSE with @error when the update must be rejected; otherwise
 * *skip is NULL (apply all) or a new array flagging dropped occurrences. */
static gboolean
validate_update (GstSharedMatrix * self, const SmUpdatePlan * plan,
    GstSharedMatrixInvalidIndexPolicy invalid_index,
    GstSharedMatrixNonFinitePolicy non_finite, guint8 ** skip,
    GstSharedMatrixUpdateResult * result, GError ** error)
{
  gsize delta_row_bytes =
      (gsize) self->shape.cols * gst_shared_matrix_dtype_size (plan->delta_dtype);
  gboolean check_finite = non_finite != GST_SHARED_MATRIX_NON_FINITE_APPLY;
  gsize i;

  *skip = NULL;
  for (i = 0; i < plan->n; i++) {
    gint64 r = sm_load_index (plan->indices, plan->indices_int64, i);
    gboolean drop = FALSE;

    if (r < 0 || (guint64) r >= self->shape.rows) {
      if (invalid_index == GST_SHARED_MATRIX_INVALID_INDEX_ERROR) {
        g_set_error (error, GST_SHARED_MATRIX_ERROR,
            GST_SHARED_MATRIX_ERROR_INVALID_INDEX,
            "Row index %" G_GINT64_FORMAT " (update row %" G_GSIZE_FORMAT
            " of %" G_GSIZE_FORMAT ") is out of range: the matrix has %"
            G_GUINT64_FORMAT " rows, valid indices are 0 to %" G_GUINT64_FORMAT
            " (invalid-index=drop skips such rows)", r, i, plan->n,
            self->shape.rows, self->shape.rows - 1);
        goto rejected;
      }
      result->rows_dropped_invalid++;
      drop = TRUE;
    } else if (check_finite && !sm_row_is_finite (plan->deltas +
            i * delta_row_bytes, plan->delta_dtype, self->shape.cols)) {
      if (non_finite == GST_SHARED_MATRIX_NON_FINITE_ERROR) {
        g_set_error (error, GST_SHARED_MATRIX_ERROR,
            GST_SHARED_MATRIX_ERROR_NON_FINITE,
            "Delta row %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " (for matrix "
            "row %" G_GINT64_FORMAT ") holds NaN or infinity, which "
            "non-finite=error rejects (apply or drop accept such updates)",
            i, plan->n, r);
        goto rejected;
      }
      result->rows_dropped_non_finite++;
      drop = TRUE;
    }
    if (drop) {
      if (*skip == NULL)
        *skip = g_malloc0 (plan->n);
      (*skip)[i] = 1;
    } else
      sm_row_tracking_prefetch (&self->tracking, r);
  }
  result->rows_applied = plan->n - result->rows_dropped_invalid -
      result->rows_dropped_non_finite;
  return TRUE;

rejected:
  g_clear_pointer (skip, g_free);
  return FALSE;
}

/* *@policies: the caller's, or the strict default for NULL; FALSE with
 * @error when they name an unknown policy. */
static gboolean
check_policies (const GstSharedMatrixPolicies ** policies, GError ** error)
{
  static const GstSharedMatrixPolicies strict = { 0, };

  if (*policies == NULL)
    *policies = &strict;
  if ((guint) (*policies)->invalid_index >
      GST_SHARED_MATRIX_INVALID_INDEX_DROP ||
      (guint) (*policies)->non_finite > GST_SHARED_MATRIX_NON_FINITE_ERROR) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "Unknown policy (invalid-index %d, non-finite %d): allowed are "
        "error/drop and apply/drop/error", (*policies)->invalid_index,
        (*policies)->non_finite);
    return FALSE;
  }
  return TRUE;
}

/* The arguments of an update that do not depend on its data: op,
 * policies (see check_policies ()), index type and delta dtype. */
static gboolean
check_update_args (GstSharedMatrixOp op,
    const GstSharedMatrixPolicies ** policies,
    GstSharedMatrixIndexType index_type, GstSharedMatrixDType delta_dtype,
    GError ** error)
{
  if ((guint) op > GST_SHARED_MATRIX_OP_MAX) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "Unknown op %d: allowed are set, add, sub, mul, min and max", op);
    return FALSE;
  }
  return check_policies (policies, error) &&
      check_index_type (index_type, error) &&
      check_dtype (delta_dtype, "delta", error);
}

/* ---- for the library's other files (gstsharedmatrix-private.h) ---------- */

const SmShape *
sm_matrix_shape (GstSharedMatrix * self)
{
  return &self->shape;
}

const SmBackendOps *
sm_matrix_ops (GstSharedMatrix * self)
{
  return self->ops;
}

gpointer
sm_matrix_storage (GstSharedMatrix * self)
{
  return self->storage;
}

GMutex *
sm_matrix_data_lock (GstSharedMatrix * self)
{
  return &self->data_lock;
}

gpointer *
sm_matrix_optimizer_slot (GstSharedMatrix * self)
{
  return &self->optimizer;
}

guint64
sm_matrix_commit_update (GstSharedMatrix * self, const SmUpdatePlan * plan)
{
  guint64 version = bump_version (self);

  sm_row_tracking_mark_plan (&self->tracking, plan, version);
  return version;
}

gboolean
sm_matrix_validate_update (GstSharedMatrix * self, const SmUpdatePlan * plan,
    const GstSharedMatrixPolicies * policies, guint8 ** skip,
    GstSharedMatrixUpdateResult * result, GError ** error)
{
  if (!check_policies (&policies, error))
    return FALSE;
  return validate_update (self, plan, policies->invalid_index,
      policies->non_finite, skip, result, error);
}

/**
 * gst_shared_matrix_update: (skip)
 * @self: a #GstSharedMatrix
 * @op: how delta rows combine with matrix rows
 * @indices: @n row indices of @index_type (no alignment needed)
 * @n: number of rows in the update (0 is a valid empty update)
 * @index_type: type of @indices
 * @deltas: @n × cols deltas of @delta_dtype, row-major (no alignment needed)
 * @delta_dtype: dtype of @deltas
 * @policies: (nullable): what to do with out-of-range indices and NaN/±Inf
 *   deltas; %NULL for the strict default (reject the update on an
 *   out-of-range index, apply NaN/±Inf)
 * @result: (out caller-allocates) (optional): what the update did
 * @error: return location for a #GError
 *
 * Applies one scatter update in place: for each i, matrix row indices[i] is
 * combined with delta row i by @op. Duplicate indices: with set the last
 * occurrence wins; every other op applies all occurrences in order, like
 * numpy's `ufunc.at`. Arithmetic is done in float32 (float64 when either
 * side is float64) and rounded to the matrix dtype.
 *
 * The whole update is validated before any row is written, and applied
 * atomically with respect to readers.
 *
 * Returns: %TRUE when the update was applied (the version is incremented);
 *   %FALSE with @error when it was rejected (the matrix is unchanged) or
 *   the device failed to apply it (%GST_SHARED_MATRIX_ERROR_DEVICE: its
 *   message says whether the matrix can still be used); the version is
 *   not incremented
 */
gboolean
gst_shared_matrix_update (GstSharedMatrix * self, GstSharedMatrixOp op,
    gconstpointer indices, gsize n, GstSharedMatrixIndexType index_type,
    gconstpointer deltas, GstSharedMatrixDType delta_dtype,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error)
{
  GstSharedMatrixUpdateResult res = { 0, };
  GstSharedMatrixInvalidIndexPolicy invalid_index;
  GstSharedMatrixNonFinitePolicy non_finite;
  SmUpdatePlan plan;
  guint8 *skip;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (n == 0 || (indices != NULL && deltas != NULL), FALSE);

  if (!check_update_args (op, &policies, index_type, delta_dtype, error))
    return FALSE;
  invalid_index = policies->invalid_index;
  non_finite = policies->non_finite;

  plan.op = op;
  plan.indices = indices;
  plan.indices_int64 = index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64;
  plan.deltas = deltas;
  plan.delta_dtype = delta_dtype;
  plan.n = n;

  /* validation reads only the caller's data: no lock needed yet */
  if (!validate_update (self, &plan, invalid_index, non_finite, &skip, &res,
          error))
    return FALSE;
  plan.skip = skip;
  /* with no row to write the backend still gets the (empty) call: a
   * backend that failed for good fails every update */
  if (res.rows_applied == 0)
    plan.n = 0;

  g_mutex_lock (&self->data_lock);
  ok = self->ops->apply (self->storage, &plan, error);
  if (ok)
    res.version = sm_matrix_commit_update (self, &plan);
  g_mutex_unlock (&self->data_lock);

  g_free (skip);
  if (ok && result)
    *result = res;
  return ok;
}

/* update_many's plans and drop flags live on the stack up to this many
 * items a round; longer batches take several rounds (the data lock is
 * released between rounds, never inside an update). */
#define UPDATE_MANY_ROUND 64
/* Consecutive updates of at most RUN_MAX_ROWS rows are applied as one run
 * of at most RUN_MAX_TOTAL rows */
#define RUN_MAX_ROWS 8
#define RUN_MAX_TOTAL 256

/* Applies plans[first, *end) as one: their indices, deltas and drop flags
 * copied one after the other into self->run, which the backend applies in
 * one call, row after row in that order, i.e. with exactly the operations
 * the separate calls would make. What that saves is each update's cache
 * miss on its row taken alone: the backend prefetches the run's rows ahead
 * of the one it applies, and one-row updates (a buffer list) otherwise wait
 * for each row in turn. Sets *end to the end of the run (a single plan,
 * applied as it is, when the next is not small). Under the data lock. */
static gboolean
apply_run (GstSharedMatrix * self, const SmUpdatePlan * plans, guint first,
    guint * end, GError ** error)
{
  const SmUpdatePlan *p0 = &plans[first];
  gsize isize = p0->indices_int64 ? 8 : 4;
  gsize drow = (gsize) self->shape.cols *
      gst_shared_matrix_dtype_size (p0->delta_dtype);
  gsize total = 0, need, at = 0;
  gboolean any_skip = FALSE;
  SmUpdatePlan run;
  guint k, last;

  for (last = first; last < *end && plans[last].n <= RUN_MAX_ROWS &&
      total + plans[last].n <= RUN_MAX_TOTAL; last++) {
    total += plans[last].n;
    any_skip |= plans[last].skip != NULL;
  }
  if (last - first < 2) {
    *end = first + 1;
    return self->ops->apply (self->storage, p0, error);
  }
  *end = last;

  need = total * (isize + drow + 1);
  if (need > self->run_size) {
    g_free (self->run);
    self->run_size = MAX (need, 2 * self->run_size);
    self->run = g_malloc (self->run_size);
  }
  run = *p0;
  run.indices = self->run;
  run.deltas = self->run + total * isize;
  run.skip = any_skip ? self->run + total * (isize + drow) : NULL;
  run.n = total;
  for (k = first; k < last; k++) {
    const SmUpdatePlan *p = &plans[k];

    /* an empty update may come without data */
    if (p->n == 0)
      continue;
    memcpy (self->run + at * isize, p->indices, p->n * isize);
    memcpy ((guint8 *) run.deltas + at * drow, p->deltas, p->n * drow);
    if (any_skip) {
      guint8 *skip = (guint8 *) run.skip + at;

      if (p->skip)
        memcpy (skip, p->skip, p->n);
      else
        memset (skip, 0, p->n);
    }
    at += p->n;
  }
  return self->ops->apply (self->storage, &run, error);
}

/**
 * gst_shared_matrix_update_many: (skip)
 * @self: a #GstSharedMatrix
 * @op: how delta rows combine with matrix rows
 * @items: (array length=n_items): the updates, in order
 * @n_items: number of updates
 * @index_type: type of every item's indices
 * @delta_dtype: dtype of every item's deltas
 * @policies: (nullable): as for gst_shared_matrix_update()
 * @results: (out caller-allocates) (optional) (array length=n_items): what
 *   each update did (only the first *@n_applied are written)
 * @n_applied: (out) (optional): how many updates were applied
 * @error: return location for a #GError
 *
 * Applies @n_items updates in order, exactly as @n_items calls of
 * gst_shared_matrix_update() would: each is validated before any of its
 * rows is written, each is atomic with respect to readers and increments
 * the version by one (results[i].version is its own version), and the
 * first update that is rejected stops the batch: the ones before it are
 * applied, it and the ones after it are not. What the batch saves is the
 * per-call cost: the argument checks are done once and up to 64 updates
 * are applied under one acquisition of the matrix's locks.
 *
 * Returns: %TRUE when every update was applied; %FALSE with @error when
 *   one was rejected or the device failed (*@n_applied says how many
 *   were applied before it)
 */
gboolean
gst_shared_matrix_update_many (GstSharedMatrix * self, GstSharedMatrixOp op,
    const GstSharedMatrixUpdateItem * items, guint n_items,
    GstSharedMatrixIndexType index_type, GstSharedMatrixDType delta_dtype,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * results, guint * n_applied, GError ** error)
{
  SmUpdatePlan plans[UPDATE_MANY_ROUND];
  guint8 *skips[UPDATE_MANY_ROUND];
  GstSharedMatrixUpdateResult res[UPDATE_MANY_ROUND];
  GError *reject = NULL;
  guint done = 0;
  gboolean ok = TRUE;

  if (n_applied)
    *n_applied = 0;
  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (n_items == 0 || items != NULL, FALSE);

  if (!check_update_args (op, &policies, index_type, delta_dtype, error))
    return FALSE;

  while (ok && reject == NULL && done < n_items) {
    guint round = MIN (n_items - done, UPDATE_MANY_ROUND);
    guint valid, applied, i;
    guint64 base;

    /* validation reads only the caller's data: no lock needed yet; it
     * stops at the first update that must be rejected */
    for (valid = 0; valid < round; valid++) {
      const GstSharedMatrixUpdateItem *it = &items[done + valid];
      SmUpdatePlan *plan = &plans[valid];

      if (it->n && (it->indices == NULL || it->deltas == NULL)) {
        g_set_error (&reject, GST_SHARED_MATRIX_ERROR,
            GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
            "Update %u of the batch has %" G_GSIZE_FORMAT " rows but no "
            "indices or deltas", done + valid, it->n);
        break;
      }
      plan->op = op;
      plan->indices = it->indices;
      plan->indices_int64 = index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64;
      plan->deltas = it->deltas;
      plan->delta_dtype = delta_dtype;
      plan->n = it->n;
      memset (&res[valid], 0, sizeof res[valid]);
      if (!validate_update (self, plan, policies->invalid_index,
              policies->non_finite, &skips[valid], &res[valid], &reject))
        break;
      plan->skip = skips[valid];
      if (res[valid].rows_applied == 0)
        plan->n = 0;
    }

    g_mutex_lock (&self->data_lock);
    for (applied = 0; applied < valid;) {
      guint end = valid;

      /* a device failure in a run counts none of its updates as applied
       * (the device's storage is lost then, as after a single update) */
      if (!apply_run (self, plans, applied, &end, error)) {
        ok = FALSE;
        break;
      }
      applied = end;
    }
    /* one version per applied update, taken in one step: readers of the
     * data (under the data lock) see none of them or all of them */
    GST_OBJECT_LOCK (self);
    base = self->version;
    self->version += applied;
    GST_OBJECT_UNLOCK (self);
    for (i = 0; i < applied; i++) {
      res[i].version = base + i + 1;
      sm_row_tracking_mark_plan (&self->tracking, &plans[i], res[i].version);
    }
    g_mutex_unlock (&self->data_lock);

    for (i = 0; i < valid; i++)
      g_free (skips[i]);
    if (results)
      memcpy (results + done, res, applied * sizeof res[0]);
    done += applied;
  }

  if (n_applied)
    *n_applied = done;
  if (reject) {
    if (ok)
      g_propagate_error (error, reject);
    else
      g_error_free (reject);
    return FALSE;
  }
  return ok;
}

/**
 * gst_shared_matrix_update_bytes_full:
 * @self: a #GstSharedMatrix
 * @op: how delta rows combine with matrix rows
 * @indices: N row indices of @index_type
 * @index_type: type of @indices
 * @deltas: N × cols deltas of @delta_dtype, row-major
 * @delta_dtype: dtype of @deltas
 * @policies: (nullable): what to do with out-of-range indices and NaN/±Inf
 *   deltas; %NULL for the strict default
 * @result: (out caller-allocates) (optional): what the update did
 * @error: return location for a #GError
 *
 * gst_shared_matrix_update() for bindings: N is taken from the size of
 * @indices, and @deltas must hold exactly N × cols values. From Python:
 * `ok, result = m.update_bytes_full (op, indices, index_type, deltas,
 * dtype, GstSharedMatrix.Policies (invalid_index=…))`.
 *
 * Returns: %TRUE when the update was applied; %FALSE with @error when it
 *   was rejected (the matrix is unchanged) or the device failed, as for
 *   gst_shared_matrix_update()
 */
gboolean
gst_shared_matrix_update_bytes_full (GstSharedMatrix * self,
    GstSharedMatrixOp op, GBytes * indices,
    GstSharedMatrixIndexType index_type, GBytes * deltas,
    GstSharedMatrixDType delta_dtype,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error)
{
  gsize isize_total, dsize_total, n;
  gconstpointer idata, ddata;
  guint isize;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (indices != NULL && deltas != NULL, FALSE);
  if (!check_index_type (index_type, error) ||
      !check_dtype (delta_dtype, "delta", error))
    return FALSE;

  idata = g_bytes_get_data (indices, &isize_total);
  ddata = g_bytes_get_data (deltas, &dsize_total);
  isize = gst_shared_matrix_index_type_size (index_type);
  n = isize_total / isize;
  if (isize_total % isize != 0 || dsize_total != n * self->shape.cols *
      gst_shared_matrix_dtype_size (delta_dtype)) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "%" G_GSIZE_FORMAT " bytes of %s indices and %" G_GSIZE_FORMAT
        " bytes of %s deltas do not make an update of a matrix with %u "
        "columns (%u bytes per index, %" G_GSIZE_FORMAT " bytes per delta "
        "row)", isize_total, gst_shared_matrix_index_type_to_string (index_type),
        dsize_total, gst_shared_matrix_dtype_to_string (delta_dtype),
        self->shape.cols, isize, (gsize) self->shape.cols *
        gst_shared_matrix_dtype_size (delta_dtype));
    return FALSE;
  }
  return gst_shared_matrix_update (self, op, idata, n, index_type, ddata,
      delta_dtype, policies, result, error);
}

/**
 * gst_shared_matrix_update_bytes:
 * @self: a #GstSharedMatrix
 * @op: how delta rows combine with matrix rows
 * @indices: N row indices of @index_type
 * @index_type: type of @indices
 * @deltas: N × cols deltas of @delta_dtype, row-major
 * @delta_dtype: dtype of @deltas
 * @error: return location for a #GError
 *
 * gst_shared_matrix_update_bytes_full() with the strict policies: an
 * out-of-range index rejects the update, NaN/±Inf are applied.
 *
 * Returns: %TRUE when the update was applied; %FALSE with @error when it
 *   was rejected (the matrix is unchanged) or the device failed, as for
 *   gst_shared_matrix_update()
 */
gboolean
gst_shared_matrix_update_bytes (GstSharedMatrix * self, GstSharedMatrixOp op,
    GBytes * indices, GstSharedMatrixIndexType index_type, GBytes * deltas,
    GstSharedMatrixDType delta_dtype, GError ** error)
{
  return gst_shared_matrix_update_bytes_full (self, op, indices, index_type,
      deltas, delta_dtype, NULL, NULL, error);
}

/* Checks a gather's indices against @invalid_index before anything is
 * read: FALSE with @error for an invalid index under the error policy,
 * else TRUE with the number of invalid indices (zero rows) in *n_zeroed. */
static gboolean
validate_gather (GstSharedMatrix * self, const guint8 * indices,
    gboolean indices_int64, gsize n,
    GstSharedMatrixGatherInvalidIndexPolicy invalid_index, guint64 * n_zeroed,
    GError ** error)
{
  guint64 rows = self->shape.rows, zeroed = 0;
  gsize i;

  for (i = 0; i < n; i++) {
    /* negative indices wrap to huge ones: one comparison */
    gint64 r = sm_load_index (indices, indices_int64, i);

    if (G_LIKELY ((guint64) r < rows))
      continue;
    if (invalid_index == GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR)
      goto invalid;
    zeroed++;
  }
  *n_zeroed = zeroed;
  return TRUE;

invalid:
  {
    gint64 r = sm_load_index (indices, indices_int64, i);

    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_INDEX,
        "Row index %" G_GINT64_FORMAT " (id %" G_GSIZE_FORMAT " of %"
        G_GSIZE_FORMAT ") is out of range: the matrix has %" G_GUINT64_FORMAT
        " rows, valid indices are 0 to %" G_GUINT64_FORMAT
        " (invalid-index=zero returns a row of zeros instead)", r, i, n, rows,
        rows - 1);
    return FALSE;
  }
}

/**
 * gst_shared_matrix_gather: (skip)
 * @self: a #GstSharedMatrix
 * @indices: @n row indices of @index_type (no alignment needed)
 * @n: number of rows to read (0 is a valid empty read)
 * @index_type: type of @indices
 * @invalid_index: what an index < 0 or >= rows does: reject the read
 *   (%GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR) or give a row of zeros
 *   (%GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO)
 * @dest: where to write the @n rows, row-major in the matrix dtype (no
 *   alignment needed)
 * @dest_size: size of @dest: exactly @n × cols × the dtype size
 * @version: (out) (optional): the matrix version the rows show
 * @n_zeroed: (out) (optional): how many rows were invalid indices given
 *   as zeros
 * @error: return location for a #GError
 *
 * Copies rows by index (duplicates allowed) into the caller's memory, as
 * one consistent read: every row shows the matrix at the same version,
 * between two updates, never part of one. All indices are checked before
 * anything is read. A device backend gathers on the device and copies the
 * rows back once.
 *
 * This is what the `matrixlookup` element calls, writing straight into its
 * output buffer; gst_shared_matrix_gather_bytes_full() is the same for
 * bindings.
 *
 * Returns: %TRUE on success; %FALSE with @error when an index is out of
 *   range under the error policy (%GST_SHARED_MATRIX_ERROR_INVALID_INDEX),
 *   @dest_size is wrong (%GST_SHARED_MATRIX_ERROR_SIZE) or the device
 *   failed (%GST_SHARED_MATRIX_ERROR_DEVICE), and then @dest holds nothing
 *   meaningful
 */
gboolean
gst_shared_matrix_gather (GstSharedMatrix * self, gconstpointer indices,
    gsize n, GstSharedMatrixIndexType index_type,
    GstSharedMatrixGatherInvalidIndexPolicy invalid_index, gpointer dest,
    gsize dest_size, guint64 * version, guint64 * n_zeroed, GError ** error)
{
  gboolean int64 = index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64;
  guint64 zeroed;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (n == 0 || (indices != NULL && dest != NULL), FALSE);

  if (!check_index_type (index_type, error))
    return FALSE;
  if ((guint) invalid_index > GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ZERO) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "Unknown gather invalid-index policy %d: allowed are error and zero",
        invalid_index);
    return FALSE;
  }
  if (n > G_MAXSIZE / self->shape.row_bytes ||
      dest_size != n * self->shape.row_bytes) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "Destination of %" G_GSIZE_FORMAT " bytes cannot hold %"
        G_GSIZE_FORMAT " rows of %" G_GSIZE_FORMAT " bytes", dest_size, n,
        self->shape.row_bytes);
    return FALSE;
  }
  /* validation reads only the caller's data: no lock needed yet */
  if (!validate_gather (self, indices, int64, n, invalid_index, &zeroed,
          error))
    return FALSE;

  g_mutex_lock (&self->data_lock);
  /* the backend gathers the zero rows itself: on a device they cost no
   * extra copy */
  ok = self->ops->gather (self->storage, indices, int64, n, dest, error);
  /* written with data_lock held: this is the version the rows show */
  if (ok && version)
    *version = self->version;
  g_mutex_unlock (&self->data_lock);

  if (ok && n_zeroed)
    *n_zeroed = zeroed;
  return ok;
}

/**
 * gst_shared_matrix_gather_bytes_full:
 * @self: a #GstSharedMatrix
 * @indices: N row indices of @index_type
 * @index_type: type of @indices
 * @invalid_index: what an index < 0 or >= rows does: reject the read or
 *   give a row of zeros
 * @version: (out) (optional): the matrix version the rows show
 * @n_zeroed: (out) (optional): how many rows were invalid indices given
 *   as zeros
 * @error: return location for a #GError
 *
 * gst_shared_matrix_gather() for bindings: copies rows by index
 * (duplicates allowed) as one consistent read. From Python:
 * `data, version, n_zeroed = m.gather_bytes_full (GLib.Bytes (ids.tobytes ()),
 * GstSharedMatrix.IndexType.INT64, GstSharedMatrix.GatherInvalidIndexPolicy.ZERO)`.
 *
 * Returns: (transfer full) (nullable): N × cols values in the matrix dtype,
 *   row-major, or %NULL with @error set as for gst_shared_matrix_gather()
 *   (and %GST_SHARED_MATRIX_ERROR_SIZE when @indices is not a whole number
 *   of indices)
 */
GBytes *
gst_shared_matrix_gather_bytes_full (GstSharedMatrix * self, GBytes * indices,
    GstSharedMatrixIndexType index_type,
    GstSharedMatrixGatherInvalidIndexPolicy invalid_index, guint64 * version,
    guint64 * n_zeroed, GError ** error)
{
  const guint8 *idata;
  gsize isize_total, n, size;
  guint8 *out;
  guint isize;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);
  g_return_val_if_fail (indices != NULL, NULL);
  if (!check_index_type (index_type, error))
    return NULL;

  idata = g_bytes_get_data (indices, &isize_total);
  isize = gst_shared_matrix_index_type_size (index_type);
  if (isize_total % isize != 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "%" G_GSIZE_FORMAT " bytes are not a whole number of %u-byte %s "
        "indices", isize_total, isize,
        gst_shared_matrix_index_type_to_string (index_type));
    return NULL;
  }
  n = isize_total / isize;
  if (n > G_MAXSIZE / self->shape.row_bytes)
    goto no_memory;
  size = n * self->shape.row_bytes;
  out = g_try_malloc (MAX (size, 1));
  if (out == NULL)
    goto no_memory;
  if (!gst_shared_matrix_gather (self, idata, n, index_type, invalid_index,
          out, size, version, n_zeroed, error)) {
    g_free (out);
    return NULL;
  }
  return g_bytes_new_take (out, size);

no_memory:
  {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " rows of %" G_GSIZE_FORMAT
        " bytes for a gather", n, self->shape.row_bytes);
    return NULL;
  }
}

/**
 * gst_shared_matrix_gather_bytes:
 * @self: a #GstSharedMatrix
 * @indices: N row indices of @index_type
 * @index_type: type of @indices
 * @error: return location for a #GError
 *
 * Copies rows by index (duplicates allowed), consistently with respect to
 * updates. Any index out of range is an error
 * (gst_shared_matrix_gather_bytes_full() can return zero rows instead).
 *
 * Returns: (transfer full) (nullable): N × cols values in the matrix dtype,
 *   row-major, or %NULL with @error set (an index out of range, or
 *   %GST_SHARED_MATRIX_ERROR_DEVICE when the device failed)
 */
GBytes *
gst_shared_matrix_gather_bytes (GstSharedMatrix * self, GBytes * indices,
    GstSharedMatrixIndexType index_type, GError ** error)
{
  return gst_shared_matrix_gather_bytes_full (self, indices, index_type,
      GST_SHARED_MATRIX_GATHER_INVALID_INDEX_ERROR, NULL, NULL, error);
}

/**
 * gst_shared_matrix_get_delta:
 * @self: a #GstSharedMatrix
 * @since_version: the version of the previous delta of this consumer, 0
 *   for the first one
 * @index_type: integer type of the row indices in the result
 * @version: (out) (optional): the matrix version the delta shows
 * @n_rows: (out) (optional): N, the number of rows in the delta
 * @error: return location for a #GError
 *
 * The rows written since @since_version (by updates, optimizer steps or
 * gst_shared_matrix_set_value(), whoever made them) with their current
 * values, as one update in the `application/x-matrix-update` layout: N
 * indices of @index_type, ascending and each once, followed by the N rows
 * (cols values each, the matrix dtype). @since_version 0 gives every row
 * written since the matrix was created, loaded from a `.npy` file or
 * restored from a checkpoint.
 *
 * The copy is consistent: it shows the matrix at *@version, between two
 * updates. Applied with %GST_SHARED_MATRIX_OP_SET to a copy of this matrix
 * as it was at @since_version, it gives the matrix at *@version bit for
 * bit; a chain of deltas, each asked with the @version the previous one
 * returned, brings a replica from the initial matrix to the present. Each
 * consumer keeps its own @since_version, so any number of them may follow
 * one matrix.
 *
 * The matrix tracks rows in host memory (8 bytes per row, whatever the
 * backend); finding the rows reads only the parts of that record where
 * something was written since @since_version, and the rows are copied
 * with one gather from the backend.
 *
 * Returns: (transfer full) (nullable): the delta, or %NULL with @error set:
 *   %GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT for int32 indices of a
 *   matrix with more than 2^31 rows, %GST_SHARED_MATRIX_ERROR_NO_MEMORY
 *   when host memory for the copy cannot be allocated,
 *   %GST_SHARED_MATRIX_ERROR_DEVICE when the device failed to read
 */
GBytes *
gst_shared_matrix_get_delta (GstSharedMatrix * self, guint64 since_version,
    GstSharedMatrixIndexType index_type, guint64 * version, gsize * n_rows,
    GError ** error)
{
  gsize n, isize, size, index_bytes;
  guint8 *out = NULL;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);
  if (!check_index_type (index_type, error))
    return NULL;
  if (index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT32 &&
      self->shape.rows - 1 > G_MAXINT32) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "A delta of a matrix of %" G_GUINT64_FORMAT " rows needs int64 "
        "indices: int32 reaches row %d only", self->shape.rows, G_MAXINT32);
    return NULL;
  }
  isize = gst_shared_matrix_index_type_size (index_type);

  g_mutex_lock (&self->data_lock);
  n = sm_row_tracking_count_since (&self->tracking, since_version);
  index_bytes = n * isize;
  size = index_bytes + n * self->shape.row_bytes;
  out = g_try_malloc (MAX (size, 1));
  if (out == NULL)
    goto no_memory;
  sm_row_tracking_list_since (&self->tracking, since_version,
      index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64, out, n);
  ok = n == 0 || self->ops->gather (self->storage, out,
      index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64, n, out + index_bytes,
      error);
  if (ok && version)
    *version = self->version;
  g_mutex_unlock (&self->data_lock);

  if (!ok) {
    g_free (out);
    return NULL;
  }
  if (n_rows)
    *n_rows = n;
  return g_bytes_new_take (out, size);

  /* ERRORS */
no_memory:
  {
    g_mutex_unlock (&self->data_lock);
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " bytes for a delta of %"
        G_GSIZE_FORMAT " rows", size, n);
    return NULL;
  }
}

/**
 * gst_shared_matrix_save_npy:
 * @self: a #GstSharedMatrix
 * @path: (type filename): where to write the `.npy` file
 * @error: return location for a #GError
 *
 * Writes a consistent copy of the matrix as a `.npy` file, atomically: a
 * crash at any instant leaves either the previous file or the new one.
 *
 * Returns: %TRUE on success; %FALSE with @error when the copy or the file
 *   could not be made (a previous file is then untouched)
 */
gboolean
gst_shared_matrix_save_npy (GstSharedMatrix * self, const gchar * path,
    GError ** error)
{
  GBytes *contents;
  gboolean ok;
  gsize size;
  gconstpointer data;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  contents = gst_shared_matrix_get_value_full (self,
      GST_SHARED_MATRIX_FORMAT_NPY, error);
  if (contents == NULL) {
    g_prefix_error (error, "Cannot save the matrix to %s: ", path);
    return FALSE;
  }
  data = g_bytes_get_data (contents, &size);
  ok = sm_write_file_atomic (path, data, size, error);
  g_bytes_unref (contents);
  return ok;
}

/* ---- checkpoints (the file format: checkpoint.h) ---------------------- */

/**
 * gst_shared_matrix_get_checkpoint:
 * @self: a #GstSharedMatrix
 * @last_offset: the producer offset of the last update the matrix holds,
 *   %G_MAXUINT64 (GST_BUFFER_OFFSET_NONE) for none
 * @error: return location for a #GError
 *
 * A consistent copy of the matrix as checkpoint file contents: a `.npy` file
 * (numpy.load reads it) followed by a trailer recording the matrix version
 * and @last_offset. Write it with gst_shared_matrix_write_checkpoint(),
 * possibly from another thread.
 *
 * Returns: (transfer full) (nullable): the contents, or %NULL with @error
 *   set: %GST_SHARED_MATRIX_ERROR_NO_MEMORY when host memory for the copy
 *   cannot be allocated, %GST_SHARED_MATRIX_ERROR_DEVICE when the device
 *   failed to read the matrix
 */
GBytes *
gst_shared_matrix_get_checkpoint (GstSharedMatrix * self, guint64 last_offset,
    GError ** error)
{
  SmCheckpointInfo info = { 0, };
  gsize npy_size, header, size, n_floats = 0, state_bytes = 0;
  GstSharedMatrixOptimizer optimizer;
  guint8 *data;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);

  npy_size = gst_shared_matrix_get_size (self, GST_SHARED_MATRIX_FORMAT_NPY);
  header = npy_header_size (self);

  /* the matrix, its version and its optimizer state in one consistent
   * copy: all under the data lock */
  g_mutex_lock (&self->data_lock);
  optimizer = sm_optimizer_get_locked (self, &info.step, &n_floats);
  state_bytes = n_floats * sizeof (float);
  size = npy_size + (optimizer == GST_SHARED_MATRIX_OPTIMIZER_NONE ?
      SM_CHECKPOINT_TRAILER_SIZE : state_bytes + SM_CHECKPOINT_TRAILER2_SIZE);
  data = g_try_malloc (size);
  if (data == NULL) {
    g_mutex_unlock (&self->data_lock);
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " bytes for a checkpoint of the "
        "matrix", size);
    return NULL;
  }
  sm_npy_write_header (self->shape.dtype, self->shape.rows, self->shape.cols,
      data, header);
  ok = self->ops->read (self->storage, data + header, error);
  if (ok && optimizer != GST_SHARED_MATRIX_OPTIMIZER_NONE)
    ok = sm_optimizer_read_locked (self, (float *) (data + npy_size), error);
  info.version = self->version;
  g_mutex_unlock (&self->data_lock);
  if (!ok) {
    g_free (data);
    return NULL;
  }

  if (optimizer == GST_SHARED_MATRIX_OPTIMIZER_NONE) {
    sm_checkpoint_write_trailer (data + npy_size, info.version, last_offset);
  } else {
#if G_BYTE_ORDER == G_BIG_ENDIAN
    {
      guint32 *u = (guint32 *) (data + npy_size);
      gsize i;

      for (i = 0; i < n_floats; i++)
        u[i] = GUINT32_TO_LE (u[i]);
    }
#endif
    info.last_offset = last_offset;
    info.optimizer = optimizer;
    info.state_bytes = state_bytes;
    sm_checkpoint_write_trailer2 (data + npy_size + state_bytes, &info);
  }
  return g_bytes_new_take (data, size);
}

/**
 * gst_shared_matrix_write_checkpoint:
 * @path: (type filename): where to write
 * @checkpoint: contents from gst_shared_matrix_get_checkpoint()
 * @error: return location for a #GError
 *
 * Writes a checkpoint atomically (temporary file, fsync, rename, fsync of
 * the directory): a crash at any instant leaves the previous checkpoint or
 * the new one, never a mix.
 *
 * Returns: %TRUE on success; on failure the previous file is untouched
 */
gboolean
gst_shared_matrix_write_checkpoint (const gchar * path, GBytes * checkpoint,
    GError ** error)
{
  gsize size;
  gconstpointer data;

  g_return_val_if_fail (path != NULL && checkpoint != NULL, FALSE);
  data = g_bytes_get_data (checkpoint, &size);
  return sm_write_file_atomic (path, data, size, error);
}

/**
 * gst_shared_matrix_save_checkpoint:
 * @self: a #GstSharedMatrix
 * @path: (type filename): where to write
 * @last_offset: the producer offset of the last update the matrix holds,
 *   %G_MAXUINT64 for none
 * @error: return location for a #GError
 *
 * gst_shared_matrix_get_checkpoint() and gst_shared_matrix_write_checkpoint()
 * in one call.
 *
 * Returns: %TRUE on success; %FALSE with @error when the copy or the file
 *   could not be made (the previous checkpoint is then untouched)
 */
gboolean
gst_shared_matrix_save_checkpoint (GstSharedMatrix * self, const gchar * path,
    guint64 last_offset, GError ** error)
{
  GBytes *contents;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  contents = gst_shared_matrix_get_checkpoint (self, last_offset, error);
  if (contents == NULL) {
    g_prefix_error (error, "Cannot write a checkpoint to %s: ", path);
    return FALSE;
  }
  ok = gst_shared_matrix_write_checkpoint (path, contents, error);
  g_bytes_unref (contents);
  return ok;
}

/**
 * gst_shared_matrix_new_from_checkpoint:
 * @path: (type filename): a checkpoint written by
 *   gst_shared_matrix_write_checkpoint()
 * @backend: requested backend
 * @device_id: GPU to use for the CUDA backend, -1 for the default one
 * @last_offset: (out) (optional): the producer offset recorded in the
 *   checkpoint, %G_MAXUINT64 for none
 * @error: return location for a #GError
 *
 * Restores a matrix, its contents and its version, from a checkpoint.
 *
 * Returns: (transfer full) (nullable): the matrix, or %NULL with @error set
 */
GstSharedMatrix *
gst_shared_matrix_new_from_checkpoint (const gchar * path,
    GstSharedMatrixBackend backend, gint device_id, guint64 * last_offset,
    GError ** error)
{
  SmNpyInfo info;
  SmCheckpointInfo ck;
  GstSharedMatrix *self;
  GBytes *data, *state = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  data = sm_npy_load (path, &info, error);
  if (data == NULL)
    return NULL;
  /* our checkpoints are always C order, little-endian: the data ends where
   * the header says plus the array size */
  if (!sm_checkpoint_read (path, info.data_offset + g_bytes_get_size (data),
          &ck, &state, error)) {
    g_bytes_unref (data);
    return NULL;
  }
  self = new_holding (&info, data, backend, device_id, error);
  if (self && state) {
    gboolean ok;

    g_mutex_lock (&self->data_lock);
    ok = sm_optimizer_restore_locked (self, ck.optimizer, ck.step,
        g_bytes_get_data (state, NULL), g_bytes_get_size (state), error);
    g_mutex_unlock (&self->data_lock);
    if (!ok) {
      g_prefix_error (error, "Cannot restore the optimizer state of the "
          "checkpoint %s: ", path);
      gst_clear_object (&self);
    }
  }
  if (self) {
    self->version = ck.version;
    if (last_offset)
      *last_offset = ck.last_offset;
  }
  g_clear_pointer (&state, g_bytes_unref);
  g_bytes_unref (data);
  return self;
}
