"""Read HDF5 attributes cheaply, checking the global heaps only when a value is stored there.

h5py's ``attrs.get`` costs ~27 µs per attribute (it builds a dtype, a dataspace and a
numpy array through its high-level layer); a JPK movie is opened through ~40 of them.
Numbers and fixed-length strings -- everything a JPK file holds -- are read here
through h5py's low-level API in ~8 µs.

Any other type (variable-length strings or sequences, references, compounds, enums...)
is read by h5py, after the file's global heap collections were checked once
(:func:`._h5heap.check_global_heaps`). Only values of such types live in a global heap,
so a file opened with ``open_h5(path, check_heaps=False)`` and read only through an
:class:`AttributeReader` is as safe as one checked at open, and a file without them
never pays for the check (1-2 ms on a JPK sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from afmio.errors import CorruptFileError

from ._h5heap import check_global_heaps

__all__ = ["AttributeReader", "BoundAttributes"]

#: More elements than any header attribute holds: such a count is damage, not data.
MAX_ELEMENTS = 1 << 20

_h5a, _h5t = h5py.h5a, h5py.h5t
#: (signed, size) -> (numpy dtype, native memory type) for the integer types read directly.
_INTEGERS: dict[tuple[bool, int], tuple[np.dtype[Any], Any]] = {
    (signed, size): (np.dtype(f"{'i' if signed else 'u'}{size}"), native)
    for signed, size, native in [
        (True, 1, _h5t.NATIVE_INT8), (True, 2, _h5t.NATIVE_INT16),
        (True, 4, _h5t.NATIVE_INT32), (True, 8, _h5t.NATIVE_INT64),
        (False, 1, _h5t.NATIVE_UINT8), (False, 2, _h5t.NATIVE_UINT16),
        (False, 4, _h5t.NATIVE_UINT32), (False, 8, _h5t.NATIVE_UINT64),
    ]
}
_FLOATS: dict[int, tuple[np.dtype[Any], Any]] = {
    4: (np.dtype(np.float32), _h5t.NATIVE_FLOAT),
    8: (np.dtype(np.float64), _h5t.NATIVE_DOUBLE),
}


class AttributeReader:
    """Attribute values of one open file.

    Parameters
    ----------
    path : pathlib.Path
        The file, for error messages and the heap check.
    f : h5py.File
        The open file; it may have been opened without the heap check.
    """

    def __init__(self, path: Path, f: Any) -> None:
        self.path = path
        self._file = f
        self._heaps_checked = False

    def of(self, obj: Any) -> BoundAttributes:
        """``obj``'s attributes with a ``get(name)`` like h5py's ``obj.attrs``."""
        return BoundAttributes(self, obj)

    def get(self, obj: Any, name: str) -> Any:
        """The value of ``obj``'s attribute ``name``, or None when it is absent or empty.

        One element comes back as a numpy scalar (``np.float64``, ``np.bytes_``...), more
        as a 1-D array; other types come back as h5py gives them.

        Raises
        ------
        afmio.CorruptFileError
            The attribute claims more than :data:`MAX_ELEMENTS` elements, or a global
            heap its value would be read from is damaged.
        """
        oid = obj.id
        key = name.encode()
        if not _h5a.exists(oid, key):
            return None
        attr = _h5a.open(oid, key)
        ftype = attr.get_type()
        kind = ftype.get_class()
        size = ftype.get_size()
        if kind == _h5t.INTEGER:
            layout = _INTEGERS.get((ftype.get_sign() != _h5t.SGN_NONE, size))
        elif kind == _h5t.FLOAT:
            layout = _FLOATS.get(size)
        elif kind == _h5t.STRING and size > 0 and not ftype.is_variable_str():  # size 0: damage, h5py says so
            layout = (np.dtype(f"S{size}"), ftype)  # the file's type: its padding is undone by HDF5
        else:
            layout = None
        if layout is None:
            return self._read_by_h5py(obj, name)
        try:
            stored = attr.get_storage_size()
        except RuntimeError:  # h5py reports a size of 0 as an error: a null dataspace is h5py's Empty
            if attr.get_space().get_simple_extent_type() == h5py.h5s.NULL:
                return None
            raise
        count, rest = divmod(stored, size)
        if rest or count > MAX_ELEMENTS:
            raise CorruptFileError(self.path, f"attribute {name!r} claims {count} elements of {size} bytes")
        dtype, mtype = layout
        out = np.empty(count, dtype)
        attr.read(out, mtype=mtype)
        return out[0] if count == 1 else out

    def _read_by_h5py(self, obj: Any, name: str) -> Any:
        if not self._heaps_checked:
            check_global_heaps(self.path, self._file)
            self._heaps_checked = True
        return obj.attrs.get(name)


class BoundAttributes:
    """The attributes of one object, read through an :class:`AttributeReader`."""

    def __init__(self, reader: AttributeReader, obj: Any) -> None:
        self._reader = reader
        self._obj = obj

    def get(self, name: str) -> Any:
        """See :meth:`AttributeReader.get`."""
        return self._reader.get(self._obj, name)
