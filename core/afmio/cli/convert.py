"""``afmio convert`` and ``afmio export``: batch conversion through the registry.

Both load lazily (frames are read as the writer asks for them), keep going past
a bad input and report every failure at the end.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._common import (
    Batch,
    HelpFormatter,
    Input,
    UsageError,
    add_read_arguments,
    expand_inputs,
    frame_progress,
    output_stem,
    prepare_output,
    read_options,
    registry,
)
from ._options import add_output_options, add_picture_options, picture_options, unaccepted_flags

__all__ = ["register"]


def _writer(fmt: str) -> Any:
    from ..resolution import find_by_name

    return find_by_name(registry().drivers(), fmt, "write").driver


def _output_extension(fmt: str) -> str:
    """The first extension of the writer called ``fmt`` (``"h5"`` -> ``".h5"``)."""
    driver = _writer(fmt)
    return driver.spec.extensions[0] if driver.spec.extensions else ""


def _output_driver(out: Path, fmt: str | None) -> Any:
    """The writer for OUT; fails before reading anything when OUT's format cannot be told."""
    from ..errors import UnsupportedFormatError

    try:
        return registry().resolve(out, fmt, mode="write").driver
    except UnsupportedFormatError as exc:
        if fmt:
            raise
        known = sorted({e for d in registry().drivers() if d.can("write") for e in d.spec.extensions})
        raise UsageError(
            f"cannot tell the output format of {out} from its name; add --format NAME "
            f"('afmio formats' lists them) or end it with one of: {', '.join(known)}"
        ) from exc


def _check_picture_options(options: dict[str, Any], drivers: list[Any]) -> None:
    """Picture flags given for outputs that are not pictures are a usage error, not ignored."""
    if not options:
        return
    flags = unaccepted_flags(options, [d.function("write") for d in drivers])
    if flags:
        names = ", ".join(d.name for d in drivers)
        raise UsageError(f"{', '.join(flags)} only apply to picture outputs (gif, mp4, png), not {names}")


def _is_destination_folder(out: Path, several: bool) -> bool:
    """OUT is a folder to write into (not the output itself)."""
    if several:
        return True
    if not out.is_dir():
        return str(out).endswith(("/", "\\"))
    # An existing folder whose name is a folder format's output (x.ome.zarr) is the target.
    return not any(d.extension_match(out.name) for d in registry().drivers() if d.can("write"))


def cmd_convert(args: argparse.Namespace) -> int:
    if len(args.paths) < 2:
        raise UsageError("convert needs an input and an output: afmio convert IN [IN...] OUT")
    *raw_inputs, out = args.paths
    inputs = expand_inputs(raw_inputs, args.input_format)
    into_folder = _is_destination_folder(out, len(inputs) > 1 or len(raw_inputs) > 1 or
                                         any(i.root is not None for i in inputs))
    if into_folder and not args.format:
        raise UsageError(
            f"writing into the folder {out} needs --format (for example --format h5); "
            "see 'afmio formats' for the names"
        )
    reg = registry()
    driver = _writer(args.format) if into_folder else _output_driver(out, args.format)
    ext = driver.spec.extensions[0] if into_folder and driver.spec.extensions else ""
    options = picture_options(args)
    _check_picture_options(options, [driver])
    prepare_output(out, parents=args.parents, folder=into_folder)
    planned: dict[Path, Path] = {}

    def job(item: Input) -> Iterable[Path]:
        src = item.path
        target = out / item.relative_dir / f"{output_stem(src)}{ext}" if into_folder else out
        if target in planned:
            raise UsageError(f"{src} and {planned[target]} would both be written to {target}")
        planned[target] = src
        with (
            reg.load(src, channel=args.channel, format=args.input_format, lazy=True,
                     **read_options(args, reg, src, args.input_format)) as stack,
            frame_progress(stack, src.name) as counted,
        ):
            written = reg.save(counted, target, format=driver.name, overwrite=args.overwrite, raw=args.raw,
                               **options)
        return [written]

    return Batch("convert").run(inputs, job)


def cmd_export(args: argparse.Namespace) -> int:
    formats = [f.strip() for f in args.to.split(",") if f.strip()]
    if not formats:
        raise UsageError("--to needs at least one format, for example --to npz,h5,tif,gif")
    drivers = [_writer(fmt) for fmt in formats]  # unknown names fail before any file is read
    options = picture_options(args)
    _check_picture_options(options, drivers)
    inputs = expand_inputs(args.inputs, args.input_format)
    if args.name and len(inputs) > 1:
        raise UsageError("--name names the output of a single input; drop it to use each input's name")
    prepare_output(args.out, parents=args.parents, folder=True)
    reg = registry()
    stems: dict[str, Path] = {}

    def job(item: Input) -> Iterable[Path]:
        src = item.path
        stem = args.name or output_stem(src)
        if stem in stems:
            raise UsageError(f"{src} and {stems[stem]} would both be exported as {stem!r}")
        stems[stem] = src
        written: list[Path] = []
        with reg.load(src, channel=args.channel, format=args.input_format, lazy=True,
                     **read_options(args, reg, src, args.input_format)) as stack:
            for driver in drivers:  # one pass (and one progress bar) per format
                with frame_progress(stack, f"{src.name} -> {driver.name}") as counted:
                    written += reg.export(counted, args.out, stem, [driver.name], raw=args.raw,
                                          overwrite=args.overwrite, **options)
        return written

    return Batch("export").run(inputs, job)


def register(sub: Any) -> None:
    """Add ``convert`` and ``export`` to the sub-command parser ``sub``."""
    p = sub.add_parser(
        "convert",
        usage="afmio convert [options] IN [IN ...] OUT",
        help="convert files or folders to another format",
        description="Convert IN to OUT. With several inputs, or a folder of files or sessions (searched "
                    "recursively; JPK and NanoScope session folders are one video each), OUT is a folder, "
                    "--format names the output format and sub-folders are kept. Inputs are read lazily, "
                    "frame by frame.",
        epilog="examples:\n  afmio convert movie.asd movie.h5\n"
               "  afmio convert scans/ movies/ --format ome-tiff\n"
               "  afmio convert a.asd b.asd out/ --format npz --channel ER\n"
               "  afmio convert movie.asd movie.mp4 --fps 10 --cmap afm_brown",
        formatter_class=HelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="IN... OUT",
                   help="one or more inputs (files or folders), then the output")
    p.add_argument("--format", "-f", help="output format (default: from OUT's extension)")
    p.add_argument("--input-format", metavar="FMT", help="force the input driver")
    p.add_argument("--channel", help="channel to read (default: the height trace)")
    p.add_argument("--raw", action="store_true", help="write the raw snapshot of a processed bundle")
    add_output_options(p)
    add_read_arguments(p)
    add_picture_options(p, title="picture options (gif, mp4, png outputs)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "export",
        help="write inputs in several formats at once (playNano's export)",
        description="Write each input as <OUT>/<name>[_filtered].<ext> for every format in --to. "
                    "Picture options apply to the picture formats among them.",
        epilog="examples:\n  afmio export movie.asd --to npz,h5,tif,gif --out results\n"
               "  afmio export movie.asd --to gif,mp4 --fps 10 --height 256",
        formatter_class=HelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    p.add_argument("--to", default="tif,npz,h5", metavar="FMTS",
                   help="comma-separated formats (default: tif,npz,h5)")
    p.add_argument("--out", type=Path, default=Path("output"), metavar="DIR",
                   help="output folder (default: ./output, as playNano)")
    p.add_argument("--name", metavar="BASE", help="output base name (default: the input's name)")
    p.add_argument("--input-format", metavar="FMT", help="force the input driver")
    p.add_argument("--channel", help="channel to read (default: the height trace)")
    p.add_argument("--raw", action="store_true", help="export the raw snapshot of a processed bundle")
    add_output_options(p)
    add_read_arguments(p)
    add_picture_options(p, title="picture options (gif, mp4, png outputs)")
    p.set_defaults(func=cmd_export)
