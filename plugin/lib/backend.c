/* gst-sharedmatrix: which backends this build has
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The one place that knows whether the CUDA backend was built
 * (HAVE_CUDA_BACKEND), so that the library object compiles the same way in
 * every build.
 */
#include "backend.h"

const SmBackendOps *
sm_backend_cuda_get (GError ** error)
{
#ifdef HAVE_CUDA_BACKEND
  GError *why = NULL;

  if (sm_backend_cuda_usable (&why))
    return &sm_backend_cuda;
  g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_BACKEND,
      "no GPU is usable: %s", why->message);
  g_clear_error (&why);
#else
  g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_BACKEND,
      "this build of gst-sharedmatrix has no CUDA support");
#endif
  return NULL;
}
