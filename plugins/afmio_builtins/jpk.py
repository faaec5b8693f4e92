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
    label (``GMT``, ``+0100``, ``Europe/Berlin``) is honoured, and an unknown label
    is taken as UTC. When any frame lacks a StartDate, frames are in name order
    and the interval is lines / scan rate, halved when the settings say the slow
    axis is interlaced. ``scan_direction`` is the Motion tag (``topDown`` /
    ``bottomUp``) and ``line_rate`` the Scanrate frequency (lines/s) of each file.

Acquisition facts (``stack.acquisition``)
    ``bidirectional`` (interlaced slow axis: the settings flag, else the
    duration test of playNano), ``interlace`` (the flag as written, or None),
    ``timing`` (``recorded`` / ``scan-rate`` / ``unknown``), ``time_zone``,
    ``jpk_version``, ``feedback_mode``, ``scan_rate_hz``, ``duty_cycle``,
    ``grid_reflect``, ``rows_reversed``, ``channels``, ``file_unit``, ``n_files``.

Options
    ``lazy=True`` reads each frame from its file when touched. ``progress=False``
    silences the progress bar shown on a terminal for folders of many frames.

Errors
    Files in one folder with a different frame shape, channel set or unit: a
    :class:`~afmio.CorruptFileError` naming the odd file. Page data beyond the end
    of the file: :class:`~afmio.TruncatedFileError`.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from afmio.channels import select_channel
from afmio.errors import AfmioError, CorruptFileError, PathNotFoundError, TruncatedFileError
from afmio.frames import FrameSourceBase
from afmio.hookspecs import ProbeResult
from afmio.ioutil import natural_sort_key
from afmio.metadata import build_frame_metadata
from afmio.progress import overriding
from afmio.progress import progress as progress_bar
from afmio.stack import AFMImageStack

from ._jpk_common import (
    INTERLACE_KEY,
    MAX_DEFLATE_RATIO,
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

__all__ = ["Tag", "channels", "probe", "read", "sniff"]

#: Folders with at least this many frames show a progress bar (on a terminal).
PROGRESS_MIN_FRAMES = 20


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
    scale: ValueScale | None = None  # only for the channel being read


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


def _segments(page: Any, path: Path, nbytes: int, file_size: int) -> list[tuple[int, int]]:
    """Byte runs of an uncompressed strip page, or [] when tifffile must decode it."""
    offsets, counts = page.dataoffsets, page.databytecounts
    if int(page.compression) != 1 or page.is_tiled or getattr(page, "samplesperpixel", 1) != 1:
        # tifffile decodes it; refuse a shape the stored bytes cannot hold before it allocates
        if nbytes > MAX_DEFLATE_RATIO * sum(counts) + (1 << 20):
            raise CorruptFileError(
                path, f"page {page.index} declares {nbytes} bytes of pixels but stores only {sum(counts)}"
            )
        return []
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


def _read_header(path: Path, want: str | Callable[[list[str]], str] | None = None) -> _FrameFile:
    """Parse the IFDs of one file: tags only, no pixel data, thumbnail never decoded.

    ``want`` names the channel whose calibration is read, or chooses it from the
    file's channel names (so the first file of a folder is parsed once); None reads
    names only.
    """
    import tifffile

    file_size = os.path.getsize(path)
    try:
        with tifffile.TiffFile(path) as tf:
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
            chosen = (want(list(pages)) if callable(want) else want) if pages else None
            if chosen in pages:
                wanted = pages[chosen]
                wanted.scale = _slot_scale(_Tags(tf.pages[wanted.index]), wanted.key, path)
    except (AfmioError, MemoryError):
        raise
    except (tifffile.TiffFileError, ValueError, IndexError, KeyError, TypeError, struct.error) as exc:
        # tifffile's own checks, and what it raises on IFDs that point nowhere
        raise CorruptFileError(path, f"not a readable TIFF: {type(exc).__name__}: {exc}") from exc
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


# ---------------------------------------------------------------------- planning
def _members(path: Path) -> list[Path]:
    if path.is_dir():
        try:
            names = [e.name for e in os.scandir(path)
                     if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(".jpk")]
        except OSError as exc:
            raise PathNotFoundError(path, f"cannot list folder: {exc.strerror or exc}") from exc
        if not names:
            raise PathNotFoundError(path, "no .jpk files in this folder")
        return [path / n for n in sorted(names, key=natural_sort_key)]
    if path.is_file():
        return [path]
    raise PathNotFoundError(path)


def _check_alike(frames: list[_FrameFile]) -> None:
    """Every file must have the same frame shape and channel set; name the odd one."""
    def signature(f: _FrameFile) -> tuple[Any, ...]:
        return (f.shape, tuple(sorted(f.pages)))  # page order may differ; the set may not

    common, count = Counter(signature(f) for f in frames).most_common(1)[0]
    for f in frames:
        sig = signature(f)
        if sig == common:
            continue
        if sig[0] != common[0]:
            what = f"frame shape {sig[0][0]}x{sig[0][1]} differs from {common[0][0]}x{common[0][1]}"
        else:
            what = f"channels [{', '.join(sig[1])}] differ from [{', '.join(common[1])}]"
        raise CorruptFileError(f.path, f"{what} of the other {count} file(s) in the folder")


@dataclass
class _Plan:
    """Everything needed to read the frames and describe the stack."""

    path: Path
    frames: list[_FrameFile]
    channel: str
    channel_names: list[str]
    metadata: list[dict[str, Any]]
    pixel_size_nm: float
    pixel_size_y_nm: float
    z_unit: str
    acquisition: dict[str, Any]
    times: list[float | None]


def _bar_enabled(n: int, show: bool | None) -> bool | None:
    """Progress bars only for many frames, never when the caller said no."""
    return False if show is False or n < PROGRESS_MIN_FRAMES else show


def _plan(path: Path, channel: str | None, show_progress: bool | None = False) -> _Plan:
    files = _members(path)
    head = _read_header(files[0], lambda available: select_channel(path, available, channel))
    assert head.page is not None
    names, key = list(head.pages), head.page.key
    bar = files[1:] if _bar_enabled(len(files), show_progress) is False else progress_bar(
        files[1:], total=len(files) - 1, desc=f"{path.name} (headers)")
    frames = [head] + [_read_header(f, key) for f in bar]
    _check_alike(frames)
    unit = frames[0].scale.z_unit
    for f in frames:
        if f.scale.z_unit != unit:
            raise CorruptFileError(
                f.path, f"channel {key!r} is in {f.scale.z_unit!r}, but {frames[0].path.name} has {unit!r}"
            )

    if all(f.start is not None for f in frames):
        frames.sort(key=lambda f: (f.start, natural_sort_key(f.path.name)))
    first = frames[0]
    h = first.shape[0]
    scan_rate = first.number(Tag.SCANRATE)
    interlace = first.interlace
    timing = frame_timing(
        len(frames),
        starts_ms=[None if f.start is None else epoch_ms(f.start) for f in frames],
        ends_ms=[None if f.end is None else epoch_ms(f.end) for f in frames],
        lines=h,
        scan_rate=scan_rate,
        interlace=interlace,
        path=path,
    )
    metadata = []
    for i, f in enumerate(frames):
        px, _ = f.pixel_sizes()
        metadata.append(
            build_frame_metadata(
                timestamp=timing.timestamps[i],
                frame_pixel_size_nm=px,
                frame_duration_s=timing.durations[i],
                start_epoch_ms=timing.epochs_ms[i],
                scan_direction=f.text(Tag.MOTION),
                line_rate=f.number(Tag.SCANRATE),
            )
        )
    px, py = first.pixel_sizes()
    start_text = first.text(Tag.START_DATE) or ""
    zone = start_text.split()[2] if len(start_text.split()) > 2 else None
    acquisition: dict[str, Any] = {
        "bidirectional": is_bidirectional(interlace, timing.durations, h, scan_rate),
        "interlace": interlace,
        "timing": timing.source,
        "time_zone": zone if first.zone_known else (f"{zone} (assumed UTC)" if zone else None),
        "jpk_version": first.text(Tag.VERSION),
        "feedback_mode": first.text(Tag.FEEDBACK_MODE),
        "scan_rate_hz": scan_rate,
        "duty_cycle": first.number(Tag.DUTY_CYCLE),
        "grid_reflect": first.reflect,
        "rows_reversed": not first.reflect,
        "channels": names,
        "file_unit": first.scale.file_unit,
        "n_files": len(frames),
    }
    if timing.notes:
        acquisition["timing_notes"] = timing.notes
    return _Plan(path, frames, key, names, metadata, px, py, unit, acquisition, timing.timestamps)


# ---------------------------------------------------------------------- frames
class _JpkFrames(FrameSourceBase):
    """Frame source over the planned files: each frame read from its file on demand."""

    def __init__(self, plan: _Plan, show_progress: bool | None) -> None:
        self._frames = plan.frames
        h, w = plan.frames[0].shape
        self._shape = (len(plan.frames), h, w)
        self._progress = show_progress
        self._desc = plan.path.name

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self._shape[0])
        stop = max(start, stop)
        n, h, w = stop - start, self._shape[1], self._shape[2]
        out = np.empty((n, h, w), np.float32)
        work = np.empty((h, w), np.float64)
        raw: np.ndarray | None = None
        quiet = _bar_enabled(n, self._progress) is False
        for i in range(n) if quiet else progress_bar(range(n), total=n, desc=self._desc):
            frame = self._frames[start + i]
            page = frame.page
            assert page is not None
            if raw is None or raw.dtype != page.dtype:
                raw = np.empty((h, w), page.dtype)
            _read_page(frame.path, page, raw)
            scale_into(raw, frame.scale, out[i], flip=not frame.reflect, work=work)
        return out

    def close(self) -> None:
        pass  # files are opened per read


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

    try:
        with tifffile.TiffFile(path) as tf:
            data = tf.pages[page.index].asarray()
    except Exception as exc:
        raise CorruptFileError(path, f"cannot decode page {page.index}: {exc}") from exc
    if data.shape != raw.shape:
        raise CorruptFileError(path, f"page {page.index} decodes to {data.shape}, expected {raw.shape}")
    raw[...] = data


# ---------------------------------------------------------------------- driver API
def read(
    path: Path, *, channel: str | None = None, lazy: bool = False, progress: bool | None = None
) -> AFMImageStack:
    """Read a folder of ``.jpk`` frames (or one ``.jpk`` file) as a stack.

    Parameters
    ----------
    path : pathlib.Path
        A folder of ``.jpk`` files, or one ``.jpk`` file.
    channel : str, optional
        ``height_trace`` (default), ``measuredHeight_retrace``... any case.
    lazy : bool
        Read each frame from its file only when touched.
    progress : bool, optional
        Show a progress bar for many frames; None = when stderr is a terminal.

    Returns
    -------
    AFMImageStack
        float32 frames in nm (or V / deg, see ``z_unit``), rows top line first.
    """
    path = Path(path)
    with overriding(progress):
        plan = _plan(path, channel, progress)
        source = _JpkFrames(plan, progress)
        data: Any = source if lazy else source.read_frames(0, source.shape[0])
    stack = AFMImageStack(
        data,
        plan.pixel_size_nm,
        plan.channel,
        str(path),
        plan.metadata,
        pixel_size_y_nm=plan.pixel_size_y_nm,
        z_unit=plan.z_unit,
    )
    stack.acquisition.update(plan.acquisition)
    return stack


def probe(path: Path) -> ProbeResult:
    """Header-only facts: every file's tags are read, no pixel data."""
    plan = _plan(Path(path), None)
    return ProbeResult(
        n_frames=len(plan.frames),
        frame_shape=plan.frames[0].shape,
        channels=plan.channel_names,
        default_channel=plan.channel,
        pixel_size_nm=plan.pixel_size_nm,
        pixel_size_y_nm=plan.pixel_size_y_nm,
        z_unit=plan.z_unit,
        frame_times=None if any(t is None for t in plan.times) else [float(t) for t in plan.times],  # type: ignore[arg-type]
        acquisition=dict(plan.acquisition),
    )


def channels(path: Path) -> list[str]:
    """Channel names of the file (of the first file, in name order, for a folder)."""
    return list(_read_header(_members(Path(path))[0]).pages)


def sniff(path: Path) -> bool | None:
    """True for a TIFF whose first IFD carries JPK tags; a folder is judged by its first file."""
    path = Path(path)
    if path.is_dir():
        try:
            path = _members(path)[0]
        except PathNotFoundError:
            return False
    try:
        codes = _ifd0_codes(path)
    except OSError:
        return None
    if codes is None:
        return False
    return Tag.CHANNEL_NAME in codes or Tag.START_DATE in codes or Tag.GRID_ULENGTH in codes


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
