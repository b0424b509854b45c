/* gst-sharedmatrix: process-wide matrix names (library registry)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>

#include "gstsharedmatrixregistry.h"

static gint creations;

static GstSharedMatrix *
create_4x3 (gpointer user_data, GError ** error)
{
  g_atomic_int_inc (&creations);
  /* widen the race window */
  g_usleep (1000);
  return gst_shared_matrix_new (4, 3, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_CPU, error);
}

static GstSharedMatrix *
create_fails (gpointer user_data, GError ** error)
{
  g_set_error (error, GST_SHARED_MATRIX_ERROR,
      GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT, "no");
  return NULL;
}

GST_START_TEST (test_obtain_lookup_and_weak)
{
  GstSharedMatrix *a, *b, *found;
  GError *err = NULL;

  creations = 0;
  fail_unless (gst_shared_matrix_lookup ("reg-a") == NULL);
  a = gst_shared_matrix_obtain_named ("reg-a", create_4x3, NULL, &err);
  fail_unless (a != NULL && err == NULL);
  b = gst_shared_matrix_obtain_named ("reg-a", create_4x3, NULL, &err);
  fail_unless (b == a, "a second obtain made another matrix");
  fail_unless_equals_int (creations, 1);
  found = gst_shared_matrix_lookup ("reg-a");
  fail_unless (found == a);
  gst_object_unref (found);
  gst_object_unref (b);

  /* the registry does not keep it alive: the last user frees it */
  gst_object_unref (a);
  fail_unless (gst_shared_matrix_lookup ("reg-a") == NULL);

  /* a failed creation reports the creator's error and registers nothing */
  fail_unless (gst_shared_matrix_obtain_named ("reg-b", create_fails, NULL,
          &err) == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT));
  g_clear_error (&err);
  fail_unless (gst_shared_matrix_lookup ("reg-b") == NULL);
}

GST_END_TEST;

GST_START_TEST (test_register_conflict)
{
  GstSharedMatrix *a, *b, *found;
  GError *err = NULL;

  a = gst_shared_matrix_new (2, 2, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  b = gst_shared_matrix_new (5, 7, GST_SHARED_MATRIX_DTYPE_FLOAT32,
      GST_SHARED_MATRIX_BACKEND_CPU, NULL);
  fail_unless (gst_shared_matrix_register (a, "reg-c", &err));
  /* again under the same name: nothing to do */
  fail_unless (gst_shared_matrix_register (a, "reg-c", &err));
  fail_if (gst_shared_matrix_register (b, "reg-c", &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT));
  fail_unless (strstr (err->message, "reg-c") != NULL, "%s", err->message);
  g_clear_error (&err);
  found = gst_shared_matrix_lookup ("reg-c");
  fail_unless (found == a);
  gst_object_unref (found);

  /* once a is gone, the name is free for b */
  gst_object_unref (a);
  fail_unless (gst_shared_matrix_register (b, "reg-c", &err));
  found = gst_shared_matrix_lookup ("reg-c");
  fail_unless (found == b);
  gst_object_unref (found);
  gst_object_unref (b);
}

GST_END_TEST;

#define RACERS 8

static gpointer
race (gpointer data)
{
  return gst_shared_matrix_obtain_named ("reg-race", create_4x3, NULL, NULL);
}

GST_START_TEST (test_racing_callers_get_one_matrix)
{
  GThread *threads[RACERS];
  GstSharedMatrix *got[RACERS];
  guint i;

  creations = 0;
  for (i = 0; i < RACERS; i++)
    threads[i] = g_thread_new ("racer", race, NULL);
  for (i = 0; i < RACERS; i++)
    got[i] = g_thread_join (threads[i]);
  fail_unless_equals_int (creations, 1);
  for (i = 0; i < RACERS; i++) {
    fail_unless (got[i] != NULL && got[i] == got[0]);
    gst_object_unref (got[i]);
  }
}

GST_END_TEST;

/* An application finds the matrix an element shares by matrix-name. */
GST_START_TEST (test_element_matrix_found_by_name)
{
  GstElement *el = gst_element_factory_make ("sharedmatrix", NULL);
  GstSharedMatrix *from_element = NULL, *found;

  fail_unless (el != NULL);
  g_object_set (el, "matrix-name", "reg-element", "rows", (guint64) 6,
      "cols", 2, NULL);
  fail_unless (gst_element_set_state (el, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  g_object_get (el, "matrix", &from_element, NULL);
  found = gst_shared_matrix_lookup ("reg-element");
  fail_unless (found != NULL && found == from_element);
  fail_unless_equals_uint64 (gst_shared_matrix_get_rows (found), 6);
  gst_object_unref (found);
  gst_object_unref (from_element);

  gst_element_set_state (el, GST_STATE_NULL);
  gst_object_unref (el);
  /* the element was its last user */
  fail_unless (gst_shared_matrix_lookup ("reg-element") == NULL);
}

GST_END_TEST;

static Suite *
registry_suite (void)
{
  Suite *s = suite_create ("sharedmatrix-registry");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_obtain_lookup_and_weak);
  tcase_add_test (tc, test_register_conflict);
  tcase_add_test (tc, test_racing_callers_get_one_matrix);
  tcase_add_test (tc, test_element_matrix_found_by_name);
  return s;
}

GST_CHECK_MAIN (registry);
