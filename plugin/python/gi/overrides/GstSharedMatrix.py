# gst-sharedmatrix: PyGObject overrides of the GstSharedMatrix 1.0 namespace
# SPDX-License-Identifier: LGPL-2.1-or-later
"""numpy-first Python API of GstSharedMatrix.

Loaded by PyGObject on `from gi.repository import GstSharedMatrix` when
this file lies in a `gi/overrides` directory that PyGObject searches
(installed beside PyGObject's own overrides, or through PYTHONPATH from a
build tree: `source tests/setup.sh`, `meson devenv -C build`).

    m = GstSharedMatrix.SharedMatrix.new(70000, 100, GstSharedMatrix.DType.FLOAT32,
                                         GstSharedMatrix.Backend.AUTO)
    m.update("add", rows, deltas)          # numpy arrays or sequences
    m.gather([3, 17])                      # ndarray (2, 100)
    C = m.numpy()                          # or np.asarray(m): the whole matrix
    m.shape, m.dtype

Everything the introspected API offers stays available; update_bytes,
update_bytes_full, gather_bytes and set_value also take numpy arrays (or any
buffer) where they take GLib.Bytes. Errors of the library are raised as
GstSharedMatrix.SharedMatrixError, a GLib.Error whose .code is a
GstSharedMatrix.Error value (also as .error).

numpy is imported on first use: without numpy the introspected API works as
before, and the numpy methods raise ImportError.
"""

import functools

from gi.repository import GLib, GObject

from ..module import get_introspection_module
from ..overrides import override

GstSharedMatrix = get_introspection_module('GstSharedMatrix')

__all__ = []


def _repair_bare_class():
    """Forget a bare `__gi__.GstSharedMatrix` wrapper class.

    PyGObject creates one when it wraps a matrix before this namespace is
    loaded (a `sharedmatrix` element's `matrix` property read before the
    import) and would hand it out as GstSharedMatrix.SharedMatrix from then
    on. The library loads its typelib itself in processes that use
    introspection, so this is a second line of defence (a typelib the
    library could not find then). Objects already wrapped keep their class
    (PyGObject records it per instance); new wrappers get the full one."""
    try:
        gtype = GObject.type_from_name('GstSharedMatrix')
    except RuntimeError:        # library not loaded yet: nothing wrapped
        return
    pytype = gtype.pytype
    if pytype is not None and pytype.__module__ == '__gi__':
        gtype.pytype = None


_repair_bare_class()

_ERROR_DOMAIN = 'gst-shared-matrix-error-quark'


class SharedMatrixError(GLib.Error):
    """An error of the GstSharedMatrix library: a GLib.Error in the
    library's domain; .code (and .error) is a GstSharedMatrix.Error."""

    @property
    def error(self):
        return GstSharedMatrix.Error(self.code)


__all__.append('SharedMatrixError')


def _library_errors(func):
    """Raises the library's GLib.Errors as SharedMatrixError."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GLib.Error as e:
            if e.domain != _ERROR_DOMAIN or isinstance(e, SharedMatrixError):
                raise
            raise SharedMatrixError(e.message, e.domain, e.code) from None
    return wrapper


# ---- dtypes ---------------------------------------------------------------

_np = None
_bfloat16 = None        # ml_dtypes.bfloat16 when importable


def _numpy():
    global _np, _bfloat16
    if _np is None:
        import numpy
        try:
            import ml_dtypes
            _bfloat16 = numpy.dtype(ml_dtypes.bfloat16)
        except ImportError:
            _bfloat16 = None
        _np = numpy
    return _np


# The documented representation of bfloat16 without ml_dtypes: the raw bits
# (the upper half of a float32), as .npy files of bfloat16 matrices hold it.
BFLOAT16_STRUCT = [('bfloat16', '<u2')]
__all__.append('BFLOAT16_STRUCT')


def numpy_dtype(dtype):
    """The numpy dtype of a GstSharedMatrix.DType: float32 '<f4', float64
    '<f8', float16 '<f2'; bfloat16 is ml_dtypes.bfloat16 when ml_dtypes is
    importable, else the structured dtype [('bfloat16', '<u2')] holding
    the raw bits."""
    np = _numpy()
    D = GstSharedMatrix.DType
    if dtype == D.BFLOAT16:
        return _bfloat16 if _bfloat16 is not None else np.dtype(BFLOAT16_STRUCT)
    return np.dtype({D.FLOAT32: '<f4', D.FLOAT64: '<f8', D.FLOAT16: '<f2'}[dtype])


__all__.append('numpy_dtype')


def _delta_dtype(np_dtype):
    """GstSharedMatrix.DType of a numpy dtype, or TypeError."""
    np = _numpy()
    D = GstSharedMatrix.DType
    np_dtype = np.dtype(np_dtype)
    if _bfloat16 is not None and np_dtype == _bfloat16:
        return D.BFLOAT16
    if np_dtype == np.dtype(BFLOAT16_STRUCT):
        return D.BFLOAT16
    if np_dtype.kind == 'f':
        dtype = {4: D.FLOAT32, 8: D.FLOAT64, 2: D.FLOAT16}.get(np_dtype.itemsize)
        if dtype is not None:
            return dtype
    raise TypeError(f"deltas of dtype {np_dtype} are not supported: use "
                    "float32, float64, float16 or bfloat16 (ml_dtypes.bfloat16 "
                    f"or {BFLOAT16_STRUCT})")


def _indices(rows):
    """(little-endian contiguous int32/int64 array, IndexType) of @rows."""
    np = _numpy()
    I = GstSharedMatrix.IndexType
    idx = np.asarray(rows)
    if idx.size == 0 and idx.dtype.kind not in 'iu':
        idx = idx.astype('<i8')
    if idx.dtype.kind not in 'iu':
        raise TypeError(f"row indices must be integers, not {idx.dtype}")
    if idx.dtype.itemsize == 4 and idx.dtype.kind == 'i':
        idx, itype = idx.astype('<i4', copy=False), I.INT32
    else:
        # other integer types (uint, int8/16) widen to int64; uint64 values
        # beyond int64 become negative, which the library reports as invalid
        idx, itype = idx.astype('<i8', copy=False), I.INT64
    return np.ascontiguousarray(idx.reshape(-1)), itype


def _as_bytes(data):
    """GLib.Bytes of @data (GLib.Bytes, a numpy array, bytes or any buffer)."""
    if isinstance(data, GLib.Bytes):
        return data
    if isinstance(data, (bytes, bytearray)):
        return GLib.Bytes.new(bytes(data))
    np = _numpy()
    return GLib.Bytes.new(np.ascontiguousarray(data).tobytes())


def _enum(enum_type, value):
    """An enum member from itself or its nick ('add', 'drop', …)."""
    if isinstance(value, str):
        try:
            return getattr(enum_type, value.upper().replace('-', '_'))
        except AttributeError:
            raise ValueError(f"{value!r} is not a {enum_type.__name__}") from None
    return enum_type(value)


def _policies(invalid_index, non_finite):
    """A GstSharedMatrix.Policies from the policies' nicks (None: the
    strict defaults, error and apply)."""
    policies = GstSharedMatrix.Policies()
    if invalid_index is not None:
        policies.invalid_index = _enum(GstSharedMatrix.InvalidIndexPolicy,
                                       invalid_index)
    if non_finite is not None:
        policies.non_finite = _enum(GstSharedMatrix.NonFinitePolicy,
                                    non_finite)
    return policies


@override
class SharedMatrix(GstSharedMatrix.SharedMatrix):

    # ---- shape ------------------------------------------------------------

    @property
    def shape(self):
        """(rows, cols)."""
        return (self.get_rows(), self.get_cols())

    @property
    def dtype(self):
        """The numpy dtype of the storage (see numpy_dtype())."""
        return numpy_dtype(self.get_dtype())

    def __len__(self):
        return self.get_rows()

    # ---- updates ----------------------------------------------------------

    def _update_args(self, rows, deltas):
        """(indices bytes, IndexType, deltas bytes, DType) of an update:
        the update layout of the library, shared by update() and (when the
        library has them) the optimizer calls."""
        np = _numpy()
        idx, itype = _indices(rows)
        if not isinstance(deltas, np.ndarray):
            # sequences: the matrix dtype (float32 for bfloat16 without
            # ml_dtypes), never more than needed
            want = self.dtype if self.dtype.kind == 'f' else np.dtype('<f4')
            deltas = np.asarray(deltas, dtype=want)
        dtype = _delta_dtype(deltas.dtype)
        cols = self.get_cols()
        if deltas.size != idx.size * cols:
            raise ValueError(f"{idx.size} row indices need {idx.size} x {cols} "
                             f"deltas, got an array of shape {deltas.shape}")
        if deltas.dtype.kind == 'f' and deltas.dtype.byteorder == '>':
            deltas = deltas.astype(deltas.dtype.newbyteorder('<'))
        return (GLib.Bytes.new(idx.tobytes()), itype,
                GLib.Bytes.new(np.ascontiguousarray(deltas).tobytes()), dtype)

    @_library_errors
    def update(self, op, rows, deltas, invalid_index=None, non_finite=None):
        """Applies deltas[i] to row rows[i] with @op (a GstSharedMatrix.Op or
        its nick: 'set', 'add', 'sub', 'mul', 'min', 'max').

        @rows: integers (int32 arrays stay int32, others go as int64);
        @deltas: len(rows) × cols values, float32/float64/float16/bfloat16
        arrays as they are (sequences as the matrix dtype). @invalid_index
        ('error', 'drop') and @non_finite ('apply', 'drop', 'error'): the
        policies (default: error and apply). Returns the
        GstSharedMatrix.UpdateResult (rows_applied, rows_dropped_invalid,
        rows_dropped_non_finite, version…). Raises SharedMatrixError
        (INVALID_INDEX, NON_FINITE, …) with the matrix unchanged."""
        ib, itype, db, dtype = self._update_args(rows, deltas)
        _, result = GstSharedMatrix.SharedMatrix.update_bytes_full(
            self, _enum(GstSharedMatrix.Op, op), ib, itype, db, dtype,
            _policies(invalid_index, non_finite))
        return result

    # ---- training at update time -------------------------------------------

    @_library_errors
    def set_optimizer(self, optimizer):
        """Chooses the optimizer (a GstSharedMatrix.Optimizer or its nick:
        'sgd', 'adagrad', 'rowwise-adagrad', 'adam'); choosing another one
        once the matrix holds state raises SharedMatrixError."""
        return GstSharedMatrix.SharedMatrix.set_optimizer(
            self, _enum(GstSharedMatrix.Optimizer, optimizer))

    @_library_errors
    def apply_gradients(self, rows, grads, learning_rate=None, epsilon=None,
                        beta1=None, beta2=None, weight_decay=None,
                        invalid_index=None, non_finite=None):
        """One optimizer step with gradients grads[i] for row rows[i]
        (duplicates summed first), with the hyper-parameters given (the
        library's defaults for the others) and the policies of update().
        Returns the GstSharedMatrix.UpdateResult."""
        ib, itype, gb, dtype = self._update_args(rows, grads)
        params = GstSharedMatrix.OptimizerParams.new()
        for name, value in (("learning_rate", learning_rate),
                            ("epsilon", epsilon), ("beta1", beta1),
                            ("beta2", beta2), ("weight_decay", weight_decay)):
            if value is not None:
                setattr(params, name, float(value))
        _, result = GstSharedMatrix.SharedMatrix.apply_gradients_bytes(
            self, ib, itype, gb, dtype, params,
            _policies(invalid_index, non_finite))
        return result

    @_library_errors
    def optimizer_state(self, slot=0):
        """Optimizer state slot @slot (0: adagrad's G, rowwise-adagrad's
        per-row G or adam's m; 1: adam's v) as a new float32 array of
        (rows, cols), or (rows, 1) for rowwise-adagrad."""
        np = _numpy()
        data, _step = GstSharedMatrix.SharedMatrix.get_optimizer_state(
            self, slot, GstSharedMatrix.Format.RAW)
        state = np.frombuffer(data.get_data(), dtype='<f4').copy()
        return state.reshape(self.get_rows(), -1)

    @_library_errors
    def update_bytes(self, op, indices, index_type, deltas, dtype):
        return GstSharedMatrix.SharedMatrix.update_bytes(
            self, op, _as_bytes(indices), index_type, _as_bytes(deltas), dtype)

    @_library_errors
    def update_bytes_full(self, op, indices, index_type, deltas, dtype,
                          policies=None):
        return GstSharedMatrix.SharedMatrix.update_bytes_full(
            self, op, _as_bytes(indices), index_type, _as_bytes(deltas), dtype,
            policies)

    # ---- reads ------------------------------------------------------------

    @_library_errors
    def gather(self, rows):
        """The rows @rows as a new (len(rows), cols) array of self.dtype."""
        np = _numpy()
        idx, itype = _indices(rows)
        data = GstSharedMatrix.SharedMatrix.gather_bytes(
            self, GLib.Bytes.new(idx.tobytes()), itype)
        return np.frombuffer(data.get_data(), dtype=self.dtype).reshape(
            idx.size, self.get_cols()).copy()

    @_library_errors
    def gather_bytes(self, indices, index_type):
        return GstSharedMatrix.SharedMatrix.gather_bytes(
            self, _as_bytes(indices), index_type)

    @_library_errors
    def numpy(self):
        """A consistent copy of the whole matrix as a new, writable
        (rows, cols) array of self.dtype: the library copies the matrix
        straight into the array's memory (one copy; see the user guide,
        "Reading the matrix from Python")."""
        np = _numpy()
        out = np.empty(self.shape, dtype=self.dtype)
        if out.nbytes:
            self.copy_to(GstSharedMatrix.Format.RAW, out.ctypes.data, out.nbytes)
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.numpy()
        return out if dtype is None else out.astype(dtype, copy=False)

    # ---- writes -----------------------------------------------------------

    @_library_errors
    def set_value(self, data):
        """Replaces the whole matrix: GLib.Bytes of the raw data, or an
        array of rows × cols values (converted to the matrix dtype, except
        bfloat16 without ml_dtypes, which must be given as its raw bits)."""
        if not isinstance(data, (GLib.Bytes, bytes, bytearray)):
            np = _numpy()
            arr = np.asarray(data)
            if arr.size != self.get_rows() * self.get_cols():
                raise ValueError(f"set_value needs {self.shape[0]} x "
                                 f"{self.shape[1]} values, got an array of "
                                 f"shape {arr.shape}")
            if arr.dtype != self.dtype:
                arr = arr.astype(self.dtype)
            data = arr
        return GstSharedMatrix.SharedMatrix.set_value(self, _as_bytes(data))

    def __repr__(self):
        return (f"<GstSharedMatrix.SharedMatrix {self.shape[0]} x "
                f"{self.shape[1]} {self.get_dtype().value_nick} on "
                f"{self.get_backend().value_nick}, version {self.get_version()}>")


__all__.append('SharedMatrix')
