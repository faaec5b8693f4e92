"""WSxM images (``.stp``, ``.top``): one image per file; a folder of them is a video.

Driver ``wsxm``. Reads the images WSxM (Nanotec / UAM) writes: a text header that
starts ``WSxM file copyright ...`` / ``SxM Image file`` / ``Image header size: N``
and ends at ``[Header end]``, followed by the binary image::

    afmio.load("scan.stp")            # one frame
    afmio.load("folder_of_stp_files") # one frame per file, ordered by acquisition time

``lazy=True`` reads headers now and each file's pixels when the frame is used.

Input
    A file whose content starts with the WSxM magic (the extension does not matter for
    recognition; ``.stp`` and ``.top`` are claimed by name), or a folder of such files
    (members ``*.stp``, ``*.top``; a folder should hold one kind).

Channels
    One per file, named by the header's ``Acquisition channel`` (``Topography``); a
    file without that key is called ``Topography``. ``channel=None`` / ``"height"``
    take it.

Values (``z_unit``)
    Samples are little-endian; ``Image Data Type`` says which: ``double`` (float64),
    ``float`` (float32), ``short`` (int16, also the default when the key is absent) and
    ``integer`` (read as int16, as Gwyddion does; no such file has been seen).
    Floating-point data are physical values in the unit of ``Z Amplitude`` and are
    kept as stored (converted to nm for lengths), as AFMReader and SurfaceTopography
    do (Gwyddion rescales them by ``Z Amplitude / (max - min)`` too, which differs only
    by the rounding of the 6-digit ``Z Amplitude``). Integer data are scaled as Gwyddion
    does: ``value = raw * Z Amplitude / (max(raw) - min(raw))``, with no offset; on the
    sample pair (the same scan saved as ``.top`` int16 and ``.stp`` double) both give
    the same heights. AFMReader 0.0.7 instead shifts ``.top`` data so that their minimum
    is 0 (``(raw - min) / (max - min) * Z Amplitude``) and reads only the integer part
    of ``Z Amplitude`` (59 for ``59.7449 nm``), so its heights are
    ``(afmio - afmio.min()) * 59 / 59.7449``. ``Z Amplitude`` units: lengths come out in nm, ``V``
    in V, ``Pi`` (phase in units of pi) in degrees, ``a.u.`` stays ``a.u.``. A header
    without a usable ``Z Amplitude`` leaves the stored values, taken as nm, and says so
    in ``acquisition["z_scale_note"]``.

Pixel size
    x = ``Control`` / ``X Amplitude`` / ``Number of columns``; y = ``Y Amplitude`` /
    ``Number of rows`` (``X Amplitude`` when ``Y Amplitude`` is missing).

Orientation (Gwyddion's)
    Gwyddion reverses both the rows and the columns of the stored image (a turn by
    180 degrees), and SurfaceTopography shows it the same way; afmio follows them, so
    ``data[0, 0]`` is the top-left pixel of Gwyddion's view. AFMReader returns the
    stored order: ``afmio_data[::-1, ::-1]`` equals AFMReader's image. afmio follows
    Gwyddion's orientation for every format (see the conventions page).

Timing
    ``start_epoch_ms`` from ``Acquisition time`` (``dd/mm/yyyy, hh:mm:ss.sss``, taken as
    UTC); a folder is ordered by it and timestamps are the differences to the first
    file. ``line_rate`` is ``X-Frequency`` (lines per second), ``scan_direction`` comes
    from ``Y scanning direction`` (``Up`` -> ``bottomUp``, ``Down`` -> ``topDown``).

Errors
    A header without ``[Header end]``, without positive ``Number of rows`` /
    ``Number of columns`` or without ``X Amplitude``, or with an unknown data type,
    raises :class:`~afmio.errors.CorruptFileError`; a file shorter than its image
    raises :class:`~afmio.errors.TruncatedFileError`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from afmio.errors import CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo
from afmio.units import nm_per_unit, preferred

__all__ = ["WsxmCodec", "WsxmDataType", "channels", "parse_header", "probe", "read", "sniff"]

MAGIC = b"WSxM file copyright "
IMAGE_LINE = b"SxM Image file"
HEADER_END = b"[Header end]"
#: How far past the declared header size the end marker is looked for (some writers miscount).
_HEADER_SLACK = 1 << 16


class WsxmDataType(enum.Enum):
    """``General Info`` / ``Image Data Type`` values and their little-endian sample types."""

    SHORT = "short"
    INTEGER = "integer"
    FLOAT = "float"
    DOUBLE = "double"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype({"short": "<i2", "integer": "<i2", "float": "<f4", "double": "<f8"}[self.value])

    @property
    def is_float(self) -> bool:
        return self in (WsxmDataType.FLOAT, WsxmDataType.DOUBLE)


@dataclass(frozen=True)
class _Layout:
    data_offset: int
    data_type: WsxmDataType
    rows: int
    cols: int
    amplitude: float | None  # Z Amplitude in z_unit (scales integer data)
    unit_factor: float  # the unit of Z Amplitude in z_unit (scales floating-point data)


_SECTION = re.compile(r"^\[(.+)\]$")
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def parse_header(text: str) -> dict[str, str]:
    """``{"Section::Key": value}`` from a WSxM header (lines ``[Section]`` and ``Key: value``)."""
    out: dict[str, str] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        if section is None or ":" not in line:
            continue  # the lines before the first section are the magic and the size
        key, _, value = line.partition(":")
        out[f"{section}::{key.strip()}"] = value.strip()
    return out


def _quantity(value: str | None) -> tuple[float, str] | None:
    """``"500 nm"`` -> ``(500.0, "nm")``; None when there is no leading number."""
    if value is None:
        return None
    m = _NUMBER.match(value)
    if not m:
        return None
    return float(m.group(1)), m.group(2)


def _positive_int(path: Path, meta: dict[str, str], key: str) -> int:
    try:
        n = int(meta[key])
    except (KeyError, ValueError):
        raise CorruptFileError(path, f"the header has no usable {key!r}") from None
    if n <= 0:
        raise CorruptFileError(path, f"{key!r} is {n}; it must be positive")
    return n


def _length_nm(path: Path, meta: dict[str, str], key: str) -> float | None:
    q = _quantity(meta.get(key))
    if q is None:
        return None
    value, unit = q
    per = nm_per_unit(unit or "nm")
    if per is None or not value > 0:
        raise CorruptFileError(path, f"{key!r} is {meta[key]!r}; expected a positive length")
    return value * per


def _z_scale(meta: dict[str, str]) -> tuple[float | None, float, str]:
    """``(Z Amplitude in z_unit or None, factor of its unit into z_unit, z_unit)``."""
    q = _quantity(meta.get("General Info::Z Amplitude"))
    if q is None or not q[0] > 0:
        return None, 1.0, "nm"
    value, unit = q
    if unit == "a.u.":
        return value, 1.0, "a.u."
    if unit == "Pi":  # phase in units of pi
        return value * 180.0, 180.0, "deg"
    factor, z_unit = preferred(1.0, unit)
    return value * factor, factor, z_unit


def _start_epoch(value: str | None) -> float | None:
    if not value:
        return None
    for fmt in ("%d/%m/%Y, %H:%M:%S.%f", "%d/%m/%Y, %H:%M:%S"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


class WsxmCodec(FrameCodec):
    """Byte codec of WSxM image files."""

    format_name = "WSxM"
    member_patterns = ("*.stp", "*.top")
    default_order = ("Topography",)

    def sniff(self, path: Path) -> bool | None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(128)
        except OSError:
            return None
        if not head.startswith(MAGIC):
            return False
        lines = head.splitlines()
        return len(lines) > 1 and lines[1].startswith(IMAGE_LINE)

    def read_header(self, path: Path) -> FrameHeader:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4096)
            if len(head) < len(MAGIC) and MAGIC.startswith(head):
                raise TruncatedFileError(path, f"the file has only {size} bytes")
            if not head.startswith(MAGIC) or IMAGE_LINE not in head[:256]:
                raise UnsupportedFormatError(f"{path}: not a WSxM image file", path=path)
            m = re.search(rb"Image header size:\s*(\d+)", head)
            if not m:
                raise CorruptFileError(path, "no 'Image header size' line after the WSxM magic")
            declared = int(m.group(1))
            if declared > size:
                raise TruncatedFileError(path, f"the header claims {declared} bytes but the file has {size}")
            fh.seek(0)
            text = fh.read(min(size, declared + _HEADER_SLACK))
        end = text.find(HEADER_END)
        if end < 0:
            raise CorruptFileError(path, "no '[Header end]' marker: the header is damaged or cut")
        # Data follow the end-marker line; the declared size is not trusted (Gwyddion's finding).
        data_offset = end + len(HEADER_END)
        for newline in (b"\r\n", b"\n"):
            if text.startswith(newline, data_offset):
                data_offset += len(newline)
                break
        meta = parse_header(text[:end].decode("latin-1"))
        return self._header(path, size, data_offset, meta)

    def _header(self, path: Path, size: int, data_offset: int, meta: dict[str, str]) -> FrameHeader:
        rows = _positive_int(path, meta, "General Info::Number of rows")
        cols = _positive_int(path, meta, "General Info::Number of columns")
        type_name = meta.get("General Info::Image Data Type", "short")
        try:
            data_type = WsxmDataType(type_name.strip().lower())
        except ValueError:
            raise CorruptFileError(path, f"unknown Image Data Type {type_name!r}") from None
        needed = data_offset + rows * cols * data_type.dtype.itemsize
        if needed > size:
            raise TruncatedFileError(
                path, f"{rows} x {cols} {data_type.value} values need {needed} bytes but the file has {size}"
            )
        x_nm = _length_nm(path, meta, "Control::X Amplitude")
        if x_nm is None:
            raise CorruptFileError(path, "the header has no 'X Amplitude' (scan size)")
        y_nm = _length_nm(path, meta, "Control::Y Amplitude") or x_nm
        amplitude, unit_factor, z_unit = _z_scale(meta)
        channel = meta.get("General Info::Acquisition channel") or "Topography"
        facts: dict[str, Any] = {"data_type": data_type.value, "z_amplitude": meta.get("General Info::Z Amplitude")}
        if amplitude is None:
            facts["z_scale_note"] = "no usable Z Amplitude: stored values taken as nm"
        image = ImageInfo(
            channel=channel,
            shape=(rows, cols),
            pixel_size_nm=x_nm / cols,
            pixel_size_y_nm=y_nm / rows,
            z_unit=z_unit,
            facts=facts,
        )
        direction = {"up": "bottomUp", "down": "topDown"}.get(
            meta.get("General Info::Y scanning direction", "").lower(), meta.get("General Info::Y scanning direction")
        )
        line_rate = _quantity(meta.get("Control::X-Frequency"))
        acquisition = {
            "instrument": "WSxM",
            "software_version": meta.get("Miscellaneous::Saved with version"),
            "acquired_with_version": meta.get("Miscellaneous::Acquired with version"),
            "head": meta.get("Head Settings::Head Name"),
            "scan_size_nm": [x_nm, y_nm],
            "acquisition_time": meta.get("General Info::Acquisition time"),
            "header_keys": len(meta),
        }
        return FrameHeader(
            path=path,
            images=[image],
            default_channel=channel,
            start_epoch_s=_start_epoch(meta.get("General Info::Acquisition time")),
            line_rate=line_rate[0] if line_rate and line_rate[0] > 0 else None,
            scan_direction=direction,
            acquisition={k: v for k, v in acquisition.items() if v is not None},
            private=_Layout(data_offset, data_type, rows, cols, amplitude, unit_factor),
        )

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        layout: _Layout = header.private
        count = layout.rows * layout.cols
        with open(header.path, "rb") as fh:
            fh.seek(layout.data_offset)
            raw = fh.read(count * layout.data_type.dtype.itemsize)
        if len(raw) < count * layout.data_type.dtype.itemsize:
            raise TruncatedFileError(header.path, "the file ends inside the image data")
        values = np.frombuffer(raw, layout.data_type.dtype, count).reshape(layout.rows, layout.cols)
        if layout.data_type.is_float:  # physical values already: only the unit applies
            scale = layout.unit_factor
        else:  # Gwyddion's rule: the stored span is Z Amplitude
            span = float(values.max()) - float(values.min())
            scale = layout.amplitude / span if layout.amplitude is not None and span > 0 else 1.0
        out = values.astype(np.float64) * scale
        return out[::-1, ::-1]  # Gwyddion's orientation: stored image turned by 180 degrees


_driver = FramePerFileDriver(WsxmCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
