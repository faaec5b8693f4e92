"""A small streaming ZIP64 writer whose deflate runs on every core.

:mod:`zipfile` compresses a member in one zlib stream on one core. Deflate
streams can be cut at byte boundaries, though: each piece is compressed on its
own (raw deflate ended by a sync flush, which is never the final block) and the
pieces are written one after another, with an empty final block at the end —
the same trick as pigz. Any ZIP reader (zipfile, numpy's ``np.load``, unzip)
sees one ordinary deflate stream.

Every member gets a ZIP64 extra field (as ``np.savez`` writes with
``force_zip64``), so members and archives may exceed 4 GB.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from isal import isal_zlib

from ._zcodec import FAST_LEVEL, crc32

__all__ = ["ZipWriter"]

STORED, DEFLATED = 0, 8
_PIECE = 1 << 20
_VERSION = 45  # ZIP64
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01: reproducible files
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_EOCD = struct.Struct("<4sHHHHIIH")
_MAX32 = 0xFFFFFFFF


def _compress_piece(data: memoryview, level: int | None) -> bytes:
    """Raw deflate ended by a sync flush: ISA-L's fast level when ``level`` is None, else zlib's."""
    if level is None:
        fast = isal_zlib.compressobj(FAST_LEVEL, isal_zlib.DEFLATED, -15)
        return fast.compress(data) + fast.flush(isal_zlib.Z_SYNC_FLUSH)
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)


class ZipWriter:
    """Write members one after another to a seekable binary file.

    Parameters
    ----------
    handle : binary file
        Open for writing, seekable, positioned at 0.
    method : {0, 8}
        ``STORED`` or ``DEFLATED``.
    level : int or None
        zlib level for ``DEFLATED``; None for ISA-L's fast level (about 15x zlib's level 1
        on float heights, for a slightly smaller file).
    threads : int, optional
        Compression threads (default: the CPU count, at most 8).
    """

    def __init__(
        self, handle: IO[bytes], method: int = STORED, level: int | None = None, threads: int | None = None
    ) -> None:
        self._fh = handle
        self._method = method
        self._level = level
        self._threads = threads or max(1, min(8, os.cpu_count() or 1))
        self._entries: list[tuple[bytes, int, int, int, int]] = []  # name, crc, csize, usize, offset

    def write_member(self, name: str, chunks: Iterable[memoryview | bytes]) -> None:
        """Write one member from byte chunks (any sizes, consumed in order)."""
        encoded = name.encode("utf-8")
        offset = self._fh.tell()
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)
        self._fh.write(_LOCAL.pack(b"PK\x03\x04", _VERSION, 0x800, self._method, 0, _DOS_DATE, 0, _MAX32, _MAX32,
                                   len(encoded), len(extra)))
        self._fh.write(encoded)
        self._fh.write(extra)
        crc, usize, csize = 0, 0, 0
        with ThreadPoolExecutor(self._threads) as pool:
            for chunk in chunks:
                view = memoryview(chunk).cast("B")
                if not view.nbytes:
                    continue
                crc = crc32(view, crc)
                usize += view.nbytes
                if self._method == STORED:
                    self._fh.write(view)
                    csize += view.nbytes
                    continue
                pieces = [view[i : i + _PIECE] for i in range(0, view.nbytes, _PIECE)]
                for out in pool.map(lambda p: _compress_piece(p, self._level), pieces):
                    self._fh.write(out)
                    csize += len(out)
        if self._method == DEFLATED:
            tail = zlib.compressobj(1, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # the empty final block
            self._fh.write(tail)
            csize += len(tail)
        end = self._fh.tell()
        # Patch the CRC and the ZIP64 sizes into the local header.
        self._fh.seek(offset + 14)
        self._fh.write(struct.pack("<I", crc))
        self._fh.seek(offset + _LOCAL.size + len(encoded) + 4)
        self._fh.write(struct.pack("<QQ", usize, csize))
        self._fh.seek(end)
        self._entries.append((encoded, crc, csize, usize, offset))

    def close(self) -> None:
        """Write the central directory and the (ZIP64) end records."""
        start = self._fh.tell()
        for encoded, crc, csize, usize, offset in self._entries:
            extra = struct.pack("<HHQQQ", 1, 24, usize, csize, offset)
            self._fh.write(_CENTRAL.pack(b"PK\x01\x02", _VERSION | (3 << 8), _VERSION, 0x800, self._method, 0,
                                         _DOS_DATE, crc, _MAX32, _MAX32, len(encoded), len(extra), 0, 0, 0,
                                         0o100644 << 16, _MAX32))
            self._fh.write(encoded)
            self._fh.write(extra)
        end = self._fh.tell()
        n = len(self._entries)
        self._fh.write(_ZIP64_EOCD.pack(b"PK\x06\x06", 44, _VERSION, _VERSION, 0, 0, n, n, end - start, start))
        self._fh.write(_ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, end, 1))
        self._fh.write(_EOCD.pack(b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), min(end - start, _MAX32),
                                  _MAX32, 0))
