"""Bruker / Veeco NanoScope files: a folder of frames becomes one video.

Driver ``spm`` (alias ``nanoscope``). Reads binary NanoScope files of every
generation (versions 5 to 9 write differently cased keys: ``Scan rate`` /
``Scan Rate``; keys are matched without regard to case)::

    afmio.load(folder, channel=None, lazy=False, direction=None,
               dtype="float32", allow_truncated=False)

``lazy=True`` reads headers now and each frame's file only when the frame is used.

Input
    A folder whose members match ``*.spm``, ``*.di`` (Digital Instruments' name for
    the same files) or ``*.NNN`` (three digits: ``.001``, ``.002``...) becomes one
    stack, one frame per file. A single such file loads as
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

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from afmio.errors import ChannelNotFoundError, OptionError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, FrameTiming, ImageInfo
from afmio.ioutil import read_exact

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

__all__ = ["MEMBER_PATTERNS", "NanoscopeCodec", "channels", "probe", "read", "sniff"]

DEFAULT_ORDER = ("Height Sensor", "Height")
_SCAN_DIRECTIONS = {"down": "topDown", "up": "bottomUp"}


@dataclass(frozen=True)
class _File:
    """The parsed header of one file and the line direction the caller asked for."""

    header: NanoscopeHeader
    direction: LineDirection | None
    z: dict[int, ZScale]

    def image(self, info: ImageInfo) -> ImageHeader:
        return self.header.images[info.key]


def _parse_direction(direction: str | None) -> LineDirection | None:
    if direction is None:
        return None
    try:
        return LineDirection.parse(direction)
    except ValueError:
        raise OptionError(f"direction must be 'trace', 'retrace' or None, not {direction!r}") from None


def _scan_direction(text: str | None) -> str | None:
    if text is None:
        return None
    return _SCAN_DIRECTIONS.get(text.strip().lower(), text.strip())


def _image_info(header: NanoscopeHeader, position: int, im: ImageHeader, z: ZScale) -> ImageInfo:
    px = im.pixel_size_nm or (float("nan"), float("nan"))
    facts: dict[str, Any] = {
        "channel_internal_name": im.internal_name,
        "line_direction": im.line_direction.value,
        "samples_per_line": im.samples_per_line,
        "lines": im.lines,
        "scan_size_nm": list(im.scan_size_nm) if im.scan_size_nm else None,
        "bytes_per_pixel": int(im.pixel_width),
        "z_scale": z.z_scale,
        "z_sensitivity": z.sensitivity,
        "z_offset_ignored": im.section.at("Z offset"),
    }
    if z.note:
        facts["z_scale_note"] = z.note
    return ImageInfo(im.channel, (im.rows, im.cols), px[0], px[1], z.unit, facts, key=position)


class NanoscopeCodec(FrameCodec):
    """One NanoScope file: its ``\\*Ciao image list`` sections as images."""

    format_name = "NanoScope"
    member_patterns = MEMBER_PATTERNS
    default_order = DEFAULT_ORDER
    pixel_size_from = "'Scan Size' over 'Samps/line' and 'Number of lines'"

    def sniff(self, path: Path) -> bool | None:
        try:
            with open(path, "rb") as fh:
                return has_magic(fh.read(len(MAGIC)))
        except OSError:
            return None

    def read_header(
        self, path: Path, *, direction: str | None = None, allow_truncated: bool = False
    ) -> FrameHeader:
        """Parse the text header (``direction`` and ``allow_truncated`` as in the module docstring)."""
        wanted = _parse_direction(direction)
        header = read_header(path)
        if not allow_truncated:  # a file cut short is an incomplete copy, even if the wanted image survived
            for im in header.images:
                header.check_data(im)
        z = {i: header.z_scale(im) for i, im in enumerate(header.images)}
        images = [_image_info(header, i, im, z[i]) for i, im in enumerate(header.images)]
        first = header.images[0] if header.images else None
        return FrameHeader(
            path=Path(path),
            images=images,
            start_epoch_s=header.epoch_s,
            relative_time_s=None if first is None else first.relative_frame_time,
            line_rate=header.scan_rate,
            scan_direction=None if first is None else _scan_direction(first.frame_direction),
            acquisition={
                "nanoscope_version": header.version,
                "instrument": header.global_value("Description"),
                "capture_direction": header.global_value("Capture direction"),
                "line_direction_requested": None if wanted is None else wanted.value,
            },
            aliases={im.internal_name.lower(): im.channel for im in header.images if im.internal_name},
            private=_File(header, wanted, z),
        )

    def choose_image(self, header: FrameHeader, channel: str, like: ImageInfo | None) -> ImageInfo:
        """The channel's image in the requested direction; by default Trace, else the one
        stored, with every later file following the first file's choice."""
        private: _File = header.private
        images = [info for info in header.images if info.channel == channel]
        wanted = private.direction
        if wanted is None and like is not None:
            wanted = LineDirection(like.facts["line_direction"])
        if wanted is not None:
            for info in images:
                if private.image(info).line_direction is wanted:
                    return info
            stored = [f"{info.channel} ({info.facts['line_direction']})" for info in header.images]
            raise ChannelNotFoundError(header.path, f"{channel} ({wanted.value})", stored)
        for info in images:
            if private.image(info).line_direction is LineDirection.TRACE:
                return info
        return images[0]

    def frame_timing(self, headers: Sequence[FrameHeader], images: Sequence[ImageInfo]) -> FrameTiming:
        """``Relative frame time`` when every file has it, else lines / scan rate.

        The header ``Date`` has whole-second resolution, so it orders the files but
        does not time them.
        """
        rel = [h.private.image(im).relative_frame_time for h, im in zip(headers, images)]
        if all(r is not None for r in rel):
            stamps: list[float | None] = [r - rel[0] for r in rel]
            durations: list[float | None] = [b - a for a, b in itertools.pairwise(rel)] + [None]
            return FrameTiming(stamps, durations, "relative frame time")
        rate = headers[0].line_rate
        if rate:
            interval = images[0].shape[0] / rate
            n = len(headers)
            return FrameTiming([i * interval for i in range(n)], [interval] * n, "lines / scan rate")
        return FrameTiming([None] * len(headers), [None] * len(headers),
                           "unknown (no relative frame time, no scan rate)")

    def describe(
        self, headers: Sequence[FrameHeader], images: Sequence[ImageInfo], timing: FrameTiming
    ) -> dict[str, Any]:
        facts = super().describe(headers, images, timing)
        if headers[0].private.direction is None and images[0].facts["line_direction"] != LineDirection.TRACE.value:
            facts["line_direction_note"] = (
                f"no Trace image of {images[0].channel!r} in the file; loaded the {facts['line_direction']} image"
            )
        return facts

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        """The image's integers times the Z scale factor, rows flipped to Gwyddion's orientation."""
        private: _File = header.private
        im = private.image(image)
        with open(header.path, "rb") as fh:
            fh.seek(im.data_offset)
            buf = read_exact(fh, im.n_bytes, header.path, f"the data of image {im.index} ({im.channel!r})")
        raw = np.frombuffer(buf, dtype=im.pixel_width.dtype).reshape(im.rows, im.cols)
        return raw[::-1] * private.z[image.key].factor


_driver = FramePerFileDriver(NanoscopeCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
