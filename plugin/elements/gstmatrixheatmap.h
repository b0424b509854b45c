/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

/**
 * GstMatrixHeatmapRange:
 * @GST_MATRIX_HEATMAP_RANGE_AUTO: per frame, from the smallest to the
 *   largest finite value of the snapshot's matrix
 * @GST_MATRIX_HEATMAP_RANGE_FIXED: from #GstMatrixHeatmap:min to
 *   #GstMatrixHeatmap:max, the same for every frame
 *
 * Which values #GstMatrixHeatmap draws as level 0 and level 255.
 */
typedef enum
{
  GST_MATRIX_HEATMAP_RANGE_AUTO = 0,
  GST_MATRIX_HEATMAP_RANGE_FIXED = 1,
} GstMatrixHeatmapRange;

#define GST_TYPE_MATRIX_HEATMAP (gst_matrix_heatmap_get_type ())
G_DECLARE_FINAL_TYPE (GstMatrixHeatmap, gst_matrix_heatmap, GST,
    MATRIX_HEATMAP, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (matrixheatmap);

G_END_DECLS
