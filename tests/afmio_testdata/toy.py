"""In-memory toy plugins for registry tests: a module per plugin, functions by name."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from afmio import AFMImageStack, DriverSpec, hookimpl

_counter = 0


def make_plugin(specs: list[Any], **functions: Callable[..., Any]) -> types.ModuleType:
    """Register a throw-away module exposing ``functions`` and declaring ``specs``.

    In the specs, write function references as ``"@name"``; they are rewritten to
    ``"<module>:name"`` for the generated module.
    """
    global _counter
    _counter += 1
    name = f"afmio_toy_plugin_{_counter}"
    module = types.ModuleType(name)
    for fname, fn in functions.items():
        setattr(module, fname, fn)
    resolved = []
    for spec in specs:
        if isinstance(spec, DriverSpec):
            changes = {
                role: f"{name}:{getattr(spec, role)[1:]}"
                for role in ("read", "write", "probe", "channels", "sniff")
                if isinstance(getattr(spec, role), str) and getattr(spec, role).startswith("@")
            }
            spec = _replace(spec, **changes)
        resolved.append(spec)

    @hookimpl
    def afmio_drivers() -> list[Any]:
        return resolved

    module.afmio_drivers = afmio_drivers
    sys.modules[name] = module
    return module


def _replace(spec: DriverSpec, **changes: Any) -> DriverSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def npy_read(path: Path, *, channel: str | None = None) -> AFMImageStack:
    """A reader for test files made by :func:`npy_write` (plain .npy arrays)."""
    data = np.load(path, allow_pickle=False)
    return AFMImageStack(data, 1.0, channel or "height_trace", str(path))


def npy_write(stack: AFMImageStack, path: Path) -> None:
    with open(path, "wb") as handle:
        np.save(handle, stack.data)


def magic_sniff(magic: bytes) -> Callable[[Path], bool]:
    def sniff(path: Path) -> bool:
        with open(path, "rb") as handle:
            return handle.read(len(magic)) == magic

    return sniff
