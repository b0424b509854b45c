/* gst-sharedmatrix: CUDA kernel bodies that also compile as plain C
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every kernel the CUDA backend ships is a `static inline` body here that
 * takes its (block, thread) coordinates explicitly. kernels/scatter.cu wraps
 * each body in a __global__ function passing blockIdx/threadIdx/blockDim/
 * gridDim; tests/check/kernel-emulation.h loops the same coordinates on the
 * CPU, so CI executes exactly the code the GPU runs, without a GPU.
 *
 * Rules for the bodies: only sharedmatrix-ops.h helpers for the arithmetic
 * (the semantics have one definition), no shared memory, no warp intrinsics,
 * no atomics, and no dependency between threads: every output element is
 * written by exactly one thread, so the result cannot depend on how blocks
 * and threads are scheduled. Grid-stride loops make any grid size correct;
 * the launch geometry below only decides speed.
 */
#ifndef SHAREDMATRIX_SCATTER_KERNELS_H
#define SHAREDMATRIX_SCATTER_KERNELS_H

#include "sharedmatrix-ops.h"

/* Threads per block for every kernel. */
#define SM_BLOCK_THREADS 256u
/* CUDA grid limits: gridDim.x up to 2^31 - 1, gridDim.y up to 65535. */
#define SM_GRID_X_MAX 0x7fffffffu
#define SM_GRID_Y_MAX 65535u

/* Copies one element between naturally aligned addresses as one access.
 * Matrix, staging and output elements always are aligned (cudaMalloc'd
 * bases, offsets that are multiples of the element size); memcpy through a
 * char pointer would be a byte loop on the device, which cannot prove it. */
SM_FN void
sm_copy_element (unsigned char *dst, const unsigned char *src, unsigned size)
{
  switch (size) {
    case 8:
      *(uint64_t *) dst = *(const uint64_t *) src;
      break;
    case 4:
      *(uint32_t *) dst = *(const uint32_t *) src;
      break;
    case 2:
      *(uint16_t *) dst = *(const uint16_t *) src;
      break;
    default:
      memcpy (dst, src, size);
      break;
  }
}

/* ---- scatter: apply a row-grouped update ----------------------------------
 *
 * The host groups the occurrences of an update by destination row (a
 * stable grouping, plugin/lib/update-grouping.c): group g is matrix row
 * rows[g], and its occurrences are order[group_start[g] .. group_start[g+1])
 * — positions in the update, ascending, i.e. buffer order. One thread owns
 * one (group, column) element and applies that row's occurrences to it in
 * buffer order, exactly the sequence the CPU backend applies, so every op
 * (set: last wins; the others: all occurrences combine) and every dtype pair
 * gives bit-identical results, with no atomics. */
typedef struct
{
  unsigned char *matrix;        /* rows x row_bytes, row-major */
  const unsigned char *deltas;  /* n x cols deltas of delta_dtype */
  const uint64_t *rows;         /* n_groups destination rows */
  const uint32_t *group_start;  /* n_groups + 1 offsets into order */
  const uint32_t *order;        /* update positions, grouped by row */
  uint64_t row_bytes;           /* cols * dtype size */
  uint32_t n_groups;
  uint32_t cols;
  int32_t dtype;
  int32_t delta_dtype;
  int32_t op;
} SmScatterArgs;

/* Block shape: x over columns, y over groups, so that narrow matrices still
 * fill a block (cols = 4: 4 x 64 threads). */
SM_FN void
sm_scatter_geometry (uint32_t n_groups, uint32_t cols, unsigned *grid_x,
    unsigned *grid_y, unsigned *block_x, unsigned *block_y)
{
  unsigned bx = 1;
  uint64_t gx, gy;

  while (bx < cols && bx < SM_BLOCK_THREADS)
    bx <<= 1;
  *block_x = bx;
  *block_y = SM_BLOCK_THREADS / bx;
  gx = ((uint64_t) n_groups + *block_y - 1) / *block_y;
  gy = ((uint64_t) cols + bx - 1) / bx;
  *grid_x = (unsigned) (gx == 0 ? 1 : gx > SM_GRID_X_MAX ? SM_GRID_X_MAX : gx);
  *grid_y = (unsigned) (gy == 0 ? 1 : gy > SM_GRID_Y_MAX ? SM_GRID_Y_MAX : gy);
}

SM_FN void
sm_scatter_body (unsigned block_x, unsigned block_y, unsigned grid_x,
    unsigned grid_y, unsigned thread_x, unsigned thread_y, unsigned dim_x,
    unsigned dim_y, const SmScatterArgs * a)
{
  unsigned dsize = sm_dtype_size (a->dtype);
  unsigned ssize = sm_dtype_size (a->delta_dtype);
  uint64_t delta_row_bytes = (uint64_t) a->cols * ssize;
  uint64_t g;

  for (g = (uint64_t) block_x * dim_y + thread_y; g < a->n_groups;
      g += (uint64_t) grid_x * dim_y) {
    uint32_t start = a->group_start[g], end = a->group_start[g + 1];
    unsigned char *row = a->matrix + a->rows[g] * a->row_bytes;
    uint64_t j;

    /* set: only the last occurrence can show; the others would be
     * overwritten by it, so skipping them changes no bit */
    if (a->op == SM_OP_SET && end > start)
      start = end - 1;

    for (j = (uint64_t) block_y * dim_x + thread_x; j < a->cols;
        j += (uint64_t) grid_y * dim_x) {
      /* the element lives in a register-sized local across the
       * occurrences; sm_apply_row rounds to the matrix dtype after every
       * one, as the CPU backend's in-place loop does */
      union
      {
        double d;
        float f;
        unsigned char b[8];
      } acc;
      uint32_t k;

      sm_copy_element (acc.b, row + j * dsize, dsize);
      for (k = start; k < end; k++)
        sm_apply_row (a->op, acc.b, a->dtype,
            a->deltas + a->order[k] * delta_row_bytes + j * ssize,
            a->delta_dtype, 1);
      sm_copy_element (row + j * dsize, acc.b, dsize);
    }
  }
}

/* ---- gather: rows by index into a packed output ------------------------- */

typedef struct
{
  const unsigned char *matrix;
  const unsigned char *indices; /* n row indices */
  unsigned char *out;           /* n x row_bytes */
  uint64_t row_bytes;
  uint64_t n;
  uint64_t rows;                /* of the matrix: an index outside
                                 * [0, rows) gives a zero row */
  uint32_t cols;
  int32_t dtype;
  int32_t indices_int64;
} SmGatherArgs;

SM_FN void
sm_gather_geometry (uint64_t n, uint32_t cols, unsigned *grid_x,
    unsigned *grid_y, unsigned *block_x, unsigned *block_y)
{
  /* the same shape as scatter: x over columns, y over rows */
  sm_scatter_geometry (n > 0xffffffffu ? 0xffffffffu : (uint32_t) n, cols,
      grid_x, grid_y, block_x, block_y);
}

SM_FN void
sm_gather_body (unsigned block_x, unsigned block_y, unsigned grid_x,
    unsigned grid_y, unsigned thread_x, unsigned thread_y, unsigned dim_x,
    unsigned dim_y, const SmGatherArgs * a)
{
  unsigned size = sm_dtype_size (a->dtype);
  uint64_t i;

  for (i = (uint64_t) block_x * dim_y + thread_y; i < a->n;
      i += (uint64_t) grid_x * dim_y) {
    /* a negative index wraps to a huge unsigned one: one comparison */
    uint64_t r = (uint64_t) sm_load_index (a->indices, a->indices_int64, i);
    unsigned char *dst = a->out + i * a->row_bytes;
    uint64_t j;

    if (r < a->rows) {
      const unsigned char *src = a->matrix + r * a->row_bytes;

      for (j = (uint64_t) block_y * dim_x + thread_x; j < a->cols;
          j += (uint64_t) grid_y * dim_x)
        sm_copy_element (dst + j * size, src + j * size, size);
    } else {
      /* the invalid-index=zero policy (the library has rejected the read
       * before the launch under the error policy): 0.0 is all-zero bits
       * in every dtype */
      for (j = (uint64_t) block_y * dim_x + thread_x; j < a->cols;
          j += (uint64_t) grid_y * dim_x) {
        uint64_t k;

        for (k = 0; k < size; k++)
          dst[j * size + k] = 0;
      }
    }
  }
}

/* ---- fill: every element of a buffer set to one value ------------------- */

typedef struct
{
  unsigned char *dst;
  uint64_t n_elements;
  union
  {
    uint64_t align;
    unsigned char b[8];         /* the element's bytes */
  } value;
  uint32_t element_size;        /* 2, 4 or 8 */
} SmFillArgs;

SM_FN void
sm_fill_geometry (uint64_t n_elements, unsigned *grid_x, unsigned *block_x)
{
  /* a few waves of blocks; the grid-stride loop covers the rest */
  uint64_t g = (n_elements + SM_BLOCK_THREADS - 1) / SM_BLOCK_THREADS;

  *block_x = SM_BLOCK_THREADS;
  *grid_x = (unsigned) (g == 0 ? 1 : g > 65536 ? 65536 : g);
}

SM_FN void
sm_fill_body (unsigned block_x, unsigned grid_x, unsigned thread_x,
    unsigned dim_x, const SmFillArgs * a)
{
  uint64_t e;

  for (e = (uint64_t) block_x * dim_x + thread_x; e < a->n_elements;
      e += (uint64_t) grid_x * dim_x)
    sm_copy_element (a->dst + e * a->element_size, a->value.b,
        a->element_size);
}

#endif /* SHAREDMATRIX_SCATTER_KERNELS_H */
