"""Guards around a driver call: open file handles, time and memory.

Linux exposes a process's open files in ``/proc/self/fd``; a check takes a
snapshot before an operation and compares afterwards. Elsewhere the handle check
is skipped with a warning rather than guessed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

__all__ = ["memory_cap", "no_leaked_handles", "open_files", "time_limit"]

_FD_DIR = Path("/proc/self/fd")


def open_files() -> dict[int, str] | None:
    """Map each open descriptor to the path it refers to, or None when unknowable."""
    if not _FD_DIR.is_dir():
        return None
    out: dict[int, str] = {}
    for entry in os.listdir(_FD_DIR):
        try:
            target = os.readlink(_FD_DIR / entry)
        except OSError:  # closed between listdir and readlink (e.g. the listdir fd itself)
            continue
        out[int(entry)] = target.removesuffix(" (deleted)")
    return out


def _inside(target: str, roots: list[str]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


@contextlib.contextmanager
def no_leaked_handles(*paths: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Fail when the body leaves a descriptor open on ``paths`` (or anything inside them).

    Parameters
    ----------
    *paths
        Files or folders whose handles must all be closed when the body ends.
    what
        The operation, for the message (``"load of x.gsf"``).

    Raises
    ------
    AssertionError
        A new descriptor refers to one of ``paths`` after the body.
    """
    before = open_files()
    if before is None:
        warnings.warn("afmio.testing: /proc/self/fd is not available; handle check skipped", stacklevel=3)
        yield
        return
    roots = [os.path.realpath(p) for p in paths]
    yield
    after = open_files() or {}
    leaked = sorted(
        (fd, target) for fd, target in after.items() if before.get(fd) != target and _inside(target, roots)
    )
    if leaked:
        listed = ", ".join(f"fd {fd} -> {target}" for fd, target in leaked)
        raise AssertionError(
            f"{what} left {len(leaked)} file handle(s) open: {listed}. "
            "Open files in a `with` block (or close them in `finally`), and make a lazy stack's "
            "frame source close its file in close()."
        )


class _Timeout(BaseException):
    """Raised inside the body when the time limit passes (BaseException: drivers must not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail when the body runs longer than ``seconds`` (a hang on bad input).

    Uses ``SIGALRM``, so it only applies on the main thread of a POSIX process;
    elsewhere the body runs unbounded.
    """
    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _alarm(signum: int, frame: object) -> None:
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Timeout:
        raise AssertionError(f"{what} did not finish within {seconds:g} s (a hang on bad input?)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def memory_cap(headroom_bytes: int, what: str) -> Iterator[None]:
    """Cap the process's address space at its current size plus ``headroom_bytes``.

    A driver that trusts a corrupt header and asks for terabytes then gets a
    ``MemoryError`` (reported as a failure) instead of exhausting the machine.
    Linux only; elsewhere the body runs without a cap.
    """
    try:
        import resource
    except ImportError:
        yield
        return
    status = Path("/proc/self/status")
    if headroom_bytes <= 0 or not status.is_file():
        yield
        return
    vm = next((line for line in status.read_text().splitlines() if line.startswith("VmSize:")), None)
    if vm is None:
        yield
        return
    current = int(vm.split()[1]) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = current + headroom_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    except MemoryError:
        raise AssertionError(
            f"{what} ran out of memory under a cap of {headroom_bytes / 2**30:.1f} GiB more than the "
            "process already used: the driver trusted a size from a damaged header. Check sizes "
            "against the file size before allocating (afmio.ioutil.check_allocation)."
        ) from None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
