/* gst-sharedmatrix: C entry points of the optimizer kernels
 * (kernels/optimizer.cu)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Plain C, as scatter-launch.h: the stream travels as a pointer, CUDA
 * errors come back as ints (0 = cudaSuccess); asynchronous on @stream.
 */
#ifndef SHAREDMATRIX_OPTIMIZER_LAUNCH_H
#define SHAREDMATRIX_OPTIMIZER_LAUNCH_H

#include "optimizer-kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One optimizer step over @args's groups (for rowwise-adagrad both
 * kernels, in order). */
int sm_cuda_launch_optimizer (void *stream, const SmOptimArgs * args);

#ifdef __cplusplus
}
#endif

#endif /* SHAREDMATRIX_OPTIMIZER_LAUNCH_H */
