"""GSF files built by hand from the format description, independent of the plugin's writer."""

from __future__ import annotations

import struct
from pathlib import Path


def gsf_bytes(values: list[list[float]], **fields: object) -> bytes:
    """Magic line, ``Key = Value`` lines, NUL padding to a multiple of 4, little-endian float32."""
    yres, xres = len(values), len(values[0])
    lines = [f"XRes = {xres}", f"YRes = {yres}"] + [f"{k} = {v}" for k, v in fields.items()]
    head = ("Gwyddion Simple Field 1.0\n" + "\n".join(lines) + "\n").encode()
    head += b"\0" * (4 - len(head) % 4)
    return head + struct.pack(f"<{xres * yres}f", *(v for row in values for v in row))


def write_gsf(path: Path, values: list[list[float]], **fields: object) -> Path:
    path.write_bytes(gsf_bytes(values, **fields))
    return path
