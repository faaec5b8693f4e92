"""Declaration of the Park Systems TIFF driver until the built-in catalog table lands (issue 15)."""

from __future__ import annotations

from afmio.hookspecs import DriverSpec, hookimpl

_M = "afmio_builtins.park"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="park",
            aliases=("psia", "park-tiff"),
            description="Park Systems TIFF (private tags 50432-50441); a folder of them is a video",
            extensions=(".tif", ".tiff"),
            kind="folder",
            member_patterns=("*.tif", "*.tiff"),
            read=f"{_M}:read",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
            # Above ome-tiff, which also claims .tif/.tiff: the content check declines
            # every TIFF without Park's magic tag, and those go on to ome-tiff.
            priority=10,
        )
    ]
