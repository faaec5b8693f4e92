"""Inflate a large raw-deflate stream into fresh memory while the other core maps its pages.

A single deflate stream inflates on one core (every block may refer to the 32 KiB
before it). What the second core *can* do is the page faulting: a freshly allocated
78 MiB output takes ~19,000 first-touch faults, 40-60 ms on these machines, inside the
inflate loop. Here the output is an anonymous map whose pages a helper thread
populates (``madvise(MADV_POPULATE_WRITE)``, Linux 5.14+: pages made present without
changing their contents, so it may run alongside the writer) while libdeflate writes
into it on the calling thread.

libdeflate is called through the C symbols of the ``deflate`` wheel's extension (a
core dependency of afmio, which links libdeflate statically and exports its API), so
the output lands in memory afmio owns. Where any part is missing (other platforms, a
wheel without the symbols, an old kernel), :func:`inflate_raw_into` returns None and
the caller uses the binding's own call.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import sys
import threading
from typing import Any

import numpy as np

__all__ = ["MIN_BYTES", "inflate_raw_into"]

#: Outputs smaller than this are not worth a thread.
MIN_BYTES = 8 << 20
_MADV_POPULATE_WRITE = 23  # linux/mman.h; Python 3.11's mmap module does not name it
_POPULATE_STEP = 4 << 20
_LIBDEFLATE_SUCCESS = 0


class _LibDeflate:
    """The three libdeflate functions needed, bound once."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.alloc = lib.libdeflate_alloc_decompressor
        self.alloc.restype, self.alloc.argtypes = ctypes.c_void_p, []
        self.free = lib.libdeflate_free_decompressor
        self.free.restype, self.free.argtypes = None, [ctypes.c_void_p]
        self.inflate = lib.libdeflate_deflate_decompress
        self.inflate.restype = ctypes.c_int
        self.inflate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                 ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]


@functools.lru_cache(maxsize=1)
def _libdeflate() -> _LibDeflate | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        from deflate import _deflate

        return _LibDeflate(ctypes.CDLL(_deflate.__file__))
    except (ImportError, OSError, AttributeError):
        return None


def inflate_raw_into(data: Any, size: int) -> np.ndarray | None:
    """Inflate the raw deflate stream ``data`` (a contiguous buffer) into a new uint8 array.

    Returns None when this fast path is unavailable (the caller falls back) and raises
    ``ValueError`` when the stream is damaged or does not expand to exactly ``size``.
    """
    lib = _libdeflate()
    if lib is None or size < MIN_BYTES:
        return None
    # Only the address is kept: no array may still export the caller's buffer (a file
    # map the caller closes) when an error leaves this frame.
    source = np.frombuffer(data, np.uint8)
    source_address, source_size = source.ctypes.data, source.size
    del source
    out = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # private: ordinary process memory
    target = np.frombuffer(out, np.uint8)  # keeps the map alive as long as the array
    decompressor = lib.alloc()
    if not decompressor:
        raise MemoryError("libdeflate could not allocate a decompressor")
    helper = threading.Thread(target=_populate, args=(out, size), name="afmio-prefault", daemon=True)
    helper.start()
    actual = ctypes.c_size_t(0)
    try:  # ctypes releases the GIL for the call, so the helper runs meanwhile
        status = lib.inflate(decompressor, source_address, source_size, target.ctypes.data, size,
                             ctypes.byref(actual))
    finally:
        lib.free(decompressor)
        helper.join()
    if status != _LIBDEFLATE_SUCCESS or actual.value != size:
        del target
        out.close()
        raise ValueError(f"damaged deflate data (does not inflate to {size} bytes)")
    return target


def _populate(region: mmap.mmap, size: int) -> None:
    """Make the region's pages present, front to back, ahead of the writer."""
    for start in range(0, size, _POPULATE_STEP):
        try:
            region.madvise(_MADV_POPULATE_WRITE, start, min(_POPULATE_STEP, size - start))
        except (OSError, ValueError):  # an older kernel: the writer faults its pages itself
            return
