"""The GWY serialisation format (Gwyddion 2 native files): parse and write objects.

A ``.gwy`` file is the magic ``GWYP`` followed by one serialised object, normally a
``GwyContainer``. An object is its type name (NUL-terminated), a little-endian
uint32 byte count of its components, then the components. A component is its
name (NUL-terminated), a one-byte type code and the value:

===== ========================== =====================================
code  value                      encoding
===== ========================== =====================================
``b`` boolean                    1 byte (0 / 1)
``c`` character                  1 byte
``i`` 32-bit integer             little-endian int32
``q`` 64-bit integer             little-endian int64
``d`` double                     little-endian IEEE 754 binary64
``s`` string                     UTF-8, NUL-terminated
``o`` object                     a serialised object (as above)
upper array of the lower type    uint32 count, then the items
===== ========================== =====================================

Numeric arrays are not read while parsing: they come back as :class:`ArrayRef`
(file offset and count, checked against the object's extent), so a header parse
of a file with large images costs a few hundred bytes of reading.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["MAGIC", "ArrayRef", "GwyFormatError", "GwyObject", "parse_file", "serialize_file"]

MAGIC = b"GWYP"

#: Deeper nesting than this is refused (Gwyddion's own objects nest 3-4 levels).
MAX_DEPTH = 32

_SCALARS = {"b": "<?", "c": "<c", "i": "<i", "q": "<q", "d": "<d"}
_ARRAY_DTYPES: dict[str, np.dtype] = {
    "C": np.dtype("u1"), "I": np.dtype("<i4"), "Q": np.dtype("<i8"), "D": np.dtype("<f8"),
}


class GwyFormatError(ValueError):
    """The bytes break the GWY serialisation rules; the message says where."""


@dataclass(frozen=True)
class ArrayRef:
    """A numeric array left in the file: ``count`` items of ``dtype`` at byte ``offset``."""

    offset: int
    count: int
    dtype: np.dtype

    def read(self, fh: BinaryIO) -> np.ndarray:
        """The array's values (native-endian copy) from an open file."""
        fh.seek(self.offset)
        raw = fh.read(self.count * self.dtype.itemsize)
        if len(raw) != self.count * self.dtype.itemsize:
            raise GwyFormatError(f"array at byte {self.offset} ends beyond the file")
        return np.frombuffer(raw, self.dtype).astype(self.dtype.newbyteorder("="))


@dataclass
class GwyObject:
    """A serialised object: its type name and its components by name, in file order."""

    type_name: str
    components: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.components.get(name, default)


# ---------------------------------------------------------------------- parsing
class _Parser:
    def __init__(self, buf: Any) -> None:
        self.buf = buf

    def cstring(self, pos: int, end: int, what: str) -> tuple[str, int]:
        stop = self.buf.find(b"\0", pos, end)
        if stop < 0:
            raise GwyFormatError(f"{what} at byte {pos} has no terminating NUL before byte {end}")
        return bytes(self.buf[pos:stop]).decode("utf-8", "replace"), stop + 1

    def unpack(self, fmt: str, pos: int, end: int, what: str) -> tuple[Any, int]:
        size = struct.calcsize(fmt)
        if pos + size > end:
            raise GwyFormatError(f"{what} at byte {pos} runs past byte {end}")
        return struct.unpack_from(fmt, self.buf, pos)[0], pos + size

    def obj(self, pos: int, end: int, depth: int) -> tuple[GwyObject, int]:
        if depth > MAX_DEPTH:
            raise GwyFormatError(f"objects nested deeper than {MAX_DEPTH} levels at byte {pos}")
        name, pos = self.cstring(pos, end, "object type name")
        if not name:
            raise GwyFormatError(f"empty object type name at byte {pos - 1}")
        size, pos = self.unpack("<I", pos, end, f"size of {name}")
        stop = pos + size
        if stop > end:
            raise GwyFormatError(f"{name} at byte {pos} declares {size} bytes but only {end - pos} remain")
        out = GwyObject(name)
        while pos < stop:
            key, pos = self.cstring(pos, stop, f"component name in {name}")
            code, pos = self.unpack("<c", pos, stop, f"type of {name}.{key}")
            out.components[key], pos = self.value(code.decode("latin-1"), pos, stop, depth, f"{name}.{key}")
        return out, stop

    def value(self, code: str, pos: int, end: int, depth: int, what: str) -> tuple[Any, int]:
        if code in _SCALARS:
            value, pos = self.unpack(_SCALARS[code], pos, end, what)
            return (value.decode("latin-1") if code == "c" else value), pos
        if code == "s":
            return self.cstring(pos, end, what)
        if code == "o":
            return self.obj(pos, end, depth + 1)
        if code in _ARRAY_DTYPES or code in "SO":
            count, pos = self.unpack("<I", pos, end, f"length of {what}")
            if code in _ARRAY_DTYPES:
                dtype = _ARRAY_DTYPES[code]
                nbytes = count * dtype.itemsize
                if pos + nbytes > end:
                    raise GwyFormatError(
                        f"{what} declares {count} items ({nbytes} bytes) but only {end - pos} bytes remain"
                    )
                return ArrayRef(pos, count, dtype), pos + nbytes
            if count > end - pos:  # each item takes at least one byte
                raise GwyFormatError(f"{what} declares {count} items but only {end - pos} bytes remain")
            items = []
            for _ in range(count):
                item, pos = self.cstring(pos, end, what) if code == "S" else self.obj(pos, end, depth + 1)
                items.append(item)
            return items, pos
        raise GwyFormatError(f"{what}: unknown component type {code!r}")


def parse_file(path: Path) -> GwyObject:
    """Parse a ``.gwy`` file's top object (numeric arrays as :class:`ArrayRef`).

    Raises
    ------
    GwyFormatError
        When the magic is missing or the structure is broken.
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size < len(MAGIC) or (fh.seek(0) or fh.read(len(MAGIC))) != MAGIC:
            raise GwyFormatError("no GWYP magic at the start")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            top, _ = _Parser(buf).obj(len(MAGIC), size, 0)
    return top


# ---------------------------------------------------------------------- writing
@dataclass(frozen=True)
class Typed:
    """A value with an explicit GWY type code (for ``c``, ``q`` or arrays of strings)."""

    code: str
    value: Any


def _cstring(text: str) -> bytes:
    raw = text.encode("utf-8")
    if b"\0" in raw:
        raise ValueError(f"GWY strings cannot hold NUL characters: {text!r}")
    return raw + b"\0"


def _encode_value(value: Any) -> tuple[str, bytes]:
    if isinstance(value, Typed):
        code, v = value.code, value.value
        if code in _SCALARS:
            return code, struct.pack(_SCALARS[code], v.encode("latin-1") if code == "c" else v)
        if code == "S":
            return code, struct.pack("<I", len(v)) + b"".join(_cstring(s) for s in v)
        if code in _ARRAY_DTYPES:
            arr = np.ascontiguousarray(v, dtype=_ARRAY_DTYPES[code]).reshape(-1)
            return code, struct.pack("<I", arr.size) + arr.tobytes()
        raise ValueError(f"unsupported explicit GWY type {code!r}")
    if isinstance(value, bool):
        return "b", b"\1" if value else b"\0"
    if isinstance(value, int):
        return "i", struct.pack("<i", value)
    if isinstance(value, float):
        return "d", struct.pack("<d", value)
    if isinstance(value, str):
        return "s", _cstring(value)
    if isinstance(value, GwyObject):
        return "o", _encode_object(value)
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value, dtype="<f8").reshape(-1)
        return "D", struct.pack("<I", arr.size) + arr.tobytes()
    if isinstance(value, Sequence) and all(isinstance(v, GwyObject) for v in value):
        return "O", struct.pack("<I", len(value)) + b"".join(_encode_object(v) for v in value)
    raise TypeError(f"cannot serialise {type(value).__name__} into GWY")


def _encode_components(components: Mapping[str, Any]) -> bytes:
    parts = []
    for name, value in components.items():
        code, raw = _encode_value(value)
        parts.append(_cstring(name) + code.encode("ascii") + raw)
    return b"".join(parts)


def _encode_object(obj: GwyObject) -> bytes:
    body = _encode_components(obj.components)
    if len(body) > 0xFFFFFFFF:
        raise ValueError(f"{obj.type_name} is {len(body)} bytes; GWY objects hold at most 4 GiB")
    return _cstring(obj.type_name) + struct.pack("<I", len(body)) + body


def serialize_file(path: Path, top: GwyObject) -> None:
    """Write ``top`` (normally a ``GwyContainer``) as a ``.gwy`` file."""
    with open(path, "wb") as fh:
        fh.write(MAGIC)
        fh.write(_encode_object(top))
