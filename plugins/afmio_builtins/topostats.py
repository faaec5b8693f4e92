"""TopoStats ``.topostats`` files (HDF5): one processed image per file.

TopoStats (AFM-SPM) saves each processed scan as an HDF5 file holding the
flattened image in nm (``image``), often the image as loaded (``image_original``),
the scale ``pixel_to_nm_scaling`` and analysis results (grain masks, traces). Both
layouts in use are read: the early one (``topostats_file_version`` 0.1: ``image``
and the scale only) and later ones with the original image, the file name and
analysis groups; a ``topostats_version`` (the TopoStats release) is reported
when present. A single file loads as a one-frame stack; a folder of
``.topostats`` files loads as a video (see :mod:`afmio.framefiles`).

Channels
    ``image`` (the default) and ``image_original``, as stored, when they are 2-D
    numeric datasets of the same shape. Masks and analysis results are not
    channels.

Values
    As stored, in nm (TopoStats works in nm throughout); float64 on disk.

Orientation
    Row 0 is the first stored row, as TopoStats and AFMReader return it (TopoStats
    itself loads instrument files with the top line first).

Pixel size
    ``pixel_to_nm_scaling`` (nm per pixel), square pixels.

Timing
    None recorded: frame times are unknown and a folder loads in natural name
    order.

Acquisition facts
    ``topostats_file_version``, ``topostats_version``, ``source_filename`` and
    ``source_path``, ``channels``. Variable-length strings (how TopoStats writes
    ``filename`` and ``img_path``) live in HDF5's global heap, on which libhdf5 can
    spin forever when it is damaged: the heap is checked first, and when it is
    damaged the image still loads, the strings are left unread, their keys are
    listed in ``unread_variable_length_strings`` and ``damaged_strings`` says why.

Errors
    Files that are not HDF5 are not this format; an HDF5 file without an ``image``
    dataset or a valid scale, or whose datasets cannot be read, raises
    :class:`~afmio.CorruptFileError` naming the file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from afmio.errors import CorruptFileError, UnsupportedFormatError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo
from afmio.ioutil import check_allocation

from ._h5heap import global_heap_damage
from ._h5util import open_h5
from .hdf5 import H5PY_ERRORS

__all__ = ["TopoStatsCodec", "channels", "probe", "read", "sniff"]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
IMAGE_KEYS = ("image", "image_original")
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError)


def _text(value: Any) -> str | None:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if value is None:
        return None
    return str(value)


class _VariableLength:
    """Marks a variable-length string left unread (its file's global heap is damaged)."""


VARIABLE_LENGTH = _VariableLength()


def _is_variable_length(dtype: np.dtype) -> bool:
    info = h5py.check_string_dtype(dtype)
    return dtype.kind == "O" or (info is not None and info.length is None)


def _scalar(h5: h5py.File, key: str, *, strings: bool) -> Any:
    """A scalar dataset or root attribute, or None; VARIABLE_LENGTH for a variable-length
    string when ``strings`` is False (the global heap holding it is damaged)."""
    obj = h5.get(key)
    if isinstance(obj, h5py.Dataset) and obj.size == 1:
        return VARIABLE_LENGTH if not strings and _is_variable_length(obj.dtype) else obj[()]
    if key in h5.attrs:
        vlen = _is_variable_length(h5.attrs.get_id(key).dtype)
        return VARIABLE_LENGTH if not strings and vlen else h5.attrs[key]
    return None


def _version(value: Any) -> float | str | None:
    """A version as stored: a number (``0.2``) or text (``2.3.1``)."""
    if isinstance(value, (bytes, np.bytes_, str)):
        return _text(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return _text(value)


def _open(path: Path) -> h5py.File:
    return open_h5(path, check_heaps=False)  # a damaged heap costs the strings, not the image


class TopoStatsCodec(FrameCodec):
    """Codec of TopoStats ``.topostats`` files for :class:`~afmio.framefiles.FramePerFileDriver`."""

    format_name = "TopoStats"
    member_patterns = ("*.topostats",)
    default_order = ("image",)
    library_errors = H5PY_ERRORS

    def sniff(self, path: Path) -> bool | None:
        try:
            with open(path, "rb") as fh:
                if fh.read(8) != HDF5_MAGIC:
                    return False
        except OSError:
            return None
        try:
            with h5py.File(path, "r") as h5:
                return "image" in h5 and "pixel_to_nm_scaling" in h5
        except _H5_ERRORS:
            return None

    def read_header(self, path: Path) -> FrameHeader:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_MAGIC:
                raise UnsupportedFormatError(f"{path}: not an HDF5 file, so not a TopoStats file", path=path)
        with _open(path) as h5:
            return self._header(path, h5)

    def _header(self, path: Path, h5: h5py.File) -> FrameHeader:
        if "image" not in h5 or not isinstance(h5["image"], h5py.Dataset):
            raise CorruptFileError(path, "no 'image' dataset")
        damage = global_heap_damage(path, h5)
        scale = _scalar(h5, "pixel_to_nm_scaling", strings=False)
        try:
            px = float(scale)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            px = math.nan
        if not (math.isfinite(px) and px > 0):
            raise CorruptFileError(path, f"pixel_to_nm_scaling {scale!r} is not a positive number")
        first = h5["image"]
        shape = tuple(int(n) for n in first.shape)
        if len(shape) != 2 or first.dtype.kind not in "iuf" or 0 in shape:
            raise CorruptFileError(path, f"'image' is {first.shape} of {first.dtype}, not a 2-D numeric image")
        images = []
        for key in IMAGE_KEYS:
            ds = h5.get(key)
            if isinstance(ds, h5py.Dataset) and ds.shape == first.shape and ds.dtype.kind in "iuf":
                images.append(ImageInfo(key, (shape[0], shape[1]), px, px, "nm", {"dtype": str(ds.dtype)}))
        acquisition: dict[str, Any] = {"channels": [im.channel for im in images]}
        unread = []
        for key, name in (("topostats_file_version", "topostats_file_version"),
                          ("topostats_version", "topostats_version"),
                          ("filename", "source_filename"), ("img_path", "source_path")):
            value = _scalar(h5, key, strings=damage is None)
            if value is VARIABLE_LENGTH:
                unread.append(key)
            elif value is not None:
                acquisition[name] = _version(value) if key.endswith("version") else _text(value)
        if unread:
            acquisition["unread_variable_length_strings"] = unread
            acquisition["damaged_strings"] = damage
        return FrameHeader(path=path, images=images, default_channel="image", acquisition=acquisition)

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        rows, cols = image.shape
        with _open(header.path) as h5:
            ds = h5[image.channel]
            if ds.shape != image.shape:
                raise CorruptFileError(header.path, f"{image.channel!r} changed shape to {ds.shape}")
            check_allocation(header.path, rows * cols * ds.dtype.itemsize, f"{image.channel!r} ({rows} x {cols})",
                             os.path.getsize(header.path))
            return np.asarray(ds[()])


_driver = FramePerFileDriver(TopoStatsCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
