"""``afmio gif`` and ``afmio preview``: pictures of a video.

``gif`` writes an annotated animated GIF through the ``gif`` driver; ``preview``
writes a PNG contact sheet (:func:`afmio.preview`). Both read the input
lazily; the preview reads only the frames it shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import HelpFormatter, registry, say

__all__ = ["register"]


def _bound(text: str) -> float | str | None:
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


_LEVELS = ("none", "plane", "line")


def _picture_options(p: argparse.ArgumentParser, *, level: str = "none") -> None:
    p.add_argument("--cmap", default="afmhot", help="matplotlib colormap name (default: afmhot)")
    p.add_argument("--zmin", type=_bound, metavar="Z",
                   help="colour range bottom: a number in the z unit, 'auto' (1st percentile) or "
                        "'none' (default: none (each frame stretched to its own range))")
    p.add_argument("--zmax", type=_bound, metavar="Z",
                   help="colour range top: a number, 'auto' (99th percentile) or 'none'")
    p.add_argument("--no-ts", dest="draw_ts", action="store_false", help="do not draw time stamps")
    p.add_argument("--no-scale", dest="draw_scale", action="store_false", help="do not draw the scale bar")
    p.add_argument("--scale-bar-nm", type=float, metavar="NM",
                   help="scale bar length (default: a round length near a fifth of the width; 0 = none)")
    p.add_argument("--level", choices=_LEVELS, default=level,
                   help="display-only levelling: subtract each frame's plane ('plane'), then also each "
                        f"row's median ('line'); the data is not changed (default: {level})")
    p.add_argument("--channel", help="channel to read (default: the height trace)")
    p.add_argument("--input-format", metavar="FMT", help="force the input driver")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")


def cmd_gif(args: argparse.Namespace) -> int:
    reg = registry()
    options: dict[str, Any] = {
        "cmap": args.cmap,
        "zmin": args.zmin,
        "zmax": args.zmax,
        "draw_ts": args.draw_ts,
        "draw_scale": args.draw_scale,
        "scale_bar_nm": args.scale_bar_nm,
        "loop": None if args.loop < 0 else args.loop,
        "font_scale": args.font_scale,
        "level": args.level,
    }
    if args.duration is not None:
        options["duration"] = args.duration
    else:
        options["fps"] = args.fps
    with reg.load(args.input, channel=args.channel, format=args.input_format, lazy=True) as stack:
        out = reg.save(stack, args.output, format="gif", overwrite=args.overwrite, raw=args.raw, **options)
    say(f"wrote {out}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from afmio_builtins.pictures.contact_sheet import preview

    reg = registry()
    with reg.load(args.input, channel=args.channel, format=args.input_format, lazy=True) as stack:
        out = preview(
            stack,
            args.output,
            frames=args.frames,
            columns=args.columns,
            tile_height=args.tile_height,
            cmap=args.cmap,
            zmin=args.zmin,
            zmax=args.zmax,
            draw_ts=args.draw_ts,
            draw_scale=args.draw_scale,
            scale_bar_nm=args.scale_bar_nm,
            title=args.title,
            overwrite=args.overwrite,
            level=args.level,
        )
    say(f"wrote {out}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def register(sub: Any) -> None:
    """Add ``gif`` and ``preview`` to the sub-command parser ``sub``."""
    p = sub.add_parser(
        "gif",
        help="write an annotated animated GIF",
        description="Render IN as an animated GIF: colormap, time stamps top-left, scale bar "
                    "bottom-left, frames upscaled to at least 512 px high.",
        epilog="examples:\n  afmio gif movie.asd movie.gif\n"
               "  afmio gif movie.asd movie.gif --zmin auto --zmax auto --fps 10 --cmap viridis",
        formatter_class=HelpFormatter,
    )
    p.add_argument("input", type=Path, metavar="IN")
    p.add_argument("output", type=Path, metavar="OUT.gif")
    _picture_options(p)
    timing = p.add_mutually_exclusive_group()
    timing.add_argument("--fps", type=float, default=5.0, help="frames per second (default: 5)")
    timing.add_argument("--duration", type=float, metavar="MS", help="milliseconds per frame instead of --fps")
    p.add_argument("--loop", type=int, default=0,
                   help="0 repeats forever (default), N repeats N more times, -1 plays once")
    p.add_argument("--font-scale", type=float, default=1.0, help="text size factor (default: 1)")
    p.add_argument("--raw", action="store_true", help="render the raw snapshot of a processed bundle")
    p.set_defaults(func=cmd_gif)

    p = sub.add_parser(
        "preview",
        help="write a PNG contact sheet (a first look at a video)",
        description="One PNG: evenly spaced frames with their time stamps and scale bar, and a colour "
                    "bar in the z unit. Only the frames shown are read.",
        epilog="examples:\n  afmio preview movie.asd movie.png\n"
               "  afmio preview scans/ sheet.png --frames 20 --cmap gray",
        formatter_class=HelpFormatter,
    )
    p.add_argument("input", type=Path, metavar="IN")
    p.add_argument("output", type=Path, metavar="OUT.png")
    _picture_options(p, level="line")
    p.add_argument("--frames", type=_positive_int, default=12, help="how many frames to show (default: 12)")
    p.add_argument("--columns", type=_positive_int, help="grid columns (default: about 4:3)")
    p.add_argument("--tile-height", type=_positive_int, default=256, metavar="PX",
                   help="height of each frame in pixels (default: 256)")
    p.add_argument("--title", help="header text (default: the input's name)")
    p.set_defaults(func=cmd_preview)
