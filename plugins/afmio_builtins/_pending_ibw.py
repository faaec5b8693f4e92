"""Declaration of the ibw driver (until the built-ins' catalog table lands on main)."""

from __future__ import annotations

from afmio.hookspecs import DriverSpec, hookimpl

_M = "afmio_builtins.ibw"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="ibw",
            aliases=("asylum", "igor"),
            description="Asylum Research Igor binary wave .ibw images; a folder of them as one video",
            extensions=(".ibw",),
            kind="folder",
            member_patterns=("*.ibw",),
            read=f"{_M}:read",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
        )
    ]
