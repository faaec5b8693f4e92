"""``afmio formats``, ``afmio info`` and ``afmio channels``: what afmio and a file offer."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import registry

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
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value) if value != "" else "-"


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


def cmd_formats(args: argparse.Namespace) -> int:
    infos = registry().formats()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    rows = [("name", "aliases", "extensions", "kind", "r/w", "lazy", "provided by")]
    for i in infos:
        rw = ("r" if i.read else "-") + ("w" if i.write else "-")
        provider = f"{i.distribution or i.plugin} {i.version or ''}".strip()
        rows.append((i.name, ",".join(i.aliases) or "-", " ".join(i.extensions) or "-", i.kind, rw,
                     "yes" if i.lazy else "no", provider))
    _table(rows)
    if args.verbose:
        print()
        for i in infos:
            print(f"{i.name}: {i.description}")
    return 0


def _info_record(path: Path, fmt: str | None, channel: str | None) -> dict[str, Any]:
    reg = registry()
    res = reg.resolve(path, fmt)
    probe = reg.probe(path, format=res.driver.name)
    record: dict[str, Any] = {
        "path": str(path),
        "driver": res.driver.name,
        "reason": res.reason,
        "rejected": [{"driver": n, "why": w} for n, w in res.rejected],
        "frames": probe.n_frames,
        "frame_shape": list(probe.frame_shape),
        "channels": list(probe.channels),
        "default_channel": probe.default_channel,
        "channel": probe.default_channel,
        "pixel_size_nm": probe.pixel_size_nm,
        "pixel_size_y_nm": probe.pixel_size_y_nm or probe.pixel_size_nm,
        "z_unit": probe.z_unit,
        "frame_times_s": probe.frame_times,
        "acquisition": dict(probe.acquisition),
    }
    if channel is not None:
        # The probe describes the default channel; read the chosen one's own facts.
        with reg.load(path, channel=channel, format=res.driver.name, lazy=True) as stack:
            record.update(
                channel=stack.channel,
                frames=stack.n_frames,
                frame_shape=list(stack.image_shape),
                pixel_size_nm=stack.pixel_size_nm,
                pixel_size_y_nm=stack.pixel_size_y_nm,
                z_unit=stack.z_unit,
                frame_times_s=stack.get_frame_times(),
            )
    times = record["frame_times_s"] or []
    span = float(times[-1] - times[0]) if len(times) > 1 and times[-1] is not None else None
    record["time_span_s"] = span
    record["frame_rate_hz"] = (len(times) - 1) / span if span else None
    return record


def cmd_info(args: argparse.Namespace) -> int:
    record = _info_record(args.path, args.format, args.channel)
    if args.json:
        from ..metadata import make_json_safe

        print(json.dumps(make_json_safe(record), indent=2))
        return 0
    rows: list[tuple[str, str]] = [("driver", f"{record['driver']} ({record['reason']})")]
    if args.verbose:
        rows += [("not chosen", f"{r['driver']}: {r['why']}") for r in record["rejected"]]
    h, w = record["frame_shape"]
    rows.append(("frames", f"{record['frames']} x {h} x {w} (frames x height x width)"))
    channels = ", ".join(record["channels"]) or "-"
    rows.append(("channels", f"{channels} (default {record['default_channel']})"))
    if record["channel"] != record["default_channel"]:
        rows.append(("channel", str(record["channel"])))
    px, py = record["pixel_size_nm"], record["pixel_size_y_nm"]
    if px:
        square = "" if py is None or abs(py - px) <= 1e-9 * px else " (non-square pixels)"
        rows.append(("pixel size", f"{px:.6g} x {py:.6g} nm (x, y){square}"))
        rows.append(("scan size", f"{px * w:.6g} x {py * h:.6g} nm"))
    rows.append(("z unit", record["z_unit"] or "unknown"))
    span, rate = record["time_span_s"], record["frame_rate_hz"]
    if span:
        pace = f"{rate:.4g} frames/s" if rate > 1 else f"one frame every {1 / rate:.4g} s"
        rows.append(("time span", f"{span:.6g} s ({pace})"))
    elif record["frames"] > 1:
        rows.append(("time span", "unknown (the header has no timing)"))
    facts = [(k, v) for k, v in record["acquisition"].items() if k != "channels"]  # channels: above
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
                                   "-v also lists the drivers that were not chosen.")
    p.add_argument("path", type=Path, help="a file, or a folder of frame files")
    p.add_argument("--format", "--input-format", dest="format", metavar="FMT", help="force the input driver")
    p.add_argument("--channel", help="describe this channel instead of the default one")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("channels", help="list the channels of a file, one per line",
                       description="List channel names as the file spells them (use them with --channel).")
    p.add_argument("path", type=Path)
    p.add_argument("--format", "--input-format", dest="format", metavar="FMT", help="force the input driver")
    p.add_argument("--json", action="store_true", help="machine-readable output, with the default channel")
    p.set_defaults(func=cmd_channels)
