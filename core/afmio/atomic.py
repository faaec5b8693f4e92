"""Atomic output: write beside the target, rename into place only on success."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import AfmioError, OverwriteError, WriteError

__all__ = ["atomic_output", "full_suffix", "temporary_path_for"]


def full_suffix(path: Path, known: tuple[str, ...] = ()) -> str:
    """Return the longest of ``known`` that ends the name, else the last suffix."""
    name = path.name.lower()
    matches = [ext for ext in known if name.endswith(ext) and len(name) > len(ext)]
    if matches:
        return path.name[-len(max(matches, key=len)) :]
    return path.suffix


def temporary_path_for(target: Path, suffix: str) -> Path:
    """A hidden sibling of ``target`` that keeps its full suffix (``.x.afmio-1a2b.ome.tif``)."""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    return target.with_name(f".{stem}.afmio-{os.urandom(4).hex()}{suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
    old = target.with_name(f".{target.name}.afmio-old-{os.urandom(4).hex()}")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)
