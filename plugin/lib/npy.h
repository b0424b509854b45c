/* gst-sharedmatrix: .npy reading and writing (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 * Matrices are 2-D, C order, little-endian. bfloat16 has no numpy dtype: it is
 * stored as the structured dtype [('bfloat16', '<u2')] (the raw bits), which
 * numpy.load reads and which maps back to bfloat16 unambiguously.
 */
#pragma once

#include "gstsharedmatrixtypes.h"

G_BEGIN_DECLS

typedef struct
{
  GstSharedMatrixDType dtype;
  guint64 rows;
  guint cols;
  gboolean fortran_order;
  gboolean big_endian;
  gsize data_offset;            /* bytes from the start of the file to the data */
} SmNpyInfo;

/* Size of the version 1.0 header written for this shape, padded to 64 bytes. */
gsize sm_npy_header_size (GstSharedMatrixDType dtype,
    guint64 rows, guint cols);

/* Write that header into @dest (@size must be the header size). */
void sm_npy_write_header (GstSharedMatrixDType dtype,
    guint64 rows, guint cols, guint8 * dest, gsize size);

/* Parse the header at the start of @data (@size bytes available, possibly the
 * whole file). Untrusted input: never reads past @size, rejects anything that
 * is not a 2-D array of a supported dtype with a clear GError
 * (GST_SHARED_MATRIX_ERROR_NPY). Does not check that the data is complete. */
gboolean sm_npy_parse_header (const guint8 * data, gsize size,
    SmNpyInfo * info, GError ** error);

/* Load a whole .npy file: shape, dtype and the data as row-major little-endian
 * bytes of exactly rows * cols * dtype size (converted from Fortran order or
 * big-endian when needed). Errors name the file. */
/* Read only the header of a .npy file (shape, dtype). Errors name the file. */
gboolean sm_npy_read_header (const gchar * path, SmNpyInfo * info,
    GError ** error);

GBytes *sm_npy_load (const gchar * path,
    SmNpyInfo * info, GError ** error);

G_END_DECLS
