"""Registries for plugin tests: isolated ones, and the one the installed plugins make.

A plugin's tests must not depend on whatever else happens to be installed, so
:func:`make_registry` builds a :class:`~afmio.Registry` that sees exactly the
plugins it is given and nothing discovered. :func:`installed_registry` is the
opposite: every installed plugin, as ``afmio.registry`` would see them; the
collision check compares a plugin against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..hookspecs import DriverSpec, hookimpl
from ..registry import ENTRY_POINT_GROUP, Registry

__all__ = ["SpecPlugin", "find_entry_points", "installed_registry", "make_registry"]


def _normalise(name: str) -> str:
    # PEP 503 normalisation, so "afmio_gsf" names the distribution "afmio-gsf".
    return re.sub(r"[-_.]+", "-", name).lower()


def find_entry_points(name: str) -> list[EntryPoint]:
    """Entry points of the ``afmio.drivers`` group called ``name``.

    ``name`` is an entry-point name (``"gsf"``) or a distribution name
    (``"afmio-gsf"``, meaning every entry point it declares in the group).

    Raises
    ------
    LookupError
        Nothing installed matches; the message lists what is installed.
    """
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    found = [ep for ep in eps if ep.name == name]
    if not found:
        wanted = _normalise(name)
        found = [ep for ep in eps if ep.dist is not None and _normalise(ep.dist.name) == wanted]
    if not found:
        known = sorted({f"{ep.name} ({ep.dist.name if ep.dist else '?'})" for ep in eps})
        raise LookupError(
            f"no installed afmio plugin called {name!r} (entry-point group {ENTRY_POINT_GROUP!r}); "
            f"installed: {', '.join(known) or '(none)'}"
        )
    unique: dict[tuple[str, str], EntryPoint] = {}
    for ep in found:  # the same distribution can be visible twice on sys.path
        unique.setdefault((ep.name, ep.value), ep)
    return list(unique.values())


class SpecPlugin:
    """A plugin declaring exactly the given driver specs."""

    def __init__(self, *specs: DriverSpec) -> None:
        self.specs = specs

    @hookimpl
    def afmio_drivers(self) -> list[DriverSpec]:
        return list(self.specs)


def make_registry(*plugins: Any, blocked: Iterable[str] = ()) -> Registry:
    """An isolated registry holding only ``plugins`` (no ambient discovery).

    Parameters
    ----------
    *plugins
        Each one a plugin object (usually the module implementing
        ``afmio_drivers``), a ``(name, plugin)`` pair, a :class:`~afmio.DriverSpec`
        (all specs given are registered together as one plugin, so a test can hold
        one built-in driver on its own), or a string naming an
        installed entry point or distribution of the ``afmio.drivers`` group. Strings
        are loaded through :mod:`importlib.metadata`, so the registry records the
        distribution name and version exactly as discovery would.
    blocked : iterable of str
        Plugin names to refuse (as ``Registry(blocked=...)``).

    Returns
    -------
    Registry
        Problems (a plugin that fails to import, an invalid declaration) are listed
        by ``registry.problems()``, as for the shared registry.
    """
    registry = Registry(blocked=blocked)
    specs = [item for item in plugins if isinstance(item, DriverSpec)]
    if specs:
        registry.register(SpecPlugin(*specs), name="+".join(s.name for s in specs))
    for item in plugins:
        if isinstance(item, DriverSpec):
            continue
        if isinstance(item, str):
            for ep in find_entry_points(item):
                dist = ep.dist.name if ep.dist is not None else None
                version = ep.dist.version if ep.dist is not None else None
                registry.register_entry_point(ep.name, ep.value, distribution=dist, version=version)
        elif isinstance(item, tuple):
            registry.register(item[1], name=item[0])
        else:
            registry.register(item)
    return registry


def installed_registry(blocked: Iterable[str] = ()) -> Registry:
    """A fresh registry of every installed plugin, as ``afmio.registry`` discovers them."""
    return Registry(discover=True, blocked=blocked)
