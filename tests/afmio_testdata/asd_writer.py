"""Test-only writer of ASD (``.asd``) high-speed AFM movies, versions 0, 1 and 2.

Written from ``shared/formats/asd.md`` independently of afmio's reader, so tests
can check the reader against files whose every byte is known. Used by the ASD
tests, the benchmarks and the robustness corpus.

>>> import numpy as np
>>> heights = -np.random.default_rng(0).uniform(0, 200, (3, 16, 24))     # nm, (frames, y, x)
>>> layout = write_asd("x.asd", {"TP": heights}, scan_nm=(48, 32))      # doctest: +SKIP
>>> layout = write_asd("raw.asd", {"TP": levels_int16, "PH": phase_int16}, version=2)  # doctest: +SKIP

Arrays with an integer dtype are written as raw AD levels; float arrays are
physical values (nm for TP/ER, degrees for PH, volts for any other kind),
converted to the nearest level with :func:`values_to_levels`. Any header field
can be forced with ``overrides={"num_frames": 10**9}`` (names as in the sheet)
to build damaged files; the returned :class:`AsdLayout` gives the offsets of
every frame so tests can cut or patch files precisely.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AD_RANGES",
    "KIND_CODES",
    "AsdLayout",
    "kind_code",
    "kind_factor",
    "levels_to_values",
    "values_to_levels",
    "write_asd",
]

#: Data-kind codes: two ASCII letters read little-endian.
KIND_CODES = {"TP": 0x5054, "ER": 0x5245, "PH": 0x4850}

#: AD range code -> (full-scale volts R, bipolar). Code 0x3 is 9.99 V as in AFMReader.
AD_RANGES = {
    0x00000001: (1.0, False),
    0x00000002: (2.5, False),
    0x00000003: (9.99, False),
    0x00000004: (5.0, False),
    0x00010000: (1.0, True),
    0x00020000: (2.5, True),
    0x00040000: (5.0, True),
    0x00800000: (80.0, True),
}

_CODECS = {932: "cp932", 1200: "utf-16-le", 20932: "euc_jp", 65001: "utf-8", 10001: "shift_jis", 20127: "ascii"}

#: Largest padding written to honour a ``header_length`` override.
_MAX_PAD = 1 << 16

#: v2 colour map written when none is given.
DEFAULT_ANCHORS = {"red": ([0, 255], [0, 255]), "green": ([0, 128, 255], [0, 64, 255]), "blue": ([0], [0])}

DEFAULT_FACTORS = {
    "z_piezo_extension": 12.48,
    "z_piezo_gain": 2.0,
    "scanner_sensitivity": 1.5,
    "phase_sensitivity": -2.0,
}


def kind_code(kind: str | int) -> int:
    """The integer code of a kind given as letters (``"TP"``) or as the code itself."""
    if isinstance(kind, int):
        return kind
    return int.from_bytes(kind.encode("ascii"), "little")


def kind_factor(
    kind: str,
    *,
    z_piezo_extension: float = DEFAULT_FACTORS["z_piezo_extension"],
    z_piezo_gain: float = DEFAULT_FACTORS["z_piezo_gain"],
    scanner_sensitivity: float = DEFAULT_FACTORS["scanner_sensitivity"],
    phase_sensitivity: float = DEFAULT_FACTORS["phase_sensitivity"],
) -> float:
    """The sheet's factor ``k`` (float64 of the float32 header values); -1 (volts) for other kinds."""
    f32 = lambda v: float(np.float32(v))  # noqa: E731 - the header stores float32
    if kind == "TP":
        return f32(z_piezo_gain) * f32(z_piezo_extension)
    if kind == "ER":
        return -f32(scanner_sensitivity)
    if kind == "PH":
        return -f32(phase_sensitivity)
    return -1.0


def levels_to_values(
    raw: np.ndarray, kind: str, *, ad_range: int = 3, ad_bits: int = 12, **factors: float
) -> np.ndarray:
    """The sheet's conversion in float64: unipolar ``raw*(-R/res)*k``, bipolar ``(R - 2*raw*R/res)*k``."""
    volts, bipolar = AD_RANGES[ad_range]
    res = 2**ad_bits if 8 <= ad_bits <= 16 else 4096
    k = kind_factor(kind, **factors)
    raw = np.asarray(raw, dtype=np.float64)
    if bipolar:
        return (volts - 2.0 * raw * volts / res) * k
    return raw * (-volts / res) * k


def values_to_levels(
    values: np.ndarray, kind: str, *, ad_range: int = 3, ad_bits: int = 12, **factors: float
) -> np.ndarray:
    """Inverse of :func:`levels_to_values`, rounded and clipped to the AD levels, as int16."""
    volts, bipolar = AD_RANGES[ad_range]
    res = 2**ad_bits if 8 <= ad_bits <= 16 else 4096
    k = kind_factor(kind, **factors)
    v = np.asarray(values, dtype=np.float64) / k
    raw = (volts - v) * res / (2.0 * volts) if bipolar else v * res / -volts
    top = min(res - 1, 32767)
    return np.clip(np.rint(raw), 0, top).astype(np.int16)


@dataclass(frozen=True)
class AsdLayout:
    """Where things are in a written file."""

    path: Path
    version: int
    data_start: int
    frame_header_size: int
    frame_size: int
    n_frames: int
    n_channels: int
    header: dict[str, Any]

    @property
    def file_size(self) -> int:
        return self.data_start + self.n_channels * self.n_frames * self.frame_size

    def frame_offset(self, channel: int, frame: int) -> int:
        """Offset of the frame header of ``frame`` of channel ``channel`` (0 or 1)."""
        return self.data_start + (channel * self.n_frames + frame) * self.frame_size


# ---------------------------------------------------------------- header layouts
def _v1_fields(h: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        ("file_version", "i"), ("header_length", "i"), ("frame_header_length", "i"),
        ("text_encoding", "i"), ("user_name_size", "i"), ("comment_size", "i"),
        ("channel1", "I"), ("channel2", "I"), ("initial_frames", "i"), ("num_frames", "i"),
        ("scan_direction", "i"), ("file_id", "i"), ("x_pixels", "i"), ("y_pixels", "i"),
        ("x_nm", "i"), ("y_nm", "i"), ("is_averaged", "?"), ("averaging_window", "i"),
        ("year", "i"), ("month", "i"), ("day", "i"), ("hour", "i"), ("minute", "i"), ("second", "i"),
        ("x_rounding_degree", "i"), ("y_rounding_degree", "i"), ("frame_time", "f"),
        ("scanner_sensitivity", "f"), ("phase_sensitivity", "f"), ("offset", "i"), ("reserved", "12s"),
        ("afm_id", "i"), ("analogue_digital_range", "I"), ("analogue_digital_data_bits_size", "i"),
        ("max_x_scan_range", "f"), ("max_y_scan_range", "f"), ("x_piezo_extension", "f"),
        ("y_piezo_extension", "f"), ("z_piezo_extension", "f"), ("z_piezo_gain", "f"),
    ]  # fmt: skip


_V0_HEAD = [
    ("file_version", "i"), ("channel1", "H"), ("channel2", "H"), ("header_length", "i"),
    ("frame_header_length", "i"), ("user_name_size", "i"), ("comment_offset_size", "i"), ("comment_size", "i"),
    ("x_pixels", "h"), ("y_pixels", "h"), ("x_nm", "h"), ("y_nm", "h"), ("frame_time", "f"),
    ("z_piezo_extension", "f"), ("z_piezo_gain", "f"), ("analogue_digital_range", "I"),
    ("analogue_digital_data_bits_size", "i"), ("is_averaged", "?"), ("averaging_window", "i"), ("legacy", "h"),
    ("year", "h"), ("month", "B"), ("day", "B"), ("hour", "B"), ("minute", "B"), ("second", "B"),
    ("rounding_degree", "B"), ("max_x_scan_range", "f"), ("max_y_scan_range", "f"), ("reserved", "12s"),
    ("initial_frames", "i"), ("num_frames", "i"), ("afm_id", "i"), ("file_id", "h"),
]  # fmt: skip
_V0_TAIL = [("scanner_sensitivity", "f"), ("phase_sensitivity", "f"), ("scan_direction", "i")]
_V2_EXT = [
    ("number_of_frames", "i"), ("is_x_feed_forward", "?"), ("x_feed_forward_i", "i"), ("x_feed_forward_d", "d"),
    ("max_color_scale", "i"), ("min_color_scale", "i"), ("n_red", "i"), ("n_green", "i"), ("n_blue", "i"),
]  # fmt: skip


def _pack(fields: Sequence[tuple[str, str]], values: Mapping[str, Any]) -> bytes:
    fmt = "<" + "".join(code for _, code in fields)
    return struct.pack(fmt, *(values[name] for name, _ in fields))


def _size(fields: Sequence[tuple[str, str]]) -> int:
    return struct.calcsize("<" + "".join(code for _, code in fields))


# ---------------------------------------------------------------- frames
_FRAME_FIELDS = (
    ("frame_number", "<i4", 0),
    ("max_level", "<i2", 4),
    ("min_level", "<i2", 6),
    ("x_offset", "<i2", 8),
    ("y_offset", "<i2", 10),
    ("x_tilt", "<f4", 12),
    ("y_tilt", "<f4", 16),
    ("stimulated", "u1", 20),
)


def _records(levels: np.ndarray, header_size: int, headers: Mapping[str, Any] | None) -> np.ndarray:
    n, y, x = levels.shape
    fields = [(name, fmt, off) for name, fmt, off in _FRAME_FIELDS if off + np.dtype(fmt).itemsize <= header_size]
    hdr = np.dtype(
        {
            "names": [f[0] for f in fields],
            "formats": [f[1] for f in fields],
            "offsets": [f[2] for f in fields],
            "itemsize": header_size,
        }
    )
    rec = np.dtype(
        {
            "names": ["h", "d"],
            "formats": [hdr, ("<i2", (y, x))],
            "offsets": [0, header_size],
            "itemsize": header_size + 2 * x * y,
        }
    )
    out = np.zeros(n, rec)
    out["d"] = levels
    defaults = {
        "frame_number": np.arange(1, n + 1),
        "max_level": levels.reshape(n, -1).max(axis=1) if n and x * y else 0,
        "min_level": levels.reshape(n, -1).min(axis=1) if n and x * y else 0,
    }
    given = dict(headers or {})
    for name, *_ in fields:
        if name in given:
            out["h"][name] = given[name]
        elif name in defaults:
            out["h"][name] = defaults[name]
    return out


def _as_levels(array: Any, kind: str, conv: Mapping[str, Any]) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[np.newaxis]
    if a.ndim != 3:
        raise ValueError(f"frames must be (n, y, x), got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        return a.astype("<i2")
    return values_to_levels(a, kind, **conv)


def _encode(text: str | bytes, code_page: int) -> bytes:
    if isinstance(text, bytes):
        return text
    return text.encode(_CODECS.get(code_page, "utf-8"))


# ---------------------------------------------------------------- writer
def write_asd(
    path: str | os.PathLike[str],
    frames_by_channel: Mapping[str | int, Any] | np.ndarray,
    *,
    version: int = 1,
    scan_nm: tuple[int, int] = (100, 100),
    frame_time_ms: float = 1000.0,
    ad_range: int = 0x3,
    ad_bits: int = 12,
    z_piezo_extension: float = DEFAULT_FACTORS["z_piezo_extension"],
    z_piezo_gain: float = DEFAULT_FACTORS["z_piezo_gain"],
    scanner_sensitivity: float = DEFAULT_FACTORS["scanner_sensitivity"],
    phase_sensitivity: float = DEFAULT_FACTORS["phase_sensitivity"],
    date: tuple[int, int, int, int, int, int] = (2017, 11, 21, 13, 12, 39),
    operator: str | bytes = "Anonymous",
    comment: str | bytes = "",
    text_encoding: int = 932,
    scan_direction: int = 1,
    frame_header_size: int = 32,
    frame_headers: Mapping[str, Any] | None = None,
    comment_offset_size: int = 0,
    color_anchors: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AsdLayout:
    """Write an ASD file and return its layout.

    Parameters
    ----------
    path : path-like
    frames_by_channel : mapping or array
        ``{kind: frames}`` with one or two entries in file order; a kind is two
        letters (``"TP"``, ``"ER"``, ``"PH"``, or any other such as ``"XX"``) or an
        integer code. A bare array means ``{"TP": array}``. Frames are
        ``(n, y, x)`` (or one ``(y, x)`` frame): integer dtypes are raw levels,
        floats are values in the kind's unit.
    version : {0, 1, 2}
    scan_nm : (int, int)
        X and Y scan ranges in nm.
    frame_time_ms : float
    ad_range, ad_bits : int
        AD range code (see :data:`AD_RANGES`) and resolution in bits.
    z_piezo_extension, z_piezo_gain, scanner_sensitivity, phase_sensitivity : float
        Conversion factors stored in the header.
    date : 6 ints
        Year, month, day, hour, minute, second of the header.
    operator, comment : str or bytes
        Encoded with ``text_encoding`` (a Windows code page) unless bytes.
    text_encoding, scan_direction : int
    frame_header_size : int
        Bytes per frame header (32 in real files).
    frame_headers : mapping, optional
        Per-frame header fields (``frame_number``, ``max_level``, ``min_level``,
        ``x_offset``, ``y_offset``, ``x_tilt``, ``y_tilt``, ``stimulated``) as arrays
        of length n, used for every channel. Defaults: numbers from 1, the
        frame's max and min level, zeros.
    comment_offset_size : int
        v0 only: filler bytes between the scan direction and the comment.
    color_anchors : mapping, optional
        v2 only: ``{"red": (xs, ys), "green": ..., "blue": ...}``.
    overrides : mapping, optional
        Header fields to force (sheet names, plus ``number_of_frames`` and the
        other v2 extension fields), applied after the computed values. A v1/v2
        ``header_length`` up to 64 KiB beyond the fields is honoured by padding;
        other values are written as given while the frames follow the fields.

    Returns
    -------
    AsdLayout
    """
    if version not in (0, 1, 2):
        raise ValueError("version must be 0, 1 or 2 (use overrides={'file_version': v} for bad files)")
    if isinstance(frames_by_channel, np.ndarray):
        frames_by_channel = {"TP": frames_by_channel}
    items = list(frames_by_channel.items())
    if not 1 <= len(items) <= 2:
        raise ValueError("an ASD file holds one or two channels")
    conv = {
        "ad_range": ad_range,
        "ad_bits": ad_bits,
        "z_piezo_extension": z_piezo_extension,
        "z_piezo_gain": z_piezo_gain,
        "scanner_sensitivity": scanner_sensitivity,
        "phase_sensitivity": phase_sensitivity,
    }
    kinds = [k if isinstance(k, str) else "" for k, _ in items]
    levels = [_as_levels(frames, kind, conv) for kind, (_, frames) in zip(kinds, items)]
    if len({lv.shape for lv in levels}) != 1:
        raise ValueError(f"channels differ in shape: {[lv.shape for lv in levels]}")
    n, y, x = levels[0].shape
    codes = [kind_code(k) for k, _ in items] + [0]
    user = _encode(operator, text_encoding)
    note = _encode(comment, text_encoding)

    h: dict[str, Any] = {
        "file_version": version,
        "frame_header_length": frame_header_size,
        "text_encoding": text_encoding,
        "user_name_size": len(user),
        "comment_size": len(note),
        "comment_offset_size": comment_offset_size,
        "channel1": codes[0],
        "channel2": codes[1],
        "initial_frames": n,
        "num_frames": n,
        "scan_direction": scan_direction,
        "file_id": 7,
        "x_pixels": x,
        "y_pixels": y,
        "x_nm": scan_nm[0],
        "y_nm": scan_nm[1],
        "is_averaged": False,
        "averaging_window": 1,
        "year": date[0],
        "month": date[1],
        "day": date[2],
        "hour": date[3],
        "minute": date[4],
        "second": date[5],
        "x_rounding_degree": 3,
        "y_rounding_degree": 2,
        "rounding_degree": 5,
        "legacy": 0,
        "frame_time": frame_time_ms,
        "scanner_sensitivity": scanner_sensitivity,
        "phase_sensitivity": phase_sensitivity,
        "offset": 0,
        "reserved": b"",
        "afm_id": 2,
        "analogue_digital_range": ad_range,
        "analogue_digital_data_bits_size": ad_bits,
        "max_x_scan_range": 730.0,
        "max_y_scan_range": 2911.0,
        "x_piezo_extension": 7.3,
        "y_piezo_extension": 29.11,
        "z_piezo_extension": z_piezo_extension,
        "z_piezo_gain": z_piezo_gain,
    }
    anchors = dict(color_anchors or DEFAULT_ANCHORS)
    ext = {
        "number_of_frames": n,
        "is_x_feed_forward": True,
        "x_feed_forward_i": 3,
        "x_feed_forward_d": 0.25,
        "max_color_scale": 255,
        "min_color_scale": 0,
        **{f"n_{c}": len(anchors.get(c, ((), ()))[0]) for c in ("red", "green", "blue")},
    }
    if version == 0:
        h["header_length"] = _size(_V0_HEAD) + len(user) + _size(_V0_TAIL) + comment_offset_size + len(note)
    else:
        extra = _size(_V2_EXT) + 8 * sum(ext[f"n_{c}"] for c in ("red", "green", "blue")) if version == 2 else 0
        h["header_length"] = _size(_v1_fields(h)) + len(user) + len(note) + extra
    for key, value in (overrides or {}).items():
        (ext if key in ext else h)[key] = value

    if version == 0:
        head = _pack(_V0_HEAD, h) + user + _pack(_V0_TAIL, h) + b"\0" * comment_offset_size + note
    else:
        head = _pack(_v1_fields(h), h) + user + note
        if version == 2:
            head += _pack(_V2_EXT, ext)
            for c in ("red", "green", "blue"):
                xs, ys = anchors.get(c, ((), ()))
                head += np.asarray(xs, "<i4").tobytes() + np.asarray(ys, "<i4").tobytes()
        # Frames start at header_length: pad up to a modestly larger override; a
        # smaller or far larger one stays a lie in the field (frames follow the fields).
        if len(head) < h["header_length"] <= len(head) + _MAX_PAD:
            head += b"\0" * (h["header_length"] - len(head))

    out = Path(path)
    with open(out, "wb") as fh:
        fh.write(head)
        for lv in levels:
            fh.write(_records(lv, frame_header_size, frame_headers).tobytes())
    return AsdLayout(
        path=out,
        version=version,
        data_start=len(head),
        frame_header_size=frame_header_size,
        frame_size=frame_header_size + 2 * x * y,
        n_frames=n,
        n_channels=len(levels),
        header={**h, **({"v2": ext} if version == 2 else {})},
    )
