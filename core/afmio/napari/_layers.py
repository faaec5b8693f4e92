"""An :class:`~afmio.AFMImageStack` as a napari image layer: data, scale, units, metadata."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..stack import AFMImageStack

__all__ = ["AXIS_LABELS", "UNITS", "contrast_limits", "first_frame_shown", "frame_interval", "layer_data", "lazy_array"]

AXIS_LABELS = ("t", "y", "x")
UNITS = ("s", "nm", "nm")

#: Frames sampled (evenly over the video) for the contrast range when the middle frame is flat.
CONTRAST_FRAMES = 5
CONTRAST_PERCENTILES = (1.0, 99.0)

LayerData = tuple[Any, dict[str, Any], str]


def frame_interval(stack: AFMImageStack) -> tuple[float, str]:
    """Seconds per frame for the time axis, and how it was found.

    The median of the differences between the recorded timestamps (robust to one
    long pause); 1.0 when the file records no usable times.
    """
    times = [m.get("timestamp") for m in stack.frame_metadata]
    if len(times) >= 2 and all(t is not None for t in times):
        steps = np.diff(np.asarray(times, dtype=np.float64))
        step = float(np.median(steps))
        if np.isfinite(step) and step > 0:
            return step, "median of the timestamp differences"
    return 1.0, "frame times unknown: 1 s per frame assumed"


def _percentiles(stack: AFMImageStack, frames: Sequence[int]) -> tuple[float, float] | None:
    values = np.concatenate([np.asarray(stack.get_frame(i), dtype=np.float64).ravel() for i in frames])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(values, CONTRAST_PERCENTILES))
    return (lo, hi) if hi > lo else None


def first_frame_shown(n_frames: int) -> int:
    """The frame napari shows when it opens a video: the middle one."""
    return (n_frames - 1) // 2


def contrast_limits(stack: AFMImageStack) -> tuple[float, float]:
    """A first contrast range: the 1st and 99th percentiles of the frame napari shows first.

    HS-AFM videos drift and jump (whole frames can saturate), so one range for all
    frames would leave many of them in one colour; the range fits the middle frame,
    which napari opens on. If that frame is flat or not finite, the values of
    :data:`CONTRAST_FRAMES` frames spread over the video are used. Only those
    frames are read, so a lazy stack stays lazy.
    """
    n = stack.n_frames
    found = _percentiles(stack, [first_frame_shown(n)])
    if found is None:
        spread = np.unique(np.linspace(0, n - 1, min(n, CONTRAST_FRAMES)).round().astype(int))
        found = _percentiles(stack, [int(i) for i in spread])
    if found is None:  # every sampled value is the same or not finite
        values = np.asarray(stack.get_frame(first_frame_shown(n)), dtype=np.float64)
        finite = values[np.isfinite(values)]
        centre = float(finite[0]) if finite.size else 0.0
        return centre - 0.5, centre + 0.5
    return found


class _LockedFrames:
    """A lazy stack as the array-like Dask reads chunks from: one frame read at a time.

    Drivers' frame sources share one open file and are not documented as safe for
    concurrent reads, while Dask (and so napari) reads chunks from several threads.
    """

    def __init__(self, stack: AFMImageStack) -> None:
        self._stack = stack
        self._lock = threading.Lock()
        self.shape = stack.shape
        self.dtype = stack.dtype
        self.ndim = 3

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        frames, rows, cols = key
        start, stop, _ = frames.indices(self.shape[0])
        with self._lock:
            read = [self._stack.get_frame(i) for i in range(start, stop)]
        block = np.stack(read) if read else np.empty((0, *self.shape[1:]), self.dtype)
        return block[:, rows, cols]


def lazy_array(stack: AFMImageStack) -> Any:
    """A Dask array over ``stack``, one chunk per frame, each read when napari shows it."""
    import dask.array as da

    _, h, w = stack.shape
    return da.from_array(
        _LockedFrames(stack),
        chunks=(1, h, w),
        name=f"afmio-{uuid.uuid4().hex}",
        asarray=True,
        fancy=False,
        meta=np.empty((0, 0, 0), stack.dtype),
    )


def layer_data(
    stack: AFMImageStack,
    *,
    name: str | None = None,
    channels: list[str] | None = None,
) -> LayerData:
    """Return the napari ``(data, kwargs, "image")`` tuple for one channel of a video.

    Parameters
    ----------
    stack : AFMImageStack
        The video (lazy or in memory).
    name : str, optional
        Layer name; default ``"<file> <channel> (<unit>)"``.
    channels : list of str, optional
        Every channel of the file, recorded in the metadata.

    Returns
    -------
    tuple
        A lazy stack gives a Dask array that reads each frame when napari shows it;
        an in-memory stack gives its array.
    """
    interval, how = frame_interval(stack)
    if name is None:
        stem = Path(str(stack.file_path)).name if stack.file_path is not None else "AFM video"
        name = f"{stem} {stack.channel} ({stack.z_unit})"
    metadata = {
        "file_path": None if stack.file_path is None else str(stack.file_path),
        "channel": stack.channel,
        "channels": list(channels) if channels is not None else [stack.channel],
        "z_unit": stack.z_unit,
        "pixel_size_nm": stack.pixel_size_nm,
        "pixel_size_y_nm": stack.pixel_size_y_nm,
        "timestamps_s": [m.get("timestamp") for m in stack.frame_metadata],
        "frame_interval_s": interval,
        "frame_interval_source": how,
        "frame_metadata": [dict(m) for m in stack.frame_metadata],
        "acquisition": dict(stack.acquisition),
        "source": dict(stack.provenance.get("source") or {}),
    }
    kwargs = {
        "name": name,
        "scale": (interval, stack.pixel_size_y_nm, stack.pixel_size_nm),
        "units": UNITS,
        "axis_labels": AXIS_LABELS,
        "contrast_limits": contrast_limits(stack),
        "colormap": "afmhot" if stack.z_unit == "nm" else "gray",
        "metadata": metadata,
    }
    data = lazy_array(stack) if stack.is_lazy else stack.data
    return data, kwargs, "image"
