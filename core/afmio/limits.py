"""The resource policy every driver follows before it allocates or inflates.

A header (or a compressed stream's declared size) says how much content a file holds.
A damaged or hostile file can say anything, so before a driver sizes an array, opens a
frame source or inflates a member by what the file declares, it checks the claim
against what the file can physically hold:

* **content**: ``declared bytes <= bytes on disk x MAX_RATIO[codec] + SLACK_BYTES``
  (:func:`check_declared`). ``MAX_RATIO`` is the largest expansion each codec can
  produce (deflate's format limit is about 1032:1); a larger claim is a corrupt file.
* **frame count**: a file holds at least one byte per frame it declares
  (:func:`check_frame_count`), so per-frame metadata built for the declared count
  stays proportional to the file.
* **memory**, for eager loads only: the array must fit in the memory available now
  (``MemAvailable`` from ``/proc/meminfo`` and the process address-space limit,
  whichever is smaller; no check where neither is known). A load that does not fit
  raises :class:`~afmio.errors.ResourceError` naming the size and saying to read lazily
  (:func:`check_memory`).

A user with a genuine 50 GB file reads it with ``lazy=True``; a 3 KB file never costs a GB.
:func:`inflate_bounded` inflates a zlib/deflate stream and stops as soon as the output
exceeds what was declared, instead of trusting the stream.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from .errors import CorruptFileError, ResourceError

__all__ = [
    "MAX_RATIO",
    "SLACK_BYTES",
    "available_memory",
    "check_declared",
    "check_frame_count",
    "check_memory",
    "inflate_bounded",
    "max_content",
    "tree_size",
]

#: Largest output:input ratio afmio accepts per codec. deflate (zlib, gzip, ZIP) cannot
#: exceed ~1032:1 by its format; LZW codes at most 4096 bytes per 9..12-bit code; PackBits
#: 128 bytes per 2; LZF 264 bytes per 3. zstd and blosc can in principle go further on
#: constant data; 65536:1 is the practical cap (constant 64 KiB blocks), documented in
#: docs/conventions.md. Unknown codecs get the deflate cap.
MAX_RATIO: dict[str, float] = {
    "none": 1.0,
    "deflate": 1032.0,
    "lzw": 2731.0,
    "packbits": 64.0,
    "lzf": 88.0,
    "zstd": 65536.0,
    "blosc": 65536.0,
    "jpeg": 1032.0,
    "unknown": 1032.0,
}

#: Allowance on top of the ratio, so tiny files with small headers are never refused.
SLACK_BYTES = 1 << 20

#: Eager allocations smaller than this are not checked against the available memory.
UNCHECKED_BYTES = 32 << 20
#: Fraction of the available memory an eager load may take (the rest is headroom for copies).
MEMORY_FRACTION = 0.5

PathLikeStr = str | PathLike[str]


def max_content(on_disk: int, codec: str = "none") -> int:
    """The most bytes ``on_disk`` stored bytes can decode to with ``codec``."""
    ratio = MAX_RATIO.get(codec, MAX_RATIO["unknown"])
    return int(max(on_disk, 0) * ratio) + SLACK_BYTES


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def check_declared(path: PathLikeStr, n_bytes: int, what: str, *, on_disk: int, codec: str = "none") -> None:
    """Refuse content the file cannot hold (:class:`CorruptFileError`).

    Parameters
    ----------
    path : path-like
        The file, for the message.
    n_bytes : int
        What the header declares (decoded size).
    what : str
        What is declared (``"'/data' (2147483648, 24, 32) float32"``).
    on_disk : int
        Bytes the file stores for it (the member, the dataset's storage, the file).
    codec : str
        Key of :data:`MAX_RATIO` (``"none"`` for raw bytes).
    """
    if n_bytes < 0:
        raise CorruptFileError(path, f"{what} declares a negative size ({n_bytes} bytes)")
    limit = max_content(on_disk, codec)
    if n_bytes > limit:
        how = "stored raw" if codec == "none" else f"{codec}-compressed (at most {MAX_RATIO.get(codec, 1032):g}:1)"
        raise CorruptFileError(
            path, f"{what} declares {n_bytes} bytes ({_gib(n_bytes)}), but the file holds only "
            f"{on_disk} bytes for it, {how}: the header is damaged"
        )


def check_frame_count(path: PathLikeStr, n_frames: int, what: str, *, on_disk: int) -> None:
    """Refuse a frame count the file cannot hold (at least one byte per frame)."""
    if n_frames < 0 or n_frames > max(on_disk, 1):
        raise CorruptFileError(
            path, f"{what} declares {n_frames} frames, impossible for {on_disk} bytes of data: the header is damaged"
        )


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _address_space_left() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    used = 0
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - used)


def available_memory() -> int | None:
    """Bytes a new allocation can take now, or None when the system does not say."""
    known = [v for v in (_meminfo_available(), _address_space_left()) if v is not None]
    return min(known) if known else None


LAZY_HINT = "read it lazily with lazy=True (the command line always does)"


def check_memory(path: PathLikeStr, n_bytes: int, what: str, *, hint: str | None = LAZY_HINT) -> None:
    """Refuse an eager allocation that does not fit in memory (:class:`ResourceError`).

    Allocations under :data:`UNCHECKED_BYTES` always fit: asking the system (``/proc``
    and the address-space limit) costs more than reading a small file.
    """
    if n_bytes < UNCHECKED_BYTES:
        return
    available = available_memory()
    if available is None or n_bytes <= MEMORY_FRACTION * available:
        return
    hint = f"; {hint}" if hint else ""
    raise ResourceError(
        path, f"loading {what} needs {_gib(n_bytes)} but only {_gib(available)} of memory is available{hint}"
    )


def inflate_bounded(data: bytes, limit: int, path: PathLikeStr, what: str, *, wbits: int = zlib.MAX_WBITS) -> bytes:
    """Inflate ``data``, refusing (CorruptFileError) as soon as the output passes ``limit`` bytes."""
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CorruptFileError(path, f"{what}: damaged compressed data: {exc}") from None
    if len(out) > limit:
        raise CorruptFileError(path, f"{what} inflates past the {limit} bytes it declares")
    return out


def tree_size(folder: Path, *, limit: int | None = None) -> int:
    """Bytes of the regular files under ``folder`` (stops counting once past ``limit``)."""
    total = 0
    for entry in _walk(folder):
        total += entry
        if limit is not None and total > limit:
            break
    return total


def _walk(folder: Path) -> Iterator[int]:
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                for item in it:
                    if item.is_dir(follow_symlinks=False):
                        stack.append(Path(item.path))
                    elif item.is_file(follow_symlinks=False):
                        yield item.stat(follow_symlinks=False).st_size
        except OSError:
            continue
