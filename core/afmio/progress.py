"""Progress bars: the one mechanism drivers, writers and the command line use.

A bar is drawn on stderr (tqdm) for long work when the setting allows it. The setting
is explicit: ``None`` (the default) shows bars when stderr is a terminal, ``True``
always, ``False`` never. Change it for the whole process with :func:`set_enabled`
(``afmio -q`` switches bars off this way) or for a block of code with
:func:`enabled`::

    import afmio.progress
    with afmio.progress.enabled(False):
        stack = afmio.load("big_folder")      # no bars, even on a terminal

Drivers wrap their loops in :func:`progress`; the CLI also uses :func:`tracker` for
counts that are not a simple loop.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["enabled", "is_enabled", "overriding", "progress", "set_enabled", "tracker"]

T = TypeVar("T")

_setting: bool | None = None


def set_enabled(value: bool | None) -> None:
    """Show bars always (True), never (False), or when stderr is a terminal (None)."""
    global _setting
    _setting = value


@contextlib.contextmanager
def enabled(value: bool | None) -> Iterator[None]:
    """Use ``value`` as the setting inside the ``with`` block, then restore the previous one."""
    global _setting
    before = _setting
    _setting = value
    try:
        yield
    finally:
        _setting = before


@contextlib.contextmanager
def overriding(value: bool | None) -> Iterator[None]:
    """A per-call ``progress=`` option: True or False for the block, None leaves the setting."""
    if value is None:
        yield
        return
    with enabled(value):
        yield


def is_enabled(total: int | None = None) -> bool:
    """Whether a bar for ``total`` items would be drawn now (never for 0 or 1 item)."""
    if total is not None and total <= 1:
        return False
    if _setting is None:
        return sys.stderr.isatty()
    return _setting


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "frame") -> Iterator[T]:
    """Yield the items of ``iterable``, counted on a bar when bars are enabled."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if not is_enabled(total):
        yield from iterable
        return
    from tqdm import tqdm

    with tqdm(iterable, total=total, desc=desc, unit=unit, leave=False) as bar:
        yield from bar


class _NoBar:
    """Stands in for a bar when bars are off."""

    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def tracker(total: int, *, desc: str = "", unit: str = "frame") -> Iterator[Any]:
    """A bar to ``update(n)`` by hand (a no-op object when bars are off)."""
    if not is_enabled(total):
        yield _NoBar()
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, leave=False) as bar:
        yield bar
