"""``afmio gif`` and ``afmio preview``: pictures of a video.

``gif`` writes an annotated animated GIF through the ``gif`` driver; ``preview``
writes a PNG contact sheet (:func:`afmio.preview`). Both read the input
lazily; the preview reads only the frames it shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import (
    HelpFormatter,
    add_read_arguments,
    frame_progress,
    prepare_output,
    read_options,
    registry,
    require_extension,
    say,
)
from ._options import add_output_options, add_picture_options, picture_options, positive_int

__all__ = ["register"]


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", help="channel to read (default: the height trace)")
    p.add_argument("--input-format", metavar="FMT", help="force the input driver")


def cmd_gif(args: argparse.Namespace) -> int:
    reg = registry()
    require_extension(args.output, ".gif", "gif", "an animated GIF",
                      f"for {args.output.suffix or 'another format'} use 'afmio convert IN OUT'")
    prepare_output(args.output, parents=args.parents)
    options = picture_options(args)
    options["loop"] = None if args.loop < 0 else args.loop
    with (
        reg.load(args.input, channel=args.channel, format=args.input_format, lazy=True,
                     **read_options(args, reg, args.input, args.input_format)) as stack,
        frame_progress(stack, f"gif {args.input.name}") as counted,
    ):
        out = reg.save(counted, args.output, format="gif", overwrite=args.overwrite, raw=args.raw, **options)
    say(f"wrote {out}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from afmio_builtins.pictures.contact_sheet import preview

    require_extension(args.output, ".png", "preview", "a PNG contact sheet")
    prepare_output(args.output, parents=args.parents)
    options = picture_options(args)
    reg = registry()
    with reg.load(args.input, channel=args.channel, format=args.input_format, lazy=True,
                     **read_options(args, reg, args.input, args.input_format)) as stack:
        out = preview(
            stack,
            args.output,
            frames=args.frames,
            columns=args.columns,
            tile_height=args.tile_height,
            title=args.title,
            overwrite=args.overwrite,
            **options,
        )
    say(f"wrote {out}")
    return 0


def register(sub: Any) -> None:
    """Add ``gif`` and ``preview`` to the sub-command parser ``sub``."""
    p = sub.add_parser(
        "gif",
        help="write an annotated animated GIF",
        description="Render IN as an animated GIF: colormap, time stamps top-left, scale bar "
                    "bottom-left, frames upscaled to at least 512 px high (--height sets the size).",
        epilog="examples:\n  afmio gif movie.asd movie.gif\n"
               "  afmio gif movie.asd movie.gif --zmin auto --zmax auto --fps 10 --cmap afm_brown\n"
               "  afmio gif movie.asd small.gif --height 256",
        formatter_class=HelpFormatter,
    )
    p.add_argument("input", type=Path, metavar="IN")
    p.add_argument("output", type=Path, metavar="OUT.gif")
    _input_options(p)
    add_output_options(p)
    add_read_arguments(p)
    add_picture_options(p)
    p.add_argument("--loop", type=int, default=0,
                   help="0 repeats forever (default), N repeats N more times, -1 plays once")
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
    _input_options(p)
    add_output_options(p)
    add_read_arguments(p)
    add_picture_options(p, timing=False, size=False, font=False, level_default="line")
    p.add_argument("--frames", type=positive_int, default=12, help="how many frames to show (default: 12)")
    p.add_argument("--columns", type=positive_int, help="grid columns (default: about 4:3)")
    p.add_argument("--tile-height", type=positive_int, default=256, metavar="PX",
                   help="height of each frame in pixels (default: 256)")
    p.add_argument("--title", help="header text (default: the input's name)")
    p.set_defaults(func=cmd_preview)
