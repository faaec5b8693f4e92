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

from typing import TYPE_CHECKING

from afmio.hookspecs import DriverSpec, hookimpl

from . import forward_to

if TYPE_CHECKING:
    from ._jpk_impl import Tag, channels, probe, read, sniff

__all__ = ["Tag", "afmio_drivers", "channels", "probe", "read", "sniff"]


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="jpk",
            description="JPK .jpk images; a folder of them (NanoRacer HS-AFM) as one video",
            extensions=(".jpk",),
            kind="folder",
            member_patterns=("*.jpk",),
            read="afmio_builtins.jpk:read",
            probe="afmio_builtins.jpk:probe",
            channels="afmio_builtins.jpk:channels",
            sniff="afmio_builtins.jpk:sniff",
            lazy=True,
        )
    ]


__getattr__ = forward_to("afmio_builtins._jpk_impl", __name__)
