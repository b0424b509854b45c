/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-matrixheatmap
 * @title: matrixheatmap
 * @see_also: sharedmatrix
 *
 * matrixheatmap draws each matrix snapshot it receives as one video frame,
 * so a model can be watched while it learns. Input is what `sharedmatrix`
 * pushes: `other/tensors` holding one row-major tensor of float32, float64,
 * float16 or bfloat16 with `dimensions=<cols>:<rows>` (NNStreamer's order,
 * innermost first; further dimensions must be 1). Image x is the matrix
 * column, image y the matrix row, row 0 at the top.
 *
 * Output is `video/x-raw` in one of two formats: RGB (the default) paints
 * each level with matplotlib's viridis colour map, which is perceptually
 * uniform and stays readable in grey scale and for colour-blind viewers
 * (level 0 is #440154, 128 #21918c, 255 #fde725); GRAY8 writes the level
 * itself. Each frame keeps the timestamps and the OFFSET (the matrix
 * version) of its snapshot; the frame rate is the input's (0/1 from
 * `sharedmatrix`: snapshots are irregular).
 *
 * ## Image size
 *
 * Width and height are whatever downstream asks for, e.g. through a
 * capsfilter `video/x-raw,width=256,height=256`. A dimension downstream
 * leaves open becomes the matrix's size in that dimension, capped at 1024
 * pixels, each dimension on its own: a 300-row × 20-column matrix gives a
 * 20 × 300 image, a 70000 × 100 one a 100 × 1024 image. The aspect ratio is
 * not kept, as a 700:1 matrix would otherwise be one pixel wide.
 *
 * ## Scaling
 *
 * Each dimension is scaled on its own; say n matrix cells become N pixels.
 *
 * - N ≤ n, box filter: pixel i covers the cells ⌊i·n/N⌋ … ⌊(i+1)·n/N⌋ − 1.
 *   Every cell counts in exactly one pixel; when N does not divide n the
 *   blocks hold ⌊n/N⌋ or ⌈n/N⌉ cells.
 * - N > n, nearest: pixel i shows cell ⌊i·n/N⌋, so each cell is repeated
 *   ⌊N/n⌋ or ⌈N/n⌉ times.
 *
 * A pixel is the mean, in double precision, of all the cells of its block
 * (its rows × its columns). In numpy terms, along each axis:
 * `np.add.reduceat (a, np.arange (N) * n // N)` divided by the block sizes.
 *
 * ## Values to levels
 *
 * A pixel's mean v becomes the level ⌊(v − lo) × 255 / (hi − lo) + 0.5⌋
 * (round half up), clamped to 0 … 255, where lo and hi are:
 *
 * - #GstMatrixHeatmap:range = `auto` (default): the smallest and largest
 *   finite cell of the snapshot's matrix. Block means lie between them, so a
 *   downscaled image need not reach 0 or 255. When lo = hi (a constant
 *   matrix, or one without finite cells) every pixel is 0, as in matplotlib.
 * - `range=fixed`: #GstMatrixHeatmap:min and #GstMatrixHeatmap:max (default
 *   −1 and 1), the same for every frame, so frames compare; min must be less
 *   than max. Values outside are clamped.
 *
 * NaN is drawn 0: a block holding a NaN cell has a NaN mean (so has one
 * holding both +∞ and −∞). Otherwise +∞ is drawn 255 and −∞ 0 (all 0 when
 * lo = hi); neither counts for the auto range. The three properties can
 * change while playing.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 updatetestsrc num-buffers=100 distribution=zipf rows=2000 ! sharedmatrix rows=2000 cols=100 snapshot-every=10 ! matrixheatmap ! videoconvert ! pngenc ! multifilesink location=heat-%05d.png
 * ]| Writes a 100 × 1024 viridis heat map of the matrix after every 10
 * updates (and at EOS): the popular rows at the top stand out.
 * |[
 * gst-launch-1.0 … ! sharedmatrix snapshot-every=10 ! matrixheatmap range=fixed min=-5 max=5 ! video/x-raw,format=GRAY8,width=256,height=256 ! …
 * ]| 256 × 256 grey frames on a fixed scale.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include <gst/video/video.h>

#include "gstmatrixheatmap.h"
#include "gstsharedmatrix-elements-enumtypes.h"
#include "gstsharedmatrixtypes.h"
#include "gstsharedmatrixinfo.h"
#include "sharedmatrix-ops.h"

GST_DEBUG_CATEGORY_STATIC (gst_matrix_heatmap_debug);
#define GST_CAT_DEFAULT gst_matrix_heatmap_debug

#define DEFAULT_PROP_RANGE GST_MATRIX_HEATMAP_RANGE_AUTO
#define DEFAULT_PROP_MIN -1.0
#define DEFAULT_PROP_MAX 1.0

/* a dimension downstream leaves open: the matrix size, at most this */
#define DEFAULT_MAX_SIZE 1024

enum
{
  PROP_0,
  PROP_RANGE,
  PROP_MIN,
  PROP_MAX,
};

typedef struct
{
  GstMatrixHeatmapRange range;
  gdouble min;
  gdouble max;
} Settings;

struct _GstMatrixHeatmap
{
  GstBaseTransform parent;

  /* properties, under the object lock */
  Settings settings;

  /* Streaming state, set in set_caps and freed in stop. The matrix is
   * box-filtered into a grid of gw × gh block means (gw = MIN (width, cols),
   * gh = MIN (height, rows)), which pixels then repeat when the image is
   * larger than the matrix. */
  GstSharedMatrixDType dtype;
  guint64 rows;
  guint cols;
  gsize in_size;
  GstVideoInfo out_info;
  guint gw, gh;
  guint *col_start;             /* gw + 1: grid column -> first matrix column */
  gdouble *inv_cols;            /* gw: 1 / columns in the grid column */
  guint *x_grid;                /* width: pixel x -> grid column */
  gdouble *col_sums;            /* cols: sums over the rows of a grid row */
  gdouble *col_lo, *col_hi;     /* cols: finite range of each column */
  gdouble *means;               /* gw × gh */
  guint8 *levels;               /* gw × gh */
};

/* snapshots of any rate: a sharedmatrix says 0/1, a videorate may set one */
#define TENSORS_CAPS GST_SHARED_MATRIX_TENSOR_CAPS_MAKE ("[ 0/1, MAX ]")

#define VIDEO_CAPS "video/x-raw, format = (string) { RGB, GRAY8 }, " \
    "width = (int) [ 1, MAX ], height = (int) [ 1, MAX ], " \
    "framerate = (fraction) [ 0/1, MAX ], pixel-aspect-ratio = (fraction) 1/1"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (TENSORS_CAPS));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (VIDEO_CAPS));

/* matplotlib's viridis (van der Walt & Smith), _viridis_data in
 * matplotlib/_cm_listed.py, released under CC0; each component × 255,
 * rounded to nearest. */
static const guint8 viridis[256][3] = {
  {0x44, 0x01, 0x54}, {0x44, 0x02, 0x56}, {0x45, 0x04, 0x57}, {0x45, 0x05, 0x59},
  {0x46, 0x07, 0x5a}, {0x46, 0x08, 0x5c}, {0x46, 0x0a, 0x5d}, {0x46, 0x0b, 0x5e},
  {0x47, 0x0d, 0x60}, {0x47, 0x0e, 0x61}, {0x47, 0x10, 0x63}, {0x47, 0x11, 0x64},
  {0x47, 0x13, 0x65}, {0x48, 0x14, 0x67}, {0x48, 0x16, 0x68}, {0x48, 0x17, 0x69},
  {0x48, 0x18, 0x6a}, {0x48, 0x1a, 0x6c}, {0x48, 0x1b, 0x6d}, {0x48, 0x1c, 0x6e},
  {0x48, 0x1d, 0x6f}, {0x48, 0x1f, 0x70}, {0x48, 0x20, 0x71}, {0x48, 0x21, 0x73},
  {0x48, 0x23, 0x74}, {0x48, 0x24, 0x75}, {0x48, 0x25, 0x76}, {0x48, 0x26, 0x77},
  {0x48, 0x28, 0x78}, {0x48, 0x29, 0x79}, {0x47, 0x2a, 0x7a}, {0x47, 0x2c, 0x7a},
  {0x47, 0x2d, 0x7b}, {0x47, 0x2e, 0x7c}, {0x47, 0x2f, 0x7d}, {0x46, 0x30, 0x7e},
  {0x46, 0x32, 0x7e}, {0x46, 0x33, 0x7f}, {0x46, 0x34, 0x80}, {0x45, 0x35, 0x81},
  {0x45, 0x37, 0x81}, {0x45, 0x38, 0x82}, {0x44, 0x39, 0x83}, {0x44, 0x3a, 0x83},
  {0x44, 0x3b, 0x84}, {0x43, 0x3d, 0x84}, {0x43, 0x3e, 0x85}, {0x42, 0x3f, 0x85},
  {0x42, 0x40, 0x86}, {0x42, 0x41, 0x86}, {0x41, 0x42, 0x87}, {0x41, 0x44, 0x87},
  {0x40, 0x45, 0x88}, {0x40, 0x46, 0x88}, {0x3f, 0x47, 0x88}, {0x3f, 0x48, 0x89},
  {0x3e, 0x49, 0x89}, {0x3e, 0x4a, 0x89}, {0x3e, 0x4c, 0x8a}, {0x3d, 0x4d, 0x8a},
  {0x3d, 0x4e, 0x8a}, {0x3c, 0x4f, 0x8a}, {0x3c, 0x50, 0x8b}, {0x3b, 0x51, 0x8b},
  {0x3b, 0x52, 0x8b}, {0x3a, 0x53, 0x8b}, {0x3a, 0x54, 0x8c}, {0x39, 0x55, 0x8c},
  {0x39, 0x56, 0x8c}, {0x38, 0x58, 0x8c}, {0x38, 0x59, 0x8c}, {0x37, 0x5a, 0x8c},
  {0x37, 0x5b, 0x8d}, {0x36, 0x5c, 0x8d}, {0x36, 0x5d, 0x8d}, {0x35, 0x5e, 0x8d},
  {0x35, 0x5f, 0x8d}, {0x34, 0x60, 0x8d}, {0x34, 0x61, 0x8d}, {0x33, 0x62, 0x8d},
  {0x33, 0x63, 0x8d}, {0x32, 0x64, 0x8e}, {0x32, 0x65, 0x8e}, {0x31, 0x66, 0x8e},
  {0x31, 0x67, 0x8e}, {0x31, 0x68, 0x8e}, {0x30, 0x69, 0x8e}, {0x30, 0x6a, 0x8e},
  {0x2f, 0x6b, 0x8e}, {0x2f, 0x6c, 0x8e}, {0x2e, 0x6d, 0x8e}, {0x2e, 0x6e, 0x8e},
  {0x2e, 0x6f, 0x8e}, {0x2d, 0x70, 0x8e}, {0x2d, 0x71, 0x8e}, {0x2c, 0x71, 0x8e},
  {0x2c, 0x72, 0x8e}, {0x2c, 0x73, 0x8e}, {0x2b, 0x74, 0x8e}, {0x2b, 0x75, 0x8e},
  {0x2a, 0x76, 0x8e}, {0x2a, 0x77, 0x8e}, {0x2a, 0x78, 0x8e}, {0x29, 0x79, 0x8e},
  {0x29, 0x7a, 0x8e}, {0x29, 0x7b, 0x8e}, {0x28, 0x7c, 0x8e}, {0x28, 0x7d, 0x8e},
  {0x27, 0x7e, 0x8e}, {0x27, 0x7f, 0x8e}, {0x27, 0x80, 0x8e}, {0x26, 0x81, 0x8e},
  {0x26, 0x82, 0x8e}, {0x26, 0x82, 0x8e}, {0x25, 0x83, 0x8e}, {0x25, 0x84, 0x8e},
  {0x25, 0x85, 0x8e}, {0x24, 0x86, 0x8e}, {0x24, 0x87, 0x8e}, {0x23, 0x88, 0x8e},
  {0x23, 0x89, 0x8e}, {0x23, 0x8a, 0x8d}, {0x22, 0x8b, 0x8d}, {0x22, 0x8c, 0x8d},
  {0x22, 0x8d, 0x8d}, {0x21, 0x8e, 0x8d}, {0x21, 0x8f, 0x8d}, {0x21, 0x90, 0x8d},
  {0x21, 0x91, 0x8c}, {0x20, 0x92, 0x8c}, {0x20, 0x92, 0x8c}, {0x20, 0x93, 0x8c},
  {0x1f, 0x94, 0x8c}, {0x1f, 0x95, 0x8b}, {0x1f, 0x96, 0x8b}, {0x1f, 0x97, 0x8b},
  {0x1f, 0x98, 0x8b}, {0x1f, 0x99, 0x8a}, {0x1f, 0x9a, 0x8a}, {0x1e, 0x9b, 0x8a},
  {0x1e, 0x9c, 0x89}, {0x1e, 0x9d, 0x89}, {0x1f, 0x9e, 0x89}, {0x1f, 0x9f, 0x88},
  {0x1f, 0xa0, 0x88}, {0x1f, 0xa1, 0x88}, {0x1f, 0xa1, 0x87}, {0x1f, 0xa2, 0x87},
  {0x20, 0xa3, 0x86}, {0x20, 0xa4, 0x86}, {0x21, 0xa5, 0x85}, {0x21, 0xa6, 0x85},
  {0x22, 0xa7, 0x85}, {0x22, 0xa8, 0x84}, {0x23, 0xa9, 0x83}, {0x24, 0xaa, 0x83},
  {0x25, 0xab, 0x82}, {0x25, 0xac, 0x82}, {0x26, 0xad, 0x81}, {0x27, 0xad, 0x81},
  {0x28, 0xae, 0x80}, {0x29, 0xaf, 0x7f}, {0x2a, 0xb0, 0x7f}, {0x2c, 0xb1, 0x7e},
  {0x2d, 0xb2, 0x7d}, {0x2e, 0xb3, 0x7c}, {0x2f, 0xb4, 0x7c}, {0x31, 0xb5, 0x7b},
  {0x32, 0xb6, 0x7a}, {0x34, 0xb6, 0x79}, {0x35, 0xb7, 0x79}, {0x37, 0xb8, 0x78},
  {0x38, 0xb9, 0x77}, {0x3a, 0xba, 0x76}, {0x3b, 0xbb, 0x75}, {0x3d, 0xbc, 0x74},
  {0x3f, 0xbc, 0x73}, {0x40, 0xbd, 0x72}, {0x42, 0xbe, 0x71}, {0x44, 0xbf, 0x70},
  {0x46, 0xc0, 0x6f}, {0x48, 0xc1, 0x6e}, {0x4a, 0xc1, 0x6d}, {0x4c, 0xc2, 0x6c},
  {0x4e, 0xc3, 0x6b}, {0x50, 0xc4, 0x6a}, {0x52, 0xc5, 0x69}, {0x54, 0xc5, 0x68},
  {0x56, 0xc6, 0x67}, {0x58, 0xc7, 0x65}, {0x5a, 0xc8, 0x64}, {0x5c, 0xc8, 0x63},
  {0x5e, 0xc9, 0x62}, {0x60, 0xca, 0x60}, {0x63, 0xcb, 0x5f}, {0x65, 0xcb, 0x5e},
  {0x67, 0xcc, 0x5c}, {0x69, 0xcd, 0x5b}, {0x6c, 0xcd, 0x5a}, {0x6e, 0xce, 0x58},
  {0x70, 0xcf, 0x57}, {0x73, 0xd0, 0x56}, {0x75, 0xd0, 0x54}, {0x77, 0xd1, 0x53},
  {0x7a, 0xd1, 0x51}, {0x7c, 0xd2, 0x50}, {0x7f, 0xd3, 0x4e}, {0x81, 0xd3, 0x4d},
  {0x84, 0xd4, 0x4b}, {0x86, 0xd5, 0x49}, {0x89, 0xd5, 0x48}, {0x8b, 0xd6, 0x46},
  {0x8e, 0xd6, 0x45}, {0x90, 0xd7, 0x43}, {0x93, 0xd7, 0x41}, {0x95, 0xd8, 0x40},
  {0x98, 0xd8, 0x3e}, {0x9b, 0xd9, 0x3c}, {0x9d, 0xd9, 0x3b}, {0xa0, 0xda, 0x39},
  {0xa2, 0xda, 0x37}, {0xa5, 0xdb, 0x36}, {0xa8, 0xdb, 0x34}, {0xaa, 0xdc, 0x32},
  {0xad, 0xdc, 0x30}, {0xb0, 0xdd, 0x2f}, {0xb2, 0xdd, 0x2d}, {0xb5, 0xde, 0x2b},
  {0xb8, 0xde, 0x29}, {0xba, 0xde, 0x28}, {0xbd, 0xdf, 0x26}, {0xc0, 0xdf, 0x25},
  {0xc2, 0xdf, 0x23}, {0xc5, 0xe0, 0x21}, {0xc8, 0xe0, 0x20}, {0xca, 0xe1, 0x1f},
  {0xcd, 0xe1, 0x1d}, {0xd0, 0xe1, 0x1c}, {0xd2, 0xe2, 0x1b}, {0xd5, 0xe2, 0x1a},
  {0xd8, 0xe2, 0x19}, {0xda, 0xe3, 0x19}, {0xdd, 0xe3, 0x18}, {0xdf, 0xe3, 0x18},
  {0xe2, 0xe4, 0x18}, {0xe5, 0xe4, 0x19}, {0xe7, 0xe4, 0x19}, {0xea, 0xe5, 0x1a},
  {0xec, 0xe5, 0x1b}, {0xef, 0xe5, 0x1c}, {0xf1, 0xe5, 0x1d}, {0xf4, 0xe6, 0x1e},
  {0xf6, 0xe6, 0x20}, {0xf8, 0xe6, 0x21}, {0xfb, 0xe7, 0x23}, {0xfd, 0xe7, 0x25},
};

#define gst_matrix_heatmap_parent_class parent_class
G_DEFINE_TYPE (GstMatrixHeatmap, gst_matrix_heatmap, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (matrixheatmap, "matrixheatmap",
    GST_RANK_NONE, GST_TYPE_MATRIX_HEATMAP,
    GST_DEBUG_CATEGORY_INIT (gst_matrix_heatmap_debug, "matrixheatmap", 0,
        "Matrix heat map"));

/* ---- caps ---------------------------------------------------------------- */

/* The matrix described by fixed other/tensors caps. */
static gboolean
parse_tensor_caps (GstCaps * caps, GstSharedMatrixTensorInfo * info)
{
  return gst_shared_matrix_tensor_info_from_caps (info, caps) &&
      info->format == GST_SHARED_MATRIX_FORMAT_RAW;
}

/* Any matrix becomes any image size and back; only the frame rate carries
 * over. */
static GstCaps *
gst_matrix_heatmap_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  GstPad *other = direction == GST_PAD_SINK ? trans->srcpad : trans->sinkpad;
  GstCaps *templ = gst_pad_get_pad_template_caps (other);
  GstCaps *ret = gst_caps_new_empty ();
  guint i;

  for (i = 0; i < gst_caps_get_size (caps); i++) {
    const GValue *rate =
        gst_structure_get_value (gst_caps_get_structure (caps, i), "framerate");
    GstStructure *s = gst_structure_copy (gst_caps_get_structure (templ, 0));

    if (rate)
      gst_structure_set_value (s, "framerate", rate);
    ret = gst_caps_merge_structure (ret, s);
  }
  gst_caps_unref (templ);

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, ret,
        GST_CAPS_INTERSECT_FIRST);

    gst_caps_unref (ret);
    ret = tmp;
  }
  GST_DEBUG_OBJECT (trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, ret);
  return ret;
}

/* Sizes downstream leaves open: one pixel per cell, at most
 * DEFAULT_MAX_SIZE, each dimension on its own. RGB unless asked for GRAY8. */
static GstCaps *
gst_matrix_heatmap_fixate_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * othercaps)
{
  GstSharedMatrixTensorInfo info;

  othercaps = gst_caps_truncate (othercaps);
  if (direction == GST_PAD_SINK && parse_tensor_caps (caps, &info)) {
    GstStructure *s = gst_caps_get_structure (othercaps, 0);

    gst_structure_fixate_field_nearest_int (s, "width",
        MIN (info.cols, DEFAULT_MAX_SIZE));
    gst_structure_fixate_field_nearest_int (s, "height",
        MIN (info.rows, DEFAULT_MAX_SIZE));
    gst_structure_fixate_field_string (s, "format", "RGB");
  }
  return gst_caps_fixate (othercaps);
}

static gboolean
gst_matrix_heatmap_transform_size (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, gsize size, GstCaps * othercaps,
    gsize * othersize)
{
  GstVideoInfo info;

  if (direction != GST_PAD_SINK || !gst_video_info_from_caps (&info, othercaps))
    return FALSE;
  *othersize = GST_VIDEO_INFO_SIZE (&info);
  return TRUE;
}

/* ⌊i·n/N⌋ without overflowing 64 bits (i < N ≤ G_MAXINT + 1) */
static inline guint64
bin_start (guint64 i, guint64 n, guint64 N)
{
  return i * (n / N) + i * (n % N) / N;
}

static void
free_tables (GstMatrixHeatmap * self)
{
  g_clear_pointer (&self->col_start, g_free);
  g_clear_pointer (&self->inv_cols, g_free);
  g_clear_pointer (&self->x_grid, g_free);
  g_clear_pointer (&self->col_sums, g_free);
  g_clear_pointer (&self->col_lo, g_free);
  g_clear_pointer (&self->col_hi, g_free);
  g_clear_pointer (&self->means, g_free);
  g_clear_pointer (&self->levels, g_free);
}

static gboolean
gst_matrix_heatmap_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstMatrixHeatmap *self = GST_MATRIX_HEATMAP (trans);
  GstSharedMatrixTensorInfo info;
  guint64 rows;
  gsize size;
  guint cols, width, gx, x;

  if (!parse_tensor_caps (incaps, &info))
    goto unsupported_tensor;
  size = gst_shared_matrix_tensor_info_get_size (&info);
  if (size == 0)
    goto too_large;
  if (!gst_video_info_from_caps (&self->out_info, outcaps))
    goto unsupported_video;

  self->dtype = info.dtype;
  rows = info.rows;
  cols = info.cols;
  self->rows = rows;
  self->cols = cols;
  self->in_size = size;
  width = GST_VIDEO_INFO_WIDTH (&self->out_info);
  self->gw = MIN (width, cols);
  self->gh = MIN ((guint64) GST_VIDEO_INFO_HEIGHT (&self->out_info), rows);

  free_tables (self);
  self->col_start = g_new (guint, self->gw + 1);
  self->inv_cols = g_new (gdouble, self->gw);
  for (gx = 0; gx <= self->gw; gx++)
    self->col_start[gx] = bin_start (gx, cols, self->gw);
  for (gx = 0; gx < self->gw; gx++)
    self->inv_cols[gx] = 1.0 / (self->col_start[gx + 1] - self->col_start[gx]);
  self->x_grid = g_new (guint, width);
  for (x = 0; x < width; x++)
    self->x_grid[x] = bin_start (x, self->gw, width);
  self->col_sums = g_new (gdouble, cols);
  self->col_lo = g_new (gdouble, cols);
  self->col_hi = g_new (gdouble, cols);
  self->means = g_new (gdouble, (gsize) self->gw * self->gh);
  self->levels = g_new (guint8, (gsize) self->gw * self->gh);

  GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " x %u %s matrix -> %s %u x %d "
      "image through a %u x %u grid", rows, cols,
      gst_shared_matrix_dtype_to_string (self->dtype),
      GST_VIDEO_INFO_NAME (&self->out_info), width,
      GST_VIDEO_INFO_HEIGHT (&self->out_info), self->gw, self->gh);
  return TRUE;

  /* ERRORS */
unsupported_tensor:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Unsupported snapshot caps %" GST_PTR_FORMAT ": need one tensor of "
            "float32, float64, float16 or bfloat16 with "
            "dimensions=<cols>:<rows>", incaps), (NULL));
    return FALSE;
  }
too_large:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("A %" G_GUINT64_FORMAT " x %u matrix of %s does not fit in memory",
            info.rows, info.cols, gst_shared_matrix_dtype_to_string
            (info.dtype)), (NULL));
    return FALSE;
  }
unsupported_video:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Unsupported video caps %" GST_PTR_FORMAT, outcaps), (NULL));
    return FALSE;
  }
}

/* ---- rendering ----------------------------------------------------------- */

/* Every float16 bit pattern as a float, filled from sm_half_to_float () in
 * class_init: a lookup keeps the conversion's branches out of the row loop
 * (4 times faster). */
static gfloat half_to_float[1 << 16];

/* One cell as a double (unaligned is fine). */
static G_ALWAYS_INLINE inline gdouble
load_cell (const guint8 * p, int dtype)
{
  if (dtype == SM_DTYPE_FLOAT16) {
    guint16 h;

    memcpy (&h, p, 2);
    return half_to_float[h];
  }
  return sm_load (p, dtype);
}

/* Adds one matrix row to the column sums and, when @range, its finite cells
 * to the column ranges. Inlined with a constant @dtype (accumulate_row), so
 * load_cell () becomes one load and the float32, float64 and bfloat16 loops
 * vectorise. */
static G_ALWAYS_INLINE inline void
accumulate_row_as (const guint8 * src, int dtype, guint cols,
    gdouble * restrict sums, gboolean range, gdouble * restrict lo,
    gdouble * restrict hi)
{
  const guint size = sm_dtype_size (dtype);
  guint c;

  if (!range) {
    for (c = 0; c < cols; c++)
      sums[c] += load_cell (src + (gsize) c * size, dtype);
    return;
  }
  for (c = 0; c < cols; c++) {
    gdouble v = load_cell (src + (gsize) c * size, dtype);
    /* v, or NaN for ±inf; NaN fails every comparison: no branch needed */
    gdouble f = v + v * 0.0;

    sums[c] += v;
    lo[c] = f < lo[c] ? f : lo[c];
    hi[c] = f > hi[c] ? f : hi[c];
  }
}

static void
accumulate_row (const guint8 * src, GstSharedMatrixDType dtype, guint cols,
    gdouble * sums, gboolean range, gdouble * lo, gdouble * hi)
{
  switch (dtype) {
    case GST_SHARED_MATRIX_DTYPE_FLOAT32:
      accumulate_row_as (src, SM_DTYPE_FLOAT32, cols, sums, range, lo, hi);
      break;
    case GST_SHARED_MATRIX_DTYPE_FLOAT64:
      accumulate_row_as (src, SM_DTYPE_FLOAT64, cols, sums, range, lo, hi);
      break;
    case GST_SHARED_MATRIX_DTYPE_FLOAT16:
      accumulate_row_as (src, SM_DTYPE_FLOAT16, cols, sums, range, lo, hi);
      break;
    case GST_SHARED_MATRIX_DTYPE_BFLOAT16:
      accumulate_row_as (src, SM_DTYPE_BFLOAT16, cols, sums, range, lo, hi);
      break;
  }
}

/* Box-filters the matrix into the grid of block means and, when @lo is
 * given, finds the smallest and largest finite cell (+inf and -inf when
 * there is none). Each grid row sums its matrix rows column by column: the
 * matrix is read once, in order, and the range is kept per column so that
 * no loop over a row carries a dependency. */
static void
reduce (GstMatrixHeatmap * self, const guint8 * data, gdouble * lo,
    gdouble * hi)
{
  const guint cols = self->cols;
  const gsize row_bytes = (gsize) cols *
      gst_shared_matrix_dtype_size (self->dtype);
  gdouble *sums = self->col_sums;
  guint gy, gx, c;

  for (c = 0; c < cols; c++) {
    self->col_lo[c] = INFINITY;
    self->col_hi[c] = -INFINITY;
  }
  for (gy = 0; gy < self->gh; gy++) {
    guint64 r0 = bin_start (gy, self->rows, self->gh);
    guint64 r1 = bin_start (gy + 1, self->rows, self->gh), r;
    gdouble inv_rows = 1.0 / (r1 - r0);
    gdouble *means = self->means + (gsize) gy * self->gw;

    memset (sums, 0, cols * sizeof (gdouble));
    for (r = r0; r < r1; r++)
      accumulate_row (data + r * row_bytes, self->dtype, cols, sums,
          lo != NULL, self->col_lo, self->col_hi);
    for (gx = 0; gx < self->gw; gx++) {
      gdouble s = 0.0;

      for (c = self->col_start[gx]; c < self->col_start[gx + 1]; c++)
        s += sums[c];
      means[gx] = s * self->inv_cols[gx] * inv_rows;
    }
  }
  if (lo) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (c = 0; c < cols; c++) {
      *lo = MIN (*lo, self->col_lo[c]);
      *hi = MAX (*hi, self->col_hi[c]);
    }
  }
}

/* ⌊(v − lo) × k + 0.5⌋ clamped to 0 … 255; NaN gives 0 */
static inline guint8
to_level (gdouble v, gdouble lo, gdouble k)
{
  gdouble t = (v - lo) * k + 0.5;

  if (!(t >= 1.0))
    return 0;
  if (t >= 255.0)
    return 255;
  return (guint8) t;
}

/* Maps the grid to levels with lo -> 0 and hi -> 255 (all 0 unless
 * lo < hi), then paints each pixel with the level of its grid cell. */
static void
render (GstMatrixHeatmap * self, GstVideoFrame * frame, gdouble lo,
    gdouble hi)
{
  gdouble k = lo < hi ? 255.0 / (hi - lo) : 0.0;
  gsize n = (gsize) self->gw * self->gh, i;
  guint width = GST_VIDEO_FRAME_WIDTH (frame);
  guint height = GST_VIDEO_FRAME_HEIGHT (frame);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  gboolean rgb = GST_VIDEO_FRAME_FORMAT (frame) == GST_VIDEO_FORMAT_RGB;
  guint8 *pixels = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  guint x, y;

  for (i = 0; i < n; i++)
    self->levels[i] = to_level (self->means[i], lo, k);

  for (y = 0; y < height; y++) {
    const guint8 *levels = self->levels +
        (gsize) bin_start (y, self->gh, height) * self->gw;
    guint8 *line = pixels + (gsize) y * stride;

    if (rgb) {
      for (x = 0; x < width; x++)
        memcpy (line + 3 * x, viridis[levels[self->x_grid[x]]], 3);
    } else {
      for (x = 0; x < width; x++)
        line[x] = levels[self->x_grid[x]];
    }
  }
}

static GstFlowReturn
gst_matrix_heatmap_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  GstMatrixHeatmap *self = GST_MATRIX_HEATMAP (trans);
  Settings settings;
  GstMapInfo map;
  GstVideoFrame frame;
  gdouble lo, hi;
  gboolean fixed;

  GST_OBJECT_LOCK (self);
  settings = self->settings;
  GST_OBJECT_UNLOCK (self);
  fixed = settings.range == GST_MATRIX_HEATMAP_RANGE_FIXED;

  if (fixed && !(settings.min < settings.max))
    goto bad_range;
  if (!gst_buffer_map (inbuf, &map, GST_MAP_READ))
    goto map_failed;
  if (map.size != self->in_size)
    goto wrong_size;

  lo = settings.min;
  hi = settings.max;
  reduce (self, map.data, fixed ? NULL : &lo, &hi);
  gst_buffer_unmap (inbuf, &map);

  if (!gst_video_frame_map (&frame, &self->out_info, outbuf, GST_MAP_WRITE))
    goto map_failed;
  render (self, &frame, lo, hi);
  gst_video_frame_unmap (&frame);
  return GST_FLOW_OK;

bad_range:
  GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
      ("range=fixed needs min < max, but min is %g and max %g",
          settings.min, settings.max), (NULL));
  return GST_FLOW_ERROR;
map_failed:
  GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Cannot map a buffer"), (NULL));
  return GST_FLOW_ERROR;
wrong_size:
  GST_ELEMENT_ERROR (self, STREAM, FORMAT,
      ("Snapshot buffer of %" G_GSIZE_FORMAT " bytes, but the caps promise a "
          "%" G_GUINT64_FORMAT " x %u matrix of %s: %" G_GSIZE_FORMAT " bytes",
          map.size, self->rows, self->cols,
          gst_shared_matrix_dtype_to_string (self->dtype), self->in_size),
      (NULL));
  gst_buffer_unmap (inbuf, &map);
  return GST_FLOW_ERROR;
}

static gboolean
gst_matrix_heatmap_stop (GstBaseTransform * trans)
{
  free_tables (GST_MATRIX_HEATMAP (trans));
  return TRUE;
}

/* ---- GObject ------------------------------------------------------------- */

static void
gst_matrix_heatmap_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstMatrixHeatmap *self = GST_MATRIX_HEATMAP (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_RANGE:
      self->settings.range = g_value_get_enum (value);
      break;
    case PROP_MIN:
      self->settings.min = g_value_get_double (value);
      break;
    case PROP_MAX:
      self->settings.max = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_matrix_heatmap_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstMatrixHeatmap *self = GST_MATRIX_HEATMAP (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_RANGE:
      g_value_set_enum (value, self->settings.range);
      break;
    case PROP_MIN:
      g_value_set_double (value, self->settings.min);
      break;
    case PROP_MAX:
      g_value_set_double (value, self->settings.max);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_matrix_heatmap_finalize (GObject * object)
{
  free_tables (GST_MATRIX_HEATMAP (object));
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_matrix_heatmap_class_init (GstMatrixHeatmapClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_PLAYING;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (half_to_float); i++)
    half_to_float[i] = sm_half_to_float (i);

  gobject_class->set_property = gst_matrix_heatmap_set_property;
  gobject_class->get_property = gst_matrix_heatmap_get_property;
  gobject_class->finalize = gst_matrix_heatmap_finalize;

  g_object_class_install_property (gobject_class, PROP_RANGE,
      g_param_spec_enum ("range", "Range",
          "Values drawn as level 0 and 255: per frame the smallest and "
          "largest finite matrix value (auto), or min and max (fixed)",
          GST_TYPE_MATRIX_HEATMAP_RANGE, DEFAULT_PROP_RANGE, flags));
  g_object_class_install_property (gobject_class, PROP_MIN,
      g_param_spec_double ("min", "Minimum",
          "With range=fixed, the value drawn as level 0 (lower values clamp)",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_PROP_MIN, flags));
  g_object_class_install_property (gobject_class, PROP_MAX,
      g_param_spec_double ("max", "Maximum",
          "With range=fixed, the value drawn as level 255 (higher values "
          "clamp); must be greater than min",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_PROP_MAX, flags));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Matrix heat map", "Filter/Converter/Video",
      "Draws matrix snapshots as heat-map video frames (block means, "
      "linear range, GRAY8 or viridis RGB)", "gst-sharedmatrix developers");

  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_matrix_heatmap_transform_caps);
  trans_class->fixate_caps = GST_DEBUG_FUNCPTR (gst_matrix_heatmap_fixate_caps);
  trans_class->transform_size =
      GST_DEBUG_FUNCPTR (gst_matrix_heatmap_transform_size);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_matrix_heatmap_set_caps);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_matrix_heatmap_transform);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_matrix_heatmap_stop);

  gst_type_mark_as_plugin_api (GST_TYPE_MATRIX_HEATMAP_RANGE, 0);
}

static void
gst_matrix_heatmap_init (GstMatrixHeatmap * self)
{
  self->settings.range = DEFAULT_PROP_RANGE;
  self->settings.min = DEFAULT_PROP_MIN;
  self->settings.max = DEFAULT_PROP_MAX;
  gst_video_info_init (&self->out_info);
}
