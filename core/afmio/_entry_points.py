"""A fast reader of one entry-point group, for a quick ``import afmio; formats()``.

``importlib.metadata`` parses every distribution's METADATA with the email package
(tens of milliseconds at start-up). Entry points only need each ``*.dist-info``
folder's ``entry_points.txt`` and the name and version that the folder name carries
(``name-version.dist-info``, fixed by the wheel spec). Anything this reader cannot
see (zipped distributions on ``sys.path``) makes it fall back to
``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["EntryPoint", "entry_points"]


@dataclass(frozen=True)
class EntryPoint:
    """One ``name = module:attr`` line of a group, with the distribution that declared it."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        module_name, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module_name.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def _parse_group(text: str, group: str) -> list[tuple[str, str]]:
    found, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            found.append((name.strip(), value.split("[")[0].strip()))
    return found


def _name_version(folder: str) -> tuple[str, str | None]:
    stem = folder.rsplit(".", 1)[0]  # drop .dist-info / .egg-info
    name, _, rest = stem.partition("-")
    version = rest.split("-")[0] if rest else None
    return name.replace("_", "-").lower(), version


def _fast(group: str) -> list[EntryPoint] | None:
    results: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path:
        base = entry or "."
        if os.path.isfile(base):
            return None  # a zipped path entry: let importlib.metadata handle it
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for folder in sorted(names):
            if not folder.endswith((".dist-info", ".egg-info")):
                continue
            dist, version = _name_version(folder)
            if dist in seen:  # the first distribution of a name on sys.path wins, as in importlib
                continue
            seen.add(dist)
            path = os.path.join(base, folder, "entry_points.txt")
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            for name, value in _parse_group(text, group):
                results.append(EntryPoint(name, value, dist, version))
    return results


def _slow(group: str) -> list[EntryPoint]:
    from importlib.metadata import entry_points as stdlib_entry_points

    out = []
    for ep in stdlib_entry_points(group=group):
        dist = getattr(ep, "dist", None)
        out.append(EntryPoint(ep.name, ep.value, dist.name if dist else None, dist.version if dist else None))
    return out


def entry_points(group: str) -> list[EntryPoint]:
    """Every entry point of ``group`` visible on ``sys.path``."""
    fast = _fast(group)
    return _slow(group) if fast is None else fast
