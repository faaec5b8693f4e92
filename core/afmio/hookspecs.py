"""The plugin contract: what a driver declares and the one hook that declares it.

A plugin is any importable object (usually a module) that implements the hook
:func:`afmio_drivers`, registered under the ``afmio.drivers`` entry-point group. It has
two modules with two jobs: a small *declaration module* that the entry point names and
that returns plain-data :class:`DriverSpec` records, and a *driver module* holding the
code those records name (docs/plugin-guide.md walks through the example plugin)::

    # pyproject.toml of a third-party distribution
    [project.entry-points."afmio.drivers"]
    gsf = "afmio_gsf.plugin"

    # afmio_gsf/plugin.py: the declaration (imports nothing heavy)
    from afmio import DriverSpec, hookimpl

    @hookimpl
    def afmio_drivers():
        return [DriverSpec(name="gsf", extensions=(".gsf",), read="afmio_gsf.driver:read")]

Declarations are plain data. The functions they name (``"module:function"``) are
imported only when a file actually needs them, so listing formats and choosing a
driver never imports heavy libraries. afmio's built-in drivers are declared the same
way, in one table (``afmio_builtins.catalog``), each naming functions of its format's
module (``afmio_builtins.asd``). One-image-per-file formats get every role from
:mod:`afmio.framefiles` once their byte codec is written.

Function signatures a driver provides (every one receives a :class:`pathlib.Path`):

``read(path, *, channel=None, lazy=False, **options) -> AFMImageStack``
    ``channel=None`` means the file's default channel. A driver without lazy support
    ignores ``lazy``.
``write(stack, path, **options) -> None``
    Writes to exactly ``path`` (a temporary name chosen by the registry, which renames
    it into place on success). ``raw=True`` has already been applied. A ``"file"``
    driver writes one file; a ``"folder"`` driver writes a folder at ``path``, except
    when the target's name matches one of its member patterns (``scan.gsf``), which is a
    single-file output. A writer that declares a keyword ``target`` receives the final
    path too (to name the files of a folder output after it); ``target`` is never shown
    to users as an option.
``probe(path) -> ProbeResult``
    Reads headers only.
``channels(path) -> list[str]``
    Channel names as the file spells them.
``sniff(path) -> bool | None``
    A cheap content check: False = not mine, True = mine, None = cannot tell.

The :class:`typing.Protocol` classes below (:class:`ReadFunction`,
:class:`WriteFunction`, ...) spell these out for type checkers; :data:`Role` names the
five roles.

Errors: raise an :class:`~afmio.AfmioError` for anything wrong with the file or the
call (wrap a format library's own exceptions with :class:`afmio.errors.reading`); the
registry turns OS errors into :class:`~afmio.ReadError` / :class:`~afmio.WriteError`
and reports any other exception as a bug in the driver (:class:`~afmio.PluginError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pluggy

if TYPE_CHECKING:
    from .stack import AFMImageStack

__all__ = [
    "API_VERSION",
    "ROLES",
    "ChannelsFunction",
    "DriverSpec",
    "LazyReadFunction",
    "ProbeFunction",
    "ProbeResult",
    "ReadFunction",
    "Role",
    "SniffFunction",
    "WriteFunction",
    "afmio_drivers",
    "hookimpl",
    "hookspec",
]

#: The five things a driver may do; each is a ``"module:function"`` field of :class:`DriverSpec`.
Role = Literal["read", "write", "probe", "channels", "sniff"]
ROLES: tuple[Role, ...] = ("read", "write", "probe", "channels", "sniff")

#: The contract version this afmio implements. A spec declaring another is refused.
API_VERSION = 1

hookspec = pluggy.HookspecMarker("afmio")
hookimpl = pluggy.HookimplMarker("afmio")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")
_MODULE_RE = re.compile(r"^[A-Za-z_]\w*$")
_CALLABLE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class DriverSpec:
    """What a driver claims, as plain data.

    Parameters
    ----------
    name : str
        Unique driver name, lower case (``"asd"``, ``"ome-tiff"``). Used as ``format=``.
    aliases : tuple of str
        Other names accepted as ``format=`` (``("tif", "tiff")``).
    description : str
        One line for ``afmio formats``.
    extensions : tuple of str
        Lower-case suffixes with the dot, possibly multi-part (``".ome.tif"``). For a
        folder driver: the single-file extensions it also accepts, or the folder's own
        suffix (``".ome.zarr"``).
    kind : {"file", "folder"}
        Whether the driver's input (and output) is one file or a folder.
    member_patterns : tuple of str
        Folder drivers: case-insensitive globs over member file names (``"*.jpk"``).
    read, write, probe, channels, sniff : str or None
        ``"module:function"`` references, imported on first use.
    lazy : bool
        ``read`` supports ``lazy=True``.
    priority : int
        Higher wins when two drivers claim the same file equally well.
    requires : tuple of str
        Top-level modules the driver's functions import that may be missing
        (``("zarr",)``); ``afmio formats`` says when one is not installed, without
        importing it.
    extra : str or None
        The optional extra that installs them (``"zarr"`` for ``pip install afmio[zarr]``).
    api_version : int
        The contract version the spec was written for.
    """

    name: str
    extensions: tuple[str, ...] = ()
    kind: Literal["file", "folder"] = "file"
    read: str | None = None
    write: str | None = None
    probe: str | None = None
    channels: str | None = None
    sniff: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    member_patterns: tuple[str, ...] = ()
    lazy: bool = False
    priority: int = 0
    requires: tuple[str, ...] = ()
    extra: str | None = None
    api_version: int = API_VERSION

    def problems(self) -> list[str]:
        """Return what is wrong with this declaration (empty when valid)."""
        found: list[str] = []
        if self.api_version != API_VERSION:
            found.append(
                f"declares api_version {self.api_version!r}, but this afmio "
                f"supports api_version {API_VERSION}"
            )
            return found
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            found.append(f"invalid name {self.name!r} (lower-case letters, digits, '-', '_', '.')")
        for alias in self.aliases:
            if not isinstance(alias, str) or not _NAME_RE.match(alias):
                found.append(f"invalid alias {alias!r}")
        if self.kind not in ("file", "folder"):
            found.append(f"kind must be 'file' or 'folder', not {self.kind!r}")
        for ext in self.extensions:
            if not isinstance(ext, str) or not ext.startswith(".") or ext != ext.lower() or len(ext) < 2:
                found.append(f"extension {ext!r} must be lower case and start with '.'")
        if self.kind == "folder" and not (self.member_patterns or self.extensions):
            found.append("a folder driver needs member_patterns or extensions")
        if self.member_patterns and self.kind != "folder":
            found.append("member_patterns only make sense for kind='folder'")
        if self.read is None and self.write is None:
            found.append("declares neither read nor write")
        for role in ROLES:
            ref = getattr(self, role)
            if ref is not None and (not isinstance(ref, str) or not _CALLABLE_RE.match(ref)):
                found.append(f"{role} must be a 'module:function' string, not {ref!r}")
        if self.lazy and self.read is None:
            found.append("lazy=True without a reader")
        if not isinstance(self.priority, int):
            found.append(f"priority must be an int, not {self.priority!r}")
        if not isinstance(self.requires, tuple) or not all(
            isinstance(m, str) and _MODULE_RE.match(m) for m in self.requires
        ):
            found.append(f"requires must be a tuple of top-level module names, not {self.requires!r}")
        if self.extra is not None and (not isinstance(self.extra, str) or not _NAME_RE.match(self.extra)):
            found.append(f"invalid extra {self.extra!r} (lower-case letters, digits, '-', '_', '.')")
        return found


@dataclass
class ProbeResult:
    """What a header-only look at a file tells.

    Attributes
    ----------
    n_frames : int
    frame_shape : tuple of int
        ``(height, width)`` in pixels.
    channels : list of str
        Channel names as the file spells them.
    default_channel : str or None
        What ``channel=None`` would load.
    pixel_size_nm, pixel_size_y_nm : float or None
        nm per pixel along x and y.
    z_unit : str or None
        Unit of the default channel's values after conversion.
    frame_times : list of float or None
        Seconds since frame 0, when cheap to know.
    acquisition : dict
        Instrument facts (version, scan direction, ...).
    frame_pixel_sizes_nm : list of float or None
        Each frame's own nm per pixel along x, when frames may differ (ARIS,
        folders of frame files); None when every frame has ``pixel_size_nm``.
    """

    n_frames: int
    frame_shape: tuple[int, int]
    channels: list[str] = field(default_factory=list)
    default_channel: str | None = None
    pixel_size_nm: float | None = None
    pixel_size_y_nm: float | None = None
    z_unit: str | None = None
    frame_times: list[float] | None = None
    acquisition: dict[str, Any] = field(default_factory=dict)
    frame_pixel_sizes_nm: list[float] | None = None


class ReadFunction(Protocol):
    """``read(path, *, channel=None, **options) -> AFMImageStack``.

    Extra keyword-only options (``allow_truncated=``, ``dtype=``) are the driver's own;
    ``channel=None`` means the file's default channel.
    """

    def __call__(self, path: Path, /, *, channel: str | None = ...) -> AFMImageStack: ...


class LazyReadFunction(Protocol):
    """A reader declared with ``lazy=True``: it also takes ``lazy=``."""

    def __call__(self, path: Path, /, *, channel: str | None = ..., lazy: bool = ...) -> AFMImageStack: ...


class WriteFunction(Protocol):
    """``write(stack, path, **options) -> None``: write exactly ``path``."""

    def __call__(self, stack: AFMImageStack, path: Path, /) -> None: ...


class ProbeFunction(Protocol):
    """``probe(path) -> ProbeResult``: header-only facts."""

    def __call__(self, path: Path, /) -> ProbeResult: ...


class ChannelsFunction(Protocol):
    """``channels(path) -> list[str]``: channel names as the file spells them."""

    def __call__(self, path: Path, /) -> list[str]: ...


class SniffFunction(Protocol):
    """``sniff(path) -> bool | None``: False = not mine, True = mine, None = cannot tell."""

    def __call__(self, path: Path, /) -> bool | None: ...


@hookspec
def afmio_drivers() -> list[DriverSpec]:  # type: ignore[empty-body]
    """Return the drivers this plugin provides.

    Called once per plugin when the registry discovers plugins. Must be cheap: return
    declarations only, import nothing heavy.
    """
