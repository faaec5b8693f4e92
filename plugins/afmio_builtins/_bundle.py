"""What the three playNano bundle drivers (NPZ, HDF5, OME-TIFF) share.

* JSON encoding of frame metadata, provenance and state backups, exactly as
  playNano 0.5.0 writes them (``json.dumps`` defaults) after making numpy values
  plain Python.
* The afmio-only extras (``z_unit``, exact pixel sizes, ...) as one small JSON
  object that each format stores where playNano does not look.
* Building the loaded stack: provenance replaced wholesale with the saved one plus
  ``bundle = {bundle_file, bundle_type}``, as playNano's loaders do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from afmio._version import __version__
from afmio.errors import CorruptFileError
from afmio.frames import cast_frames, close_on_error
from afmio.metadata import make_json_safe, normalize_timestamp
from afmio.stack import AFMImageStack

__all__ = [
    "BLOCK_BYTES",
    "EXTRAS_FORMAT",
    "BundleParts",
    "apply_extras",
    "blocks",
    "build_stack",
    "dumps",
    "extras_for",
    "float_from_float32",
    "frames_per_block",
    "loads",
]

#: Identifies afmio's extras object (the NPZ member ``afmio_json``, the HDF5 root
#: attribute ``afmio_json``, the private TIFF tag 65002).
EXTRAS_FORMAT = "afmio-bundle-extras"

#: Writers stream a lazy stack in blocks of about this many bytes.
BLOCK_BYTES = 64 << 20

PathLikeStr = str | PathLike[str]


def frames_per_block(shape: tuple[int, ...], itemsize: int) -> int:
    """How many frames make one block of about :data:`BLOCK_BYTES`."""
    frame_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    return max(1, BLOCK_BYTES // frame_bytes)


def blocks(stack: AFMImageStack) -> Iterator[np.ndarray]:
    """The stack's frames as 3-D blocks of about :data:`BLOCK_BYTES` (lazy or not)."""
    step = frames_per_block(stack.shape, stack.dtype.itemsize)
    for block in stack.iter_frames(block=step):
        yield block if step > 1 else block[np.newaxis]


def dumps(obj: Any) -> str:
    """JSON text as playNano writes it (default separators, ASCII, NaN allowed)."""
    return json.dumps(make_json_safe(obj))


def loads(path: PathLikeStr, text: str | bytes, what: str) -> Any:
    """Parse a JSON member, raising :class:`CorruptFileError` naming it."""
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")
        return json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptFileError(path, f"invalid JSON in {what!r}: {exc}") from None


def extras_for(stack: AFMImageStack, *, with_frame_metadata: bool = False) -> dict[str, Any]:
    """The afmio-only facts a bundle stores beside playNano's layout."""
    extras: dict[str, Any] = {
        "format": EXTRAS_FORMAT,
        "version": 1,
        "afmio_version": __version__,
        "z_unit": stack.z_unit,
        "pixel_size_nm": float(stack.pixel_size_nm),
        "pixel_size_y_nm": float(stack.pixel_size_y_nm),
    }
    if with_frame_metadata:
        extras["frame_metadata"] = make_json_safe(stack.frame_metadata)
    return extras


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    out = float(value)
    return out if math.isfinite(out) and out > 0 else None


def apply_extras(path: PathLikeStr, extras: Any, pixel_size_nm: float) -> tuple[str, float, float, dict[str, Any]]:
    """Read afmio's extras: ``(z_unit, pixel_size_nm, pixel_size_y_nm, extras)``.

    ``pixel_size_nm`` is what the playNano part of the file says; the extras'
    exact value replaces it only when both agree to float32 precision (so a file
    edited by another tool keeps the value that tool wrote). Absent extras give
    ``z_unit="nm"`` and a y pixel size equal to x.
    """
    if extras is None:
        return "nm", pixel_size_nm, pixel_size_nm, {}
    if not isinstance(extras, Mapping) or extras.get("format") != EXTRAS_FORMAT:
        raise CorruptFileError(path, "afmio extras are not an afmio-bundle-extras object")
    z_unit = extras.get("z_unit")
    z_unit = z_unit if isinstance(z_unit, str) and z_unit else "nm"
    x = _positive(extras.get("pixel_size_nm"))
    if x is not None and np.float32(x) == np.float32(pixel_size_nm):
        pixel_size_nm = x
    y = _positive(extras.get("pixel_size_y_nm"))
    return z_unit, pixel_size_nm, pixel_size_nm if y is None else y, dict(extras)


def float_from_float32(value: Any) -> float:
    """A float32 pixel size as the decimal it was written from (0.636, not 0.63599997...).

    playNano stores ``pixel_size_nm`` as float32; the shortest decimal that rounds
    to the same float32 is the value the user typed or the instrument reported.
    """
    if isinstance(value, np.float32):
        return float(np.format_float_positional(value, unique=True, trim="-"))
    return float(value)


def frame_times(meta: Any, n_frames: int) -> list[float] | None:
    """Seconds per frame from a metadata list (unknown times become the frame index)."""
    if not isinstance(meta, list) or len(meta) > n_frames:
        return None
    out = []
    for i in range(n_frames):
        md = meta[i] if i < len(meta) and isinstance(meta[i], dict) else {}
        t = normalize_timestamp(md.get("timestamp"))
        out.append(float(i) if t is None else t)
    return out


def check_pixel_size(path: PathLikeStr, value: Any, what: str) -> float:
    """A positive finite float or :class:`CorruptFileError`."""
    out = _positive(value)
    if out is None:
        raise CorruptFileError(path, f"{what} must be a positive number, got {value!r}")
    return out


@dataclass
class BundleParts:
    """What a bundle stores besides its frames, as a driver parsed it (checked by :func:`build_stack`)."""

    pixel_size_nm: float
    channel: str
    frame_metadata: Any
    provenance: Any
    pixel_size_y_nm: float | None = None
    z_unit: str = "nm"
    state_backups: Any = None


def build_stack(
    path: PathLikeStr,
    data: Any,
    parts: BundleParts,
    *,
    bundle_type: str,
    lazy: bool,
    dtype: Any = None,
    finish: Callable[[AFMImageStack], None] | None = None,
) -> AFMImageStack:
    """Assemble a loaded bundle, checking the JSON parts have the right shapes.

    ``data`` is an array or a frame source holding the open file; it is taken over
    (closed if anything here fails, after an eager read, or with the stack:
    :meth:`AFMImageStack.from_source`). ``dtype`` (from the reader's ``dtype=``
    option) converts the frames; None keeps the stored type. ``finish`` runs on the
    stack while the file is still open (processed layers, masks).
    """
    with close_on_error(data):
        _check_parts(path, data.shape[0], parts)
        if dtype is not None:
            data = cast_frames(data, dtype)

        def complete(stack: AFMImageStack) -> None:
            saved = dict(parts.provenance)
            bundle = saved.get("bundle")
            saved["bundle"] = dict(bundle) if isinstance(bundle, dict) else {}
            saved["bundle"].update(bundle_file=str(path), bundle_type=bundle_type)
            saved.setdefault("processing", {"steps": [], "keys_by_name": {}})
            stack.provenance = saved
            if parts.state_backups is not None:
                stack.state_backups = parts.state_backups
            if finish is not None:
                finish(stack)

        return AFMImageStack.from_source(
            data, parts.pixel_size_nm, parts.channel, Path(path), parts.frame_metadata, lazy=lazy,
            finish=complete, pixel_size_y_nm=parts.pixel_size_y_nm, z_unit=parts.z_unit,
        )


def _check_parts(path: PathLikeStr, n_frames: int, parts: BundleParts) -> None:
    frame_metadata = parts.frame_metadata
    if not isinstance(frame_metadata, list) or not all(isinstance(m, dict) for m in frame_metadata):
        raise CorruptFileError(path, "'frame_metadata_json' is not a list of objects")
    if len(frame_metadata) > n_frames:
        raise CorruptFileError(
            path, f"Metadata length ({len(frame_metadata)}) does not match number of frames ({n_frames})."
        )
    if not isinstance(parts.provenance, dict):
        raise CorruptFileError(path, "'provenance_json' is not an object")
    if parts.state_backups is not None and not isinstance(parts.state_backups, dict):
        raise CorruptFileError(path, "'state_backups_json' is not an object")
