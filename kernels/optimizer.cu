/* gst-sharedmatrix: CUDA entry points for the optimizer kernel bodies
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Only __global__ wrappers and launch code: the bodies are in
 * optimizer-kernels.h, which the kernel-emulation tests run on the CPU.
 */
#include <cuda_runtime_api.h>

#include "optimizer-launch.h"

__global__ void
sm_optim_rowwise_kernel (SmOptimArgs args)
{
  sm_optim_rowwise_body (blockIdx.x, gridDim.x, threadIdx.x, blockDim.x,
      &args);
}

__global__ void
sm_optim_kernel (SmOptimArgs args)
{
  sm_optim_body (blockIdx.x, blockIdx.y, gridDim.x, gridDim.y,
      threadIdx.x, threadIdx.y, blockDim.x, blockDim.y, &args);
}

extern "C" int
sm_cuda_launch_optimizer (void *stream, const SmOptimArgs * args)
{
  unsigned gx, gy, bx, by;
  cudaError_t err;

  if (args->n_groups == 0)
    return cudaSuccess;
  if (args->optimizer == SM_OPTIM_ROWWISE_ADAGRAD) {
    sm_fill_geometry (args->n_groups, &gx, &bx);
    sm_optim_rowwise_kernel <<< gx, bx, 0, (cudaStream_t) stream >>> (*args);
    err = cudaGetLastError ();
    if (err != cudaSuccess)
      return (int) err;
  }
  sm_scatter_geometry (args->n_groups, args->cols, &gx, &gy, &bx, &by);
  sm_optim_kernel <<< dim3 (gx, gy), dim3 (bx, by), 0,
      (cudaStream_t) stream >>> (*args);
  return (int) cudaGetLastError ();
}
