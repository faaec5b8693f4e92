"""Gwyddion Simple Field (``.gsf``): one frame per file, a folder of files as a video.

Built on :mod:`afmio.framefiles`: this module is the byte codec (``codec.py`` holds
the layout) plus the driver functions the base makes from it.

Reading
    A ``.gsf`` file loads as a one-frame stack; a folder loads every ``*.gsf`` file
    in it (hidden files ignored) as one video, ordered by the written start times
    when every file has one, else in natural order (``frame_2`` before
    ``frame_10``). All frames must share their size, value unit and title.
    ``lazy=True`` reads each frame from its file when asked.
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
    path becomes a folder of ``<folder>_00000.gsf``, ``<folder>_00001.gsf``... (give
    ``format="gsf"``, as the folder has no extension). Values are written in base SI
    units as the format asks (nm become metres), so they read back within float32
    rounding (relative error below 3e-7), not bit for bit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from afmio import CorruptFileError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, FrameToWrite, ImageInfo
from afmio.units import nm_per_unit

from . import codec

DEFAULT_TITLE = "Data"
NO_UNIT = "a.u."

#: afmio's per-frame metadata, kept as extra GSF keys (Gwyddion keeps them as metadata).
_TIME_KEYS = {
    "timestamp": "afmio_timestamp_s",
    "frame_duration_s": "afmio_frame_duration_s",
    "start_epoch_ms": "afmio_start_epoch_ms",
    "scan_direction": "afmio_scan_direction",
    "line_rate": "afmio_line_rate_hz",
}
#: Value units afmio keeps under its own name (volts, degrees); lengths become nm.
_KEPT_UNITS = {"v": "V", "deg": "deg", "°": "deg"}


def _value_unit(path: Path, unit: str | None) -> tuple[str, float]:
    """(afmio z unit, factor from the file's values to it)."""
    if unit is None:
        return NO_UNIT, 1.0
    text = unit.strip()
    to_nm = nm_per_unit(text)
    if to_nm is not None:
        return "nm", to_nm
    return _KEPT_UNITS.get(text.lower(), text), 1.0


def _lateral_nm(path: Path, unit: str | None) -> float:
    to_nm = nm_per_unit((unit or "m").strip())  # GSF's default unit is the metre
    if to_nm is None:
        raise CorruptFileError(path, f"XYUnits = {unit!r} is not a length unit; afmio needs sizes in nm")
    return to_nm


def _number(header: codec.Header, key: str) -> float | None:
    try:
        value = float(header.extra.get(key, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class GsfCodec(FrameCodec):
    """One ``.gsf`` file: a text header and float32 values."""

    format_name = "GSF"
    member_patterns = ("*.gsf",)
    write_extension = ".gsf"
    pixel_size_from = "XReal / XRes and YReal / YRes"

    def sniff(self, path: Path) -> bool | None:
        try:
            with open(path, "rb") as fh:
                return fh.read(len(codec.MAGIC)) == codec.MAGIC
        except OSError:
            return None

    def read_header(self, path: Path) -> FrameHeader:
        h = codec.read_header(path)
        z_unit, scale = _value_unit(path, h.z_units)
        to_nm = _lateral_nm(path, h.xy_units)
        image = ImageInfo(h.title or DEFAULT_TITLE, (h.yres, h.xres), h.xreal * to_nm / h.xres,
                          h.yreal * to_nm / h.yres, z_unit, key=scale)
        epoch_ms = _number(h, _TIME_KEYS["start_epoch_ms"])
        extra = {k: v for k, v in h.extra.items() if k not in _TIME_KEYS.values()}
        return FrameHeader(
            path=Path(path),
            images=[image],
            start_epoch_s=None if epoch_ms is None else epoch_ms / 1000.0,
            relative_time_s=_number(h, _TIME_KEYS["timestamp"]),
            frame_duration_s=_number(h, _TIME_KEYS["frame_duration_s"]),
            line_rate=_number(h, _TIME_KEYS["line_rate"]),
            scan_direction=h.extra.get(_TIME_KEYS["scan_direction"]) or None,
            acquisition={"format": "Gwyddion Simple Field 1.0", "x_offset_nm": h.xoffset * to_nm,
                         "y_offset_nm": h.yoffset * to_nm, "gsf_keys": extra},
            private=h,
        )

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        values = codec.read_values(header.path, header.private)
        if image.key == 1.0:
            return values
        with np.errstate(over="ignore"):  # a value beyond float32 once in nm becomes inf
            return values.astype(np.float64) * image.key

    def write_image(self, path: Path, frame: np.ndarray, info: FrameToWrite) -> None:
        if info.z_unit == "nm":
            unit_text: str | None = "m"
            values = np.asarray(frame, np.float64) * 1e-9  # GSF asks for base SI units
        else:
            unit_text, values = (None if info.z_unit == NO_UNIT else info.z_unit), np.asarray(frame)
        rows, cols = frame.shape
        fields: dict[str, Any] = {
            "XReal": repr(cols * info.pixel_size_nm * 1e-9),
            "YReal": repr(rows * info.pixel_size_y_nm * 1e-9),
            "XOffset": "0",
            "YOffset": "0",
            "XYUnits": "m",
        }
        if unit_text is not None:
            fields["ZUnits"] = unit_text
        fields["Title"] = info.channel
        for key, gsf_key in _TIME_KEYS.items():
            value = info.metadata.get(key)
            if value is not None:
                fields[gsf_key] = value if isinstance(value, str) else repr(value)
        with open(path, "wb") as fh:
            fh.write(codec.encode(np.asarray(values, np.float32), fields))


_driver = FramePerFileDriver(GsfCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
write = _driver.write
