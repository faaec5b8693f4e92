"""Test-only writer of Asylum-style Igor binary waves (version 5), written with :mod:`struct`.

Layout (Igor Technical Note 003): a 64-byte BinHeader5, a 320-byte WaveHeader5,
the wave data (column-major: points fastest, then lines, then layers), then the
note and the dimension labels (32-byte NUL-padded chunks, the dimension's own
label first).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["WAVE_HEADER5", "write_ibw"]

BIN_HEADER5 = struct.Struct("<hhiiii4i4iiii")
WAVE_HEADER5 = struct.Struct("<iIIihh6sh32sii4i4d4d4s16shhddi4i4ii16ihhhcciihhii")
assert BIN_HEADER5.size == 64 and WAVE_HEADER5.size == 320

DEFAULT_NOTE = {"ScanSize": "2e-06", "FastScanSize": "2e-06", "SlowScanSize": "2e-06", "ScanRate": "1.5",
                "ScanPoints": None, "ScanLines": None, "ScanDown": "1", "ImagingMode": "AC Mode",
                "Date": "2020-03-04", "Time": "10:11:12", "ImageFrameTime": "200.5"}


def write_ibw(
    path: str | Path,
    layers: Mapping[str, np.ndarray],
    *,
    note: Mapping[str, str | None] | None = None,
    data_unit: str = "m",
    dtype: str = "<f4",
    name: str = "wave0000",
) -> Path:
    """Write ``layers`` (name -> image with row 0 the top line, in ``data_unit``) as one wave."""
    images = np.stack([np.asarray(v) for v in layers.values()])
    n_layers, lines, points = images.shape
    stored = np.ascontiguousarray(images[:, ::-1, :], dtype)  # Igor: first line at the bottom
    values = dict(DEFAULT_NOTE)
    values.update({"ScanPoints": str(points), "ScanLines": str(lines)})
    values.update(note or {})
    note_bytes = "\r".join(f"{k}: {v}" for k, v in values.items() if v is not None).encode("latin-1")
    labels = b"".join(label.encode("latin-1").ljust(32, b"\0") for label in ["", *layers])
    code = {"<f4": 2, "<f8": 4, "<i2": 0x10, "<i4": 0x20}[dtype]
    npnts = images.size
    bin_header = BIN_HEADER5.pack(5, 0, WAVE_HEADER5.size + stored.nbytes, 0, len(note_bytes), 0, 0, 0, 0, 0,
                                  0, 0, len(labels), 0, 0, 0, 0)
    fast, slow = float(values["FastScanSize"] or 0), float(values["SlowScanSize"] or 0)
    wave_header = WAVE_HEADER5.pack(
        0, 0, 0, npnts, code, 0, b"\0" * 6, 1, name.encode("latin-1"), 0, 0,
        points, lines, n_layers, 0,
        fast / max(points - 1, 1), slow / max(lines - 1, 1), 1.0, 1.0, 0.0, 0.0, 0.0, 0.0,
        data_unit.encode("latin-1"), b"m\0\0\0m\0\0\0" + b"\0" * 8, 0, 0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        *([0] * 16), 0, 0, 0, b"\0", b"\0", 0, 0, 0, 0, 0, 0,
    )
    path = Path(path)
    path.write_bytes(bin_header + wave_header + stored.tobytes() + note_bytes + labels)
    return path
