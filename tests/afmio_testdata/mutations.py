"""Ways to damage a file, for the robustness corpus and the fuzz run.

Each mutation takes the original bytes and returns new bytes; none touches disk.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import numpy as np


def truncate(data: bytes, size: int) -> bytes:
    """The first ``size`` bytes (a crashed acquisition or half-copied file)."""
    return data[: max(0, size)]


def flip_bytes(data: bytes, positions: Iterable[int], values: Iterable[int]) -> bytes:
    """Overwrite single bytes (random corruption)."""
    out = bytearray(data)
    for pos, val in zip(positions, values):
        if out:
            out[pos % len(out)] = val & 0xFF
    return bytes(out)


def set_field(data: bytes, offset: int, fmt: str, value: int | float) -> bytes:
    """Overwrite one binary header field (``fmt`` as in :mod:`struct`, e.g. ``"<i"``)."""
    size = struct.calcsize(fmt)
    if offset + size > len(data):
        return data
    try:
        packed = struct.pack(fmt, value)
    except struct.error:
        packed = b"\xff" * size
    return data[:offset] + packed + data[offset + size :]


#: Values a header field is set to: zero, negative, huge.
EXTREME_INTS = (0, -1, -(2**31), 2**31 - 1, 2**15, 65535, 10**9)
EXTREME_FLOATS = (0.0, -1.0, float("nan"), float("inf"), 1e300, -1e-300)


def replace_text_value(data: bytes, key: bytes, new_value: bytes) -> bytes:
    """In a text header, replace the value after the first ``key`` up to the line end."""
    at = data.find(key)
    if at < 0:
        return data
    start = at + len(key)
    end = data.find(b"\r", start)
    if end < 0:
        end = data.find(b"\n", start)
    if end < 0:
        return data
    return data[:start] + new_value + data[end:]


def boundaries(size: int, structural: Iterable[int] = ()) -> list[int]:
    """Truncation points: structural offsets and one byte either side, plus powers of two."""
    points = {0, 1, size // 2, size - 1}
    for b in structural:
        points.update({b - 1, b, b + 1})
    k = 1
    while k < size:
        points.add(k)
        k *= 2
    return sorted(p for p in points if 0 <= p < size)


def random_flips(data: bytes, seed: int, count: int = 8) -> bytes:
    rng = np.random.default_rng(seed)
    return flip_bytes(data, rng.integers(0, max(1, len(data)), count).tolist(), rng.integers(0, 256, count).tolist())
