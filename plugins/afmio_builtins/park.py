"""Park Systems TIFF (``.tif`` / ``.tiff``): one image per file; a folder of them is a video.

Driver ``park`` (alias ``psia``). Park Systems (formerly PSIA) SmartScan / XEI save a
TIFF whose visible page is only an 8-bit preview; the measurement sits in Park's
private tags: 50432 (magic number ``0x0E031301``), 50433 (version ``0x01000001`` or
``0x01000002``), 50434 (the samples), 50435 (a binary header). ::

    afmio.load("scan.tiff")   # Park file -> this driver; any other TIFF -> ome-tiff

``lazy=True`` reads headers now and each file's pixels when the frame is used.

Telling Park files from other TIFFs
    The driver claims ``.tif`` / ``.tiff`` with a higher priority than ``ome-tiff``,
    and its content check reads the TIFF's first directory: only a little-endian TIFF
    whose tag 50432 holds Park's magic number is taken. Every other TIFF (OME-TIFF,
    ImageJ, plain) is declined and goes to ``ome-tiff``.

Channels
    One per file, named by the header's source name (``Z Height``, ``Amplitude``...).

Values (``z_unit``)
    ``value = data_gain * (raw * z_scale + z_offset)`` in the header's z unit
    (``z_scale`` 0 means 1), as Gwyddion and SurfaceTopography compute it; lengths
    come out in nm, volts in V, degrees in deg. Samples are little-endian int16
    (version 1), or int16 / int32 / float32 as the version-2 header's data type says.

Pixel size
    x = scan width (µm in the header) / columns, y = scan height / rows.

Orientation (Gwyddion's)
    Row 0 is the last stored line (rows reversed), as Gwyddion shows it.

Timing
    ``start_epoch_ms`` from the TIFF ``DateTime`` tag (``YYYY:MM:DD HH:MM:SS``, taken
    as UTC); ``line_rate`` = the header's scan rate (lines per second);
    ``scan_direction`` from its scan-up flag (``bottomUp`` / ``topDown``).

Errors
    A Park file whose header or data tag is missing, too short, or points past the end
    of the file, or with an unknown data type, raises
    :class:`~afmio.errors.CorruptFileError` (:class:`~afmio.errors.TruncatedFileError`
    when the file is cut).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from afmio.errors import CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo
from afmio.units import preferred

__all__ = ["ParkCodec", "ParkDataType", "ParkTag", "channels", "probe", "read", "sniff"]

TIFF_LE = b"II*\x00"
PARK_MAGIC = 0x0E031301
VERSION_1 = 0x01000001
VERSION_2 = 0x01000002
_MAX_TAGS = 4096


class ParkTag(enum.IntEnum):
    """TIFF tags Park Systems reserves (50432-50441) and the standard ones read here."""

    DATE_TIME = 306
    MAGIC = 50432
    VERSION = 50433
    DATA = 50434
    HEADER = 50435
    COMMENTS = 50436


class ParkDataType(enum.IntEnum):
    """Sample type code of the version-2 header."""

    INT16 = 0
    INT32 = 1
    FLOAT32 = 2

    @property
    def dtype(self) -> np.dtype:
        return np.dtype({0: "<i2", 1: "<i4", 2: "<f4"}[int(self)])


@dataclass(frozen=True)
class _Entry:
    type: int
    count: int
    value: int  # the inline value (LONG / SHORT) or the offset of the bytes


@dataclass(frozen=True)
class _Layout:
    data_offset: int
    dtype: np.dtype
    gain: float  # data_gain * unit factor
    z_scale: float
    z_offset: float


_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


def _first_ifd(path: Path, fh: Any, size: int) -> dict[int, _Entry] | None:
    """The first directory's entries of a little-endian classic TIFF, or None if not one."""
    head = fh.read(8)
    if len(head) < 8 or head[:4] != TIFF_LE:
        return None
    (ifd,) = struct.unpack("<I", head[4:])
    if ifd + 2 > size:
        raise TruncatedFileError(path, f"the TIFF directory offset {ifd} lies past the end of the file")
    fh.seek(ifd)
    (n,) = struct.unpack("<H", fh.read(2))
    if n > _MAX_TAGS:
        raise CorruptFileError(path, f"the TIFF directory claims {n} tags")
    if ifd + 2 + 12 * n + 4 > size:  # the entries and the next-directory offset
        raise TruncatedFileError(path, f"the file ends inside its TIFF directory of {n} tags")
    raw = fh.read(12 * n)
    entries: dict[int, _Entry] = {}
    for tag, typ, count, value in struct.iter_unpack("<HHII", raw):
        if typ == 3 and count == 1:
            value &= 0xFFFF  # a SHORT sits in the low bytes of the value field
        entries[tag] = _Entry(typ, count, value)
    return entries


def _is_park(entries: dict[int, _Entry]) -> bool:
    magic = entries.get(ParkTag.MAGIC)
    return magic is not None and magic.count == 1 and magic.value == PARK_MAGIC


def _bytes(path: Path, fh: Any, size: int, entry: _Entry, what: str) -> bytes:
    n = entry.count * _TYPE_SIZES.get(entry.type, 1)
    if n <= 4:
        return struct.pack("<I", entry.value)[:n]
    if entry.value + n > size:
        raise TruncatedFileError(path, f"the {what} ({n} bytes at {entry.value}) lies past the end of the file")
    fh.seek(entry.value)
    return fh.read(n)


def _declared_end(path: Path, fh: Any, size: int, entries: dict[int, _Entry]) -> int:
    """The end of the last byte the directory points at (tag values and preview strips)."""
    end = 0
    for entry in entries.values():
        n = entry.count * _TYPE_SIZES.get(entry.type, 1)
        if n > 4:
            end = max(end, entry.value + n)
    offsets, counts = entries.get(273), entries.get(279)
    if (offsets is not None and counts is not None and offsets.count == counts.count
            and offsets.type in _LONG_OR_SHORT and counts.type in _LONG_OR_SHORT):
        starts = np.frombuffer(_bytes(path, fh, size, offsets, "strip offsets"), _LONG_OR_SHORT[offsets.type])
        lengths = np.frombuffer(_bytes(path, fh, size, counts, "strip byte counts"), _LONG_OR_SHORT[counts.type])
        if starts.size:
            end = max(end, int((starts.astype(np.int64) + lengths).max()))
    return end


_LONG_OR_SHORT: dict[int, np.dtype] = {3: np.dtype("<u2"), 4: np.dtype("<u4")}


def _utf16(raw: bytes) -> str:
    return raw.decode("utf-16-le", errors="replace").split("\x00", 1)[0].strip()


# Byte layout of the binary header (tag 50435): name, struct format, offset.
_FIELDS_V1 = (
    ("image_type", "<I", 0), ("source_name", 64, 4), ("image_mode", 16, 68), ("lpf_strength", "<d", 84),
    ("auto_flatten", "<I", 92), ("ac_track", "<I", 96), ("xres", "<I", 100), ("yres", "<I", 104),
    ("angle", "<d", 108), ("sine_scan", "<I", 116), ("overscan_rate", "<d", 120), ("forward", "<I", 128),
    ("scan_up", "<I", 132), ("swap_xy", "<I", 136), ("xreal_um", "<d", 140), ("yreal_um", "<d", 148),
    ("xoff_um", "<d", 156), ("yoff_um", "<d", 164), ("scan_rate", "<d", 172), ("set_point", "<d", 180),
    ("set_point_unit", 16, 188), ("tip_bias", "<d", 204), ("sample_bias", "<d", 212), ("data_gain", "<d", 220),
    ("z_scale", "<d", 228), ("z_offset", "<d", 236), ("z_unit", 16, 244),
)
_FIELDS_V2 = (
    ("z_servo_gain", "<d", 284), ("z_scanner_range", "<d", 292), ("xy_voltage_mode", 16, 300),
    ("z_voltage_mode", 16, 316), ("xy_servo_mode", 16, 332), ("data_type", "<I", 348),
    ("ncm_amplitude", "<d", 360), ("ncm_frequency", "<d", 368), ("cantilever", 32, 376),
)
_MIN_HEADER = {VERSION_1: 284, VERSION_2: 408}


def parse_park_header(raw: bytes, version: int) -> dict[str, Any]:
    """The fields of Park's binary header (tag 50435) as a dict."""
    fields = _FIELDS_V1 + (_FIELDS_V2 if version == VERSION_2 else ())
    out: dict[str, Any] = {}
    for name, fmt, offset in fields:
        if isinstance(fmt, int):
            out[name] = _utf16(raw[offset:offset + fmt])
        else:
            (out[name],) = struct.unpack_from(fmt, raw, offset)
    return out


def _epoch(text: str | None) -> float | None:
    try:
        stamp = datetime.strptime((text or "").strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return stamp.replace(tzinfo=timezone.utc).timestamp()


class ParkCodec(FrameCodec):
    """Byte codec of Park Systems TIFF files."""

    format_name = "Park Systems TIFF"
    member_patterns = ("*.tif", "*.tiff")
    default_order = ("Z Height", "Topography", "Height")

    def sniff(self, path: Path) -> bool | None:
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                entries = _first_ifd(path, fh, size)
        except (OSError, struct.error, CorruptFileError):
            return False
        return entries is not None and _is_park(entries)

    def read_header(self, path: Path) -> FrameHeader:
        size = path.stat().st_size
        if size < 8 and TIFF_LE.startswith(path.read_bytes()[:4]):
            raise TruncatedFileError(path, f"the file has only {size} bytes")
        with open(path, "rb") as fh:
            try:
                entries = _first_ifd(path, fh, size)
            except struct.error:
                raise TruncatedFileError(path, "the file ends inside the TIFF directory") from None
            if entries is None or not _is_park(entries):
                raise UnsupportedFormatError(f"{path}: not a Park Systems TIFF (no Park magic tag 50432)", path=path)
            version = entries[ParkTag.VERSION].value if ParkTag.VERSION in entries else 0
            if version not in _MIN_HEADER:
                raise CorruptFileError(path, f"unknown Park file version 0x{version:08x}")
            if ParkTag.HEADER not in entries or ParkTag.DATA not in entries:
                raise CorruptFileError(path, "the Park header tag 50435 or data tag 50434 is missing")
            raw_header = _bytes(path, fh, size, entries[ParkTag.HEADER], "Park header")
            if len(raw_header) < _MIN_HEADER[version]:
                raise CorruptFileError(
                    path, f"the Park header has {len(raw_header)} bytes; version 0x{version:08x} needs "
                    f"{_MIN_HEADER[version]}")
            end = _declared_end(path, fh, size, entries)
            if end > size:
                raise TruncatedFileError(path, f"the TIFF directory points at byte {end} but the file has {size}")
            date = None
            if ParkTag.DATE_TIME in entries and entries[ParkTag.DATE_TIME].type == 2:
                date = _bytes(path, fh, size, entries[ParkTag.DATE_TIME], "DateTime tag").decode("latin-1")
        h = parse_park_header(raw_header, version)
        return self._header(path, size, h, entries[ParkTag.DATA], version, date)

    def _header(
        self, path: Path, size: int, h: dict[str, Any], data: _Entry, version: int, date: str | None
    ) -> FrameHeader:
        if h["image_type"] != 0:
            raise CorruptFileError(path, f"Park image type {h['image_type']} is a line profile, not an image")
        try:
            data_type = ParkDataType(h.get("data_type", 0))
        except ValueError:
            raise CorruptFileError(path, f"unknown Park data type {h.get('data_type')}") from None
        cols, rows = h["xres"], h["yres"]
        if not (0 < cols <= 1 << 16 and 0 < rows <= 1 << 16):
            raise CorruptFileError(path, f"image size {cols} x {rows} is impossible")
        needed = rows * cols * data_type.dtype.itemsize
        stored = data.count * _TYPE_SIZES.get(data.type, 1)
        if stored < needed:
            raise CorruptFileError(path, f"the data tag holds {stored} bytes but {cols} x {rows} samples need {needed}")
        if data.value + needed > size:
            raise TruncatedFileError(path, f"the image data need {data.value + needed} bytes but the file has {size}")
        widths = []
        for key in ("xreal_um", "yreal_um"):
            extent = abs(h[key])
            if not extent > 0:
                raise CorruptFileError(path, f"the scan size {h[key]} µm is not positive")
            widths.append(extent * 1000.0)
        unit_factor, z_unit = preferred(1.0, h["z_unit"] or "um")
        channel = h["source_name"] or "Z Height"
        image = ImageInfo(
            channel=channel,
            shape=(rows, cols),
            pixel_size_nm=widths[0] / cols,
            pixel_size_y_nm=widths[1] / rows,
            z_unit=z_unit,
            facts={"data_type": data_type.name.lower(), "data_gain": h["data_gain"], "z_scale": h["z_scale"],
                   "z_offset": h["z_offset"], "file_z_unit": h["z_unit"]},
        )
        acquisition = {
            "instrument": "Park Systems",
            "file_version": f"0x{version:08x}",
            "image_mode": h["image_mode"] or None,
            "scan_size_nm": widths,
            "scan_offset_um": [h["xoff_um"], h["yoff_um"]],
            "scan_angle_deg": h["angle"],
            "line_direction": "forward" if h["forward"] else "backward",
            "fast_axis": "y" if h["swap_xy"] else "x",
            "set_point": f"{h['set_point']:g} {h['set_point_unit']}".strip(),
            "tip_bias_V": h["tip_bias"],
            "sample_bias_V": h["sample_bias"],
            "cantilever": h.get("cantilever") or None,
            "date": date.strip("\x00 ") if date else None,
        }
        scan_rate = h["scan_rate"]
        return FrameHeader(
            path=path,
            images=[image],
            default_channel=channel,
            start_epoch_s=_epoch(date),
            line_rate=scan_rate if scan_rate > 0 else None,
            scan_direction="bottomUp" if h["scan_up"] else "topDown",
            acquisition={k: v for k, v in acquisition.items() if v is not None},
            private=_Layout(data.value, data_type.dtype, h["data_gain"] * unit_factor,
                            h["z_scale"] or 1.0, h["z_offset"]),
        )

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        layout: _Layout = header.private
        rows, cols = image.shape
        n_bytes = rows * cols * layout.dtype.itemsize
        with open(header.path, "rb") as fh:
            fh.seek(layout.data_offset)
            raw = fh.read(n_bytes)
        if len(raw) < n_bytes:
            raise TruncatedFileError(header.path, "the file ends inside the image data")
        values = np.frombuffer(raw, layout.dtype, rows * cols).reshape(rows, cols).astype(np.float64)
        values = layout.gain * (values * layout.z_scale + layout.z_offset)
        return values[::-1]  # Gwyddion's orientation: the last stored line is row 0


_driver = FramePerFileDriver(ParkCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
