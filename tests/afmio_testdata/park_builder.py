"""Build small Park Systems TIFF files byte by byte, for tests.

A little-endian classic TIFF with one 8-bit grey preview page plus Park's private
tags: 50432 magic ``0x0E031301``, 50433 version, 50434 the samples (BYTE array), 50435
the binary header (580 bytes for version 2, 356 for version 1), and ``DateTime``.
Header fields (little-endian) at the byte offsets Park uses: image type 0, source name
(UTF-16, 32 chars) at 4, image mode (8 chars) at 68, xres/yres at 100/104, forward and
scan-up flags at 128/132, x/y scan size in µm at 140/148, scan rate at 172, data gain,
z scale, z offset at 220/228/236, z unit (8 chars) at 244, and (version 2) data type at
348 (0 int16, 1 int32, 2 float32).

Example::

    from afmio_testdata.park_builder import write_park

    write_park(tmp_path / "p.tiff", np.arange(12, dtype=np.float32).reshape(3, 4))

API
---
:func:`build_park` -> bytes
    The whole file: ``values`` in storage order (dtype picks the data type), scan size
    in µm, ``z_unit``, ``data_gain``, ``z_scale``, ``z_offset``, ``source_name``,
    ``version`` (1 forces int16), ``date`` text, ``magic`` (another number makes a
    non-Park TIFF), ``header_bytes`` to cut the header short.
:func:`write_park` -> Path
:func:`expected_values`
    What afmio should read (gain * (raw * z_scale + z_offset), nm for µm, rows reversed).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

__all__ = ["build_park", "expected_values", "write_park"]

_TYPE_CODES = {np.dtype("<i2"): 0, np.dtype("<i4"): 1, np.dtype("<f4"): 2}


def _utf16(text: str, chars: int) -> bytes:
    return text.encode("utf-16-le")[: 2 * chars].ljust(2 * chars, b"\x00")


def _header(values: np.ndarray, *, version: int, scan_um: tuple[float, float], z_unit: str, data_gain: float,
            z_scale: float, z_offset: float, source_name: str, scan_rate: float, scan_up: bool) -> bytes:
    rows, cols = values.shape
    out = bytearray(580 if version == 2 else 356)
    struct.pack_into("<I", out, 0, 0)
    out[4:68] = _utf16(source_name, 32)
    out[68:84] = _utf16("NCM", 8)
    struct.pack_into("<II", out, 100, cols, rows)
    struct.pack_into("<II", out, 128, 1, int(scan_up))
    struct.pack_into("<dd", out, 140, *scan_um)
    struct.pack_into("<d", out, 172, scan_rate)
    struct.pack_into("<ddd", out, 220, data_gain, z_scale, z_offset)
    out[244:260] = _utf16(z_unit, 8)
    if version == 2:
        struct.pack_into("<I", out, 348, _TYPE_CODES[values.dtype.newbyteorder("<")])
    return bytes(out)


def build_park(
    values: np.ndarray,
    *,
    version: int = 2,
    scan_um: tuple[float, float] = (5.0, 2.5),
    z_unit: str = "um",
    data_gain: float = 1.0,
    z_scale: float = 1.0,
    z_offset: float = 0.0,
    source_name: str = "Z Height",
    scan_rate: float = 0.5,
    scan_up: bool = True,
    date: str = "2022:10:15 17:07:06",
    magic: int = 0x0E031301,
    header_bytes: int | None = None,
) -> bytes:
    """The bytes of a Park TIFF whose data tag holds ``values`` (2-D, storage order)."""
    stored = np.asarray(values)
    if version == 1:
        stored = stored.astype("<i2")
    rows, cols = stored.shape
    header = _header(stored, version=version, scan_um=scan_um, z_unit=z_unit, data_gain=data_gain,
                     z_scale=z_scale, z_offset=z_offset, source_name=source_name, scan_rate=scan_rate,
                     scan_up=scan_up)
    if header_bytes is not None:
        header = header[:header_bytes]
    data = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    preview = np.zeros((rows, cols), np.uint8).tobytes()
    date_bytes = date.encode("ascii") + b"\x00"
    # Blobs after the 8-byte file header, then the directory.
    blobs = [preview, date_bytes, data, header]
    offsets, pos = [], 8
    for blob in blobs:
        offsets.append(pos)
        pos += len(blob) + (len(blob) & 1)
    ifd_offset = pos
    version_code = 0x01000002 if version == 2 else 0x01000001
    entries = sorted([
        (256, 4, 1, cols), (257, 4, 1, rows), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, offsets[0]), (277, 3, 1, 1), (278, 4, 1, rows), (279, 4, 1, len(preview)),
        (306, 2, len(date_bytes), offsets[1]),
        (50432, 4, 1, magic), (50433, 4, 1, version_code),
        (50434, 1, len(data), offsets[2]), (50435, 7, len(header), offsets[3]),
    ])
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    for blob in blobs:
        out += blob + (b"\x00" if len(blob) & 1 else b"")
    out += struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        out += struct.pack("<HHII", tag, typ, count, value)
    out += struct.pack("<I", 0)
    return bytes(out)


def write_park(path: Path, values: np.ndarray, **options: object) -> Path:
    """Write :func:`build_park` to ``path`` and return it."""
    path = Path(path)
    path.write_bytes(build_park(values, **options))  # type: ignore[arg-type]
    return path


def expected_values(values: np.ndarray, *, data_gain: float = 1.0, z_scale: float = 1.0, z_offset: float = 0.0,
                    z_unit: str = "um") -> np.ndarray:
    """What afmio should read for :func:`build_park` with these options."""
    factor = {"um": 1000.0, "nm": 1.0, "V": 1.0, "m": 1e9}[z_unit]
    out = factor * data_gain * (np.asarray(values, dtype=np.float64) * z_scale + z_offset)
    return out[::-1]
