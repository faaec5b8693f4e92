"""The ``afmio`` command: a thin layer over :mod:`afmio.registry`.

Errors print one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import AfmioError

__all__ = ["main", "build_parser"]

EXIT_ERROR = 1
EXIT_USAGE = 2


def _registry() -> Any:
    from .. import registry

    return registry


def cmd_formats(args: argparse.Namespace) -> int:
    infos = _registry().formats()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    rows = [("name", "aliases", "extensions", "kind", "r/w", "lazy", "provided by")]
    for i in infos:
        rw = ("r" if i.read else "-") + ("w" if i.write else "-")
        provider = f"{i.distribution or i.plugin} {i.version or ''}".strip()
        rows.append((i.name, ",".join(i.aliases), " ".join(i.extensions) or "-", i.kind, rw,
                     "yes" if i.lazy else "no", provider))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    reg = _registry()
    res = reg.resolve(args.path, args.format)
    probe = reg.probe(args.path, format=res.driver.name)
    times = probe.frame_times or []
    span = (times[-1] - times[0]) if len(times) > 1 else None
    info = {
        "path": str(args.path),
        "driver": res.driver.name,
        "reason": res.reason,
        "rejected": [{"driver": n, "why": w} for n, w in res.rejected],
        "frames": probe.n_frames,
        "frame_shape": list(probe.frame_shape),
        "channels": probe.channels,
        "default_channel": probe.default_channel,
        "pixel_size_nm": probe.pixel_size_nm,
        "pixel_size_y_nm": probe.pixel_size_y_nm,
        "z_unit": probe.z_unit,
        "time_span_s": span,
        "frame_rate_hz": (probe.n_frames - 1) / span if span else None,
        "acquisition": probe.acquisition,
    }
    if args.json:
        from ..metadata import make_json_safe

        print(json.dumps(make_json_safe(info), indent=2))
        return 0
    print(f"{info['path']}")
    print(f"  driver      {info['driver']} ({info['reason']})")
    for r in info["rejected"]:
        print(f"    not {r['driver']}: {r['why']}")
    h, w = probe.frame_shape
    print(f"  frames      {probe.n_frames} x {h} x {w}")
    print(f"  channels    {', '.join(probe.channels)} (default {probe.default_channel})")
    if probe.pixel_size_nm:
        print(f"  pixel size  {probe.pixel_size_nm:.6g} x {probe.pixel_size_y_nm or probe.pixel_size_nm:.6g} nm")
    print(f"  z unit      {probe.z_unit}")
    if span:
        print(f"  time span   {span:.4g} s ({info['frame_rate_hz']:.4g} frames/s)")
    for key, value in probe.acquisition.items():
        print(f"  {key:<11} {value}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    reg = _registry()
    stack = reg.load(args.input, channel=args.channel, format=args.input_format, lazy=True)
    with stack:
        out = reg.save(stack, args.output, format=args.format, overwrite=args.overwrite, raw=args.raw)
    print(f"wrote {out}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    reg = _registry()
    for info in reg.formats():
        print(f"{info.plugin:<12} {info.distribution or '-'} {info.version or ''}: driver {info.name}")
    problems = reg.problems()
    for p in problems:
        print(f"PROBLEM {p}", file=sys.stderr)
    if args.check:
        print(f"{len(problems)} problem(s)")
        return EXIT_ERROR if problems else 0
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    results = run_demo(args.outdir, n_frames=args.frames, size=args.size)
    print(f"afmio {__version__} demo: synthetic {args.frames} x {args.size} x {args.size} video in {args.outdir}")
    for r in results:
        status = "ok  " if r.ok else "FAIL"
        print(f"  {status} {r.format:<10} {r.size_bytes:>10,} bytes  {r.round_trip:<12} {r.path}")
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} formats round-tripped")
    return EXIT_ERROR if failed or not results else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afmio", description="Read and write high-speed AFM videos.")
    parser.add_argument("--version", action="version", version=f"afmio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--debug-plugins", action="store_true", help="trace plugin discovery and hook calls")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("formats", help="list the formats afmio can read and write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_formats)

    p = sub.add_parser("info", help="what a file holds and which driver reads it")
    p.add_argument("path", type=Path)
    p.add_argument("--format", help="force the input driver")
    p.add_argument("--channel")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert one file or folder to another format")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--format", help="output format (default: from the output extension)")
    p.add_argument("--input-format", help="force the input driver")
    p.add_argument("--channel")
    p.add_argument("--raw", action="store_true", help="write the raw snapshot")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("plugins", help="list plugins; --check fails on any problem")
    p.add_argument("--check", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("demo", help="write a synthetic video in every format and read it back")
    p.add_argument("outdir", type=Path, nargs="?", default=Path("afmio-demo"))
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=int, default=128)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG,
        format="afmio: %(message)s",
    )
    if args.quiet:
        logging.getLogger().setLevel(logging.ERROR)
    if args.debug_plugins:
        _registry().enable_tracing()
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (AfmioError, OSError, ValueError, KeyError) as exc:
        if args.debug:
            raise
        text = str(exc).strip() or type(exc).__name__
        print(f"afmio: error: {text}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("afmio: interrupted", file=sys.stderr)
        return 130
