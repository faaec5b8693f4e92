"""Shared pieces of the command line: output, batch runs, input expansion, progress."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .. import progress
from ..errors import AfmioError, UnsupportedFormatError

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "Batch",
    "HelpFormatter",
    "UsageError",
    "error_text",
    "expand_inputs",
    "frame_progress",
    "output_stem",
    "progress_bar",
    "registry",
    "say",
]

T = TypeVar("T")

EXIT_ERROR = 1
EXIT_USAGE = 2

log = logging.getLogger("afmio.cli")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose but keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            lines.append(indent + line if line.startswith("  ") or not line else
                         super()._fill_text(line, width, indent))
        return "\n".join(lines)


class UsageError(Exception):
    """A command line that cannot work (wrong combination of options); exit code 2."""


@dataclass
class CliState:
    """Global options every command sees."""

    quiet: bool = False
    verbose: int = 0
    debug: bool = False


STATE = CliState()


def registry() -> Any:
    """The shared registry (imported late so ``afmio --help`` stays fast)."""
    from .. import registry as shared

    return shared


def say(text: str) -> None:
    """Print a progress or result line unless ``-q`` was given (above a running bar, if any)."""
    if STATE.quiet:
        return
    if _BARS:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stdout)
    else:
        print(text, flush=True)


def error_text(exc: BaseException) -> str:
    """The message of ``exc`` as the CLI prints it (no traceback, no ``KeyError`` quoting)."""
    if isinstance(exc, KeyError) and not isinstance(exc, AfmioError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc).strip()
    if not isinstance(exc, (AfmioError, OSError)):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__


_BARS: list[Any] = []


def progress_bar(items: Iterable[T], *, total: int, desc: str, unit: str = "file") -> Iterator[T]:
    """A tqdm bar on stderr when it is a terminal and ``-q`` is off; otherwise the items as is."""
    if not _bars_enabled(total):
        yield from items
        return
    from tqdm import tqdm

    with tqdm(items, total=total, desc=desc, unit=unit, leave=False) as bar:
        _BARS.append(bar)
        try:
            yield from bar
        finally:
            _BARS.remove(bar)


def _bars_enabled(total: int) -> bool:
    return not STATE.quiet and progress.is_enabled(total)


class _CountingSource:
    """Frames of another stack, counted on a progress bar as the writer pulls them."""

    def __init__(self, stack: Any, bar: Any) -> None:
        self._stack = stack
        self._bar = bar

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._stack.shape

    @property
    def dtype(self) -> Any:
        return self._stack.dtype

    def read_frame(self, index: int) -> Any:
        import numpy as np

        frame = np.array(self._stack.get_frame(index))
        self._bar.update(1)
        return frame

    def read_frames(self, start: int, stop: int) -> Any:
        import numpy as np

        block = self._stack[start:stop]
        frames = np.array(block.data)
        self._bar.update(frames.shape[0])
        return frames

    def close(self) -> None:
        pass  # the original stack owns the file


@contextlib.contextmanager
def frame_progress(stack: Any, desc: str) -> Iterator[Any]:
    """Yield ``stack``, or a view of it that counts frames on a bar when one should show."""
    if not (_bars_enabled(stack.n_frames) and stack.is_lazy and not _BARS):
        yield stack
        return
    from tqdm import tqdm

    from ..stack import AFMImageStack

    with tqdm(total=stack.n_frames, desc=desc, unit="frame", leave=False) as bar:
        view = AFMImageStack(
            _CountingSource(stack, bar), stack.pixel_size_nm, stack.channel, stack.file_path,
            stack.frame_metadata, pixel_size_y_nm=stack.pixel_size_y_nm, z_unit=stack.z_unit,
        )
        view.processed, view.masks, view.analysis = stack.processed, stack.masks, stack.analysis
        view.provenance, view.state_backups = stack.provenance, stack.state_backups
        _BARS.append(bar)
        try:
            yield view
        finally:
            _BARS.remove(bar)


@dataclass
class Batch:
    """Run one job per input, keep going past failures, report them all at the end."""

    verb: str
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def run(self, inputs: list[Path], job: Callable[[Path], Iterable[Path]]) -> int:
        """Call ``job(input)`` for each input; return the exit code."""
        for path in progress_bar(inputs, total=len(inputs), desc=self.verb):
            try:
                for out in job(path):
                    self.done.append(str(out))
                    say(f"wrote {out}")
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if STATE.debug or len(inputs) == 1:
                    raise
                why = error_text(exc)
                self.failed.append((str(path), why))
                log.info("%s failed for %s: %s", self.verb, path, why)
        if self.failed:
            print(f"afmio: {len(self.failed)} of {len(inputs)} input(s) failed:", file=sys.stderr)
            for name, why in self.failed:
                first = why.splitlines()[0]
                # Most afmio messages start with the path already.
                print(f"  {first}" if first.startswith(name) else f"  {name}: {first}", file=sys.stderr)
            return EXIT_ERROR
        if len(inputs) > 1:
            say(f"{len(inputs)} input(s) done, {len(self.done)} file(s) written")
        return 0


def expand_inputs(paths: list[Path], input_format: str | None) -> list[Path]:
    """Turn command-line inputs into the list of things to load.

    A file, or a folder a folder driver reads (a JPK or NanoScope video), is one
    input. A folder no folder driver reads but which holds files that file drivers
    read (a folder of ``.asd`` videos) expands to those files, in natural order.
    A missing path is kept so the batch reports it.
    """
    from ..ioutil import natural_sort_key

    reg = registry()
    out: list[Path] = []
    for p in paths:
        if input_format or not p.is_dir():
            out.append(p)
            continue
        try:
            reg.resolve(p)
        except UnsupportedFormatError:
            members = sorted(
                (c for c in p.iterdir() if c.is_file() and not c.name.startswith(".")),
                key=lambda c: natural_sort_key(c.name),
            )
            readable = [c for c in members if _readable(reg, c)]
            if not readable:
                out.append(p)  # the batch reports the registry's explanation
                continue
            skipped = [c.name for c in members if c not in readable]
            log.info("%s: %d readable file(s) in the folder%s", p, len(readable),
                     f"; skipped {', '.join(skipped)}" if skipped else "")
            out.extend(readable)
        else:
            out.append(p)
    return out


def _readable(reg: Any, path: Path) -> bool:
    try:
        driver = reg.resolve(path).driver
    except AfmioError:
        return False
    return driver.spec.kind == "file"


def output_stem(path: Path) -> str:
    """The name of an input without its (possibly multi-part) format extension."""
    from ..atomic import full_suffix

    if path.is_dir():
        return path.name
    known = tuple(e for info in registry().formats() for e in info.extensions)
    suffix = full_suffix(path, known)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.name
