"""A streaming animated-GIF writer: one fixed global palette, frames encoded in parallel.

Pillow's own animated-GIF save keeps every frame in memory until the end and
encodes them one after another. Here each frame is LZW-encoded on its own (by
Pillow, as a single-frame GIF, in a worker thread; Pillow releases the GIL while
encoding) and its image block is appended to the file in order as soon as it is
ready, so memory stays at a few frames and both cores work.

File layout (GIF89a): header and logical screen with the 256-colour global table,
the NETSCAPE2.0 loop extension (unless ``loop`` is None), then per frame a graphic
control extension (delay in 1/100 s, no transparency, no disposal) and the full-size
image block, and the trailer ``;``.
"""

from __future__ import annotations

import io
import os
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, TypeVar

__all__ = ["GifStreamWriter", "delays_for", "encode_frame", "image_block", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")

_GLOBAL_TABLE_256 = 0x80 | 0x70 | 0x07  # table present, 8-bit colour resolution, 2**(7+1) entries


def _table_size(flags: int) -> int:
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


def image_block(gif: bytes, palette: bytes) -> bytes:
    """The image descriptor and LZW data of a single-frame GIF, for our global palette.

    If the encoder stored a global colour table other than ``palette`` (it should
    not, but it is Pillow's choice), that table is attached to the block as a local
    one so the colours stay right.
    """
    if gif[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError("the frame encoder did not produce a GIF")
    flags = gif[10]
    table = gif[13 : 13 + _table_size(flags)]
    pos = 13 + len(table)
    while True:
        marker = gif[pos]
        if marker == 0x21:  # extension: label, then data sub-blocks
            pos = _skip_sub_blocks(gif, pos + 2)
        elif marker == 0x2C:
            start, dflags = pos, gif[pos + 9]
            pos = _skip_sub_blocks(gif, pos + 10 + _table_size(dflags) + 1)  # +1: LZW minimum code size
            block = gif[start:pos]
            if dflags & 0x80 or table[: len(palette)] == palette:
                return block
            size_bits = (flags & 0x07) if flags & 0x80 else 7
            local = table if table else palette
            return block[:9] + bytes([(dflags & 0x7F & ~0x07) | 0x80 | size_bits]) + local + block[10:]
        else:
            raise ValueError(f"unexpected byte 0x{marker:02x} in an encoded GIF frame")


def encode_frame(image: Any, palette: bytes) -> bytes:
    """LZW-encode one Pillow ``"P"`` image; return its image block."""
    buf = io.BytesIO()
    image.save(buf, format="GIF", optimize=False, interlace=False)
    return image_block(buf.getvalue(), palette)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> Iterator[R]:
    """``map(fn, items)`` on a thread pool, in order, with only a few items in flight."""
    n = max(1, workers or min(4, os.cpu_count() or 1))
    if n == 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(n, thread_name_prefix="afmio-gif") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * n:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class GifStreamWriter:
    """Write an animated GIF frame by frame.

    Parameters
    ----------
    fh : binary file
    size : (width, height)
    palette : bytes
        768 bytes: the 256 RGB entries every frame uses.
    loop : int or None
        0 = forever, n = play n more times, None = no loop extension (play once).
    """

    def __init__(self, fh: IO[bytes], size: tuple[int, int], palette: bytes, loop: int | None) -> None:
        if len(palette) != 768:
            raise ValueError(f"the palette must have 256 RGB entries, not {len(palette) // 3}")
        width, height = size
        if not (0 < width < 65536 and 0 < height < 65536):
            raise ValueError(f"GIF frames must be 1..65535 pixels a side, not {width} x {height}")
        self._fh = fh
        self.palette = palette
        fh.write(b"GIF89a" + struct.pack("<HHBBB", width, height, _GLOBAL_TABLE_256, 0, 0) + palette)
        if loop is not None:
            fh.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", int(loop)) + b"\x00")
        self.frames = 0

    def add(self, block: bytes, delay_ms: float) -> None:
        """Append one encoded image block shown for ``delay_ms`` (stored in 1/100 s)."""
        delay = min(65535, max(0, round(delay_ms / 10)))
        self._fh.write(b"!\xf9\x04\x00" + struct.pack("<H", delay) + b"\x00\x00" + block)
        self.frames += 1

    def close(self) -> None:
        """Write the trailer."""
        self._fh.write(b";")


def delays_for(n_frames: int, delays_ms: int | Sequence[int]) -> list[int]:
    """One delay per frame from a single value or a per-frame list."""
    if isinstance(delays_ms, int):
        return [delays_ms] * n_frames
    return list(delays_ms)
