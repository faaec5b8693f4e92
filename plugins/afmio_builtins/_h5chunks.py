"""Read and write gzip/shuffle HDF5 chunks ourselves, on every core.

HDF5 inflates chunks one after another on one core. For the common case -- a
chunked dataset whose filters are only deflate (gzip) and shuffle -- this module
reads each chunk's stored bytes, inflates them with libdeflate, undoes the shuffle
and places the chunk into the output, on a thread pool. Any chunk shape works
(h5py's automatic chunks such as ``(32, 16, 32)`` cut frames and leave partial
chunks at the borders). The result is bit-identical to h5py's own read; anything
else (other filters, missing chunks, non-native types, a user block, another file
driver) is left to h5py by returning False.

Where the stored bytes come from: ``DatasetID.chunk_iter`` lists every chunk's
file offset and size in one pass, and the bytes are read with ``os.pread`` (no
h5py lock held, so reading and inflating overlap across threads); without
``chunk_iter`` each chunk is fetched with ``read_direct_chunk``.

Writing: :func:`write_frame_chunks` compresses one-frame chunks on the pool and
hands them to HDF5 finished (``write_direct_chunk``, filter mask 0).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._zcodec import compress_zlib, inflate_zlib, inflate_zlib_ranges, shuffle_bytes, unshuffle

__all__ = ["FILTER_DEFLATE", "FILTER_SHUFFLE", "read_chunked", "read_whole", "threads", "write_frame_chunks"]

# HDF5 filter ids (H5Zpublic.h)
FILTER_DEFLATE = 1
FILTER_SHUFFLE = 2
#: The filter pipelines read here (shuffle, when present, runs before deflate on write).
_PIPELINES: tuple[list[int], ...] = ([FILTER_DEFLATE], [FILTER_SHUFFLE, FILTER_DEFLATE], [FILTER_SHUFFLE], [])
#: Chunks handed to one worker at a time (fewer pool round trips for small chunks).
_BATCH_BYTES = 4 << 20
#: Smaller chunks are left to HDF5's own C loop (Python costs per chunk would dominate).
_MIN_CHUNK_BYTES = 8 << 10
#: Reads smaller than this stay on the calling thread.
_PARALLEL_BYTES = 4 << 20
#: Up to this many chunks are fetched one by one (read_direct_chunk), more through chunk_iter.
_FEW_CHUNKS = 64


def threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@dataclass(frozen=True)
class _Chunk:
    offset: tuple[int, ...]
    mask: int
    address: int  # -1: fetch through read_direct_chunk
    size: int


def _pipeline(ds: Any) -> list[int] | None:
    """The dataset's filter ids in order, or None when unknown."""
    try:
        dcpl = ds.id.get_create_plist()
        return [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    except Exception:
        return None


@dataclass(frozen=True)
class _Layout:
    """What reading a chunked dataset needs, taken from h5py once per read (its
    properties cost microseconds each, a large share of a small read)."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype[Any]
    pipeline: list[int]

    @property
    def elements(self) -> int:
        """Elements in one chunk."""
        return math.prod(self.chunks)


def _fast_path_ok(ds: Any, pipeline: list[int] | None) -> bool:
    dtype = ds.dtype
    return (
        pipeline is not None
        and pipeline in _PIPELINES
        and ds.chunks is not None
        and dtype.isnative
        and not dtype.hasobject
        and dtype.fields is None
        and dtype.kind in "biuf"
        and hasattr(ds.id, "read_direct_chunk")
    )


def _layout(ds: Any) -> _Layout | None:
    """The dataset's layout when this module reads it, else None (h5py reads it)."""
    pipeline = _pipeline(ds)
    if ds.ndim < 1 or not _fast_path_ok(ds, pipeline):
        return None
    assert pipeline is not None
    return _Layout(tuple(ds.shape), tuple(ds.chunks), ds.dtype, pipeline)


def _plain_file(ds: Any) -> bool:
    """True when chunk addresses are byte offsets of a plain file we can pread."""
    try:
        f = ds.file
        return f.driver == "sec2" and f.id.get_create_plist().get_userblock() == 0 and f.mode == "r"
    except Exception:
        return False


def _chunks_in(ds: Any, layout: _Layout, start: int, stop: int) -> list[_Chunk] | None:
    """Every stored chunk meeting rows ``start:stop`` of axis 0; None when some are missing."""
    c0 = layout.chunks[0]
    grid = [-(-s // c) for s, c in zip(layout.shape, layout.chunks)]
    first, last = start // c0, -(-stop // c0)
    expected = (last - first) * math.prod(grid[1:])
    found: list[_Chunk] = []
    # chunk_iter walks every chunk of the dataset: worth it only when many are wanted.
    if expected > _FEW_CHUNKS and hasattr(ds.id, "chunk_iter") and _plain_file(ds):

        def keep(info: Any) -> None:
            if first * c0 <= info.chunk_offset[0] < last * c0:
                found.append(_Chunk(tuple(info.chunk_offset), info.filter_mask, info.byte_offset, info.size))

        ds.id.chunk_iter(keep)
    else:
        for index in itertools.product(range(last - first), *(range(g) for g in grid[1:])):
            offset = ((first + index[0]) * c0, *(i * c for i, c in zip(index[1:], layout.chunks[1:])))
            found.append(_Chunk(offset, 0, -1, 0))
    if len(found) != expected:
        return None
    return sorted(found, key=lambda c: c.address)


def _decode(raw: bytes | bytearray, mask: int, layout: _Layout, want: tuple[slice, ...]) -> np.ndarray:
    """The part ``want`` of one chunk, after undoing its filters (shuffle runs before deflate)."""
    itemsize = layout.dtype.itemsize
    nbytes = layout.elements * itemsize
    active = [code for index, code in enumerate(layout.pipeline) if not mask & (1 << index)]
    shuffled = FILTER_SHUFFLE in active and itemsize > 1
    if FILTER_DEFLATE in active:
        corner = _corner(raw, layout, want, shuffled)
        if corner is not None:
            return corner
        data: bytes | bytearray = inflate_zlib(raw, nbytes)
    else:
        data = raw
    if len(data) != nbytes:
        raise ValueError(f"a chunk holds {len(data)} bytes, not {nbytes}")
    if not shuffled:
        return np.frombuffer(data, layout.dtype).reshape(layout.chunks)[want]
    return unshuffle(data, layout.dtype).reshape(layout.chunks)[want]


def _corner(raw: bytes | bytearray, layout: _Layout, want: tuple[slice, ...], shuffled: bool) -> np.ndarray | None:
    """A small part of a big deflated chunk (JPK's 4 values in 1 MB), inflated without
    holding the whole chunk; None when the part is not small."""
    chunks, dtype, elements = layout.chunks, layout.dtype, layout.elements
    if want[0].stop - want[0].start > elements // 4:
        return None  # most of the chunk (frames' chunks): the whole-chunk inflate is faster
    first = int(np.ravel_multi_index([s.start for s in want], chunks))
    last = int(np.ravel_multi_index([s.stop - 1 for s in want], chunks))
    span = last - first + 1  # the elements from the first wanted to the last, in C order
    if span * 4 >= elements:
        return None
    k = dtype.itemsize
    if shuffled:  # byte j of element e sits at j * elements + e
        pieces = inflate_zlib_ranges(raw, elements * k, [(j * elements + first, j * elements + first + span)
                                                         for j in range(k)])
        planes = np.frombuffer(b"".join(pieces), np.uint8).reshape(k, span)
        values = np.ascontiguousarray(planes.T).view(dtype).reshape(span)
    else:
        (piece,) = inflate_zlib_ranges(raw, elements * k, [(first * k, (first + span) * k)])
        values = np.frombuffer(piece, dtype)
    flat = np.zeros((), np.int64)  # flat index of every wanted element, from the chunk's strides
    for axis, part in enumerate(want):
        stride = math.prod(chunks[axis + 1 :])
        flat = np.add.outer(flat, np.arange(part.start, part.stop, dtype=np.int64) * stride)
    return values[flat - first]


def read_chunked(ds: Any, start: int, stop: int, out: np.ndarray) -> bool:
    """Fill ``out`` with rows ``start:stop`` (axis 0: frames) of the chunked dataset ``ds``.

    Any number of dimensions. Returns False (``out`` untouched or partly written) when
    the dataset is not one this reader handles; the caller then reads it with h5py.

    Raises
    ------
    ValueError
        A chunk is damaged (:class:`~afmio_builtins._zcodec.InflateError`) or has the wrong size.
    """
    layout = _layout(ds)
    if layout is None or stop <= start or out.size == 0:
        return False
    if layout.elements * layout.dtype.itemsize < _MIN_CHUNK_BYTES:
        return False  # many tiny chunks: HDF5's own C loop does better
    try:
        chunks = _chunks_in(ds, layout, start, stop)
    except (RuntimeError, OSError, KeyError, TypeError):
        return False
    if chunks is None:
        return False
    fd = os.open(ds.file.filename, os.O_RDONLY) if chunks and chunks[0].address >= 0 else None
    direct = ds.id.read_direct_chunk

    def fetch(chunk: _Chunk) -> tuple[int, bytes]:
        if fd is None:
            return direct(chunk.offset)
        data = os.pread(fd, chunk.size, chunk.address)
        if len(data) != chunk.size:
            raise ValueError("a chunk runs past the end of the file")
        return chunk.mask, data

    def place(chunk: _Chunk) -> None:
        mask, raw = fetch(chunk)
        lo = [max(chunk.offset[0], start), *chunk.offset[1:]]
        hi = [min(o + c, s) for o, c, s in zip(chunk.offset, layout.chunks, layout.shape)]
        hi[0] = min(hi[0], stop)
        want = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, chunk.offset))  # inside the chunk
        out[(slice(lo[0] - start, hi[0] - start), *(slice(a, b) for a, b in zip(lo[1:], hi[1:])))] = _decode(
            raw, mask, layout, want
        )

    try:
        _run(place, _batches(chunks, layout), parallel=out.nbytes >= _PARALLEL_BYTES and len(chunks) >= 4)
    except (KeyError, RuntimeError, OSError):  # e.g. a chunk HDF5 will not hand out raw
        return False
    finally:
        if fd is not None:
            os.close(fd)
    return True


def read_whole(ds: Any) -> np.ndarray | None:
    """The whole chunked dataset through :func:`read_chunked`, or None when h5py must read it.

    Worth it even for tiny datasets stored in one huge chunk (JPK's per-frame
    ``meta-data`` columns: 4 values in a 1 MB chunk), where h5py's read is slow.
    """
    if ds.chunks is None or ds.ndim < 1:
        return None
    out = np.empty(ds.shape, ds.dtype)
    return out if read_chunked(ds, 0, ds.shape[0], out) else None


def _batches(chunks: list[_Chunk], layout: _Layout) -> list[list[_Chunk]]:
    per = max(1, _BATCH_BYTES // max(1, layout.elements * layout.dtype.itemsize))
    per = min(per, max(1, -(-len(chunks) // (4 * threads()))))  # still several batches per thread
    return [chunks[i : i + per] for i in range(0, len(chunks), per)]


def _run(fn: Callable[[_Chunk], None], batches: list[list[_Chunk]], *, parallel: bool) -> None:
    def work(batch: list[_Chunk]) -> None:
        for chunk in batch:
            fn(chunk)

    if not parallel or threads() == 1:  # small reads: a pool costs more than it saves
        for batch in batches:
            work(batch)
        return
    with ThreadPoolExecutor(threads()) as pool:
        list(pool.map(work, batches))


# ---------------------------------------------------------------------- writing
def encode_frame(frame: np.ndarray, *, level: int | None, shuffle: bool) -> bytes:
    """One frame chunk for the gzip (+ shuffle) filter pipeline."""
    payload = shuffle_bytes(frame) if shuffle and frame.dtype.itemsize > 1 else np.ascontiguousarray(frame).data
    return compress_zlib(payload, level)


def write_frame_chunks(
    ds: Any, blocks: Iterable[np.ndarray], *, level: int | None, shuffle: bool, pool: ThreadPoolExecutor
) -> int:
    """Compress each frame of ``blocks`` on ``pool`` and store it as chunk ``(i, 0, 0)``.

    ``ds`` must be chunked ``(1, h, w)`` with the gzip filter (after shuffle when
    ``shuffle``). Returns the number of frames written.
    """
    pos = 0
    for block in blocks:
        block = np.asarray(block, dtype=ds.dtype)
        encoded = pool.map(lambda fr: encode_frame(fr, level=level, shuffle=shuffle), block)
        for i, chunk in enumerate(encoded):
            ds.id.write_direct_chunk((pos + i, 0, 0), chunk, 0)
        pos += block.shape[0]
    return pos
