"""Gwyddion Simple Field (``.gsf``): one frame per file, a folder of files as a video.

Reading
    A ``.gsf`` file loads as a one-frame stack; a folder loads every ``*.gsf`` file
    in it (hidden files ignored) in natural order (``frame_2`` before
    ``frame_10``) as one video. All frames must share their size, value unit and
    title. ``lazy=True`` reads each frame from its file when asked.
Units
    Lateral sizes (``XReal``/``YReal`` in ``XYUnits``, metres when absent) become nm
    per pixel, separately for x and y. Values in a length unit (``m``, ``nm``...)
    become nm; ``V`` and ``deg`` stay so; any other ``ZUnits`` string is kept as the
    stack's ``z_unit``; no ``ZUnits`` gives ``"a.u."``.
Channel
    The ``Title`` key (``"Data"`` when absent): one channel per file.
Timing
    GSF has no time keys. afmio writes its per-frame metadata as extra keys
    (``afmio_timestamp_s``, ``afmio_frame_duration_s``, ``afmio_start_epoch_ms``,
    ``afmio_scan_direction``, ``afmio_line_rate_hz``), which Gwyddion keeps as
    metadata and this reader reads back; files without them have no timestamps.
Writing
    A path ending in ``.gsf`` receives a one-frame stack as one file. Any other
    path becomes a folder of ``frame_00000.gsf``, ``frame_00001.gsf``... (give
    ``format="gsf"``, as the folder has no extension). Values are written in base SI
    units as the format asks (nm become metres), so they read back within float32
    rounding (relative error below 3e-7), not bit for bit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from afmio import (
    AFMImageStack,
    CorruptFileError,
    ProbeResult,
    UnsupportedFormatError,
    build_frame_metadata,
)
from afmio.channels import select_channel
from afmio.ioutil import natural_sort_key

from . import codec

DEFAULT_TITLE = "Data"
NO_UNIT = "a.u."

#: Length units to nm. GSF asks for base SI units; prefixed ones are accepted on reading.
_LENGTH_NM = {"m": 1e9, "mm": 1e6, "um": 1e3, "µm": 1e3, "μm": 1e3, "nm": 1.0, "pm": 1e-3, "a": 0.1, "å": 0.1}
#: Value units afmio keeps under another name, with the factor to get there.
_VALUE_UNITS = {"v": ("V", 1.0), "mv": ("V", 1e-3), "uv": ("V", 1e-6), "µv": ("V", 1e-6),
                "deg": ("deg", 1.0), "°": ("deg", 1.0)}

_TIME_KEYS = {
    "timestamp": "afmio_timestamp_s",
    "frame_duration_s": "afmio_frame_duration_s",
    "start_epoch_ms": "afmio_start_epoch_ms",
    "scan_direction": "afmio_scan_direction",
    "line_rate": "afmio_line_rate_hz",
}


def _value_unit(path: Path, unit: str | None) -> tuple[str, float]:
    """(afmio z unit, factor from the file's values to it)."""
    if unit is None:
        return NO_UNIT, 1.0
    key = unit.strip().lower()
    if key in _LENGTH_NM:
        return "nm", _LENGTH_NM[key]
    if key in _VALUE_UNITS:
        return _VALUE_UNITS[key]
    return unit.strip(), 1.0


def _lateral_nm(path: Path, unit: str | None) -> float:
    key = (unit or "m").strip().lower()
    if key not in _LENGTH_NM:
        raise CorruptFileError(path, f"XYUnits = {unit!r} is not a length unit; afmio needs sizes in nm")
    return _LENGTH_NM[key]


def _frame_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = [p for p in path.iterdir() if p.suffix.lower() == ".gsf" and not p.name.startswith(".") and p.is_file()]
    if not files:
        raise UnsupportedFormatError(f"{path}: the folder holds no .gsf files", path=path)
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def _optional(header: codec.Header, key: str, kind: type) -> Any:
    text = header.extra.get(key)
    if text is None or text == "":
        return None
    if kind is str:
        return text
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _Video:
    """The headers of every frame file, checked against each other."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = _frame_files(path)
        self.headers = [codec.read_header(f) for f in self.files]
        first = self.headers[0]
        for f, h in zip(self.files[1:], self.headers[1:]):
            if (h.yres, h.xres) != (first.yres, first.xres):
                raise CorruptFileError(f, f"frame is {h.xres} x {h.yres} pixels, but {self.files[0].name} is "
                                          f"{first.xres} x {first.yres}")
            for key, mine, theirs in (("ZUnits", h.z_units, first.z_units), ("Title", h.title, first.title)):
                if mine != theirs:
                    raise CorruptFileError(f, f"{key} {mine!r} differs from {theirs!r} in {self.files[0].name}")
        self.z_unit, self.scale = _value_unit(self.files[0], first.z_units)
        self.channel = first.title or DEFAULT_TITLE
        self.pixel_sizes = [
            (h.xreal * _lateral_nm(f, h.xy_units) / h.xres, h.yreal * _lateral_nm(f, h.xy_units) / h.yres)
            for f, h in zip(self.files, self.headers)
        ]

    def frame_metadata(self) -> list[dict[str, Any]]:
        out = []
        for h, (px, _) in zip(self.headers, self.pixel_sizes):
            epoch = _optional(h, _TIME_KEYS["start_epoch_ms"], float)
            out.append(build_frame_metadata(
                timestamp=_optional(h, _TIME_KEYS["timestamp"], float),
                frame_pixel_size_nm=px,
                frame_duration_s=_optional(h, _TIME_KEYS["frame_duration_s"], float),
                start_epoch_ms=epoch,
                scan_direction=_optional(h, _TIME_KEYS["scan_direction"], str),
                line_rate=_optional(h, _TIME_KEYS["line_rate"], float),
            ))
        return out

    def acquisition(self) -> dict[str, Any]:
        h = self.headers[0]
        to_nm = _lateral_nm(self.files[0], h.xy_units)
        extra = {k: v for k, v in h.extra.items() if k not in _TIME_KEYS.values()}
        return {"format": "Gwyddion Simple Field 1.0", "x_offset_nm": h.xoffset * to_nm,
                "y_offset_nm": h.yoffset * to_nm, "gsf_keys": extra}


class GsfFrameSource:
    """Frames read on demand, one file each; every read opens and closes its file."""

    def __init__(self, files: Sequence[Path], headers: Sequence[codec.Header], scale: float) -> None:
        self._files = list(files)
        self._headers = list(headers)
        self._scale = scale

    @property
    def shape(self) -> tuple[int, int, int]:
        h = self._headers[0]
        return (len(self._files), h.yres, h.xres)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def read_frame(self, index: int) -> np.ndarray:
        values = codec.read_values(self._files[index], self._headers[index])
        if self._scale == 1.0:
            return values.astype(np.float32)
        with np.errstate(over="ignore"):  # a value beyond float32 once in nm becomes inf
            return (values.astype(np.float64) * self._scale).astype(np.float32)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        n, h, w = self.shape
        start, stop, _ = slice(start, stop).indices(n)
        out = np.empty((max(0, stop - start), h, w), np.float32)
        for i in range(start, stop):
            out[i - start] = self.read_frame(i)
        return out

    def close(self) -> None:
        pass  # no file stays open between reads


def read(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Read one ``.gsf`` file or a folder of them (see the module docstring)."""
    video = _Video(path)
    chosen = select_channel(path, [video.channel], channel)
    source = GsfFrameSource(video.files, video.headers, video.scale)
    px, py = video.pixel_sizes[0]
    stack = AFMImageStack(
        source if lazy else source.read_frames(0, len(video.files)),
        px,
        chosen,
        path,
        video.frame_metadata(),
        pixel_size_y_nm=py,
        z_unit=video.z_unit,
    )
    stack.acquisition.update(video.acquisition())
    return stack


def probe(path: Path) -> ProbeResult:
    """Headers only: frame count, size, channel, pixel sizes, unit, frame times when written."""
    video = _Video(path)
    times = [md["timestamp"] for md in video.frame_metadata()]
    h = video.headers[0]
    px, py = video.pixel_sizes[0]
    return ProbeResult(
        n_frames=len(video.files),
        frame_shape=(h.yres, h.xres),
        channels=[video.channel],
        default_channel=video.channel,
        pixel_size_nm=px,
        pixel_size_y_nm=py,
        z_unit=video.z_unit,
        frame_times=None if any(t is None for t in times) else times,
        acquisition=video.acquisition(),
    )


def channels(path: Path) -> list[str]:
    """The single channel: the ``Title`` of the (first) file."""
    return [_Video(path).channel]


def sniff(path: Path) -> bool | None:
    """True when the file (a folder's first ``.gsf`` file) starts with the GSF magic line."""
    try:
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.suffix.lower() == ".gsf" and p.is_file()),
                           key=lambda p: natural_sort_key(p.name))
            if not files:
                return None
            path = files[0]
        with open(path, "rb") as fh:
            return fh.read(len(codec.MAGIC)) == codec.MAGIC
    except OSError:
        return None


def _fields(stack: AFMImageStack, index: int, z_unit_text: str | None) -> dict[str, str]:
    fields = {
        "XReal": repr(stack.width * stack.pixel_size_nm * 1e-9),
        "YReal": repr(stack.height * stack.pixel_size_y_nm * 1e-9),
        "XOffset": "0",
        "YOffset": "0",
        "XYUnits": "m",
    }
    if z_unit_text is not None:
        fields["ZUnits"] = z_unit_text
    fields["Title"] = stack.channel
    md = stack.frame_metadata[index]
    for key, gsf_key in _TIME_KEYS.items():
        value = md.get(key)
        if value is not None:
            fields[gsf_key] = value if isinstance(value, str) else repr(value)
    return fields


def write(stack: AFMImageStack, path: Path) -> None:
    """Write a one-frame stack to ``x.gsf``, or any stack to a folder of frame files."""
    if stack.z_unit == "nm":
        unit_text: str | None = "m"
        scale = 1e-9
    else:
        unit_text, scale = (None if stack.z_unit == NO_UNIT else stack.z_unit), 1.0
    single = path.name.lower().endswith(".gsf")
    if single and stack.n_frames != 1:
        raise UnsupportedFormatError(
            f"{path.name}: a .gsf file holds one frame and this stack has {stack.n_frames}; save to a "
            "folder instead (a path without .gsf, with format='gsf'), or save one frame (stack[i:i + 1])"
        )
    if not single:
        os.makedirs(path)
    digits = max(5, len(str(stack.n_frames - 1)))
    for i, frame in enumerate(stack.iter_frames()):
        values = frame if scale == 1.0 else np.asarray(frame, np.float64) * scale
        target = path if single else path / f"frame_{i:0{digits}d}.gsf"
        with open(target, "wb") as fh:
            fh.write(codec.encode(np.asarray(values, np.float32), _fields(stack, i, unit_text)))
