/* gst-sharedmatrix: the caps <-> info structs
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>

#include "gstsharedmatrix.h"

static GstCaps *
caps (const gchar * str)
{
  GstCaps *c = gst_caps_from_string (str);

  fail_unless (c != NULL, "bad caps string %s", str);
  return c;
}

/* Update info: every dtype and index type through caps and back. */
GST_START_TEST (test_update_info_round_trip)
{
  static const GstSharedMatrixDType dtypes[] = {
    GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_DTYPE_FLOAT64,
    GST_SHARED_MATRIX_DTYPE_FLOAT16, GST_SHARED_MATRIX_DTYPE_BFLOAT16,
  };
  static const GstSharedMatrixIndexType itypes[] = {
    GST_SHARED_MATRIX_INDEX_TYPE_INT32, GST_SHARED_MATRIX_INDEX_TYPE_INT64,
  };
  guint d, i;

  for (d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    for (i = 0; i < G_N_ELEMENTS (itypes); i++) {
      GstSharedMatrixUpdateInfo info, back;
      GstCaps *c, *tmpl;

      gst_shared_matrix_update_info_set_format (&info, dtypes[d], itypes[i],
          100);
      c = gst_shared_matrix_update_info_to_caps (&info);
      fail_unless (c != NULL);
      fail_unless (gst_caps_is_fixed (c));
      /* what the pad templates take */
      tmpl = caps (GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE);
      fail_unless (gst_caps_is_subset (c, tmpl), "%" GST_PTR_FORMAT, c);
      gst_caps_unref (tmpl);

      gst_shared_matrix_update_info_init (&back);
      fail_unless (gst_shared_matrix_update_info_from_caps (&back, c));
      fail_unless (gst_shared_matrix_update_info_is_equal (&info, &back));
      fail_unless_equals_int (back.dtype, dtypes[d]);
      fail_unless_equals_int (back.index_type, itypes[i]);
      fail_unless_equals_int (back.cols, 100);
      gst_caps_unref (c);
    }
  }
}

GST_END_TEST;

GST_START_TEST (test_update_info_from_string)
{
  GstSharedMatrixUpdateInfo info;
  GstCaps *c = caps ("application/x-matrix-update, dtype=(string)bfloat16, "
      "index-type=(string)int64, cols=(int)7");

  fail_unless (gst_shared_matrix_update_info_from_caps (&info, c));
  fail_unless_equals_int (info.dtype, GST_SHARED_MATRIX_DTYPE_BFLOAT16);
  fail_unless_equals_int (info.index_type, GST_SHARED_MATRIX_INDEX_TYPE_INT64);
  fail_unless_equals_int (info.cols, 7);
  gst_caps_unref (c);
}

GST_END_TEST;

/* Refused caps return FALSE and leave the info as it was. */
GST_START_TEST (test_update_info_rejects)
{
  static const gchar *bad[] = {
    /* not fixed */
    GST_SHARED_MATRIX_UPDATE_CAPS_TEMPLATE,
    "application/x-matrix-update, dtype=(string)int8, "
        "index-type=(string)int32, cols=(int)4",
    "application/x-matrix-update, dtype=(string)float32, "
        "index-type=(string)uint32, cols=(int)4",
    "application/x-matrix-update, dtype=(string)float32, "
        "index-type=(string)int32, cols=(int)0",
    "application/x-matrix-update, dtype=(string)float32, "
        "index-type=(string)int32, cols=(int)-3",
    "application/x-matrix-update, dtype=(string)float32, "
        "index-type=(string)int32, cols=(string)4",
    "application/x-matrix-update, dtype=(string)float32, cols=(int)4",
    "application/x-matrix-update, index-type=(string)int32, cols=(int)4",
    "application/x-matrix-update, dtype=(string)float32, "
        "index-type=(string)int32",
    /* another media type with the right fields */
    "application/x-matrix-ids, dtype=(string)float32, "
        "index-type=(string)int32, cols=(int)4",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++) {
    GstSharedMatrixUpdateInfo info, before;
    GstCaps *c = caps (bad[i]);

    gst_shared_matrix_update_info_set_format (&info,
        GST_SHARED_MATRIX_DTYPE_FLOAT64, GST_SHARED_MATRIX_INDEX_TYPE_INT64,
        9);
    before = info;
    fail_if (gst_shared_matrix_update_info_from_caps (&info, c),
        "accepted %s", bad[i]);
    fail_unless (gst_shared_matrix_update_info_is_equal (&info, &before),
        "%s changed the info", bad[i]);
    gst_caps_unref (c);
  }
  fail_if (gst_shared_matrix_update_info_new_from_caps (NULL) != NULL);
}

GST_END_TEST;

GST_START_TEST (test_update_info_record_size)
{
  GstSharedMatrixUpdateInfo info;

  gst_shared_matrix_update_info_init (&info);
  /* no cols yet */
  fail_unless_equals_int (gst_shared_matrix_update_info_record_size (&info), 0);
  fail_unless (gst_shared_matrix_update_info_to_caps (&info) == NULL);

  gst_shared_matrix_update_info_set_format (&info,
      GST_SHARED_MATRIX_DTYPE_FLOAT32, GST_SHARED_MATRIX_INDEX_TYPE_INT32, 100);
  fail_unless_equals_int (gst_shared_matrix_update_info_record_size (&info),
      4 + 400);
  gst_shared_matrix_update_info_set_format (&info,
      GST_SHARED_MATRIX_DTYPE_FLOAT64, GST_SHARED_MATRIX_INDEX_TYPE_INT64, 3);
  fail_unless_equals_int (gst_shared_matrix_update_info_record_size (&info),
      8 + 24);
  gst_shared_matrix_update_info_set_format (&info,
      GST_SHARED_MATRIX_DTYPE_FLOAT16, GST_SHARED_MATRIX_INDEX_TYPE_INT64, 1);
  fail_unless_equals_int (gst_shared_matrix_update_info_record_size (&info),
      8 + 2);
  gst_shared_matrix_update_info_set_format (&info,
      GST_SHARED_MATRIX_DTYPE_BFLOAT16, GST_SHARED_MATRIX_INDEX_TYPE_INT32,
      G_MAXINT);
  fail_unless (gst_shared_matrix_update_info_record_size (&info) ==
      4 + (gsize) G_MAXINT * 2);
}

GST_END_TEST;

GST_START_TEST (test_update_info_boxed)
{
  GstSharedMatrixUpdateInfo *info, *copy;
  GstCaps *c = caps ("application/x-matrix-update, dtype=(string)float16, "
      "index-type=(string)int32, cols=(int)5");
  GValue v = G_VALUE_INIT;

  info = gst_shared_matrix_update_info_new_from_caps (c);
  fail_unless (info != NULL);
  g_value_init (&v, GST_TYPE_SHARED_MATRIX_UPDATE_INFO);
  g_value_set_boxed (&v, info);
  copy = g_value_dup_boxed (&v);
  fail_unless (copy != info);
  fail_unless (gst_shared_matrix_update_info_is_equal (info, copy));
  g_value_unset (&v);
  gst_shared_matrix_update_info_free (copy);
  gst_shared_matrix_update_info_free (info);
  gst_caps_unref (c);
}

GST_END_TEST;

/* Tensor info: raw through caps and back, and the caps sharedmatrix makes. */
GST_START_TEST (test_tensor_info_raw_round_trip)
{
  GstSharedMatrixTensorInfo info, back;
  GstCaps *c, *tmpl, *expected;

  gst_shared_matrix_tensor_info_set_format (&info,
      GST_SHARED_MATRIX_FORMAT_RAW, GST_SHARED_MATRIX_DTYPE_FLOAT16, 70000,
      100);
  c = gst_shared_matrix_tensor_info_to_caps (&info);
  expected = caps ("other/tensors, format=(string)static, num_tensors=(int)1, "
      "types=(string)float16, dimensions=(string)100:70000, "
      "framerate=(fraction)0/1");
  fail_unless (gst_caps_is_equal (c, expected), "%" GST_PTR_FORMAT, c);
  tmpl = caps (GST_SHARED_MATRIX_TENSOR_CAPS_TEMPLATE);
  fail_unless (gst_caps_is_subset (c, tmpl));

  fail_unless (gst_shared_matrix_tensor_info_from_caps (&back, c));
  fail_unless (gst_shared_matrix_tensor_info_is_equal (&info, &back));
  fail_unless_equals_uint64 (gst_shared_matrix_tensor_info_get_size (&back),
      (guint64) 70000 * 100 * 2);
  gst_caps_unref (tmpl);
  gst_caps_unref (expected);
  gst_caps_unref (c);
}

GST_END_TEST;

GST_START_TEST (test_tensor_info_npy)
{
  GstSharedMatrixTensorInfo info, back;
  GstSharedMatrix *m;
  GstCaps *c;

  gst_shared_matrix_tensor_info_set_format (&info,
      GST_SHARED_MATRIX_FORMAT_NPY, GST_SHARED_MATRIX_DTYPE_FLOAT64, 3, 5);
  c = gst_shared_matrix_tensor_info_to_caps (&info);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (c, 0),
          GST_SHARED_MATRIX_NPY_MEDIA_TYPE));
  fail_unless_equals_int (gst_structure_n_fields (gst_caps_get_structure (c,
              0)), 0);
  fail_unless (gst_shared_matrix_tensor_info_from_caps (&back, c));
  fail_unless_equals_int (back.format, GST_SHARED_MATRIX_FORMAT_NPY);
  /* .npy caps carry no shape */
  fail_unless_equals_int (back.rows, 0);
  fail_unless_equals_int (gst_shared_matrix_tensor_info_get_size (&back), 0);
  gst_caps_unref (c);

  /* with a shape, the size is the library's: header + data */
  m = gst_shared_matrix_new (3, 5, GST_SHARED_MATRIX_DTYPE_FLOAT64,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  fail_unless (m != NULL);
  fail_unless_equals_uint64 (gst_shared_matrix_tensor_info_get_size (&info),
      gst_shared_matrix_get_size (m, GST_SHARED_MATRIX_FORMAT_NPY));
  info.format = GST_SHARED_MATRIX_FORMAT_RAW;
  fail_unless_equals_uint64 (gst_shared_matrix_tensor_info_get_size (&info),
      gst_shared_matrix_get_size (m, GST_SHARED_MATRIX_FORMAT_RAW));
  gst_object_unref (m);
}

GST_END_TEST;

/* NNStreamer's dimension strings: rows may be left out, trailing 1s. */
GST_START_TEST (test_tensor_info_dimensions)
{
  GstSharedMatrixTensorInfo info;
  GstCaps *c;

  c = caps ("other/tensors, types=(string)float32, dimensions=(string)8");
  fail_unless (gst_shared_matrix_tensor_info_from_caps (&info, c));
  fail_unless_equals_int (info.cols, 8);
  fail_unless_equals_uint64 (info.rows, 1);
  gst_caps_unref (c);

  c = caps ("other/tensors, format=(string)static, num_tensors=(int)1, "
      "types=(string)bfloat16, dimensions=(string)\"4:6:1:1\"");
  fail_unless (gst_shared_matrix_tensor_info_from_caps (&info, c));
  fail_unless_equals_int (info.cols, 4);
  fail_unless_equals_uint64 (info.rows, 6);
  fail_unless_equals_int (info.dtype, GST_SHARED_MATRIX_DTYPE_BFLOAT16);
  gst_caps_unref (c);
}

GST_END_TEST;

GST_START_TEST (test_tensor_info_rejects)
{
  static const gchar *bad[] = {
    GST_SHARED_MATRIX_TENSOR_CAPS_TEMPLATE,
    "other/tensors, types=(string)float32",
    "other/tensors, types=(string)int8, dimensions=(string)4:4",
    "other/tensors, types=(string)float32, dimensions=(string)0:4",
    "other/tensors, types=(string)float32, dimensions=(string)4:0",
    "other/tensors, types=(string)float32, dimensions=(string)4:4:2",
    "other/tensors, types=(string)float32, dimensions=(string)a:4",
    "other/tensors, types=(string)float32, dimensions=(string)4294967296:4",
    "other/tensors, format=(string)flexible, types=(string)float32, "
        "dimensions=(string)4:4",
    "other/tensors, num_tensors=(int)2, types=(string)float32, "
        "dimensions=(string)4:4",
    "video/x-raw, types=(string)float32, dimensions=(string)4:4",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++) {
    GstSharedMatrixTensorInfo info, before;
    GstCaps *c = caps (bad[i]);

    gst_shared_matrix_tensor_info_set_format (&info,
        GST_SHARED_MATRIX_FORMAT_RAW, GST_SHARED_MATRIX_DTYPE_FLOAT64, 2, 3);
    before = info;
    fail_if (gst_shared_matrix_tensor_info_from_caps (&info, c), "accepted %s",
        bad[i]);
    fail_unless (gst_shared_matrix_tensor_info_is_equal (&info, &before));
    gst_caps_unref (c);
  }

  /* no shape, no caps; too large, no size */
  {
    GstSharedMatrixTensorInfo info;

    gst_shared_matrix_tensor_info_init (&info);
    fail_unless (gst_shared_matrix_tensor_info_to_caps (&info) == NULL);
    fail_unless_equals_int (gst_shared_matrix_tensor_info_get_size (&info), 0);
    gst_shared_matrix_tensor_info_set_format (&info,
        GST_SHARED_MATRIX_FORMAT_RAW, GST_SHARED_MATRIX_DTYPE_FLOAT64,
        G_MAXUINT64 / 2, G_MAXINT);
    fail_unless_equals_int (gst_shared_matrix_tensor_info_get_size (&info), 0);
  }
}

GST_END_TEST;

GST_START_TEST (test_ids_info)
{
  GstSharedMatrixIdsInfo info;
  GstCaps *c, *tmpl;

  info.index_type = GST_SHARED_MATRIX_INDEX_TYPE_INT64;
  c = gst_shared_matrix_ids_info_to_caps (&info);
  tmpl = caps (GST_SHARED_MATRIX_IDS_CAPS_TEMPLATE);
  fail_unless (gst_caps_is_subset (c, tmpl));
  gst_shared_matrix_ids_info_init (&info);
  fail_unless_equals_int (info.index_type, GST_SHARED_MATRIX_INDEX_TYPE_INT32);
  fail_unless (gst_shared_matrix_ids_info_from_caps (&info, c));
  fail_unless_equals_int (info.index_type, GST_SHARED_MATRIX_INDEX_TYPE_INT64);
  gst_caps_unref (c);

  c = caps ("application/x-matrix-ids, index-type=(string)int16");
  fail_if (gst_shared_matrix_ids_info_from_caps (&info, c));
  fail_unless_equals_int (info.index_type, GST_SHARED_MATRIX_INDEX_TYPE_INT64);
  gst_caps_unref (c);
  fail_if (gst_shared_matrix_ids_info_from_caps (&info, tmpl));
  gst_caps_unref (tmpl);
}

GST_END_TEST;

/* NNStreamer's two-tensor updates: types and dimensions parsed, the
 * tensors layout set; packed caps keep the packed layout. */
GST_START_TEST (test_update_info_tensors)
{
  static const gchar *refused[] = {
    "other/tensors, format=static, num_tensors=2, "
        "types=\"int32,bfloat16\", dimensions=\"2,3:2\"",
    "other/tensors, format=static, num_tensors=1, types=float32, "
        "dimensions=3:2",
    "other/tensors, format=static, num_tensors=2, "
        "types=\"int32,float32\", dimensions=\"2,3:4\"",
    "other/tensors, format=static, num_tensors=2, "
        "types=\"int32,float32\", dimensions=\"2:2,3:4\"",
  };
  GstSharedMatrixUpdateInfo info;
  GstCaps *c;
  guint i;

  c = caps ("other/tensors, format=static, num_tensors=2, "
      "types=\"int64,float16\", dimensions=\"1:200,100:200:1:1\", "
      "framerate=0/1");
  fail_unless (gst_shared_matrix_update_info_from_caps (&info, c));
  fail_unless_equals_int (info.layout, GST_SHARED_MATRIX_UPDATE_LAYOUT_TENSORS);
  fail_unless_equals_int (info.index_type, GST_SHARED_MATRIX_INDEX_TYPE_INT64);
  fail_unless_equals_int (info.dtype, GST_SHARED_MATRIX_DTYPE_FLOAT16);
  fail_unless_equals_int (info.cols, 100);
  gst_caps_unref (c);
  c = gst_shared_matrix_update_info_to_caps (&info);
  fail_unless_equals_string (gst_structure_get_string (gst_caps_get_structure
          (c, 0), "types"), "int64,float16");
  gst_caps_unref (c);

  c = caps ("application/x-matrix-update, dtype=float32, index-type=int32, "
      "cols=3");
  fail_unless (gst_shared_matrix_update_info_from_caps (&info, c));
  fail_unless_equals_int (info.layout, GST_SHARED_MATRIX_UPDATE_LAYOUT_PACKED);
  gst_caps_unref (c);

  /* refused: bfloat16, one tensor, N differing, ids of two non-1 dims */
  for (i = 0; i < G_N_ELEMENTS (refused); i++) {
    c = caps (refused[i]);
    fail_if (gst_shared_matrix_update_info_from_caps (&info, c), "%s",
        refused[i]);
    gst_caps_unref (c);
  }
}

GST_END_TEST;

static Suite *
info_suite (void)
{
  Suite *s = suite_create ("sharedmatrix-info");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_update_info_round_trip);
  tcase_add_test (tc, test_update_info_tensors);
  tcase_add_test (tc, test_update_info_from_string);
  tcase_add_test (tc, test_update_info_rejects);
  tcase_add_test (tc, test_update_info_record_size);
  tcase_add_test (tc, test_update_info_boxed);
  tcase_add_test (tc, test_tensor_info_raw_round_trip);
  tcase_add_test (tc, test_tensor_info_npy);
  tcase_add_test (tc, test_tensor_info_dimensions);
  tcase_add_test (tc, test_tensor_info_rejects);
  tcase_add_test (tc, test_ids_info);
  return s;
}

GST_CHECK_MAIN (info);
