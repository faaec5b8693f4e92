"""Declaration of the topostats driver (until the built-ins' catalog table lands on main)."""

from __future__ import annotations

from afmio.hookspecs import DriverSpec, hookimpl

_M = "afmio_builtins.topostats"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="topostats",
            description="TopoStats .topostats (HDF5) images; a folder of them as one video",
            extensions=(".topostats",),
            kind="folder",
            member_patterns=("*.topostats",),
            read=f"{_M}:read",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
        )
    ]
