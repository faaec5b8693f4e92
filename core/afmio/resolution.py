"""Choosing a driver for a path, as a few fast paths read top to bottom.

1. An explicit ``format=`` (a name or an alias) wins outright.
2. A folder: a folder driver whose extension ends the folder's name (``x.ome.zarr``)
   wins; otherwise the folder driver whose member patterns match the most files in
   it (ties: higher priority, then name).
3. A file: the drivers whose extension is the longest suffix of its name
   (``.ome.tif`` before ``.tif``), plus folder drivers whose member patterns match
   the name (a single frame of a folder format), with ``sniff`` removing those
   that say "not mine"; then higher priority, then name.
4. Nothing claimed the name: every driver's ``sniff`` is asked; the True answers
   win, by priority then name.

Each step records every candidate and why it lost, so an error (or ``afmio info``)
can say exactly what happened.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .drivers import Driver
from .errors import AfmioError, PathNotFoundError, UnsupportedFormatError

__all__ = ["Resolution", "find_by_name", "resolve_read", "resolve_write"]

log = logging.getLogger("afmio.resolution")


@dataclass
class Resolution:
    """The chosen driver, why, and every candidate that lost with its reason."""

    driver: Driver
    reason: str
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _rank(d: Driver) -> tuple[int, str]:
    return (-d.spec.priority, d.name)


def find_by_name(drivers: Sequence[Driver], name: str, role: str) -> Resolution:
    """Step 1: the driver called ``name`` (or aliased so) that can ``role``."""
    wanted = name.strip().lower()
    matches = [d for d in drivers if wanted in d.names]
    able = sorted((d for d in matches if d.can(role)), key=_rank)
    if able:
        chosen = able[0]
        how = "name" if wanted == chosen.name else f"alias of {chosen.name!r}"
        return Resolution(chosen, f"format={name!r} given ({how})")
    if matches:
        raise UnsupportedFormatError(f"format {name!r} cannot {role}")
    known = sorted({n for d in drivers if d.can(role) for n in d.names})
    raise UnsupportedFormatError(f"unknown format {name!r}; formats that can {role}: {', '.join(known)}")


def _sniff(driver: Driver, path: Path) -> bool | None:
    if not driver.can("sniff"):
        return None
    try:
        answer = driver.function("sniff")(path)
    except AfmioError:
        return False
    except Exception as exc:  # a broken sniff must not break resolution
        log.warning("sniff of driver %r failed on %s: %s", driver.name, path, exc)
        return None
    return None if answer is None else bool(answer)


def _list_files(path: Path) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [e.name for e in entries if not e.name.startswith(".") and e.is_file()]
    except OSError as exc:
        raise PathNotFoundError(path, f"cannot list folder: {exc.strerror or exc}") from exc


def _resolve_folder(drivers: Sequence[Driver], path: Path) -> Resolution:
    rejected: list[tuple[str, str]] = []
    folder_drivers = [d for d in drivers if d.spec.kind == "folder" and d.can("read")]
    by_ext = [d for d in folder_drivers if d.extension_match(path.name)]
    for d in sorted(by_ext, key=_rank):
        if _sniff(d, path) is False:
            rejected.append((d.name, "its content check said the folder is not its format"))
            continue
        ext = d.extension_match(path.name)
        return Resolution(d, f"folder name ends with {ext!r}", rejected)

    names = _list_files(path)
    counts = []
    for d in folder_drivers:
        if not d.spec.member_patterns:
            continue
        n = sum(1 for name in names if d.member_match(name))
        if n:
            counts.append((n, d))
        else:
            patterns = ", ".join(d.spec.member_patterns)
            rejected.append((d.name, f"no file in the folder matches {patterns}"))
    counts.sort(key=lambda item: (-item[0], *_rank(item[1])))
    for n, d in counts:
        if _sniff(d, path) is False:
            rejected.append((d.name, f"{n} matching files, but its content check declined"))
            continue
        for m, other in counts:
            if other is not d:
                rejected.append((other.name, f"matches {m} files against {n} for {d.name!r}"
                                 if m < n else f"ties at {m} files; lower priority or later name"))
        return Resolution(d, f"{n} of {len(names)} files in the folder match {', '.join(d.spec.member_patterns)}",
                          rejected)

    file_claims = sorted({d.name for d in drivers if d.spec.kind == "file"
                          for name in names if d.extension_match(name)})
    hint = None
    if file_claims:
        hint = (f"this is a folder; its files look like {', '.join(file_claims)} files: "
                "pass one of the files instead")
    elif not names:
        hint = "the folder is empty"
    raise UnsupportedFormatError(f"no driver reads the folder {path}", path=path,
                                 candidates=rejected, hint=hint)


def _resolve_file(drivers: Sequence[Driver], path: Path) -> Resolution:
    rejected: list[tuple[str, str]] = []
    readers = [d for d in drivers if d.can("read")]
    # Group claims by the length of the suffix that matched; longer claims first.
    claims: dict[int, list[tuple[Driver, str]]] = {}
    for d in readers:
        ext = d.extension_match(path.name)
        if ext is None and d.spec.kind == "folder" and d.member_match(path.name):
            ext = Path(path.name).suffix.lower() or path.name
        if ext is not None:
            claims.setdefault(len(ext), []).append((d, ext))
    for length in sorted(claims, reverse=True):
        group = sorted(claims[length], key=lambda item: _rank(item[0]))
        for d, ext in group:
            answer = _sniff(d, path)
            if answer is False:
                rejected.append((d.name, f"claims {ext!r}, but its content check declined this file"))
                continue
            for other, _ in group:
                if other is not d and other.name not in {r[0] for r in rejected}:
                    rejected.append((other.name, f"also claims {ext!r}; lower priority or later name"))
            single = " (a single frame of a folder format)" if d.spec.kind == "folder" else ""
            checked = ", content confirmed" if answer else ""
            return Resolution(d, f"extension {ext!r}{single}{checked}", rejected)
        for shorter in claims:
            if shorter < length:
                for d, ext in claims[shorter]:
                    rejected.append((d.name, f"claims only the shorter suffix {ext!r}"))
                break

    # Step 4: nothing claimed the name (or every claim declined): ask every sniffer.
    yes = []
    for d in sorted(readers, key=_rank):
        if any(d is r for group in claims.values() for r, _ in group):
            continue
        answer = _sniff(d, path)
        if answer:
            yes.append(d)
        elif d.can("sniff"):
            rejected.append((d.name, "its content check did not recognise the file"))
    if yes:
        for other in yes[1:]:
            rejected.append((other.name, f"also recognised the content; {yes[0].name!r} has priority"))
        return Resolution(yes[0], "no extension matched; recognised by content", rejected)

    folder_hint = None
    parent_claims = [d.name for d in readers if d.spec.kind == "folder" and d.member_match(path.name)]
    if parent_claims:
        folder_hint = f"load the whole folder {path.parent} to get a video"
    raise UnsupportedFormatError(
        f"no driver reads {path}" + (f" (extension {path.suffix!r})" if path.suffix else " (no extension)"),
        path=path,
        candidates=rejected,
        hint=folder_hint,
    )


def _kind_of_special(path: Path) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a broken symbolic link" if os.path.islink(path) else None
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    for test, kind in kinds:
        if test(mode):
            return kind
    return None


def _require_file_or_folder(path: Path) -> None:
    kind = _kind_of_special(path)
    if kind is not None:
        link = f" (a symbolic link to {os.path.realpath(path)})" if os.path.islink(path) else ""
        raise UnsupportedFormatError(
            f"{path}{link} is {kind}, not a regular file or folder; afmio reads files and folders", path=path
        )


def resolve_read(drivers: Sequence[Driver], path: Path, fmt: str | None = None) -> Resolution:
    """Choose the driver that reads ``path`` (see the module docstring for the rules)."""
    _require_file_or_folder(path)
    if fmt:
        res = find_by_name(drivers, fmt, "read")
        if not path.exists():
            raise PathNotFoundError(path)
        return res
    if path.is_dir():
        return _resolve_folder(drivers, path)
    if path.is_file():
        return _resolve_file(drivers, path)
    raise PathNotFoundError(path)


def resolve_write(drivers: Sequence[Driver], path: Path, fmt: str | None = None) -> Resolution:
    """Choose the driver that writes ``path``: ``format=`` or the longest matching extension."""
    if fmt:
        return find_by_name(drivers, fmt, "write")
    writers = [d for d in drivers if d.can("write")]
    hits: list[tuple[str, Driver]] = []
    for d in writers:
        ext = d.extension_match(path.name)
        if ext:
            hits.append((ext, d))
    if not hits:
        known = sorted({e for d in writers for e in d.spec.extensions})
        raise UnsupportedFormatError(
            f"cannot tell the output format of {path}; give format= or use one of: {', '.join(known)}",
            path=path,
        )
    hits.sort(key=lambda item: (-len(item[0]), *_rank(item[1])))
    ext, chosen = hits[0]
    rejected = [(d.name, f"claims {e!r} too; lower priority or shorter suffix") for e, d in hits[1:]]
    return Resolution(chosen, f"output extension {ext!r}", rejected)
