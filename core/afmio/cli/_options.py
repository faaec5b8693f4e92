"""Command-line options shared by several commands, declared once.

Commands that write files take :func:`add_output_options` (``--overwrite``,
``--parents``); commands that render pictures (``gif``, ``preview``, and ``convert`` /
``export`` to gif, mp4 or png) take :func:`add_picture_options` and read them back
with :func:`picture_options`. A new shared option is added here: its flag, and its
entry in :data:`PICTURE_FLAGS` (the writer keyword it becomes).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "LEVELS",
    "PICTURE_FLAGS",
    "add_output_options",
    "add_picture_options",
    "bound",
    "picture_options",
    "positive_int",
    "unaccepted_flags",
]

#: The display-only levelling modes (``--level``).
LEVELS = ("none", "plane", "line")

#: Writer keyword -> the flag that sets it.
PICTURE_FLAGS: dict[str, str] = {
    "cmap": "--cmap",
    "zmin": "--zmin",
    "zmax": "--zmax",
    "draw_ts": "--no-ts",
    "draw_scale": "--no-scale",
    "scale_bar_nm": "--scale-bar-nm",
    "font_scale": "--font-scale",
    "height": "--height",
    "level": "--level",
    "fps": "--fps",
    "duration": "--duration",
}


def bound(text: str) -> float | str | None:
    """``--zmin``/``--zmax`` value: a number, ``auto`` or ``none``."""
    low = text.strip().lower()
    if low == "auto":
        return "auto"
    if low == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, 'auto' or 'none', not {text!r}") from None


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--overwrite`` and ``--parents``, for every command that writes files."""
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.add_argument("--parents", action="store_true",
                   help="create missing folders above the output (otherwise a missing folder is an error)")


def add_picture_options(p: argparse.ArgumentParser, *, timing: bool = True, size: bool = True,
                        font: bool = True, level_default: str = "none", title: str = "picture options") -> None:
    """The rendering options; ``timing`` adds ``--fps``/``--duration``, ``size`` ``--height``,
    ``font`` ``--font-scale``. ``level_default`` is what the writer does without ``--level``."""
    g = p.add_argument_group(title)
    g.add_argument("--cmap", help="colour map: afm_brown (playNano's) or any matplotlib name (default: afmhot)")
    g.add_argument("--zmin", type=bound, metavar="Z", default=argparse.SUPPRESS,
                   help="colour range bottom: a number in the z unit, 'auto' (1st percentile) or "
                        "'none' (default: each frame stretched to its own range)")
    g.add_argument("--zmax", type=bound, metavar="Z", default=argparse.SUPPRESS,
                   help="colour range top: a number, 'auto' (99th percentile) or 'none'")
    g.add_argument("--no-ts", dest="draw_ts", action="store_false", default=None, help="do not draw time stamps")
    g.add_argument("--no-scale", dest="draw_scale", action="store_false", default=None,
                   help="do not draw the scale bar")
    g.add_argument("--scale-bar-nm", type=float, metavar="NM",
                   help="scale bar length (default: a round length near a fifth of the width; 0 = none)")
    g.add_argument("--level", choices=LEVELS,
                   help="display-only levelling: subtract each frame's plane ('plane'), then also each "
                        f"row's median ('line'); the data is not changed (default: {level_default})")
    if font:
        g.add_argument("--font-scale", type=_positive_float, metavar="F", help="text size factor (default: 1)")
    if size:
        g.add_argument("--height", type=positive_int, metavar="PX",
                       help="height of each output frame in pixels (default: the frame's own, at least 512)")
    if timing:
        t = g.add_mutually_exclusive_group()
        t.add_argument("--fps", type=_positive_float, help="frames per second (default: 5)")
        t.add_argument("--duration", type=_positive_float, metavar="MS",
                       help="milliseconds per frame instead of --fps")


def picture_options(args: argparse.Namespace) -> dict[str, Any]:
    """The picture options given on the command line, as writer keywords (defaults left out)."""
    out: dict[str, Any] = {}
    for name in PICTURE_FLAGS:
        if not hasattr(args, name):
            continue  # not given (--zmin/--zmax: 'none' is a value) or not offered by this command
        value = getattr(args, name)
        if value is not None or name in ("zmin", "zmax"):
            out[name] = value
    return out


def unaccepted_flags(options: dict[str, Any], writers: Iterable[Callable[..., Any]]) -> list[str]:
    """The flags of ``options`` that none of ``writers`` takes (``--cmap`` for an HDF5 output)."""
    accepted: set[str] = set()
    for fn in writers:
        params = inspect.signature(fn).parameters
        accepted |= {n for n, prm in params.items() if prm.kind is not inspect.Parameter.VAR_KEYWORD}
    return [PICTURE_FLAGS[name] for name in options if name not in accepted]
