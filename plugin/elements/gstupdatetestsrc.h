/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

/**
 * GstUpdateTestSrcDistribution:
 * @GST_UPDATE_TEST_SRC_DISTRIBUTION_UNIFORM: every row equally likely
 * @GST_UPDATE_TEST_SRC_DISTRIBUTION_ZIPF: row r drawn with probability
 *   proportional to (r + 1)^-s, s = #GstUpdateTestSrc:zipf-exponent
 *   (row 0 is the most popular)
 *
 * How #GstUpdateTestSrc draws the row indices of an update.
 */
typedef enum
{
  GST_UPDATE_TEST_SRC_DISTRIBUTION_UNIFORM = 0,
  GST_UPDATE_TEST_SRC_DISTRIBUTION_ZIPF = 1,
} GstUpdateTestSrcDistribution;

#define GST_TYPE_UPDATE_TEST_SRC (gst_update_test_src_get_type ())
G_DECLARE_FINAL_TYPE (GstUpdateTestSrc, gst_update_test_src, GST,
    UPDATE_TEST_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (updatetestsrc);

G_END_DECLS
