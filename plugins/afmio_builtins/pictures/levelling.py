"""Display-only levelling: take the tilt out of what a picture shows, never out of the data.

Raw HS-AFM frames are dominated by the sample's tilt and by line-to-line offsets of the
slow axis, so a colour map stretched over a raw frame shows a gradient rather than the
molecules. Every picture output (GIF, videos, image sequences, the contact sheet) takes
``level=``:

``"none"``
    The values as they are (playNano's look).
``"plane"``
    Each frame minus its least-squares plane ``a + b*x + c*y`` (finite pixels only).
``"line"``
    The plane, then each row minus its median: removes the offsets between scan lines
    as well (the usual first look at HS-AFM data).

The picture's colour range (``zmin`` / ``zmax``, ``"auto"``) then refers to the
levelled values. The stack passed in is never modified: levelling happens on copies of
the frames as they are rendered, block by block, so a lazy stack stays lazy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from afmio.errors import OptionError

if TYPE_CHECKING:
    from afmio.stack import AFMImageStack

__all__ = ["LEVELS", "Level", "level_frames", "levelled"]

Level = Literal["none", "plane", "line"]
LEVELS: tuple[str, ...] = ("none", "plane", "line")


def check_level(level: str) -> str:
    """Return ``level`` if it is one of :data:`LEVELS`, else raise :class:`~afmio.OptionError`."""
    if level not in LEVELS:
        raise OptionError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    return level


def _plane_design(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The (h*w, 3) design matrix of ``1, x, y`` (centred, unit spacing) and its pseudo-inverse."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    design = np.stack([np.ones(height * width), (x - x.mean()).ravel(), (y - y.mean()).ravel()], axis=1)
    return design, np.linalg.pinv(design)


def _subtract_planes(frames: np.ndarray) -> None:
    """Subtract each frame's least-squares plane in place (float64 ``frames``)."""
    n, h, w = frames.shape
    design, inverse = _plane_design(h, w)
    flat = frames.reshape(n, h * w)
    finite = np.isfinite(flat)
    whole = finite.all(axis=1)
    if whole.any():  # the common case: one matrix product fits every complete frame
        coeffs = flat[whole] @ inverse.T
        flat[whole] -= coeffs @ design.T
    for i in np.flatnonzero(~whole):  # frames with gaps: fit their finite pixels only
        keep = finite[i]
        if keep.sum() >= 3:
            coeffs, *_ = np.linalg.lstsq(design[keep], flat[i, keep], rcond=None)
            flat[i] -= design @ coeffs


def _subtract_row_medians(frames: np.ndarray) -> None:
    """Subtract each row's median in place (rows without finite values stay as they are)."""
    finite_rows = np.isfinite(frames).any(axis=2, keepdims=True)
    with np.errstate(all="ignore"):
        medians = np.nanmedian(np.where(finite_rows, frames, 0.0), axis=2, keepdims=True)
    frames -= medians


def level_frames(frames: np.ndarray, level: str) -> np.ndarray:
    """Return levelled copies of ``frames`` (``(n, h, w)``), as float64 unless ``level`` is "none".

    Parameters
    ----------
    frames : numpy.ndarray
        A block of frames; it is not modified.
    level : {"none", "plane", "line"}
        See the module docstring.
    """
    check_level(level)
    if level == "none":
        return frames
    out = np.array(frames, dtype=np.float64)
    _subtract_planes(out)
    if level == "line":
        _subtract_row_medians(out)
    return out


class _LevelledFrames:
    """A frame source that levels another stack's frames as they are read."""

    def __init__(self, stack: AFMImageStack, level: str) -> None:
        self._stack = stack
        self._level = level

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._stack.shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    def read_frame(self, index: int) -> np.ndarray:
        return level_frames(np.asarray(self._stack.get_frame(index))[np.newaxis], self._level)[0]

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        block = self._stack[start:stop].data if self._stack.is_lazy else self._stack.data[start:stop]
        return level_frames(np.asarray(block), self._level)

    def close(self) -> None:
        pass  # the original stack owns its file


def levelled(stack: AFMImageStack, level: str) -> AFMImageStack:
    """A view of ``stack`` whose frames are levelled on reading (``stack`` itself if "none")."""
    from afmio.stack import AFMImageStack

    if check_level(level) == "none":
        return stack
    view = AFMImageStack(
        _LevelledFrames(stack, level),
        stack.pixel_size_nm,
        stack.channel,
        stack.file_path,
        stack.frame_metadata,
        pixel_size_y_nm=stack.pixel_size_y_nm,
        z_unit=stack.z_unit,
    )
    return view
