"""afmio: read and write high-speed AFM videos as one stack of frames in nanometres.

>>> import afmio
>>> stack = afmio.load("movie.asd")                       # doctest: +SKIP
>>> afmio.save(stack, "movie.h5")                         # doctest: +SKIP
>>> [f.name for f in afmio.registry.formats()]            # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import (
    AfmioError,
    ChannelNotFoundError,
    CorruptFileError,
    MissingDependencyError,
    OptionError,
    OverwriteError,
    PathNotFoundError,
    PluginError,
    ReadError,
    ResourceError,
    TruncatedFileError,
    UnknownOptionError,
    UnsupportedFormatError,
    WriteError,
    reading,
)
from .frames import ArrayFrameSource, FrameSource
from .hookspecs import API_VERSION, DriverSpec, ProbeResult, hookimpl
from .metadata import FRAME_METADATA_KEYS, build_frame_metadata
from .registry import Registry
from .stack import AFMImageStack

__all__ = [
    "API_VERSION",
    "FRAME_METADATA_KEYS",
    "AFMImageStack",
    "AfmioError",
    "ArrayFrameSource",
    "ChannelNotFoundError",
    "CorruptFileError",
    "DriverSpec",
    "FrameSource",
    "MissingDependencyError",
    "OptionError",
    "OverwriteError",
    "PathNotFoundError",
    "PluginError",
    "ProbeResult",
    "ReadError",
    "Registry",
    "ResourceError",
    "TruncatedFileError",
    "UnknownOptionError",
    "UnsupportedFormatError",
    "WriteError",
    "__version__",
    "build_frame_metadata",
    "export",
    "hookimpl",
    "load",
    "preview",
    "reading",
    "registry",
    "save",
    "to_dask",
]

#: The shared registry; it discovers installed plugins on first use.
registry = Registry(discover=True)


def load(path: Any, channel: str | None = None, **kwargs: Any) -> AFMImageStack:
    """Load a file or folder with the shared registry (see :meth:`Registry.load`).

    ``dtype="float64"`` keeps an instrument's full precision; ``lazy=True`` reads
    frames on demand.
    """
    return registry.load(path, channel=channel, **kwargs)


def save(stack: AFMImageStack, path: Any, **kwargs: Any) -> Any:
    """Save a stack with the shared registry (see :meth:`Registry.save`)."""
    return registry.save(stack, path, **kwargs)


def preview(stack_or_path: Any, out_png: Any, **kwargs: Any) -> Any:
    """Write a PNG contact sheet of a stack or file; see :func:`afmio_builtins.pictures.contact_sheet.preview`.

    Imported on first use so ``import afmio`` stays light.
    """
    from afmio_builtins.pictures.contact_sheet import preview as _preview

    return _preview(stack_or_path, out_png, **kwargs)


def to_dask(path_or_paths: Any, channel: str | None = None, **kwargs: Any) -> Any:
    """A Dask array over one or several files (needs ``afmio[dask]``; see :mod:`afmio.daskio`)."""
    from .daskio import to_dask as _to_dask

    return _to_dask(path_or_paths, channel, **kwargs)


def export(stack: AFMImageStack, folder: Any, base_name: str | None = None, **kwargs: Any) -> Any:
    """Export a stack in several formats (see :meth:`Registry.export`)."""
    return registry.export(stack, folder, base_name, **kwargs)
