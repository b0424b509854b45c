/* gst-sharedmatrix: .npy reading and writing (private to the library)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Format reference:
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 *
 * The header parser treats its input as hostile: a .npy file may come from
 * anywhere (a download, a buffer on a pad), so every read is bounds-checked,
 * the header dictionary is parsed as the small subset of Python literal syntax
 * that numpy writes (no eval, no recursion on input-controlled depth), and
 * every rejection says what was found and what is allowed.
 */

#include "npy.h"
#include "file-io.h"

#include <string.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6

/* numpy aligns the start of the data to 64 bytes so that it can be
 * memory-mapped with any dtype; we do the same. */
#define NPY_ALIGN 64

/* numpy itself refuses headers over 10000 bytes unless asked; a 2-D header is
 * under 200 bytes. 1 MiB leaves room for odd but honest writers while
 * bounding what a hostile file can make us scan. */
#define NPY_MAX_HEADER_LEN (1024 * 1024)

/* NPY_MAXDIMS in numpy 1.x is 32 (64 in 2.x): parse up to 64 so that the
 * error can still print the shape that was found. */
#define NPY_MAX_PARSED_DIMS 64

/* How much of an offending value is quoted in an error message. */
#define NPY_EXCERPT_LEN 48

#define SUPPORTED_DESCRS \
  "'<f4' (float32), '<f8' (float64), '<f2' (float16) and " \
  "[('bfloat16', '<u2')] (bfloat16), with byte order '<', '=' or '>'"

/* ------------------------------------------------------------------------ */
/* Writing */

static gboolean
dtype_is_valid (GstSharedMatrixDType dtype)
{
  return dtype == GST_SHARED_MATRIX_DTYPE_FLOAT32 ||
      dtype == GST_SHARED_MATRIX_DTYPE_FLOAT64 ||
      dtype == GST_SHARED_MATRIX_DTYPE_FLOAT16 ||
      dtype == GST_SHARED_MATRIX_DTYPE_BFLOAT16;
}

static const gchar *
dtype_descr (GstSharedMatrixDType dtype)
{
  switch (dtype) {
    case GST_SHARED_MATRIX_DTYPE_FLOAT32:
      return "'<f4'";
    case GST_SHARED_MATRIX_DTYPE_FLOAT64:
      return "'<f8'";
    case GST_SHARED_MATRIX_DTYPE_FLOAT16:
      return "'<f2'";
    case GST_SHARED_MATRIX_DTYPE_BFLOAT16:
      /* No numpy dtype: the raw bits as a one-field structured dtype, which
       * numpy.load reads (a['bfloat16'] is the uint16 array) and which maps
       * back to bfloat16 without ambiguity. */
      return "[('bfloat16', '<u2')]";
  }
  g_assert_not_reached ();
  return NULL;
}

/* The dictionary exactly as numpy formats it (repr of a dict in key order).
 * Returns its length, without padding or the final newline. */
static gsize
format_dict (GstSharedMatrixDType dtype, guint64 rows, guint cols,
    gchar * buf, gsize buf_size)
{
  gint len;

  len = g_snprintf (buf, buf_size,
      "{'descr': %s, 'fortran_order': False, 'shape': (%" G_GUINT64_FORMAT
      ", %u), }", dtype_descr (dtype), rows, cols);
  g_assert (len > 0 && (gsize) len < buf_size);

  return len;
}

/* Length of the magic + version + HEADER_LEN prefix for a given version. */
static gsize
prefix_len (guint major)
{
  return major == 1 ? NPY_MAGIC_LEN + 2 + 2 : NPY_MAGIC_LEN + 2 + 4;
}

/* Total header size (prefix + dict + padding + '\n') and the version that
 * can hold it: 1.0 when HEADER_LEN fits 16 bits, else 2.0. */
static gsize
header_layout (gsize dict_len, guint * major)
{
  gsize total;

  total = prefix_len (1) + dict_len + 1;
  total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
  if (total - prefix_len (1) <= G_MAXUINT16) {
    *major = 1;
    return total;
  }

  /* Unreachable for 2-D shapes (the dict is under 200 bytes), kept so that
   * the writer stays correct if the dictionary ever grows. */
  total = prefix_len (2) + dict_len + 1;
  total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
  *major = 2;
  return total;
}

gsize
sm_npy_header_size (GstSharedMatrixDType dtype, guint64 rows,
    guint cols)
{
  gchar dict[256];
  guint major;

  g_return_val_if_fail (dtype_is_valid (dtype), 0);

  return header_layout (format_dict (dtype, rows, cols, dict, sizeof (dict)),
      &major);
}

void
sm_npy_write_header (GstSharedMatrixDType dtype, guint64 rows,
    guint cols, guint8 * dest, gsize size)
{
  gchar dict[256];
  gsize dict_len, total, plen, header_len;
  guint major;

  g_return_if_fail (dtype_is_valid (dtype));
  g_return_if_fail (dest != NULL);

  dict_len = format_dict (dtype, rows, cols, dict, sizeof (dict));
  total = header_layout (dict_len, &major);
  g_return_if_fail (size == total);

  plen = prefix_len (major);
  header_len = total - plen;

  memcpy (dest, NPY_MAGIC, NPY_MAGIC_LEN);
  dest[6] = major;
  dest[7] = 0;
  if (major == 1) {
    dest[8] = header_len & 0xff;
    dest[9] = (header_len >> 8) & 0xff;
  } else {
    dest[8] = header_len & 0xff;
    dest[9] = (header_len >> 8) & 0xff;
    dest[10] = (header_len >> 16) & 0xff;
    dest[11] = (header_len >> 24) & 0xff;
  }
  memcpy (dest + plen, dict, dict_len);
  memset (dest + plen + dict_len, ' ', total - plen - dict_len - 1);
  dest[total - 1] = '\n';
}

/* ------------------------------------------------------------------------ */
/* Parsing */

typedef struct
{
  const gchar *start;           /* the header dictionary text */
  const gchar *p;
  const gchar *end;
} Parser;

typedef struct
{
  const gchar *s;               /* points into the header, not terminated */
  gsize len;
} Str;

typedef struct
{
  gboolean negative;
  guint64 magnitude;
} Dim;

static void
set_error (GError ** error, const gchar * format, ...) G_GNUC_PRINTF (2, 3);

static void
set_error (GError ** error, const gchar * format, ...)
{
  va_list args;
  gchar *msg;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_NPY,
      "invalid .npy header: %s", msg);
  g_free (msg);
}

/* A printable copy of at most NPY_EXCERPT_LEN bytes at @s: hostile bytes
 * must not end up raw in logs or terminals. */
static gchar *
excerpt (const gchar * s, gsize len)
{
  GString *out;
  gsize i, n;

  n = MIN (len, NPY_EXCERPT_LEN);
  out = g_string_sized_new (n + 4);
  for (i = 0; i < n; i++) {
    guchar c = s[i];

    if (c >= 0x20 && c < 0x7f)
      g_string_append_c (out, c);
    else
      g_string_append_printf (out, "\\x%02x", c);
  }
  if (len > n)
    g_string_append (out, "...");

  return g_string_free (out, FALSE);
}

/* Excerpt from @from to the end of the header. */
static gchar *
excerpt_at (Parser * ps, const gchar * from)
{
  return excerpt (from, ps->end - from);
}

/* Excerpt of the one token at @from (up to the next delimiter), for values
 * that are wrong on their own, like "1" for fortran_order. */
static gchar *
token_at (Parser * ps, const gchar * from)
{
  const gchar *stop = from;

  while (stop < ps->end && !strchr (",:)]} \t\n\r", *stop))
    stop++;
  if (stop == from && stop < ps->end)
    stop++;

  return excerpt (from, stop - from);
}

static gsize
offset (Parser * ps)
{
  return ps->p - ps->start;
}

static void
skip_ws (Parser * ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
          *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\f' || *ps->p == '\v'))
    ps->p++;
}

static gboolean
peek (Parser * ps, gchar c)
{
  return ps->p < ps->end && *ps->p == c;
}

static gboolean
expect (Parser * ps, gchar c, const gchar * what, GError ** error)
{
  gchar *found;

  skip_ws (ps);
  if (peek (ps, c)) {
    ps->p++;
    return TRUE;
  }

  if (ps->p >= ps->end) {
    set_error (error, "the header ends where '%c' was expected %s", c, what);
  } else {
    found = excerpt_at (ps, ps->p);
    set_error (error, "expected '%c' %s at offset %" G_GSIZE_FORMAT
        " of the header dictionary, found '%s'", c, what, offset (ps), found);
    g_free (found);
  }
  return FALSE;
}

/* A Python string literal in single or double quotes. Escapes are refused:
 * no valid key or descr needs one, and refusing keeps the text we compare
 * equal to the bytes in the file. */
static gboolean
parse_string (Parser * ps, const gchar * what, Str * out, GError ** error)
{
  const gchar *open;
  gchar quote;
  gchar *found;

  skip_ws (ps);
  if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) {
    if (ps->p >= ps->end) {
      set_error (error, "the header ends where a quoted string was expected "
          "for %s", what);
    } else {
      found = excerpt_at (ps, ps->p);
      set_error (error, "expected a quoted string for %s at offset %"
          G_GSIZE_FORMAT " of the header dictionary, found '%s'", what,
          offset (ps), found);
      g_free (found);
    }
    return FALSE;
  }

  open = ps->p;
  quote = *ps->p++;
  out->s = ps->p;
  while (ps->p < ps->end && *ps->p != quote) {
    if (*ps->p == '\\') {
      found = excerpt_at (ps, open);
      set_error (error, "escape sequences are not supported in %s: %s",
          what, found);
      g_free (found);
      return FALSE;
    }
    if (*ps->p == '\n' || *ps->p == '\r') {
      /* Python does not allow a line break in a one-quoted string either */
      break;
    }
    ps->p++;
  }
  if (ps->p >= ps->end || *ps->p != quote) {
    found = excerpt_at (ps, open);
    set_error (error, "unterminated string for %s at offset %" G_GSIZE_FORMAT
        " of the header dictionary: %s", what, (gsize) (open - ps->start),
        found);
    g_free (found);
    return FALSE;
  }
  out->len = ps->p - out->s;
  ps->p++;

  return TRUE;
}

static gboolean
str_equal (const Str * s, const gchar * literal)
{
  gsize len = strlen (literal);

  return s->len == len && memcmp (s->s, literal, len) == 0;
}

static gboolean
is_ident_char (gchar c)
{
  return g_ascii_isalnum (c) || c == '_';
}

/* A decimal integer literal as numpy (or Python 2 numpy, with its 'L'
 * suffix) writes it, with an optional sign so that negative dimensions get
 * a precise message. */
static gboolean
parse_int (Parser * ps, Dim * out, GError ** error)
{
  const gchar *from;
  gchar *found;
  guint64 v = 0;
  gboolean overflow = FALSE;

  skip_ws (ps);
  from = ps->p;
  out->negative = FALSE;
  if (peek (ps, '-') || peek (ps, '+')) {
    out->negative = *ps->p == '-';
    ps->p++;
    skip_ws (ps);
  }
  if (ps->p >= ps->end) {
    set_error (error, "the header ends inside 'shape' where an integer was "
        "expected");
    return FALSE;
  }
  if (!g_ascii_isdigit (*ps->p))
    goto not_an_int;

  while (ps->p < ps->end && g_ascii_isdigit (*ps->p)) {
    guint d = *ps->p - '0';

    if (v > (G_MAXUINT64 - d) / 10)
      overflow = TRUE;
    else
      v = v * 10 + d;
    ps->p++;
  }
  if (peek (ps, 'L') || peek (ps, 'l'))
    ps->p++;
  /* "0x10", "1e3", "3.0", "4j" are not integers we accept */
  if (ps->p < ps->end && (is_ident_char (*ps->p) || *ps->p == '.'))
    goto not_an_int;

  if (overflow) {
    found = excerpt (from, ps->p - from);
    set_error (error, "dimension %s in 'shape' is too large (the maximum is %"
        G_GUINT64_FORMAT ")", found, G_MAXUINT64);
    g_free (found);
    return FALSE;
  }
  out->magnitude = v;
  return TRUE;

not_an_int:
  found = token_at (ps, from);
  set_error (error, "'shape' must be a tuple of integers, found '%s' at "
      "offset %" G_GSIZE_FORMAT " of the header dictionary", found,
      (gsize) (from - ps->start));
  g_free (found);
  return FALSE;
}

static gchar *
format_shape (const Dim * dims, guint n_dims, gboolean truncated)
{
  GString *s;
  guint i;

  s = g_string_new ("(");
  for (i = 0; i < n_dims; i++) {
    if (i > 0)
      g_string_append (s, ", ");
    g_string_append_printf (s, "%s%" G_GUINT64_FORMAT,
        dims[i].negative && dims[i].magnitude != 0 ? "-" : "",
        dims[i].magnitude);
  }
  if (truncated)
    g_string_append (s, ", ...");
  else if (n_dims == 1)
    g_string_append_c (s, ',');
  g_string_append_c (s, ')');

  return g_string_free (s, FALSE);
}

static gboolean
parse_shape (Parser * ps, Dim * rows, Dim * cols, GError ** error)
{
  Dim dims[NPY_MAX_PARSED_DIMS];
  guint n_dims = 0;
  gboolean trailing_comma = FALSE;
  gboolean too_many = FALSE;
  gchar *found;

  skip_ws (ps);
  if (!peek (ps, '(')) {
    found = excerpt_at (ps, ps->p);
    set_error (error, "'shape' must be a tuple such as (rows, cols), found "
        "'%s'", found);
    g_free (found);
    return FALSE;
  }
  ps->p++;

  skip_ws (ps);
  while (!peek (ps, ')')) {
    Dim d;

    if (!parse_int (ps, &d, error))
      return FALSE;
    if (n_dims < NPY_MAX_PARSED_DIMS)
      dims[n_dims++] = d;
    else
      too_many = TRUE;
    trailing_comma = FALSE;

    skip_ws (ps);
    if (peek (ps, ',')) {
      ps->p++;
      trailing_comma = TRUE;
      skip_ws (ps);
    } else if (!peek (ps, ')')) {
      return expect (ps, ')', "to close 'shape'", error);
    }
  }
  ps->p++;

  /* "(5)" is the integer 5 in Python, not a tuple */
  if (n_dims == 1 && !trailing_comma) {
    set_error (error, "'shape' must be a tuple such as (rows, cols), found "
        "the integer (%s%" G_GUINT64_FORMAT ")", dims[0].negative ? "-" : "",
        dims[0].magnitude);
    return FALSE;
  }

  if (n_dims != 2) {
    found = format_shape (dims, n_dims, too_many);
    if (too_many)
      set_error (error, "shape %s has more than %u dimensions: a 2-D (rows, "
          "cols) array is required", found, NPY_MAX_PARSED_DIMS);
    else
      set_error (error, "shape %s has %u dimension%s: a 2-D (rows, cols) "
          "array is required", found, n_dims, n_dims == 1 ? "" : "s");
    g_free (found);
    return FALSE;
  }

  *rows = dims[0];
  *cols = dims[1];
  return TRUE;
}

/* The byte order character of a descr string: '<' little, '>' big, '='
 * native. '|' (not applicable) is what numpy writes for 1-byte types and is
 * never right for our 2, 4 and 8-byte ones. */
static gboolean
parse_byte_order (gchar c, gboolean * big_endian)
{
  switch (c) {
    case '<':
      *big_endian = FALSE;
      return TRUE;
    case '>':
      *big_endian = TRUE;
      return TRUE;
    case '=':
      *big_endian = G_BYTE_ORDER == G_BIG_ENDIAN;
      return TRUE;
    default:
      return FALSE;
  }
}

static void
unsupported_descr (const gchar * from, gsize len, GError ** error)
{
  gchar *found = excerpt (from, len);

  set_error (error, "unsupported dtype descr %s: supported are "
      SUPPORTED_DESCRS, found);
  g_free (found);
}

/* [('bfloat16', '<u2')], optionally with trailing commas inside the tuple
 * and the list. Anything else in list form is an unsupported structured
 * dtype. */
static gboolean
parse_struct_descr (Parser * ps, SmNpyInfo * info, GError ** error)
{
  const gchar *from = ps->p;
  Str name, type;
  GError *local = NULL;

  ps->p++;                      /* '[' */
  skip_ws (ps);
  if (!peek (ps, '('))
    goto unsupported;
  ps->p++;
  if (!parse_string (ps, "a field name of 'descr'", &name, &local))
    goto unsupported;
  skip_ws (ps);
  if (!peek (ps, ','))
    goto unsupported;
  ps->p++;
  if (!parse_string (ps, "a field type of 'descr'", &type, &local))
    goto unsupported;
  skip_ws (ps);
  if (peek (ps, ',')) {
    ps->p++;
    skip_ws (ps);
  }
  if (!peek (ps, ')'))
    goto unsupported;
  ps->p++;
  skip_ws (ps);
  if (peek (ps, ',')) {
    ps->p++;
    skip_ws (ps);
  }
  if (!peek (ps, ']'))
    goto unsupported;
  ps->p++;

  if (!str_equal (&name, "bfloat16") || type.len != 3 ||
      !parse_byte_order (type.s[0], &info->big_endian) ||
      type.s[1] != 'u' || type.s[2] != '2') {
    /* well-formed, so quote exactly the list */
    unsupported_descr (from, ps->p - from, error);
    return FALSE;
  }

  info->dtype = GST_SHARED_MATRIX_DTYPE_BFLOAT16;
  return TRUE;

unsupported:
  {
    const gchar *stop = ps->p;

    /* quote up to the end of the list when it is in sight */
    while (stop < ps->end && *stop != ']' && *stop != '}' &&
        stop - from < NPY_EXCERPT_LEN)
      stop++;
    if (stop < ps->end && *stop == ']')
      stop++;
    unsupported_descr (from, stop - from, error);
    g_clear_error (&local);
    return FALSE;
  }
}

static gboolean
parse_descr (Parser * ps, SmNpyInfo * info, GError ** error)
{
  Str s;
  gchar *found;

  skip_ws (ps);
  if (peek (ps, '['))
    return parse_struct_descr (ps, info, error);

  if (!peek (ps, '\'') && !peek (ps, '"')) {
    found = excerpt_at (ps, ps->p);
    set_error (error, "'descr' must be a string such as '<f4' or the list "
        "[('bfloat16', '<u2')], found '%s'", found);
    g_free (found);
    return FALSE;
  }
  if (!parse_string (ps, "'descr'", &s, error))
    return FALSE;

  if (s.len == 3 && parse_byte_order (s.s[0], &info->big_endian) &&
      s.s[1] == 'f') {
    switch (s.s[2]) {
      case '4':
        info->dtype = GST_SHARED_MATRIX_DTYPE_FLOAT32;
        return TRUE;
      case '8':
        info->dtype = GST_SHARED_MATRIX_DTYPE_FLOAT64;
        return TRUE;
      case '2':
        info->dtype = GST_SHARED_MATRIX_DTYPE_FLOAT16;
        return TRUE;
      default:
        break;
    }
  }

  /* quote it with its quotes */
  unsupported_descr (s.s - 1, s.len + 2, error);
  return FALSE;
}

static gboolean
parse_bool (Parser * ps, gboolean * out, GError ** error)
{
  const gchar *from;
  gchar *found;
  gsize len;

  skip_ws (ps);
  from = ps->p;
  while (ps->p < ps->end && is_ident_char (*ps->p))
    ps->p++;
  len = ps->p - from;

  if (len == 4 && memcmp (from, "True", 4) == 0) {
    *out = TRUE;
    return TRUE;
  }
  if (len == 5 && memcmp (from, "False", 5) == 0) {
    *out = FALSE;
    return TRUE;
  }

  found = token_at (ps, from);
  set_error (error, "'fortran_order' must be True or False, found '%s'", found);
  g_free (found);
  return FALSE;
}

#define KEY_DESCR (1 << 0)
#define KEY_FORTRAN_ORDER (1 << 1)
#define KEY_SHAPE (1 << 2)

static gboolean
parse_dict (Parser * ps, SmNpyInfo * info, Dim * rows, Dim * cols,
    GError ** error)
{
  guint seen = 0;
  gchar *found;

  if (!expect (ps, '{', "to open the header dictionary", error))
    return FALSE;

  for (;;) {
    Str key;
    guint bit;
    gboolean ok;

    skip_ws (ps);
    if (peek (ps, '}'))
      break;

    if (!parse_string (ps, "a key", &key, error))
      return FALSE;
    if (str_equal (&key, "descr")) {
      bit = KEY_DESCR;
    } else if (str_equal (&key, "fortran_order")) {
      bit = KEY_FORTRAN_ORDER;
    } else if (str_equal (&key, "shape")) {
      bit = KEY_SHAPE;
    } else {
      found = excerpt (key.s, key.len);
      set_error (error, "unknown key '%s' in the header dictionary: the keys "
          "are 'descr', 'fortran_order' and 'shape'", found);
      g_free (found);
      return FALSE;
    }
    if (seen & bit) {
      found = excerpt (key.s, key.len);
      set_error (error, "duplicate key '%s' in the header dictionary: each of "
          "'descr', 'fortran_order' and 'shape' must appear once", found);
      g_free (found);
      return FALSE;
    }
    seen |= bit;

    if (!expect (ps, ':', "after a key", error))
      return FALSE;

    if (bit == KEY_DESCR)
      ok = parse_descr (ps, info, error);
    else if (bit == KEY_FORTRAN_ORDER)
      ok = parse_bool (ps, &info->fortran_order, error);
    else
      ok = parse_shape (ps, rows, cols, error);
    if (!ok)
      return FALSE;

    skip_ws (ps);
    if (peek (ps, ',')) {
      ps->p++;
      continue;
    }
    if (!peek (ps, '}'))
      return expect (ps, '}', "to close the header dictionary", error);
  }
  ps->p++;

  /* numpy pads with spaces and a final newline; nothing else may follow */
  skip_ws (ps);
  if (ps->p < ps->end) {
    found = excerpt_at (ps, ps->p);
    set_error (error, "unexpected text after the header dictionary at offset %"
        G_GSIZE_FORMAT ": '%s' (only whitespace padding is allowed)",
        offset (ps), found);
    g_free (found);
    return FALSE;
  }

  if (seen != (KEY_DESCR | KEY_FORTRAN_ORDER | KEY_SHAPE)) {
    set_error (error, "missing key '%s' in the header dictionary: "
        "'descr', 'fortran_order' and 'shape' are all required",
        !(seen & KEY_DESCR) ? "descr" : !(seen & KEY_FORTRAN_ORDER) ?
        "fortran_order" : "shape");
    return FALSE;
  }

  return TRUE;
}

gboolean
sm_npy_parse_header (const guint8 * data, gsize size,
    SmNpyInfo * info, GError ** error)
{
  SmNpyInfo result = { 0, };
  Parser ps;
  Dim rows, cols, dims[2];
  guint major, minor;
  gsize plen;
  guint64 header_len;
  guint64 nbytes;
  guint itemsize;
  gchar *shape;

  g_return_val_if_fail (data != NULL || size == 0, FALSE);
  g_return_val_if_fail (info != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (size == 0) {
    set_error (error, "truncated: no data at all, a .npy file starts with "
        "the magic string \\x93NUMPY");
    return FALSE;
  }
  if (size < NPY_MAGIC_LEN || memcmp (data, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
    gchar *found = excerpt ((const gchar *) data, MIN (size, NPY_MAGIC_LEN));

    if (size < NPY_MAGIC_LEN && memcmp (data, NPY_MAGIC, size) == 0)
      set_error (error, "truncated: %" G_GSIZE_FORMAT " bytes, too short for "
          "the magic string \\x93NUMPY", size);
    else
      set_error (error, "not a .npy file: it starts with '%s' instead of the "
          "magic string \\x93NUMPY", found);
    g_free (found);
    return FALSE;
  }

  if (size < NPY_MAGIC_LEN + 2) {
    set_error (error, "truncated: %" G_GSIZE_FORMAT " bytes, too short for "
        "the format version", size);
    return FALSE;
  }
  major = data[6];
  minor = data[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    set_error (error, "unsupported .npy format version %u.%u: supported "
        "versions are 1.0, 2.0 and 3.0", major, minor);
    return FALSE;
  }

  plen = prefix_len (major);
  if (size < plen) {
    set_error (error, "truncated: %" G_GSIZE_FORMAT " bytes, too short for "
        "the version %u.0 header length field (%" G_GSIZE_FORMAT " bytes "
        "needed)", size, major, plen);
    return FALSE;
  }
  /* little-endian uint16 (1.0) or uint32 (2.0, 3.0) */
  header_len = data[8] | (data[9] << 8);
  if (major != 1)
    header_len |= ((guint64) data[10] << 16) | ((guint64) data[11] << 24);

  if (header_len > NPY_MAX_HEADER_LEN) {
    set_error (error, "header length %" G_GUINT64_FORMAT " is larger than "
        "the limit of %u bytes", header_len, NPY_MAX_HEADER_LEN);
    return FALSE;
  }
  if (header_len > size - plen) {
    set_error (error, "truncated: header length %" G_GUINT64_FORMAT " runs "
        "past the end of the data (%" G_GSIZE_FORMAT " bytes after the %"
        G_GSIZE_FORMAT "-byte prefix)", header_len, size - plen, plen);
    return FALSE;
  }

  ps.start = (const gchar *) data + plen;
  ps.p = ps.start;
  ps.end = ps.start + header_len;
  if (!parse_dict (&ps, &result, &rows, &cols, error))
    return FALSE;

  dims[0] = rows;
  dims[1] = cols;
  shape = format_shape (dims, 2, FALSE);
  if (rows.negative || rows.magnitude == 0) {
    set_error (error, "shape %s: rows must be >= 1", shape);
    g_free (shape);
    return FALSE;
  }
  if (cols.negative || cols.magnitude == 0 || cols.magnitude > G_MAXINT) {
    set_error (error, "shape %s: cols must be between 1 and %d", shape,
        G_MAXINT);
    g_free (shape);
    return FALSE;
  }

  itemsize = gst_shared_matrix_dtype_size (result.dtype);
  if (!g_uint64_checked_mul (&nbytes, rows.magnitude, cols.magnitude) ||
      !g_uint64_checked_mul (&nbytes, nbytes, itemsize) ||
      nbytes > G_MAXSIZE - (plen + header_len)) {
    set_error (error, "shape %s is too large: rows * cols * %u bytes "
        "overflows the addressable size", shape, itemsize);
    g_free (shape);
    return FALSE;
  }
  g_free (shape);

  result.rows = rows.magnitude;
  result.cols = cols.magnitude;
  result.data_offset = plen + header_len;
  *info = result;

  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Loading */

static inline void
copy_item (guint8 * dest, const guint8 * src, guint itemsize, gboolean swap)
{
  guint16 v16;
  guint32 v32;
  guint64 v64;

  /* memcpy: the source is at any alignment (data_offset need not be a
   * multiple of the item size in files from other writers) */
  switch (itemsize) {
    case 2:
      memcpy (&v16, src, 2);
      if (swap)
        v16 = GUINT16_SWAP_LE_BE (v16);
      memcpy (dest, &v16, 2);
      break;
    case 4:
      memcpy (&v32, src, 4);
      if (swap)
        v32 = GUINT32_SWAP_LE_BE (v32);
      memcpy (dest, &v32, 4);
      break;
    case 8:
      memcpy (&v64, src, 8);
      if (swap)
        v64 = GUINT64_SWAP_LE_BE (v64);
      memcpy (dest, &v64, 8);
      break;
    default:
      g_assert_not_reached ();
  }
}

/* Blocked so that both the column-major reads and the row-major writes stay
 * within a few cache lines. */
#define TRANSPOSE_BLOCK 64

static void
convert (guint8 * dest, const guint8 * src, const SmNpyInfo * info,
    guint itemsize)
{
  gboolean swap = info->big_endian != (G_BYTE_ORDER == G_BIG_ENDIAN);
  guint64 r0, r, rend;
  guint c0, c, cend;

  if (!info->fortran_order) {
    guint64 i, n = info->rows * info->cols;

    for (i = 0; i < n; i++)
      copy_item (dest + i * itemsize, src + i * itemsize, itemsize, swap);
    return;
  }

  /* Fortran order: element (r, c) is at c * rows + r */
  for (r0 = 0; r0 < info->rows; r0 += TRANSPOSE_BLOCK) {
    rend = MIN (r0 + TRANSPOSE_BLOCK, info->rows);
    for (c0 = 0; c0 < info->cols; c0 += TRANSPOSE_BLOCK) {
      cend = MIN ((guint64) c0 + TRANSPOSE_BLOCK, info->cols);
      for (c = c0; c < cend; c++) {
        for (r = r0; r < rend; r++) {
          copy_item (dest + (r * info->cols + c) * itemsize,
              src + (c * info->rows + r) * itemsize, itemsize, swap);
        }
      }
    }
  }
}

static GBytes *
load_from_mapping (const gchar * path, GMappedFile * mapped,
    SmNpyInfo * info, GError ** error)
{
  const guint8 *contents;
  gsize length, data_size;
  guint itemsize;
  GError *local = NULL;
  guint8 *converted;

  contents = (const guint8 *) g_mapped_file_get_contents (mapped);
  length = g_mapped_file_get_length (mapped);

  if (!sm_npy_parse_header (contents, length, info, &local)) {
    g_propagate_prefixed_error (error, local, "%s: ", path);
    return NULL;
  }

  /* cannot overflow: checked by the parser */
  itemsize = gst_shared_matrix_dtype_size (info->dtype);
  data_size = info->rows * info->cols * itemsize;

  /* Extra bytes after the data are allowed, as numpy.load allows them. */
  if (data_size > length - info->data_offset) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "%s: truncated file: a %" G_GUINT64_FORMAT " x %u %s matrix needs %"
        G_GSIZE_FORMAT " bytes of data after the %" G_GSIZE_FORMAT
        "-byte header (%" G_GSIZE_FORMAT " bytes in all), but the file has "
        "%" G_GSIZE_FORMAT " bytes", path, info->rows, info->cols,
        gst_shared_matrix_dtype_to_string (info->dtype), data_size,
        info->data_offset, info->data_offset + data_size, length);
    return NULL;
  }

  if (!info->fortran_order &&
      info->big_endian == (G_BYTE_ORDER == G_BIG_ENDIAN)) {
    /* Already in the layout we serve: hand out the mapping itself. */
    GBytes *whole = g_mapped_file_get_bytes (mapped);
    GBytes *data = g_bytes_new_from_bytes (whole, info->data_offset,
        data_size);

    g_bytes_unref (whole);
    return data;
  }

  converted = g_try_malloc (data_size);
  if (converted == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY, "%s: cannot allocate %"
        G_GSIZE_FORMAT " bytes to convert the matrix to C order "
        "little-endian", path, data_size);
    return NULL;
  }
  convert (converted, contents + info->data_offset, info, itemsize);

  return g_bytes_new_take (converted, data_size);
}

/* @info describes the file as found (fortran_order, big_endian and
 * data_offset are those of the file); the returned bytes are always C order
 * and little-endian whatever the file holds.
 *
 * The common case is zero-copy: the returned GBytes references a read-only
 * mapping of the file. As with any mmap, a file truncated by someone else
 * while mapped makes later reads fault; we write our own files by atomic
 * rename, which never truncates a mapped file in place. */
/* The file at @path, mapped, or NULL with @error naming it. */
static GMappedFile *
map_npy_file (const gchar * path, GError ** error)
{
  GMappedFile *mapped;
  GError *local = NULL;
  struct stat st;
  int fd;

  /* Our own open () rather than g_mapped_file_new () so that the error can
   * name the path and the plain OS error, and a FIFO cannot block it. */
  fd = sm_file_open_regular (path, ".npy file", &st, error);
  if (fd < 0)
    return NULL;
  if (st.st_size == 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: the .npy file is empty (0 bytes)", path);
    close (fd);
    return NULL;
  }

  mapped = g_mapped_file_new_from_fd (fd, FALSE, &local);
  /* the mapping, if any, stays valid after close */
  close (fd);
  if (mapped == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_FILE,
        "%s: cannot map the .npy file: %s", path, local->message);
    g_clear_error (&local);
  }
  return mapped;
}

/* Reads only the header of the .npy file at @path (shape and dtype), with
 * the checks of sm_npy_parse_header (); errors name the file. */
gboolean
sm_npy_read_header (const gchar * path, SmNpyInfo * info, GError ** error)
{
  GMappedFile *mapped = map_npy_file (path, error);
  GError *local = NULL;
  gboolean ok;

  if (mapped == NULL)
    return FALSE;
  ok = sm_npy_parse_header ((const guint8 *)
      g_mapped_file_get_contents (mapped), g_mapped_file_get_length (mapped),
      info, &local);
  if (!ok)
    g_propagate_prefixed_error (error, local, "%s: ", path);
  g_mapped_file_unref (mapped);
  return ok;
}

GBytes *
sm_npy_load (const gchar * path, SmNpyInfo * info,
    GError ** error)
{
  SmNpyInfo local_info;
  GMappedFile *mapped;
  GBytes *data;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (info == NULL)
    info = &local_info;
  mapped = map_npy_file (path, error);
  if (mapped == NULL)
    return NULL;

  data = load_from_mapping (path, mapped, info, error);
  g_mapped_file_unref (mapped);

  return data;
}
