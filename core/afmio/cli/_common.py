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
from ..errors import AfmioError

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "Batch",
    "HelpFormatter",
    "Input",
    "UsageError",
    "error_text",
    "expand_inputs",
    "frame_progress",
    "output_stem",
    "prepare_output",
    "progress_bar",
    "registry",
    "require_extension",
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
    """The message of ``exc`` as the CLI prints it (no traceback, no ``KeyError`` quoting).

    Words of the Python API become the command line's: an existing output asks for
    ``--overwrite``; a bad value (``ValueError``) is its message alone. Other
    exception types keep their name, as they point at a bug.
    """
    from ..errors import OverwriteError

    if isinstance(exc, OverwriteError):
        return f"{exc.path} already exists; add --overwrite to replace it"
    if isinstance(exc, KeyError) and not isinstance(exc, AfmioError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc).strip()
    if not isinstance(exc, (AfmioError, OSError, ValueError)):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__


# ---------------------------------------------------------------------- outputs
def prepare_output(path: Path, *, parents: bool, folder: bool = False) -> None:
    """Check where a command will write, before anything is read.

    ``path`` is the output file, or with ``folder=True`` the output folder itself
    (``export --out DIR``, ``convert ... OUT/``), which is created when missing. The
    folder that holds it must exist unless ``parents`` (``--parents``) is given;
    every folder created is said.

    Raises
    ------
    UsageError
        The holding folder is missing and ``parents`` is False, or a path on the way
        is a file.
    """
    target = path if folder else path.parent
    target = target if str(target) else Path(".")
    if target.is_dir():
        return
    if target.exists():
        raise UsageError(f"{target} is a file, not a folder")
    holder = target.parent
    if not holder.is_dir() and not parents:
        first_missing = next(p for p in reversed((target, *target.parents)) if not p.exists())
        raise UsageError(
            f"the folder {holder} does not exist ({first_missing} is missing); "
            "create it first or add --parents"
        )
    if not folder and not parents:
        raise UsageError(f"the folder {target} does not exist; create it first or add --parents")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder {target}: {exc.strerror or exc}") from exc
    say(f"created folder {target}")


def require_extension(path: Path, ext: str, command: str, writes: str, others: str = "") -> None:
    """Refuse an output name that does not end in ``ext`` (``afmio gif in v.mp4``).

    ``others`` is a hint for what to run instead (``afmio convert IN OUT.mp4``).
    """
    if path.name.lower().endswith(ext) and len(path.name) > len(ext):
        return
    hint = f"; {others}" if others else ""
    raise UsageError(
        f"{path} does not end in {ext}, but 'afmio {command}' writes {writes}: "
        f"name it {path.stem or path.name}{ext}{hint}"
    )


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

    with tqdm(total=stack.n_frames, desc=desc, unit="frame", leave=False) as bar:
        view = stack.derive(_CountingSource(stack, bar), stack.frame_metadata)
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

    def run(self, inputs: list[Input], job: Callable[[Input], Iterable[Path]]) -> int:
        """Call ``job(input)`` for each input; return the exit code."""
        for item in progress_bar(inputs, total=len(inputs), desc=self.verb, unit="input"):
            path = item.path
            try:
                for out in job(item):
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


@dataclass(frozen=True)
class Input:
    """One thing to load, and where it was found.

    ``root`` is the folder given on the command line that it was found in (None when
    the input was given itself); :attr:`relative_dir` keeps the sub-folder layout.
    """

    path: Path
    root: Path | None = None

    @property
    def relative_dir(self) -> Path:
        """The sub-folder of ``root`` holding the input (``Path()`` at the top)."""
        if self.root is None:
            return Path()
        return self.path.parent.relative_to(self.root)


def expand_inputs(paths: list[Path], input_format: str | None) -> list[Input]:
    """Turn command-line inputs into the list of things to load.

    A file, or a folder a folder driver reads (a JPK or NanoScope session), is one
    input. A folder no folder driver reads (a folder of sessions, or of ``.asd``
    videos) is searched recursively: each readable file and each session folder is
    one input, in natural order, and each video is found once. What is skipped, and
    why, is said on stderr. A missing path is kept so the batch reports it.
    """
    out: list[Input] = []
    for p in paths:
        if input_format or not p.is_dir() or _is_session(p):
            out.append(Input(p))
            continue
        found: list[Input] = []
        skipped: list[tuple[Path, str]] = []
        _collect(p, p, found, skipped)
        if not found:
            out.append(Input(p))  # the batch reports the registry's explanation
            continue
        if skipped and not STATE.quiet:
            print(f"afmio: {p}: {len(found)} input(s) found; skipped {len(skipped)}:", file=sys.stderr)
            for path, why in skipped:
                print(f"  {path}: {why}", file=sys.stderr)
        out.extend(found)
    return out


def _is_session(folder: Path) -> bool:
    """A folder some folder driver reads as one video."""
    try:
        registry().resolve(folder)
    except AfmioError:
        return False
    return True


def _collect(root: Path, folder: Path, found: list[Input], skipped: list[tuple[Path, str]]) -> None:
    from ..ioutil import natural_sort_key

    reg = registry()
    for child in sorted(folder.iterdir(), key=lambda c: natural_sort_key(c.name)):
        if child.name.startswith("."):
            continue  # hidden files, and afmio's own temporaries
        if child.is_dir():
            if _is_session(child):
                found.append(Input(child, root))
            else:
                _collect(root, child, found, skipped)
            continue
        why = _unreadable_reason(reg, child)
        if why is None:
            found.append(Input(child, root))
        else:
            skipped.append((child, why))


def _unreadable_reason(reg: Any, path: Path) -> str | None:
    """None when a file driver reads ``path``; else why it is skipped."""
    try:
        driver = reg.resolve(path).driver
    except AfmioError as exc:
        first = str(exc).splitlines()[0]
        return "no driver reads it" if str(path) in first else first
    if driver.spec.kind != "file":
        return f"a single {driver.name} frame of a folder that is not a session of them"
    return None


def output_stem(path: Path) -> str:
    """The name of an input without its (possibly multi-part) format extension."""
    from ..atomic import full_suffix

    if path.is_dir():
        return path.name
    known = tuple(e for info in registry().formats() for e in info.extensions)
    suffix = full_suffix(path, known)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.name


def add_read_arguments(p: argparse.ArgumentParser) -> None:
    """Options every load-using command shares (``--allow-truncated``, ``--skip-damaged``)."""
    p.add_argument("--allow-truncated", action="store_true",
                   help="load the complete frames of a truncated file (drivers that support it, "
                        "e.g. asd, spm) instead of refusing it")
    p.add_argument("--skip-damaged", action="store_true",
                   help="in a folder of frame files, leave out damaged files (with a warning) "
                        "instead of refusing the folder")


def read_options(args: argparse.Namespace, reg: Any, path: Path, fmt: str | None) -> dict[str, Any]:
    """Load options from the command line that ``path``'s driver accepts."""
    wanted = {name: True for name in ("allow_truncated", "skip_damaged") if getattr(args, name, False)}
    if not wanted:
        return {}
    import inspect
    import warnings

    driver = reg.resolve(path, fmt).driver
    try:
        params = inspect.signature(driver.function("read")).parameters
    except (TypeError, ValueError):
        return {}
    anything = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    options = {}
    for name in wanted:
        if name in params or anything:
            options[name] = True
        else:
            flag = "--" + name.replace("_", "-")
            warnings.warn(f"{path}: driver {driver.name!r} has no {name} option; {flag} ignored",
                          UserWarning, stacklevel=2)
    return options
