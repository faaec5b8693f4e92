"""Atomic output: write beside the target, rename into place only on success."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from .errors import AfmioError, OverwriteError, WriteError

__all__ = [
    "STALE_AFTER_S",
    "atomic_output",
    "full_suffix",
    "remove_stale_temporaries",
    "stale_temporaries",
    "temporary_path_for",
    "temporary_prefix",
]


def full_suffix(path: Path, known: tuple[str, ...] = ()) -> str:
    """Return the longest of ``known`` that ends the name, else the last suffix."""
    name = path.name.lower()
    matches = [ext for ext in known if name.endswith(ext) and len(name) > len(ext)]
    if matches:
        return path.name[-len(max(matches, key=len)) :]
    return path.suffix


#: ``.`` + ``.afmio-`` + 8 hex digits: what a temporary name adds to the target's.
TEMP_EXTRA = 16


def name_max(folder: Path) -> int:
    """The longest file name (bytes) ``folder``'s file system allows (255 when it does not say)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _short_stem(stem: str, room: int) -> str:
    """``stem`` cut to at most ``room`` UTF-8 bytes (on a character boundary)."""
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= room:
        return stem
    return raw[: max(room, 1)].decode("utf-8", "ignore") or "x"


def temporary_prefix(target: Path, suffix: str, tag: str = "afmio") -> tuple[str, str]:
    """``(prefix, suffix)`` of ``target``'s temporary names: ``prefix + 8 hex digits + suffix``.

    The stem is shortened when needed so a temporary name stays within the file system's
    name limit even for a target whose own (legal) name is close to it.
    """
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    room = name_max(target.parent) - len(suffix.encode("utf-8", "surrogateescape")) - (len(tag) + 11)
    return f".{_short_stem(stem, room)}.{tag}-", suffix


def temporary_path_for(target: Path, suffix: str, tag: str = "afmio") -> Path:
    """A hidden sibling of ``target`` that keeps its full suffix (``.x.afmio-1a2b3c4d.ome.tif``)."""
    prefix, suffix = temporary_prefix(target, suffix, tag)
    return target.with_name(f"{prefix}{os.urandom(4).hex()}{suffix}")


def _remove(path: Path) -> None:
    """Best-effort removal of our own temporary (a read-only file system must not mask the real error)."""
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


#: A temporary untouched for this long belongs to a save that was killed, not one in progress.
STALE_AFTER_S = 3600.0


def stale_temporaries(target: Path, suffix: str, *, older_than: float = STALE_AFTER_S) -> list[Path]:
    """afmio's own leftover temporaries for ``target``: exact name pattern, older than ``older_than`` s.

    Only names afmio itself gives this target's temporaries match (``.<stem>.afmio-<8 hex><suffix>``
    and the folder swap's ``.<name>.afmio-old-<8 hex>``); anything else is never listed.
    """
    patterns = []
    for tag, suf in (("afmio", suffix), ("afmio-old", "")):
        prefix, suf = temporary_prefix(target, suf, tag)
        patterns.append(re.compile(re.escape(prefix) + "[0-9a-f]{8}" + re.escape(suf) + r"\Z"))
    now = time.time()
    found = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    for entry in entries:
        if not any(p.match(entry.name) for p in patterns):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if age > older_than and not entry.is_symlink():
            found.append(Path(entry.path))
    return sorted(found)


def remove_stale_temporaries(target: Path, suffix: str) -> list[Path]:
    """Remove :func:`stale_temporaries` of ``target`` (each named in one warning); return them."""
    removed = []
    for path in stale_temporaries(target, suffix):
        _remove(path)
        if not path.exists():
            removed.append(path)
    if removed:
        names = ", ".join(p.name for p in removed)
        warnings.warn(f"removed {len(removed)} temporary file(s) left by an interrupted afmio save of "
                      f"{target}: {names}", RuntimeWarning, stacklevel=4)
    return removed


@contextlib.contextmanager
def atomic_output(target: Path, suffix: str, *, overwrite: bool, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success move it to ``target``, on failure remove it.

    Raises
    ------
    OverwriteError
        ``target`` exists and ``overwrite`` is False.
    WriteError
        The folder cannot be written, the disk is full, or the rename fails.
    """
    if target.exists() and not overwrite:
        raise OverwriteError(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(target, f"cannot create folder {target.parent}: {exc.strerror or exc}") from exc
    remove_stale_temporaries(target, suffix)
    tmp = temporary_path_for(target, suffix)
    try:
        yield tmp
        if not tmp.exists():
            raise WriteError(target, "the writer produced no output")
        if folder or tmp.is_dir():
            _replace_folder(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, AfmioError) or not isinstance(exc, OSError):
            raise
        raise WriteError(target, f"writing failed: {exc.strerror or exc}") from exc


def _replace_folder(tmp: Path, target: Path) -> None:
    """Swap a finished folder into place, keeping the old one until the swap succeeded."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = temporary_path_for(target, "", tag="afmio-old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)
