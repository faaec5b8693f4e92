"""Frame-per-file formats: one image per file, and a folder of such files is a video.

Many AFM formats store one scan per file (WSxM, Gwyddion, NanoScope, JPK, GSF, ...);
a video is a folder of them. A format author writes only the byte codec, a
:class:`FrameCodec` subclass, and :class:`FramePerFileDriver` turns it into the
``read`` / ``probe`` / ``channels`` / ``sniff`` / ``write`` functions a
:class:`~afmio.DriverSpec` names::

    # my_plugin/wsxm.py
    from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo

    class WsxmCodec(FrameCodec):
        format_name = "WSxM"
        member_patterns = ("*.stp", "*.top")

        def read_header(self, path): ...      # -> FrameHeader (no pixels read)
        def read_image(self, header, image): ...  # -> 2-D array in image.z_unit

    driver = FramePerFileDriver(WsxmCodec())
    read, probe, channels, sniff = driver.read, driver.probe, driver.channels, driver.sniff

and declares ``DriverSpec(name="wsxm", kind="folder", extensions=(".stp", ".top"),
member_patterns=("*.stp", "*.top"), read="my_plugin.wsxm:read", ..., lazy=True)``.

What the base decides, the same way for every such format:

Members
    A folder's members are its regular, non-hidden files whose names match the
    codec's ``member_patterns`` (case-insensitive). A member whose header reader
    raises :class:`~afmio.UnsupportedFormatError` ("not mine") is skipped with a
    warning and listed in ``acquisition["skipped_files"]``.
Order
    By the headers' start times when every member has one (``start_epoch_s``, then
    ``relative_time_s``, then the name), else natural name order (``frame2``
    before ``frame10``). ``acquisition["frame_order"]`` says which.
Channel
    Chosen once, from the first member: ``channel=None`` or ``"height"`` takes the
    codec's ``default_order`` (case-insensitive), else the header's
    ``default_channel``, else the first image; other names match without regard
    to case or through the codec's ``aliases``. Every member must hold it.
Consistency
    Every frame must have the shape and the value unit of the majority; the odd
    file is named in the :class:`~afmio.CorruptFileError`.
Timing
    ``relative_time_s`` on every header gives timestamps (differences to frame 0)
    and durations (to the next frame); else ``start_epoch_s`` on every header does
    the same; else the headers' ``frame_duration_s`` are summed; else timestamps
    are unknown (None). ``frame_duration_s`` from the header wins over the
    difference to the next frame. ``acquisition["timing_source"]`` says which.
Writing
    A target whose name matches a member pattern (``scan.gwy``) receives a
    one-frame stack as one file; any other target (give ``format=``) becomes a
    folder of ``<folder name>_00000<ext>``, ``..._00001<ext>``, one file per frame,
    written by the codec's :meth:`FrameCodec.write_image`.
"""

from __future__ import annotations

import fnmatch
import inspect
import itertools
import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .channels import DEFAULT_CHANNEL_ORDER, select_channel
from .errors import (
    ChannelNotFoundError,
    CorruptFileError,
    PathNotFoundError,
    UnsupportedFormatError,
    WriteError,
    reading,
)
from .frames import FrameSourceBase, float_dtype
from .hookspecs import ProbeResult
from .ioutil import check_allocation, natural_sort_key
from .metadata import build_frame_metadata
from .progress import overriding, progress
from .stack import AFMImageStack

__all__ = [
    "FrameCodec",
    "FrameHeader",
    "FramePerFileDriver",
    "FrameTiming",
    "FrameToWrite",
    "ImageInfo",
    "default_timing",
]


@dataclass(frozen=True)
class ImageInfo:
    """One channel image of one file, as its header describes it (no pixels read).

    Attributes
    ----------
    channel : str
        The channel name as the file spells it.
    shape : tuple of int
        ``(rows, cols)`` of the image as :meth:`FrameCodec.read_image` returns it.
    pixel_size_nm : float
        nm per pixel along x (columns).
    pixel_size_y_nm : float or None
        nm per pixel along y (rows); None means square pixels.
    z_unit : str
        Unit of the values ``read_image`` returns: ``"nm"`` for lengths (convert
        them), ``"V"``, ``"deg"``, or the file's own spelling.
    facts : mapping
        Per-image facts (scale factors, data type, line direction) merged into
        ``acquisition`` for the image that is loaded. JSON-friendly values.
    key : object
        The codec's own handle for the image (a page or section index), handed
        back through :meth:`FrameCodec.read_image`.
    """

    channel: str
    shape: tuple[int, int]
    pixel_size_nm: float
    pixel_size_y_nm: float | None = None
    z_unit: str = "nm"
    facts: Mapping[str, Any] = field(default_factory=dict)
    key: Any = None


@dataclass
class FrameHeader:
    """What one file's header says: its images and, where known, when it was taken.

    Attributes
    ----------
    path : pathlib.Path
    images : list of ImageInfo
        One per channel (and direction, when the format stores both), in file order.
    default_channel : str or None
        What the file itself marks as its main image; None lets the base choose.
    start_epoch_s : float or None
        POSIX time (seconds, UTC) at which the frame started, when the header says.
    relative_time_s : float or None
        Seconds from some origin shared by the files of one recording (NanoScope's
        ``Relative frame time``); preferred over ``start_epoch_s`` for timing.
    frame_duration_s : float or None
        How long the frame took to scan.
    line_rate : float or None
        Lines per second.
    scan_direction : str or None
        ``"topDown"``, ``"bottomUp"`` or the file's own word.
    acquisition : dict
        Instrument facts from this file (JSON-friendly); the first frame's go into
        the stack's ``acquisition``.
    aliases : dict
        Extra lower-case channel names of this file (internal names) mapped to a
        channel name, added to the codec's ``aliases``.
    private : object
        The codec's own parsed state (offsets, data types), handed back to
        :meth:`FrameCodec.read_image`; never shown to users.
    """

    path: Path
    images: list[ImageInfo]
    default_channel: str | None = None
    start_epoch_s: float | None = None
    relative_time_s: float | None = None
    frame_duration_s: float | None = None
    line_rate: float | None = None
    scan_direction: str | None = None
    acquisition: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    private: Any = None

    def channel_names(self) -> list[str]:
        """Channel names in file order, each once."""
        return list(dict.fromkeys(im.channel for im in self.images))

    def image(self, channel: str) -> ImageInfo:
        """The first image of ``channel`` (exact spelling)."""
        for im in self.images:
            if im.channel == channel:
                return im
        raise ChannelNotFoundError(self.path, channel, self.channel_names())


@dataclass(frozen=True)
class FrameToWrite:
    """What :meth:`FrameCodec.write_image` gets besides the pixels of one frame."""

    index: int
    n_frames: int
    channel: str
    pixel_size_nm: float
    pixel_size_y_nm: float
    z_unit: str
    metadata: Mapping[str, Any]
    acquisition: Mapping[str, Any]


@dataclass(frozen=True)
class FrameTiming:
    """Per-frame times of a video: seconds since frame 0, durations, and their source."""

    timestamps: list[float | None]
    durations: list[float | None]
    source: str
    notes: tuple[str, ...] = ()


class FrameCodec:
    """The byte codec of a one-image-per-file format; subclass and fill in.

    Class attributes
    ----------------
    format_name : str
        Human name used in messages (``"WSxM"``).
    member_patterns : tuple of str
        Globs over file names that a folder of this format holds (``"*.stp"``).
    default_order : tuple of str
        Channel names tried, in order, for ``channel=None`` / ``"height"``.
    aliases : mapping of str to str
        Extra lower-case names mapped to a channel name the files use.
    write_extension : str or None
        Extension of the files written into a folder (``".gwy"``); None when the
        codec cannot write.
    pixel_size_from : str
        Where pixel sizes come from, for the error when one is missing or invalid
        (``"'Scan Size'"``).
    library_errors : tuple of exception types
        What the format library the codec uses raises on damaged bytes, beyond
        :data:`afmio.errors.DATA_ERRORS` (``ValueError``, ``struct.error``...). The base
        runs ``read_header`` and ``read_image`` inside :class:`afmio.errors.reading`, so
        those become a :class:`~afmio.errors.CorruptFileError` naming the file.
    """

    format_name: ClassVar[str] = "frame-per-file"
    member_patterns: ClassVar[tuple[str, ...]] = ()
    default_order: ClassVar[tuple[str, ...]] = DEFAULT_CHANNEL_ORDER
    aliases: ClassVar[Mapping[str, str]] = {}
    write_extension: ClassVar[str | None] = None
    pixel_size_from: ClassVar[str] = "the header's scan size"
    library_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def sniff(self, path: Path) -> bool | None:
        """Cheap content check of one file: True mine, False not mine, None cannot tell."""
        return None

    def read_header(self, path: Path) -> FrameHeader:
        """Parse one file's header; raise ``UnsupportedFormatError`` when it is not this format.

        A codec with read options (``direction=``, ``allow_truncated=``) declares them
        as keyword-only parameters here; the driver's ``read`` accepts and documents
        them (its signature lists them) and passes them to every call.
        """
        raise NotImplementedError

    def choose_image(self, header: FrameHeader, channel: str, like: ImageInfo | None) -> ImageInfo:
        """The image of ``channel`` to load from ``header``.

        ``like`` is the image chosen in the first frame (None for the first frame), so
        a format storing several images per channel (trace and retrace) can keep one
        kind for the whole video. By default: the first image of the channel.
        """
        return header.image(channel)

    def frame_timing(self, headers: Sequence[FrameHeader], images: Sequence[ImageInfo]) -> FrameTiming:
        """Timestamps and durations of the frames in order, and where they came from.

        The default is the rule in the module docstring; override for a format whose
        times follow other rules.
        """
        return default_timing(headers)

    def describe(
        self, headers: Sequence[FrameHeader], images: Sequence[ImageInfo], timing: FrameTiming
    ) -> dict[str, Any]:
        """Whole-video facts for ``acquisition``: by default the first frame's header facts
        and the loaded image's facts. May raise for folders the format cannot join."""
        return {**headers[0].acquisition, **images[0].facts}

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        """Return ``image``'s values as a 2-D array of ``image.shape`` in ``image.z_unit``.

        Rows in afmio's orientation (row 0 is the top row as Gwyddion shows it;
        document the rule in the driver's docstring). Any float or integer dtype;
        the base casts into the stack's dtype.
        """
        raise NotImplementedError

    def write_image(self, path: Path, frame: np.ndarray, info: FrameToWrite) -> None:
        """Write one frame to ``path`` (only for codecs with a ``write_extension``)."""
        raise NotImplementedError(f"{self.format_name} files cannot be written")


@dataclass
class _Scan:
    """The input's files in frame order with the one image chosen in each."""

    source: Path
    headers: list[FrameHeader]
    images: list[ImageInfo]
    skipped: list[str]
    order: str
    damaged: list[str] = field(default_factory=list)  # damaged member files left out


class _FileFrames(FrameSourceBase):
    """A lazy frame source reading one file per frame on demand (no handle kept open)."""

    def __init__(self, codec: FrameCodec, scan: _Scan, dtype: np.dtype) -> None:
        self._codec = codec
        self._scan = scan
        self._shape = (len(scan.headers), *scan.images[0].shape)
        self._dtype = dtype

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self._shape[0])
        stop = max(start, stop)
        out = np.empty((stop - start, *self._shape[1:]), self._dtype)
        for i in range(start, stop):
            _read_into(self._codec, self._scan.headers[i], self._scan.images[i], out[i - start])
        return out


def _header(codec: FrameCodec, path: Path, options: Mapping[str, Any]) -> FrameHeader:
    """``codec.read_header`` under the one error policy (:class:`afmio.errors.reading`)."""
    with reading(path, "the header", also=codec.library_errors):
        return codec.read_header(path, **options)


def _read_into(codec: FrameCodec, header: FrameHeader, image: ImageInfo, out: np.ndarray) -> None:
    with reading(header.path, f"the {image.channel!r} image", also=codec.library_errors):
        values = np.asarray(codec.read_image(header, image))
    if values.shape != image.shape:
        raise CorruptFileError(
            header.path,
            f"image {image.channel!r} holds {values.shape} values but its header says {image.shape}",
        )
    out[...] = values


#: Read options every frame-per-file driver has, before the codec's own.
_BASE_OPTIONS = ("channel", "lazy", "dtype", "progress", "skip_damaged")


def _codec_options(codec: FrameCodec) -> list[inspect.Parameter]:
    """The keyword-only read options a codec's ``read_header`` declares."""
    params = inspect.signature(codec.read_header).parameters.values()
    return [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


class FramePerFileDriver:
    """The driver functions of a frame-per-file format, built from its codec.

    Parameters
    ----------
    codec : FrameCodec
        The format's byte codec.

    Attributes
    ----------
    read, probe, channels, sniff, write
        The functions a :class:`~afmio.DriverSpec` names. ``read`` takes
        ``channel``, ``lazy``, ``dtype`` and ``progress`` plus the codec's own read
        options (the keyword-only parameters of its ``read_header``), and its
        signature lists them all.
    """

    def __init__(self, codec: FrameCodec) -> None:
        self.codec = codec
        options = _codec_options(codec)
        self._option_names = tuple(p.name for p in options)

        def read(path: Path, **kwargs: Any) -> AFMImageStack:
            return self.read_stack(path, **kwargs)

        # read's visible signature: read_stack's parameters, then the codec's own options
        own = [p for p in inspect.signature(self.read_stack).parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        read.__signature__ = inspect.Signature([*own, *options], return_annotation=AFMImageStack)  # type: ignore[attr-defined]
        read.__doc__ = self.read_stack.__doc__
        read.__qualname__ = read.__name__ = "read"
        self.read = read

    # ------------------------------------------------------------------ members
    def is_member(self, name: str) -> bool:
        """True when a file called ``name`` belongs to a folder of this format."""
        lowered = name.lower()
        return not name.startswith(".") and any(
            fnmatch.fnmatchcase(lowered, p.lower()) for p in self.codec.member_patterns
        )

    def members(self, folder: Path) -> list[Path]:
        """The folder's member files in natural name order."""
        try:
            with os.scandir(folder) as entries:
                found = [Path(e.path) for e in entries if self.is_member(e.name) and e.is_file()]
        except OSError as exc:
            raise PathNotFoundError(folder, f"cannot list folder: {exc.strerror or exc}") from exc
        return sorted(found, key=lambda p: natural_sort_key(p.name))

    # ------------------------------------------------------------------ scanning
    def _choose_channel(self, header: FrameHeader, requested: str | None) -> str:
        available = header.channel_names()
        if requested is not None and requested.strip() in available:
            return requested.strip()  # an exact spelling beats the "height" alias
        order = tuple(self.codec.default_order)
        if header.default_channel in available:
            order = (*order, header.default_channel)  # type: ignore[arg-type]
        aliases = {**self.codec.aliases, **header.aliases}
        return select_channel(header.path, available, requested, aliases=aliases, order=order)

    def _headers(
        self, path: Path, options: Mapping[str, Any], skip_damaged: bool = False
    ) -> tuple[list[FrameHeader], list[str], list[str]]:
        if not path.exists():
            raise PathNotFoundError(path)
        if not path.is_dir():
            return [_header(self.codec, path, options)], [], []
        members = self.members(path)
        patterns = ", ".join(self.codec.member_patterns)
        if not members:
            raise UnsupportedFormatError(
                f"{path}: no {self.codec.format_name} files in the folder (names matching {patterns})", path=path
            )
        headers: list[FrameHeader] = []
        skipped: list[str] = []
        damaged: list[str] = []
        for k, member in enumerate(progress(members, total=len(members), desc=f"{self.codec.format_name} headers")):
            try:
                headers.append(_header(self.codec, member, options))
            except UnsupportedFormatError:
                skipped.append(member.name)
            except CorruptFileError as exc:
                if not skip_damaged:
                    raise _damaged_frame(exc, member, k, len(members)) from exc
                damaged.append(member.name)
        if damaged:
            _warn_damaged(path, damaged)
            if not headers:
                raise CorruptFileError(path, f"every one of the {len(members)} frame files is damaged")
        if skipped:
            listed = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
            if not headers:
                raise UnsupportedFormatError(
                    f"{path}: none of the {len(members)} files matching {patterns} is a "
                    f"{self.codec.format_name} file: {listed}",
                    path=path,
                )
            warnings.warn(
                f"{path}: skipped {len(skipped)} file(s) that are not {self.codec.format_name} files: {listed}",
                UserWarning,
                stacklevel=4,
            )
        return headers, skipped, damaged

    def _split_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = [k for k in options if k not in self._option_names]
        if unknown:
            raise TypeError(
                f"{self.codec.format_name} read has no option {unknown[0]!r}; "
                f"its options: {', '.join((*_BASE_OPTIONS, *self._option_names))}"
            )
        return dict(options)

    def scan(self, path: Path, channel: str | None = None, *, skip_damaged: bool = False, **options: Any) -> _Scan:
        """Read every member's header, order the frames and choose the channel once.

        ``skip_damaged=True`` leaves out (with a warning) member files whose header is
        damaged; otherwise the first one raises, naming the file and the option.
        """
        headers, skipped, damaged = self._headers(path, self._split_options(options), skip_damaged)
        headers, order = _order(headers) if path.is_dir() else (headers, "single file")
        chosen = self._choose_channel(headers[0], channel)
        images: list[ImageInfo] = []
        for header in headers:
            if chosen not in header.channel_names():
                raise ChannelNotFoundError(header.path, chosen, header.channel_names())
            images.append(self.codec.choose_image(header, chosen, images[0] if images else None))
        _check_consistent(headers, images)
        return _Scan(path, headers, images, skipped, order, damaged)

    # ------------------------------------------------------------------ roles
    def sniff(self, path: Path) -> bool | None:
        """A file: the codec's answer. A folder: True when a member is recognised."""
        p = Path(path)
        if not p.is_dir():
            return self.codec.sniff(p)
        answers = []
        for member in self.members(p)[:8]:  # a few members tell; a folder may hold thousands
            answer = self.codec.sniff(member)
            if answer:
                return True
            answers.append(answer)
        if not answers:
            return None
        return False if all(a is False for a in answers) else None

    def channels(self, path: Path) -> list[str]:
        """Channel names of the file, or of the first readable member of a folder."""
        p = Path(path)
        if not p.is_dir():
            return _header(self.codec, p, {}).channel_names()
        for member in self.members(p):
            try:
                return _header(self.codec, member, {}).channel_names()
            except UnsupportedFormatError:
                continue
        raise UnsupportedFormatError(f"{p}: no {self.codec.format_name} files in the folder", path=p)

    def probe(self, path: Path) -> ProbeResult:
        """Headers only: frames, shape, channels, pixel sizes, unit and times."""
        scan = self.scan(Path(path))
        meta, acquisition = self._describe(scan)
        first = scan.images[0]
        stamps = [m["timestamp"] for m in meta]
        return ProbeResult(
            n_frames=len(scan.headers),
            frame_shape=first.shape,
            channels=scan.headers[0].channel_names(),
            default_channel=first.channel,
            pixel_size_nm=first.pixel_size_nm,
            pixel_size_y_nm=first.pixel_size_y_nm or first.pixel_size_nm,
            z_unit=first.z_unit,
            frame_times=None if any(t is None for t in stamps) else [float(t) for t in stamps],
            acquisition=acquisition,
            frame_pixel_sizes_nm=[im.pixel_size_nm for im in scan.images],
        )

    def read_stack(
        self,
        path: Path,
        *,
        channel: str | None = None,
        lazy: bool = False,
        dtype: Any = np.float32,
        progress: bool | None = None,
        skip_damaged: bool = False,
        **options: Any,
    ) -> AFMImageStack:
        """Read one file as a one-frame stack, or a folder of files as a video.

        Parameters
        ----------
        path : pathlib.Path
            A file of the format, or a folder of them.
        channel : str, optional
            Channel name (case-insensitive); None or ``"height"`` for the default.
        lazy : bool
            Read each frame's file only when the frame is asked for.
        dtype : float32 or float64
            Element type of the values.
        progress : bool, optional
            Show progress bars for this call (True), never (False), or as
            :mod:`afmio.progress` is set (None).
        skip_damaged : bool
            Leave out (with a warning, listed in ``acquisition["damaged_files"]``) the
            member files of a folder whose header or, for an eager read, pixel data is
            damaged. Without it the first damaged file raises, naming itself, its frame
            number and this option.
        **options
            The format's own read options.
        """
        with overriding(progress):
            return self._read(Path(path), channel, lazy, float_dtype(dtype), options, skip_damaged)

    def _read(self, p: Path, channel: str | None, lazy: bool, out_dtype: np.dtype,
              options: Mapping[str, Any], skip_damaged: bool = False) -> AFMImageStack:
        skip = skip_damaged and p.is_dir()
        scan = self.scan(p, channel, skip_damaged=skip, **options)
        data: Any = None
        if not lazy:
            data, scan = self._read_all(p, scan, out_dtype, skip)
        meta, acquisition = self._describe(scan)
        first = scan.images[0]
        if data is None:
            data = _FileFrames(self.codec, scan, out_dtype)
        return AFMImageStack(
            data,
            first.pixel_size_nm,
            first.channel,
            str(p),
            meta,
            pixel_size_y_nm=first.pixel_size_y_nm,
            z_unit=first.z_unit,
            acquisition=acquisition,
        )

    def _read_all(self, p: Path, scan: _Scan, dtype: np.dtype, skip_damaged: bool) -> tuple[np.ndarray, _Scan]:
        """Every frame at once, leaving out damaged member files when ``skip_damaged``."""
        n, (rows, cols) = len(scan.headers), scan.images[0].shape
        on_disk = sum(_size(h.path) for h in scan.headers)
        check_allocation(p, n * rows * cols * dtype.itemsize, f"{n} frames of {rows} x {cols}", on_disk)
        data = np.empty((n, rows, cols), dtype)
        bad: list[int] = []
        for i in progress(range(n), total=n, desc=f"{self.codec.format_name} frames"):
            try:
                _read_into(self.codec, scan.headers[i], scan.images[i], data[i])
            except CorruptFileError as exc:
                if not p.is_dir():
                    raise
                if not skip_damaged:
                    raise _damaged_frame(exc, scan.headers[i].path, i, n) from exc
                bad.append(i)
        if not bad:
            return data, scan
        if len(bad) == n:
            raise CorruptFileError(p, f"every one of the {n} frame files is damaged")
        names = [scan.headers[i].path.name for i in bad]
        _warn_damaged(p, names)
        keep = [i for i in range(n) if i not in set(bad)]
        kept = _Scan(scan.source, [scan.headers[i] for i in keep], [scan.images[i] for i in keep],
                     scan.skipped, scan.order, [*scan.damaged, *names])
        return data[keep], kept

    def _describe(self, scan: _Scan) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Per-frame metadata and whole-video acquisition facts."""
        _check_pixel_sizes(self.codec, scan)
        timing = self.codec.frame_timing(scan.headers, scan.images)
        meta = [
            build_frame_metadata(
                timestamp=ts,
                frame_pixel_size_nm=image.pixel_size_nm,
                frame_duration_s=dur,
                start_epoch_ms=None if header.start_epoch_s is None else header.start_epoch_s * 1000.0,
                scan_direction=header.scan_direction,
                line_rate=header.line_rate,
            )
            for header, image, ts, dur in zip(scan.headers, scan.images, timing.timestamps, timing.durations)
        ]
        acquisition = self.codec.describe(scan.headers, scan.images, timing)
        acquisition["frame_order"] = scan.order
        acquisition["timing_source"] = timing.source
        acquisition["files"] = [h.path.name for h in scan.headers]
        if scan.skipped:
            acquisition["skipped_files"] = list(scan.skipped)
        if scan.damaged:
            acquisition["damaged_files"] = list(scan.damaged)
        return meta, acquisition

    def writes_single_file(self, target: Path) -> bool:
        """True when ``target`` names one file of the format rather than a folder."""
        return self.is_member(target.name)

    def write(self, stack: AFMImageStack, path: Path, *, target: Path | None = None) -> None:
        """Write one file (a one-frame stack) or a folder with one file per frame.

        ``path`` is where to write now (the registry's temporary name); ``target`` is
        the final name, which decides between a file and a folder and names the
        folder's files.
        """
        final = Path(target) if target is not None else Path(path)
        ext = self.codec.write_extension
        if ext is None:
            raise WriteError(final, f"{self.codec.format_name} files cannot be written")
        n = stack.n_frames
        if self.writes_single_file(final):
            if n != 1:
                raise WriteError(
                    final,
                    f"a {ext} file holds one frame but the stack has {n}; save to a folder instead "
                    f"(a path without {ext!r}, with format= naming this format)",
                )
            self.codec.write_image(Path(path), np.asarray(stack.get_frame(0)), _frame_info(stack, 0))
            return
        folder = Path(path)
        folder.mkdir(parents=False, exist_ok=True)
        stem = final.name
        for i, frame in enumerate(progress(stack.iter_frames(), total=n, desc=f"{self.codec.format_name} files")):
            self.codec.write_image(folder / f"{stem}_{i:05d}{ext}", np.asarray(frame), _frame_info(stack, i))


# --------------------------------------------------------------------------- helpers
def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _damaged_frame(exc: CorruptFileError, member: Path, index: int, total: int) -> CorruptFileError:
    """The member's error, saying which frame file it is and how to load the others."""
    return type(exc)(member, f"{exc.detail} (frame file {index + 1} of {total}; pass skip_damaged=True, "
                             "--skip-damaged on the command line, to load the other frames)")


def _warn_damaged(folder: Path, names: list[str]) -> None:
    listed = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    warnings.warn(f"{folder}: skipped {len(names)} damaged frame file(s): {listed}", UserWarning, stacklevel=6)


def _order(headers: list[FrameHeader]) -> tuple[list[FrameHeader], str]:
    """By header start time when every file has one, else natural name order."""
    by_name = sorted(headers, key=lambda h: natural_sort_key(h.path.name))
    if all(h.start_epoch_s is not None for h in by_name):
        rel = all(h.relative_time_s is not None for h in by_name)
        ordered = sorted(
            by_name,
            key=lambda h: (h.start_epoch_s, h.relative_time_s if rel else 0.0),  # stable: ties keep name order
        )
        return ordered, "header date"
    return by_name, "natural name order"


def _majority(values: Sequence[Any]) -> Any:
    return Counter(values).most_common(1)[0][0]


def _check_consistent(headers: list[FrameHeader], images: list[ImageInfo]) -> None:
    """Every frame has the majority's shape and unit; the odd file is named."""
    shapes = [im.shape for im in images]
    usual = _majority(shapes)
    model = headers[shapes.index(usual)].path.name
    for header, im in zip(headers, images):
        if im.shape != usual:
            raise CorruptFileError(
                header.path,
                f"image {im.channel!r} is {im.shape[0]} x {im.shape[1]} pixels but {model} (like most frames) is "
                f"{usual[0]} x {usual[1]}; every frame of a folder must have one shape",
            )
    units = [im.z_unit for im in images]
    usual_unit = _majority(units)
    model = headers[units.index(usual_unit)].path.name
    for header, im in zip(headers, images):
        if im.z_unit != usual_unit:
            raise CorruptFileError(
                header.path, f"image {im.channel!r} is in {im.z_unit!r} but {model} (like most frames) is in "
                f"{usual_unit!r}; every frame of a folder must have one unit",
            )


def _check_pixel_sizes(codec: FrameCodec, scan: _Scan) -> None:
    for header, im in zip(scan.headers, scan.images):
        for value in (im.pixel_size_nm, im.pixel_size_y_nm or im.pixel_size_nm):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise CorruptFileError(
                    header.path,
                    f"image {im.channel!r} has no usable pixel size ({codec.pixel_size_from}: {value!r} nm)",
                )


def default_timing(headers: Sequence[FrameHeader]) -> FrameTiming:
    """The base rule: relative times, else start times, else summed durations, else unknown."""
    n = len(headers)
    declared = [h.frame_duration_s for h in headers]
    for attr, source in (("relative_time_s", "relative frame time"), ("start_epoch_s", "header start time")):
        starts = [getattr(h, attr) for h in headers]
        if all(s is not None for s in starts):
            stamps: list[float | None] = [s - starts[0] for s in starts]
            gaps: list[float | None] = [b - a for a, b in itertools.pairwise(starts)] + [None]
            durations = [d if d is not None else g for d, g in zip(declared, gaps)]
            return FrameTiming(stamps, durations, source)
    if all(d is not None for d in declared):
        cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(declared[:-1], dtype=float))])
        return FrameTiming([float(t) for t in cumulative], declared, "frame durations")
    return FrameTiming([None] * n, declared, "unknown (no times in the headers)")


def _frame_info(stack: AFMImageStack, index: int) -> FrameToWrite:
    return FrameToWrite(
        index=index,
        n_frames=stack.n_frames,
        channel=stack.channel,
        pixel_size_nm=float(stack.scaling_for_frame(index) or stack.pixel_size_nm),
        pixel_size_y_nm=float(stack.pixel_size_y_nm),
        z_unit=stack.z_unit,
        metadata=dict(stack.frame_metadata[index]),
        acquisition=dict(stack.acquisition),
    )
