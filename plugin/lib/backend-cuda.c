/* gst-sharedmatrix: CUDA backend
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The matrix lives in cudaMalloc memory on one device and every operation
 * on it is queued on one stream per matrix, so operations apply in the
 * order the library issues them (it serialises calls under its data lock).
 *
 * Updates: the host groups the occurrences by row (update-grouping.c),
 * writes the grouping and the delta rows into a pinned staging slot, queues
 * an asynchronous copy to the slot's device twin and the scatter kernel, and
 * returns. A ring of slots keeps several updates in flight; a slot is
 * reused once the event recorded after its copy has completed, which is the
 * only wait on the update path. Slots grow (amortised) when an update is
 * larger than the slot, up to MAX_SLOT_BYTES; larger updates are applied as
 * consecutive chunks in buffer order, which gives the same result because a
 * row's occurrences are still applied in buffer order.
 *
 * Update data that already lies in pinned host memory (the staging
 * allocator below, which the element offers upstream in the ALLOCATION
 * query, or any other cudaHostAlloc'd memory) skips the host copy: its
 * delta rows are copied to the device straight from the caller's buffer,
 * and apply() waits for that copy (not for the kernel) before it returns,
 * because the caller may reuse the buffer as soon as apply() returns.
 *
 * Host readers (read, gather) synchronise the stream, so they see every
 * update queued before them and none half-applied.
 *
 * Errors after creation are returned as GST_SHARED_MATRIX_ERROR_DEVICE (see
 * storage_failed ()). An error of queued work (a kernel that faults)
 * surfaces at the next call that waits for it, as a sticky error: the
 * device context is then broken for good, so the matrix keeps that error
 * and every later call returns it without touching the device.
 *
 * cudart is linked statically and nothing touches CUDA before the first
 * matrix asks for the backend (the probe, once per process), so the library
 * loads and serves on the CPU on machines without an NVIDIA driver.
 */
#include <string.h>

#include <cuda_runtime_api.h>
#include <gst/gst.h>

#include "backend.h"
#include "update-grouping.h"
#include "scatter-launch.h"
#include "optimizer-launch.h"
#include "backend-optim.h"

GST_DEBUG_CATEGORY_STATIC (sm_cuda_debug);
#define GST_CAT_DEFAULT sm_cuda_debug

#ifndef SM_CUDA_MIN_ARCH
#define SM_CUDA_MIN_ARCH 75
#endif
#ifndef SM_CUDA_ARCHS
#define SM_CUDA_ARCHS "75 80 86 89 90"
#endif

#define FORCE_CPU_ENV "GST_SHARED_MATRIX_FORCE_CPU"

/* updates in flight per matrix */
#define N_SLOTS 4
#define MIN_SLOT_BYTES ((gsize) 1 << 20)
/* 16 MiB transfers already run at full PCIe speed; a bigger cap would only
 * pin more memory (N_SLOTS x this, plus as much on the device) */
#define MAX_SLOT_BYTES ((gsize) 16 << 20)
#define SLOT_ALIGN 256

#define ALIGN_UP(x) (((x) + SLOT_ALIGN - 1) & ~(gsize) (SLOT_ALIGN - 1))

/* ---- error checking ------------------------------------------------------ */

/* Every CUDA runtime call goes through here: failures are logged with the
 * call, where it was made and CUDA's own description, and optionally
 * returned as a GError naming the function called. The error is also
 * cleared from the runtime's last-error slot, where a non-sticky one would
 * otherwise be reported again by the next kernel launch. */
static gboolean
check_cuda (cudaError_t err, const gchar * call, const gchar * file,
    const gchar * func, gint line, GError ** error)
{
  const gchar *name = call;

  if (G_LIKELY (err == cudaSuccess))
    return TRUE;
  (void) cudaGetLastError ();
  gst_debug_log (sm_cuda_debug, GST_LEVEL_ERROR, file, func, line, NULL,
      "%s failed: %s (%s, error %d)", call, cudaGetErrorString (err),
      cudaGetErrorName (err), (gint) err);
  /* "(cudaError_t) sm_cuda_launch_fill (s->stream, &fill)" names
   * sm_cuda_launch_fill */
  if (name[0] == '(' && strchr (name, ')'))
    name = strchr (name, ')') + 1;
  name += strspn (name, " ");
  g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_BACKEND,
      "CUDA call %.*s failed: %s (%s, error %d)", (gint) strcspn (name, " ("),
      name, cudaGetErrorString (err), cudaGetErrorName (err), (gint) err);
  return FALSE;
}

#define CUDA_CHECK(call, error) \
  check_cuda ((call), #call, __FILE__, G_STRFUNC, __LINE__, (error))

/* ---- probing --------------------------------------------------------------*/

typedef struct
{
  gint n_devices;               /* as cudaGetDeviceCount reports */
  gint first_usable;            /* -1: none */
  gint *arch;                   /* per device: major * 10 + minor */
  gchar *why_not;               /* NULL when a device is usable */
} CudaProbe;

static void
ensure_debug_category (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (sm_cuda_debug, "sharedmatrixcuda", 0,
        "Shared matrix CUDA backend");
    g_once_init_leave (&done, 1);
  }
}

static gchar *
describe_count_error (cudaError_t err)
{
  const gchar *reason;

  switch ((gint) err) {
    case cudaErrorInsufficientDriver:  /* 35 */
      reason = "no NVIDIA driver is installed or loaded, or it is older "
          "than this build's CUDA runtime needs";
      break;
    case cudaErrorNoDevice:    /* 100 */
      reason = "the NVIDIA driver is loaded but reports no CUDA-capable "
          "device (check CUDA_VISIBLE_DEVICES)";
      break;
    case cudaErrorStubLibrary: /* 34 */
      reason = "the libcuda.so found is the CUDA toolkit's stub library, "
          "not a real NVIDIA driver (remove the stubs directory from the "
          "library path)";
      break;
    default:
      reason = "cudaGetDeviceCount failed";
      break;
  }
  return g_strdup_printf ("%s (cudaGetDeviceCount: %s, error %d: %s)", reason,
      cudaGetErrorName (err), (gint) err, cudaGetErrorString (err));
}

static const CudaProbe *
probe (void)
{
  static CudaProbe result;
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    CudaProbe p = { 0, -1, NULL, NULL };
    cudaError_t err;
    gint d;

    ensure_debug_category ();
    err = cudaGetDeviceCount (&p.n_devices);
    if (err != cudaSuccess) {
      /* clear the error so later calls do not report it again */
      (void) cudaGetLastError ();
      p.n_devices = 0;
      p.why_not = describe_count_error (err);
    } else if (p.n_devices == 0) {
      p.why_not = g_strdup ("the NVIDIA driver reports 0 CUDA devices");
    } else {
      GString *old = g_string_new (NULL);

      p.arch = g_new0 (gint, p.n_devices);
      for (d = 0; d < p.n_devices; d++) {
        struct cudaDeviceProp prop;

        if (!CUDA_CHECK (cudaGetDeviceProperties (&prop, d), NULL))
          continue;
        p.arch[d] = prop.major * 10 + prop.minor;
        GST_INFO ("CUDA device %d: %s, compute capability %d.%d, %"
            G_GSIZE_FORMAT " MiB", d, prop.name, prop.major, prop.minor,
            (gsize) (prop.totalGlobalMem >> 20));
        if (p.arch[d] >= SM_CUDA_MIN_ARCH && p.first_usable < 0)
          p.first_usable = d;
        else if (p.arch[d] < SM_CUDA_MIN_ARCH)
          g_string_append_printf (old, "%sdevice %d: %s, %d.%d",
              old->len ? "; " : "", d, prop.name, prop.major, prop.minor);
      }
      if (p.first_usable < 0)
        p.why_not = g_strdup_printf ("%d CUDA device(s) found but none has "
            "compute capability %d.%d or newer, the oldest this build has "
            "kernels for (%s)", p.n_devices, SM_CUDA_MIN_ARCH / 10,
            SM_CUDA_MIN_ARCH % 10, old->str);
      g_string_free (old, TRUE);
    }
    if (p.why_not)
      GST_INFO ("CUDA backend not usable: %s", p.why_not);
    result = p;
    g_once_init_leave (&done, 1);
  }
  return &result;
}

/* Whether the CUDA backend can hold a matrix: a driver and at least one
 * device this build has kernels for, and GST_SHARED_MATRIX_FORCE_CPU not
 * set. Probes CUDA once per process, on the first call. */
gboolean
sm_backend_cuda_usable (GError ** error)
{
  const gchar *force = g_getenv (FORCE_CPU_ENV);
  const CudaProbe *p;

  /* read every time so that tests can toggle it */
  if (force && *force && strcmp (force, "0") != 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_BACKEND,
        "%s=%s is set in the environment, which forces the CPU backend",
        FORCE_CPU_ENV, force);
    return FALSE;
  }
  p = probe ();
  if (p->why_not) {
    g_set_error_literal (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_BACKEND, p->why_not);
    return FALSE;
  }
  return TRUE;
}

/* ---- pinned staging allocator ---------------------------------------------*/

/* Host memory from cudaHostAlloc (portable: pinned for every device), for
 * producers to write updates into. One allocator per process. */
#define SM_PINNED_MEMORY_TYPE "SharedMatrixPinned"

typedef struct
{
  GstMemory mem;
  guint8 *data;                 /* start of maxsize */
  gpointer alloc;               /* what cudaHostAlloc returned; NULL: shared */
} SmPinnedMemory;

typedef struct
{
  GstAllocator parent;
} SmPinnedAllocator;

typedef struct
{
  GstAllocatorClass parent_class;
} SmPinnedAllocatorClass;

GType sm_pinned_allocator_get_type (void);
G_DEFINE_TYPE (SmPinnedAllocator, sm_pinned_allocator, GST_TYPE_ALLOCATOR);

static GstMemory *
sm_pinned_alloc (GstAllocator * allocator, gsize size,
    GstAllocationParams * params)
{
  gsize align = params->align | gst_memory_alignment;
  gsize maxsize = params->prefix + size + params->padding;
  gsize shift;
  SmPinnedMemory *mem;
  gpointer host = NULL;

  /* cudaHostAlloc memory is page aligned; larger alignments get slack */
  if (!CUDA_CHECK (cudaHostAlloc (&host, maxsize + align,
              cudaHostAllocPortable), NULL))
    return NULL;
  shift = ((guintptr) host & align) ? align + 1 - ((guintptr) host & align) :
      0;
  mem = g_new0 (SmPinnedMemory, 1);
  mem->alloc = host;
  mem->data = (guint8 *) host + shift;
  gst_memory_init (GST_MEMORY_CAST (mem), params->flags, allocator, NULL,
      maxsize, params->align, params->prefix, size);
  if (params->prefix && (params->flags & GST_MEMORY_FLAG_ZERO_PREFIXED))
    memset (mem->data, 0, params->prefix);
  if (params->padding && (params->flags & GST_MEMORY_FLAG_ZERO_PADDED))
    memset (mem->data + params->prefix + size, 0, params->padding);
  return GST_MEMORY_CAST (mem);
}

static void
sm_pinned_free (GstAllocator * allocator, GstMemory * memory)
{
  SmPinnedMemory *mem = (SmPinnedMemory *) memory;

  if (mem->alloc)
    CUDA_CHECK (cudaFreeHost (mem->alloc), NULL);
  g_free (mem);
}

static gpointer
sm_pinned_map (GstMemory * memory, gsize maxsize, GstMapFlags flags)
{
  return ((SmPinnedMemory *) memory)->data;
}

static void
sm_pinned_unmap (GstMemory * memory)
{
}

static GstMemory *
sm_pinned_share (GstMemory * memory, gssize offset, gssize size)
{
  SmPinnedMemory *mem = (SmPinnedMemory *) memory, *sub;
  GstMemory *parent = memory->parent ? memory->parent : memory;

  if (size == -1)
    size = memory->size - offset;
  sub = g_new0 (SmPinnedMemory, 1);
  sub->data = mem->data;
  sub->alloc = NULL;
  gst_memory_init (GST_MEMORY_CAST (sub), GST_MINI_OBJECT_FLAGS (parent) |
      GST_MINI_OBJECT_FLAG_LOCK_READONLY, memory->allocator, parent,
      memory->maxsize, memory->align, memory->offset + offset, size);
  return GST_MEMORY_CAST (sub);
}

static void
sm_pinned_allocator_class_init (SmPinnedAllocatorClass * klass)
{
  GstAllocatorClass *allocator_class = GST_ALLOCATOR_CLASS (klass);

  allocator_class->alloc = sm_pinned_alloc;
  allocator_class->free = sm_pinned_free;
}

static void
sm_pinned_allocator_init (SmPinnedAllocator * self)
{
  GstAllocator *alloc = GST_ALLOCATOR_CAST (self);

  alloc->mem_type = SM_PINNED_MEMORY_TYPE;
  alloc->mem_map = sm_pinned_map;
  alloc->mem_unmap = sm_pinned_unmap;
  alloc->mem_share = sm_pinned_share;
}

static GstAllocator *
cuda_staging_allocator (gpointer storage)
{
  static GstAllocator *allocator;
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    allocator = g_object_new (sm_pinned_allocator_get_type (), NULL);
    gst_object_ref_sink (allocator);
    /* one per process, never freed */
    GST_OBJECT_FLAG_SET (allocator, GST_OBJECT_FLAG_MAY_BE_LEAKED);
    g_once_init_leave (&done, 1);
  }
  return gst_object_ref (allocator);
}

/* Whether @p is pinned host memory, which a copy reads directly (DMA). */
static gboolean
is_pinned_host (const void *p)
{
  struct cudaPointerAttributes attr;

  if (p == NULL)
    return FALSE;
  if (!CUDA_CHECK (cudaPointerGetAttributes (&attr, p), NULL))
    return FALSE;
  return attr.type == cudaMemoryTypeHost;
}

/* ---- storage ---------------------------------------------------------------*/

typedef struct
{
  guint8 *host;                 /* pinned */
  guint8 *dev;                  /* device twin, same capacity */
  gsize capacity;
  cudaEvent_t copied;           /* recorded after the copy that reads host */
  gboolean pending;
} Slot;

typedef struct
{
  SmShape shape;
  gint device;
  guint8 *data;
  cudaStream_t stream;
  Slot slots[N_SLOTS];
  guint next_slot;
  gsize min_slot_bytes;
  SmUpdateGrouping grouping;
  /* set once the device memory may no longer hold the matrix; returned by
   * every later call */
  GError *failed;
} CudaStorage;

/* The error return of the operations after creation, all of which end here
 * on a failed CUDA call (@cause, from CUDA_CHECK): @what the operation was,
 * and whether it had already written to the matrix. The message says what
 * the failure means for the matrix. A sticky error (every call on a broken
 * context returns it, so the stream reports it too) or a partly written
 * matrix leave the matrix lost: it keeps the error for every later call. */
static gboolean
storage_failed (CudaStorage * s, const gchar * what, gboolean wrote,
    GError * cause, GError ** error)
{
  /* not through CUDA_CHECK: cudaErrorNotReady is an answer, not a failure */
  cudaError_t state = cudaStreamQuery (s->stream);
  gboolean sticky = state != cudaSuccess && state != cudaErrorNotReady;
  GError *err;

  (void) cudaGetLastError ();
  err = g_error_new (GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_DEVICE,
      "CUDA device %d failed to %s the %" G_GUINT64_FORMAT " x %u %s matrix: "
      "%s; %s", s->device, what, s->shape.rows, s->shape.cols,
      gst_shared_matrix_dtype_to_string (s->shape.dtype), cause->message,
      sticky ? "the device context is broken (a sticky CUDA error), so the "
      "matrix is lost and every later operation on it fails with this error; "
      "restart the process (and restore the matrix from a checkpoint)" :
      wrote ? "part of the update may have been applied, so the matrix is "
      "lost and every later operation on it fails with this error; create "
      "it again (from a checkpoint)" :
      "the matrix is unchanged and can still be used");
  g_error_free (cause);
  if (sticky || wrote) {
    GST_ERROR ("%s", err->message);
    s->failed = g_error_copy (err);
  } else {
    GST_WARNING ("%s", err->message);
  }
  g_propagate_error (error, err);
  return FALSE;
}

/* Whether the matrix was lost earlier; then FALSE with that error. */
static gboolean
storage_ok (CudaStorage * s, GError ** error)
{
  if (G_LIKELY (s->failed == NULL))
    return TRUE;
  g_propagate_error (error, g_error_copy (s->failed));
  return FALSE;
}

static void
slot_free (Slot * slot)
{
  if (slot->host)
    CUDA_CHECK (cudaFreeHost (slot->host), NULL);
  if (slot->dev)
    CUDA_CHECK (cudaFree (slot->dev), NULL);
  slot->host = slot->dev = NULL;
  slot->capacity = 0;
}

static gboolean
slot_alloc (CudaStorage * s, Slot * slot, gsize bytes, GError ** error)
{
  cudaError_t err;

  err = cudaHostAlloc ((void **) &slot->host, bytes, cudaHostAllocDefault);
  if (err != cudaSuccess) {
    (void) cudaGetLastError ();
    slot->host = NULL;
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " bytes of pinned host memory "
        "for update staging (cudaHostAlloc: %s)", bytes,
        cudaGetErrorString (err));
    return FALSE;
  }
  err = cudaMalloc ((void **) &slot->dev, bytes);
  if (err != cudaSuccess) {
    size_t free_bytes = 0, total = 0;

    (void) cudaGetLastError ();
    cudaMemGetInfo (&free_bytes, &total);
    slot->dev = NULL;
    slot_free (slot);
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " bytes of GPU memory for update "
        "staging on CUDA device %d: %" G_GSIZE_FORMAT " bytes free of %"
        G_GSIZE_FORMAT " (cudaMalloc: %s)", bytes, s->device,
        (gsize) free_bytes, (gsize) total, cudaGetErrorString (err));
    return FALSE;
  }
  slot->capacity = bytes;
  return TRUE;
}

/* Waits until the slot's pinned buffer is no longer read by a copy. */
static gboolean
slot_wait (Slot * slot, GError ** error)
{
  if (!slot->pending)
    return TRUE;
  slot->pending = FALSE;
  return CUDA_CHECK (cudaEventSynchronize (slot->copied), error);
}

static Slot *
next_slot (CudaStorage * s)
{
  Slot *slot = &s->slots[s->next_slot];

  s->next_slot = (s->next_slot + 1) % N_SLOTS;
  return slot;
}

/* Makes @slot hold at least @bytes if it can; a failure to grow is not an
 * error (the caller uses smaller chunks), it keeps the old buffers. */
static void
slot_try_grow (CudaStorage * s, Slot * slot, gsize bytes)
{
  GError *err = NULL;
  Slot grown = *slot;
  gsize want;

  if (bytes <= slot->capacity)
    return;
  want = MAX (bytes, MIN (slot->capacity * 2, MAX_SLOT_BYTES));
  grown.host = grown.dev = NULL;
  if (!slot_alloc (s, &grown, want, &err)) {
    GST_WARNING ("keeping a %" G_GSIZE_FORMAT "-byte staging slot: %s",
        slot->capacity, err->message);
    g_error_free (err);
    return;
  }
  /* the old buffers may still be used by a queued copy or kernel; growing
   * is rare, so simply wait for the stream */
  if (!CUDA_CHECK (cudaStreamSynchronize (s->stream), NULL)) {
    slot_free (&grown);
    return;
  }
  slot_free (slot);
  grown.pending = FALSE;
  *slot = grown;
  GST_DEBUG ("staging slot grown to %" G_GSIZE_FORMAT " bytes", want);
}

/* Upper bound of the staging bytes of a chunk of @n occurrences. */
static gsize
scatter_bytes (gsize n, gsize delta_row_bytes)
{
  return ALIGN_UP (n * 8) + ALIGN_UP ((n + 1) * 4) + ALIGN_UP (n * 4) +
      n * delta_row_bytes;
}

/* The most occurrences that fit @bytes of staging (at least 1). */
static gsize
scatter_chunk_for (gsize bytes, gsize delta_row_bytes)
{
  gsize per = 16 + delta_row_bytes, fixed = 4 + 3 * SLOT_ALIGN;
  gsize n = bytes > fixed ? (bytes - fixed) / per : 0;

  return CLAMP (n, 1, SM_UPDATE_GROUPING_MAX_N);
}

static void
cuda_destroy (gpointer storage)
{
  CudaStorage *s = storage;
  guint i;

  CUDA_CHECK (cudaSetDevice (s->device), NULL);
  if (s->stream)
    CUDA_CHECK (cudaStreamSynchronize (s->stream), NULL);
  for (i = 0; i < N_SLOTS; i++) {
    slot_free (&s->slots[i]);
    if (s->slots[i].copied)
      CUDA_CHECK (cudaEventDestroy (s->slots[i].copied), NULL);
  }
  if (s->data)
    CUDA_CHECK (cudaFree (s->data), NULL);
  if (s->stream)
    CUDA_CHECK (cudaStreamDestroy (s->stream), NULL);
  sm_update_grouping_clear (&s->grouping);
  g_clear_error (&s->failed);
  g_free (s);
}

static gpointer
cuda_create (const SmShape * shape, gint device_id,
    GError ** error)
{
  const CudaProbe *p = probe ();
  gsize bytes = shape->rows * shape->row_bytes;
  struct cudaDeviceProp prop;
  size_t free_bytes = 0, total = 0;
  CudaStorage *s;
  SmFillArgs fill;
  cudaError_t err;
  guint i;

  if (p->why_not) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_BACKEND,
        "The CUDA backend is not usable: %s", p->why_not);
    return NULL;
  }
  if (device_id < 0)
    device_id = p->first_usable;
  if (device_id >= p->n_devices) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_BACKEND,
        "CUDA device %d does not exist: %d CUDA device(s) are visible, "
        "device-id must be -1 (the first usable one) or 0 to %d", device_id,
        p->n_devices, p->n_devices - 1);
    return NULL;
  }
  if (p->arch[device_id] < SM_CUDA_MIN_ARCH) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_BACKEND,
        "CUDA device %d has compute capability %d.%d; this build has "
        "kernels for sm %s (and compute_90 PTX), %d.%d or newer is needed",
        device_id, p->arch[device_id] / 10, p->arch[device_id] % 10,
        SM_CUDA_ARCHS, SM_CUDA_MIN_ARCH / 10, SM_CUDA_MIN_ARCH % 10);
    return NULL;
  }

  if (!CUDA_CHECK (cudaSetDevice (device_id), error) ||
      !CUDA_CHECK (cudaGetDeviceProperties (&prop, device_id), error))
    return NULL;

  s = g_new0 (CudaStorage, 1);
  s->shape = *shape;
  s->device = device_id;
  sm_update_grouping_init (&s->grouping);

  err = cudaMalloc ((void **) &s->data, bytes);
  if (err != cudaSuccess) {
    (void) cudaGetLastError ();
    s->data = NULL;
    CUDA_CHECK (cudaMemGetInfo (&free_bytes, &total), NULL);
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " bytes of GPU memory for a %"
        G_GUINT64_FORMAT " x %u %s matrix on CUDA device %d (%s): %"
        G_GSIZE_FORMAT " bytes free of %" G_GSIZE_FORMAT " (cudaMalloc: %s); "
        "use a smaller matrix or backend=cpu", bytes, shape->rows, shape->cols,
        gst_shared_matrix_dtype_to_string (shape->dtype), device_id, prop.name,
        (gsize) free_bytes, (gsize) total, cudaGetErrorString (err));
    goto failed;
  }
  if (!CUDA_CHECK (cudaStreamCreateWithFlags (&s->stream,
              cudaStreamNonBlocking), error))
    goto failed;

  /* a slot holds at least one occurrence with a float64 delta row (the
   * widest), so chunking can always make progress */
  s->min_slot_bytes = MAX (MIN_SLOT_BYTES,
      scatter_bytes (1, (gsize) shape->cols * 8));
  s->min_slot_bytes = MAX (s->min_slot_bytes,
      ALIGN_UP (8) + shape->row_bytes);
  for (i = 0; i < N_SLOTS; i++) {
    if (!CUDA_CHECK (cudaEventCreateWithFlags (&s->slots[i].copied,
                cudaEventDisableTiming), error) ||
        !slot_alloc (s, &s->slots[i], s->min_slot_bytes, error))
      goto failed;
  }

  /* zero-fill on the device, then wait: errors (no kernel image for this
   * GPU, a broken context) surface here as a GError, not later */
  memset (&fill, 0, sizeof fill);
  fill.dst = s->data;
  fill.element_size = gst_shared_matrix_dtype_size (shape->dtype);
  fill.n_elements = bytes / fill.element_size;
  if (!CUDA_CHECK ((cudaError_t) sm_cuda_launch_fill (s->stream, &fill),
          error) || !CUDA_CHECK (cudaStreamSynchronize (s->stream), error))
    goto failed;

  GST_INFO ("%" G_GUINT64_FORMAT " x %u %s matrix: %" G_GSIZE_FORMAT
      " bytes on CUDA device %d (%s, %d.%d), %d staging slots of %"
      G_GSIZE_FORMAT " bytes", shape->rows, shape->cols,
      gst_shared_matrix_dtype_to_string (shape->dtype), bytes, device_id,
      prop.name, prop.major, prop.minor, N_SLOTS, s->min_slot_bytes);
  return s;

failed:
  cuda_destroy (s);
  return NULL;
}

/* Stages and queues occurrences first .. first + n - 1 of @plan. With
 * @direct (the deltas are in pinned memory) only the grouping is staged and
 * the delta rows are copied from @plan's memory; *queued says whether
 * anything was queued. */
static gboolean
apply_chunk (CudaStorage * s, Slot * slot,
    const SmUpdatePlan * plan, gsize first, gsize n,
    gboolean direct, gboolean * queued, GError ** error)
{
  SmUpdateGrouping *g = &s->grouping;
  gsize drow = (gsize) s->shape.cols * sm_dtype_size (plan->delta_dtype);
  gsize off_start, off_order, off_deltas, total;
  SmScatterArgs args;

  *queued = FALSE;
  sm_update_grouping_compute (g, plan->indices, plan->indices_int64, first, n,
      plan->skip);
  if (g->n_groups == 0)
    return TRUE;

  off_start = ALIGN_UP ((gsize) g->n_groups * 8);
  off_order = off_start + ALIGN_UP (((gsize) g->n_groups + 1) * 4);
  off_deltas = off_order + ALIGN_UP ((gsize) g->n_order * 4);
  total = off_deltas + n * drow;
  g_assert (total <= slot->capacity);

  memcpy (slot->host, g->rows, (gsize) g->n_groups * 8);
  memcpy (slot->host + off_start, g->group_start,
      ((gsize) g->n_groups + 1) * 4);
  memcpy (slot->host + off_order, g->order, (gsize) g->n_order * 4);
  if (direct) {
    if (!CUDA_CHECK (cudaMemcpyAsync (slot->dev, slot->host, off_deltas,
                cudaMemcpyHostToDevice, s->stream), error) ||
        !CUDA_CHECK (cudaMemcpyAsync (slot->dev + off_deltas,
                plan->deltas + first * drow, n * drow,
                cudaMemcpyHostToDevice, s->stream), error))
      return FALSE;
  } else {
    memcpy (slot->host + off_deltas, plan->deltas + first * drow, n * drow);
    if (!CUDA_CHECK (cudaMemcpyAsync (slot->dev, slot->host, total,
                cudaMemcpyHostToDevice, s->stream), error))
      return FALSE;
  }
  if (!CUDA_CHECK (cudaEventRecord (slot->copied, s->stream), error))
    return FALSE;
  slot->pending = TRUE;
  *queued = TRUE;

  args.matrix = s->data;
  args.deltas = slot->dev + off_deltas;
  args.rows = (const uint64_t *) slot->dev;
  args.group_start = (const uint32_t *) (slot->dev + off_start);
  args.order = (const uint32_t *) (slot->dev + off_order);
  args.row_bytes = s->shape.row_bytes;
  args.n_groups = g->n_groups;
  args.cols = s->shape.cols;
  args.dtype = s->shape.dtype;
  args.delta_dtype = plan->delta_dtype;
  args.op = plan->op;
  return CUDA_CHECK ((cudaError_t) sm_cuda_launch_scatter (s->stream, &args),
      error);
}

static gboolean
cuda_apply (gpointer storage, const SmUpdatePlan * plan,
    GError ** error)
{
  CudaStorage *s = storage;
  gsize drow = (gsize) s->shape.cols * sm_dtype_size (plan->delta_dtype);
  gsize max_chunk = scatter_chunk_for (MAX_SLOT_BYTES, drow);
  gsize first = 0;
  gboolean direct = FALSE;
  Slot *last_queued = NULL;
  GError *cause = NULL;

  if (!storage_ok (s, error))
    return FALSE;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause))
    goto failed;
  direct = plan->n > 0 && is_pinned_host (plan->deltas);

  while (first < plan->n) {
    Slot *slot = next_slot (s);
    gsize n = MIN (plan->n - first, max_chunk);
    gboolean queued;

    if (!slot_wait (slot, &cause))
      goto failed;
    slot_try_grow (s, slot, scatter_bytes (n, drow));
    n = MIN (n, scatter_chunk_for (slot->capacity, drow));
    if (!apply_chunk (s, slot, plan, first, n, direct, &queued, &cause))
      goto failed;
    if (queued)
      last_queued = slot;
    first += n;
  }
  /* Direct copies read the caller's memory, which is the caller's again
   * when this returns: wait for the last one (the stream runs in order, so
   * for all of them). The kernels are not waited for. */
  if (direct && last_queued && !slot_wait (last_queued, &cause))
    goto failed;
  return TRUE;

failed:
  /* queued direct copies must not read the caller's memory later */
  if (direct)
    CUDA_CHECK (cudaStreamSynchronize (s->stream), NULL);
  /* the chunks before @first have had their kernels queued */
  return storage_failed (s, "apply an update to", first > 0, cause, error);
}

static gboolean
cuda_read (gpointer storage, guint8 * dest, GError ** error)
{
  CudaStorage *s = storage;
  gsize bytes = s->shape.rows * s->shape.row_bytes;
  GError *cause = NULL;

  if (!storage_ok (s, error))
    return FALSE;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause) ||
      !CUDA_CHECK (cudaMemcpyAsync (dest, s->data, bytes,
              cudaMemcpyDeviceToHost, s->stream), &cause) ||
      !CUDA_CHECK (cudaStreamSynchronize (s->stream), &cause))
    return storage_failed (s, "read", FALSE, cause, error);
  return TRUE;
}

static gboolean
cuda_write (gpointer storage, const guint8 * src, GError ** error)
{
  CudaStorage *s = storage;
  gsize bytes = s->shape.rows * s->shape.row_bytes;
  GError *cause = NULL;

  if (!storage_ok (s, error))
    return FALSE;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause) ||
      !CUDA_CHECK (cudaMemcpyAsync (s->data, src, bytes,
              cudaMemcpyHostToDevice, s->stream), &cause))
    return storage_failed (s, "write", FALSE, cause, error);
  /* synchronous: @src is the caller's and may go away on return */
  if (!CUDA_CHECK (cudaStreamSynchronize (s->stream), &cause))
    return storage_failed (s, "write", TRUE, cause, error);
  return TRUE;
}

static gboolean
cuda_gather (gpointer storage, const guint8 * indices, gboolean indices_int64,
    gsize n, guint8 * dest, GError ** error)
{
  CudaStorage *s = storage;
  gsize isize = indices_int64 ? 8 : 4;
  gsize row_bytes = s->shape.row_bytes;
  gsize first = 0;
  GError *cause = NULL;

  if (!storage_ok (s, error))
    return FALSE;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause))
    goto failed;

  while (first < n) {
    Slot *slot = next_slot (s);
    gsize c = n - first, off_out, per = isize + row_bytes;
    SmGatherArgs args;

    if (!slot_wait (slot, &cause))
      goto failed;
    slot_try_grow (s, slot, MIN (ALIGN_UP (c * isize) + c * row_bytes,
            MAX_SLOT_BYTES));
    /* at least one row fits: min_slot_bytes covers it */
    c = MIN (c, MAX ((slot->capacity - SLOT_ALIGN) / per, 1));
    off_out = ALIGN_UP (c * isize);
    g_assert (off_out + c * row_bytes <= slot->capacity);

    memcpy (slot->host, indices + first * isize, c * isize);
    args.matrix = s->data;
    args.indices = slot->dev;
    args.out = slot->dev + off_out;
    args.row_bytes = row_bytes;
    args.n = c;
    args.rows = s->shape.rows;
    args.cols = s->shape.cols;
    args.dtype = s->shape.dtype;
    args.indices_int64 = indices_int64;
    if (!CUDA_CHECK (cudaMemcpyAsync (slot->dev, slot->host, c * isize,
                cudaMemcpyHostToDevice, s->stream), &cause) ||
        !CUDA_CHECK ((cudaError_t) sm_cuda_launch_gather (s->stream, &args),
            &cause) ||
        !CUDA_CHECK (cudaMemcpyAsync (slot->host + off_out, slot->dev +
                off_out, c * row_bytes, cudaMemcpyDeviceToHost, s->stream),
            &cause) || !CUDA_CHECK (cudaStreamSynchronize (s->stream),
            &cause))
      goto failed;
    memcpy (dest + first * row_bytes, slot->host + off_out, c * row_bytes);
    first += c;
  }
  return TRUE;

failed:
  return storage_failed (s, "gather rows from", FALSE, cause, error);
}

/* ---- optimizers ------------------------------------------------------------
 *
 * The state lives in device memory beside the matrix. A step groups the
 * whole update by row on the host (every occurrence of a row must be in the
 * same launch: a row takes one step), then stages groups in chunks: each
 * chunk carries its rows, group offsets and the gradient rows of its
 * occurrences gathered in group order, so the kernels read them
 * contiguously (kernels/optimizer-kernels.h, order = NULL). */

typedef struct
{
  float *dev;                   /* n floats of device memory, NULL when 0 */
  gsize n;                      /* rows x slots x width */
  guint slots;
  gsize width;
  SmUpdateGrouping grouping;
  guint32 *starts;              /* a chunk's group offsets, rebased */
  gsize starts_capacity;
} CudaOptimState;

static void
cuda_state_destroy (gpointer storage, gpointer state)
{
  CudaStorage *s = storage;
  CudaOptimState *st = state;

  CUDA_CHECK (cudaSetDevice (s->device), NULL);
  if (st->dev) {
    CUDA_CHECK (cudaStreamSynchronize (s->stream), NULL);
    CUDA_CHECK (cudaFree (st->dev), NULL);
  }
  sm_update_grouping_clear (&st->grouping);
  g_free (st->starts);
  g_free (st);
}

static gpointer
cuda_state_create (gpointer storage, guint n_slots, gsize width,
    GError ** error)
{
  CudaStorage *s = storage;
  CudaOptimState *st;
  GError *cause = NULL;
  gsize n_floats = s->shape.rows * n_slots * width;
  SmFillArgs fill;
  cudaError_t err;

  if (!storage_ok (s, error))
    return NULL;
  st = g_new0 (CudaOptimState, 1);
  st->n = n_floats;
  st->slots = n_slots;
  st->width = width;
  sm_update_grouping_init (&st->grouping);
  if (n_floats == 0)
    return st;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause))
    goto failed;
  err = cudaMalloc ((void **) &st->dev, n_floats * sizeof (float));
  if (err != cudaSuccess) {
    size_t free_bytes = 0, total = 0;

    (void) cudaGetLastError ();
    st->dev = NULL;
    cudaMemGetInfo (&free_bytes, &total);
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY,
        "Cannot allocate %" G_GSIZE_FORMAT " bytes of GPU memory for "
        "optimizer state on CUDA device %d: %" G_GSIZE_FORMAT " bytes free "
        "of %" G_GSIZE_FORMAT " (cudaMalloc: %s)", n_floats * sizeof (float),
        s->device, (gsize) free_bytes, (gsize) total,
        cudaGetErrorString (err));
    cuda_state_destroy (s, st);
    return NULL;
  }
  /* zero-filled by the fill kernel, as the matrix */
  memset (&fill, 0, sizeof fill);
  fill.dst = (unsigned char *) st->dev;
  fill.element_size = 4;
  fill.n_elements = n_floats;
  if (!CUDA_CHECK ((cudaError_t) sm_cuda_launch_fill (s->stream, &fill),
          &cause) || !CUDA_CHECK (cudaStreamSynchronize (s->stream), &cause))
    goto failed;
  return st;

failed:
  cuda_state_destroy (s, st);
  storage_failed (s, "create optimizer state for", FALSE, cause, error);
  return NULL;
}

/* Queues the copy of the state between the device (its rows) and
 * @by_slot on the host (slot 0's rows, then slot 1's): a strided copy per
 * slot, or one plain copy when there is one slot (rowwise-adagrad's rows
 * are 4 bytes: a strided copy of those would crawl). */
static gboolean
copy_state (CudaStorage * s, CudaOptimState * st, float *by_slot,
    gboolean to_host, GError ** cause)
{
  gsize rows = s->shape.rows, bytes = st->width * 4;
  gsize dev_pitch = st->slots * bytes;
  enum cudaMemcpyKind kind = to_host ? cudaMemcpyDeviceToHost :
      cudaMemcpyHostToDevice;
  guint k;

  for (k = 0; k < st->slots; k++) {
    float *host = by_slot + k * rows * st->width;
    float *dev = st->dev + k * st->width;
    void *dst = to_host ? (void *) host : (void *) dev;
    const void *src = to_host ? (const void *) dev : (const void *) host;
    gboolean ok;

    if (st->slots == 1)
      ok = CUDA_CHECK (cudaMemcpyAsync (dst, src, st->n * 4, kind,
              s->stream), cause);
    else
      ok = CUDA_CHECK (cudaMemcpy2DAsync (dst, to_host ? bytes : dev_pitch,
              src, to_host ? dev_pitch : bytes, bytes, rows, kind,
              s->stream), cause);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

static gboolean
cuda_state_read (gpointer storage, gpointer state, float *dest,
    GError ** error)
{
  CudaStorage *s = storage;
  CudaOptimState *st = state;
  GError *cause = NULL;

  if (!storage_ok (s, error))
    return FALSE;
  if (st->n == 0)
    return TRUE;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause) ||
      !copy_state (s, st, dest, TRUE, &cause) ||
      !CUDA_CHECK (cudaStreamSynchronize (s->stream), &cause))
    return storage_failed (s, "read the optimizer state of", FALSE, cause,
        error);
  return TRUE;
}

static gboolean
cuda_state_write (gpointer storage, gpointer state, const float *src,
    GError ** error)
{
  CudaStorage *s = storage;
  CudaOptimState *st = state;
  GError *cause = NULL;

  if (!storage_ok (s, error))
    return FALSE;
  if (st->n == 0)
    return TRUE;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause) ||
      !copy_state (s, st, (float *) src, FALSE, &cause) ||
      !CUDA_CHECK (cudaStreamSynchronize (s->stream), &cause))
    return storage_failed (s, "write the optimizer state of", TRUE, cause,
        error);
  return TRUE;
}

/* Staging bytes of groups [g0, g1) */
static gsize
optim_chunk_bytes (const SmUpdateGrouping * g, guint32 g0, guint32 g1,
    gsize grow)
{
  gsize ng = g1 - g0, occ = g->group_start[g1] - g->group_start[g0];

  return ALIGN_UP (ng * 8) + ALIGN_UP ((ng + 1) * 4) + ALIGN_UP (ng * 8) +
      occ * grow;
}

static gboolean
cuda_optimizer_step (gpointer storage, gpointer state,
    const SmOptimPlan * plan, GError ** error)
{
  CudaStorage *s = storage;
  CudaOptimState *st = state;
  const SmUpdatePlan *u = &plan->update;
  SmUpdateGrouping *g = &st->grouping;
  gsize grow = (gsize) s->shape.cols * sm_dtype_size (u->delta_dtype);
  guint32 g0 = 0;
  gboolean queued = FALSE;
  GError *cause = NULL;
  SmOptimArgs args;

  if (!storage_ok (s, error))
    return FALSE;
  if (u->n == 0)
    return TRUE;
  sm_update_grouping_compute (g, u->indices, u->indices_int64, 0, u->n,
      u->skip);
  if (g->n_groups == 0)
    return TRUE;
  if (!CUDA_CHECK (cudaSetDevice (s->device), &cause))
    goto failed;
  if (st->starts_capacity < (gsize) g->n_groups + 1) {
    g_free (st->starts);
    st->starts_capacity = (gsize) g->n_groups + 1;
    st->starts = g_new (guint32, st->starts_capacity);
  }

  sm_optim_args_init (&args, &s->shape, plan, st->dev);
  args.matrix = s->data;

  while (g0 < g->n_groups) {
    Slot *slot = next_slot (s);
    guint32 g1 = g0 + 1, k, i;
    gsize off_start, off_mult, off_grads, total, ng;
    guint8 *dst;

    if (!slot_wait (slot, &cause))
      goto failed;
    /* as many groups as the slot holds; a slot grows for a big group */
    slot_try_grow (s, slot, MIN (optim_chunk_bytes (g, g0, g->n_groups,
                grow), MAX_SLOT_BYTES));
    slot_try_grow (s, slot, optim_chunk_bytes (g, g0, g0 + 1, grow));
    if (optim_chunk_bytes (g, g0, g1, grow) > slot->capacity) {
      g_set_error (&cause, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY, "the %u gradient rows of matrix "
          "row %" G_GUINT64_FORMAT " do not fit a staging buffer",
          g->group_start[g0 + 1] - g->group_start[g0], g->rows[g0]);
      goto failed;
    }
    while (g1 < g->n_groups &&
        optim_chunk_bytes (g, g0, g1 + 1, grow) <= slot->capacity)
      g1++;
    ng = g1 - g0;
    off_start = ALIGN_UP (ng * 8);
    off_mult = off_start + ALIGN_UP ((ng + 1) * 4);
    off_grads = off_mult + ALIGN_UP (ng * 8);
    total = optim_chunk_bytes (g, g0, g1, grow);

    memcpy (slot->host, g->rows + g0, ng * 8);
    for (i = 0; i <= ng; i++)
      st->starts[i] = g->group_start[g0 + i] - g->group_start[g0];
    memcpy (slot->host + off_start, st->starts, (ng + 1) * 4);
    dst = slot->host + off_grads;
    for (k = g->group_start[g0]; k < g->group_start[g1]; k++) {
      memcpy (dst, u->deltas + (gsize) g->order[k] * grow, grow);
      dst += grow;
    }
    if (!CUDA_CHECK (cudaMemcpyAsync (slot->dev, slot->host, total,
                cudaMemcpyHostToDevice, s->stream), &cause) ||
        !CUDA_CHECK (cudaEventRecord (slot->copied, s->stream), &cause))
      goto failed;
    slot->pending = TRUE;

    args.rows = (const uint64_t *) slot->dev;
    args.group_start = (const uint32_t *) (slot->dev + off_start);
    args.row_mult = (double *) (slot->dev + off_mult);
    args.grads = slot->dev + off_grads;
    args.order = NULL;
    args.n_groups = (uint32_t) ng;
    if (!CUDA_CHECK ((cudaError_t) sm_cuda_launch_optimizer (s->stream,
                &args), &cause))
      goto failed;
    queued = TRUE;
    g0 = g1;
  }
  return TRUE;

failed:
  return storage_failed (s, "apply an optimizer step to", queued, cause,
      error);
}

const SmBackendOps sm_backend_cuda = {
  .kind = GST_SHARED_MATRIX_BACKEND_CUDA,
  .create = cuda_create,
  .destroy = cuda_destroy,
  .apply = cuda_apply,
  .read = cuda_read,
  .write = cuda_write,
  .gather = cuda_gather,
  .staging_allocator = cuda_staging_allocator,
  .state_create = cuda_state_create,
  .state_destroy = cuda_state_destroy,
  .state_read = cuda_state_read,
  .state_write = cuda_state_write,
  .optimizer_step = cuda_optimizer_step,
};
