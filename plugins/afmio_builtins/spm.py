"""Bruker / Veeco NanoScope files: a folder of frames becomes one video.

Driver ``spm`` (alias ``nanoscope``). Reads binary NanoScope files of every
generation (versions 5 to 9 write differently cased keys: ``Scan rate`` /
``Scan Rate``; keys are matched without regard to case)::

    afmio.load(folder, channel=None, lazy=False, direction=None,
               dtype="float32", allow_truncated=False)

``lazy=True`` reads headers now and each frame's file only when the frame is used.

Input
    A folder whose members match ``*.spm`` or ``*.NNN`` (three digits: ``.001``,
    ``.002``...) becomes one stack, one frame per file. A single such file loads as
    one frame. Members that match the names but do not start with ``\\*File list``
    are skipped with a warning and listed in ``acquisition["skipped_files"]``; an
    empty member (a frame cut short) is an error, not skipped.

Frame order
    By the header ``Date`` (then ``Relative frame time``, then name) when every file
    has a readable date; otherwise natural name order (``f2`` before ``f10``).
    ``acquisition["frame_order"]`` says which.

Channels
    Named by the quoted description of ``@2:Image Data`` (``"Height Sensor"``,
    ``"Height"``, ``"Amplitude"``, ``"Phase"``), or by the bracketed internal name
    (``ZSensor``), case-insensitively. ``channel=None`` or ``"height"`` gives the
    default: ``Height Sensor`` when present, else ``Height``, else the first image.
    A name spelt exactly as in the file wins over the ``height`` alias, so
    ``channel="Height"`` loads ``Height`` even beside ``Height Sensor``.
    The first file by name fixes the channel for the whole folder.
    ``channels(path)`` lists the names of the first file.

Trace / retrace (option ``direction``)
    ``direction=None`` (default) loads the Trace image of the channel, or the only
    direction stored (HS-AFM FastScan files often hold Retrace only). The first file
    by name decides, and every other file must offer the same direction, so a video
    never mixes the two.
    ``direction="trace"`` or ``"retrace"`` demands that direction and raises
    :class:`~afmio.errors.ChannelNotFoundError` when it is absent.
    ``acquisition["line_direction"]`` always states what was loaded, and
    ``acquisition["line_direction_note"]`` says when it was not Trace by default.

Values (``z_unit``)
    ``value = raw * hard_value / 2**(8*bpp) * sensitivity`` where ``hard_value`` is
    the last number of ``@2:Z scale`` and ``sensitivity`` the ``@<soft scale>``
    parameter it names (looked up before the first image, later sections winning).
    SI prefixes of every unit are applied: ``999.9847 mV`` with ``20 nm/V`` gives nm
    (1000x smaller than AFMReader, which ignores the ``m``). Lengths come out in nm,
    voltages in V, angles in deg (NanoScope's ``º``); a sensitivity without a unit
    (``Sens. Phase``) leaves the hard value's unit; a sensitivity missing from the
    header leaves it too and says so in ``acquisition["z_scale_note"]``. ``Z offset``
    is not applied (as in AFMReader and Gwyddion).
    Samples are little-endian signed 1-, 2- or 4-byte integers (``Bytes/pixel``).
    Values are float32 by default (option ``dtype="float64"`` for double).

Pixel size (Gwyddion's rule)
    x = first ``Scan Size`` number / ``Samps/line``; y = second number /
    ``Number of lines`` (one number: y extent = x extent scaled by ``Aspect Ratio``).
    The FastScan samples (100 x 100 nm over 768 x 486) give x = 0.130208 nm and
    y = 0.205761 nm. Aborted frames store only ``Valid data len Y`` rows; their pixel
    size is still that of the full raster.

Orientation
    Rows are flipped relative to storage order (the last stored line is row 0), as
    Gwyddion and AFMReader do.

Timing (per-frame metadata)
    ``timestamp``: ``Relative frame time`` minus the first frame's when every file has
    it (``frame_duration_s`` = gap to the next frame, None for the last); otherwise
    ``i * rows / line_rate`` with ``frame_duration_s = rows / line_rate``.
    ``start_epoch_ms``: the file's ``Date`` (1 s precision, taken as UTC).
    ``scan_direction``: ``Frame direction`` (``Down`` -> ``topDown``, ``Up`` ->
    ``bottomUp``). ``line_rate``: ``Scan Rate`` (lines per second).
    ``acquisition["timing_source"]`` says which rule was used.

Errors
    Files that disagree in shape raise :class:`~afmio.errors.CorruptFileError` naming
    the odd file. A file shorter than its header promises (any of its images cut)
    raises :class:`~afmio.errors.TruncatedFileError`; ``allow_truncated=True`` loads
    it anyway when the chosen image is complete.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from afmio.channels import select_channel
from afmio.errors import (
    ChannelNotFoundError,
    CorruptFileError,
    PathNotFoundError,
    UnsupportedFormatError,
)
from afmio.frames import FrameSourceBase
from afmio.hookspecs import ProbeResult
from afmio.ioutil import check_allocation, natural_sort_key, read_exact
from afmio.metadata import build_frame_metadata
from afmio.progress import progress
from afmio.stack import AFMImageStack

from ._nanoscope_header import (
    MAGIC,
    ImageHeader,
    LineDirection,
    NanoscopeHeader,
    ZScale,
    has_magic,
    read_header,
)
from .catalog import SPM_MEMBER_PATTERNS as MEMBER_PATTERNS

__all__ = ["channels", "probe", "read", "sniff"]

DEFAULT_ORDER = ("Height Sensor", "Height")
_SCAN_DIRECTIONS = {"down": "topDown", "up": "bottomUp"}


# --------------------------------------------------------------------------- members
def _is_member(name: str) -> bool:
    lowered = name.lower()
    return not name.startswith(".") and any(fnmatch.fnmatchcase(lowered, p) for p in MEMBER_PATTERNS)


def _member_files(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if e.is_file() and _is_member(e.name)]
    except OSError as exc:
        raise PathNotFoundError(folder, f"cannot list folder: {exc.strerror or exc}") from exc


def _head(path: Path, n: int = len(MAGIC)) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def sniff(path: Path) -> bool | None:
    """True for a NanoScope file (or a folder holding some), False otherwise.

    A folder answers True as soon as one matching member has the ``\\*File list``
    magic, False when none has, and None when it has no matching member.
    """
    p = Path(path)
    try:
        if p.is_dir():
            members = sorted(_member_files(p), key=lambda m: natural_sort_key(m.name))
            if not members:
                return None
            return any(has_magic(_head(m)) for m in members)
        return has_magic(_head(p))
    except OSError:
        return None


# --------------------------------------------------------------------------- choosing
@dataclass(frozen=True)
class _Frame:
    """One file's chosen image and what is needed to read and describe it."""

    path: Path
    header: NanoscopeHeader
    image: ImageHeader
    z: ZScale


def _channel_names(header: NanoscopeHeader) -> list[str]:
    seen: dict[str, None] = {}
    for im in header.images:
        seen.setdefault(im.channel, None)
    return list(seen)


def _resolve_channel(header: NanoscopeHeader, requested: str | None) -> str:
    available = _channel_names(header)
    if requested is not None and requested.strip() in available:
        return requested.strip()  # an exact spelling beats the "height" alias
    aliases: dict[str, str] = {}
    for im in header.images:
        if im.internal_name:
            aliases.setdefault(im.internal_name.lower(), im.channel)
    return select_channel(header.path, available, requested, aliases=aliases, order=DEFAULT_ORDER)


def _parse_direction(direction: str | None) -> LineDirection | None:
    if direction is None:
        return None
    try:
        return LineDirection.parse(direction)
    except ValueError:
        raise ValueError(f"direction must be 'trace', 'retrace' or None, not {direction!r}") from None


def _choose_image(header: NanoscopeHeader, channel: str, direction: LineDirection | None) -> ImageHeader:
    """The image of ``channel`` in ``direction``; by default Trace, else the one stored."""
    images = [im for im in header.images if im.channel == channel]
    if direction is not None:
        for im in images:
            if im.line_direction is direction:
                return im
        stored = [f"{im.channel} ({im.line_direction.value})" for im in header.images]
        raise ChannelNotFoundError(header.path, f"{channel} ({direction.value})", stored)
    for im in images:
        if im.line_direction is LineDirection.TRACE:
            return im
    return images[0]


def _frame(path: Path, channel: str | None, direction: LineDirection | None) -> _Frame:
    header = read_header(path)
    name = _resolve_channel(header, channel)
    image = _choose_image(header, name, direction)
    return _Frame(path, header, image, header.z_scale(image))


# --------------------------------------------------------------------------- folder scan
@dataclass
class _Scan:
    """Files of the input in frame order, with the one image chosen in each."""

    source: Path
    frames: list[_Frame]
    skipped: list[str]
    order: str


def _scan(path: Path, channel: str | None, direction: LineDirection | None) -> _Scan:
    if not path.exists():
        raise PathNotFoundError(path)
    if not path.is_dir():
        return _Scan(path, [_frame(path, channel, direction)], [], "single file")
    members = _member_files(path)
    if not members:
        raise UnsupportedFormatError(
            f"{path}: no NanoScope files in the folder (names matching {', '.join(MEMBER_PATTERNS)})",
            path=path,
        )
    headers: list[NanoscopeHeader] = []
    skipped: list[str] = []
    members.sort(key=lambda m: natural_sort_key(m.name))
    for m in progress(members, total=len(members), desc="NanoScope headers"):
        try:
            headers.append(read_header(m))
        except UnsupportedFormatError:  # no "\*File list" magic: someone else's file
            skipped.append(m.name)
    if skipped:
        listed = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        if not headers:
            raise UnsupportedFormatError(
                f"{path}: none of the {len(members)} files matching {', '.join(MEMBER_PATTERNS)} is a "
                f"NanoScope file (no '\\*File list' at the start): {listed}",
                path=path,
            )
        warnings.warn(
            f"{path}: skipped {len(skipped)} file(s) that are not NanoScope files: {listed}",
            UserWarning,
            stacklevel=3,
        )
    # The first file (by name) fixes the channel and the line direction, so every frame
    # of the video shows the same image ("height" and the default direction mean one thing).
    chosen = _resolve_channel(headers[0], channel)
    if direction is None:
        direction = _choose_image(headers[0], chosen, None).line_direction
    frames = []
    for header in headers:
        if chosen not in _channel_names(header):
            raise ChannelNotFoundError(header.path, chosen, _channel_names(header))
        image = _choose_image(header, chosen, direction)
        frames.append(_Frame(header.path, header, image, header.z_scale(image)))
    frames, order = _order(frames)
    return _Scan(path, frames, skipped, order)


def _order(frames: list[_Frame]) -> tuple[list[_Frame], str]:
    """Sort by header date (then relative frame time, then name), else by name."""
    dates = [f.header.epoch_s for f in frames]
    if all(d is not None for d in dates):
        rel = [f.image.relative_frame_time for f in frames]
        use_rel = all(r is not None for r in rel)
        ordered = sorted(
            frames,
            key=lambda f: (f.header.epoch_s, f.image.relative_frame_time if use_rel else 0.0,
                           natural_sort_key(f.path.name)),
        )
        return ordered, "header date"
    return sorted(frames, key=lambda f: natural_sort_key(f.path.name)), "natural name order"


def _check_consistent(scan: _Scan, allow_truncated: bool = False) -> tuple[int, int]:
    first = scan.frames[0]
    shape = (first.image.rows, first.image.cols)
    for f in scan.frames:
        # A file cut short is an incomplete copy: say so even when the chosen image survived.
        for image in [f.image] if allow_truncated else [f.image, *f.header.images]:
            f.header.check_data(image)
        if (f.image.rows, f.image.cols) != shape:
            raise CorruptFileError(
                f.path,
                f"image {f.image.channel!r} is {f.image.rows} x {f.image.cols} pixels but "
                f"{first.path.name} is {shape[0]} x {shape[1]}; every frame of a folder must have one shape",
            )
        if f.z.unit != first.z.unit:
            raise CorruptFileError(
                f.path, f"image {f.image.channel!r} is in {f.z.unit!r} but {first.path.name} is in {first.z.unit!r}"
            )
    return shape


# --------------------------------------------------------------------------- metadata
def _pixel_sizes(scan: _Scan) -> list[tuple[float, float]]:
    sizes = []
    for f in scan.frames:
        px = f.image.pixel_size_nm
        if px is None or not (px[0] > 0 and px[1] > 0):
            raise CorruptFileError(
                f.path, f"image {f.image.channel!r} has no usable 'Scan Size' ({f.image.section.get('Scan Size')!r})"
            )
        sizes.append(px)
    return sizes


def _timing(scan: _Scan) -> tuple[list[float | None], list[float | None], str]:
    frames = scan.frames
    rel = [f.image.relative_frame_time for f in frames]
    if all(r is not None for r in rel):
        base = rel[0]
        stamps: list[float | None] = [r - base for r in rel]  # type: ignore[operator]
        durations: list[float | None] = [b - a for a, b in itertools.pairwise(rel)]  # type: ignore[operator]
        durations.append(None)
        return stamps, durations, "relative frame time"
    rate = frames[0].header.scan_rate
    if rate:
        interval = frames[0].image.rows / rate
        return [i * interval for i in range(len(frames))], [interval] * len(frames), "lines / scan rate"
    return [None] * len(frames), [None] * len(frames), "unknown (no relative frame time, no scan rate)"


def _scan_direction(text: str | None) -> str | None:
    if text is None:
        return None
    return _SCAN_DIRECTIONS.get(text.strip().lower(), text.strip())


def _frame_metadata(scan: _Scan, sizes: list[tuple[float, float]]) -> tuple[list[dict[str, Any]], str]:
    stamps, durations, source = _timing(scan)
    meta = []
    for f, (px, _), ts, dur in zip(scan.frames, sizes, stamps, durations):
        epoch = f.header.epoch_s
        meta.append(
            build_frame_metadata(
                timestamp=ts,
                frame_pixel_size_nm=px,
                frame_duration_s=dur,
                start_epoch_ms=None if epoch is None else epoch * 1000.0,
                scan_direction=_scan_direction(f.image.frame_direction),
                line_rate=f.header.scan_rate,
            )
        )
    return meta, source


def _acquisition(scan: _Scan, direction: LineDirection | None, timing_source: str) -> dict[str, Any]:
    first = scan.frames[0]
    im, h = first.image, first.header
    loaded = im.line_direction.value
    acq: dict[str, Any] = {
        "nanoscope_version": h.version,
        "instrument": h.global_value("Description"),
        "channel_internal_name": im.internal_name,
        "line_direction": loaded,
        "line_direction_requested": None if direction is None else direction.value,
        "capture_direction": h.global_value("Capture direction"),
        "samples_per_line": im.samples_per_line,
        "lines": im.lines,
        "scan_size_nm": list(im.scan_size_nm) if im.scan_size_nm else None,
        "bytes_per_pixel": int(im.pixel_width),
        "z_scale": first.z.z_scale,
        "z_sensitivity": first.z.sensitivity,
        "z_offset_ignored": im.section.at("Z offset"),
        "timing_source": timing_source,
        "frame_order": scan.order,
        "files": [f.path.name for f in scan.frames],
    }
    if direction is None and im.line_direction is not LineDirection.TRACE:
        acq["line_direction_note"] = (
            f"no Trace image of {im.channel!r} in the file; loaded the {loaded} image"
        )
    if first.z.note:
        acq["z_scale_note"] = first.z.note
    if scan.skipped:
        acq["skipped_files"] = list(scan.skipped)
    return acq


# --------------------------------------------------------------------------- data
def _read_raw(f: _Frame) -> np.ndarray:
    im = f.image
    with open(f.path, "rb") as fh:
        fh.seek(im.data_offset)
        buf = read_exact(fh, im.n_bytes, f.path, f"the data of image {im.index} ({im.channel!r})")
    return np.frombuffer(buf, dtype=im.pixel_width.dtype).reshape(im.rows, im.cols)


def _convert_into(f: _Frame, out: np.ndarray) -> None:
    """Scale one file's image into ``out`` (rows flipped to Gwyddion's orientation)."""
    raw = _read_raw(f)
    np.multiply(raw[::-1], out.dtype.type(f.z.factor), out=out, dtype=out.dtype)


class _FolderSource(FrameSourceBase):
    """A frame source reading one file per frame on demand."""

    def __init__(self, frames: list[_Frame], shape: tuple[int, int], dtype: np.dtype) -> None:
        self._frames = frames
        self._shape = (len(frames), *shape)
        self._dtype = np.dtype(dtype)

    def read_frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self._shape[0]:
            raise IndexError(f"frame {index} out of range for {self._shape[0]} frames")
        out = np.empty(self._shape[1:], self._dtype)
        _convert_into(self._frames[index], out)
        return out

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self._shape[0])
        stop = max(start, stop)
        out = np.empty((stop - start, *self._shape[1:]), self._dtype)
        for i in range(start, stop):
            _convert_into(self._frames[i], out[i - start])
        return out

    def close(self) -> None:
        pass  # no handle is kept open between reads


def _dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, not {dt}")
    return dt


# --------------------------------------------------------------------------- public
def read(
    path: Path,
    *,
    channel: str | None = None,
    lazy: bool = False,
    direction: str | None = None,
    dtype: Any = np.float32,
    allow_truncated: bool = False,
) -> AFMImageStack:
    """Read a NanoScope folder (one frame per file) or a single file.

    Parameters
    ----------
    path : pathlib.Path
        A folder of ``*.spm`` / ``*.NNN`` files, or one such file.
    channel : str, optional
        Quoted description or bracketed name (case-insensitive); None or ``"height"``
        for the default (``Height Sensor``, else ``Height``, else the first).
    lazy : bool
        Read each frame's file only when the frame is asked for.
    direction : {None, "trace", "retrace"}
        Line direction; None takes Trace or, failing that, the only one stored.
    dtype : float32 or float64
        Element type of the values.
    allow_truncated : bool
        Load a file whose end is missing as long as the chosen image is complete
        (by default every image the header declares must be in the file).

    Returns
    -------
    AFMImageStack
    """
    p = Path(path)
    wanted = _parse_direction(direction)
    out_dtype = _dtype(dtype)
    scan = _scan(p, channel, wanted)
    shape = _check_consistent(scan, allow_truncated)
    sizes = _pixel_sizes(scan)
    meta, timing_source = _frame_metadata(scan, sizes)
    first = scan.frames[0]
    source = _FolderSource(scan.frames, shape, out_dtype)
    if lazy:
        data: Any = source
    else:
        n_bytes = len(scan.frames) * shape[0] * shape[1] * out_dtype.itemsize
        on_disk = sum(f.header.file_size for f in scan.frames)
        check_allocation(p, n_bytes, f"{len(scan.frames)} frames of {shape[0]} x {shape[1]}", on_disk)
        data = np.empty((len(scan.frames), *shape), out_dtype)
        for i, f in enumerate(progress(scan.frames, total=len(scan.frames), desc="NanoScope frames")):
            _convert_into(f, data[i])
    stack = AFMImageStack(
        data,
        sizes[0][0],
        first.image.channel,
        str(p),
        meta,
        pixel_size_y_nm=sizes[0][1],
        z_unit=first.z.unit,
    )
    stack.provenance["acquisition"] = _acquisition(scan, wanted, timing_source)
    return stack


def probe(path: Path) -> ProbeResult:
    """Header-only facts: frames, shape, channels, pixel sizes, unit and times."""
    p = Path(path)
    scan = _scan(p, None, None)
    shape = _check_consistent(scan)
    sizes = _pixel_sizes(scan)
    stamps, _, timing_source = _timing(scan)
    first = scan.frames[0]
    times = None if any(t is None for t in stamps) else [float(t) for t in stamps]  # type: ignore[arg-type]
    return ProbeResult(
        n_frames=len(scan.frames),
        frame_shape=shape,
        channels=_channel_names(first.header),
        default_channel=first.image.channel,
        pixel_size_nm=sizes[0][0],
        pixel_size_y_nm=sizes[0][1],
        z_unit=first.z.unit,
        frame_times=times,
        acquisition=_acquisition(scan, None, timing_source),
    )


def channels(path: Path) -> list[str]:
    """Channel names (quoted descriptions) of the file, or of the first file of a folder."""
    p = Path(path)
    if p.is_dir():
        members = sorted(_member_files(p), key=lambda m: natural_sort_key(m.name))
        for m in members:
            if has_magic(_head(m)):
                return _channel_names(read_header(m))
        raise UnsupportedFormatError(f"{p}: no NanoScope files in the folder", path=p)
    return _channel_names(read_header(p))
