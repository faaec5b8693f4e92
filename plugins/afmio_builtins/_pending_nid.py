"""Declaration of the Nanosurf NID driver until the built-in catalog table lands (issue 15)."""

from __future__ import annotations

from afmio.hookspecs import DriverSpec, hookimpl

_M = "afmio_builtins.nid"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="nid",
            aliases=("nanosurf",),
            description="Nanosurf .nid files (several channels); a folder of them is a video",
            extensions=(".nid",),
            kind="folder",
            member_patterns=("*.nid",),
            read=f"{_M}:read",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
        )
    ]
