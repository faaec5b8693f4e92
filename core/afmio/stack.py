"""The stack model: a video of AFM frames with its metadata.

:class:`AFMImageStack` follows playNano 0.5.0's model (same attributes, same
frame-metadata keys, same provenance layout) so bundles and scripts carry over,
and extends it with ``pixel_size_y_nm`` (non-square pixels), ``z_unit`` and lazy,
frame-on-demand backing.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ReadError
from .frames import ArrayFrameSource, FrameSource, SlicedFrameSource, cast_frames, close_on_error
from .limits import check_memory
from .metadata import build_frame_metadata, normalize_timestamps

__all__ = ["Z_UNITS", "AFMImageStack", "empty_provenance", "normalize_z_unit"]

#: The small vocabulary of value units; a file's own unit string is kept otherwise.
Z_UNITS = ("nm", "V", "deg")

_Z_UNIT_SYNONYMS = {
    "nm": "nm",
    "nanometer": "nm",
    "nanometre": "nm",
    "v": "V",
    "volt": "V",
    "volts": "V",
    "deg": "deg",
    "degree": "deg",
    "degrees": "deg",
    "°": "deg",
    "º": "deg",  # NanoScope writes the masculine ordinal indicator
}


def normalize_z_unit(unit: str | None) -> str:
    """Map a unit spelling to the vocabulary (``nm``, ``V``, ``deg``) or keep it as is."""
    if unit is None:
        return "nm"
    text = str(unit).strip()
    return _Z_UNIT_SYNONYMS.get(text.lower(), text)


def empty_provenance() -> dict[str, Any]:
    """Return the provenance skeleton every new stack starts with."""
    return {
        "acquisition": {},
        "environment": {},
        "processing": {"steps": [], "keys_by_name": {}},
        "analysis": {"frame_times": None, "steps": [], "results_by_name": {}},
    }


def _check_pixel_size(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a positive number; got {value!r}")
    out = float(value)
    if not out > 0:
        raise ValueError(f"`{name}` must be a positive number; got {value!r}")
    if not np.isfinite(out):
        raise ValueError(f"`{name}` must be a positive number; got {value!r}")
    return out


class AFMImageStack:
    """A stack of AFM frames in physical units, with per-frame metadata.

    Parameters
    ----------
    data : numpy.ndarray or FrameSource
        ``(n_frames, height, width)`` values, or a frame source for a lazy stack.
    pixel_size_nm : float
        nm per pixel along x (the fast-scan axis).
    channel : str
        Channel name as the file spells it (``"height_trace"``, ``"TP"``...).
    file_path : str or pathlib.Path or None
        Where the data came from.
    frame_metadata : list of dict, optional
        One dict per frame (see :mod:`afmio.metadata`). Shorter lists are padded.
    pixel_size_y_nm : float, optional
        nm per pixel along y; defaults to ``pixel_size_nm``.
    z_unit : str, optional
        Unit of the values: ``"nm"`` (default), ``"V"``, ``"deg"`` or the file's own.

    Raises
    ------
    TypeError
        ``data`` is neither an array nor a frame source.
    ValueError
        ``data`` is not 3-D, a pixel size is not positive, or there is more
        metadata than frames.
    """

    def __init__(
        self,
        data: np.ndarray | FrameSource,
        pixel_size_nm: float,
        channel: str,
        file_path: str | Path | None,
        frame_metadata: Sequence[Mapping[str, Any]] | None = None,
        *,
        pixel_size_y_nm: float | None = None,
        z_unit: str | None = "nm",
        acquisition: Mapping[str, Any] | None = None,
    ) -> None:
        # The frames always come from a source; an array is wrapped (no copy) and also
        # kept as ``_array`` so in-memory access stays plain indexing.
        self._array: np.ndarray | None
        self._source: FrameSource
        self._retired: list[FrameSource] = []  # sources replaced by ``data = ...``, closed by close()
        self._closed = False  # set by close() on a lazy stack
        if isinstance(data, np.ndarray):
            if data.ndim != 3:
                raise ValueError(
                    f"`data` must be a 3D array (n_frames, height, width); got shape {data.shape}"
                )
            self._array, self._source = data, ArrayFrameSource(data)
        elif isinstance(data, FrameSource):
            if len(data.shape) != 3:
                raise ValueError(f"frame source must be 3-D; got shape {data.shape}")
            self._array, self._source = None, data
        else:
            raise TypeError(f"`data` must be a NumPy array; got {type(data).__name__}")

        self.pixel_size_nm = _check_pixel_size(pixel_size_nm, "pixel_size_nm")
        self.pixel_size_y_nm = (
            self.pixel_size_nm
            if pixel_size_y_nm is None
            else _check_pixel_size(pixel_size_y_nm, "pixel_size_y_nm")
        )
        self.channel = channel
        self.file_path = file_path
        self.z_unit = normalize_z_unit(z_unit)

        n = self.n_frames
        meta = list(frame_metadata or [])
        if len(meta) > n:
            raise ValueError(f"Metadata length ({len(meta)}) does not match number of frames ({n}).")
        meta.extend(self._blank_frame_metadata() for _ in range(n - len(meta)))
        self.frame_metadata: list[dict[str, Any]] = normalize_timestamps(meta)

        self.processed: dict[str, np.ndarray] = {}
        self.masks: dict[str, np.ndarray] = {}
        self.analysis: dict[str, Any] = {}
        self.provenance: dict[str, Any] = empty_provenance()
        if acquisition:
            self.provenance["acquisition"] = dict(acquisition)
        self.state_backups: dict[str, Any] = {}

    def _blank_frame_metadata(self) -> dict[str, Any]:
        """The six per-frame keys for a frame the file says nothing about."""
        return build_frame_metadata(timestamp=None, frame_pixel_size_nm=self.pixel_size_nm)

    @classmethod
    def from_source(
        cls,
        source: FrameSource | np.ndarray,
        pixel_size_nm: float,
        channel: str,
        file_path: str | Path | None,
        frame_metadata: Sequence[Mapping[str, Any]] | None = None,
        *,
        lazy: bool,
        finish: Callable[[AFMImageStack], None] | None = None,
        **kwargs: Any,
    ) -> AFMImageStack:
        """Build a stack on a file-backed ``source``, owning the source's lifetime.

        With ``lazy=False`` every frame is read now (after checking the frames fit in
        memory, :func:`afmio.limits.check_memory`) and the source closed; with
        ``lazy=True`` the stack reads frames on demand and closes the source when it is
        closed. If building the stack, the eager read or ``finish`` fails, the source is
        closed before the error propagates, so a driver never leaks an open file.

        Parameters
        ----------
        source : FrameSource or numpy.ndarray
            The frames, usually holding an open file. An array (frames a driver had
            to decode at once) is used as it is, without a copy.
        pixel_size_nm, channel, file_path, frame_metadata
            As for the constructor.
        lazy : bool
            Keep reading from ``source`` on demand.
        finish : callable, optional
            Called with the new stack while ``source`` is still open (after the eager
            read), for what else the driver reads from the same open file: processed
            layers, masks, provenance.
        **kwargs
            Other constructor keywords (``pixel_size_y_nm``, ``z_unit``, ``acquisition``).

        Examples
        --------
        >>> import numpy as np
        >>> from afmio import AFMImageStack, ArrayFrameSource
        >>> stack = AFMImageStack.from_source(ArrayFrameSource(np.zeros((2, 3, 4))), 1.0, "height", None, lazy=False)
        >>> stack.is_lazy, stack.shape
        (False, (2, 3, 4))
        """
        # An array is already in memory: nothing to check, read or close.
        to_read = None if lazy or isinstance(source, np.ndarray) else source
        with close_on_error(source):
            stack = cls(source, pixel_size_nm, channel, file_path, frame_metadata, **kwargs)
            if to_read is not None:
                n, h, w = to_read.shape
                check_memory(str(file_path or "<stack>"), n * h * w * np.dtype(to_read.dtype).itemsize,
                             f"{n} frames of {h} x {w} {np.dtype(to_read.dtype)}")
                stack._materialise()
            if finish is not None:
                finish(stack)
        if to_read is not None:
            to_read.close()
            stack._retired.clear()
        return stack

    def derive(
        self,
        data: np.ndarray | FrameSource | None = None,
        frame_metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> AFMImageStack:
        """A new stack of other frames with this one's description.

        Pixel sizes, channel, file path, z unit and (a copy of) the acquisition facts
        carry over; processed layers, masks, analysis and the rest of the provenance
        do not.

        Parameters
        ----------
        data : numpy.ndarray or FrameSource, optional
            The new frames (default: this stack's own frames, shared, not copied).
        frame_metadata : list of dict, optional
            Their metadata (default: a deep copy of this stack's, which must then
            match the frame count).
        """
        if data is None:
            data = self._array if self._array is not None else self._source
        meta = copy.deepcopy(self.frame_metadata) if frame_metadata is None else frame_metadata
        return type(self)(
            data,
            self.pixel_size_nm,
            self.channel,
            self.file_path,
            meta,
            pixel_size_y_nm=self.pixel_size_y_nm,
            z_unit=self.z_unit,
            acquisition=copy.deepcopy(self.acquisition),
        )

    # ------------------------------------------------------------------ data access
    @property
    def data(self) -> np.ndarray:
        """The whole stack as an array. On a lazy stack this reads every frame once."""
        if self._array is None:
            self._materialise()
        assert self._array is not None
        return self._array

    @data.setter
    def data(self, value: np.ndarray) -> None:
        if not isinstance(value, np.ndarray) or value.ndim != 3:
            raise ValueError("`data` must be a 3D array (n_frames, height, width)")
        self._replace_source(value)

    def convert_dtype(self, dtype: Any) -> None:
        """Convert the frames to ``dtype`` in place; a lazy stack converts each frame as it is read."""
        if self._array is not None:
            self._replace_source(self._array.astype(dtype, copy=False))
        else:
            self._source = cast_frames(self._source, dtype)  # type: ignore[assignment]  # a source stays a source

    def _materialise(self) -> None:
        """Read every frame from the source into memory once."""
        source = self._open_source()
        self._replace_source(source.read_frames(0, source.shape[0]))

    def _open_source(self) -> FrameSource:
        """The frame source, or the one afmio error every format gives for use after close()."""
        if self._closed:
            raise ReadError(
                str(self.file_path or "<stack>"),
                "the lazy stack was closed; load the file again to read frames",
            )
        return self._source

    def _replace_source(self, array: np.ndarray) -> None:
        if self._array is None:  # a source of its own, not our wrapper of an array
            self._retired.append(self._source)  # its file stays open until close()
        self._array, self._source = array, ArrayFrameSource(array)

    @property
    def is_lazy(self) -> bool:
        """True while frames are still read on demand (``.data`` not yet touched)."""
        return self._array is None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_frames, height, width)`` without reading any frame."""
        return tuple(self._source.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        """Element type of the frames."""
        return np.dtype(self._source.dtype)

    @property
    def n_frames(self) -> int:
        return self.shape[0]

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[2]

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.shape[1], self.shape[2]

    @property
    def acquisition(self) -> dict[str, Any]:
        """Whole-video instrument facts (``provenance["acquisition"]``)."""
        return self.provenance.setdefault("acquisition", {})

    def get_frame(self, index: int) -> np.ndarray:
        """Return frame ``index`` (negative indices count from the end)."""
        n = self.n_frames
        if not -n <= index < n:
            raise IndexError(f"frame index {index} out of range for {n} frames")
        index %= n
        if self._array is not None:
            return self._array[index]
        return self._open_source().read_frame(index)

    def get_frames(self) -> np.ndarray:
        """Return the whole stack (same as ``.data``)."""
        return self.data

    def iter_frames(self, block: int = 1) -> Iterator[np.ndarray]:
        """Yield frames (``block == 1``) or blocks of up to ``block`` frames.

        On a lazy stack only one block is in memory at a time.
        """
        if block < 1:
            raise ValueError("block must be at least 1")
        n = self.n_frames
        for start in range(0, n, block):
            stop = min(n, start + block)
            array = self._array
            chunk = array[start:stop] if array is not None else self._open_source().read_frames(start, stop)
            if block == 1:
                yield chunk[0]
            else:
                yield chunk

    def get_frame_metadata(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.frame_metadata):
            raise IndexError(f"Frame metadata index {index} out of range")
        return self.frame_metadata[index]

    def frames_with_metadata(self) -> Iterator[tuple[int, np.ndarray, dict[str, Any]]]:
        """Yield ``(index, frame, metadata)`` for every frame."""
        for i, frame in enumerate(self.iter_frames()):
            yield i, frame, self.frame_metadata[i]

    def time_for_frame(self, index: int) -> float:
        """Seconds since frame 0, or the frame index when the time is unknown."""
        ts = self.get_frame_metadata(index).get("timestamp")
        return float(index) if ts is None else float(ts)

    def get_frame_times(self) -> list[float]:
        return [self.time_for_frame(i) for i in range(self.n_frames)]

    def scaling_for_frame(self, index: int) -> float:
        return self.get_frame_metadata(index).get("frame_pixel_size_nm", self.pixel_size_nm)

    def channel_for_frame(self, index: int) -> str:
        return self.get_frame_metadata(index).get("channel", self.channel)

    # ------------------------------------------------------------------ slicing
    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self.get_frame(int(key))
        if isinstance(key, slice):
            indices = range(*key.indices(self.n_frames))
            if self._array is not None:
                data: np.ndarray | FrameSource = self._array[key]
            elif key.step in (None, 1):
                data = SlicedFrameSource(self._source, indices.start, indices.stop)
            else:
                data = np.stack([self.get_frame(i) for i in indices]) if len(indices) else np.empty(
                    (0, *self.image_shape), self.dtype
                )
            return self.derive(data, [copy.deepcopy(self.frame_metadata[i]) for i in indices])
        raise TypeError(f"Invalid index type: {type(key).__name__}")

    # ------------------------------------------------------------------ raw snapshots
    def restore_frame_metadata(self) -> None:
        """Put back the frame metadata saved before the first frame-dropping edit."""
        saved = self.state_backups.pop("frame_metadata_before_edit", None)
        if saved is not None:
            self.frame_metadata = [dict(m) for m in saved]

    def restore_raw(self) -> None:
        """Replace ``data`` with the ``processed["raw"]`` snapshot."""
        if "raw" not in self.processed:
            raise KeyError("No raw data snapshot available to restore.")
        self.data = self.processed["raw"].copy()
        self.restore_frame_metadata()

    def raw_view(self) -> AFMImageStack:
        """Return the stack as it was before processing, for ``raw=True`` exports.

        When there is a ``processed["raw"]`` snapshot, the view holds it with the frame
        metadata saved before any frame was dropped, so metadata and frames always
        have the same length. Without a snapshot the stack itself is returned.
        """
        if "raw" not in self.processed:
            return self
        raw = self.processed["raw"]
        meta = self.state_backups.get("frame_metadata_before_edit", self.frame_metadata)
        view = self.derive(raw, [dict(m) for m in meta][: raw.shape[0]])  # short metadata is padded
        view.provenance = self.provenance
        view.state_backups = self.state_backups
        return view

    @property
    def has_processing(self) -> bool:
        """True when a processed layer other than ``raw`` exists (the ``_filtered`` rule)."""
        return any(key != "raw" for key in self.processed)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the file behind a lazy stack (a no-op for in-memory stacks)."""
        if self._array is None:
            self._closed = True  # later frame reads say the stack was closed (_open_source)
        self._source.close()
        for source in self._retired:
            source.close()
        self._retired.clear()

    def __enter__(self) -> AFMImageStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        n, h, w = self.shape
        lazy = ", lazy" if self.is_lazy else ""
        return (
            f"AFMImageStack({n} x {h} x {w}, channel={self.channel!r}, "
            f"pixel={self.pixel_size_nm:g} x {self.pixel_size_y_nm:g} nm, z_unit={self.z_unit!r}{lazy})"
        )

    @classmethod
    def from_array(cls, array: np.ndarray, pixel_size_nm: float = 1.0, **kwargs: Any) -> AFMImageStack:
        """Build a stack from an array, accepting 2-D input as a single frame."""
        arr = np.asarray(array)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        kwargs.setdefault("channel", "height_trace")
        kwargs.setdefault("file_path", None)
        return cls(arr, pixel_size_nm, **kwargs)


# Keep ArrayFrameSource importable from here for drivers that wrap arrays.
__all__ += ["ArrayFrameSource"]
