"""``afmio formats``, ``afmio info`` and ``afmio channels``: what afmio and a file offer."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import add_read_arguments, read_options, registry

__all__ = ["register"]


#: Acquisition facts ``info`` prints without ``-v`` (drivers may record dozens).
_FACTS_SHOWN = 12


def _short(value: Any) -> bool:
    """A fact worth a line by default: a scalar or a short list, not a table."""
    if isinstance(value, dict):
        return False
    if isinstance(value, (list, tuple)):
        return len(value) <= 8 and all(not isinstance(v, (list, tuple, dict)) for v in value)
    return len(str(value)) <= 80


def _fact_text(value: Any) -> str:
    """One acquisition fact as text: floats without binary noise (0.7, not 0.7000000000000002)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(_fact_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value) if value not in ("", None) else "-"


def _size_text(x_nm: float, y_nm: float) -> str:
    """A scan size in nm below 1 µm, in µm from 1 µm (``850 x 850 nm``, ``2.5 x 2.5 µm``)."""
    if max(abs(x_nm), abs(y_nm)) >= 1000:
        return f"{x_nm / 1000:.4g} x {y_nm / 1000:.4g} µm"
    return f"{x_nm:.4g} x {y_nm:.4g} nm"


def _seconds_text(s: float) -> str:
    """A duration with a unit that suits it (``12 ms``, ``2.59 s``, ``5.2 min``)."""
    if s < 0.1:
        return f"{s * 1000:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    return f"{s / 3600:.3g} h"


def _pace_text(times: Sequence[float | None]) -> str | None:
    """The frame interval as measured: one value when regular, else min / median / max."""
    import numpy as np

    known = np.array([t for t in times if t is not None], np.float64)
    if known.size < 2 or known.size != len(times):
        return None
    steps = np.diff(known)
    lo, mid, hi = float(steps.min()), float(np.median(steps)), float(steps.max())
    if not mid > 0:
        return None
    if hi - lo <= 0.01 * mid:  # regular: one value says it
        return f"{1 / mid:.4g} frames/s" if mid < 1 else f"one frame every {_seconds_text(mid)}"
    return (f"irregular: frame interval min {_seconds_text(lo)}, median {_seconds_text(mid)}, "
            f"max {_seconds_text(hi)}")


def _pixel_size_variation(sizes: Sequence[float | None] | None) -> str | None:
    """``"a..b nm (k of n frames differ from frame 0)"`` when frames have their own pixel sizes, else None."""
    known = [float(s) for s in sizes or () if s is not None]
    if not known:
        return None
    first = known[0]
    other = sum(1 for s in known if abs(s - first) > 1e-9 * abs(first))
    if not other:
        return None
    return f"{min(known):.6g}..{max(known):.6g} nm ({other} of {len(known)} frames differ from frame 0)"


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


def _pattern_names(pattern: str) -> str | None:
    """A member pattern as the names it matches: ``*.[0-9][0-9][0-9]`` -> ``.001 .002 ...``."""
    digits = pattern.count("[0-9]")
    rest = pattern.replace("[0-9]", "")
    if not rest.startswith("*") or any(c in rest[1:] for c in "*?["):
        return None
    first, second = (rest[1:] + "0" * (digits - 1) + n for n in "12") if digits else (rest[1:], "")
    return f"{first} {second} ..." if digits else first


def _names_column(info: Any) -> str:
    """Extensions, then the member-file names a folder driver gathers that they do not cover."""
    names = list(info.extensions)
    for pattern in info.member_patterns:
        shown = _pattern_names(pattern)
        if shown and shown not in names:
            names.append(shown)
    return " ".join(names) or "-"


def _missing_note(info: Any) -> str:
    modules = ", ".join(info.missing)
    extra = f"; pip install 'afmio[{info.extra}]'" if info.extra else ""
    return f"{info.name} needs {modules}, which is not installed{extra}"


def cmd_formats(args: argparse.Namespace) -> int:
    infos = registry().formats()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    rows = [("name", "aliases", "extensions", "kind", "r/w", "lazy", "provided by")]
    for i in infos:
        rw = ("r" if i.read else "-") + ("w" if i.write else "-")
        provider = f"{i.distribution or i.plugin} {i.version or ''}".strip()
        name = i.name if i.available else f"{i.name} *"
        rows.append((name, ",".join(i.aliases) or "-", _names_column(i), i.kind, rw,
                     "yes" if i.lazy else "no", provider))
    _table(rows)
    unavailable = [i for i in infos if not i.available]
    if unavailable:
        print()
        for i in unavailable:
            print(f"* {_missing_note(i)}")
    if args.verbose:
        print()
        for i in infos:
            print(f"{i.name}: {i.description}")
    return 0


def _info_record(path: Path, fmt: str | None, channel: str | None,
                 args: argparse.Namespace | None = None) -> dict[str, Any]:
    reg = registry()
    res = reg.resolve(path, fmt)
    probe = reg.probe(path, format=res.driver.name)
    record: dict[str, Any] = {
        "path": str(path),
        "driver": res.driver.name,
        "reason": res.reason,
        # Only the drivers that claimed the path: the others never had a say.
        "rejected": [{"driver": n, "why": w} for n, w in res.rejected if n in res.claimants],
        "frames": probe.n_frames,
        "frame_shape": list(probe.frame_shape),
        "channels": list(probe.channels),
        "default_channel": probe.default_channel,
        "channel": probe.default_channel,
        "pixel_size_nm": probe.pixel_size_nm,
        "pixel_size_y_nm": probe.pixel_size_y_nm or probe.pixel_size_nm,
        "z_unit": probe.z_unit,
        "frame_times_s": probe.frame_times,
        "frame_pixel_sizes_nm": probe.frame_pixel_sizes_nm,
        "acquisition": dict(probe.acquisition),
    }
    if channel is not None:
        # The probe describes the default channel; read the chosen one's own facts.
        options = read_options(args or argparse.Namespace(), reg, path, res.driver.name)
        with reg.load(path, channel=channel, format=res.driver.name, lazy=True, **options) as stack:
            record.update(
                channel=stack.channel,
                frames=stack.n_frames,
                frame_shape=list(stack.image_shape),
                pixel_size_nm=stack.pixel_size_nm,
                pixel_size_y_nm=stack.pixel_size_y_nm,
                z_unit=stack.z_unit,
                frame_times_s=stack.get_frame_times(),
                frame_pixel_sizes_nm=[m.get("frame_pixel_size_nm") for m in stack.frame_metadata],
            )
    times = record["frame_times_s"] or []
    span = float(times[-1] - times[0]) if len(times) > 1 and times[-1] is not None else None
    record["time_span_s"] = span
    record["frame_rate_hz"] = (len(times) - 1) / span if span else None
    return record


def cmd_info(args: argparse.Namespace) -> int:
    record = _info_record(args.path, args.format, args.channel, args)
    if args.json:
        from ..metadata import make_json_safe

        print(json.dumps(make_json_safe(record), indent=2))
        return 0
    rows: list[tuple[str, str]] = [("driver", f"{record['driver']} ({record['reason']})")]
    if args.verbose:
        rows += [("not chosen", f"{r['driver']}: {r['why']}") for r in record["rejected"]]
    h, w = record["frame_shape"]
    rows.append(("frames", f"{record['frames']} x {h} x {w} (frames x height x width)"))
    truncated = record["acquisition"].get("truncated")
    if truncated:
        rows.append(("TRUNCATED", f"{truncated}; load with --allow-truncated to use the complete frames"))
    channels = ", ".join(record["channels"]) or "-"
    default = record["default_channel"]
    rows.append(("channels", f"{channels} (default {default})" if default else channels))
    if record["channel"] != record["default_channel"]:
        rows.append(("channel", str(record["channel"])))
    px, py = record["pixel_size_nm"], record["pixel_size_y_nm"]
    if px:
        py = py or px
        square = "" if abs(py - px) <= 1e-9 * px else " (non-square pixels)"
        rows.append(("pixel size", f"{px:.6g} x {py:.6g} nm (x, y){square}"))
        rows.append(("scan size", _size_text(px * w, py * h)))
        varies = _pixel_size_variation(record["frame_pixel_sizes_nm"])
        if varies:
            rows.append(("pixel size varies", varies))
    rows.append(("z unit", record["z_unit"] or "unknown"))
    span = record["time_span_s"]
    if span:
        pace = _pace_text(record["frame_times_s"] or [])
        rows.append(("time span", f"{_seconds_text(span)}" + (f" ({pace})" if pace else "")))
    elif record["frames"] > 1:
        rows.append(("time span", "unknown (the header has no timing)"))
    # Facts the file does not state (None) are left out of the text; --json keeps them.
    facts = [(k, v) for k, v in record["acquisition"].items() if k != "channels" and v is not None]
    shown = facts if args.verbose else [(k, v) for k, v in facts if _short(v)][:_FACTS_SHOWN]
    rows += [(key.replace("_", " "), _fact_text(value)) for key, value in shown]
    if len(shown) < len(facts):
        rows.append(("", f"... {len(facts) - len(shown)} more acquisition facts (-v shows all, --json too)"))
    width = max(len(k) for k, _ in rows)
    print(record["path"])
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    reg = registry()
    names = reg.channels(args.path, format=args.format)
    if args.json:
        default = None
        try:
            default = reg.probe(args.path, format=args.format).default_channel
        except Exception:  # the list is what was asked for; the default is a bonus
            default = None
        print(json.dumps({"path": str(args.path), "channels": names, "default": default}, indent=2))
        return 0
    for name in names:
        print(name)
    return 0


def register(sub: Any) -> None:
    """Add ``formats``, ``info`` and ``channels`` to the sub-command parser ``sub``."""
    p = sub.add_parser("formats", help="list the formats afmio can read and write",
                       description="List every driver: names, extensions, read/write, lazy, provider.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_formats)

    p = sub.add_parser("info", help="what a file holds and which driver reads it",
                       description="Show what the header says (frames, channels, pixel size, z unit, "
                                   "timing, acquisition facts) and which driver was chosen and why. "
                                   "-v also lists the drivers that claimed the file but were not chosen, and why.")
    p.add_argument("path", type=Path, help="a file, or a folder of frame files")
    p.add_argument("--format", "--input-format", dest="format", metavar="FMT", help="force the input driver")
    p.add_argument("--channel", help="describe this channel instead of the default one")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_read_arguments(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("channels", help="list the channels of a file, one per line",
                       description="List channel names as the file spells them (use them with --channel).")
    p.add_argument("path", type=Path)
    p.add_argument("--format", "--input-format", dest="format", metavar="FMT", help="force the input driver")
    p.add_argument("--json", action="store_true", help="machine-readable output, with the default channel")
    p.set_defaults(func=cmd_channels)
