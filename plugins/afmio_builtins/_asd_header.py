"""ASD file headers: the on-disk codes, the parsed header, and the level-to-value conversion.

Layouts follow ``shared/formats/asd.md`` (versions 0, 1 and 2). Everything here
works from the header bytes alone; reading frames is :mod:`afmio_builtins.asd`'s job.
"""

from __future__ import annotations

import codecs
import math
import os
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from typing import IO, Any

import numpy as np

from afmio.errors import CorruptFileError, TruncatedFileError

__all__ = [
    "KIND_UNITS",
    "ADRange",
    "AsdHeader",
    "AsdVersion",
    "CodePage",
    "Conversion",
    "DataKind",
    "frame_header_dtype",
    "read_header",
]


class AsdVersion(IntEnum):
    """The file version, the first ``i32`` of the file."""

    V0 = 0
    V1 = 1
    V2 = 2


class DataKind(IntEnum):
    """Channel data kinds: two ASCII letters read as a little-endian integer."""

    NONE = 0
    TP = 0x5054  # topography
    ER = 0x5245  # error signal
    PH = 0x4850  # phase


class ADRange(IntEnum):
    """Analogue-to-digital input range codes."""

    UNIPOLAR_1_0V = 0x00000001
    UNIPOLAR_2_5V = 0x00000002
    UNIPOLAR_10V = 0x00000003
    UNIPOLAR_5_0V = 0x00000004
    BIPOLAR_1_0V = 0x00010000
    BIPOLAR_2_5V = 0x00020000
    BIPOLAR_5_0V = 0x00040000
    BIPOLAR_80V = 0x00800000  # libasd's "dummy" range of modified files (16-bit data)

    @property
    def volts(self) -> float:
        """Full-scale voltage R (9.99 V for the 10 V code, as AFMReader)."""
        return _AD_VOLTS[self]

    @property
    def bipolar(self) -> bool:
        return self.value >= 0x00010000


_AD_VOLTS = {
    ADRange.UNIPOLAR_1_0V: 1.0,
    ADRange.UNIPOLAR_2_5V: 2.5,
    ADRange.UNIPOLAR_10V: 9.99,
    ADRange.UNIPOLAR_5_0V: 5.0,
    ADRange.BIPOLAR_1_0V: 1.0,
    ADRange.BIPOLAR_2_5V: 2.5,
    ADRange.BIPOLAR_5_0V: 5.0,
    ADRange.BIPOLAR_80V: 80.0,
}


class CodePage(IntEnum):
    """Windows code pages the header declares for its two strings."""

    SHIFT_JIS = 932
    UTF_16 = 1200
    EUC_JP = 20932
    UTF_8 = 65001
    MAC_JAPANESE = 10001
    ASCII = 20127


_CODECS = {
    CodePage.SHIFT_JIS: "cp932",
    CodePage.UTF_16: "utf-16-le",
    CodePage.EUC_JP: "euc_jp",
    CodePage.UTF_8: "utf-8",
    CodePage.MAC_JAPANESE: "shift_jis",  # closest codec Python ships
    CodePage.ASCII: "ascii",
}

#: Unit of each kind's converted values; other kinds load as AD volts.
KIND_UNITS = {"TP": "nm", "ER": "nm", "PH": "deg"}

# ---------------------------------------------------------------- fixed header layouts
# (name, struct code) in file order; little-endian, packed.
_V1_FIELDS = (
    ("file_version", "i"),
    ("header_length", "i"),
    ("frame_header_length", "i"),
    ("text_encoding", "i"),
    ("user_name_size", "i"),
    ("comment_size", "i"),
    ("channel1", "4s"),
    ("channel2", "4s"),
    ("initial_frames", "i"),
    ("num_frames", "i"),
    ("scan_direction", "i"),
    ("file_id", "i"),
    ("x_pixels", "i"),
    ("y_pixels", "i"),
    ("x_nm", "i"),
    ("y_nm", "i"),
    ("is_averaged", "?"),
    ("averaging_window", "i"),
    ("year", "i"),
    ("month", "i"),
    ("day", "i"),
    ("hour", "i"),
    ("minute", "i"),
    ("second", "i"),
    ("x_rounding_degree", "i"),
    ("y_rounding_degree", "i"),
    ("frame_time", "f"),
    ("scanner_sensitivity", "f"),
    ("phase_sensitivity", "f"),
    ("offset", "i"),
    ("reserved", "12s"),
    ("afm_id", "i"),
    ("analogue_digital_range", "I"),
    ("analogue_digital_data_bits_size", "i"),
    ("max_x_scan_range", "f"),
    ("max_y_scan_range", "f"),
    ("x_piezo_extension", "f"),
    ("y_piezo_extension", "f"),
    ("z_piezo_extension", "f"),
    ("z_piezo_gain", "f"),
)

_V0_FIELDS = (
    ("file_version", "i"),
    ("channel1", "2s"),
    ("channel2", "2s"),
    ("header_length", "i"),
    ("frame_header_length", "i"),
    ("user_name_size", "i"),
    ("comment_offset_size", "i"),
    ("comment_size", "i"),
    ("x_pixels", "h"),
    ("y_pixels", "h"),
    ("x_nm", "h"),
    ("y_nm", "h"),
    ("frame_time", "f"),
    ("z_piezo_extension", "f"),
    ("z_piezo_gain", "f"),
    ("analogue_digital_range", "I"),
    ("analogue_digital_data_bits_size", "i"),
    ("is_averaged", "?"),
    ("averaging_window", "i"),
    ("legacy", "h"),
    ("year", "h"),
    ("month", "B"),
    ("day", "B"),
    ("hour", "B"),
    ("minute", "B"),
    ("second", "B"),
    ("rounding_degree", "B"),
    ("max_x_scan_range", "f"),
    ("max_y_scan_range", "f"),
    ("reserved", "12s"),
    ("initial_frames", "i"),
    ("num_frames", "i"),
    ("afm_id", "i"),
    ("file_id", "h"),
)

# v0: after the operator name.
_V0_TAIL_FIELDS = (("scanner_sensitivity", "f"), ("phase_sensitivity", "f"), ("scan_direction", "i"))

# v2: after the comment (libasd's order, with the one-byte feed-forward flag).
_V2_EXT_FIELDS = (
    ("number_of_frames", "i"),
    ("is_x_feed_forward", "?"),
    ("x_feed_forward_i", "i"),
    ("x_feed_forward_d", "d"),
    ("max_color_scale", "i"),
    ("min_color_scale", "i"),
    ("n_red", "i"),
    ("n_green", "i"),
    ("n_blue", "i"),
)


def _layout(fields: tuple[tuple[str, str], ...]) -> tuple[struct.Struct, tuple[str, ...]]:
    return struct.Struct("<" + "".join(code for _, code in fields)), tuple(name for name, _ in fields)


_V1 = _layout(_V1_FIELDS)
_V0 = _layout(_V0_FIELDS)
_V0_TAIL = _layout(_V0_TAIL_FIELDS)
_V2_EXT = _layout(_V2_EXT_FIELDS)
assert _V1[0].size == 165 and _V0[0].size == 105 and _V0_TAIL[0].size == 12

#: Largest header string or frame header accepted (real values: a few bytes, 32).
_MAX_TEXT = 1 << 20
_MAX_FRAME_HEADER = 1 << 16
#: Largest pixel count per axis accepted (v0 stores them as i16).
_MAX_PIXELS = 1 << 16
#: Largest v2 colour-map anchor count accepted per colour (real maps use a handful).
_MAX_ANCHORS = 4096

# Frame-header fields: (name, dtype, offset). Only those inside frame_header_length are read.
_FRAME_HEADER_FIELDS = (
    ("frame_number", "<i4", 0),
    ("max_level", "<i2", 4),
    ("min_level", "<i2", 6),
    ("x_offset", "<i2", 8),
    ("y_offset", "<i2", 10),
    ("x_tilt", "<f4", 12),
    ("y_tilt", "<f4", 16),
    ("stimulated", "?", 20),
)


def frame_header_dtype(size: int) -> np.dtype:
    """Structured dtype of a ``size``-byte frame header with every field that fits."""
    names, formats, offsets = [], [], []
    for name, fmt, off in _FRAME_HEADER_FIELDS:
        if off + np.dtype(fmt).itemsize <= size:
            names.append(name)
            formats.append(fmt)
            offsets.append(off)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": size})


# ---------------------------------------------------------------- conversion
@dataclass(frozen=True)
class Conversion:
    """``value = scale * raw + offset`` for one channel, with the unit it gives."""

    scale: float
    offset: float
    unit: str
    known: bool

    def as_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "offset": self.offset, "unit": self.unit}


@dataclass
class AsdHeader:
    """A parsed ASD file header.

    ``fields`` holds every raw header field under the sheet's (AFMReader's) key
    names; the attributes are the facts the reader needs, already checked.
    """

    path: str
    version: AsdVersion
    fields: dict[str, Any]
    kinds: tuple[str, ...]  # channel names as the file spells them, 1 or 2
    kind_codes: tuple[int, ...]
    n_frames: int
    x_pixels: int
    y_pixels: int
    frame_header_size: int
    data_start: int
    file_size: int
    operator: str
    comment: str
    extension: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ sizes
    @property
    def frame_size(self) -> int:
        """Bytes of one frame record: header plus int16 samples."""
        return self.frame_header_size + 2 * self.x_pixels * self.y_pixels

    @property
    def expected_size(self) -> int:
        """File size the header promises."""
        return self.data_start + len(self.kinds) * self.n_frames * self.frame_size

    def channel_start(self, index: int) -> int:
        """Offset of frame 0 of channel ``index`` (0 or 1)."""
        return self.data_start + index * self.n_frames * self.frame_size

    def complete_frames(self, index: int) -> int:
        """Frames of channel ``index`` entirely inside the file."""
        avail = self.file_size - self.channel_start(index)
        return max(0, min(self.n_frames, avail // self.frame_size)) if avail > 0 else 0

    # ------------------------------------------------------------ physical facts
    @property
    def frame_time_ms(self) -> float:
        return float(self.fields["frame_time"])

    @property
    def frame_duration_s(self) -> float | None:
        """Seconds per frame, or None when the header's frame time is unusable."""
        ms = self.frame_time_ms
        return ms / 1000.0 if math.isfinite(ms) and ms > 0 else None

    @property
    def pixel_size_nm(self) -> tuple[float | None, float | None]:
        """(x, y) nm per pixel from scan range / pixels; None where the range is not positive."""
        x = self.fields["x_nm"] / self.x_pixels if self.fields["x_nm"] > 0 else None
        y = self.fields["y_nm"] / self.y_pixels if self.fields["y_nm"] > 0 else None
        return x, y

    @property
    def recorded(self) -> datetime | None:
        """The header date as a naive datetime (no zone in the file), or None if invalid."""
        f = self.fields
        try:
            return datetime(f["year"], f["month"], f["day"], f["hour"], f["minute"], f["second"])
        except (ValueError, TypeError, OverflowError):
            return None

    def start_epoch_ms(self) -> int | None:
        """Unix ms of frame 0, playNano's convention.

        The header date is taken as UTC and as the *end* of the recording, so frame 0
        started ``num_frames * frame_duration`` earlier.
        """
        when, dur = self.recorded, self.frame_duration_s
        if when is None or dur is None:
            return None
        return int((when.replace(tzinfo=timezone.utc).timestamp() - self.n_frames * dur) * 1000)

    @property
    def ad_range(self) -> ADRange | None:
        try:
            return ADRange(self.fields["analogue_digital_range"])
        except ValueError:
            return None

    @property
    def ad_resolution(self) -> int:
        """Number of AD levels: ``2**bits`` for 8..16 bits, else 4096 (AFMReader's constant)."""
        bits = self.fields["analogue_digital_data_bits_size"]
        return 1 << bits if 8 <= bits <= 16 else 4096

    def conversion(self, kind: str) -> Conversion:
        """The level-to-value conversion of channel kind ``kind``.

        Unipolar ranges give ``-raw * R / res * k`` and bipolar ranges
        ``(R - 2 * raw * R / res) * k`` (AFMReader's signs), where ``k`` is
        ``z_piezo_gain * z_piezo_extension`` for TP (nm), ``-scanner_sensitivity``
        for ER (nm) and ``-phase_sensitivity`` for PH (degrees). Other kinds use
        ``k = -1``: the AD input voltage.

        Raises
        ------
        CorruptFileError
            The AD range code is unknown or the factor is not finite.
        """
        code = self.fields["analogue_digital_range"]
        ad = self.ad_range
        if ad is None:
            known = ", ".join(f"0x{c.value:X}" for c in ADRange)
            raise CorruptFileError(
                self.path, f"AD range code 0x{code:X} is unknown (known: {known}); cannot convert levels"
            )
        f = self.fields
        if kind == "TP":
            k = f["z_piezo_gain"] * f["z_piezo_extension"]
        elif kind == "ER":
            k = -f["scanner_sensitivity"]
        elif kind == "PH":
            k = -f["phase_sensitivity"]
        else:
            k = -1.0
        if not math.isfinite(k):
            raise CorruptFileError(self.path, f"the {kind} conversion factor is not finite ({k})")
        r, res = ad.volts, self.ad_resolution
        if ad.bipolar:
            scale, offset = -2.0 * r / res * k, r * k
        else:
            scale, offset = -r / res * k, 0.0
        return Conversion(scale, offset, KIND_UNITS.get(kind, "V"), kind in KIND_UNITS)


# ---------------------------------------------------------------- parsing
def _decode_text(raw: bytes, code_page: int | None) -> str:
    name = None
    if code_page is not None:
        try:
            name = _CODECS[CodePage(code_page)]
        except ValueError:
            name = f"cp{code_page}"
    try:
        codecs.lookup(name or "")
    except LookupError:
        name = "utf-8"
    return raw.decode(name or "utf-8", errors="replace").replace("\x00", "").strip()


def _kind_name(raw: bytes, code: int, index: int) -> str:
    """Channel name: the kind's two letters (``TP``), or ``ch1``/``ch2`` when unreadable."""
    try:
        kind = DataKind(code)
    except ValueError:
        kind = None
    if kind is not None and kind is not DataKind.NONE:
        return kind.name
    letters = raw.replace(b"\x00", b"")
    if letters and all(0x21 <= b < 0x7F for b in letters):
        return letters.decode("ascii")
    return f"ch{index + 1}"


def _unpack(layout: tuple[struct.Struct, tuple[str, ...]], data: bytes, offset: int = 0) -> dict[str, Any]:
    fmt, names = layout
    return dict(zip(names, fmt.unpack_from(data, offset)))


def _read_at(handle: IO[bytes], path: str, offset: int, size: int, file_size: int, what: str) -> bytes:
    if size < 0 or size > _MAX_TEXT:
        raise CorruptFileError(path, f"impossible size {size} for {what}")
    if offset + size > file_size:
        raise TruncatedFileError(
            path, f"file ends inside {what} (needs bytes up to {offset + size}, file has {file_size})"
        )
    handle.seek(offset)
    data = handle.read(size)
    if len(data) != size:
        raise TruncatedFileError(path, f"file ends inside {what}")
    return data


def _check(path: str, ok: bool, detail: str) -> None:
    if not ok:
        raise CorruptFileError(path, detail)


def read_header(handle: IO[bytes], path: str | os.PathLike[str], file_size: int | None = None) -> AsdHeader:
    """Parse the file header of an open ASD file (the frames are not read).

    Raises
    ------
    CorruptFileError
        Unknown version, impossible sizes or counts.
    TruncatedFileError
        The file ends inside the header.
    """
    path = str(path)
    if file_size is None:
        file_size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    head = handle.read(_V1[0].size)
    if len(head) < 4:
        raise TruncatedFileError(path, f"file has only {len(head)} bytes; an ASD header needs at least 105")
    raw_version = struct.unpack_from("<i", head)[0]
    try:
        version = AsdVersion(raw_version)
    except ValueError:
        hint = " (the bytes read as float 1.0: not an ASD movie)" if raw_version == 0x3F800000 else ""
        raise CorruptFileError(path, f"ASD file version {raw_version} unknown; expected 0, 1 or 2{hint}") from None
    fixed = _V0 if version is AsdVersion.V0 else _V1
    if len(head) < fixed[0].size:
        raise TruncatedFileError(
            path, f"file has {len(head)} bytes; a version {int(version)} header needs {fixed[0].size}"
        )
    f = _unpack(fixed, head)
    extension: dict[str, Any] = {}
    pos = fixed[0].size

    for key in ("user_name_size", "comment_size", "comment_offset_size"):
        if key in f:
            _check(path, 0 <= f[key] <= _MAX_TEXT, f"impossible {key} {f[key]}")
    user = _read_at(handle, path, pos, f["user_name_size"], file_size, "the operator name")
    pos += len(user)
    if version is AsdVersion.V0:
        tail = _read_at(handle, path, pos, _V0_TAIL[0].size, file_size, "the header")
        f.update(_unpack(_V0_TAIL, tail))
        pos += len(tail) + f["comment_offset_size"]
        comment = _read_at(handle, path, pos, f["comment_size"], file_size, "the comment")
        pos += len(comment)
        data_start = pos  # v0 header_length is unreliable: frames follow the comment
        code_page = None  # v0 declares none; its strings are ASCII in practice
    else:
        comment = _read_at(handle, path, pos, f["comment_size"], file_size, "the comment")
        pos += len(comment)
        data_start = f["header_length"]
        _check(
            path,
            pos <= data_start <= file_size,
            f"header length {data_start} is outside [{pos}, {file_size}] (fields end at {pos})",
        )
        code_page = f["text_encoding"]
        if version is AsdVersion.V2:
            extension = _read_v2_extension(handle, path, pos, data_start)

    _check(path, f["num_frames"] >= 0, f"negative frame count {f['num_frames']}")
    for axis in ("x_pixels", "y_pixels"):
        _check(path, 0 < f[axis] <= _MAX_PIXELS, f"impossible {axis} {f[axis]}")
    fhl = f["frame_header_length"]
    _check(path, 0 <= fhl <= _MAX_FRAME_HEADER, f"impossible frame header length {fhl}")

    raw_kinds = (f["channel1"], f["channel2"])
    codes = [int.from_bytes(raw, "little") for raw in raw_kinds]
    kinds = [_kind_name(raw, code, i) for i, (raw, code) in enumerate(zip(raw_kinds, codes))]
    f["channel1"], f["channel2"] = (raw.replace(b"\x00", b"").decode("ascii", "replace") for raw in raw_kinds)
    n_channels = 2 if codes[1] != 0 else 1
    kinds = kinds[:n_channels]
    if n_channels == 2 and kinds[0].lower() == kinds[1].lower():
        kinds[1] = f"{kinds[1]}_2"  # keep names distinct so channel= can choose

    return AsdHeader(
        path=path,
        version=version,
        fields=f,
        kinds=tuple(kinds),
        kind_codes=tuple(codes[:n_channels]),
        n_frames=f["num_frames"],
        x_pixels=f["x_pixels"],
        y_pixels=f["y_pixels"],
        frame_header_size=fhl,
        data_start=data_start,
        file_size=file_size,
        operator=_decode_text(user, code_page),
        comment=_decode_text(comment, code_page),
        extension=extension,
    )


def _read_v2_extension(handle: IO[bytes], path: str, pos: int, end: int) -> dict[str, Any]:
    """Best-effort parse of the v2 block between the comment and the first frame.

    Readers disagree on this block (see the sheet); frames are located by the
    header length either way, so a block that does not fit is reported, not fatal.
    """
    size = _V2_EXT[0].size
    if end - pos < size:
        return {"parsed": False, "reason": f"{end - pos} bytes before the first frame, need {size}"}
    handle.seek(pos)
    ext = _unpack(_V2_EXT, handle.read(size))
    counts = [ext["n_red"], ext["n_green"], ext["n_blue"]]
    if any(not 0 <= c <= _MAX_ANCHORS for c in counts) or pos + size + 8 * sum(counts) > end:
        ext.update(parsed=False, reason=f"colour anchor counts {counts} do not fit the header")
        return ext
    body = handle.read(8 * sum(counts))
    values = np.frombuffer(body, "<i4")
    at = 0
    for colour, n in zip(("red", "green", "blue"), counts):
        ext[f"{colour}_x"] = values[at : at + n].tolist()
        ext[f"{colour}_y"] = values[at + n : at + 2 * n].tolist()
        at += 2 * n
    ext["parsed"] = True
    return ext
