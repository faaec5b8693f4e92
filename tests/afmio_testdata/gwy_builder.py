"""Test-only writer of Gwyddion ``.gwy`` files, independent of afmio's serialiser.

Writes the GWY byte layout directly with :mod:`struct` (magic ``GWYP``; objects as
name, NUL, uint32 size, components; components as name, NUL, type code, value),
so tests of afmio's reader do not depend on afmio's writer.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GwyChannel", "gwy_object", "write_gwy"]


def _s(text: str) -> bytes:
    return text.encode("utf-8") + b"\0"


def _component(name: str, value: Any) -> bytes:
    if isinstance(value, bytes):  # an already serialised object
        return _s(name) + b"o" + value
    if isinstance(value, bool):
        return _s(name) + b"b" + bytes([value])
    if isinstance(value, int):
        return _s(name) + b"i" + struct.pack("<i", value)
    if isinstance(value, float):
        return _s(name) + b"d" + struct.pack("<d", value)
    if isinstance(value, str):
        return _s(name) + b"s" + _s(value)
    if isinstance(value, np.ndarray):
        flat = np.ascontiguousarray(value, "<f8").reshape(-1)
        return _s(name) + b"D" + struct.pack("<I", flat.size) + flat.tobytes()
    raise TypeError(type(value))


def gwy_object(type_name: str, components: Mapping[str, Any]) -> bytes:
    """One serialised object (components: bool/int/float/str/ndarray or nested object bytes)."""
    body = b"".join(_component(k, v) for k, v in components.items())
    return _s(type_name) + struct.pack("<I", len(body)) + body


def _unit(text: str) -> bytes:
    return gwy_object("GwySIUnit", {"unitstr": text})


@dataclass
class GwyChannel:
    """One data field: values in ``z_unit`` (SI base unit), sizes in ``xy_unit``."""

    data: np.ndarray
    title: str | None = "Height"
    xreal: float = 1e-6
    yreal: float = 1e-6
    xy_unit: str = "m"
    z_unit: str = "m"
    meta: Mapping[str, str] = field(default_factory=dict)
    xoff: float = 0.0


def write_gwy(path: str | Path, channels: Sequence[GwyChannel], *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write a ``.gwy`` container with the channels as ``/0/data``, ``/1/data`` ..."""
    comps: dict[str, Any] = {}
    for n, ch in enumerate(channels):
        rows, cols = ch.data.shape
        comps[f"/{n}/data"] = gwy_object("GwyDataField", {
            "xres": cols, "yres": rows, "xreal": ch.xreal, "yreal": ch.yreal, "xoff": ch.xoff,
            "si_unit_xy": _unit(ch.xy_unit), "si_unit_z": _unit(ch.z_unit), "data": ch.data,
        })
        if ch.title is not None:
            comps[f"/{n}/data/title"] = ch.title
        if ch.meta:
            comps[f"/{n}/meta"] = gwy_object("GwyContainer", dict(ch.meta))
    comps.update(extra or {})
    path = Path(path)
    path.write_bytes(b"GWYP" + gwy_object("GwyContainer", comps))
    return path
