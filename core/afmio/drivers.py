"""A registered driver: a declaration plus where it came from, with lazy imports."""

from __future__ import annotations

import fnmatch
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import PluginError
from .hookspecs import DriverSpec

__all__ = ["Driver", "FormatInfo"]

_import_lock = threading.Lock()


@dataclass(frozen=True)
class FormatInfo:
    """One row of ``registry.formats()``: what a driver offers and who provides it."""

    name: str
    aliases: tuple[str, ...]
    description: str
    extensions: tuple[str, ...]
    kind: str
    read: bool
    write: bool
    lazy: bool
    priority: int
    plugin: str
    distribution: str | None
    version: str | None
    member_patterns: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extra: str | None = None
    missing: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """Every module the driver requires is installed."""
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        out["available"] = self.available
        return out


def _installed(module: str) -> bool:
    """Whether a top-level module can be imported, found without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Driver:
    """A :class:`DriverSpec` together with the plugin that declared it."""

    spec: DriverSpec
    plugin: str
    distribution: str | None = None
    version: str | None = None
    _functions: dict[str, Callable[..., Any]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def names(self) -> tuple[str, ...]:
        """The name and every alias, lower case."""
        return (self.spec.name, *(a.lower() for a in self.spec.aliases))

    def can(self, role: str) -> bool:
        return getattr(self.spec, role) is not None

    def function(self, role: str) -> Callable[..., Any]:
        """Import and return the function declared for ``role`` (``read``, ``write``...)."""
        cached = self._functions.get(role)
        if cached is not None:
            return cached
        ref = getattr(self.spec, role)
        if ref is None:
            raise PluginError(self.plugin, f"driver {self.name!r} declares no {role} function")
        module_name, _, attr = ref.partition(":")
        with _import_lock:
            try:
                obj: Any = importlib.import_module(module_name)
                for part in attr.split("."):
                    obj = getattr(obj, part)
            except ImportError as exc:
                raise PluginError(
                    self.plugin, f"driver {self.name!r}: cannot import {ref}: {exc}"
                ) from exc
            except AttributeError as exc:
                raise PluginError(self.plugin, f"driver {self.name!r}: {ref} does not exist") from exc
        if not callable(obj):
            raise PluginError(self.plugin, f"driver {self.name!r}: {ref} is not callable")
        self._functions[role] = obj
        return obj

    def extension_match(self, filename: str) -> str | None:
        """The longest declared extension ending ``filename`` (case-insensitive)."""
        name = filename.lower()
        hits = [ext for ext in self.spec.extensions if name.endswith(ext) and len(name) > len(ext)]
        return max(hits, key=len) if hits else None

    def member_match(self, filename: str) -> bool:
        """True when ``filename`` matches one of the folder driver's member patterns."""
        name = filename.lower()
        return any(fnmatch.fnmatchcase(name, pat.lower()) for pat in self.spec.member_patterns)

    def info(self) -> FormatInfo:
        s = self.spec
        return FormatInfo(
            name=s.name,
            aliases=tuple(s.aliases),
            description=s.description,
            extensions=tuple(s.extensions),
            kind=s.kind,
            read=s.read is not None,
            write=s.write is not None,
            lazy=s.lazy,
            priority=s.priority,
            plugin=self.plugin,
            distribution=self.distribution,
            version=self.version,
            member_patterns=tuple(s.member_patterns),
            requires=tuple(s.requires),
            extra=s.extra,
            missing=tuple(m for m in s.requires if not _installed(m)),
        )
