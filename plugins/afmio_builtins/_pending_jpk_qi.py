"""Declaration of the jpk-qi driver (until the built-ins' catalog table lands on main)."""

from __future__ import annotations

from afmio.hookspecs import DriverSpec, hookimpl

_M = "afmio_builtins.jpk_qi"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="jpk-qi",
            aliases=("jpk-qi-image",),
            description="JPK QI .jpk-qi-image maps (image channels); a folder of them as one video",
            extensions=(".jpk-qi-image",),
            kind="folder",
            member_patterns=("*.jpk-qi-image",),
            read=f"{_M}:read",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
        )
    ]
