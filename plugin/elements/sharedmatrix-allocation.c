/* gst-sharedmatrix: the sharedmatrix element's ALLOCATION answer
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sharedmatrix-allocation.h"

GST_DEBUG_CATEGORY_EXTERN (gst_shared_matrix_element_debug);
#define GST_CAT_DEFAULT gst_shared_matrix_element_debug

/* the pinned-memory pool offered upstream on the CUDA backend: buffers of
 * this many update records (the classic update has 200 rows) */
#define POOL_RECORDS 256
#define POOL_MIN_BUFFERS 2

/* When @matrix's backend has a staging allocator (pinned host memory on
 * the CUDA backend), offers it upstream, with a pool of its memory sized
 * for POOL_RECORDS records of the query's caps (producers whose updates
 * have another size configure the pool for theirs, or allocate from the
 * allocator). Update data in that memory is copied to the GPU without
 * staging. Returns FALSE when there is nothing to offer (no matrix yet, or
 * the CPU backend). */
gboolean
sm_propose_allocation (GstElement * element, GstSharedMatrix * matrix,
    GstQuery * query)
{
  GstSharedMatrixUpdateInfo info;
  GstAllocator *allocator;
  GstAllocationParams params;
  GstCaps *caps = NULL;
  gboolean need_pool = FALSE;
  gsize size = 0;

  if (matrix == NULL)
    return FALSE;
  allocator = gst_shared_matrix_get_staging_allocator (matrix);
  if (allocator == NULL)
    return FALSE;

  gst_allocation_params_init (&params);
  gst_query_add_allocation_param (query, allocator, &params);
  gst_query_parse_allocation (query, &caps, &need_pool);
  if (gst_shared_matrix_update_info_from_caps (&info, caps))
    size = gst_shared_matrix_update_info_record_size (&info) * POOL_RECORDS;
  if (size > 0 && size <= G_MAXUINT) {
    GstBufferPool *pool = gst_buffer_pool_new ();
    GstStructure *config = gst_buffer_pool_get_config (pool);

    gst_buffer_pool_config_set_params (config, caps, (guint) size,
        POOL_MIN_BUFFERS, 0);
    gst_buffer_pool_config_set_allocator (config, allocator, &params);
    if (gst_buffer_pool_set_config (pool, config))
      gst_query_add_allocation_pool (query, pool, (guint) size,
          POOL_MIN_BUFFERS, 0);
    else
      GST_WARNING_OBJECT (element, "pinned buffer pool rejected its config");
    gst_object_unref (pool);
  }
  GST_DEBUG_OBJECT (element, "offered the %s allocator%s", allocator->mem_type,
      size > 0 ? " and a pool of its memory" : "");
  gst_object_unref (allocator);
  return TRUE;
}
