"""HDF5 plumbing shared by the drivers that read HDF5 files (bundles, h5-jpk, ARIS, NHF, TopoStats).

Opening a file, turning what h5py raises on damage into :class:`~afmio.CorruptFileError`,
decoding attributes, and refusing a dataset whose declared size the file cannot hold
(an unallocated dataset reads as fill values, so a damaged header could otherwise ask
for gigabytes from a few kilobytes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from afmio.errors import CorruptFileError, TruncatedFileError, reading
from afmio.frames import close_on_error

from ._h5heap import check_global_heaps
from ._jpk_common import MAX_DEFLATE_RATIO

__all__ = [
    "HDF5_SIGNATURE",
    "attr_float",
    "attr_text",
    "check_stored",
    "check_stored_total",
    "h5_errors",
    "is_hdf5",
    "open_h5",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: Declared bytes always allowed over the stored ones (tiny datasets, headers).
_SLACK = 1 << 20


def is_hdf5(path: Path) -> bool:
    """True when the file starts with the HDF5 signature (False for folders and unreadable files)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def open_h5(path: Path, *, check_heaps: bool = True) -> Any:
    """Open ``path`` read-only for a driver, with its global heaps checked (:mod:`._h5heap`).

    ``check_heaps=False`` leaves the check to a driver that can load without the strings.

    Raises :class:`TruncatedFileError` or :class:`CorruptFileError` naming the file when
    HDF5 cannot open it; a missing or unreadable file keeps its OS error.
    """
    try:
        f = h5py.File(path, "r")
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except OSError as exc:
        text = str(exc)
        if "truncated" in text.lower() or "eof" in text.lower():
            raise TruncatedFileError(path, f"the HDF5 file is truncated: {text}") from None
        raise CorruptFileError(path, f"not a readable HDF5 file: {text}") from None
    if check_heaps:
        with close_on_error(f):
            check_global_heaps(path, f)
    return f


#: What h5py raises on damaged files besides the usual data errors.
H5PY_ERRORS: tuple[type[Exception], ...] = (OSError, RuntimeError, TypeError, AttributeError)


def h5_errors(path: Path, what: str = "the HDF5 structure") -> reading:
    """afmio's error policy for h5py: damaged-file errors become CorruptFileError naming ``path``."""
    return reading(path, what, also=H5PY_ERRORS)


def attr_text(value: Any) -> str | None:
    """An attribute as text (bytes decoded, one-element arrays unwrapped); None when absent."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def attr_float(value: Any) -> float | None:
    """An attribute's first value as a finite float; None when absent, not a number or not finite."""
    if value is None:
        return None
    try:
        arr = np.asarray(value).reshape(-1)
        out = float(arr[0]) if arr.size else None
    except (TypeError, ValueError):
        return None
    return out if out is not None and np.isfinite(out) else None


def check_stored(ds: Any, path: Path, what: str, file_size: int | None = None) -> tuple[int, int]:
    """Refuse a dataset whose declared size its stored bytes (or the file) cannot justify.

    Returns ``(declared, stored)`` bytes, for a caller adding up many datasets (see
    :func:`check_stored_total`).
    """
    declared = int(np.prod(ds.shape, dtype=np.int64)) * ds.dtype.itemsize
    ident = ds.id if isinstance(ds, h5py.Dataset) else ds  # an h5py Dataset or its low-level DatasetID
    stored = int(ident.get_storage_size())
    size = os.path.getsize(path) if file_size is None else file_size
    if stored > size:
        raise CorruptFileError(path, f"{what} claims {stored} stored bytes but the file has {size}")
    if declared > MAX_DEFLATE_RATIO * stored + _SLACK:
        raise CorruptFileError(
            path, f"{what} declares {ds.shape} {ds.dtype} ({declared} bytes) but stores only {stored} bytes"
        )
    return declared, stored


def check_stored_total(path: Path, declared: int, stored: int, what: str) -> None:
    """The same rule over many datasets at once, so that the per-dataset slack cannot add up."""
    if declared > MAX_DEFLATE_RATIO * stored + _SLACK:
        raise CorruptFileError(path, f"{what} declare {declared} bytes but store only {stored} bytes")
