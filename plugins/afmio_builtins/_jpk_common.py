"""Helpers shared by the two JPK drivers (``jpk`` TIFF frames and ``h5-jpk`` movies).

Units, JPK date strings, the text blobs JPK writes (``key : value`` lines), channel
names, frame timing, and the affine raw-integer -> float32 conversion. Light on
purpose: numpy and the standard library only.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from os import PathLike
from typing import Any

import numpy as np

from afmio.stack import normalize_z_unit
from afmio.units import nm_per_unit

__all__ = [
    "MAX_DEFLATE_RATIO",
    "FrameTiming",
    "ValueScale",
    "as_bool",
    "channel_key",
    "decode",
    "epoch_ms",
    "frame_timing",
    "is_bidirectional",
    "parse_jpk_date",
    "scale_into",
    "settings_value",
    "time_zone",
    "value_scale",
]

#: deflate cannot expand data by more than about 1032:1; more means a lying header.
MAX_DEFLATE_RATIO = 1032

#: Float64 work buffer of :func:`scale_into` (at least one frame).
SCALE_WORK_BYTES = 256 << 10

#: The key of the IANA time zone in JPK settings / header properties (``Europe/Paris``).
TIME_ZONE_KEY = "metadata.user.timezone"

#: The interlace key of JPK's settings text (HS-AFM bidirectional slow axis).
INTERLACE_KEY = "fast-imaging.feed-forward-parameters.yaxis.interlace"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ValueScale:
    """``value = raw * multiplier + offset`` in ``z_unit`` (lengths already in nm).

    Attributes
    ----------
    multiplier, offset : float
        Map the stored integers straight to the output unit.
    z_unit : str
        ``"nm"`` for any length, otherwise the file's unit (``"V"``, ``"deg"``...).
    file_unit : str or None
        The unit as the file declares it (``"m"``), before conversion.
    """

    multiplier: float
    offset: float
    z_unit: str
    file_unit: str | None


def value_scale(multiplier: float, offset: float, unit: str | None) -> ValueScale:
    """Fold the unit conversion into a raw -> physical affine map.

    Lengths become nanometres using the declared unit; volts, degrees and any other
    unit stay as declared. A missing unit keeps the values and says ``"unknown"``:
    the data range is never used to guess.
    """
    text = None if unit is None else str(unit).strip()
    if not text:
        return ValueScale(float(multiplier), float(offset), "unknown", None)
    factor = nm_per_unit(text)
    if factor is None:
        return ValueScale(float(multiplier), float(offset), normalize_z_unit(text), text)
    return ValueScale(float(multiplier) * factor, float(offset) * factor, "nm", text)


def decode(value: Any) -> str | None:
    """Text of a tag or attribute value (bytes, numpy bytes, str), stripped; None stays None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, bytearray, np.bytes_)):
        return bytes(value).decode("utf-8", "replace").strip()
    return str(value).strip()


def as_bool(value: Any) -> bool | None:
    """JPK booleans: the text ``true``/``false`` or a number. None when absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, np.bytes_, str)):
        text = decode(value)
        assert text is not None
        low = text.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no", ""):
            return False
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    try:
        return bool(value)
    except (TypeError, ValueError):
        return None


def channel_key(name: str, retrace: bool) -> str:
    """``height`` + retrace flag -> ``height_retrace`` (the name's case is kept)."""
    return f"{name}_{'retrace' if retrace else 'trace'}"


_OFFSET_RE = re.compile(r"^(?:GMT|UTC)?([+-])(\d{1,2}):?(\d{2})?$", re.IGNORECASE)

#: Zone abbreviations JPK software writes (Java's ``zzz``) that mean one UTC offset
#: (hours). Ambiguous ones (``CST``, ``IST``...) are left out: they need the file's zone id.
ZONE_ABBREVIATIONS: dict[str, float] = {
    "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "EET": 2, "EEST": 3,
    "MSK": 3, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
    "EST": -5, "EDT": -4, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}


def _iana_zone(name: str | None) -> Any | None:
    if not name or "/" not in name:
        return None
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # not a zone name, or no time-zone database on this system
        return None


def time_zone(label: str | None, zone_id: str | None = None, naive: datetime | None = None) -> tuple[Any, bool]:
    """The time zone of a JPK date's zone label; the flag is False when UTC was assumed.

    Parameters
    ----------
    label : str or None
        The date's last word: ``GMT``/``UTC``, an offset (``+0200``, ``GMT+02:00``), an
        IANA name (``Europe/Paris``) or an abbreviation (``CEST``).
    zone_id : str, optional
        The IANA zone the file states elsewhere (``metadata.user.timezone :
        Europe/Paris`` in JPK header properties). It is used when the label is missing,
        or is an abbreviation that zone uses at ``naive`` (``CEST`` in Paris in May).
    naive : datetime, optional
        The local date and time, to check the abbreviation against ``zone_id``.
    """
    if label is not None and label.upper() in ("GMT", "UTC", "Z", "UT"):
        return timezone.utc, True
    if label is not None and (m := _OFFSET_RE.match(label)):
        sign = -1 if m.group(1) == "-" else 1
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(sign * delta), True
    stated = _iana_zone(zone_id)
    named = _iana_zone(label)
    if named is not None:
        return named, True
    if stated is not None and (label is None or naive is None or naive.replace(tzinfo=stated).tzname() == label):
        return stated, True
    if label is not None and label.upper() in ZONE_ABBREVIATIONS:
        return timezone(timedelta(hours=ZONE_ABBREVIATIONS[label.upper()]), label.upper()), True
    return timezone.utc, False  # no label, or one that names no single zone: assume UTC, as playNano does


def parse_jpk_date(text: Any, zone_id: str | None = None) -> tuple[datetime | None, bool]:
    """Parse ``2023-02-16 12:08:46.436 GMT`` (or ``... +0100``, ``... CEST``) into an aware datetime.

    ``zone_id`` is the IANA zone the file states elsewhere, if any (see :func:`time_zone`).

    Returns
    -------
    (datetime or None, bool)
        The instant (None when absent or unreadable) and whether the zone was known
        (False: UTC assumed, or no date).
    """
    s = decode(text)
    if not s or s == "<empty>":
        return None, False
    parts = s.split()
    if len(parts) < 2:
        return None, False
    stamp = f"{parts[0]} {parts[1]}"
    naive = None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            naive = datetime.strptime(stamp, fmt)
            break
        except ValueError:
            continue
    if naive is None:
        return None, False
    tz, known = time_zone(parts[2] if len(parts) > 2 else None, zone_id, naive)
    return naive.replace(tzinfo=tz), known


def epoch_ms(instant: datetime) -> int:
    """Unix time of an aware datetime in whole milliseconds (exact, no float rounding)."""
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def settings_value(text: Any, key: str) -> str | None:
    """One value of JPK's ``key : value`` settings text (``\\:`` unescaped), or None.

    Looks the key up directly instead of parsing the whole text (kilobytes per file).
    """
    s = decode(text)
    if not s:
        return None
    at = s.find(key)
    while at >= 0:
        if at == 0 or s[at - 1] == "\n":
            end = s.find("\n", at)
            name, sep, value = (s[at:] if end < 0 else s[at:end]).partition(":")
            if sep and name.strip() == key:
                return value.strip().replace("\\:", ":")
        at = s.find(key, at + 1)
    return None


@dataclass
class FrameTiming:
    """Per-frame times of a video and where they came from.

    Attributes
    ----------
    timestamps, durations : list of float or None
        Seconds since frame 0 and seconds per frame.
    epochs_ms : list of int or None
        Frame start as Unix ms (UTC); None without real dates.
    source : str
        ``"recorded"`` (file times), ``"scan-rate"`` (lines / rate) or ``"unknown"``.
    notes : list of str
        What was assumed, for ``acquisition``.
    """

    timestamps: list[float | None]
    durations: list[float | None]
    epochs_ms: list[int | None]
    source: str
    notes: list[str] = field(default_factory=list)


def _complete(values: Sequence[int | None] | None, n: int) -> list[int] | None:
    """``values`` as ints when there is one for each of the ``n`` frames, else None."""
    if values is None or len(values) != n or any(v is None for v in values):
        return None
    return [int(v) for v in values if v is not None]


def frame_timing(
    n: int,
    *,
    starts_ms: Sequence[int | None] | None,
    ends_ms: Sequence[int | None] | None,
    lines: int,
    scan_rate: float | None,
    interlace: bool | None,
    path: str | PathLike[str],
) -> FrameTiming:
    """Frame times from recorded start/end instants, else from the scan rate.

    With every start recorded, timestamps are start differences and the start epoch is
    kept; durations are end - start when every end is recorded. Otherwise the frame
    interval is ``lines / scan_rate``, halved for an interlaced (bidirectional) slow
    axis. Without either, times are unknown (None) and a warning says so.
    """
    interval = None
    if scan_rate is not None and np.isfinite(scan_rate) and scan_rate > 0 and lines > 0:
        interval = lines / scan_rate / (2.0 if interlace else 1.0)
    starts = _complete(starts_ms, n)
    if starts is not None:
        timestamps: list[float | None] = [(s - starts[0]) / 1000.0 for s in starts]
        epochs: list[int | None] = list(starts)
        ends = _complete(ends_ms, n)
        notes = []
        if ends is not None:
            durations: list[float | None] = [(e - s) / 1000.0 for s, e in zip(starts, ends)]
        else:
            durations = [interval] * n
            notes.append("end times missing: durations from lines / scan rate")
        return FrameTiming(timestamps, durations, epochs, "recorded", notes)
    if interval is not None:
        note = "start times missing: frame interval = lines / scan rate" + (
            ", halved (interlaced)" if interlace else ""
        )
        return FrameTiming([i * interval for i in range(n)], [interval] * n, [None] * n, "scan-rate", [note])
    warnings.warn(
        f"{path}: no recorded frame times and no scan rate; frame times are unknown",
        stacklevel=3,
    )
    return FrameTiming([None] * n, [None] * n, [None] * n, "unknown", ["no frame times in the file"])


def is_bidirectional(
    interlace: bool | None, durations: Sequence[float | None], lines: int, scan_rate: float | None
) -> bool:
    """Interlaced (bidirectional) slow axis: the file's flag, else the duration test.

    Without the flag, a frame that took clearly less than ``lines / scan_rate``
    (ratio below 0.7; about 0.5 when interlaced, 1.0 otherwise) was scanned both ways
    -- playNano's rule.
    """
    if interlace is not None:
        return bool(interlace)
    known = [d for d in durations if d is not None]
    if not known or not scan_rate or scan_rate <= 0 or lines <= 0:
        return False
    return bool(float(np.median(known)) * scan_rate / lines < 0.7)


def scale_into(raw: np.ndarray, scale: ValueScale, out: np.ndarray, *, flip: bool) -> None:
    """Write ``raw * multiplier + offset`` into ``out`` (float32), rows reversed if ``flip``.

    The affine map runs in float64 (one rounding to float32 at the end), a few frames
    at a time through one small work buffer: no float64 copy of the stack exists, and
    the buffer stays in cache instead of costing fresh pages.
    """
    if raw.ndim == 2:
        raw, out = raw[None], out[None]
    frame_bytes = math.prod(raw.shape[1:]) * 8
    per = max(1, SCALE_WORK_BYTES // max(1, frame_bytes))
    work = np.empty((min(per, raw.shape[0]), *raw.shape[1:]), np.float64)
    for a in range(0, raw.shape[0], per):
        b = min(raw.shape[0], a + per)
        part = work[: b - a]
        np.multiply(raw[a:b], scale.multiplier, out=part)
        target = out[a:b, ::-1, :] if flip else out[a:b]
        np.add(part, scale.offset, out=target, casting="same_kind")
