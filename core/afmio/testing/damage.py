"""Damaged copies of a sample: truncations and deterministic corruptions.

Every variant is reproducible (fixed positions, seeded random bytes), so a failing
check names a damage that can be recreated exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Damage", "corruptions", "truncations"]

#: Most format headers sit in the first few KiB; targeted damage goes there.
HEADER_REGION = 4096


@dataclass(frozen=True)
class Damage:
    """One damaged variant of a file's bytes."""

    label: str
    data: bytes
    truncated: bool


def truncations(data: bytes) -> Iterator[Damage]:
    """The file cut short: empty, a few bytes, a quarter, half, all but the last byte."""
    n = len(data)
    sizes = sorted({0, min(16, n - 1), n // 4, n // 2, n - 1} - {n})
    for size in sizes:
        if 0 <= size < n:
            yield Damage(f"truncated to {size} of {n} bytes", data[:size], True)


#: Every 4-byte-aligned word of the first 64 bytes is hit (where fixed headers keep their sizes).
_FIXED_HEAD = 64


def _positions(n: int, count: int) -> list[int]:
    limit = min(n, HEADER_REGION) - 4
    if limit < 0:
        return []
    aligned = set(range(0, min(_FIXED_HEAD, limit + 1), 4))
    spread = {int(p) for p in np.linspace(_FIXED_HEAD, limit, count)} if limit > _FIXED_HEAD else set()
    return sorted(aligned | spread)


def corruptions(data: bytes, *, positions: int = 12, random_variants: int = 8, seed: int = 0) -> Iterator[Damage]:
    """Corrupted copies of the same length as ``data``.

    - the first 8 bytes zeroed (the magic number gone);
    - at every 4-byte-aligned offset of the first 64 bytes and at ``positions``
      more places spread over the rest of the header region, four bytes set to
      ``ff ff ff ff`` (-1 / 4 Gi), ``ff ff ff 7f`` (int32 max) and ``00 00 00 00``
      (zero sizes, division by zero);
    - every decimal number in the header region replaced by nines (text headers);
    - ``random_variants`` copies with 32 random bytes changed anywhere.
    """
    n = len(data)
    if n == 0:
        return
    head = bytearray(data)
    head[: min(8, n)] = bytes(min(8, n))
    yield Damage("first 8 bytes zeroed", bytes(head), False)
    for word, name in ((b"\xff\xff\xff\xff", "ff ff ff ff"), (b"\xff\xff\xff\x7f", "ff ff ff 7f"),
                       (b"\x00\x00\x00\x00", "00 00 00 00")):
        for pos in _positions(n, positions):
            out = bytearray(data)
            out[pos : pos + 4] = word[: n - pos]
            if out != data:
                yield Damage(f"bytes {pos}..{pos + 3} set to {name}", bytes(out), False)
    region = data[:HEADER_REGION]
    nines = re.sub(rb"\d+", lambda m: b"9" * len(m.group()), region)
    if nines != region:
        yield Damage("every number in the first 4 KiB replaced by nines", nines + data[HEADER_REGION:], False)
    rng = np.random.default_rng(seed)
    for k in range(random_variants):
        noisy = np.frombuffer(data, np.uint8).copy()
        where = rng.integers(0, n, size=min(32, n))
        noisy[where] = rng.integers(0, 256, size=where.size, dtype=np.uint8)
        yield Damage(f"32 random bytes changed (seed {seed}, variant {k})", noisy.tobytes(), False)
