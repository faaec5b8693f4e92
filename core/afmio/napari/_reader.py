"""napari reader contributions: any file or folder afmio reads, as lazy image layers."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import PathNotFoundError, UnsupportedFormatError
from ._layers import LayerData, layer_data

__all__ = [
    "get_reader",
    "get_reader_all_channels",
    "open_every_channel",
    "read_all_channels",
    "read_default_channel",
]

ReaderFunction = Callable[[Any], list[LayerData]]


def _may_hold_a_video(folder: Path) -> bool:
    """Cheap first look at a folder: could any afmio folder driver claim it?

    True when a folder driver's extension ends the folder's name (``x.ome.zarr``) or
    one file in it fits a folder driver's member patterns; the listing stops at the
    first such file. napari offers every folder it opens to the plugin, and the
    registry's full choice (every name against every driver, then header checks)
    is only worth running when this says yes.
    """
    from .. import registry

    drivers = [d for d in registry.drivers() if d.spec.kind == "folder" and d.can("read")]
    if any(d.extension_match(folder.name) for d in drivers):
        return True
    patterns = [p.lower() for d in drivers for p in d.spec.member_patterns]
    if not patterns:
        return False
    member = re.compile("|".join(fnmatch.translate(p) for p in patterns))
    try:
        with os.scandir(folder) as entries:
            return any(
                not e.name.startswith(".") and member.match(e.name.lower()) and e.is_file() for e in entries
            )
    except OSError:
        return False


def _claimed(path: Any) -> str | None:
    """The afmio driver that reads ``path``, or None (napari then tries other readers).

    A file goes straight to the registry's choice (extensions, then header checks);
    a folder first passes :func:`_may_hold_a_video`. Neither looks into subfolders.
    """
    if isinstance(path, (list, tuple)):
        # napari passes a list only for "open as stack"; afmio reads one video per path
        if len(path) != 1:
            return None
        path = path[0]
    if not isinstance(path, (str, os.PathLike)):
        return None
    from .. import registry

    p = Path(path)
    if p.is_dir() and not _may_hold_a_video(p):
        return None
    try:
        return registry.resolve(p).driver.name
    except (UnsupportedFormatError, PathNotFoundError):
        return None


def get_reader(path: str | Sequence[str]) -> ReaderFunction | None:
    """napari hook: read the default channel of ``path`` if afmio knows the format."""
    fmt = _claimed(path)
    if fmt is None:
        return None
    return lambda p: read_default_channel(p, format=fmt)


def get_reader_all_channels(path: str | Sequence[str]) -> ReaderFunction | None:
    """napari hook: read every channel of ``path`` as its own layer."""
    fmt = _claimed(path)
    if fmt is None:
        return None
    return lambda p: read_all_channels(p, format=fmt)


def _one_path(path: Any) -> Path:
    return Path(path[0] if isinstance(path, (list, tuple)) else path)


def read_default_channel(path: Any, *, format: str | None = None) -> list[LayerData]:
    """One layer: the file's default channel (topography for most instruments).

    Frames stay on disk until napari shows them.
    """
    from .. import registry

    p = _one_path(path)
    stack = registry.load(p, format=format, lazy=True)
    return [layer_data(stack, channels=registry.channels(p, format=stack.provenance["source"]["driver"]))]


def read_all_channels(path: Any, *, format: str | None = None) -> list[LayerData]:
    """One layer per channel of the file, the default channel first, the others hidden."""
    from .. import registry

    p = _one_path(path)
    first = registry.load(p, format=format, lazy=True)
    fmt = first.provenance["source"]["driver"]
    names = registry.channels(p, format=fmt)
    layers = [layer_data(first, channels=names)]
    for name in names:
        if name.lower() == first.channel.lower():
            continue
        data, kwargs, kind = layer_data(registry.load(p, channel=name, format=fmt, lazy=True), channels=names)
        kwargs["visible"] = False  # all at once would hide each other; the user ticks the one wanted
        layers.append((data, kwargs, kind))
    return layers


def open_every_channel(path: str | os.PathLike[str], whole_folder: bool = False) -> list[LayerData]:
    """Every channel of ``path`` as layers; with ``whole_folder``, of the video its folder holds.

    The function behind the *Open every channel* widget: napari's file dialog lists
    readers by plugin, so the every-channel reader is not offered there.
    """
    target = Path(path).parent if whole_folder else Path(path)
    fmt = _claimed(target)
    if fmt is None:
        raise UnsupportedFormatError(f"afmio reads no video from {target}", path=target)
    return read_all_channels(target, format=fmt)
