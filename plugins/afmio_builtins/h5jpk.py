"""JPK ``.h5-jpk`` HS-AFM movies (HDF5 written by JPK SPM software, "JPK SCAN" 3.0).

The file holds ``Measurement_000`` with one ``Channel_*`` group per channel and scan
direction; each group's dataset is ``(pixels, frames)`` integers, one column per
frame, pixels in line order (fast axis varying fastest).

Channels
    ``<name>_trace`` / ``<name>_retrace`` with the name as the file spells it in
    ``channel.name`` (``height_trace``, ``measuredHeight_trace``,
    ``phase_retrace``, ``error_trace``, ``amplitude_retrace``), matched without
    regard to case, so ``measuredheight_trace`` (playNano's spelling) works too.
    The default is ``height_trace`` (else the first). Every channel of the file is
    readable; if a name appears twice, the first group wins.

Values
    ``raw * multiplier + offset`` with the group's ``net-encoder.scaling.*``
    attributes (raw integers straight to the default calibration). When those are
    missing, the chain is composed from ``encoder.scaling.*`` and each
    ``conversion.<slot>.scaling.*`` step (following ``base-calibration-slot``) up
    to ``conversions.default``. Lengths become nm from the declared unit (error
    and amplitude channels in ``m`` too); ``V`` and ``deg`` are kept, and
    ``stack.z_unit`` says which. The unit is never guessed from the data.
    Result: float32, computed in float64 block by block.

Orientation
    Row 0 is the top line (highest y): the stored lines are reversed unless
    ``position-pattern.grid.reflect`` is true -- the same convention as the
    ``jpk`` driver (Gwyddion / AFMReader order), and the row order playNano gives
    for ``.h5-jpk``. Frames may be non-square: ``(jlength, ilength)``.

Pixel size
    ``pixel_size_nm`` = ``grid.ulength / ilength``, ``pixel_size_y_nm`` =
    ``grid.vlength / jlength`` (nm).

Timing
    ``meta-data/start-times`` and ``end-times`` (Unix ms, UTC) give timestamps
    (start differences), durations (end - start) and ``start_epoch_ms``. Without
    them: interval = jlength / ``timing-settings.scanRate``, halved when the
    interlace setting is true. ``line_rate`` = scanRate, ``scan_direction`` =
    ``motion``.

Acquisition facts (``stack.acquisition``)
    ``bidirectional``, ``interlace``, ``timing``, ``start_time`` (the file's text,
    with its UTC offset), ``time_zone``, ``jpk_version``, ``file_format_version``,
    ``scan_rate_hz``, ``duty_cycle``, ``grid_reflect``, ``rows_reversed``,
    ``channels``, ``file_unit``, ``scaling`` (``net-encoder`` or
    ``composed-chain``), ``measurements``. Only the first ``Measurement_*`` group
    is read (a warning says when there are more).

Options
    ``lazy=True`` keeps the file open and decodes frames when touched (close the
    stack, or use it as a context manager).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from afmio.hookspecs import DriverSpec, hookimpl

from . import forward_to

if TYPE_CHECKING:
    from ._h5jpk_impl import channels, probe, read, sniff

__all__ = ["afmio_drivers", "channels", "probe", "read", "sniff"]


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="h5-jpk",
            aliases=("h5jpk",),
            description="JPK .h5-jpk HS-AFM movies (HDF5, JPK SCAN)",
            extensions=(".h5-jpk",),
            read="afmio_builtins.h5jpk:read",
            probe="afmio_builtins.h5jpk:probe",
            channels="afmio_builtins.h5jpk:channels",
            sniff="afmio_builtins.h5jpk:sniff",
            lazy=True,
        )
    ]


__getattr__ = forward_to("afmio_builtins._h5jpk_impl", __name__)
