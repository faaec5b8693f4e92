"""Gwyddion ``.gwy`` files: read and write, one image per file, a folder as a video.

A ``.gwy`` file (Gwyddion 2's native format, magic ``GWYP``) holds one
``GwyContainer``; each image channel ``N`` is the ``GwyDataField`` under
``/N/data`` with its title under ``/N/data/title``. A single file loads as a
one-frame stack; a folder of ``.gwy`` files loads as a video (see
:mod:`afmio.framefiles` for how frames are ordered and checked).

Channels
    One per ``/N/data`` field, in the order of ``N``, named by its title (a field
    without a title is ``Channel N``; a repeated title gets `` (N)`` appended).
    Masks, presentations, graphs, spectra and volume data (``/brick/N``) are not
    channels. The default is the first of ``TP``, ``height_trace``,
    ``Height Sensor``, ``Height`` present, else the first channel.

Values
    The field's doubles, converted with its ``si_unit_z``: lengths (``m``) to nm,
    volts and degrees kept; other units kept as written. An empty unit (Gwyddion's
    "no unit") loads as ``z_unit = "unknown"`` with the values as stored.

Orientation
    Row 0 is the field's first row, the top row as Gwyddion shows it (Gwyddion's
    convention, which gwyfile's ``data`` array also follows).

Pixel size
    ``xreal / xres`` and ``yreal / yres`` converted with ``si_unit_xy`` into nm.
    With an empty lateral unit the numbers are taken as they are (Gwyddion shows
    them without unit) and ``acquisition["lateral_unit"]`` is ``""``. ``xoff`` /
    ``yoff`` are in ``acquisition`` (``x_offset_nm``, ``y_offset_nm``).

Timing
    Gwyddion has no standard time field. Files written by afmio keep each frame's
    six afmio metadata values in the channel's metadata container
    (``/N/meta``, keys ``afmio:timestamp`` ...), so a folder written by afmio reads
    back with its timestamps, durations, start times, scan direction and line
    rate exactly as written (a frame written without a timestamp reads back
    without one; no times are derived from durations or start times). Other files have
    unknown times and load in natural name order; their metadata strings are in
    ``acquisition["channel_meta"]``.

Writing
    ``save(stack, "scan.gwy")`` writes a one-frame stack as one file;
    ``save(stack, "folder", format="gwy")`` writes one file per frame
    (``folder/folder_00000.gwy`` ...), each a container with one data field in SI
    units (nm -> m, V, deg; an unknown unit is written as no unit), its title the
    stack's channel name and its ``/0/meta`` holding the frame's afmio metadata.
    Volume data (``GwyBrick``) is not written: a folder of images is what the
    frame-per-file base gives and what Gwyddion opens file by file. Float values
    are stored as doubles: a float32 stack reads back bit for bit; a float64 stack
    in nm reads back within one unit in the last place, because metres cannot hold
    every nm double exactly (volts and degrees are bit-exact).

Errors
    A file without the ``GWYP`` magic is not this format (Gwyddion 1 ``GWYO``
    files are refused by name); a broken object structure, a data array shorter
    than ``xres * yres``, or sizes that do not fit the file raise
    :class:`~afmio.CorruptFileError` naming the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from afmio.errors import CorruptFileError, TruncatedFileError, UnsupportedFormatError, WriteError
from afmio.framefiles import (
    FrameCodec,
    FrameHeader,
    FramePerFileDriver,
    FrameTiming,
    FrameToWrite,
    ImageInfo,
    default_timing,
)
from afmio.metadata import FRAME_METADATA_KEYS
from afmio.stack import normalize_z_unit
from afmio.units import nm_per_unit, si_factor

from ._gwy_serial import MAGIC, ArrayRef, GwyFormatError, GwyObject, parse_file, serialize_file

__all__ = ["GwyCodec", "channels", "probe", "read", "sniff", "write"]

_DATA_KEY = re.compile(r"^/(\d+)/data$")
#: Prefix of the metadata keys afmio writes (and reads back) in ``/N/meta``.
META_PREFIX = "afmio:"
#: afmio z units -> the SI unit string written (Gwyddion drops prefixes, so lengths go as metres).
_WRITE_UNITS = {"nm": "m", "V": "V", "deg": "deg", "unknown": ""}


def _unit(field: GwyObject, key: str) -> str:
    unit = field.get(key)
    if isinstance(unit, GwyObject):
        text = unit.get("unitstr", "")
        return text.strip() if isinstance(text, str) else ""
    return ""


def _z_unit(unit: str) -> tuple[float, str]:
    """(factor to afmio's value, afmio z unit) for a field's ``si_unit_z``."""
    if not unit:
        return 1.0, "unknown"
    factor = nm_per_unit(unit)
    if factor is not None:
        return factor, "nm"
    scale, base = si_factor(unit)
    if base in ("V", "deg"):
        return scale, base
    return 1.0, normalize_z_unit(unit)


def _number(field: GwyObject, key: str, kind: type, path: Path, what: str) -> Any:
    value = field.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise CorruptFileError(path, f"{what}: {key!r} is missing or not a {kind.__name__}")
    return value


def _parse_meta(meta: Any) -> dict[str, str]:
    if not isinstance(meta, GwyObject):
        return {}
    return {k: v for k, v in meta.components.items() if isinstance(v, str)}


def _exact(computed: float, written: str | None) -> float:
    """afmio's own pixel size when its metadata says it and the field agrees (metres round it)."""
    value = _float_or_none(written)
    if value is not None and value > 0 and math.isclose(value, computed, rel_tol=1e-9):
        return value
    return computed


def _float_or_none(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class _GwyFile:
    """Where each channel's doubles are (and the factor to afmio's unit), and the times afmio wrote."""

    arrays: dict[str, tuple[ArrayRef, float]]
    afmio_times: tuple[float | None, float | None] | None  # (timestamp, duration) when afmio wrote the file


class GwyCodec(FrameCodec):
    """Byte codec of Gwyddion ``.gwy`` files for :class:`~afmio.framefiles.FramePerFileDriver`."""

    format_name = "Gwyddion"
    member_patterns = ("*.gwy",)
    write_extension = ".gwy"

    def sniff(self, path: Path) -> bool | None:
        try:
            with open(path, "rb") as fh:
                return fh.read(4) == MAGIC
        except OSError:
            return None

    def read_header(self, path: Path) -> FrameHeader:
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            raise CorruptFileError(path, f"cannot read: {exc.strerror or exc}") from exc
        if magic == b"GWYO":
            raise UnsupportedFormatError(f"{path}: a Gwyddion 1 file (GWYO); only Gwyddion 2 (GWYP) is read",
                                         path=path)
        if len(magic) < len(MAGIC) and MAGIC.startswith(magic):
            raise TruncatedFileError(path, f"{len(magic)} bytes: cut off before the end of the GWYP magic")
        if magic != MAGIC:
            raise UnsupportedFormatError(f"{path}: not a Gwyddion file (no GWYP magic)", path=path)
        try:
            top = parse_file(path)
        except GwyFormatError as exc:
            raise CorruptFileError(path, f"broken GWY structure: {exc}") from exc
        if top.type_name != "GwyContainer":
            raise CorruptFileError(path, f"top object is a {top.type_name}, not a GwyContainer")
        ids = sorted(int(m.group(1)) for key in top.components if (m := _DATA_KEY.match(key)))
        images: list[ImageInfo] = []
        private: dict[str, tuple[ArrayRef, float]] = {}
        meta_of: dict[str, dict[str, str]] = {}
        for n in ids:
            field = top.components[f"/{n}/data"]
            if not isinstance(field, GwyObject) or field.type_name != "GwyDataField":
                continue
            title = top.get(f"/{n}/data/title")
            name = title.strip() if isinstance(title, str) and title.strip() else f"Channel {n}"
            if name in private:
                name = f"{name} ({n})"
            meta_of[name] = _parse_meta(top.get(f"/{n}/meta"))
            image, ref, factor = self._image(path, field, name, n, meta_of[name])
            images.append(image)
            private[name] = (ref, factor)
        if not images:
            raise CorruptFileError(path, "no image channels (no GwyDataField under /N/data)")
        first_meta = meta_of[images[0].channel]
        ours = {k[len(META_PREFIX):]: v for k, v in first_meta.items() if k.startswith(META_PREFIX)}
        epoch_ms = _float_or_none(ours.get("start_epoch_ms"))
        timestamp = _float_or_none(ours.get("timestamp"))
        duration = _float_or_none(ours.get("frame_duration_s"))
        header = FrameHeader(
            path=path,
            images=images,
            relative_time_s=timestamp,
            start_epoch_s=None if epoch_ms is None else epoch_ms / 1000.0,
            frame_duration_s=duration,
            line_rate=_float_or_none(ours.get("line_rate")),
            scan_direction=ours.get("scan_direction"),
            acquisition={"channels": [im.channel for im in images], "written_by_afmio": bool(ours)},
            private=_GwyFile(private, (timestamp, duration) if ours else None),
        )
        others = {k: v for k, v in first_meta.items() if not k.startswith(META_PREFIX)}
        if others:
            header.acquisition["channel_meta"] = others
        return header

    def _image(
        self, path: Path, field: GwyObject, name: str, n: int, meta: dict[str, str]
    ) -> tuple[ImageInfo, ArrayRef, float]:
        what = f"/{n}/data"
        xres = _number(field, "xres", int, path, what)
        yres = _number(field, "yres", int, path, what)
        xreal = float(_number(field, "xreal", float, path, what))
        yreal = float(_number(field, "yreal", float, path, what))
        if xres <= 0 or yres <= 0:
            raise CorruptFileError(path, f"{what}: size {xres} x {yres} is not positive")
        if not (math.isfinite(xreal) and math.isfinite(yreal) and xreal > 0 and yreal > 0):
            raise CorruptFileError(path, f"{what}: physical size {xreal} x {yreal} is not positive and finite")
        data = field.get("data")
        if not isinstance(data, ArrayRef) or data.dtype.kind != "f":
            raise CorruptFileError(path, f"{what}: no array of doubles under 'data'")
        if data.count != xres * yres:
            raise CorruptFileError(path, f"{what}: 'data' holds {data.count} values, not xres * yres = {xres * yres}")
        xy_unit = _unit(field, "si_unit_xy")
        lateral = nm_per_unit(xy_unit) if xy_unit else 1.0
        if lateral is None:
            raise CorruptFileError(path, f"{what}: lateral unit {xy_unit!r} is not a length")
        factor, z_unit = _z_unit(_unit(field, "si_unit_z"))
        facts: dict[str, Any] = {"lateral_unit": xy_unit, "file_z_unit": _unit(field, "si_unit_z"), "gwy_key": what}
        for key in ("xoff", "yoff"):
            value = field.get(key)
            if isinstance(value, float) and math.isfinite(value):
                facts[f"{key[0]}_offset_nm"] = value * lateral
        px = _exact(xreal / xres * lateral, meta.get(f"{META_PREFIX}pixel_size_nm"))
        py = _exact(yreal / yres * lateral, meta.get(f"{META_PREFIX}pixel_size_y_nm"))
        image = ImageInfo(
            channel=name,
            shape=(yres, xres),
            pixel_size_nm=px,
            pixel_size_y_nm=py,
            z_unit=z_unit,
            facts=facts,
        )
        return image, data, factor

    def frame_timing(self, headers: Sequence[FrameHeader], images: Sequence[ImageInfo]) -> FrameTiming:
        """afmio's own files: the timestamps and durations as written (None stays None);
        other files: the base rule."""
        written = [h.private.afmio_times for h in headers]
        if all(w is not None for w in written):
            return FrameTiming([w[0] for w in written], [w[1] for w in written], "afmio metadata")  # type: ignore[index]
        return default_timing(headers)

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        ref, factor = header.private.arrays[image.channel]
        try:
            with open(header.path, "rb") as fh:
                values = ref.read(fh)
        except GwyFormatError as exc:
            raise CorruptFileError(header.path, f"image {image.channel!r}: {exc}") from exc
        except OSError as exc:
            raise CorruptFileError(header.path, f"cannot read: {exc.strerror or exc}") from exc
        values = values.reshape(image.shape)
        if factor != 1.0:
            values *= factor
        return values

    def write_image(self, path: Path, frame: np.ndarray, info: FrameToWrite) -> None:
        unit = _WRITE_UNITS.get(info.z_unit, info.z_unit)
        values = np.asarray(frame, np.float64)
        if unit == "m":
            values = values / 1e9  # nm -> m; the reader's x1e9 brings a double back to within 1 ulp
        rows, cols = values.shape
        field = GwyObject("GwyDataField", {
            "xres": int(cols),
            "yres": int(rows),
            "xreal": float(info.pixel_size_nm) * cols / 1e9,
            "yreal": float(info.pixel_size_y_nm) * rows / 1e9,
            "xoff": 0.0,
            "yoff": 0.0,
            "si_unit_xy": GwyObject("GwySIUnit", {"unitstr": "m"}),
            "si_unit_z": GwyObject("GwySIUnit", {"unitstr": unit}),
            "data": values,
        })
        meta = {f"{META_PREFIX}{key}": _meta_text(info.metadata.get(key)) for key in FRAME_METADATA_KEYS}
        meta[f"{META_PREFIX}pixel_size_nm"] = repr(float(info.pixel_size_nm))
        meta[f"{META_PREFIX}pixel_size_y_nm"] = repr(float(info.pixel_size_y_nm))
        meta[f"{META_PREFIX}frame_index"] = str(info.index)
        meta[f"{META_PREFIX}n_frames"] = str(info.n_frames)
        top = GwyObject("GwyContainer", {
            "/0/data/title": info.channel,
            "/0/data": field,
            "/0/data/visible": True,
            "/0/meta": GwyObject("GwyContainer", {k: v for k, v in meta.items() if v is not None}),
        })
        try:
            serialize_file(path, top)
        except ValueError as exc:
            raise WriteError(path, str(exc)) from exc


def _meta_text(value: Any) -> str | None:
    """A metadata value as text that reads back equal (``repr`` of floats), None when absent."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


_driver = FramePerFileDriver(GwyCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
write = _driver.write
