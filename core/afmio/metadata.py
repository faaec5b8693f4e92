"""Per-frame metadata keys and the helpers that keep them JSON-safe.

The six keys and their meaning follow playNano 0.5.0 so bundles interoperate:

=======================  =====================================================
``timestamp``            seconds since frame 0 (float or None)
``frame_pixel_size_nm``  nm per pixel along x for this frame
``frame_duration_s``     acquisition time of this frame in seconds
``start_epoch_ms``       Unix time in ms at which the frame started (UTC)
``scan_direction``       ``"topDown"`` / ``"bottomUp"`` / the file's raw value
``line_rate``            scan lines per second
=======================  =====================================================
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np

__all__ = [
    "FRAME_METADATA_KEYS",
    "build_frame_metadata",
    "make_json_safe",
    "normalize_timestamp",
    "normalize_timestamps",
    "utc_now_iso",
]

FRAME_METADATA_KEYS: tuple[str, ...] = (
    "timestamp",
    "frame_pixel_size_nm",
    "frame_duration_s",
    "start_epoch_ms",
    "scan_direction",
    "line_rate",
)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def build_frame_metadata(
    *,
    timestamp: float | None,
    frame_pixel_size_nm: float | None,
    frame_duration_s: float | None = None,
    start_epoch_ms: int | float | None = None,
    scan_direction: str | None = None,
    line_rate: float | None = None,
) -> dict[str, Any]:
    """Return one frame's metadata with exactly the six keys, as native Python types."""
    return {
        "timestamp": _opt_float(timestamp),
        "frame_pixel_size_nm": _opt_float(frame_pixel_size_nm),
        "frame_duration_s": _opt_float(frame_duration_s),
        "start_epoch_ms": None if start_epoch_ms is None else round(float(start_epoch_ms)),
        "scan_direction": None if scan_direction is None else str(scan_direction),
        "line_rate": _opt_float(line_rate),
    }


def normalize_timestamp(value: Any) -> float | None:
    """Turn a timestamp of any common type into float seconds, or None.

    Numbers (Python or numpy) become floats, ISO strings and datetimes become epoch
    seconds, anything else (and NaN) becomes None.
    """
    if value is None:
        return None
    if isinstance(value, numbers.Real):
        out = float(value)
        return None if math.isnan(out) else out
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def normalize_timestamps(frames: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return shallow copies of ``frames`` with every ``timestamp`` normalised."""
    out = []
    for md in frames:
        copy = dict(md)
        copy["timestamp"] = normalize_timestamp(copy.get("timestamp"))
        out.append(copy)
    return out


def make_json_safe(obj: Any) -> Any:
    """Convert numpy values (recursively) to plain Python so ``json.dumps`` accepts them."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: make_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [make_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return make_json_safe(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", "replace")
    if callable(obj) and hasattr(obj, "__name__"):
        return obj.__name__
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 with a trailing ``Z`` (playNano's convention)."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
