"""Declarations: a new format, and an override of the built-in ``.npz`` driver by priority."""

from __future__ import annotations

from afmio import DriverSpec, hookimpl


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="toy",
            extensions=(".toy",),
            description="Toy frames: one text line, then float32 values",
            read="afmio_toy.formats:read_toy",
            write="afmio_toy.formats:write_toy",
            sniff="afmio_toy.formats:sniff_toy",
        ),
        # Same extension as the built-in "npz" driver, higher priority: toy archives come
        # here; for any other .npz the sniff says "not mine" and the built-in reads it.
        DriverSpec(
            name="toy-npz",
            extensions=(".npz",),
            description="NumPy archives holding a toy_frames array",
            read="afmio_toy.formats:read_toy_npz",
            write="afmio_toy.formats:write_toy_npz",
            sniff="afmio_toy.formats:sniff_toy_npz",
            priority=10,
        ),
    ]
