/* gst-sharedmatrix: tests of the .npy reader and writer
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The parser takes untrusted input, so besides round trips and
 * interoperability with numpy itself (when /usr/bin/python3 has it), most of
 * this file feeds it hostile headers and checks that each one is refused with
 * a message that says what was wrong.
 */

#include <gst/check/gstcheck.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "file-io.h"
#include "gstsharedmatrix.h"
#include "npy.h"

/* overridable to check the skip path: -DPYTHON='"/nonexistent"' */
#ifndef PYTHON
#define PYTHON "/usr/bin/python3"
#endif

static const GstSharedMatrixDType all_dtypes[] = {
  GST_SHARED_MATRIX_DTYPE_FLOAT32,
  GST_SHARED_MATRIX_DTYPE_FLOAT64,
  GST_SHARED_MATRIX_DTYPE_FLOAT16,
  GST_SHARED_MATRIX_DTYPE_BFLOAT16,
};

/* ------------------------------------------------------------------------ */
/* Helpers */

static gchar *
make_tmpdir (void)
{
  GError *err = NULL;
  gchar *dir = g_dir_make_tmp ("test-npy-XXXXXX", &err);

  fail_unless (dir != NULL, "cannot make a temporary directory: %s",
      err ? err->message : "?");
  return dir;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* Sorted names of the entries in @dir, joined by spaces, so that a test can
 * assert that no temporary file was left behind. */
static gchar *
list_dir (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;
  gchar *joined;

  fail_unless (d != NULL);
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  g_dir_close (d);
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  joined = g_strjoinv (" ", (gchar **) names->pdata);
  g_ptr_array_unref (names);

  return joined;
}

static void
remove_tree (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d))) {
    gchar *p = g_build_filename (dir, name, NULL);

    if (g_file_test (p, G_FILE_TEST_IS_DIR) &&
        !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
      remove_tree (p);
    else
      g_unlink (p);
    g_free (p);
  }
  g_dir_close (d);
  g_rmdir (dir);
}

/* A header with the given version and dictionary text, no padding: the
 * parser must not depend on numpy's alignment. */
static GByteArray *
raw_header (guint major, guint minor, const gchar * dict, gsize dict_len)
{
  GByteArray *a = g_byte_array_new ();
  guint8 prefix[12];

  memcpy (prefix, "\x93NUMPY", 6);
  prefix[6] = major;
  prefix[7] = minor;
  if (major == 1) {
    prefix[8] = dict_len & 0xff;
    prefix[9] = dict_len >> 8;
    g_byte_array_append (a, prefix, 10);
  } else {
    prefix[8] = dict_len & 0xff;
    prefix[9] = (dict_len >> 8) & 0xff;
    prefix[10] = (dict_len >> 16) & 0xff;
    prefix[11] = (dict_len >> 24) & 0xff;
    g_byte_array_append (a, prefix, 12);
  }
  g_byte_array_append (a, (const guint8 *) dict, dict_len);

  return a;
}

static GByteArray *
v1_header (const gchar * dict)
{
  return raw_header (1, 0, dict, strlen (dict));
}

/* Parses @data from an exact-size heap copy, so that valgrind reports any
 * read past @size. */
static gboolean
parse_exact (const guint8 * data, gsize size, SmNpyInfo * info,
    GError ** error)
{
  guint8 *copy = g_memdup2 (data, size);
  gboolean ret;

  ret = sm_npy_parse_header (copy, size, info, error);
  g_free (copy);

  return ret;
}

/* Asserts that @data is refused with a GST_SHARED_MATRIX_ERROR_NPY error
 * whose message holds every one of the NULL-terminated substrings. */
static void
check_refused (const gchar * what, const guint8 * data, gsize size, ...)
{
  SmNpyInfo info;
  GError *err = NULL;
  const gchar *needle;
  va_list args;

  fail_if (parse_exact (data, size, &info, &err),
      "%s: accepted (rows %" G_GUINT64_FORMAT ", cols %u)", what, info.rows,
      info.cols);
  fail_unless (err != NULL, "%s: no error set", what);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NPY), "%s: wrong error %s/%d: %s", what,
      g_quark_to_string (err->domain), err->code, err->message);
  GST_LOG ("%s: %s", what, err->message);

  va_start (args, size);
  while ((needle = va_arg (args, const gchar *))) {
    fail_unless (strstr (err->message, needle) != NULL,
        "%s: message '%s' does not contain '%s'", what, err->message, needle);
  }
  va_end (args);
  g_error_free (err);
}

/* check_refused on a version 1.0 header holding @dict */
#define CHECK_DICT_REFUSED(dict, ...) \
  G_STMT_START { \
    GByteArray *_h = v1_header (dict); \
    check_refused (dict, _h->data, _h->len, __VA_ARGS__, NULL); \
    g_byte_array_unref (_h); \
  } G_STMT_END

static void
check_dict_accepted (const gchar * dict, GstSharedMatrixDType dtype,
    guint64 rows, guint cols, gboolean fortran_order, gboolean big_endian)
{
  GByteArray *h = v1_header (dict);
  SmNpyInfo info;
  GError *err = NULL;

  fail_unless (parse_exact (h->data, h->len, &info, &err),
      "refused '%s': %s", dict, err ? err->message : "?");
  fail_unless_equals_int (info.dtype, dtype);
  fail_unless_equals_uint64 (info.rows, rows);
  fail_unless_equals_int (info.cols, cols);
  fail_unless_equals_int (info.fortran_order, fortran_order);
  fail_unless_equals_int (info.big_endian, big_endian);
  fail_unless_equals_uint64 (info.data_offset, h->len);
  g_byte_array_unref (h);
}

/* Exactly representable in every dtype, bfloat16 included, and all
 * distinct within a row of up to 64 elements. */
static gdouble
test_value (guint64 i)
{
  return ((gdouble) (i % 64) - 10.0) / 2.0;
}

static guint16
float_to_half_exact (gfloat f)
{
  guint32 bits;
  guint16 sign;
  gint exp;

  memcpy (&bits, &f, 4);
  sign = (bits >> 16) & 0x8000;
  if ((bits & 0x7fffffff) == 0)
    return sign;
  exp = (gint) ((bits >> 23) & 0xff) - 127 + 15;
  g_assert (exp > 0 && exp < 31 && (bits & 0x1fff) == 0);
  return sign | (exp << 10) | ((bits >> 13) & 0x3ff);
}

/* Little-endian row-major bytes of the test matrix in @dtype. */
static guint8 *
make_test_data (GstSharedMatrixDType dtype, guint64 rows, guint cols,
    gsize * size)
{
  guint itemsize = gst_shared_matrix_dtype_size (dtype);
  guint64 i, n = rows * cols;
  guint8 *data = g_malloc (n * itemsize);

  for (i = 0; i < n; i++) {
    gdouble v = test_value (i);
    gfloat f = v;
    guint32 u32;
    guint16 u16;
    guint64 u64;

    switch (dtype) {
      case GST_SHARED_MATRIX_DTYPE_FLOAT32:
        memcpy (&u32, &f, 4);
        GST_WRITE_UINT32_LE (data + i * 4, u32);
        break;
      case GST_SHARED_MATRIX_DTYPE_FLOAT64:
        memcpy (&u64, &v, 8);
        GST_WRITE_UINT64_LE (data + i * 8, u64);
        break;
      case GST_SHARED_MATRIX_DTYPE_FLOAT16:
        u16 = float_to_half_exact (f);
        GST_WRITE_UINT16_LE (data + i * 2, u16);
        break;
      case GST_SHARED_MATRIX_DTYPE_BFLOAT16:
        memcpy (&u32, &f, 4);
        GST_WRITE_UINT16_LE (data + i * 2, u32 >> 16);
        break;
    }
  }
  *size = n * itemsize;

  return data;
}

/* A complete .npy file (our header + @data) written with the atomic writer */
static void
write_npy (const gchar * path, GstSharedMatrixDType dtype, guint64 rows,
    guint cols, const guint8 * data, gsize data_size)
{
  gsize hsize = sm_npy_header_size (dtype, rows, cols);
  guint8 *file = g_malloc (hsize + data_size);
  GError *err = NULL;

  sm_npy_write_header (dtype, rows, cols, file, hsize);
  memcpy (file + hsize, data, data_size);
  fail_unless (sm_write_file_atomic (path, file,
          hsize + data_size, &err), "write %s: %s", path,
      err ? err->message : "?");
  g_free (file);
}

static gboolean
have_numpy (void)
{
  const gchar *argv[] = { PYTHON, "-c", "import numpy", NULL };
  gint status = -1;

  if (!g_file_test (PYTHON, G_FILE_TEST_IS_EXECUTABLE))
    return FALSE;
  if (!g_spawn_sync (NULL, (gchar **) argv, NULL,
          G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
          NULL, NULL, &status, NULL))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}

/* Runs @script with @args under /usr/bin/python3; fails the test, showing
 * its output, unless it exits 0. */
static void
run_python (const gchar * script, GPtrArray * args)
{
  GPtrArray *argv = g_ptr_array_new ();
  gchar *out = NULL, *err_out = NULL;
  GError *err = NULL;
  gint status = -1;
  guint i;

  g_ptr_array_add (argv, (gpointer) PYTHON);
  g_ptr_array_add (argv, (gpointer) "-c");
  g_ptr_array_add (argv, (gpointer) script);
  for (i = 0; args && i < args->len; i++)
    g_ptr_array_add (argv, g_ptr_array_index (args, i));
  g_ptr_array_add (argv, NULL);

  fail_unless (g_spawn_sync (NULL, (gchar **) argv->pdata, NULL, 0, NULL,
          NULL, &out, &err_out, &status, &err), "cannot run %s: %s", PYTHON,
      err ? err->message : "?");
  fail_unless (g_spawn_check_wait_status (status, NULL),
      "python failed:\n%s\n%s", out, err_out);
  GST_LOG ("python said: %s", out);

  g_free (out);
  g_free (err_out);
  g_ptr_array_unref (argv);
}

/* ------------------------------------------------------------------------ */
/* Header round trips */

GST_START_TEST (test_header_roundtrip)
{
  static const struct
  {
    guint64 rows;
    guint cols;
  } shapes[] = {
    {1, 1}, {3, 4}, {1000, 7}, {7, 1000}, {1, G_MAXINT},
    {G_GUINT64_CONSTANT (1) << 40, 16},
    {G_GUINT64_CONSTANT (1) << 40, 1},
    {(G_GUINT64_CONSTANT (1) << 32) + 1, 3},
    {G_GUINT64_CONSTANT (1) << 56, 2},
  };
  guint d, s;

  for (d = 0; d < G_N_ELEMENTS (all_dtypes); d++) {
    for (s = 0; s < G_N_ELEMENTS (shapes); s++) {
      GstSharedMatrixDType dtype = all_dtypes[d];
      gsize size = sm_npy_header_size (dtype, shapes[s].rows,
          shapes[s].cols);
      guint8 *h = g_malloc (size);
      SmNpyInfo info;
      GError *err = NULL;
      gchar *expected_shape;

      sm_npy_write_header (dtype, shapes[s].rows,
          shapes[s].cols, h, size);

      /* numpy's own layout: version 1.0, total a multiple of 64, padded with
       * spaces and ending in a newline */
      fail_unless (size % 64 == 0, "header size %" G_GSIZE_FORMAT, size);
      fail_unless (memcmp (h, "\x93NUMPY\x01\x00", 8) == 0);
      fail_unless_equals_int (GST_READ_UINT16_LE (h + 8), size - 10);
      fail_unless_equals_int (h[size - 1], '\n');
      fail_unless_equals_int (h[10], '{');
      expected_shape = g_strdup_printf ("'shape': (%" G_GUINT64_FORMAT
          ", %u), }", shapes[s].rows, shapes[s].cols);
      fail_unless (g_strstr_len ((const gchar *) h + 10, size - 10,
              expected_shape));
      g_free (expected_shape);

      /* the parser reads it back exactly, from an exact-size buffer */
      fail_unless (parse_exact (h, size, &info, &err), "%s",
          err ? err->message : "?");
      fail_unless_equals_int (info.dtype, dtype);
      fail_unless_equals_uint64 (info.rows, shapes[s].rows);
      fail_unless_equals_int (info.cols, shapes[s].cols);
      fail_unless (!info.fortran_order);
      fail_unless (!info.big_endian);
      fail_unless_equals_uint64 (info.data_offset, size);
      g_free (h);
    }
  }
}

GST_END_TEST;

GST_START_TEST (test_header_exact_text)
{
  static const struct
  {
    GstSharedMatrixDType dtype;
    const gchar *dict;
  } cases[] = {
    {GST_SHARED_MATRIX_DTYPE_FLOAT32,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"},
    {GST_SHARED_MATRIX_DTYPE_FLOAT64,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }"},
    {GST_SHARED_MATRIX_DTYPE_FLOAT16,
        "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 4), }"},
    {GST_SHARED_MATRIX_DTYPE_BFLOAT16,
        "{'descr': [('bfloat16', '<u2')], 'fortran_order': False, "
          "'shape': (3, 4), }"},
  };
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    gsize size = sm_npy_header_size (cases[i].dtype, 3, 4);
    gsize dict_len = strlen (cases[i].dict);
    guint8 *h = g_malloc (size);

    fail_unless_equals_int (size, 64 * ((10 + dict_len + 1 + 63) / 64));
    sm_npy_write_header (cases[i].dtype, 3, 4, h, size);
    fail_unless (memcmp (h + 10, cases[i].dict, dict_len) == 0,
        "header is '%.*s'", (int) (size - 10), h + 10);
    for (j = 10 + dict_len; j < size - 1; j++)
      fail_unless_equals_int (h[j], ' ');
    g_free (h);
  }
}

GST_END_TEST;

/* Headers other writers may produce: quoting, key order, whitespace, Python 2
 * longs, byte orders, versions 2.0 and 3.0. */
GST_START_TEST (test_header_variants)
{
  const gboolean native_be = G_BYTE_ORDER == G_BIG_ENDIAN;
  SmNpyInfo info;
  GError *err = NULL;
  GByteArray *h;
  const gchar *dict;

  check_dict_accepted ("{\"descr\": \"<f8\", \"fortran_order\": True, "
      "\"shape\": (3, 4)}", GST_SHARED_MATRIX_DTYPE_FLOAT64, 3, 4, TRUE, FALSE);
  check_dict_accepted ("{ 'shape' : ( 10 , 20 , ) ,\n\t'fortran_order':False,"
      "'descr':'>f2' , }   \n", GST_SHARED_MATRIX_DTYPE_FLOAT16, 10, 20, FALSE,
      TRUE);
  check_dict_accepted ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3L, 4L), }", GST_SHARED_MATRIX_DTYPE_FLOAT32, 3, 4, FALSE,
      FALSE);
  check_dict_accepted ("{'descr': '=f4', 'fortran_order': False, "
      "'shape': (1, 1)}", GST_SHARED_MATRIX_DTYPE_FLOAT32, 1, 1, FALSE,
      native_be);
  check_dict_accepted ("{'descr': '>f8', 'fortran_order': True, "
      "'shape': (1152921504606846976, 1)}", GST_SHARED_MATRIX_DTYPE_FLOAT64,
      G_GUINT64_CONSTANT (1) << 60, 1, TRUE, TRUE);
  check_dict_accepted ("{'descr': '<f2', 'fortran_order': False, "
      "'shape': (4611686018427387903, 1)}", GST_SHARED_MATRIX_DTYPE_FLOAT16,
      G_MAXINT64 / 2, 1, FALSE, FALSE);
  check_dict_accepted ("{'descr': [('bfloat16', '<u2')], "
      "'fortran_order': False, 'shape': (2, 2), }",
      GST_SHARED_MATRIX_DTYPE_BFLOAT16, 2, 2, FALSE, FALSE);
  check_dict_accepted ("{'descr': [ ( \"bfloat16\" , '>u2' , ) , ], "
      "'fortran_order': True, 'shape': (2, 2), }",
      GST_SHARED_MATRIX_DTYPE_BFLOAT16, 2, 2, TRUE, TRUE);
  check_dict_accepted ("{'descr':'<f4','fortran_order':False,"
      "'shape':(2147483647,2147483647)}", GST_SHARED_MATRIX_DTYPE_FLOAT32,
      G_MAXINT, G_MAXINT, FALSE, FALSE);
  check_dict_accepted ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (+3, 4)}", GST_SHARED_MATRIX_DTYPE_FLOAT32, 3, 4, FALSE, FALSE);

  /* versions 2.0 and 3.0 have a 4-byte HEADER_LEN */
  dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 6), }\n";
  h = raw_header (2, 0, dict, strlen (dict));
  fail_unless (parse_exact (h->data, h->len, &info, &err), "%s",
      err ? err->message : "?");
  fail_unless_equals_uint64 (info.rows, 5);
  fail_unless_equals_int (info.cols, 6);
  fail_unless_equals_uint64 (info.data_offset, 12 + strlen (dict));
  g_byte_array_unref (h);

  dict = "{'descr': '<f2', 'fortran_order': False, 'shape': (5, 6), }\n";
  h = raw_header (3, 0, dict, strlen (dict));
  fail_unless (parse_exact (h->data, h->len, &info, &err), "%s",
      err ? err->message : "?");
  fail_unless_equals_int (info.dtype, GST_SHARED_MATRIX_DTYPE_FLOAT16);
  fail_unless_equals_uint64 (info.data_offset, 12 + strlen (dict));
  g_byte_array_unref (h);

  /* the data (or anything) after the header does not disturb the parser */
  h = v1_header ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}");
  g_byte_array_append (h, (const guint8 *) "\x01\x02\x03\x04garbage}", 12);
  fail_unless (parse_exact (h->data, h->len, &info, &err), "%s",
      err ? err->message : "?");
  fail_unless_equals_uint64 (info.data_offset, h->len - 12);
  g_byte_array_unref (h);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Hostile headers */

GST_START_TEST (test_header_hostile_prefix)
{
  GByteArray *h;
  guint8 buf[64];

  check_refused ("empty", (const guint8 *) "", 0, "truncated", NULL);
  check_refused ("truncated magic", (const guint8 *) "\x93NUM", 4,
      "truncated", NULL);
  check_refused ("wrong magic", (const guint8 *) "\x93NUMPZ\x01\x00\x10\x00"
      "{}              ", 26, "magic", NULL);
  check_refused ("zip file", (const guint8 *) "PK\x03\x04\x14\x00\x00\x00",
      8, "magic", "PK", NULL);
  check_refused ("magic only", (const guint8 *) "\x93NUMPY", 6, "truncated",
      NULL);
  check_refused ("no header length", (const guint8 *) "\x93NUMPY\x01\x00",
      8, "truncated", NULL);
  check_refused ("half a header length", (const guint8 *) "\x93NUMPY\x01\x00"
      "\x10", 9, "truncated", NULL);
  check_refused ("v2 short header length", (const guint8 *) "\x93NUMPY\x02"
      "\x00\x10\x00\x00", 11, "truncated", NULL);

  h = raw_header (4, 0, "{}", 2);
  check_refused ("version 4.0", h->data, h->len, "version 4.0", "1.0, 2.0",
      NULL);
  g_byte_array_unref (h);
  h = raw_header (1, 1, "{}", 2);
  check_refused ("version 1.1", h->data, h->len, "version 1.1", NULL);
  g_byte_array_unref (h);
  h = raw_header (0, 0, "{}", 2);
  check_refused ("version 0.0", h->data, h->len, "version", NULL);
  g_byte_array_unref (h);

  /* HEADER_LEN pointing past the end of what is there */
  memcpy (buf, "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4'}", 26);
  check_refused ("header length past the end", buf, 26, "header length 64",
      "past the end", NULL);
  memcpy (buf, "\x93NUMPY\x01\x00\xff\xff{", 11);
  check_refused ("header length 65535", buf, 11, "past the end", NULL);
  memcpy (buf, "\x93NUMPY\x02\x00\xff\xff\xff\xff{", 13);
  check_refused ("huge header length", buf, 13, "4294967295", "limit", NULL);
  memcpy (buf, "\x93NUMPY\x03\x00\x01\x00\x10\x00{", 13);
  check_refused ("header length just over 1 MiB", buf, 13, "1048577",
      "limit", NULL);
}

GST_END_TEST;

GST_START_TEST (test_header_hostile_shape)
{
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (5,), }", "(5,)", "1 dimension", "2-D (rows, cols)");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (2, 3, 4), }", "(2, 3, 4)", "3 dimensions", "2-D");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (), }", "()", "0 dimensions", "2-D");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (5), }", "tuple", "integer");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': [3, 4], }", "tuple", "[3, 4]");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (-1, 4), }", "(-1, 4)", "rows must be >= 1");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (4, -2), }", "(4, -2)", "cols must be between 1 and "
      "2147483647");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (0, 4), }", "(0, 4)", "rows must be >= 1");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (4, 0), }", "(4, 0)", "cols must be");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 2147483648), }", "cols must be");
  /* (2**62, 2**62): cols out of range before any multiplication */
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (4611686018427387904, 4611686018427387904), }",
      "4611686018427387904", "cols must be");
  /* rows * cols * itemsize overflowing 64 bits */
  CHECK_DICT_REFUSED ("{'descr': '<f8', 'fortran_order': False, "
      "'shape': (4611686018427387904, 1024), }", "too large", "overflows");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (18446744073709551615, 2), }", "too large");
  CHECK_DICT_REFUSED ("{'descr': [('bfloat16', '<u2')], 'fortran_order': "
      "False, 'shape': (9223372036854775808, 1), }", "too large");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (18446744073709551616, 1), }", "too large");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (99999999999999999999999999999999999999, 1), }", "too large");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3.0, 4), }", "integers", "3.0");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (0x10, 4), }", "integers");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (1e3, 4), }", "integers");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': ('3', 4), }", "integers");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3 4), }", "')'");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (,), }", "integers");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': ((((((((((((((((((((3, 4)))))))))))))))))))), }", "integers");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4", "end");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, -", "ends inside 'shape'");

  /* more dimensions than any numpy: still a clear message, no overflow of
   * the parser's own array */
  {
    GString *d = g_string_new ("{'descr': '<f4', 'fortran_order': False, "
        "'shape': (");
    guint i;

    for (i = 0; i < 200; i++)
      g_string_append (d, "1, ");
    g_string_append (d, "), }");
    CHECK_DICT_REFUSED (d->str, "more than 64 dimensions", "2-D");
    g_string_free (d, TRUE);
  }
}

GST_END_TEST;

GST_START_TEST (test_header_hostile_dict)
{
  /* dtypes */
  CHECK_DICT_REFUSED ("{'descr': '<i4', 'fortran_order': False, "
      "'shape': (3, 4), }", "unsupported dtype", "'<i4'", "'<f4' (float32)",
      "bfloat16");
  CHECK_DICT_REFUSED ("{'descr': '|f4', 'fortran_order': False, "
      "'shape': (3, 4), }", "unsupported dtype", "'|f4'");
  CHECK_DICT_REFUSED ("{'descr': '<f16', 'fortran_order': False, "
      "'shape': (3, 4), }", "'<f16'");
  CHECK_DICT_REFUSED ("{'descr': 'f4', 'fortran_order': False, "
      "'shape': (3, 4), }", "'f4'");
  CHECK_DICT_REFUSED ("{'descr': '', 'fortran_order': False, "
      "'shape': (3, 4), }", "unsupported dtype");
  CHECK_DICT_REFUSED ("{'descr': '<c8', 'fortran_order': False, "
      "'shape': (3, 4), }", "'<c8'");
  CHECK_DICT_REFUSED ("{'descr': [('bfloat16', '<u4')], 'fortran_order': "
      "False, 'shape': (3, 4), }", "unsupported dtype", "<u4");
  CHECK_DICT_REFUSED ("{'descr': [('x', '<u2')], 'fortran_order': "
      "False, 'shape': (3, 4), }", "unsupported dtype", "'x'");
  CHECK_DICT_REFUSED ("{'descr': [('bfloat16', '<u2'), ('y', '<u2')], "
      "'fortran_order': False, 'shape': (3, 4), }", "unsupported dtype");
  CHECK_DICT_REFUSED ("{'descr': [('bfloat16', '<u2', (2,))], "
      "'fortran_order': False, 'shape': (3, 4), }", "unsupported dtype");
  CHECK_DICT_REFUSED ("{'descr': [], 'fortran_order': False, "
      "'shape': (3, 4), }", "unsupported dtype");
  CHECK_DICT_REFUSED ("{'descr': [('bfloat16', '<u2')", "unsupported dtype");
  CHECK_DICT_REFUSED ("{'descr': '<f\\x34', 'fortran_order': False, "
      "'shape': (3, 4), }", "escape");

  /* keys */
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, }",
      "missing key 'shape'");
  CHECK_DICT_REFUSED ("{'fortran_order': False, 'shape': (3, 4), }",
      "missing key 'descr'");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'shape': (3, 4), }",
      "missing key 'fortran_order'");
  CHECK_DICT_REFUSED ("{}", "missing key");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'descr': '<f8', "
      "'fortran_order': False, 'shape': (3, 4), }", "duplicate key 'descr'");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4), 'shape': (3, 4), }", "duplicate key 'shape'");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4), 'foo': 1, }", "unknown key 'foo'", "'descr', "
      "'fortran_order' and 'shape'");
  CHECK_DICT_REFUSED ("{descr: '<f4', 'fortran_order': False, "
      "'shape': (3, 4), }", "quoted string");
  CHECK_DICT_REFUSED ("{'descr' '<f4', 'fortran_order': False, "
      "'shape': (3, 4), }", "':'");
  CHECK_DICT_REFUSED ("{1: '<f4'}", "quoted string");

  /* strings */
  CHECK_DICT_REFUSED ("{'descr': '<f4, 'fortran_order': False, "
      "'shape': (3, 4), }", "unsupported dtype", "'<f4, '");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4), 'sha", "unterminated string");
  CHECK_DICT_REFUSED ("{'descr", "unterminated string");
  CHECK_DICT_REFUSED ("{'descr': '<f4\n', 'fortran_order': False, "
      "'shape': (3, 4), }", "unterminated string");
  CHECK_DICT_REFUSED ("{'descr': \"<f4', 'fortran_order': False, "
      "'shape': (3, 4), }", "unterminated string");

  /* values */
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': 1, "
      "'shape': (3, 4), }", "True or False", "'1");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': 'False', "
      "'shape': (3, 4), }", "True or False");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': Falsey, "
      "'shape': (3, 4), }", "True or False");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': true, "
      "'shape': (3, 4), }", "True or False");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': None, "
      "'shape': (3, 4), }", "True or False");
  CHECK_DICT_REFUSED ("{'descr': {'a': [1, (2, {3})]}, 'fortran_order': "
      "False, 'shape': (3, 4), }", "'descr' must be a string");
  CHECK_DICT_REFUSED ("{'descr': __import__('os').system('true'), "
      "'fortran_order': False, 'shape': (3, 4), }", "'descr' must be");

  /* structure */
  CHECK_DICT_REFUSED ("hello", "expected '{'");
  CHECK_DICT_REFUSED ("", "'{'");
  CHECK_DICT_REFUSED ("   \n", "'{'");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4)", "'}'");
  CHECK_DICT_REFUSED ("{'descr': '<f4' 'fortran_order': False, "
      "'shape': (3, 4)}", "'}'");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4), } x", "unexpected text", "whitespace");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4), }}", "unexpected text");
  CHECK_DICT_REFUSED ("{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4), },,", "unexpected text");
  CHECK_DICT_REFUSED ("{,}", "quoted string");
  CHECK_DICT_REFUSED ("{'descr': '<f4',, 'fortran_order': False, "
      "'shape': (3, 4)}", "quoted string");
  CHECK_DICT_REFUSED ("[{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, 4)}]", "'{'");

  /* binary garbage is quoted escaped, not raw */
  {
    static const guint8 dict[] = "{'descr': '<f4\x01\xff', 'fortran_order': "
        "False, 'shape': (3, 4), }";
    GByteArray *h = raw_header (1, 0, (const gchar *) dict, sizeof (dict) - 1);

    check_refused ("binary descr", h->data, h->len, "\\x01\\xff", NULL);
    g_byte_array_unref (h);
  }
  {
    static const guint8 dict[] = "{'descr': '<f4', 'fortran_order': False, "
        "'shape': (3, 4), }\0\0\0";
    GByteArray *h = raw_header (1, 0, (const gchar *) dict, sizeof (dict) - 1);

    check_refused ("NUL padding", h->data, h->len, "unexpected text", NULL);
    g_byte_array_unref (h);
  }
}

GST_END_TEST;

/* Every truncation of valid headers, and many random mutations: never a
 * crash nor a read past the end (valgrind checks the latter, the buffers are
 * exact-size heap copies), and whatever is accepted is sane. */
GST_START_TEST (test_header_fuzz)
{
  static const gchar alphabet[] = "{}()[],:'\" 0123456789-+LTrueFalse<>=|"
      "fu248\n\\\x93\x00\xff";
  GRand *rand = g_rand_new_with_seed (20240601);
  guint d, iter;

  for (d = 0; d < G_N_ELEMENTS (all_dtypes); d++) {
    gsize size = sm_npy_header_size (all_dtypes[d], 3, 4);
    guint8 *h = g_malloc (size);
    gsize n;

    sm_npy_write_header (all_dtypes[d], 3, 4, h, size);

    for (n = 0; n < size; n++) {
      SmNpyInfo info;
      GError *err = NULL;

      fail_if (parse_exact (h, n, &info, &err), "truncation to %"
          G_GSIZE_FORMAT " bytes accepted", n);
      fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
              GST_SHARED_MATRIX_ERROR_NPY));
      g_error_free (err);
    }

    for (iter = 0; iter < 5000; iter++) {
      guint8 *m = g_memdup2 (h, size);
      guint k, n_mut = g_rand_int_range (rand, 1, 5);
      gsize len = size;
      SmNpyInfo info;
      GError *err = NULL;

      for (k = 0; k < n_mut; k++) {
        gsize pos = g_rand_int_range (rand, 0, size);

        if (g_rand_boolean (rand))
          m[pos] = alphabet[g_rand_int_range (rand, 0, sizeof (alphabet) - 1)];
        else
          m[pos] = g_rand_int_range (rand, 0, 256);
      }
      if (g_rand_int_range (rand, 0, 4) == 0)
        len = g_rand_int_range (rand, 0, size + 1);

      if (parse_exact (m, len, &info, &err)) {
        fail_unless (info.rows >= 1);
        fail_unless (info.cols >= 1 && info.cols <= G_MAXINT);
        fail_unless (info.data_offset <= len);
        fail_unless ((guint) info.dtype <= GST_SHARED_MATRIX_DTYPE_BFLOAT16);
      } else {
        fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
                GST_SHARED_MATRIX_ERROR_NPY));
        fail_unless (err->message != NULL && err->message[0] != '\0');
        fail_unless (g_utf8_validate (err->message, -1, NULL),
            "message is not UTF-8: %s", err->message);
        g_error_free (err);
      }
      g_free (m);
    }
    g_free (h);
  }
  g_rand_free (rand);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Files */

GST_START_TEST (test_write_and_load)
{
  gchar *dir = make_tmpdir ();
  guint d;

  for (d = 0; d < G_N_ELEMENTS (all_dtypes); d++) {
    gchar *path = g_build_filename (dir, "m.npy", NULL);
    SmNpyInfo info;
    GError *err = NULL;
    gsize data_size;
    guint8 *data = make_test_data (all_dtypes[d], 5, 7, &data_size);
    GBytes *loaded;
    gchar *listing;

    /* the second round replaces the file of the first */
    write_npy (path, all_dtypes[d], 5, 7, data, data_size);
    loaded = sm_npy_load (path, &info, &err);
    fail_unless (loaded != NULL, "%s", err ? err->message : "?");
    fail_unless_equals_int (info.dtype, all_dtypes[d]);
    fail_unless_equals_uint64 (info.rows, 5);
    fail_unless_equals_int (info.cols, 7);
    fail_unless (!info.fortran_order && !info.big_endian);
    fail_unless_equals_uint64 (info.data_offset % 64, 0);
    fail_unless_equals_int (g_bytes_get_size (loaded), data_size);
    fail_unless (memcmp (g_bytes_get_data (loaded, NULL), data,
            data_size) == 0);
    /* zero-copy: the bytes are the page-aligned mapping of the file, at the
     * data offset */
    fail_unless_equals_int (GPOINTER_TO_SIZE (g_bytes_get_data (loaded,
                NULL)) % 4096, info.data_offset % 4096);
    g_bytes_unref (loaded);

    /* no temporary file left behind */
    listing = list_dir (dir);
    fail_unless_equals_string (listing, "m.npy");
    g_free (listing);

    /* NULL info is allowed */
    loaded = sm_npy_load (path, NULL, &err);
    fail_unless (loaded != NULL);
    g_bytes_unref (loaded);

    g_free (data);
    g_free (path);
  }

  remove_tree (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_write_atomic)
{
  gchar *dir = make_tmpdir ();
  gchar *path = g_build_filename (dir, "f.bin", NULL);
  gchar *sub = g_build_filename (dir, "sub", NULL);
  gchar *missing = g_build_filename (dir, "nodir", "f.bin", NULL);
  gchar *contents = NULL, *listing;
  gsize len, i;
  guint8 *big;
  GError *err = NULL;
  GStatBuf st;
  mode_t mask;

  /* create, then replace with different and then with empty contents */
  fail_unless (sm_write_file_atomic (path,
          (const guint8 *) "first version", 13, &err));
  fail_unless (g_file_get_contents (path, &contents, &len, NULL));
  fail_unless_equals_int (len, 13);
  fail_unless (memcmp (contents, "first version", 13) == 0);
  g_free (contents);
  fail_unless (g_stat (path, &st) == 0);
  /* an ordinary new file's permissions, not mkstemp's 0600 */
  mask = umask (0);
  umask (mask);
  fail_unless_equals_int (st.st_mode & 0777, 0666 & ~mask);

  fail_unless (sm_write_file_atomic (path,
          (const guint8 *) "2nd", 3, &err));
  fail_unless (g_file_get_contents (path, &contents, &len, NULL));
  fail_unless_equals_int (len, 3);
  fail_unless (memcmp (contents, "2nd", 3) == 0);
  g_free (contents);

  fail_unless (sm_write_file_atomic (path, NULL, 0, &err));
  fail_unless (g_file_get_contents (path, &contents, &len, NULL));
  fail_unless_equals_int (len, 0);
  g_free (contents);

  /* several MiB, more than one write () is likely to take */
  len = 9 * 1024 * 1024 + 3;
  big = g_malloc (len);
  for (i = 0; i < len; i++)
    big[i] = (i * 7919) >> 3;
  fail_unless (sm_write_file_atomic (path, big, len, &err));
  fail_unless (g_file_get_contents (path, &contents, &i, NULL));
  fail_unless_equals_int (i, len);
  fail_unless (memcmp (contents, big, len) == 0);
  g_free (contents);
  g_free (big);

  listing = list_dir (dir);
  fail_unless_equals_string (listing, "f.bin");
  g_free (listing);

  /* a directory that does not exist: error with path and OS reason */
  fail_if (sm_write_file_atomic (missing,
          (const guint8 *) "x", 1, &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, missing) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, g_strerror (ENOENT)) != NULL, "%s",
      err->message);
  g_clear_error (&err);

  /* the rename fails (a directory is in the way): the temporary file is
   * removed and the error names the path */
  fail_unless (g_mkdir (sub, 0755) == 0);
  fail_if (sm_write_file_atomic (sub, (const guint8 *) "x", 1,
          &err));
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, sub) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "rename") != NULL, "%s", err->message);
  GST_LOG ("%s", err->message);
  g_clear_error (&err);
  fail_unless (g_file_test (sub, G_FILE_TEST_IS_DIR));
  listing = list_dir (dir);
  fail_unless_equals_string (listing, "f.bin sub");
  g_free (listing);

  remove_tree (dir);
  g_free (dir);
  g_free (path);
  g_free (sub);
  g_free (missing);
}

GST_END_TEST;

/* Writes @dict as a version 1.0 header (unpadded: the data starts at an odd
 * offset) followed by @data */
static gchar *
write_handmade (const gchar * dir, const gchar * name, const gchar * dict,
    const guint8 * data, gsize data_size)
{
  GByteArray *h = v1_header (dict);
  gchar *path = g_build_filename (dir, name, NULL);

  g_byte_array_append (h, data, data_size);
  fail_unless (g_file_set_contents (path, (const gchar *) h->data, h->len,
          NULL));
  g_byte_array_unref (h);

  return path;
}

static void
check_load_equals (const gchar * path, GstSharedMatrixDType dtype,
    guint64 rows, guint cols, gboolean fortran_order, gboolean big_endian,
    const guint8 * expected, gsize expected_size)
{
  SmNpyInfo info;
  GError *err = NULL;
  GBytes *b = sm_npy_load (path, &info, &err);
  gsize size;
  const guint8 *got;

  fail_unless (b != NULL, "%s: %s", path, err ? err->message : "?");
  fail_unless_equals_int (info.dtype, dtype);
  fail_unless_equals_uint64 (info.rows, rows);
  fail_unless_equals_int (info.cols, cols);
  fail_unless_equals_int (info.fortran_order, fortran_order);
  fail_unless_equals_int (info.big_endian, big_endian);
  got = g_bytes_get_data (b, &size);
  fail_unless_equals_int (size, expected_size);
  fail_unless (memcmp (got, expected, size) == 0, "%s: data differs", path);
  g_bytes_unref (b);
}

/* Fortran order and big-endian files are converted to C order
 * little-endian, for each item size, at an unaligned data offset. */
GST_START_TEST (test_load_conversion)
{
  static const struct
  {
    GstSharedMatrixDType dtype;
    const gchar *le;
    const gchar *be;
  } descrs[] = {
    {GST_SHARED_MATRIX_DTYPE_FLOAT32, "'<f4'", "'>f4'"},
    {GST_SHARED_MATRIX_DTYPE_FLOAT64, "'<f8'", "'>f8'"},
    {GST_SHARED_MATRIX_DTYPE_FLOAT16, "'<f2'", "'>f2'"},
    {GST_SHARED_MATRIX_DTYPE_BFLOAT16, "[('bfloat16', '<u2')]",
        "[('bfloat16', '>u2')]"},
  };
  /* shapes that span several transpose blocks, and degenerate ones */
  static const guint shapes[][2] = { {3, 5}, {1, 9}, {9, 1}, {130, 67} };
  gchar *dir = make_tmpdir ();
  guint d, s;

  for (d = 0; d < G_N_ELEMENTS (descrs); d++) {
    for (s = 0; s < G_N_ELEMENTS (shapes); s++) {
      guint rows = shapes[s][0], cols = shapes[s][1];
      guint itemsize = gst_shared_matrix_dtype_size (descrs[d].dtype);
      gsize size;
      guint8 *c_le = make_test_data (descrs[d].dtype, rows, cols, &size);
      guint8 *f_le = g_malloc (size), *c_be = g_malloc (size);
      guint8 *f_be = g_malloc (size);
      guint r, c, k;
      gchar *dict, *path;

      /* the expected (C order, little-endian) bytes rearranged by hand */
      for (r = 0; r < rows; r++) {
        for (c = 0; c < cols; c++) {
          const guint8 *src = c_le + ((gsize) r * cols + c) * itemsize;
          guint8 *f = f_le + ((gsize) c * rows + r) * itemsize;

          memcpy (f, src, itemsize);
          for (k = 0; k < itemsize; k++) {
            c_be[((gsize) r * cols + c) * itemsize + k] = src[itemsize - 1 - k];
            f_be[((gsize) c * rows + r) * itemsize + k] = src[itemsize - 1 - k];
          }
        }
      }

      dict = g_strdup_printf ("{'descr': %s, 'fortran_order': False, "
          "'shape': (%u, %u), }", descrs[d].le, rows, cols);
      path = write_handmade (dir, "c_le.npy", dict, c_le, size);
      check_load_equals (path, descrs[d].dtype, rows, cols, FALSE, FALSE,
          c_le, size);
      g_free (path);
      g_free (dict);

      dict = g_strdup_printf ("{'descr': %s, 'fortran_order': True, "
          "'shape': (%u, %u), }", descrs[d].le, rows, cols);
      path = write_handmade (dir, "f_le.npy", dict, f_le, size);
      check_load_equals (path, descrs[d].dtype, rows, cols, TRUE, FALSE,
          c_le, size);
      g_free (path);
      g_free (dict);

      dict = g_strdup_printf ("{'descr': %s, 'fortran_order': False, "
          "'shape': (%u, %u), }", descrs[d].be, rows, cols);
      path = write_handmade (dir, "c_be.npy", dict, c_be, size);
      check_load_equals (path, descrs[d].dtype, rows, cols, FALSE, TRUE,
          c_le, size);
      g_free (path);
      g_free (dict);

      dict = g_strdup_printf ("{'descr': %s, 'fortran_order': True, "
          "'shape': (%u, %u), }", descrs[d].be, rows, cols);
      path = write_handmade (dir, "f_be.npy", dict, f_be, size);
      check_load_equals (path, descrs[d].dtype, rows, cols, TRUE, TRUE,
          c_le, size);
      g_free (path);
      g_free (dict);

      g_free (c_le);
      g_free (f_le);
      g_free (c_be);
      g_free (f_be);
    }
  }

  remove_tree (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_load_errors)
{
  gchar *dir = make_tmpdir ();
  gchar *missing = g_build_filename (dir, "missing.npy", NULL);
  gchar *empty = g_build_filename (dir, "empty.npy", NULL);
  gchar *path;
  SmNpyInfo info;
  GError *err = NULL;
  GBytes *b;
  gsize size;
  guint8 *data;
  const gchar *dict;

  b = sm_npy_load (missing, &info, &err);
  fail_unless (b == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, missing) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, g_strerror (ENOENT)) != NULL, "%s",
      err->message);
  g_clear_error (&err);

  fail_unless (g_file_set_contents (empty, "", 0, NULL));
  b = sm_npy_load (empty, &info, &err);
  fail_unless (b == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, empty) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "empty") != NULL, "%s", err->message);
  g_clear_error (&err);

  b = sm_npy_load (dir, &info, &err);
  fail_unless (b == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, dir) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, g_strerror (EISDIR)) != NULL, "%s",
      err->message);
  g_clear_error (&err);

  /* an unreadable file (meaningless as root, who reads everything) */
  if (geteuid () != 0) {
    path = write_handmade (dir, "noperm.npy", "{}", NULL, 0);
    fail_unless (g_chmod (path, 0) == 0);
    b = sm_npy_load (path, &info, &err);
    fail_unless (b == NULL);
    fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
            GST_SHARED_MATRIX_ERROR_FILE));
    fail_unless (strstr (err->message, g_strerror (EACCES)) != NULL, "%s",
        err->message);
    g_clear_error (&err);
    g_free (path);
  }

  /* a bad header: the parser's error, prefixed with the path */
  path = write_handmade (dir, "bad.npy", "{'descr': '<i4', 'fortran_order': "
      "False, 'shape': (1, 1), }", (const guint8 *) "\0\0\0\0", 4);
  b = sm_npy_load (path, &info, &err);
  fail_unless (b == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NPY));
  fail_unless (g_str_has_prefix (err->message, path), "%s", err->message);
  fail_unless (strstr (err->message, "'<i4'") != NULL, "%s", err->message);
  g_clear_error (&err);
  g_free (path);

  /* a not-a-npy file */
  path = g_build_filename (dir, "text.npy", NULL);
  fail_unless (g_file_set_contents (path, "hello world\n", -1, NULL));
  b = sm_npy_load (path, &info, &err);
  fail_unless (b == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NPY));
  fail_unless (strstr (err->message, "magic") != NULL, "%s", err->message);
  g_clear_error (&err);
  g_free (path);

  /* truncated data section: both sizes in the message */
  data = make_test_data (GST_SHARED_MATRIX_DTYPE_FLOAT32, 3, 4, &size);
  dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  path = write_handmade (dir, "short.npy", dict, data, size - 1);
  b = sm_npy_load (path, &info, &err);
  fail_unless (b == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_SIZE), "%s", err->message);
  fail_unless (strstr (err->message, path) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "truncated") != NULL, "%s", err->message);
  {
    /* expected: header + 48 bytes of data, actual: one byte less */
    gchar *need = g_strdup_printf ("%" G_GSIZE_FORMAT " bytes", size);
    gchar *total = g_strdup_printf ("(%" G_GSIZE_FORMAT " bytes in all)",
        10 + strlen (dict) + size);
    gchar *actual = g_strdup_printf ("file has %" G_GSIZE_FORMAT " bytes",
        10 + strlen (dict) + size - 1);

    fail_unless (strstr (err->message, need) != NULL, "%s", err->message);
    fail_unless (strstr (err->message, total) != NULL, "%s", err->message);
    fail_unless (strstr (err->message, actual) != NULL, "%s", err->message);
    g_free (need);
    g_free (total);
    g_free (actual);
  }
  GST_LOG ("%s", err->message);
  g_clear_error (&err);
  g_free (path);

  /* a header only, claiming a huge matrix: refused before any access */
  path = write_handmade (dir, "huge.npy", "{'descr': '<f4', "
      "'fortran_order': True, 'shape': (1099511627776, 16), }", NULL, 0);
  b = sm_npy_load (path, &info, &err);
  fail_unless (b == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_SIZE), "%s", err->message);
  fail_unless (strstr (err->message, "70368744177664 bytes") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  g_free (path);

  /* extra bytes after the data are ignored, as numpy.load ignores them */
  path = write_handmade (dir, "long.npy", "{'descr': '<f4', "
      "'fortran_order': False, 'shape': (2, 4), }", data, size);
  check_load_equals (path, GST_SHARED_MATRIX_DTYPE_FLOAT32, 2, 4, FALSE,
      FALSE, data, 2 * 4 * 4);
  g_free (path);
  g_free (data);

  remove_tree (dir);
  g_free (dir);
  g_free (missing);
  g_free (empty);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Interoperability with numpy */

/* Saves arrays with numpy in every supported dtype, C and Fortran order,
 * both byte orders and every format version, plus the C order little-endian
 * bytes of each, and a manifest: "name dtype rows cols fortran big_endian". */
static const gchar numpy_writer[] =
    "import os, sys\n"
    "import numpy as np\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(1234)\n"
    "lines = []\n"
    "def emit(name, a, version=None):\n"
    "    p = os.path.join(d, name + '.npy')\n"
    "    if version is None:\n"
    "        np.save(p, a)\n"
    "    else:\n"
    "        with open(p, 'wb') as f:\n"
    "            np.lib.format.write_array(f, a, version=version)\n"
    "    if a.dtype.names:\n"
    "        kind, v = 'bfloat16', a['bfloat16']\n"
    "    else:\n"
    "        kind = {'f4': 'float32', 'f8': 'float64', 'f2': 'float16'}[a.dtype.str[1:]]\n"
    "        v = a\n"
    "    with open(os.path.join(d, name + '.raw'), 'wb') as f:\n"
    "        f.write(v.astype(v.dtype.newbyteorder('<'), order='C').tobytes(order='C'))\n"
    "    fortran = a.flags.f_contiguous and not a.flags.c_contiguous\n"
    "    lines.append('%s %s %d %d %d %d' % (name, kind, a.shape[0], a.shape[1],\n"
    "                 fortran, v.dtype.byteorder == '>'))\n"
    "for shape in [(1, 1), (3, 5), (7, 1), (1, 9), (70, 130)]:\n"
    "    base = rng.standard_normal(shape) * 100\n"
    "    base.flat[0] = np.nan\n"
    "    base.flat[-1] = -np.inf\n"
    "    for t in ['f4', 'f8', 'f2']:\n"
    "        for order in 'CF':\n"
    "            for bo in '<>':\n"
    "                a = np.array(base.astype(bo + t), order=order)\n"
    "                emit('%s_%dx%d_%s_%s' % (t, shape[0], shape[1], order,\n"
    "                     'be' if bo == '>' else 'le'), a)\n"
    "    # bfloat16 as the structured dtype holding the upper half of float32\n"
    "    bits = (base.astype('<f4').view('<u4') >> 16).astype('<u2')\n"
    "    for order in 'CF':\n"
    "        for bo in '<>':\n"
    "            a = np.zeros(shape, dtype=[('bfloat16', bo + 'u2')], order=order)\n"
    "            a['bfloat16'] = bits\n"
    "            emit('bf16_%dx%d_%s_%s' % (shape[0], shape[1], order,\n"
    "                 'be' if bo == '>' else 'le'), a)\n"
    "base = rng.standard_normal((6, 4)).astype('<f4')\n"
    "emit('v2', base, (2, 0))\n"
    "emit('v3', np.asfortranarray(base.astype('>f8')), (3, 0))\n"
    "with open(os.path.join(d, 'manifest.txt'), 'w') as f:\n"
    "    f.write('\\n'.join(lines) + '\\n')\n"
    "print('wrote %d files' % len(lines))\n";

GST_START_TEST (test_load_numpy_files)
{
  gchar *dir, *manifest_path, *manifest;
  gchar **lines;
  GPtrArray *args;
  guint i, n_checked = 0;

  if (!have_numpy ()) {
    GST_INFO ("skipping: " PYTHON " cannot import numpy");
    return;
  }

  dir = make_tmpdir ();
  args = g_ptr_array_new ();
  g_ptr_array_add (args, dir);
  run_python (numpy_writer, args);
  g_ptr_array_unref (args);

  manifest_path = g_build_filename (dir, "manifest.txt", NULL);
  fail_unless (g_file_get_contents (manifest_path, &manifest, NULL, NULL));
  lines = g_strsplit (manifest, "\n", -1);
  for (i = 0; lines[i]; i++) {
    gchar name[128], kind[16];
    guint64 rows;
    guint cols;
    gint fortran, big;
    GstSharedMatrixDType dtype;
    gchar *npy, *raw, *expected;
    gsize expected_size;

    if (lines[i][0] == '\0')
      continue;
    fail_unless_equals_int (sscanf (lines[i], "%127s %15s %" G_GUINT64_FORMAT
            " %u %d %d", name, kind, &rows, &cols, &fortran, &big), 6);
    fail_unless (gst_shared_matrix_dtype_from_string (kind, &dtype));

    npy = g_strdup_printf ("%s/%s.npy", dir, name);
    raw = g_strdup_printf ("%s/%s.raw", dir, name);
    fail_unless (g_file_get_contents (raw, &expected, &expected_size, NULL));
    check_load_equals (npy, dtype, rows, cols, fortran, big,
        (const guint8 *) expected, expected_size);
    n_checked++;
    g_free (expected);
    g_free (npy);
    g_free (raw);
  }
  fail_unless_equals_int (n_checked, 5 * 4 * 2 * 2 + 2);

  g_strfreev (lines);
  g_free (manifest);
  g_free (manifest_path);
  remove_tree (dir);
  g_free (dir);
}

GST_END_TEST;

/* Loads our files with numpy (plain and memory-mapped) and checks the
 * header, dtype, shape and values. Arguments: path dtype rows cols, ... */
static const gchar numpy_reader[] =
    "import sys\n"
    "import numpy as np\n"
    "args = sys.argv[1:]\n"
    "bad = []\n"
    "dtypes = {'float32': np.dtype('<f4'), 'float64': np.dtype('<f8'),\n"
    "          'float16': np.dtype('<f2'),\n"
    "          'bfloat16': np.dtype([('bfloat16', '<u2')])}\n"
    "for i in range(0, len(args), 4):\n"
    "    path, kind, rows, cols = args[i], args[i + 1], int(args[i + 2]), int(args[i + 3])\n"
    "    expect = ((np.arange(rows * cols) % 64 - 10) / 2).reshape(rows, cols)\n"
    "    for mmap in (None, 'r'):\n"
    "        a = np.load(path, mmap_mode=mmap, allow_pickle=False)\n"
    "        if a.dtype != dtypes[kind]:\n"
    "            bad.append('%s: dtype %r' % (path, a.dtype))\n"
    "            continue\n"
    "        if a.shape != (rows, cols) or not a.flags.c_contiguous:\n"
    "            bad.append('%s: shape %r' % (path, a.shape))\n"
    "            continue\n"
    "        if kind == 'bfloat16':\n"
    "            v = (a['bfloat16'].astype('<u4') << 16).view('<f4')\n"
    "        else:\n"
    "            v = a\n"
    "        if not np.array_equal(np.asarray(v, dtype=np.float64), expect):\n"
    "            bad.append('%s: values %r' % (path, v))\n"
    "    with open(path, 'rb') as f:\n"
    "        prefix = f.read(10)\n"
    "    hlen = int.from_bytes(prefix[8:10], 'little')\n"
    "    if prefix[:8] != b'\\x93NUMPY\\x01\\x00' or (10 + hlen) % 64 != 0:\n"
    "        bad.append('%s: header prefix %r' % (path, prefix))\n"
    "if bad:\n"
    "    print('\\n'.join(bad))\n"
    "    sys.exit(1)\n"
    "print('checked %d files' % (len(args) // 4))\n";

GST_START_TEST (test_numpy_loads_ours)
{
  static const guint shapes[][2] = { {1, 1}, {3, 5}, {4, 7}, {1, 33},
  {20, 1}
  };
  GPtrArray *args;
  gchar *dir;
  guint d, s;

  if (!have_numpy ()) {
    GST_INFO ("skipping: " PYTHON " cannot import numpy");
    return;
  }

  dir = make_tmpdir ();
  args = g_ptr_array_new_with_free_func (g_free);
  for (d = 0; d < G_N_ELEMENTS (all_dtypes); d++) {
    for (s = 0; s < G_N_ELEMENTS (shapes); s++) {
      guint rows = shapes[s][0], cols = shapes[s][1];
      const gchar *kind = gst_shared_matrix_dtype_to_string (all_dtypes[d]);
      gchar *path = g_strdup_printf ("%s/%s_%ux%u.npy", dir, kind, rows, cols);
      gsize size;
      guint8 *data = make_test_data (all_dtypes[d], rows, cols, &size);

      write_npy (path, all_dtypes[d], rows, cols, data, size);
      g_free (data);

      g_ptr_array_add (args, path);
      g_ptr_array_add (args, g_strdup (kind));
      g_ptr_array_add (args, g_strdup_printf ("%u", rows));
      g_ptr_array_add (args, g_strdup_printf ("%u", cols));
    }
  }

  run_python (numpy_reader, args);

  g_ptr_array_unref (args);
  remove_tree (dir);
  g_free (dir);
}

GST_END_TEST;

/* A FIFO where a .npy file or a checkpoint is expected: a plain open ()
 * would wait for a writer forever. Every reader refuses it at once, saying
 * what the path is and what is allowed; the atomic writer replaces it. */
GST_START_TEST (test_fifo_is_refused)
{
  gchar *dir = make_tmpdir ();
  gchar *fifo = g_build_filename (dir, "matrix.npy", NULL);
  SmNpyInfo info;
  GError *err = NULL;
  GstSharedMatrix *m;
  gint64 t0;
  gchar *contents = NULL;
  gsize length;

  fail_unless (mkfifo (fifo, 0600) == 0, "mkfifo: %s", g_strerror (errno));

  t0 = g_get_monotonic_time ();
  fail_unless (sm_npy_load (fifo, &info, &err) == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, fifo) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "FIFO") != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "regular .npy file") != NULL, "%s",
      err->message);
  g_clear_error (&err);

  m = gst_shared_matrix_new_from_npy (fifo, GST_SHARED_MATRIX_BACKEND_CPU,
      &err);
  fail_unless (m == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, "FIFO") != NULL, "%s", err->message);
  g_clear_error (&err);

  m = gst_shared_matrix_new_from_checkpoint (fifo,
      GST_SHARED_MATRIX_BACKEND_CPU, -1, NULL, &err);
  fail_unless (m == NULL);
  fail_unless (g_error_matches (err, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_FILE));
  fail_unless (strstr (err->message, "FIFO") != NULL, "%s", err->message);
  g_clear_error (&err);
  /* generous: each refusal takes microseconds; a blocking open never ends */
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC);

  /* writing: the new file is renamed over the FIFO, which never blocks */
  fail_unless (sm_write_file_atomic (fifo, (const guint8 *) "abc", 3, &err),
      "%s", err ? err->message : "");
  fail_unless (g_file_test (fifo, G_FILE_TEST_IS_REGULAR));
  fail_unless (g_file_get_contents (fifo, &contents, &length, NULL));
  fail_unless_equals_int (length, 3);
  fail_unless (memcmp (contents, "abc", 3) == 0);
  g_free (contents);

  remove_tree (dir);
  g_free (fifo);
  g_free (dir);
}

GST_END_TEST;

static Suite *
npy_suite (void)
{
  Suite *s = suite_create ("npy");
  TCase *tc = tcase_create ("general");

  /* the fuzz loop is slow under valgrind */
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_header_roundtrip);
  tcase_add_test (tc, test_header_exact_text);
  tcase_add_test (tc, test_header_variants);
  tcase_add_test (tc, test_header_hostile_prefix);
  tcase_add_test (tc, test_header_hostile_shape);
  tcase_add_test (tc, test_header_hostile_dict);
  tcase_add_test (tc, test_header_fuzz);
  tcase_add_test (tc, test_write_and_load);
  tcase_add_test (tc, test_write_atomic);
  tcase_add_test (tc, test_load_conversion);
  tcase_add_test (tc, test_load_errors);
  tcase_add_test (tc, test_load_numpy_files);
  tcase_add_test (tc, test_numpy_loads_ours);
  tcase_add_test (tc, test_fifo_is_refused);

  return s;
}

GST_CHECK_MAIN (npy);
