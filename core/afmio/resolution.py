"""Choosing a driver for a path: collect the claims, rank them once, then filter.

1. An explicit ``format=`` (a name or an alias) wins outright.
2. Otherwise every driver that claims the path is collected with the strength of
   its claim:

   * a file: the longest of its extensions that ends the name (``.ome.tif`` is
     stronger than ``.tif``), or, for a folder driver, a member pattern matching the
     name (a single frame of a folder format);
   * a folder: a folder driver's extension ending the folder's name (strongest),
     else how many of the folder's files match its member patterns.

3. The claims are ranked once: stronger claim, then higher priority, then name.
4. The ranking is filtered by ``sniff``: the first claimant whose content check does
   not say "not mine" wins. A file nobody claimed (or every claimant declined) goes to
   the drivers whose ``sniff`` recognises its content, by priority then name.

Every other candidate is recorded with its true reason (its content check declined,
it claims only a shorter suffix, it ranked below the winner on priority...), so an
error or ``afmio info -v`` can say exactly what happened.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .drivers import Driver
from .errors import AfmioError, PathNotFoundError, UnsupportedFormatError
from .hookspecs import Role

__all__ = ["Resolution", "find_by_name", "resolve_read", "resolve_write"]

log = logging.getLogger("afmio.resolution")


@dataclass
class Resolution:
    """The chosen driver, why, and every candidate that lost with its reason.

    Attributes
    ----------
    driver : Driver
    reason : str
    rejected : list of (str, str)
        ``(driver name, why it lost)`` for every driver considered.
    claimants : tuple of str
        The drivers that claimed the path (by name or recognised content),
        winner included: the ones worth showing a user.
    """

    driver: Driver
    reason: str
    rejected: list[tuple[str, str]] = field(default_factory=list)
    claimants: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Claim:
    """One driver's claim on a path: what it claims and how strongly (compared as a tuple)."""

    driver: Driver
    label: str  # "claims '.tif'", "3 files match *.jpk"
    strength: tuple[int, int]
    suffix: str = ""  # the extension claimed, when the claim is by name


def _rank(d: Driver) -> tuple[int, str]:
    return (-d.spec.priority, d.name)


def _claim_rank(c: _Claim) -> tuple[int, int, int, str]:
    return (-c.strength[0], -c.strength[1], *_rank(c.driver))


#: Says why a claim lost to a stronger one: ``weaker(loser, winner)``.
Weaker = Callable[[_Claim, _Claim], str]


def _below(loser: _Claim, winner: _Claim, weaker: Weaker) -> str:
    if loser.strength < winner.strength:
        return weaker(loser, winner)
    lp, wp = loser.driver.spec.priority, winner.driver.spec.priority
    if lp < wp:
        return f"{loser.label} too; ranked below {winner.driver.name!r}: lower priority ({lp} < {wp})"
    return f"{loser.label} too; ranked below {winner.driver.name!r}: same priority, later name"


def _pick(
    claims: Sequence[_Claim], path: Path, weaker: Weaker
) -> tuple[_Claim | None, bool | None, list[tuple[str, str]]]:
    """Rank ``claims`` once, then take the first whose sniff does not decline ``path``.

    Returns the winner (or None), its sniff answer and every loser with its reason.
    Claims ranked below the winner are not sniffed: the winner is already known.
    """
    winner: _Claim | None = None
    answer: bool | None = None
    rejected: list[tuple[str, str]] = []
    for claim in sorted(claims, key=_claim_rank):
        if winner is not None:
            rejected.append((claim.driver.name, _below(claim, winner, weaker)))
            continue
        answer = _sniff(claim.driver, path)
        if answer is False:
            rejected.append((claim.driver.name, f"{claim.label}, but its content check declined it"))
        else:
            winner = claim
    return winner, answer, rejected


def find_by_name(drivers: Sequence[Driver], name: str, role: Role) -> Resolution:
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


def _folder_claims(drivers: Sequence[Driver], path: Path, names: list[str]) -> list[_Claim]:
    claims = []
    for d in drivers:
        ext = d.extension_match(path.name)
        if ext is not None:
            claims.append(_Claim(d, f"claims folders named {ext!r}", (1, len(ext)), ext))
            continue
        n = sum(1 for name in names if d.member_match(name)) if d.spec.member_patterns else 0
        if n:
            claims.append(_Claim(d, f"{n} files match {', '.join(d.spec.member_patterns)}", (0, n)))
    return claims


def _fewer_members(loser: _Claim, winner: _Claim) -> str:
    if winner.strength[0] > loser.strength[0]:
        return f"{loser.label}, but {winner.driver.name!r} claims the folder by its name"
    return f"{loser.label} against {winner.strength[1]} for {winner.driver.name!r}"


def _resolve_folder(drivers: Sequence[Driver], path: Path) -> Resolution:
    folder_drivers = [d for d in drivers if d.spec.kind == "folder" and d.can("read")]
    names = _list_files(path)
    claims = _folder_claims(folder_drivers, path, names)
    winner, _, rejected = _pick(claims, path, _fewer_members)
    claimants = tuple(c.driver.name for c in claims)
    if winner is not None:
        if winner.suffix:
            reason = f"folder name ends with {winner.suffix!r}"
        else:
            patterns = ", ".join(winner.driver.spec.member_patterns)
            reason = f"{winner.strength[1]} of {len(names)} files in the folder match {patterns}"
        return Resolution(winner.driver, reason, rejected, claimants)

    raise _no_folder_reader(drivers, path, names, rejected, set(claimants))


def _no_folder_reader(
    drivers: Sequence[Driver], path: Path, names: list[str], rejected: list[tuple[str, str]], claimed: set[str]
) -> UnsupportedFormatError:
    """The error for a folder nobody reads, with a hint when its files are of a file format."""
    unmatched = [(d.name, f"no file in the folder matches {', '.join(d.spec.member_patterns)}")
                 for d in drivers if d.spec.kind == "folder" and d.can("read") and d.spec.member_patterns
                 and d.name not in claimed]
    file_claims = sorted({d.name for d in drivers if d.spec.kind == "file"
                          for name in names if d.extension_match(name)})
    hint = None
    if file_claims:
        hint = (f"this is a folder; its files look like {', '.join(file_claims)} files: "
                "pass one of the files instead")
    elif not names:
        hint = "the folder is empty"
    return UnsupportedFormatError(f"no driver reads the folder {path}", path=path,
                                  candidates=rejected + unmatched, hint=hint)


def _file_claim(d: Driver, name: str) -> _Claim | None:
    ext = d.extension_match(name)
    if ext is not None:
        return _Claim(d, f"claims {ext!r}", (len(ext), 0), ext)
    if d.spec.kind == "folder" and d.member_match(name):
        suffix = Path(name).suffix.lower() or name
        return _Claim(d, f"claims {suffix!r} files as frames of a folder video", (len(suffix), 0), suffix)
    return None


def _shorter_suffix(loser: _Claim, winner: _Claim) -> str:
    return f"claims only the shorter suffix {loser.suffix!r}; {winner.driver.name!r} claims {winner.suffix!r}"


def _by_content(readers: Sequence[Driver], skip: set[str], path: Path) -> tuple[list[Driver], list[tuple[str, str]]]:
    """Drivers (not in ``skip``) whose sniff recognises ``path``, and those that did not."""
    yes, no = [], []
    for d in sorted(readers, key=_rank):
        if d.name in skip or not d.can("sniff"):
            continue
        if _sniff(d, path):
            yes.append(d)
        else:
            no.append((d.name, "its content check did not recognise the file"))
    return yes, no


def _file_reason(winner: _Claim, sniffed: bool | None) -> str:
    single = " (a single frame of a folder format)" if winner.driver.spec.kind == "folder" else ""
    checked = ", content confirmed" if sniffed else ""
    return f"extension {winner.suffix!r}{single}{checked}"


def _no_file_reader(path: Path, claims: Sequence[_Claim], candidates: list[tuple[str, str]]) -> UnsupportedFormatError:
    """The error for a file nobody reads; the folder hint only when a folder format claimed it."""
    folder_claims = [repr(c.driver.name) for c in claims if c.driver.spec.kind == "folder"]
    hint = None
    if folder_claims:
        hint = (f"{', '.join(folder_claims)} reads such files as frames of a video: "
                f"load the whole folder {path.parent} to get a video")
    what = f" (extension {path.suffix!r})" if path.suffix else " (no extension)"
    return UnsupportedFormatError(f"no driver reads {path}{what}", path=path, candidates=candidates, hint=hint)


def _resolve_file(drivers: Sequence[Driver], path: Path) -> Resolution:
    readers = [d for d in drivers if d.can("read")]
    claims = [c for c in (_file_claim(d, path.name) for d in readers) if c is not None]
    claimants = tuple(c.driver.name for c in claims)
    winner, sniffed, rejected = _pick(claims, path, _shorter_suffix)
    if winner is not None:
        return Resolution(winner.driver, _file_reason(winner, sniffed), rejected, claimants)

    # Nothing claimed the name, or every claimant declined: ask the other sniffers.
    yes, unrecognised = _by_content(readers, set(claimants), path)
    if not yes:
        raise _no_file_reader(path, claims, rejected + unrecognised)
    losers = [(d.name, f"also recognised the content; ranked below {yes[0].name!r}") for d in yes[1:]]
    return Resolution(yes[0], "no extension matched; recognised by content", rejected + losers + unrecognised,
                      claimants + tuple(d.name for d in yes))


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
    claims = [_Claim(d, f"claims {ext!r}", (len(ext), 0), ext) for d in writers
              if (ext := d.extension_match(path.name)) is not None]
    if not claims:
        known = sorted({e for d in writers for e in d.spec.extensions})
        raise UnsupportedFormatError(
            f"cannot tell the output format of {path}; give format= or use one of: {', '.join(known)}",
            path=path,
        )
    ranked = sorted(claims, key=_claim_rank)
    chosen = ranked[0]
    rejected = [(c.driver.name, _below(c, chosen, _shorter_suffix)) for c in ranked[1:]]
    claimants = tuple(c.driver.name for c in claims)
    return Resolution(chosen.driver, f"output extension {chosen.suffix!r}", rejected, claimants)
