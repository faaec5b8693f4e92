"""napari writer contribution: an image layer saved through any afmio writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WriteError
from ..stack import AFMImageStack

__all__ = ["layer_to_stack", "write_image"]


class _ArrayFrames:
    """Frames of any array-like (NumPy, Dask, Zarr) read block by block as a writer streams them."""

    def __init__(self, array: Any) -> None:
        self._array = array

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self._array.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._array.dtype)

    def read_frame(self, index: int) -> np.ndarray:
        return np.array(self._array[index])

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        return np.array(self._array[start:stop])

    def close(self) -> None:
        pass


def _factor(unit: Any, target: str) -> float | None:
    """How many ``target`` in one ``unit`` (a pint unit or its name); None if not convertible."""
    if unit is None:
        return None
    import pint

    registry = pint.get_application_registry()
    try:
        return float(registry.Quantity(1.0, str(unit)).to(target).magnitude)
    except (pint.errors.PintError, ValueError, AttributeError):
        return None


def _axis(meta: Mapping[str, Any], key: str, ndim: int, default: Any) -> list[Any]:
    """``meta[key]`` as one value per data axis (napari gives one per layer dimension)."""
    values = meta.get(key)
    if values is None or isinstance(values, str) or len(values) != ndim:
        return [default] * ndim
    return list(values)


def layer_to_stack(data: Any, meta: Mapping[str, Any], path: str | Path | None = None) -> AFMImageStack:
    """Build a (lazy) :class:`~afmio.AFMImageStack` from napari layer data and its attributes.

    Parameters
    ----------
    data : array-like or list of array-likes
        ``(t, y, x)`` or ``(y, x)`` values (NumPy, Dask...); for a multiscale
        layer, the full-resolution level is written.
    meta : mapping
        The layer's attributes as napari hands them to writers: ``scale`` and
        ``units`` give the pixel sizes (a length unit is converted to nm; napari's
        default ``pixel`` unit is taken as nm) and, when the metadata has no frame
        times, the frame interval (a time unit; none without one). ``metadata`` as
        the afmio reader fills it restores timestamps, the per-frame metadata,
        channel name, value unit and acquisition facts.
    path : str or Path, optional
        The output, named in errors.
    """
    if isinstance(data, (list, tuple)):  # multiscale: level 0 is the full resolution
        data = data[0]
    where = path if path is not None else "napari layer"
    if meta.get("rgb"):
        raise WriteError(where, "afmio writes single-valued frames; this layer is RGB")
    ndim = data.ndim
    if ndim not in (2, 3):
        raise WriteError(where, f"afmio writes (t, y, x) or (y, x) data; the layer has {ndim} dimensions")
    scale = [float(s) for s in _axis(meta, "scale", ndim, 1.0)]
    units = _axis(meta, "units", ndim, None)
    if ndim == 2:  # one frame; no time axis
        data, scale, units = data[None], [1.0, *scale], [None, *units]
    n = int(data.shape[0])
    sizes_nm = []
    for s, u in zip(scale[1:], units[1:]):
        f = _factor(u, "nm")
        sizes_nm.append(s * f if f is not None else s)
    info: Mapping[str, Any] = meta.get("metadata") or {}
    frame_meta = info.get("frame_metadata")
    if isinstance(frame_meta, Sequence) and len(frame_meta) == n and all(isinstance(m, Mapping) for m in frame_meta):
        frames = [dict(m) for m in frame_meta]
    else:
        step = _factor(units[0], "s")
        times = info.get("timestamps_s")
        if not (isinstance(times, Sequence) and len(times) == n):
            times = [i * scale[0] * step for i in range(n)] if step is not None else [None] * n
        frames = [{"timestamp": t, "frame_pixel_size_nm": sizes_nm[1]} for t in times]
    stack = AFMImageStack(
        _ArrayFrames(data) if not isinstance(data, np.ndarray) else data,
        sizes_nm[1],
        str(info.get("channel") or meta.get("name") or "height_trace"),
        None,
        frames,
        pixel_size_y_nm=sizes_nm[0],
        z_unit=str(info.get("z_unit") or "nm"),
    )
    acquisition = info.get("acquisition")
    if isinstance(acquisition, Mapping):
        stack.acquisition.update(acquisition)
    return stack


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """napari hook: save one image layer to ``path``; the extension chooses the afmio writer."""
    from .. import registry

    written = registry.save(layer_to_stack(data, meta, path), path, overwrite=True)
    return [str(written)]
