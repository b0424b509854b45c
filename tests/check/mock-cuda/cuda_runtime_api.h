/* gst-sharedmatrix tests: a mock of the subset of the CUDA runtime API that
 * plugin/lib/backend-cuda.c uses
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Compiled in place of the real header for test-cuda-backend-mock.c, so the
 * CUDA backend's host code (staging ring, chunking, slot growth, gather,
 * error paths) runs without a GPU, against kernels executed by the
 * emulation shim. Streams are real queues: copies and kernels run later
 * than they are issued (at a synchronisation, or when the mock decides to
 * make progress), and a copy from pinned memory reads that memory when it
 * runs, not when it is queued, as DMA does. A host buffer reused too early
 * therefore shows up as a wrong result. Faults can be injected into calls
 * and kernels, sticky ones breaking the context as a real device does.
 */
#ifndef MOCK_CUDA_RUNTIME_API_H
#define MOCK_CUDA_RUNTIME_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError
{
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorStubLibrary = 34,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorECCUncorrectable = 214,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
} cudaError_t;

enum cudaMemcpyKind
{
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

struct cudaDeviceProp
{
  char name[256];
  size_t totalGlobalMem;
  int major;
  int minor;
};

enum cudaMemoryType
{
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3,
};

struct cudaPointerAttributes
{
  enum cudaMemoryType type;
  int device;
  void *devicePointer;
  void *hostPointer;
};

typedef struct MockCudaStream *cudaStream_t;
typedef struct MockCudaEvent *cudaEvent_t;

#define cudaHostAllocDefault 0x00
#define cudaHostAllocPortable 0x01
#define cudaStreamNonBlocking 0x01
#define cudaEventDisableTiming 0x02

const char *cudaGetErrorString (cudaError_t err);
const char *cudaGetErrorName (cudaError_t err);
cudaError_t cudaGetLastError (void);
cudaError_t cudaGetDeviceCount (int *count);
cudaError_t cudaGetDeviceProperties (struct cudaDeviceProp *prop, int device);
cudaError_t cudaSetDevice (int device);
cudaError_t cudaMalloc (void **ptr, size_t size);
cudaError_t cudaFree (void *ptr);
cudaError_t cudaHostAlloc (void **ptr, size_t size, unsigned int flags);
cudaError_t cudaFreeHost (void *ptr);
cudaError_t cudaPointerGetAttributes (struct cudaPointerAttributes *attr,
    const void *ptr);
cudaError_t cudaMemGetInfo (size_t *free_bytes, size_t *total);
cudaError_t cudaStreamCreateWithFlags (cudaStream_t *stream,
    unsigned int flags);
cudaError_t cudaStreamSynchronize (cudaStream_t stream);
cudaError_t cudaStreamQuery (cudaStream_t stream);
cudaError_t cudaStreamDestroy (cudaStream_t stream);
cudaError_t cudaEventCreateWithFlags (cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventRecord (cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventSynchronize (cudaEvent_t event);
cudaError_t cudaEventDestroy (cudaEvent_t event);
cudaError_t cudaMemcpyAsync (void *dst, const void *src, size_t bytes,
    enum cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaMemcpy2DAsync (void *dst, size_t dpitch, const void *src,
    size_t spitch, size_t width, size_t height, enum cudaMemcpyKind kind,
    cudaStream_t stream);

/* ---- controls for the tests ---- */
typedef struct
{
  cudaError_t count_error;      /* what cudaGetDeviceCount returns */
  int n_devices;
  int arch;                     /* major * 10 + minor of every device */
  size_t device_bytes;          /* device memory budget */
  unsigned seed;                /* when queued work makes progress on its
                                 * own; 0: never, only when the host waits */
} MockCudaConfig;

void mock_cuda_configure (const MockCudaConfig * config);
/* usage errors the mock detected (freeing memory queued work still uses,
 * copies outside an allocation, ...); NULL when none */
const char *mock_cuda_first_misuse (void);
size_t mock_cuda_device_bytes_in_use (void);
size_t mock_cuda_pinned_bytes_in_use (void);
unsigned long mock_cuda_stream_syncs (void);
unsigned long mock_cuda_event_waits (void);
unsigned long mock_cuda_launches (void);
/* counts host-to-device copies issued from now on whose source lies in
 * [start, start + size) */
void mock_cuda_watch_copies_from (const void *start, size_t size);
unsigned long mock_cuda_watched_copies (void);

/* Where a fault can be injected */
typedef enum
{
  MOCK_CUDA_MEMCPY,             /* cudaMemcpyAsync, cudaMemcpy2DAsync */
  MOCK_CUDA_LAUNCH,             /* a kernel launch (sm_cuda_launch_*) */
  MOCK_CUDA_KERNEL,             /* a kernel when it runs: always sticky, and
                                 * reported by the call during which it ran
                                 * and every later one */
  MOCK_CUDA_STREAM_SYNC,        /* cudaStreamSynchronize */
  MOCK_CUDA_EVENT_SYNC,         /* cudaEventSynchronize */
} MockCudaSite;

/* The @nth time from now (1: the next time) that @site is reached, it fails
 * with @err. With @sticky the context breaks then: queued work is dropped
 * and every call returns @err until the next mock_cuda_configure (), which
 * also cancels a fault that has not struck yet. */
void mock_cuda_inject_fault (MockCudaSite site, unsigned nth, cudaError_t err,
    int sticky);
/* runtime API calls made so far (cudaGetErrorString/Name not counted) */
unsigned long mock_cuda_calls (void);

#ifdef __cplusplus
}
#endif

#endif /* MOCK_CUDA_RUNTIME_API_H */
