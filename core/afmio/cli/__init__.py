"""The ``afmio`` command: a thin layer over :mod:`afmio.registry`.

One module per command group (``inspect``: formats/info/channels, ``convert``:
convert/export, ``plugins``, ``demo``, ``pictures``: gif/preview). Each has a
``register(subparsers)`` function. Errors print one line and exit 1 (2 for a
wrong command line); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import progress
from .._version import __version__
from . import convert, demo, inspect, pictures, plugins
from ._common import EXIT_ERROR, EXIT_USAGE, STATE, HelpFormatter, UsageError, error_text

__all__ = ["build_parser", "main"]


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before or after the command name (``afmio -v info x`` = ``afmio info x -v``)."""
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("-v", "--verbose", action="count", help="more detail (-vv: debug log)",
                        **(default or {"default": 0}))
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors (no progress bars)",
                        **default)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error", **default)
    parser.add_argument("--debug-plugins", action="store_true",
                        help="trace plugin discovery and hook calls (pluggy) on stderr", **default)


class _SubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Every sub-command also accepts the global options."""

    def add_parser(self, name: str, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs.setdefault("formatter_class", HelpFormatter)
        parser = super().add_parser(name, **kwargs)
        _global_options(parser, suppress=True)
        return parser


def build_parser() -> argparse.ArgumentParser:
    """The full ``afmio`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="afmio",
        description="Read and write high-speed AFM videos as one stack of frames in nanometres.",
        epilog="start with:\n  afmio demo\n  afmio info afmio-demo/demo.h5\n"
               "'afmio COMMAND --help' explains each command.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"afmio {__version__}")
    _global_options(parser, suppress=False)
    parser.register("action", "parsers", _SubParsers)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    inspect.register(sub)
    convert.register(sub)
    pictures.register(sub)
    demo.register(sub)
    plugins.register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    print(f"afmio: warning: {message}", file=sys.stderr)


def _configure_logging(verbose: int, quiet: bool) -> None:
    import warnings

    if verbose < 2:  # -vv keeps Python's usual warning format, with the source line
        warnings.showwarning = _one_line_warning
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG
    logging.basicConfig(level=level, format="afmio: %(message)s")
    logging.getLogger().setLevel(level)
    if quiet:
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="afmio")


def _trace_plugins() -> None:
    """Trace discovery and hook calls, then say which plugin gave which driver.

    Plugins set aside are reported by the registry's own warnings.
    """
    from ._common import registry

    reg = registry()
    reg.enable_tracing()
    for d in reg.drivers():
        where = f"{d.distribution} {d.version or ''}".strip() if d.distribution else "registered directly"
        print(f"afmio: driver {d.name!r} from plugin {d.plugin!r} ({where})", file=sys.stderr)


def _write_only_hint(exc: BaseException) -> str:
    """A hint line when the unreadable file has the extension of a write-only format."""
    from ..errors import UnsupportedFormatError
    from ._common import registry

    path = getattr(exc, "path", None)
    if not isinstance(exc, UnsupportedFormatError) or not path:
        return ""
    name = Path(path).name
    for d in registry().drivers():
        if d.can("write") and not d.can("read") and d.extension_match(name):
            return f"\nhint: afmio writes {d.name} files but cannot read them"
    return ""


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; an unknown option is reported with its sub-command's usage."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = next((a.choices for a in parser._actions if isinstance(a, _SubParsers)), {})
        owner = commands.get(getattr(args, "command", None) or "") or parser
        owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    parser = build_parser()
    args = _parse(parser, argv)
    STATE.quiet, STATE.verbose, STATE.debug = args.quiet, args.verbose or 0, args.debug
    _configure_logging(STATE.verbose, STATE.quiet)
    if args.debug_plugins:
        _trace_plugins()
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        # -q silences every bar, the drivers' own included; otherwise the automatic rule.
        with progress.enabled(False if args.quiet else None):
            return int(func(args) or 0)
    except KeyboardInterrupt:
        print("afmio: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"afmio {args.command}: error: {exc}\n")
    except BrokenPipeError:  # `afmio formats | head`
        return 0
    except Exception as exc:
        if args.debug:
            raise
        text = error_text(exc) + _write_only_hint(exc)
        lines = text.splitlines()
        if args.verbose or len(lines) <= 1:
            print(f"afmio: error: {text}", file=sys.stderr)
        else:  # one line: what went wrong and the hint; -v adds every candidate's reason
            hints = [ln[len("hint: "):] for ln in lines if ln.startswith("hint: ")]
            extra = f" ({'; '.join(hints)})" if hints else ""
            print(f"afmio: error: {lines[0]}{extra} [-v: details]", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_ERROR  # pragma: no cover - parser.exit raised
