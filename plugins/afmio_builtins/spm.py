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

from typing import TYPE_CHECKING

from afmio.hookspecs import DriverSpec, hookimpl

from . import forward_to

if TYPE_CHECKING:
    from ._spm_impl import channels, probe, read, sniff

__all__ = ["MEMBER_PATTERNS", "afmio_drivers", "channels", "probe", "read", "sniff"]

MEMBER_PATTERNS = ("*.spm", "*.[0-9][0-9][0-9]")


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="spm",
            aliases=("nanoscope",),
            description="Bruker/Veeco NanoScope .spm/.001 files; a folder of them is a video",
            extensions=(".spm",),
            kind="folder",
            member_patterns=MEMBER_PATTERNS,
            read="afmio_builtins.spm:read",
            probe="afmio_builtins.spm:probe",
            channels="afmio_builtins.spm:channels",
            sniff="afmio_builtins.spm:sniff",
            lazy=True,
        )
    ]


__getattr__ = forward_to("afmio_builtins._spm_impl", __name__)
