"""Small helpers shared by drivers: exact reads, size checks, name order."""

from __future__ import annotations

import os
import re
from os import PathLike
from typing import IO, Any, TypeVar

from .errors import CorruptFileError, TruncatedFileError

__all__ = ["check_allocation", "natural_sort_key", "read_exact", "require_size"]

T = TypeVar("T")

#: Refuse to allocate more than this many times the file size because a header says so.
MAX_EXPANSION = 8


def read_exact(handle: IO[bytes], size: int, path: str | PathLike[str], what: str) -> bytes:
    """Read exactly ``size`` bytes or raise :class:`TruncatedFileError` naming ``what``."""
    if size < 0:
        raise CorruptFileError(path, f"negative size {size} for {what}")
    data = handle.read(size)
    if len(data) != size:
        raise TruncatedFileError(path, f"file ends inside {what} (needed {size} bytes, got {len(data)})")
    return data


def require_size(path: str | PathLike[str], needed: int, what: str, actual: int | None = None) -> None:
    """Raise :class:`TruncatedFileError` when the file is shorter than ``needed`` bytes."""
    size = os.path.getsize(path) if actual is None else actual
    if size < needed:
        raise TruncatedFileError(path, f"{what} needs {needed} bytes but the file has {size}")


def check_allocation(path: str | PathLike[str], n_bytes: int, what: str, file_size: int | None = None) -> None:
    """Refuse an allocation the file cannot justify (a corrupt header asking for terabytes)."""
    size = os.path.getsize(path) if file_size is None else file_size
    if n_bytes < 0 or n_bytes > MAX_EXPANSION * max(size, 1) + (1 << 20):
        raise CorruptFileError(
            path, f"{what} would need {n_bytes} bytes, impossible for a {size}-byte file"
        )


_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(name: str) -> list[Any]:
    """Sort key putting ``frame2`` before ``frame10``."""
    return [int(p) if p.isdigit() else p.lower() for p in _DIGITS.split(name)]

