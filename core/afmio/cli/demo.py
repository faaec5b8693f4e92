"""``afmio demo``: a synthetic HS-AFM video written in every built-in format and read back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._version import __version__
from ._common import EXIT_ERROR, UsageError, prepare_output, say

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    if args.frames < 1 or args.size < 8:
        raise UsageError("--frames must be at least 1 and --size at least 8")
    prepare_output(args.outdir, parents=args.parents, folder=True)
    frames = "1 frame" if args.frames == 1 else f"{args.frames} frames"
    say(f"afmio {__version__} demo: a synthetic video ({frames} of {args.size} x {args.size} px) "
        f"written to {args.outdir}/ in every format and read back")
    results = run_demo(args.outdir, n_frames=args.frames, size=args.size)
    width = max((len(r.format) for r in results), default=6)
    for r in results:
        status = "skip" if r.skipped else "ok  " if r.ok else "FAIL"
        line = f"  {status} {r.format:<{width}} {r.size_bytes:>10,} bytes  {r.round_trip:<14} {r.path}"
        if r.ok:
            say(line)
        else:
            print(line, file=sys.stderr)  # failures show even with -q
    failed = [r for r in results if not r.ok]
    skipped = [r for r in results if r.skipped]
    exact = [r for r in results if r.ok and not r.skipped and r.round_trip != "write-only"]
    written = [r for r in results if r.ok and r.round_trip == "write-only"]
    say(f"{len(exact)} format(s) read back identical, {len(written)} write-only format(s) written, "
        f"{len(failed)} failed" + (f", {len(skipped)} skipped (optional extras not installed)" if skipped else ""))
    if exact and not failed:
        say(f"next: afmio info {exact[0].path}   (afmio --help lists every command)")
    return EXIT_ERROR if failed or not results else 0


def register(sub: Any) -> None:
    """Add ``demo`` to the sub-command parser ``sub``."""
    p = sub.add_parser(
        "demo",
        help="write a synthetic video in every format and read it back",
        description="Synthesise an HS-AFM video (drifting particles on a tilted substrate, noise, "
                    "timestamps), write it with every built-in writer, read each file back and check it.",
    )
    p.add_argument("outdir", type=Path, nargs="?", default=Path("afmio-demo"),
                   help="output folder (default: ./afmio-demo)")
    p.add_argument("--frames", type=int, default=20, help="number of frames (default 20)")
    p.add_argument("--size", type=int, default=128, help="frame width and height in pixels (default 128)")
    p.add_argument("--parents", action="store_true", help="create missing folders above OUTDIR")
    p.set_defaults(func=cmd_demo)
