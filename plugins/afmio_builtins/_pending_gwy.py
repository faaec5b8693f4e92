"""Declaration of the Gwyddion driver (until the built-ins' catalog table lands on main)."""

from __future__ import annotations

from afmio.hookspecs import DriverSpec, hookimpl

_M = "afmio_builtins.gwy"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="gwy",
            aliases=("gwyddion",),
            description="Gwyddion .gwy images (read and write); a folder of them as one video",
            extensions=(".gwy",),
            kind="folder",
            member_patterns=("*.gwy",),
            read=f"{_M}:read",
            write=f"{_M}:write",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
        )
    ]
