/* gst-sharedmatrix: CUDA entry points for the kernel bodies
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Only __global__ wrappers and launch code live here: each wrapper passes
 * the CUDA coordinates into a body from scatter-kernels.h, the code the
 * kernel-emulation tests execute on the CPU in CI.
 */
#include <cuda_runtime_api.h>

#include "scatter-launch.h"

__global__ void
sm_scatter_kernel (SmScatterArgs args)
{
  sm_scatter_body (blockIdx.x, blockIdx.y, gridDim.x, gridDim.y,
      threadIdx.x, threadIdx.y, blockDim.x, blockDim.y, &args);
}

__global__ void
sm_gather_kernel (SmGatherArgs args)
{
  sm_gather_body (blockIdx.x, blockIdx.y, gridDim.x, gridDim.y,
      threadIdx.x, threadIdx.y, blockDim.x, blockDim.y, &args);
}

__global__ void
sm_fill_kernel (SmFillArgs args)
{
  sm_fill_body (blockIdx.x, gridDim.x, threadIdx.x, blockDim.x, &args);
}

extern "C" int
sm_cuda_launch_scatter (void *stream, const SmScatterArgs * args)
{
  unsigned gx, gy, bx, by;

  if (args->n_groups == 0)
    return cudaSuccess;
  sm_scatter_geometry (args->n_groups, args->cols, &gx, &gy, &bx, &by);
  sm_scatter_kernel <<< dim3 (gx, gy), dim3 (bx, by), 0,
      (cudaStream_t) stream >>> (*args);
  return (int) cudaGetLastError ();
}

extern "C" int
sm_cuda_launch_gather (void *stream, const SmGatherArgs * args)
{
  unsigned gx, gy, bx, by;

  if (args->n == 0)
    return cudaSuccess;
  sm_gather_geometry (args->n, args->cols, &gx, &gy, &bx, &by);
  sm_gather_kernel <<< dim3 (gx, gy), dim3 (bx, by), 0,
      (cudaStream_t) stream >>> (*args);
  return (int) cudaGetLastError ();
}

extern "C" int
sm_cuda_launch_fill (void *stream, const SmFillArgs * args)
{
  unsigned gx, bx;

  if (args->n_elements == 0)
    return cudaSuccess;
  sm_fill_geometry (args->n_elements, &gx, &bx);
  sm_fill_kernel <<< gx, bx, 0, (cudaStream_t) stream >>> (*args);
  return (int) cudaGetLastError ();
}
