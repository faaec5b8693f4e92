"""Deflate at the speed of the hardware, for the bundle drivers (NPZ, HDF5).

Two small, widely used bindings do the work, both core dependencies of afmio:

* ``deflate`` (libdeflate) inflates a whole stream into a buffer of known size,
  about 2.5x faster than zlib; afmio always knows the size (a ZIP member's
  ``file_size``, an HDF5 chunk's shape).
* ``isal`` (Intel ISA-L) compresses at its level 1 about 5x faster than zlib's
  level 1, for a ratio close to zlib's on byte-shuffled floats.

``inflate_zlib_ranges`` streams through ISA-L instead, for the few bytes wanted from a
large chunk (JPK's four time stamps in a 1 MB chunk) without a fresh 1 MB output,
whose page faults cost more than the inflating.

Both release the GIL, so the callers run them on every core. Their output is plain
zlib / raw deflate: any reader (zlib, h5py, ``h5dump``, ``unzip``) reads it.

Also here: HDF5's byte-shuffle filter and its inverse, as numpy byte transposes.
"""

from __future__ import annotations

import zlib

import deflate
import numpy as np
from isal import isal_zlib

from ._inflate_into import inflate_raw_into

__all__ = [
    "FAST_LEVEL",
    "InflateError",
    "compress_zlib",
    "crc32",
    "inflate_raw",
    "inflate_zlib",
    "inflate_zlib_ranges",
    "shuffle_bytes",
    "unshuffle",
]

#: ISA-L's level used for afmio's default ("fast") gzip compression.
FAST_LEVEL = 1


class InflateError(ValueError):
    """The compressed bytes are damaged or do not expand to the expected size."""


def _checked(out: bytearray, size: int) -> bytearray:
    if len(out) != size:
        raise InflateError(f"the data expands to {len(out)} bytes, not the {size} expected")
    return out


def inflate_zlib(data: bytes | bytearray | memoryview, size: int) -> bytearray:
    """Inflate a zlib stream (HDF5's gzip filter) that must expand to exactly ``size`` bytes."""
    try:
        return _checked(deflate.zlib_decompress(data, size), size)
    except deflate.DeflateError:
        raise InflateError(f"damaged zlib data (does not inflate to {size} bytes)") from None


#: ISA-L's exception class (its stubs declare ``error`` as an instance).
_ISAL_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]
#: Output window of :func:`inflate_zlib_ranges` (small enough to be reused heap memory).
_RANGE_WINDOW = 64 << 10


def inflate_zlib_ranges(data: bytes | bytearray | memoryview, size: int,
                        ranges: list[tuple[int, int]]) -> list[bytearray]:
    """The bytes ``[start, stop)`` of each range of a zlib stream that expands to ``size`` bytes.

    The whole stream is inflated (its checksum and size are verified as by
    :func:`inflate_zlib`) through a small window, keeping only the ranges.
    """
    if any(not 0 <= a <= b <= size for a, b in ranges):
        raise ValueError(f"byte ranges {ranges} outside a {size}-byte output")
    out = [bytearray(b - a) for a, b in ranges]
    stream = isal_zlib.decompressobj()
    pending: bytes | bytearray | memoryview = data
    pos = 0
    try:
        while True:
            piece = stream.decompress(pending, _RANGE_WINDOW)
            pending = stream.unconsumed_tail
            if not piece:
                break
            end = pos + len(piece)
            for (a, b), target in zip(ranges, out):
                lo, hi = max(a, pos), min(b, end)
                if lo < hi:
                    target[lo - a : hi - a] = piece[lo - pos : hi - pos]
            pos = end
            if pos > size:
                break
    except _ISAL_ERROR:
        raise InflateError(f"damaged zlib data (does not inflate to {size} bytes)") from None
    if not stream.eof or pos != size:
        raise InflateError(f"damaged zlib data (does not inflate to {size} bytes)")
    return out


def inflate_raw(data: bytes | bytearray | memoryview, size: int) -> bytearray | np.ndarray:
    """Inflate a raw deflate stream (a ZIP member, method 8) of exactly ``size`` bytes.

    Large outputs go to memory whose pages the other core maps meanwhile
    (:mod:`._inflate_into`, a uint8 array); others come back as a bytearray.
    """
    if size == 0:  # libdeflate wants room for at least one byte
        return bytearray(zlib.decompress(bytes(data), -15))
    try:
        fast = inflate_raw_into(data, size)
    except ValueError as exc:
        raise InflateError(str(exc)) from None
    if fast is not None:
        return fast
    try:
        return _checked(deflate.deflate_decompress(data, size), size)
    except deflate.DeflateError:
        raise InflateError(f"damaged deflate data (does not inflate to {size} bytes)") from None


def crc32(data: bytes | bytearray | memoryview | np.ndarray, value: int = 0) -> int:
    """The CRC-32 of ``data``, continuing from ``value`` (as ``zlib.crc32``; ISA-L's, ~9x faster)."""
    return int(isal_zlib.crc32(data, value))


def compress_zlib(data: bytes | bytearray | memoryview, level: int | None = None) -> bytes:
    """A zlib stream of ``data``: ISA-L's fast level when ``level`` is None, else zlib's ``level``."""
    if level is None:
        return isal_zlib.compress(data, FAST_LEVEL)
    return zlib.compress(data, level)


def shuffle_bytes(array: np.ndarray) -> bytes:
    """HDF5's shuffle filter: byte 0 of every element, then byte 1, ... (C order)."""
    buf = np.ascontiguousarray(array)
    k = buf.dtype.itemsize
    if k == 1:
        return buf.tobytes()
    return buf.view(np.uint8).reshape(-1, k).T.tobytes()


def unshuffle(data: bytes | bytearray, dtype: np.dtype) -> np.ndarray:
    """Undo the shuffle filter: the 1-D array of ``dtype`` whose shuffled bytes are ``data``."""
    k = dtype.itemsize
    planes = np.frombuffer(data, np.uint8).reshape(k, -1)
    out = np.empty((planes.shape[1], k), np.uint8)
    for j in range(k):  # one strided copy per byte plane: ~3x faster than a 2-D byte transpose
        out[:, j] = planes[j]
    return out.view(dtype).reshape(-1)
