"""Refuse HDF5 files whose global heap would make the HDF5 library loop forever.

Variable-length strings (most text attributes of NHF, ARIS, TopoStats and playNano
files) live in *global heap collections*: a ``GCOL`` header, then records of
``index (2 bytes), reference count (2), reserved (4), size (length-size bytes)`` and the
data padded to 8 bytes. HDF5 (2.0.0 as bundled with h5py 3.16) walks a collection record
by record when it first reads a string from it, and advances by the record's size when
the index is 0 (free space): a damaged free-space record of size 0 never advances, so
reading one attribute spins forever inside the C library, where neither a signal nor a
thread can stop it. One flipped byte of a real file does it.

:func:`check_global_heaps` walks every collection the same way before any string is
read, and refuses (:class:`~afmio.CorruptFileError`) a collection that HDF5 could not
walk to its end. Collections are found by their signature; in files larger than
:data:`WHOLE_SCAN_BYTES` the raw data of numeric datasets (which never holds a
collection) is skipped, so a large movie costs a few milliseconds, not a full read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import suppress
from io import FileIO
from pathlib import Path
from typing import Any

from afmio.errors import CorruptFileError

__all__ = ["WHOLE_SCAN_BYTES", "check_global_heaps", "global_heap_damage"]

#: A collection header: signature, version 1, three reserved zero bytes.
_SIGNATURE = b"GCOL\x01\x00\x00\x00"
#: Files up to this size are searched whole; larger ones skip their numeric raw data.
WHOLE_SCAN_BYTES = 4 << 20
_SIGNATURE_RE = re.compile(re.escape(_SIGNATURE))
#: HDF5's smallest collection (H5HG_MINSIZE); smaller "collections" are not HDF5's.
_MIN_COLLECTION = 4096
#: Object indices are 16-bit: a collection holds at most 65535 objects and its free space.
_MAX_RECORDS = 65537
#: Bytes searched per read.
_PIECE = 256 << 10


def check_global_heaps(path: Path, f: Any) -> None:
    """Raise :class:`CorruptFileError` when a global heap collection of ``path`` is damaged.

    ``f`` is the file open in h5py (no string read from it yet): it gives the size of
    lengths, and the raw-data extents to skip in a large file.
    """
    damage = global_heap_damage(path, f)
    if damage is not None:
        raise CorruptFileError(path, f"{damage}; HDF5 would not return from reading its strings")


def global_heap_damage(path: Path, f: Any) -> str | None:
    """What is wrong with the first damaged global heap collection of ``path``, or None."""
    size = os.path.getsize(path)
    if size < _MIN_COLLECTION:
        return None
    length = _sizeof_lengths(f)
    skip = _raw_data_extents(f) if size > WHOLE_SCAN_BYTES else []
    with open(path, "rb", buffering=0) as fh:
        for pos in _signatures(fh, _gaps(skip, size)):
            damage = _walk(fh, pos, size, length)
            if damage is not None:
                return f"damaged HDF5 global heap (the strings' storage) at byte {pos}: {damage}"
    return None


def _signatures(fh: FileIO, ranges: list[tuple[int, int]]) -> Iterator[int]:
    """Offsets of collection signatures inside ``ranges``, read piece by piece into one
    reused buffer (a map, or a new buffer per piece, costs more in page faults)."""
    overlap = len(_SIGNATURE) - 1
    buf = bytearray(_PIECE)
    view = memoryview(buf)
    for start, end in ranges:
        pos = start
        while pos < end:
            fh.seek(pos)
            n = fh.readinto(view[: min(_PIECE, end - pos)])
            if not n:
                break
            for match in _SIGNATURE_RE.finditer(view[:n]):
                yield pos + match.start()
            if pos + n >= end:
                break
            pos += n - overlap


def _read_at(fh: FileIO, pos: int, n: int) -> bytes:
    fh.seek(pos)
    return fh.read(n)


def _walk(fh: FileIO, pos: int, file_size: int, length: int) -> str | None:
    """Walk one collection as HDF5 does; say where HDF5 would not reach its end."""
    head = _read_at(fh, pos, 8 + length)
    if len(head) < 8 + length:
        return None
    heap_size = int.from_bytes(head[8:], "little")
    if heap_size < _MIN_COLLECTION or pos + heap_size > file_size:
        return None  # HDF5 refuses such a collection itself (it lies outside the file)
    record = 8 + length
    p, end = pos + 8 + length, pos + heap_size
    for _ in range(_MAX_RECORDS):
        if p + record > end:
            return None  # trailing padding too small for a record: HDF5 stops here too
        fields = _read_at(fh, p, record)
        index = int.from_bytes(fields[:2], "little")
        stored = int.from_bytes(fields[8:], "little")
        need = record + ((stored + 7) & ~7) if index else stored
        if need == 0:
            return f"a record at byte {p} of size 0"
        if need > end - p:
            return f"a record at byte {p} runs {need - (end - p)} bytes past its collection"
        p += need
        if p == end:
            return None
    return f"more than {_MAX_RECORDS - 1} records in one collection"


def _sizeof_lengths(f: Any) -> int:
    try:
        return int(f.id.get_create_plist().get_sizes()[1])
    except Exception:  # no creation property list: HDF5's default size of lengths
        return 8


def _raw_data_extents(f: Any) -> list[tuple[int, int]]:
    """(start, end) byte extents of numeric datasets' raw data, sorted; [] when unknown.

    Low-level h5py calls: an ARIS movie holds one dataset per frame, and the high-level
    wrappers would cost ~0.1 ms each.
    """
    import h5py

    h5d, h5o = h5py.h5d, h5py.h5o
    extents: list[tuple[int, int]] = []

    def add(info: Any) -> None:
        extents.append((int(info.byte_offset), int(info.byte_offset) + int(info.size)))

    def visit(name: bytes, info: Any) -> None:
        if info.type != h5o.TYPE_DATASET:
            return
        ds = h5d.open(f.id, name)
        if ds.dtype.kind not in "biufc":
            return
        offset = ds.get_offset()  # contiguous layout (None for chunked or compact)
        if offset is not None:
            extents.append((int(offset), int(offset) + int(ds.get_storage_size())))
        elif ds.get_storage_size():
            with suppress(Exception):  # compact: nothing stored outside the header
                ds.chunk_iter(add)

    try:
        h5o.visit(f.id, visit, info=True)
    except Exception:  # a damaged structure: search the whole file instead
        return []
    return sorted(extents)


def _gaps(extents: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The parts of ``[0, size)`` outside ``extents`` (sorted, possibly overlapping)."""
    out, pos = [], 0
    for start, end in extents:
        if start > pos:
            out.append((pos, min(start, size)))
        pos = max(pos, end)
    if pos < size:
        out.append((pos, size))
    return out
