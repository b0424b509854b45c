/* gst-sharedmatrix: the backend interface (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A backend owns the matrix memory and applies already-validated updates.
 * The library object serialises every call (one matrix lock), so a backend
 * needs no locking of its own; it may use threads or a device stream inside
 * one call as long as the call has finished its writes when it returns, or
 * (device backends) when the next read call returns.
 */
#pragma once

#include <gst/gst.h>

#include "gstsharedmatrixtypes.h"

G_BEGIN_DECLS

typedef struct
{
  guint64 rows;
  guint cols;
  GstSharedMatrixDType dtype;
  gsize row_bytes;              /* cols * dtype size */
} SmShape;

/* One validated update: every index not marked in @skip is in range. */
typedef struct
{
  GstSharedMatrixOp op;
  const guint8 *indices;
  gboolean indices_int64;
  const guint8 *deltas;
  GstSharedMatrixDType delta_dtype;
  gsize n;
  const guint8 *skip;           /* NULL, or n flags: non-zero = leave out */
} SmUpdatePlan;

/* One validated gradient update for an optimizer step (optimizer.c): the
 * occurrences of @update (its op unused) are summed per row and stepped as
 * kernels/optimizer-kernels.h defines. @optimizer is an SM_OPTIM_* value
 * other than none; its state is the one state_create made for it. */
typedef struct
{
  SmUpdatePlan update;
  int optimizer;
  double lr, eps, beta1, beta2, weight_decay;
  double step_size;             /* adam: lr * sqrt (1 - beta2^t) / (1 - beta1^t) */
} SmOptimPlan;

/* apply, read, write and gather return FALSE with @error
 * (GST_SHARED_MATRIX_ERROR_DEVICE) when the device fails. A backend whose
 * storage may no longer hold the matrix after a failure (a broken device
 * context, part of an update written) stays failed: every later call
 * returns the same error at once, without touching the device. After a
 * failed read or gather, @dest holds nothing meaningful. The CPU backend
 * cannot fail. */
typedef struct
{
  GstSharedMatrixBackend kind;
  /* zero-filled storage for @shape, or NULL and @error */
  gpointer (*create) (const SmShape * shape, gint device_id,
      GError ** error);
  void (*destroy) (gpointer storage);
  gboolean (*apply) (gpointer storage, const SmUpdatePlan * plan,
      GError ** error);
  /* whole matrix to / from row-major host memory */
  gboolean (*read) (gpointer storage, guint8 * dest, GError ** error);
  gboolean (*write) (gpointer storage, const guint8 * src, GError ** error);
  /* rows by index into row-major host memory; an index outside
   * [0, rows) gives a row of zeros (the library checks the indices first
   * when its caller's policy makes them an error) */
  gboolean (*gather) (gpointer storage, const guint8 * indices,
      gboolean indices_int64, gsize n, guint8 * dest, GError ** error);
  /* Optional (NULL: the backend has none). A new reference to an allocator
   * of host memory that apply() reads faster than other memory (pinned
   * memory for CUDA): update data in it skips the staging copy. apply()
   * still must not read such data after it returns. */
  GstAllocator *(*staging_allocator) (gpointer storage);
  /* Optional, all or none (NULL: the backend has no optimizers).
   * Optimizer state: @n_slots slots (adagrad G, rowwise-adagrad G_r,
   * adam m; adam v) of @width float32 values per matrix row, zero-filled,
   * in the backend's memory, stored row by row as SmOptimArgs
   * (kernels/optimizer-kernels.h) describes (n_slots may be 0: sgd keeps
   * no state, but the handle holds the step's workspace). read/write copy
   * all of them slot by slot, as the library shows them
   * (gst_shared_matrix_get_optimizer_state (), checkpoints): slot 0's
   * rows x width values, then slot 1's. */
  gpointer (*state_create) (gpointer storage, guint n_slots, gsize width,
      GError ** error);
  void (*state_destroy) (gpointer storage, gpointer state);
  gboolean (*state_read) (gpointer storage, gpointer state, float *dest,
      GError ** error);
  gboolean (*state_write) (gpointer storage, gpointer state,
      const float *src, GError ** error);
  /* one optimizer step; the matrix and state change only on success, or
   * (device backends) the storage is lost as for apply () */
  gboolean (*optimizer_step) (gpointer storage, gpointer state,
      const SmOptimPlan * plan, GError ** error);
} SmBackendOps;

extern const SmBackendOps sm_backend_cpu;

/* The CUDA backend when this build has it and a device is usable;
 * otherwise NULL with @error (GST_SHARED_MATRIX_ERROR_BACKEND) saying why,
 * as a phrase ("no GPU is usable: …", "this build … has no CUDA support"). */
const SmBackendOps *sm_backend_cuda_get (GError ** error);

/* Built with -Dcuda (HAVE_CUDA_BACKEND): */
extern const SmBackendOps sm_backend_cuda;
/* TRUE when a CUDA device is usable; otherwise FALSE with @error saying why
 * (no driver, no device, which CUDA error, GST_SHARED_MATRIX_FORCE_CPU).
 * Probes CUDA lazily, once per process. */
gboolean sm_backend_cuda_usable (GError ** error);

G_END_DECLS
