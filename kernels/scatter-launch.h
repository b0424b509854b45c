/* gst-sharedmatrix: C entry points of the CUDA kernels (kernels/scatter.cu)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Plain C, no CUDA headers: the backend passes its cudaStream_t as a
 * pointer and gets cudaError_t values back as ints (0 = cudaSuccess). Every
 * launch is asynchronous on @stream; the return value reports launch
 * errors only (bad configuration, no kernel image for this GPU), as
 * cudaGetLastError () does.
 */
#ifndef SHAREDMATRIX_SCATTER_LAUNCH_H
#define SHAREDMATRIX_SCATTER_LAUNCH_H

#include "scatter-kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

int sm_cuda_launch_scatter (void *stream, const SmScatterArgs * args);
int sm_cuda_launch_gather (void *stream, const SmGatherArgs * args);
int sm_cuda_launch_fill (void *stream, const SmFillArgs * args);

#ifdef __cplusplus
}
#endif

#endif /* SHAREDMATRIX_SCATTER_LAUNCH_H */
