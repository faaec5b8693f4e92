"""The registry: discovers drivers, chooses one for a path, and runs it safely.

``afmio.registry`` is the shared instance; it discovers plugins from the
``afmio.drivers`` entry-point group the first time it is used. ``Registry()``
builds an isolated instance that sees only the plugins handed to it.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from . import hookspecs
from .atomic import atomic_output, full_suffix
from .drivers import Driver, FormatInfo
from .errors import (
    AfmioError,
    PathNotFoundError,
    PluginError,
    ReadError,
    ResourceError,
    UnknownOptionError,
    UnsupportedFormatError,
    WriteError,
)
from .hookspecs import DriverSpec, ProbeResult, Role
from .liblogs import captured_library_logs
from .limits import LAZY_HINT
from .naming import export_stem, is_safe_layer_name, safe_layer_name
from .resolution import Resolution, find_by_name, resolve_read, resolve_write
from .stack import AFMImageStack

__all__ = ["ENTRY_POINT_GROUP", "PluginProblem", "Registry"]

ENTRY_POINT_GROUP = "afmio.drivers"

log = logging.getLogger("afmio.registry")

PathLike = str | os.PathLike[str]

#: The hook every plugin implements; a near miss (``afmio_driver``) is reported as such.
HOOK_NAME = "afmio_drivers"

#: Keywords the registry itself passes to writers: never shown to users as options.
_REGISTRY_KEYWORDS = frozenset({"target"})


@dataclass(frozen=True)
class PluginProblem:
    """A plugin (or one of its declarations) that was set aside, and why."""

    plugin: str
    detail: str
    distribution: str | None = None

    def __str__(self) -> str:
        dist = f" (from {self.distribution})" if self.distribution else ""
        return f"{self.plugin}{dist}: {self.detail}"


class Registry:
    """Drivers by name, chosen per path, called with errors made clear.

    Parameters
    ----------
    plugins : iterable
        Plugin objects (modules or instances implementing ``afmio_drivers``), or
        ``(name, plugin)`` pairs, registered in order.
    discover : bool
        Also load every plugin of the ``afmio.drivers`` entry-point group (lazily,
        on first use). False gives an isolated registry.
    blocked : iterable of str
        Plugin (entry-point), distribution or driver names never to load: a blocked
        driver name leaves the plugin's other drivers in place.
    """

    def __init__(
        self,
        plugins: Iterable[Any] = (),
        *,
        discover: bool = False,
        blocked: Iterable[str] = (),
    ) -> None:
        self._pm = pluggy.PluginManager("afmio")
        self._pm.add_hookspecs(hookspecs)
        self._pending = list(plugins)
        self._discover = discover
        self._blocked = set(blocked)
        self._drivers: dict[str, Driver] = {}
        self._problems: list[PluginProblem] = []
        self._ready = False
        self._lock = threading.RLock()
        self._tracing: Callable[[], None] | None = None

    # ------------------------------------------------------------------ discovery
    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            for item in self._pending:
                name, plugin = item if isinstance(item, tuple) else (None, item)
                self._add_plugin(plugin, name=name)
            self._pending.clear()
            if self._discover:
                self._discover_entry_points()
            self._ready = True

    def _discover_entry_points(self) -> None:
        from ._entry_points import entry_points

        def order(ep: Any) -> tuple[int, str, str]:
            dist = ep.distribution or ""
            return (0 if dist == "afmio" else 1, dist, ep.name)

        seen: set[tuple[str, str]] = set()
        for ep in sorted(entry_points(ENTRY_POINT_GROUP), key=order):
            if (ep.name, ep.value) in seen:  # the same distribution visible twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            if ep.name in self._blocked or (ep.distribution and ep.distribution in self._blocked):
                continue
            self._load_entry_point(ep.name, ep.value, ep.distribution, ep.version)

    def _load_entry_point(self, name: str, value: str, distribution: str | None, version: str | None) -> None:
        from ._entry_points import EntryPoint

        try:
            plugin = EntryPoint(name, value, distribution, version).load()
        except Exception as exc:
            self._problem(name, f"failed to import {value}: {type(exc).__name__}: {exc}", distribution)
            return
        self._add_plugin(plugin, name=name, distribution=distribution, version=version)

    def _problem(self, plugin: str, detail: str, distribution: str | None = None) -> None:
        problem = PluginProblem(plugin, detail, distribution)
        self._problems.append(problem)
        warnings.warn(f"afmio plugin set aside: {problem}", RuntimeWarning, stacklevel=4)

    def _add_plugin(
        self,
        plugin: Any,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self._blocked:
            return
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # pluggy validation, duplicate plugin name
            self._problem(name, f"cannot register: {exc}", distribution)
            return
        missing = _hook_problem(self._pm, plugin)
        if missing:
            self._pm.unregister(plugin)
            self._problem(name, missing, distribution)
            return
        others = [p for p in self._pm.get_plugins() if p is not plugin]
        try:
            caller = self._pm.subset_hook_caller(HOOK_NAME, remove_plugins=others)
            results = caller()
        except Exception as exc:
            self._problem(name, f"{HOOK_NAME}() raised {type(exc).__name__}: {exc}", distribution)
            self._pm.unregister(plugin)
            return
        specs = [spec for result in results for spec in (result or [])]
        if not specs:
            self._problem(name, f"declares no drivers ({HOOK_NAME}() returned nothing)", distribution)
            self._pm.unregister(plugin)
            return
        for spec in specs:
            self._add_spec(spec, name, distribution, version)

    def _add_spec(self, spec: Any, plugin: str, distribution: str | None, version: str | None) -> None:
        if not isinstance(spec, DriverSpec):
            self._problem(plugin, f"declared {type(spec).__name__}, not a DriverSpec", distribution)
            return
        if spec.name in self._blocked:
            return
        issues = spec.problems()
        if issues:
            self._problem(plugin, f"driver {spec.name!r}: " + "; ".join(issues), distribution)
            return
        taken = {n: d for d in self._drivers.values() for n in d.names}
        clash = [n for n in (spec.name, *spec.aliases) if n.lower() in taken]
        if clash:
            owner = taken[clash[0].lower()]
            self._problem(
                plugin,
                f"driver {spec.name!r}: name {clash[0]!r} is already used by driver "
                f"{owner.name!r} of plugin {owner.plugin!r}; to override a driver, declare a "
                "new name with a higher priority for the same extensions",
                distribution,
            )
            return
        self._drivers[spec.name] = Driver(spec, plugin, distribution, version)

    def register(
        self, plugin: Any, name: str | None = None, *, distribution: str | None = None, version: str | None = None
    ) -> None:
        """Register one more plugin object now (``distribution``/``version`` show in ``formats()``)."""
        self._ensure()
        with self._lock:
            self._add_plugin(plugin, name=name, distribution=distribution, version=version)

    def register_entry_point(
        self, name: str, value: str, *, distribution: str | None = None, version: str | None = None
    ) -> None:
        """Import ``value`` (``"module[:attr]"``) and register it as plugin ``name``.

        An import failure is recorded in :meth:`problems` (with a warning), as in discovery.
        """
        self._ensure()
        with self._lock:
            self._load_entry_point(name, value, distribution, version)

    def enable_tracing(self, writer: Callable[[str], Any] | None = None) -> None:
        """Print pluggy's trace of plugin registration and hook calls (``--debug-plugins``)."""
        out = writer or (lambda text: sys.stderr.write(text))
        self._pm.trace.root.setwriter(out)
        self._tracing = self._pm.enable_tracing()

    # ------------------------------------------------------------------ inspection
    def drivers(self) -> list[Driver]:
        """Every valid driver, sorted by name."""
        self._ensure()
        return sorted(self._drivers.values(), key=lambda d: d.name)

    def driver(self, name: str) -> Driver:
        """The driver called ``name`` (or aliased so)."""
        self._ensure()
        wanted = name.lower()
        for d in self._drivers.values():
            if wanted in d.names:
                return d
        raise UnsupportedFormatError(f"no driver named {name!r}; known: {', '.join(sorted(self._drivers))}")

    def problems(self) -> list[PluginProblem]:
        """Plugins and declarations set aside during discovery."""
        self._ensure()
        return list(self._problems)

    def formats(self) -> list[FormatInfo]:
        """One record per driver: the data behind ``afmio formats``."""
        return [d.info() for d in self.drivers()]

    def resolve(self, path: PathLike, format: str | None = None, *, mode: str = "read") -> Resolution:
        """Choose the driver for ``path``; ``mode`` is ``"read"`` or ``"write"``.

        Returns
        -------
        Resolution
            ``.driver``, ``.reason`` and ``.rejected`` (every loser and why).
        """
        drivers = self.drivers()
        p = Path(path)
        if mode == "write":
            return resolve_write(drivers, p, format)
        return resolve_read(drivers, p, format)

    # ------------------------------------------------------------------ calling drivers
    def _call(self, driver: Driver, role: Role, path: Path, *args: Any, **kwargs: Any) -> Any:
        """Run one driver function under the error policy.

        An :class:`AfmioError` passes as raised; OS errors become
        :class:`PathNotFoundError` / :class:`ReadError` (when writing, the atomic save
        makes them a :class:`WriteError`); running out of memory becomes :class:`ResourceError`; anything else is
        a bug in the driver, reported as :class:`PluginError` naming it (never as a
        damaged file).
        """
        fn = driver.function(role)
        _check_options(driver, role, kwargs)
        try:
            with captured_library_logs(path):
                return fn(*args, **kwargs)
        except AfmioError:
            raise
        except OSError as exc:
            if role == "write":
                raise  # the atomic save turns it into a WriteError after removing the temporary
            if isinstance(exc, FileNotFoundError):
                raise PathNotFoundError(exc.filename or path) from exc
            detail = exc.strerror if isinstance(exc, (PermissionError, IsADirectoryError, NotADirectoryError)) else None
            raise ReadError(path, detail or f"{type(exc).__name__}: {exc}") from exc
        except MemoryError as exc:  # a driver that did not check first (afmio.limits)
            verb = "writing" if role == "write" else "reading"
            raise ResourceError(path, f"out of memory {verb} with driver {driver.name!r} "
                                f"({exc or 'MemoryError'}); {LAZY_HINT}") from exc
        except Exception as exc:
            blame = "the driver or the stack's frame source" if role == "write" else "the driver, not a damaged file"
            raise PluginError(
                driver.plugin,
                f"driver {driver.name!r} failed in {role} on {path}: {type(exc).__name__}: {exc} "
                f"(an unexpected error: a bug in {blame})",
            ) from exc

    def load(
        self, path: PathLike, channel: str | None = None, format: str | None = None, lazy: bool = False,
        *, dtype: Any = None, **options: Any,
    ) -> AFMImageStack:
        """Load a file or folder as an :class:`AFMImageStack`.

        Parameters
        ----------
        path : str or path-like
            A file, or a folder of frame files.
        channel : str, optional
            Channel name (case-insensitive); None or ``"height"`` = the default.
        format : str, optional
            Driver name or alias, overriding the choice by extension and content.
        lazy : bool
            Read frames on demand (drivers that cannot do so load eagerly and say so
            in ``provenance["source"]``).
        dtype : numpy dtype or str, optional
            Element type of the frames (``"float64"`` keeps the full precision of
            instruments that store more than float32 holds). Passed to drivers whose
            reader takes ``dtype=``; for the others the loaded frames are cast, and
            ``provenance["source"]["note"]`` says so. Default: the driver's own.
        **options
            Driver-specific options (e.g. ``allow_truncated=True`` for ASD).
        """
        p = _input_path(path)
        res = self.resolve(p, format)
        driver = res.driver
        kwargs: dict[str, Any] = dict(options)
        if driver.spec.lazy:
            kwargs["lazy"] = lazy
        wanted = None if dtype is None else np.dtype(dtype)
        cast_here = wanted is not None and not driver.signature("read").accepts("dtype")
        if wanted is not None and not cast_here:
            kwargs["dtype"] = wanted
        stack = self._call(driver, "read", p, p, channel=channel, **kwargs)
        if not isinstance(stack, AFMImageStack):
            raise PluginError(driver.plugin, f"driver {driver.name!r} returned {type(stack).__name__}, not a stack")
        notes = []
        if lazy and not driver.spec.lazy:
            notes.append(f"driver {driver.name!r} cannot read lazily; loaded eagerly")
        if cast_here and wanted is not None and stack.dtype != wanted:
            notes.append(f"driver {driver.name!r} has no dtype option; its {stack.dtype} frames were cast to {wanted}")
            stack.convert_dtype(wanted)
        source: dict[str, Any] = {
            "driver": driver.name,
            "plugin": driver.plugin,
            "distribution": driver.distribution,
            "version": driver.version,
            "path": str(p.resolve()),
            "reason": res.reason,
            "lazy": bool(lazy and driver.spec.lazy),
        }
        if notes:
            source["note"] = "; ".join(notes)
        renamed = _escape_layer_names(stack)
        if renamed:
            source["renamed_layers"] = renamed
        previous = stack.provenance.get("source")
        if isinstance(previous, dict) and previous:
            source["previous"] = previous
        stack.provenance["source"] = source
        return stack

    def probe(self, path: PathLike, format: str | None = None) -> ProbeResult:
        """Header-only facts about a file (falls back to a lazy load for drivers without probe)."""
        p = _input_path(path)
        res = self.resolve(p, format)
        if res.driver.can("probe"):
            found = self._call(res.driver, "probe", p, p)
            if not isinstance(found, ProbeResult):
                raise PluginError(res.driver.plugin, f"driver {res.driver.name!r} probe returned "
                                  f"{type(found).__name__}, not a ProbeResult")
            return found
        with self.load(p, format=res.driver.name, lazy=True) as stack:
            return ProbeResult(
                n_frames=stack.n_frames,
                frame_shape=stack.image_shape,
                channels=[stack.channel],
                default_channel=stack.channel,
                pixel_size_nm=stack.pixel_size_nm,
                pixel_size_y_nm=stack.pixel_size_y_nm,
                z_unit=stack.z_unit,
                frame_times=stack.get_frame_times(),
                acquisition=dict(stack.acquisition),
                frame_pixel_sizes_nm=[stack.scaling_for_frame(i) for i in range(stack.n_frames)],
            )

    def channels(self, path: PathLike, format: str | None = None) -> list[str]:
        """Channel names of a file, as the file spells them."""
        p = _input_path(path)
        res = self.resolve(p, format)
        if res.driver.can("channels"):
            return list(self._call(res.driver, "channels", p, p))
        return list(self.probe(p, format=res.driver.name).channels)

    def save(
        self,
        stack: AFMImageStack,
        path: PathLike,
        format: str | None = None,
        overwrite: bool = False,
        raw: bool = False,
        **options: Any,
    ) -> Path:
        """Write ``stack`` to ``path`` atomically.

        Parameters
        ----------
        stack : AFMImageStack
        path : str or path-like
            Output file (or folder, for folder formats).
        format : str, optional
            Output driver name or alias; default from the path's extension.
        overwrite : bool
            Replace an existing output. Without it an existing path raises
            :class:`~afmio.errors.OverwriteError`.
        raw : bool
            Write the ``processed["raw"]`` snapshot (and its frame metadata) instead of
            the current data, when the stack has one.
        **options
            Writer options (``compression=``, ``cmap=``...).

        Returns
        -------
        pathlib.Path
            The written path.
        """
        if not isinstance(stack, AFMImageStack):
            raise TypeError(f"save() needs an AFMImageStack, got {type(stack).__name__}")
        target = Path(os.fspath(path))
        driver = self.resolve(target, format, mode="write").driver
        _require_safe_layer_names(stack, target)
        source = stack.raw_view() if raw else stack
        suffix = full_suffix(target, driver.spec.extensions)
        if driver.signature("write").declares("target"):
            options = {**options, "target": target}  # the final name, for writers that name files after it
        # A folder driver writes a folder, except to a name that is one of its member files
        # (``scan.gwy`` for a frame-per-file format): that is a single-file output.
        folder = driver.spec.kind == "folder" and not driver.member_match(target.name)
        if overwrite and target.is_dir() and not target.is_symlink():
            _require_own_folder(driver, target)
        with atomic_output(target, suffix, overwrite=overwrite, folder=folder) as tmp:
            self._call(driver, "write", target, source, tmp, **options)
        return target

    def export(
        self,
        stack: AFMImageStack,
        folder: PathLike,
        base_name: str | None = None,
        formats: Sequence[str] = ("tif", "npz", "h5"),
        raw: bool = False,
        overwrite: bool = False,
        **options: Any,
    ) -> list[Path]:
        """Write ``stack`` in several formats at once, with playNano's naming.

        Files are ``<folder>/<base>[_filtered]<ext>``; ``_filtered`` is added when the
        stack has processed layers other than ``raw`` and ``raw`` is False.
        Options are passed to each writer that accepts them.
        """
        if isinstance(formats, str):
            formats = [f.strip() for f in formats.split(",") if f.strip()]
        drivers = [find_by_name(self.drivers(), f, "write").driver for f in formats]
        stem = export_stem(base_name, stack.file_path, filtered=not raw and stack.has_processing)
        out_dir = Path(os.fspath(folder))
        written = []
        for d in drivers:
            ext = d.spec.extensions[0] if d.spec.extensions else ""
            takes = d.signature("write")
            accepted = {k: v for k, v in options.items() if takes.accepts(k) and k not in _REGISTRY_KEYWORDS}
            written.append(
                self.save(stack, out_dir / f"{stem}{ext}", format=d.name, overwrite=overwrite, raw=raw, **accepted)
            )
        return written


def _escape_layer_names(stack: AFMImageStack) -> dict[str, str]:
    """Escape unsafe processed-layer and mask names read from a file (afmio.naming); old -> new."""
    renamed: dict[str, str] = {}
    for layers in (stack.processed, stack.masks):
        for key in [k for k in layers if not is_safe_layer_name(k)]:
            new = safe_layer_name(str(key))
            while new in layers:
                new += "_"
            layers[new] = layers.pop(key)
            renamed[str(key)] = new
    return renamed


def _require_safe_layer_names(stack: AFMImageStack, target: Path) -> None:
    """Every writer stores layer names as member/group/array names: refuse unsafe ones up front."""
    for kind, layers in (("processed layer", stack.processed), ("mask", stack.masks)):
        for key in layers:
            if not is_safe_layer_name(key):
                raise WriteError(
                    target, f"{kind} name {key!r} is not a safe name (docs/conventions.md, 'Layer names'); "
                    f"rename it, e.g. to {safe_layer_name(str(key))!r} (afmio.naming.safe_layer_name)"
                )


def _input_path(path: Any) -> Path:
    """``path`` as a Path, or a clear error for what is not a path (file content, a handle...)."""
    if isinstance(path, (bytes, bytearray, memoryview)):
        raise UnsupportedFormatError(
            f"afmio reads a path to a file or folder, not {len(path)} bytes of content; "
            "write them to a file and load that"
        )
    try:
        text = os.fspath(path)
    except TypeError:
        raise UnsupportedFormatError(
            f"afmio reads a path to a file or folder, not a {type(path).__name__}"
        ) from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return Path(text)


def _require_own_folder(driver: Driver, target: Path) -> None:
    """Refuse to replace a folder that is not recognisably ``driver``'s output, even with overwrite.

    ``overwrite=True`` replaces what afmio wrote; a folder of someone's other files
    (a results folder that happens to share the name) is never deleted. Recognised: an
    empty folder, a folder the driver's ``sniff`` claims, or one holding only files that
    match the driver's member patterns (``*.png`` for a PNG sequence).
    """
    try:
        entries = list(target.iterdir())
    except OSError as exc:
        raise WriteError(target, f"cannot inspect the existing folder: {exc.strerror or exc}") from exc
    if not entries:
        return
    if driver.spec.kind == "folder" and driver.can("sniff"):
        try:
            if driver.function("sniff")(target) is True:
                return
        except Exception:  # an unreadable folder is not recognisably ours
            pass
    patterns = driver.spec.member_patterns
    if patterns and all(e.is_file() and not e.is_symlink() and driver.member_match(e.name) for e in entries):
        return
    raise WriteError(
        target, f"is an existing folder that is not {driver.name!r} output afmio can recognise; refusing to "
        "replace its contents even with overwrite=True (remove it yourself or choose another name)"
    )


def _check_options(driver: Driver, role: Role, kwargs: dict[str, Any]) -> None:
    """Refuse an option the driver's function does not take, listing those it does."""
    takes = driver.signature(role)
    for name in kwargs:
        if not takes.accepts(name):
            shown = [o for o in takes.keyword_options if o not in _REGISTRY_KEYWORDS]
            raise UnknownOptionError(driver.name, role, name, shown)


def _hook_problem(pm: pluggy.PluginManager, plugin: Any) -> str | None:
    """Why ``plugin`` (just registered) cannot declare drivers, or None when it can.

    Catches the silent mistakes: a misspelt hook (``afmio_driver``), a hook function
    without the ``@hookimpl`` marker, or no hook at all.
    """
    callers = pm.get_hookcallers(plugin) or []
    unknown = sorted(c.name for c in callers if not c.has_spec())
    if unknown:
        hint = difflib.get_close_matches(unknown[0], [HOOK_NAME], n=1)
        guess = f"; did you mean {HOOK_NAME!r}?" if hint else f"; the afmio hook is {HOOK_NAME!r}"
        return f"implements unknown hook {', '.join(repr(u) for u in unknown)}{guess}"
    if any(c.name == HOOK_NAME for c in callers):
        return None
    if callable(getattr(plugin, HOOK_NAME, None)):
        return f"{HOOK_NAME} is not marked with @afmio.hookimpl, so pluggy does not see it"
    names = [n for n in dir(plugin) if not n.startswith("_")]
    near = difflib.get_close_matches(HOOK_NAME, names, n=1, cutoff=0.75)
    guess = f"; {near[0]!r} looks like a misspelling of it" if near else ""
    return f"implements no {HOOK_NAME} hook{guess}"
