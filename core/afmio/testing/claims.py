"""Checks on what a plugin declares: valid specs, and claims that collide with others.

Both work from declarations alone; no sample file is needed.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..drivers import Driver
from ..hookspecs import ROLES, Role
from ..registry import Registry
from .registries import installed_registry, make_registry

__all__ = ["Collision", "check_claims", "check_declaration"]


_POSITIONAL: dict[Role, int] = {"read": 1, "write": 2, "probe": 1, "channels": 1, "sniff": 1}


def _signature_problems(driver: Driver, role: Role) -> list[str]:
    takes = driver.signature(role)
    if not takes.known:
        return []
    ref = driver.reference(role)
    found = []
    need = _POSITIONAL[role]
    required, maximum = takes.positional_range()
    if not required <= need <= maximum:
        args = "(stack, path)" if role == "write" else "(path)"
        found.append(f"{role} {ref} must take {args} positionally; its signature is {takes}")
    if role == "read":
        if not takes.accepts("channel"):
            found.append(f"read {ref} must accept the keyword channel=")
        if driver.spec.lazy and not takes.accepts("lazy"):
            found.append(f"read {ref} must accept lazy= because the spec says lazy=True")
    return found


def check_declaration(*plugins: Any) -> list[Driver]:
    """Check that ``plugins`` declare valid drivers whose functions exist.

    Each plugin is given as for :func:`~afmio.testing.make_registry` (a module, a
    ``(name, module)`` pair, or the name of an installed entry point or
    distribution). Checks: the plugin imports and registers without problems;
    it declares at least one driver; every spec is valid for this afmio's
    ``api_version``; every ``"module:function"`` it names imports and is callable
    with the contract's signature (``read(path, *, channel=..., lazy=...)``,
    ``write(stack, path, ...)``, ``probe/channels/sniff(path)``).

    Returns
    -------
    list of Driver
        The declared drivers, for further checks.

    Raises
    ------
    AssertionError
        Listing every problem found.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the problems are reported below
        registry = make_registry(*plugins)
        found = [str(p) for p in registry.problems()]
        drivers = registry.drivers()
    if not drivers and not found:
        found.append("the plugin declares no drivers (afmio_drivers() returned nothing)")
    for d in drivers:
        broken = d.import_problems()
        found.extend(str(exc) for exc in broken)
        if not broken:
            found.extend(f"driver {d.name!r}: {text}" for role in ROLES if d.can(role)
                         for text in _signature_problems(d, role))
    if found:
        raise AssertionError("invalid afmio plugin declaration:\n" + "\n".join(f"  - {f}" for f in found))
    return drivers


@dataclass(frozen=True)
class Collision:
    """Two drivers from different plugins claiming the same thing.

    Attributes
    ----------
    driver : str
        The driver under test.
    other : str
        The installed driver it collides with.
    provider : str
        Who provides ``other`` (distribution and version, or plugin name).
    claim : str
        What both claim (``"extension '.tif'"``, ``"name 'tiff'"``...).
    resolution : str
        What afmio's rules would do about it.
    fatal : bool
        True for a name clash: one of the two drivers is set aside.
    """

    driver: str
    other: str
    provider: str
    claim: str
    resolution: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.claim} is also claimed by {self.other!r} ({self.provider}): {self.resolution}"


def _provider(d: Driver) -> str:
    if d.distribution:
        return f"{d.distribution} {d.version or ''}".strip()
    return f"plugin {d.plugin}"


def _why_first(winner: Driver, loser: Driver) -> str:
    if winner.spec.priority != loser.spec.priority:
        return f"priority {winner.spec.priority} > {loser.spec.priority}"
    return f"equal priority {winner.spec.priority}, then name order"


def _rank(d: Driver) -> tuple[int, str]:
    return (-d.spec.priority, d.name)


def _example_name(pattern: str) -> str:
    """A file name that ``pattern`` matches (``*.[0-9][0-9][0-9]`` -> ``a.000``)."""
    out = re.sub(r"\[!?([^\]])[^\]]*\]", lambda m: m.group(1), pattern)
    return out.replace("*", "a").replace("?", "0")


def _pair_collisions(d: Driver, o: Driver) -> list[Collision]:
    out: list[Collision] = []
    prov = _provider(o)
    shared_names = sorted(set(d.names) & set(o.names))
    for name in shared_names:
        out.append(Collision(
            d.name, o.name, prov, f"name {name!r}",
            "names must be unique: discovery keeps the driver registered first (afmio's own plugins, "
            "then other distributions by name) and sets the other aside with a problem in "
            "registry.problems(); to override a driver, declare a new name with a higher priority",
            fatal=True,
        ))
    first, second = sorted((d, o), key=_rank)
    for ext in d.spec.extensions:
        for other_ext in o.spec.extensions:
            if ext == other_ext:
                out.append(Collision(
                    d.name, o.name, prov, f"extension {ext!r}",
                    f"files ending in {ext!r} go to {first.name!r} ({_why_first(first, second)}); "
                    f"{second.name!r} gets them only when the sniff of {first.name!r} declines a file; "
                    f"saving to {ext!r} uses {first.name!r}",
                ))
            elif ext.endswith(other_ext) or other_ext.endswith(ext):
                longer, shorter = (d, o) if len(ext) > len(other_ext) else (o, d)
                long_ext, short_ext = max(ext, other_ext, key=len), min(ext, other_ext, key=len)
                out.append(Collision(
                    d.name, o.name, prov, f"extension {ext!r} against {other_ext!r}",
                    f"files ending in {long_ext!r} go to {longer.name!r} (the longest matching suffix "
                    f"wins, whatever the priority); other {short_ext!r} files go to {shorter.name!r}",
                ))
    for a, b in ((d, o), (o, d)):
        if a.spec.kind != "folder":
            continue
        for pattern in a.spec.member_patterns:
            example = _example_name(pattern)
            if b.spec.kind == "folder" and b.member_match(example):
                out.append(Collision(
                    d.name, o.name, prov, f"folder members {pattern!r} ({a.name!r}) also match "
                    f"{', '.join(b.spec.member_patterns)!r} ({b.name!r})",
                    f"a folder of such files goes to {first.name!r} when both match as many files "
                    f"({_why_first(first, second)}); otherwise to the one matching more files",
                ))
            elif b.spec.kind == "file" and b.extension_match(example):
                out.append(Collision(
                    d.name, o.name, prov, f"single {pattern!r} files ({a.name!r} reads one as a "
                    f"one-frame video) against {b.name!r}'s extension",
                    f"such a file goes to {first.name!r} ({_why_first(first, second)}), unless its sniff "
                    "declines it",
                ))
    unique = {c.claim: c for c in out}  # a folder-folder overlap is seen from both sides
    return list(unique.values())


def check_claims(
    *plugins: Any,
    installed: Registry | None = None,
    allow: Iterable[str] = (),
) -> list[Collision]:
    """Check that a plugin's claims do not silently collide with installed drivers.

    Compares every driver of ``plugins`` with every driver of ``installed`` (by
    default a fresh registry of everything installed, which is what users will
    have) that is not one of the plugin's own: shared names, shared or nested
    extensions (``.tif`` / ``.ome.tif``), overlapping folder member patterns.

    Parameters
    ----------
    *plugins
        As for :func:`~afmio.testing.make_registry`.
    installed : Registry, optional
        The drivers to compare against.
    allow : iterable of str
        Names of installed drivers you collide with on purpose (an override by
        priority, a shared extension decided by ``sniff``). A name clash is never
        allowed.

    Returns
    -------
    list of Collision
        Every collision found, allowed or not, each with the resolution that applies.

    Raises
    ------
    AssertionError
        A collision with a driver not in ``allow``, or any name clash; the message
        says which driver would win and why.
    """
    with warnings.catch_warnings():
        # Plugins set aside elsewhere on the machine are not this plugin's business.
        warnings.simplefilter("ignore", RuntimeWarning)
        own = make_registry(*plugins).drivers()
        installed = installed if installed is not None else installed_registry()
        own_specs = [d.spec for d in own]
        others = [o for o in installed.drivers() if o.spec not in own_specs]
    allowed = {a.lower() for a in allow}
    found = [c for d in own for o in others for c in _pair_collisions(d, o)]
    bad = [c for c in found if c.fatal or c.other.lower() not in allowed]
    if bad:
        lines = [f"  - driver {c.driver!r}: {c}" for c in bad]
        raise AssertionError(
            "the plugin's claims collide with installed drivers:\n" + "\n".join(lines) + "\n"
            "If a collision is intended (an override by priority, a shared extension told apart by "
            "sniff), pass allow=[<driver name>] to check_claims; otherwise change the claim."
        )
    return found
