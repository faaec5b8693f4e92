"""ASD: RIBM / Ando-lab high-speed AFM movies (``.asd``, header versions 0, 1 and 2).

Reading
-------
``afmio.load("movie.asd", channel=None, lazy=False, allow_truncated=False)``

Channels
    Named by the file's data kind: ``TP`` (topography), ``ER`` (error), ``PH``
    (phase); a kind afmio does not know keeps its two letters (or ``ch1``/``ch2``
    when unreadable). ``channel=None`` or ``"height"`` loads ``TP`` when present,
    else the first channel. Names match without regard to case; ``topography``,
    ``error`` and ``phase`` are accepted as aliases.
Values
    float32, converted from the stored AD levels as AFMReader (and so playNano)
    does, with ``R`` the AD range in volts (9.99 V for code ``0x3``) and ``res``
    the number of levels (``2**bits`` for 8- to 16-bit files, else 4096)::

        unipolar ranges:  value = -raw * R / res * k
        bipolar ranges:   value = (R - 2 * raw * R / res) * k

    with ``k = z_piezo_gain * z_piezo_extension`` for ``TP`` (nm),
    ``-scanner_sensitivity`` for ``ER`` (nm) and ``-phase_sensitivity`` for ``PH``
    (degrees). Topography therefore comes out negative (e.g. -249..0 nm), with
    molecules *above* the substrate (less negative), exactly as in AFMReader;
    level or offset the stack for absolute heights. A kind with no known
    conversion loads as the AD input voltage (``k = -1``, ``z_unit`` ``"V"``)
    with a warning. ``stack.z_unit`` is ``"nm"``, ``"deg"`` or ``"V"``.
Orientation
    Rows as stored: row 0 is the first line in the file (as AFMReader and
    playNano; some viewers flip vertically for display).
Pixel size
    ``x_nm / x_pixels`` (``pixel_size_nm``) and ``y_nm / y_pixels``
    (``pixel_size_y_nm``) from the header's integer scan ranges.
Timing (per-frame metadata, the six playNano keys)
    ``timestamp = i * frame_time``; ``frame_duration_s`` = the header's frame
    time; ``line_rate = y_pixels / frame_duration_s``; ``scan_direction`` None
    (the raw code is in ``acquisition``). ``start_epoch_ms`` follows playNano:
    the header date (no zone in the file) is read as **UTC** and taken as the
    **end** of the recording, so frame 0 starts ``num_frames * frame_duration``
    earlier (truncated to whole ms) and frame *i* ``round(i * frame_duration)`` ms
    after that. An impossible date or frame time gives None.
Acquisition (``stack.acquisition``)
    playNano's ``asd_file_version``, ``asd_scan_direction_raw`` and
    ``asd_channels`` (both kinds, None for a missing second channel), plus the
    operator name and comment decoded with the header's code page
    (``asd_operator``, ``asd_comment``, ``asd_text_encoding``), the header date
    (``asd_recorded``, naive ISO), frame time, scan ranges, AD range and bits,
    piezo and sensitivity factors, machine and file ids, averaging and rounding,
    the v2 extension block (``asd_v2_extension``), the loaded channel and its
    conversion (``asd_conversion``: scale, offset, unit) and the per-frame
    headers: ``asd_frame_headers`` is a dict of lists, one entry per loaded frame
    of the loaded channel, with keys ``frame_number``, ``max_level``,
    ``min_level``, ``x_offset``, ``y_offset``, ``x_tilt``, ``y_tilt`` and
    ``stimulated`` (those that fit the file's frame-header size). It describes
    the frames as loaded; slicing a stack copies it unchanged.

Options
-------
lazy : bool
    Frames are read on demand with positioned reads (``os.preadv``/``os.pread``,
    never a memory map) and converted on access, so walking a movie larger than
    memory takes constant memory. ``.data`` reads everything once.
allow_truncated : bool
    A file shorter than its header promises raises ``TruncatedFileError``; with
    True the complete frames of the chosen channel load, with a warning.

Errors: an unknown version number, impossible sizes or an unknown AD range code
raise ``CorruptFileError`` before any large allocation. Other programs also write
``.asd`` files: one whose first word is not 0, 1 or 2 is declined by ``sniff``, so
``afmio.load`` reports it as not an ASD movie (``format="asd"`` forces the reader
and its ``CorruptFileError``). ``probe`` reads only the header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from afmio.hookspecs import DriverSpec, hookimpl

from . import forward_to

if TYPE_CHECKING:
    from ._asd_impl import AsdFrameSource, channels, probe, read, sniff

__all__ = ["AsdFrameSource", "afmio_drivers", "channels", "probe", "read", "sniff"]

_MOD = "afmio_builtins.asd"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="asd",
            extensions=(".asd",),
            description="RIBM / Ando-lab high-speed AFM movie (v0, v1, v2; TP/ER/PH)",
            read=f"{_MOD}:read",
            probe=f"{_MOD}:probe",
            channels=f"{_MOD}:channels",
            sniff=f"{_MOD}:sniff",
            lazy=True,
        )
    ]


__getattr__ = forward_to("afmio_builtins._asd_impl", __name__)
