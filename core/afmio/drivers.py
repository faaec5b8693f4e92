"""A registered driver: a declaration plus where it came from, with lazy imports.

A driver's functions are imported on first use and their signatures read once
(:class:`FunctionSignature`); the registry and the test kit ask that one record which
options a function takes.

Imports need no lock of ours: :func:`importlib.import_module` already serialises the
import of each module, and a global lock would deadlock a driver module whose import
resolves another driver's function (the second import waits on the lock the first holds).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PluginError
from .hookspecs import ROLES, DriverSpec, Role

__all__ = ["Driver", "FormatInfo", "FunctionSignature"]

_POSITIONAL_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD_KINDS = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class FunctionSignature:
    """What a driver function accepts, read once from :func:`inspect.signature`.

    A function whose signature cannot be read (some builtins) is taken to accept
    anything (``known`` is False). A ``__signature__`` set on the function (as the
    picture writers' ``takes_render_options`` does) is honoured.
    """

    parameters: Mapping[str, inspect.Parameter]
    known: bool = True

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> FunctionSignature:
        try:
            return cls(dict(inspect.signature(fn).parameters))
        except (TypeError, ValueError):
            return cls({}, known=False)

    @property
    def has_var_keyword(self) -> bool:
        """True for ``**options``: the function takes any keyword (or its signature is unknown)."""
        return not self.known or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.parameters.values())

    @property
    def keyword_options(self) -> list[str]:
        """Keyword-only parameter names: the options a user may pass, in order."""
        return [n for n, p in self.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def declares(self, name: str) -> bool:
        """True when ``name`` is a parameter by name (``**options`` does not count)."""
        p = self.parameters.get(name)
        return p is not None and p.kind in _KEYWORD_KINDS

    def accepts(self, name: str) -> bool:
        """True when ``name=`` may be passed: declared, or taken by ``**options``."""
        return self.has_var_keyword or self.declares(name)

    def positional_range(self) -> tuple[int, int]:
        """(required, maximum) positional arguments; maximum is large for ``*args``."""
        pos = [p for p in self.parameters.values() if p.kind in _POSITIONAL_KINDS]
        required = sum(1 for p in pos if p.default is inspect.Parameter.empty)
        varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in self.parameters.values())
        return required, (1 << 16) if varargs or not self.known else len(pos)

    def __str__(self) -> str:
        if not self.known:
            return "(...)"
        return str(inspect.Signature(list(self.parameters.values())))


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
    _signatures: dict[str, FunctionSignature] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def names(self) -> tuple[str, ...]:
        """The name and every alias, lower case."""
        return (self.spec.name, *(a.lower() for a in self.spec.aliases))

    def can(self, role: Role) -> bool:
        return self.reference(role) is not None

    def reference(self, role: Role) -> str | None:
        """The ``"module:function"`` declared for ``role``, or None."""
        if role not in ROLES:
            raise ValueError(f"unknown driver role {role!r}; roles: {', '.join(ROLES)}")
        ref: str | None = getattr(self.spec, role)
        return ref

    def function(self, role: Role) -> Callable[..., Any]:
        """Import and return the function declared for ``role`` (``read``, ``write``...)."""
        cached = self._functions.get(role)
        if cached is not None:
            return cached
        ref = self.reference(role)
        if ref is None:
            raise PluginError(self.plugin, f"driver {self.name!r} declares no {role} function")
        module_name, _, attr = ref.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except ImportError as exc:
            raise PluginError(self.plugin, f"driver {self.name!r}: cannot import {ref}: {exc}") from exc
        except AttributeError as exc:
            raise PluginError(self.plugin, f"driver {self.name!r}: {ref} does not exist") from exc
        except Exception as exc:  # the module itself fails at import (a bug in the plugin)
            raise PluginError(
                self.plugin, f"driver {self.name!r}: importing {module_name} raised {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(obj):
            raise PluginError(self.plugin, f"driver {self.name!r}: {ref} is not callable")
        fn: Callable[..., Any] = obj
        self._functions[role] = fn
        return fn

    def import_problems(self) -> list[PluginError]:
        """Import every declared function now; the errors of those that fail (a typo in a reference)."""
        found = []
        for role in ROLES:
            if self.can(role):
                try:
                    self.function(role)
                except PluginError as exc:
                    found.append(exc)
        return found

    def signature(self, role: Role) -> FunctionSignature:
        """The parameters of the function for ``role``, read once and kept."""
        cached = self._signatures.get(role)
        if cached is None:
            cached = self._signatures[role] = FunctionSignature.of(self.function(role))
        return cached

    def extension_match(self, filename: str) -> str | None:
        """The longest declared extension ending ``filename`` (case-insensitive)."""
        name = filename.lower()
        hits = [ext for ext in self.spec.extensions if name.endswith(ext) and len(name) > len(ext)]
        return max(hits, key=len) if hits else None

    def member_match(self, filename: str) -> bool:
        """True when ``filename`` matches one of the folder driver's member patterns."""
        name = filename.lower()
        suffixes, globs = _member_rules(tuple(self.spec.member_patterns))
        return name.endswith(suffixes) or any(fnmatch.fnmatchcase(name, pat) for pat in globs)

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


@functools.lru_cache(maxsize=256)
def _member_rules(patterns: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Member patterns split into plain ``*.ext`` suffixes (a string test) and real globs.

    Resolution asks every folder driver about every file name; fnmatch compiles a
    regular expression per pattern, which costs milliseconds on a process's first load.
    """
    suffixes, globs = [], []
    for pattern in (p.lower() for p in patterns):
        rest = pattern[1:]
        if pattern.startswith("*") and rest and not any(c in rest for c in "*?[]"):
            suffixes.append(rest)
        else:
            globs.append(pattern)
    return tuple(suffixes), tuple(globs)
