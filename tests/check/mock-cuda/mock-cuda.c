/* gst-sharedmatrix tests: mock CUDA runtime (see cuda_runtime_api.h here)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Also provides the kernel launchers of kernels/scatter-launch.h: a launch
 * queues the kernel body on the stream, and when the queue reaches it the
 * body runs through the emulation shim with the geometry scatter.cu uses.
 */
#include <string.h>

#include <glib.h>

#include "cuda_runtime_api.h"
#include "scatter-launch.h"
#include "optimizer-launch.h"
#include "kernel-emulation.h"

typedef enum
{
  OP_COPY,
  OP_SCATTER,
  OP_GATHER,
  OP_FILL,
  OP_EVENT,
  OP_OPTIM,
} OpKind;

typedef struct
{
  OpKind kind;
  void *dst;
  const void *src;
  size_t bytes;
  guint8 *staged;               /* pageable H2D source, copied at issue */
  SmScatterArgs scatter;
  SmGatherArgs gather;
  SmFillArgs fill;
  SmOptimArgs optim;
  struct MockCudaEvent *event;
} Op;

struct MockCudaStream
{
  GQueue ops;
};

struct MockCudaEvent
{
  gboolean done;
};

static MockCudaConfig config = { cudaSuccess, 1, 90, (size_t) 1 << 30, 1 };

static GHashTable *device_allocs;       /* pointer -> size */
static GHashTable *pinned_allocs;
static GList *streams;
static size_t device_used, pinned_used;
static gchar *misuse;
static cudaError_t last_error;
static guint32 rng = 1;
static unsigned long n_syncs, n_event_waits, n_launches;
static const guint8 *watch_start;
static size_t watch_size;
static unsigned long n_watched;
static unsigned long n_calls;

/* the injected fault, and the error of a broken context (cudaSuccess:
 * working) */
static struct
{
  MockCudaSite site;
  unsigned countdown;           /* 0: none */
  cudaError_t err;
  gboolean sticky;
} fault;
static cudaError_t broken;

static void
ensure_tables (void)
{
  if (device_allocs == NULL) {
    device_allocs = g_hash_table_new (NULL, NULL);
    pinned_allocs = g_hash_table_new (NULL, NULL);
  }
}

static void
report_misuse (const gchar * format, ...) G_GNUC_PRINTF (1, 2);

static void
report_misuse (const gchar * format, ...)
{
  va_list args;

  if (misuse)
    return;
  va_start (args, format);
  misuse = g_strdup_vprintf (format, args);
  va_end (args);
}

void
mock_cuda_configure (const MockCudaConfig * c)
{
  config = *c;
  rng = c->seed ? c->seed : 1;
  fault.countdown = 0;
  broken = last_error = cudaSuccess;
}

void
mock_cuda_inject_fault (MockCudaSite site, unsigned nth, cudaError_t err,
    int sticky)
{
  fault.site = site;
  fault.countdown = nth;
  fault.err = err;
  fault.sticky = sticky || site == MOCK_CUDA_KERNEL;
}

unsigned long
mock_cuda_calls (void)
{
  return n_calls;
}

const char *
mock_cuda_first_misuse (void)
{
  return misuse;
}

size_t
mock_cuda_device_bytes_in_use (void)
{
  return device_used;
}

size_t
mock_cuda_pinned_bytes_in_use (void)
{
  return pinned_used;
}

unsigned long
mock_cuda_stream_syncs (void)
{
  return n_syncs;
}

unsigned long
mock_cuda_event_waits (void)
{
  return n_event_waits;
}

unsigned long
mock_cuda_launches (void)
{
  return n_launches;
}

void
mock_cuda_watch_copies_from (const void *start, size_t size)
{
  watch_start = start;
  watch_size = size;
  n_watched = 0;
}

unsigned long
mock_cuda_watched_copies (void)
{
  return n_watched;
}

static guint32
next_rng (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* The allocation of @table holding [p, p + bytes), or NULL. */
static gboolean
in_alloc (GHashTable * table, const void *p, size_t bytes)
{
  GHashTableIter it;
  gpointer key, value;

  g_hash_table_iter_init (&it, table);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    const guint8 *start = key;

    if ((const guint8 *) p >= start &&
        (const guint8 *) p + bytes <= start + GPOINTER_TO_SIZE (value))
      return TRUE;
  }
  return FALSE;
}

static gboolean
overlaps (const void *p, size_t bytes, const void *start, size_t size)
{
  return (const guint8 *) p < (const guint8 *) start + size &&
      (const guint8 *) start < (const guint8 *) p + MAX (bytes, 1);
}

/* Does queued work still use [start, start + size)? */
static gboolean
queued_work_uses (const void *start, size_t size)
{
  GList *l;

  for (l = streams; l; l = l->next) {
    struct MockCudaStream *s = l->data;
    GList *o;

    for (o = s->ops.head; o; o = o->next) {
      Op *op = o->data;

      switch (op->kind) {
        case OP_COPY:
          if (overlaps (op->dst, op->bytes, start, size) ||
              (!op->staged && overlaps (op->src, op->bytes, start, size)))
            return TRUE;
          break;
        case OP_SCATTER:
          if (overlaps (op->scatter.matrix, 1, start, size) ||
              overlaps (op->scatter.deltas, 1, start, size) ||
              overlaps (op->scatter.rows, 1, start, size) ||
              overlaps (op->scatter.order, 1, start, size) ||
              overlaps (op->scatter.group_start, 1, start, size))
            return TRUE;
          break;
        case OP_GATHER:
          if (overlaps (op->gather.matrix, 1, start, size) ||
              overlaps (op->gather.indices, 1, start, size) ||
              overlaps (op->gather.out, 1, start, size))
            return TRUE;
          break;
        case OP_FILL:
          if (overlaps (op->fill.dst, 1, start, size))
            return TRUE;
          break;
        case OP_OPTIM:
          if (overlaps (op->optim.matrix, 1, start, size) ||
              overlaps (op->optim.state0, 1, start, size) ||
              overlaps (op->optim.state1, 1, start, size) ||
              overlaps (op->optim.grads, 1, start, size) ||
              overlaps (op->optim.rows, 1, start, size) ||
              overlaps (op->optim.group_start, 1, start, size) ||
              overlaps (op->optim.row_mult, 1, start, size))
            return TRUE;
          break;
        case OP_EVENT:
          break;
      }
    }
  }
  return FALSE;
}

static void
free_op (Op * op)
{
  g_free (op->staged);
  g_free (op);
}

/* A sticky error: the device runs nothing more, and every call fails. */
static void
break_context (cudaError_t err)
{
  GList *l;
  Op *op;

  broken = err;
  for (l = streams; l; l = l->next)
    while ((op = g_queue_pop_head (&((struct MockCudaStream *) l->data)->ops)))
      free_op (op);
}

/* Whether the injected fault strikes now, at @site. */
static gboolean
fault_strikes (MockCudaSite site)
{
  if (fault.countdown == 0 || fault.site != site || --fault.countdown > 0)
    return FALSE;
  if (fault.sticky)
    break_context (fault.err);
  return TRUE;
}

/* Size of the device allocation starting at @ptr, 0 when none does. */
static gsize
allocation_size (gconstpointer ptr)
{
  return GPOINTER_TO_SIZE (g_hash_table_lookup (device_allocs, ptr));
}

static void
run_op (Op * op)
{
  SmEmuLaunch l;

  if (op->kind != OP_COPY && op->kind != OP_EVENT &&
      fault_strikes (MOCK_CUDA_KERNEL)) {
    free_op (op);               /* a faulting kernel writes nothing here */
    return;
  }
  switch (op->kind) {
    case OP_COPY:
      memcpy (op->dst, op->staged ? op->staged : op->src, op->bytes);
      break;
    case OP_SCATTER:{
      gsize matrix_bytes = allocation_size (op->scatter.matrix);
      guint32 g;

      /* every destination row inside the matrix allocation */
      for (g = 0; g < op->scatter.n_groups; g++)
        if ((op->scatter.rows[g] + 1) * op->scatter.row_bytes > matrix_bytes) {
          report_misuse ("scatter to row %" G_GUINT64_FORMAT " outside the "
              "matrix allocation", (guint64) op->scatter.rows[g]);
          break;
        }
      if (g < op->scatter.n_groups)
        break;                  /* would write outside the matrix */
      l = sm_emu_scatter_launch (&op->scatter, SM_EMU_SHUFFLED, next_rng ());
      sm_emu_scatter (&l, &op->scatter);
      break;
    }
    case OP_GATHER:{
      /* the kernel reads rows below args.rows only: that bound must lie
       * inside the matrix allocation */
      if (op->gather.rows * op->gather.row_bytes >
          allocation_size (op->gather.matrix)) {
        report_misuse ("gather bounded by %" G_GUINT64_FORMAT " rows, more "
            "than the matrix allocation holds", (guint64) op->gather.rows);
        break;
      }
      l = sm_emu_gather_launch (&op->gather, SM_EMU_REVERSE, 0);
      sm_emu_gather (&l, &op->gather);
      break;
    }
    case OP_FILL:
      l = sm_emu_fill_launch (&op->fill, SM_EMU_FORWARD, 0);
      sm_emu_fill (&l, &op->fill);
      break;
    case OP_OPTIM:
      sm_emu_optim (&op->optim, SM_EMU_SHUFFLED, next_rng ());
      break;
    case OP_EVENT:
      op->event->done = TRUE;
      break;
  }
  free_op (op);
}

static void
run_one (struct MockCudaStream *s)
{
  Op *op = g_queue_pop_head (&s->ops);

  if (op)
    run_op (op);
}

static void
run_all (struct MockCudaStream *s)
{
  while (!g_queue_is_empty (&s->ops))
    run_one (s);
}

/* The "GPU" makes some progress on its own, at random moments (never with
 * seed 0: the laziest device, which runs work only when the host waits). */
static void
maybe_progress (struct MockCudaStream *s)
{
  guint32 r;

  if (config.seed == 0)
    return;
  r = next_rng () % 8;

  while (r-- > 5 && !g_queue_is_empty (&s->ops))
    run_one (s);
}

static void
enqueue (struct MockCudaStream *s, Op * op)
{
  g_queue_push_tail (&s->ops, op);
  maybe_progress (s);
}

/* ---- the runtime API ---------------------------------------------------- */

const char *
cudaGetErrorString (cudaError_t err)
{
  switch (err) {
    case cudaSuccess:
      return "no error";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorStubLibrary:
      return "CUDA driver is a stub library";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorECCUncorrectable:
      return "uncorrectable ECC error encountered";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    default:
      return "mock error";
  }
}

const char *
cudaGetErrorName (cudaError_t err)
{
  switch (err) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInsufficientDriver:
      return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorStubLibrary:
      return "cudaErrorStubLibrary";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorECCUncorrectable:
      return "cudaErrorECCUncorrectable";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    default:
      return "cudaErrorMock";
  }
}

static cudaError_t
fail_with (cudaError_t err)
{
  last_error = err;
  return err;
}

/* Every runtime call starts here: counts the call, and returns what it must
 * fail with: the error of a broken context, or the fault injected at @site,
 * or cudaSuccess. A call with no fault site (-1) fails only on a broken
 * context. */
static cudaError_t
enter (int site)
{
  n_calls++;
  if (broken != cudaSuccess)
    return fail_with (broken);
  if (site >= 0 && fault_strikes (site))
    return fail_with (fault.err);
  return cudaSuccess;
}

/* ... and calls that ran queued work end here: a kernel may have faulted. */
static cudaError_t
leave (void)
{
  return broken != cudaSuccess ? fail_with (broken) : cudaSuccess;
}

cudaError_t
cudaGetLastError (void)
{
  cudaError_t err = last_error;

  n_calls++;
  /* a sticky error cannot be cleared */
  if (broken != cudaSuccess)
    return broken;
  last_error = cudaSuccess;
  return err;
}

cudaError_t
cudaGetDeviceCount (int *count)
{
  n_calls++;
  *count = 0;
  if (config.count_error != cudaSuccess)
    return fail_with (config.count_error);
  *count = config.n_devices;
  return cudaSuccess;
}

cudaError_t
cudaGetDeviceProperties (struct cudaDeviceProp * prop, int device)
{
  if (enter (-1))
    return broken;
  if (device < 0 || device >= config.n_devices)
    return fail_with (cudaErrorInvalidDevice);
  memset (prop, 0, sizeof *prop);
  g_snprintf (prop->name, sizeof prop->name, "Mock GPU %d", device);
  prop->totalGlobalMem = config.device_bytes;
  prop->major = config.arch / 10;
  prop->minor = config.arch % 10;
  return cudaSuccess;
}

cudaError_t
cudaSetDevice (int device)
{
  if (enter (-1))
    return broken;
  if (device < 0 || device >= config.n_devices)
    return fail_with (cudaErrorInvalidDevice);
  return cudaSuccess;
}

cudaError_t
cudaMalloc (void **ptr, size_t size)
{
  ensure_tables ();
  *ptr = NULL;
  if (enter (-1))
    return broken;
  if (size > config.device_bytes - device_used)
    return fail_with (cudaErrorMemoryAllocation);
  /* device memory starts as garbage, not zeros */
  *ptr = g_malloc (MAX (size, 1));
  memset (*ptr, 0xcd, size);
  g_hash_table_insert (device_allocs, *ptr, GSIZE_TO_POINTER (size));
  device_used += size;
  return cudaSuccess;
}

static cudaError_t
free_from (GHashTable * table, void *ptr, size_t * used, const gchar * what)
{
  gpointer size;

  if (ptr == NULL)
    return cudaSuccess;
  if (!g_hash_table_lookup_extended (table, ptr, NULL, &size)) {
    report_misuse ("%s of a pointer that is not an allocation", what);
    return fail_with (cudaErrorInvalidValue);
  }
  g_hash_table_remove (table, ptr);
  *used -= GPOINTER_TO_SIZE (size);
  if (queued_work_uses (ptr, GPOINTER_TO_SIZE (size)))
    /* reported, and kept alive so that the test fails, not crashes */
    report_misuse ("%s of memory that queued work still uses", what);
  else
    g_free (ptr);
  return cudaSuccess;
}

/* Calls that release something release it on a broken context too (the
 * test process goes on), and report the error. */
cudaError_t
cudaFree (void *ptr)
{
  cudaError_t err = enter (-1), freed;

  ensure_tables ();
  freed = free_from (device_allocs, ptr, &device_used, "cudaFree");
  return freed != cudaSuccess ? freed : err;
}

cudaError_t
cudaHostAlloc (void **ptr, size_t size, unsigned int flags)
{
  ensure_tables ();
  *ptr = NULL;
  if (enter (-1))
    return broken;
  *ptr = g_malloc (MAX (size, 1));
  memset (*ptr, 0xab, size);
  g_hash_table_insert (pinned_allocs, *ptr, GSIZE_TO_POINTER (size));
  pinned_used += size;
  return cudaSuccess;
}

cudaError_t
cudaFreeHost (void *ptr)
{
  cudaError_t err = enter (-1), freed;

  ensure_tables ();
  freed = free_from (pinned_allocs, ptr, &pinned_used, "cudaFreeHost");
  return freed != cudaSuccess ? freed : err;
}

cudaError_t
cudaPointerGetAttributes (struct cudaPointerAttributes *attr, const void *ptr)
{
  ensure_tables ();
  memset (attr, 0, sizeof *attr);
  if (enter (-1))
    return broken;
  /* CUDA 11 and later: success for memory CUDA does not know */
  if (in_alloc (pinned_allocs, ptr, 1)) {
    attr->type = cudaMemoryTypeHost;
    attr->hostPointer = (void *) ptr;
  } else if (in_alloc (device_allocs, ptr, 1)) {
    attr->type = cudaMemoryTypeDevice;
    attr->devicePointer = (void *) ptr;
  }
  return cudaSuccess;
}

cudaError_t
cudaMemGetInfo (size_t *free_bytes, size_t *total)
{
  if (enter (-1))
    return broken;
  *free_bytes = config.device_bytes - device_used;
  *total = config.device_bytes;
  return cudaSuccess;
}

cudaError_t
cudaStreamCreateWithFlags (cudaStream_t * stream, unsigned int flags)
{
  struct MockCudaStream *s;

  if (enter (-1))
    return broken;
  s = g_new0 (struct MockCudaStream, 1);
  g_queue_init (&s->ops);
  streams = g_list_prepend (streams, s);
  *stream = s;
  return cudaSuccess;
}

cudaError_t
cudaStreamSynchronize (cudaStream_t stream)
{
  cudaError_t err = enter (MOCK_CUDA_STREAM_SYNC);

  if (err)
    return err;
  n_syncs++;
  run_all (stream);
  return leave ();
}

cudaError_t
cudaStreamQuery (cudaStream_t stream)
{
  if (enter (-1))
    return broken;
  /* "not ready" is an answer: not recorded as the last error */
  return g_queue_is_empty (&stream->ops) ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t
cudaStreamDestroy (cudaStream_t stream)
{
  cudaError_t err = enter (-1);

  run_all (stream);
  streams = g_list_remove (streams, stream);
  g_free (stream);
  return err != cudaSuccess ? err : leave ();
}

cudaError_t
cudaEventCreateWithFlags (cudaEvent_t * event, unsigned int flags)
{
  if (enter (-1))
    return broken;
  *event = g_new0 (struct MockCudaEvent, 1);
  (*event)->done = TRUE;        /* never recorded: already complete */
  return cudaSuccess;
}

cudaError_t
cudaEventRecord (cudaEvent_t event, cudaStream_t stream)
{
  Op *op;

  if (enter (-1))
    return broken;
  op = g_new0 (Op, 1);
  event->done = FALSE;
  op->kind = OP_EVENT;
  op->event = event;
  enqueue (stream, op);
  return leave ();
}

cudaError_t
cudaEventSynchronize (cudaEvent_t event)
{
  cudaError_t err = enter (MOCK_CUDA_EVENT_SYNC);
  GList *l;

  if (err)
    return err;
  n_event_waits++;
  /* run the stream holding the event's marker up to it */
  for (l = streams; l && !event->done; l = l->next) {
    struct MockCudaStream *s = l->data;
    GList *o;
    gboolean here = FALSE;

    for (o = s->ops.head; o; o = o->next)
      if (((Op *) o->data)->kind == OP_EVENT &&
          ((Op *) o->data)->event == event)
        here = TRUE;
    /* a kernel that faults drops the queue, and the event with it */
    while (here && !event->done && !g_queue_is_empty (&s->ops))
      run_one (s);
  }
  return leave ();
}

cudaError_t
cudaEventDestroy (cudaEvent_t event)
{
  cudaError_t err = enter (-1);
  GList *l;

  for (l = streams; l; l = l->next) {
    GList *o;

    for (o = ((struct MockCudaStream *) l->data)->ops.head; o; o = o->next)
      if (((Op *) o->data)->kind == OP_EVENT &&
          ((Op *) o->data)->event == event)
        report_misuse ("cudaEventDestroy of an event still queued");
  }
  g_free (event);
  return err;
}

/* One copy of cudaMemcpyAsync () or one row of cudaMemcpy2DAsync () */
static void
queue_copy (void *dst, const void *src, size_t bytes,
    enum cudaMemcpyKind kind, cudaStream_t stream)
{
  Op *op;

  ensure_tables ();
  if (kind == cudaMemcpyHostToDevice && !in_alloc (device_allocs, dst, bytes))
    report_misuse ("H2D copy of %" G_GSIZE_FORMAT " bytes outside a device "
        "allocation", bytes);
  if (kind == cudaMemcpyDeviceToHost && !in_alloc (device_allocs, src, bytes))
    report_misuse ("D2H copy of %" G_GSIZE_FORMAT " bytes outside a device "
        "allocation", bytes);
  if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToHost)
    report_misuse ("unexpected copy kind %d", kind);

  op = g_new0 (Op, 1);
  op->kind = OP_COPY;
  op->dst = dst;
  op->src = src;
  op->bytes = bytes;
  if (kind == cudaMemcpyHostToDevice && watch_size &&
      (const guint8 *) src >= watch_start &&
      (const guint8 *) src + bytes <= watch_start + watch_size)
    n_watched++;
  if (kind == cudaMemcpyHostToDevice && !in_alloc (pinned_allocs, src, bytes))
    /* pageable source: CUDA stages it before returning */
    op->staged = g_memdup2 (src, bytes);
  enqueue (stream, op);
  if (kind == cudaMemcpyDeviceToHost && !in_alloc (pinned_allocs, dst, bytes)) {
    /* pageable destination: CUDA returns when the copy is done */
    while (g_queue_find (&stream->ops, op))
      run_one (stream);
  }
}

cudaError_t
cudaMemcpyAsync (void *dst, const void *src, size_t bytes,
    enum cudaMemcpyKind kind, cudaStream_t stream)
{
  cudaError_t err = enter (MOCK_CUDA_MEMCPY);

  if (err)
    return err;
  queue_copy (dst, src, bytes, kind, stream);
  return leave ();
}

/* @height rows of @width bytes, @spitch apart at @src and @dpitch apart at
 * @dst: one copy per row, each checked as cudaMemcpyAsync () checks its */
cudaError_t
cudaMemcpy2DAsync (void *dst, size_t dpitch, const void *src, size_t spitch,
    size_t width, size_t height, enum cudaMemcpyKind kind,
    cudaStream_t stream)
{
  cudaError_t err = enter (MOCK_CUDA_MEMCPY);
  size_t r;

  if (err)
    return err;
  if (width > dpitch || width > spitch)
    report_misuse ("cudaMemcpy2DAsync with width %" G_GSIZE_FORMAT
        " above a pitch (%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT ")", width,
        dpitch, spitch);
  for (r = 0; r < height; r++)
    queue_copy ((guint8 *) dst + r * dpitch, (const guint8 *) src +
        r * spitch, width, kind, stream);
  return leave ();
}

/* ---- kernel launchers (kernels/scatter-launch.h) ------------------------ */

/* Like scatter.cu: an empty launch is no launch; otherwise the kernel is
 * queued and the launch returns cudaGetLastError (), so an error left in
 * the last-error slot by an earlier call is reported here, as on a GPU. */
static int
launch (void *stream, Op * op)
{
  cudaError_t err = enter (MOCK_CUDA_LAUNCH);

  if (err) {
    free_op (op);
    return err;
  }
  n_launches++;
  enqueue (stream, op);
  return cudaGetLastError ();
}

int
sm_cuda_launch_scatter (void *stream, const SmScatterArgs * args)
{
  Op *op;

  if (args->n_groups == 0)
    return cudaSuccess;
  op = g_new0 (Op, 1);
  op->kind = OP_SCATTER;
  op->scatter = *args;
  return launch (stream, op);
}

int
sm_cuda_launch_gather (void *stream, const SmGatherArgs * args)
{
  Op *op;

  if (args->n == 0)
    return cudaSuccess;
  op = g_new0 (Op, 1);
  op->kind = OP_GATHER;
  op->gather = *args;
  return launch (stream, op);
}

int
sm_cuda_launch_fill (void *stream, const SmFillArgs * args)
{
  Op *op;

  if (args->n_elements == 0)
    return cudaSuccess;
  op = g_new0 (Op, 1);
  op->kind = OP_FILL;
  op->fill = *args;
  return launch (stream, op);
}

int
sm_cuda_launch_optimizer (void *stream, const SmOptimArgs * args)
{
  Op *op;

  if (args->n_groups == 0)
    return cudaSuccess;
  op = g_new0 (Op, 1);
  op->kind = OP_OPTIM;
  op->optim = *args;
  return launch (stream, op);
}
