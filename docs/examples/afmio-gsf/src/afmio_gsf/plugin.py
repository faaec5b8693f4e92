"""The declaration afmio discovers: one driver, plain data, nothing heavy imported.

The functions are named as ``"module:function"`` strings, so ``afmio formats``
lists this driver without importing :mod:`afmio_gsf.driver`.
"""

from __future__ import annotations

from afmio import DriverSpec, hookimpl


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="gsf",
            aliases=("gwyddion-simple-field",),
            description="Gwyddion Simple Field: one frame per .gsf file, a folder of them as a video",
            # A folder driver: a folder of *.gsf files is a video; a single .gsf file
            # (the extension) loads as a one-frame stack.
            kind="folder",
            extensions=(".gsf",),
            member_patterns=("*.gsf",),
            read="afmio_gsf.driver:read",
            write="afmio_gsf.driver:write",
            probe="afmio_gsf.driver:probe",
            channels="afmio_gsf.driver:channels",
            sniff="afmio_gsf.driver:sniff",
            lazy=True,
        )
    ]
