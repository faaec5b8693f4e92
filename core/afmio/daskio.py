"""Hand big or many files to Dask: ``afmio.to_dask(paths)`` builds a lazy Dask array.

Each chunk is a block of frames read by a small task that opens the file lazily
through the registry (one open file per worker process and file, cached; at most
``afmio.daskio.MAX_OPEN_FILES`` stay open, the least recently used is closed), so the
graph pickles cleanly and runs on ``dask.distributed`` workers in other processes.
Needs the optional extra ``afmio[dask]``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MissingDependencyError

__all__ = ["close_cached_files", "to_dask"]

#: Files one process keeps open for Dask tasks; the least recently used is closed beyond this.
MAX_OPEN_FILES = 16

_cache_lock = threading.Lock()


class _Open:
    """A lazily opened stack and the number of tasks reading it right now."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.users = 0
        self.evicted = False


_cache: OrderedDict[tuple[str, str | None, str | None], _Open] = OrderedDict()


def _evict(entry: _Open) -> None:
    # Called with the lock held: a stack still being read is closed by its last reader.
    entry.evicted = True
    if entry.users == 0:
        entry.stack.close()


def close_cached_files() -> None:
    """Close the files this process keeps open for Dask tasks."""
    with _cache_lock:
        while _cache:
            _evict(_cache.popitem(last=False)[1])


def _acquire(path: str, channel: str | None, fmt: str | None) -> _Open:
    from . import registry

    key = (path, channel, fmt)
    with _cache_lock:
        entry = _cache.get(key)
        if entry is None:
            entry = _cache[key] = _Open(registry.load(path, channel=channel, format=fmt, lazy=True))
            while len(_cache) > MAX_OPEN_FILES:
                _evict(_cache.popitem(last=False)[1])
        else:
            _cache.move_to_end(key)
        entry.users += 1
        return entry


def _release(entry: _Open) -> None:
    with _cache_lock:
        entry.users -= 1
        if entry.evicted and entry.users == 0:
            entry.stack.close()


def _read_block(path: str, channel: str | None, fmt: str | None, start: int, stop: int) -> np.ndarray:
    entry = _acquire(path, channel, fmt)
    try:
        # On a lazy stack the slice is lazy too: .data reads just these frames.
        return np.asarray(entry.stack[start:stop].data)
    finally:
        _release(entry)


def to_dask(
    path_or_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    channel: str | None = None,
    *,
    format: str | None = None,
    frames_per_chunk: int = 1,
) -> Any:
    """Return a Dask array ``(frames, height, width)`` over one file or several.

    Parameters
    ----------
    path_or_paths : str, os.PathLike or a sequence of them
        Files (or folders) to read. Several files are joined along the frame axis;
        their frame shapes must agree (otherwise ``ValueError``).
    channel : str, optional
        Channel to read (default: each file's default channel).
    format : str, optional
        Force the input driver.
    frames_per_chunk : int
        Frames per Dask chunk (1 = one chunk per frame).

    Returns
    -------
    dask.array.Array
        With ``.attrs``: ``timestamps`` (per file, seconds since its first frame),
        ``pixel_size_nm``, ``pixel_size_y_nm``, ``z_unit``, ``channel``, ``files``,
        ``frames_per_file`` and ``frame_metadata``. Arrays derived from it by Dask
        operations do not carry ``.attrs``; keep the original for the metadata.
    """
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise MissingDependencyError("dask", "dask", "afmio.to_dask") from exc
    if frames_per_chunk < 1:
        raise ValueError("frames_per_chunk must be at least 1")
    from . import registry

    paths = [path_or_paths] if isinstance(path_or_paths, (str, os.PathLike)) else list(path_or_paths)
    if not paths:
        raise ValueError("to_dask needs at least one path")
    pieces: list[Any] = []
    attrs: dict[str, Any] = {"timestamps": [], "files": [], "frames_per_file": [], "frame_metadata": []}
    shape0 = None
    for p in paths:
        path = str(Path(p).resolve())
        with registry.load(path, channel=channel, format=format, lazy=True) as stack:
            n, h, w = stack.shape
            dtype = stack.dtype
            if shape0 is None:
                shape0 = (h, w)
                attrs.update(pixel_size_nm=stack.pixel_size_nm, pixel_size_y_nm=stack.pixel_size_y_nm,
                             z_unit=stack.z_unit, channel=stack.channel)
            elif (h, w) != shape0:
                # Both files may be fine: they just cannot be one array.
                raise ValueError(
                    f"cannot join {path} to {paths[0]}: its frames are {h} x {w} px, those of "
                    f"{paths[0]} {shape0[0]} x {shape0[1]} px; to_dask joins files whose frames have one size "
                    "(open the others with their own to_dask call)"
                )
            fmt = stack.provenance["source"]["driver"]
            attrs["timestamps"].append(stack.get_frame_times())
            attrs["frame_metadata"].append(stack.frame_metadata)
        attrs["files"].append(path)
        attrs["frames_per_file"].append(n)
        for start in range(0, n, frames_per_chunk):
            stop = min(n, start + frames_per_chunk)
            block = dask.delayed(_read_block, pure=True)(path, channel, fmt, start, stop)
            pieces.append(da.from_delayed(block, shape=(stop - start, h, w), dtype=dtype))
    array = da.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0]
    array.attrs = attrs
    return array
