"""JPK ``.jpk`` images: one frame per file, a folder of them as one video.

A ``.jpk`` file (JPK Instruments / Bruker NanoWizard and NanoRacer) is a big-endian
TIFF: page 0 is a 64x64 thumbnail carrying the file-wide JPK tags, and every further
page is one channel in one scan direction, stored as integers with calibration
slots. A folder of ``.jpk`` files (a NanoRacer HS-AFM series, ``save-<date>.jpk``)
loads as one stack; a single ``.jpk`` loads as a one-frame stack.

Channels
    ``<name>_trace`` / ``<name>_retrace`` with the name as the file spells it
    (``height_trace``, ``measuredHeight_trace``, ``amplitude_retrace``,
    ``phase_trace``, ``error_retrace``), matched without regard to case. The
    default is ``height_trace`` (else the first channel). If a name appears twice
    in a file, the first page wins.

Values
    ``raw * multiplier + offset`` of the channel's default calibration slot (tag
    0x8081), the slot found by its name tag. Lengths are converted to nm from the
    slot's declared unit (``m`` -> x1e9, whatever the channel); volts (``V``) and
    degrees (``deg``) are kept and ``stack.z_unit`` says which. The unit is never
    guessed from the data. Result: float32, computed in float64 frame by frame.

Orientation
    Row 0 is the top line of the image as Gwyddion and AFMReader show it: the
    stored TIFF rows are reversed unless the Grid-reflect tag (0x8045) is true.
    ``.h5-jpk`` files follow the same convention, so both JPK drivers agree.
    (playNano 0.5.0's folder loader flips twice and returns stored order; to get
    that, use ``stack.data[:, ::-1]``.)

Pixel size
    ``pixel_size_nm`` = Grid uLength / width and ``pixel_size_y_nm`` = Grid vLength /
    height, in nm; per frame in ``frame_pixel_size_nm`` (x).

Timing
    Frames are ordered by their StartDate tag (ties and files without dates in
    natural name order). Timestamps are StartDate differences, durations
    EndDate - StartDate, ``start_epoch_ms`` the StartDate as Unix ms: the zone
    label (``GMT``, ``+0100``, ``Europe/Berlin``, or an abbreviation with one
    meaning such as ``CEST``) is honoured, and an unknown label is taken as UTC.
    When any frame lacks a StartDate, frames are in name order and the interval
    is lines / scan rate, halved when the settings say the slow axis is interlaced.
    ``scan_direction`` is the Motion tag (``topDown`` /
    ``bottomUp``) and ``line_rate`` the Scanrate frequency (lines/s) of each file.

Acquisition facts (``stack.acquisition``)
    ``bidirectional`` (interlaced slow axis: the settings flag, else the
    duration test of playNano), ``interlace`` (the flag as written, or None),
    ``timing`` (``recorded`` / ``scan-rate`` / ``unknown``), ``time_zone``,
    ``jpk_version``, ``feedback_mode``, ``scan_rate_hz``, ``duty_cycle``,
    ``grid_reflect``, ``rows_reversed``, ``channels``, ``file_unit``, ``n_files``.

Options
    ``lazy=True`` reads each frame from its file when touched; ``dtype="float64"``
    keeps double precision; ``progress=False`` silences the progress bar shown on a
    terminal (see :mod:`afmio.progress`).

Errors
    Files in one folder with a different frame shape, channel set or unit: a
    :class:`~afmio.CorruptFileError` naming the odd file. Page data beyond the end
    of the file: :class:`~afmio.TruncatedFileError`.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from afmio import limits
from afmio.errors import CorruptFileError, TruncatedFileError, reading
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, FrameTiming, ImageInfo

from ._jpk_common import (
    INTERLACE_KEY,
    ValueScale,
    as_bool,
    channel_key,
    decode,
    epoch_ms,
    frame_timing,
    is_bidirectional,
    parse_jpk_date,
    scale_into,
    settings_value,
    value_scale,
)
from .ome_tiff import TIFF_ERRORS

__all__ = ["JpkCodec", "Tag", "channels", "probe", "read", "sniff"]

class Tag(IntEnum):
    """JPK private TIFF tags (names after Gwyddion's JPK header)."""

    VERSION = 0x8000
    START_DATE = 0x8003
    END_DATE = 0x8006
    SETTINGS = 0x8017
    FEEDBACK_MODE = 0x8030
    GRID_ULENGTH = 0x8042
    GRID_VLENGTH = 0x8043
    GRID_REFLECT = 0x8045
    GRID_ILENGTH = 0x8046
    GRID_JLENGTH = 0x8047
    SCANRATE = 0x8049
    DUTY_CYCLE = 0x804A
    MOTION = 0x804B
    CHANNEL_NAME = 0x8050
    RETRACE = 0x8051
    N_SLOTS = 0x8080
    DEFAULT_SLOT = 0x8081


# Calibration slot k occupies codes SLOT_BASE + SLOT_STRIDE*k + offset.
SLOT_BASE = 0x8090
SLOT_STRIDE = 0x30
SLOT_NAME = 0x00
SLOT_UNIT = 0x12
SLOT_SCALING = 0x13
SLOT_MULTIPLIER = 0x14
SLOT_OFFSET = 0x15
MAX_SLOTS = 32


# ---------------------------------------------------------------------- headers
@dataclass
class _Page:
    """Where one channel page's integers are and how to read them."""

    index: int
    key: str
    shape: tuple[int, int]
    dtype: np.dtype
    segments: list[tuple[int, int]]  # (offset, bytes) runs; empty -> decode with tifffile
    scale: ValueScale | None = None  # only for the channel being read (every channel with EVERY_CHANNEL)
    scale_error: CorruptFileError | None = None  # why the calibration could not be read


#: File-wide tags read from page 0 (others, e.g. the large feedback text, are skipped).
GLOBAL_TAGS = (
    Tag.VERSION,
    Tag.START_DATE,
    Tag.END_DATE,
    Tag.FEEDBACK_MODE,
    Tag.GRID_ULENGTH,
    Tag.GRID_VLENGTH,
    Tag.GRID_REFLECT,
    Tag.SCANRATE,
    Tag.DUTY_CYCLE,
    Tag.MOTION,
)


@dataclass
class _FrameFile:
    """One ``.jpk`` file's header facts."""

    path: Path
    pages: dict[str, _Page]
    glob: dict[int, Any]
    interlace: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    zone_known: bool = False
    page: _Page | None = None

    @property
    def shape(self) -> tuple[int, int]:
        first = next(iter(self.pages.values()))
        return first.shape

    @property
    def scale(self) -> ValueScale:
        assert self.page is not None and self.page.scale is not None
        return self.page.scale

    def number(self, tag: int) -> float | None:
        value = self.glob.get(tag)
        if value is None:
            return None
        try:
            out = float(value[0] if isinstance(value, tuple) else value)
        except (TypeError, ValueError):
            return None
        return out if np.isfinite(out) else None

    def text(self, tag: int) -> str | None:
        return decode(self.glob.get(tag))

    @property
    def reflect(self) -> bool:
        return bool(as_bool(self.glob.get(Tag.GRID_REFLECT)))

    def pixel_sizes(self) -> tuple[float, float]:
        h, w = self.shape
        sizes = []
        for tag, n in ((Tag.GRID_ULENGTH, w), (Tag.GRID_VLENGTH, h)):
            length = self.number(tag)
            if length is None or length <= 0:
                raise CorruptFileError(self.path, f"missing or invalid Grid length tag {tag:#06x} ({tag.name})")
            sizes.append(length / n * 1e9)
        return sizes[0], sizes[1]


class _Tags:
    """Tag values of one page by code, read only when asked (while the file is open)."""

    def __init__(self, page: Any) -> None:
        self._tags = page.tags

    def get(self, code: int) -> Any:
        tag = self._tags.get(code)
        return None if tag is None else tag.value


#: TIFF compression tag values -> afmio.limits codec keys.
_TIFF_CODECS = {1: "none", 5: "lzw", 8: "deflate", 32946: "deflate", 32773: "packbits", 7: "jpeg"}


def _segments(page: Any, path: Path, nbytes: int, file_size: int) -> list[tuple[int, int]]:
    """Byte runs of an uncompressed strip page, or [] when tifffile must decode it."""
    offsets, counts = page.dataoffsets, page.databytecounts
    # Every page's declared size is checked against the bytes it stores before anything
    # is allocated (afmio.limits): raw pages must store them all, compressed ones within
    # their codec's ratio.
    compression = int(page.compression)
    codec = _TIFF_CODECS.get(compression, "unknown")
    limits.check_declared(path, nbytes, f"page {page.index} ({'x'.join(str(d) for d in page.shape)} pixels)",
                          on_disk=int(sum(counts)), codec=codec)
    if codec == "none" and int(sum(counts)) < nbytes:
        raise TruncatedFileError(path, f"page {page.index} stores {sum(counts)} of its {nbytes} bytes of pixels")
    if compression != 1 or page.is_tiled or getattr(page, "samplesperpixel", 1) != 1:
        return []  # tifffile decodes it
    if len(offsets) != len(counts) or sum(counts) != nbytes:
        return []
    runs: list[tuple[int, int]] = []
    for off, cnt in zip(offsets, counts):
        if off + cnt > file_size:
            raise TruncatedFileError(
                path, f"page {page.index} data ends at byte {off + cnt}, beyond the {file_size}-byte file"
            )
        if runs and runs[-1][0] + runs[-1][1] == off:
            runs[-1] = (runs[-1][0], runs[-1][1] + cnt)  # contiguous strips: one read
        else:
            runs.append((off, cnt))
    return runs


#: ``want`` for :func:`_read_header`: read the calibration of every channel page.
EVERY_CHANNEL = "*"


def _read_header(path: Path, want: str | Callable[[list[str]], str] | None = None) -> _FrameFile:
    """Parse the IFDs of one file: tags only, no pixel data, thumbnail never decoded.

    ``want`` names the channel whose calibration is read, chooses it from the file's
    channel names, or is :data:`EVERY_CHANNEL` (each page's calibration, or the error
    that prevented it, is kept); None reads names only.
    """
    import tifffile

    file_size = os.path.getsize(path)
    # tifffile's own checks, and what it raises on IFDs that point nowhere
    with reading(path, "the TIFF tags", also=(TypeError,)), tifffile.TiffFile(path) as tf:
        first = _Tags(tf.pages.first)
        glob = {int(code): first.get(code) for code in GLOBAL_TAGS}
        interlace = settings_value(first.get(Tag.SETTINGS), INTERLACE_KEY)
        order = tf.byteorder
        pages: dict[str, _Page] = {}
        for index in range(1, len(tf.pages)):
            page = tf.pages[index]
            tags = _Tags(page)
            name = decode(tags.get(Tag.CHANNEL_NAME))
            if not name or len(page.shape) != 2 or page.dtype is None or page.dtype.kind not in "iuf":
                continue  # not a channel page (preview, mask...)
            key = channel_key(name, bool(as_bool(tags.get(Tag.RETRACE))))
            if key in pages:
                continue
            dtype = np.dtype(page.dtype).newbyteorder(order)
            h, w = (int(s) for s in page.shape)
            segs = _segments(page, path, h * w * dtype.itemsize, file_size)
            pages[key] = _Page(index, key, (h, w), dtype, segs)
        if want == EVERY_CHANNEL:
            chosen = None
            for entry in pages.values():
                try:
                    entry.scale = _slot_scale(_Tags(tf.pages[entry.index]), entry.key, path)
                except CorruptFileError as exc:  # only fatal if this channel is the one loaded
                    entry.scale_error = exc
        else:
            chosen = (want(list(pages)) if callable(want) else want) if pages else None
        if chosen in pages:
            wanted = pages[chosen]
            wanted.scale = _slot_scale(_Tags(tf.pages[wanted.index]), wanted.key, path)
    if not pages:
        raise CorruptFileError(path, "no JPK channel pages (pages with tag 0x8050) in this TIFF")
    shapes = {p.shape for p in pages.values()}
    if len(shapes) > 1:
        raise CorruptFileError(path, f"channel pages differ in size: {sorted(shapes)}")
    frame = _FrameFile(path, pages, glob, as_bool(interlace))
    frame.start, frame.zone_known = parse_jpk_date(glob.get(Tag.START_DATE))
    frame.end, _ = parse_jpk_date(glob.get(Tag.END_DATE))
    frame.page = pages.get(chosen) if chosen else None
    return frame


def _slot_scale(tags: _Tags, key: str, path: Path) -> ValueScale:
    """The raw -> physical map of the page's default calibration slot."""
    default = decode(tags.get(Tag.DEFAULT_SLOT))
    n_slots = tags.get(Tag.N_SLOTS)
    try:
        n = min(int(n_slots), MAX_SLOTS) if n_slots is not None else MAX_SLOTS
    except (TypeError, ValueError):
        n = MAX_SLOTS
    if default is None:
        raise CorruptFileError(path, f"channel {key!r} has no default calibration slot (tag 0x8081)")
    for k in range(n):
        base = SLOT_BASE + SLOT_STRIDE * k
        if decode(tags.get(base + SLOT_NAME)) != default:
            continue
        kind = decode(tags.get(base + SLOT_SCALING))
        unit = decode(tags.get(base + SLOT_UNIT))
        if kind == "NullScaling":
            return value_scale(1.0, 0.0, unit)
        if kind == "LinearScaling":
            mult, off = tags.get(base + SLOT_MULTIPLIER), tags.get(base + SLOT_OFFSET)
            if mult is None or off is None:
                raise CorruptFileError(path, f"channel {key!r}: slot {default!r} lacks multiplier/offset")
            return value_scale(float(mult), float(off), unit)
        raise CorruptFileError(
            path, f"channel {key!r}: scaling type {kind!r} of slot {default!r} is not NullScaling or LinearScaling"
        )
    raise CorruptFileError(path, f"channel {key!r}: default calibration slot {default!r} not found")


# ---------------------------------------------------------------------- codec
def _check_alike(headers: Sequence[FrameHeader]) -> None:
    """Every file of a folder offers the same channels (in any page order); name the odd one."""
    sets = [tuple(sorted(h.channel_names())) for h in headers]
    common, count = Counter(sets).most_common(1)[0]
    for header, names in zip(headers, sets):
        if names != common:
            raise CorruptFileError(
                header.path,
                f"channels [{', '.join(names)}] differ from [{', '.join(common)}] of the other {count} file(s) "
                "in the folder",
            )


def _image(frame: _FrameFile, page: _Page, px: tuple[float, float]) -> ImageInfo:
    unit = page.scale.z_unit if page.scale is not None else "?"
    facts = {"file_unit": page.scale.file_unit if page.scale is not None else None}
    return ImageInfo(page.key, page.shape, px[0], px[1], unit, facts, key=page.key)


class JpkCodec(FrameCodec):
    """One ``.jpk`` TIFF: a channel page per channel and direction."""

    format_name = "JPK"
    member_patterns = ("*.jpk",)
    pixel_size_from = "Grid uLength / vLength"

    def sniff(self, path: Path) -> bool | None:
        """True for a TIFF whose first IFD carries JPK tags."""
        try:
            codes = _ifd0_codes(path)
        except OSError:
            return None
        if codes is None:
            return False
        return Tag.CHANNEL_NAME in codes or Tag.START_DATE in codes or Tag.GRID_ULENGTH in codes

    def read_header(self, path: Path) -> FrameHeader:
        frame = _read_header(path, EVERY_CHANNEL)
        px = frame.pixel_sizes()
        start = None if frame.start is None else epoch_ms(frame.start) / 1000.0
        return FrameHeader(
            path=Path(path),
            images=[_image(frame, page, px) for page in frame.pages.values()],
            start_epoch_s=start,
            line_rate=frame.number(Tag.SCANRATE),
            scan_direction=frame.text(Tag.MOTION),
            private=frame,
        )

    def choose_image(self, header: FrameHeader, channel: str, like: ImageInfo | None) -> ImageInfo:
        page = header.private.pages[channel]
        if page.scale_error is not None:
            raise page.scale_error
        return header.image(channel)

    def frame_timing(self, headers: Sequence[FrameHeader], images: Sequence[ImageInfo]) -> FrameTiming:
        """StartDate differences and EndDate - StartDate, else lines / scan rate (see the docstring)."""
        frames: list[_FrameFile] = [h.private for h in headers]
        first = frames[0]
        timing = frame_timing(
            len(frames),
            starts_ms=[None if f.start is None else epoch_ms(f.start) for f in frames],
            ends_ms=[None if f.end is None else epoch_ms(f.end) for f in frames],
            lines=first.shape[0],
            scan_rate=first.number(Tag.SCANRATE),
            interlace=first.interlace,
            path=headers[0].path.parent if len(headers) > 1 else headers[0].path,
        )
        return FrameTiming(timing.timestamps, timing.durations, timing.source, tuple(timing.notes))

    def describe(
        self, headers: Sequence[FrameHeader], images: Sequence[ImageInfo], timing: FrameTiming
    ) -> dict[str, Any]:
        _check_alike(headers)
        first: _FrameFile = headers[0].private
        scan_rate = first.number(Tag.SCANRATE)
        start_text = first.text(Tag.START_DATE) or ""
        words = start_text.split()
        zone = words[2] if len(words) > 2 else None
        facts: dict[str, Any] = {
            "bidirectional": is_bidirectional(first.interlace, timing.durations, first.shape[0], scan_rate),
            "interlace": first.interlace,
            "timing": timing.source,
            "time_zone": zone if first.zone_known else (f"{zone} (assumed UTC)" if zone else None),
            "jpk_version": first.text(Tag.VERSION),
            "feedback_mode": first.text(Tag.FEEDBACK_MODE),
            "scan_rate_hz": scan_rate,
            "duty_cycle": first.number(Tag.DUTY_CYCLE),
            "grid_reflect": first.reflect,
            "rows_reversed": not first.reflect,
            "channels": headers[0].channel_names(),
            "file_unit": images[0].facts["file_unit"],
            "n_files": len(headers),
        }
        if timing.notes:
            facts["timing_notes"] = list(timing.notes)
        return facts

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        """The page's integers through its calibration, rows as Gwyddion shows them."""
        frame: _FrameFile = header.private
        page = frame.pages[image.key]
        assert page.scale is not None
        raw = np.empty(page.shape, page.dtype)
        _read_page(frame.path, page, raw)
        out = np.empty(page.shape, np.float64)
        scale_into(raw, page.scale, out, flip=not frame.reflect)
        return out


def _read_page(path: Path, page: _Page, raw: np.ndarray) -> None:
    """Fill ``raw`` with the page's integers: positioned reads, or tifffile for odd layouts."""
    if page.segments:
        buf = memoryview(raw.reshape(-1)).cast("B")  # type: ignore[arg-type]  # ndarray is a buffer
        pos = 0
        with open(path, "rb") as fh:
            for off, cnt in page.segments:
                fh.seek(off)
                got = fh.readinto(buf[pos : pos + cnt])
                if got != cnt:
                    raise TruncatedFileError(path, f"page {page.index} data ends early ({got} of {cnt} bytes)")
                pos += cnt
        return
    import tifffile

    with reading(path, f"page {page.index}", also=TIFF_ERRORS), tifffile.TiffFile(path) as tf:
        data = tf.pages[page.index].asarray()
    if data.shape != raw.shape:
        raise CorruptFileError(path, f"page {page.index} decodes to {data.shape}, expected {raw.shape}")
    raw[...] = data


# ---------------------------------------------------------------------- driver API
_driver = FramePerFileDriver(JpkCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff


def _ifd0_codes(path: Path) -> set[int] | None:
    """Tag codes of the first IFD of a classic TIFF (None when not one)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8 or head[:4] not in (b"MM\x00*", b"II*\x00"):
            return None
        end = ">" if head[:2] == b"MM" else "<"
        (ifd,) = struct.unpack(end + "I", head[4:8])
        fh.seek(ifd)
        raw = fh.read(2)
        if len(raw) < 2:
            return None
        (count,) = struct.unpack(end + "H", raw)
        entries = fh.read(12 * count)
        if len(entries) < 12 * count:
            return None
    return {struct.unpack_from(end + "H", entries, 12 * k)[0] for k in range(count)}
