"""Bruker / Veeco NanoScope header parsing: sections, typed values, units, Z scale.

A NanoScope file starts with an ASCII header (latin-1, CRLF lines)::

    \\*File list
    \\Version: 0x09010201
    \\Data length: 40960                    <- header size in bytes
    ...
    \\*Ciao image list                      <- one section per stored image
    \\Data offset: 40960
    \\@2:Image Data: S [ZSensor] "Height Sensor"
    \\@2:Z scale: V [Sens. ZsensSens] (0.0003750000 V/LSB) 24.57563 V
    \\*File list end

Keys are matched without regard to case or repeated blanks (version 5 writes
``Scan rate`` where version 9 writes ``Scan Rate``). Header reads are bounded by
the file size and by the header length the file declares.
"""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from afmio.errors import CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio.units import preferred, si_factor

__all__ = [
    "MAGIC",
    "MAX_HEADER_BYTES",
    "TEXT_MAGIC",
    "ImageHeader",
    "LineDirection",
    "NanoscopeHeader",
    "PixelWidth",
    "Quantity",
    "Section",
    "TypedValue",
    "ZScale",
    "has_magic",
    "parse_date",
    "parse_header",
    "parse_quantity",
    "read_header",
    "si_factor",
]

#: First bytes of every binary NanoScope file.
MAGIC = b"\\*File list"
#: First bytes of the text-data variant, which this reader does not support.
TEXT_MAGIC = b"?*File list"
#: No NanoScope header is anywhere near this; refuse larger declared headers.
MAX_HEADER_BYTES = 16 << 20
_FIRST_READ = 64 << 10
_END = "\\*file list end"


class PixelWidth(enum.IntEnum):
    """``Bytes/pixel``: width of one little-endian signed sample."""

    INT8 = 1
    INT16 = 2
    INT32 = 4

    @property
    def dtype(self) -> str:
        return {1: "i1", 2: "<i2", 4: "<i4"}[int(self)]


class LineDirection(enum.Enum):
    """``Line Direction`` of an image: the fast-axis direction it was recorded in."""

    TRACE = "Trace"
    RETRACE = "Retrace"

    @classmethod
    def parse(cls, text: str | None) -> LineDirection:
        """Map the header text (any case); missing means Trace, as in old files."""
        if text is None or not text.strip():
            return cls.TRACE
        wanted = text.strip().lower()
        for member in cls:
            if member.value.lower() == wanted:
                return member
        raise ValueError(f"unknown line direction {text!r} (expected Trace or Retrace)")


# --------------------------------------------------------------------------- units
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY_RE = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")


@dataclass(frozen=True)
class Quantity:
    """A number with the unit the file wrote after it (``""`` when none)."""

    value: float
    unit: str = ""

    def in_base(self) -> tuple[float, str]:
        """The value in the unprefixed base unit (``999.9847 mV`` -> ``0.9999847 V``)."""
        factor, base = si_factor(self.unit)
        return self.value * factor, base


def parse_quantity(text: str) -> Quantity | None:
    """Parse ``"24.57563 V"``, ``"2.32515"`` or ``"100 nm"``; None when no number leads."""
    m = _QUANTITY_RE.match(text)
    if not m:
        return None
    value = float(m.group(1))
    if not math.isfinite(value):  # "1e999": no header value is meant to overflow
        return None
    return Quantity(value, m.group(2))


class ValueType(enum.Enum):
    """The letter that starts an ``@`` parameter's value."""

    VALUE = "V"
    SELECT = "S"
    SCALE = "C"


_TYPED_RE = re.compile(
    r"^(?P<type>[VSC])(?:\s+|$)"
    r"(?:\[(?P<soft>[^\]]*)\]\s*)?"
    r"(?:\((?P<hard_scale>[^)]*)\)\s*)?"
    r"(?P<rest>.*)$"
)


@dataclass(frozen=True)
class TypedValue:
    """An ``@`` parameter: ``V [soft scale] (hard scale/LSB) hard value``, ``S [x] "y"``...

    Attributes
    ----------
    type : ValueType
    soft_scale : str or None
        The bracketed name (a sensitivity for ``V``, the internal name for ``S``).
    hard_scale : Quantity or None
        The parenthesised per-LSB scale (informative only).
    hard_value : Quantity or None
        ``V`` and ``C`` parameters: the number (with unit) after the scales.
    text : str
        ``S`` parameters: the text after the brackets, without quotes.
    """

    type: ValueType
    soft_scale: str | None = None
    hard_scale: Quantity | None = None
    hard_value: Quantity | None = None
    text: str = ""

    @classmethod
    def parse(cls, raw: str) -> TypedValue | None:
        """Parse a typed value; None when the text is not one (an old-style plain value)."""
        m = _TYPED_RE.match(raw.strip())
        if not m:
            return None
        kind = ValueType(m.group("type"))
        soft = m.group("soft")
        soft = soft.strip() if soft is not None and soft.strip() else None
        hs = m.group("hard_scale")
        hard_scale = parse_quantity(hs) if hs is not None else None
        rest = m.group("rest").strip()
        if kind is ValueType.SELECT:
            return cls(kind, soft, hard_scale, None, rest.strip('"'))
        return cls(kind, soft, hard_scale, parse_quantity(rest), rest)


# --------------------------------------------------------------------------- sections
def normalize_key(key: str) -> str:
    """Lower case with single blanks: ``"Scan  Rate "`` -> ``"scan rate"``."""
    return " ".join(key.split()).lower()


@dataclass
class Section:
    """One ``\\*Name`` section: its parameters by normalised key (later duplicates win)."""

    name: str
    params: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        """The raw value of ``key`` (any case), or None."""
        return self.params.get(normalize_key(key))

    def at(self, key: str) -> str | None:
        """The value of the ``@`` parameter ``key`` in any group (``@2:Z scale``, ``@Z scale``).

        Group 2 (the image's own) is preferred; a plain ``key`` (very old files) is the
        last resort.
        """
        k = normalize_key(key)
        for candidate in (f"@2:{k}", f"@{k}"):
            if candidate in self.params:
                return self.params[candidate]
        suffix = f":{k}"
        for name, value in self.params.items():
            if name.startswith("@") and name.endswith(suffix) and name[1:-len(suffix)].isdigit():
                return value
        return self.params.get(k)

    def number(self, key: str) -> float | None:
        """The leading number of ``key``'s value, or None when absent or not a number."""
        text = self.get(key)
        if text is None:
            return None
        q = parse_quantity(text)
        return None if q is None else q.value


# --------------------------------------------------------------------------- images
@dataclass(frozen=True)
class ZScale:
    """How raw integers become physical values: ``value = raw * factor``.

    Attributes
    ----------
    factor : float
        Physical units per LSB (``hard value / 2**(8*bpp) * sensitivity``).
    unit : str
        ``"nm"``, ``"V"``, ``"deg"`` or the file's own unit.
    z_scale : str
        The ``@2:Z scale`` text, for the record.
    sensitivity : str or None
        The ``@<soft scale>`` text used, for the record.
    note : str or None
        Set when the chain had to fall back (missing sensitivity, odd units).
    """

    factor: float
    unit: str
    z_scale: str
    sensitivity: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ImageHeader:
    """One ``\\*Ciao image list`` section, decoded.

    ``rows``/``cols`` are what is stored (``Valid data len Y/X`` when present, else
    ``Number of lines``/``Samps/line``); ``lines``/``samples_per_line`` are the
    raster the scan size refers to.
    """

    index: int
    channel: str
    internal_name: str | None
    line_direction: LineDirection
    frame_direction: str | None
    data_offset: int
    data_length: int
    pixel_width: PixelWidth
    rows: int
    cols: int
    lines: int
    samples_per_line: int
    scan_size_nm: tuple[float, float] | None
    relative_frame_time: float | None
    z_scale_text: str | None
    section: Section

    @property
    def n_bytes(self) -> int:
        return self.rows * self.cols * int(self.pixel_width)

    @property
    def pixel_size_nm(self) -> tuple[float, float] | None:
        """``(x, y)`` nm per pixel: scan size over samples per line and over lines."""
        if self.scan_size_nm is None:
            return None
        sx, sy = self.scan_size_nm
        return sx / self.samples_per_line, sy / self.lines


@dataclass
class NanoscopeHeader:
    """Everything the reader needs from one file's header."""

    path: Path
    file_size: int
    header_length: int
    sections: list[Section]
    images: list[ImageHeader]

    def check_data(self, image: ImageHeader) -> None:
        """Raise :class:`TruncatedFileError` when ``image``'s data runs past the end of the file."""
        end = image.data_offset + image.n_bytes
        if end > self.file_size:
            raise TruncatedFileError(
                self.path,
                f"image {image.index} ({image.channel!r}): data at offset {image.data_offset} needs "
                f"{image.n_bytes} bytes but the file has {self.file_size}",
            )

    def _globals(self) -> Iterator[Section]:
        for s in self.sections:
            if normalize_key(s.name) == "ciao image list":
                break
            yield s

    def global_value(self, key: str) -> str | None:
        """``key`` from the sections before the first image (the last occurrence wins)."""
        found = None
        for s in self._globals():
            v = s.get(key)
            if v is not None:
                found = v
        return found

    def global_number(self, key: str) -> float | None:
        text = self.global_value(key)
        q = None if text is None else parse_quantity(text)
        return None if q is None else q.value

    @property
    def version(self) -> str | None:
        return self.global_value("Version")

    @property
    def date(self) -> str | None:
        return self.global_value("Date")

    @property
    def epoch_s(self) -> float | None:
        """``Date`` as Unix seconds (naive, taken as UTC), or None."""
        return parse_date(self.date)

    @property
    def scan_rate(self) -> float | None:
        """``Scan Rate`` / ``Scan rate`` of the scan list: lines per second."""
        rate = self.global_number("Scan rate")
        return rate if rate is not None and rate > 0 else None

    def sensitivity(self, name: str) -> str | None:
        """The ``@<name>`` parameter (a soft scale such as ``Sens. ZsensSens``).

        Looked up in the sections before the first image, later ones winning (the
        scan list's value over the scanner list's).
        """
        found = None
        key = "@" + normalize_key(name)
        for s in self._globals():
            if key in s.params:
                found = s.params[key]
        return found

    def z_scale(self, image: ImageHeader) -> ZScale:
        """Resolve the Z conversion chain of ``image`` (see :meth:`_z_scale`).

        Raises
        ------
        CorruptFileError
            No ``Z scale``, no number in it, or a factor that is not finite.
        """
        z = self._z_scale(image)
        if not math.isfinite(z.factor):
            raise CorruptFileError(
                self.path, f"image {image.index} ({image.channel!r}): Z scale factor {z.factor} is not finite"
            )
        return z

    def _z_scale(self, image: ImageHeader) -> ZScale:
        """Resolve the Z conversion chain of ``image``.

        ``value = raw * hard_value / 2**(8*bpp) * sensitivity`` with SI prefixes applied
        to every unit; the result is in nm for lengths, V for voltages, deg for angles.
        A sensitivity without a unit leaves the hard value's unit.

        Raises
        ------
        CorruptFileError
            The image has no ``Z scale`` or it holds no number.
        """
        what = f"image {image.index} ({image.channel!r})"
        text = image.z_scale_text
        if text is None:
            raise CorruptFileError(self.path, f"{what} has no 'Z scale' parameter")
        typed = TypedValue.parse(text)
        hard = typed.hard_value if typed is not None else parse_quantity(text)
        if hard is None:
            raise CorruptFileError(self.path, f"{what}: cannot read a number from 'Z scale: {text}'")
        levels = float(1 << (8 * int(image.pixel_width)))
        soft = typed.soft_scale if typed is not None else None
        if soft is None:
            value, unit = preferred(hard.value, hard.unit)
            return ZScale(value / levels, unit, text)
        sens_text = self.sensitivity(soft)
        sens = None
        if sens_text is not None:
            sens_typed = TypedValue.parse(sens_text)
            sens = sens_typed.hard_value if sens_typed is not None else parse_quantity(sens_text)
        if sens is None:
            value, unit = preferred(hard.value, hard.unit)
            missing = f"sensitivity {soft!r} not found in the header; values are in the hard-value unit"
            return ZScale(value / levels, unit, text, sens_text, missing)
        if not sens.unit:
            value, unit = preferred(hard.value * sens.value, hard.unit)
            return ZScale(value / levels, unit, text, sens_text)
        num, _, den = sens.unit.partition("/")
        den_factor, den_base = si_factor(den) if den else (1.0, "")
        hard_base_value, hard_base = hard.in_base()
        note = None
        if den and den_base == hard_base:
            # Express the hard value in the sensitivity's denominator, then multiply.
            product = hard_base_value / den_factor * sens.value
        else:
            product = hard.value * sens.value
            note = (f"sensitivity unit {sens.unit!r} does not divide the hard-value unit "
                    f"{hard.unit!r}; values are in {num or sens.unit!r} as written")
        value, unit = preferred(product, num.strip() or sens.unit)
        return ZScale(value / levels, unit, text, sens_text, note)


# --------------------------------------------------------------------------- reading
def has_magic(head: bytes) -> bool:
    """True when ``head`` starts like a binary NanoScope file."""
    return head.startswith(MAGIC)


def _find_end(head: bytes, limit: int) -> int:
    """Offset of ``\\*File list end`` (any case) in ``head[:limit]``, or -1."""
    end = head.find(b"\\*File list end", 0, limit)
    return end if end >= 0 else head.lower().find(_END.encode(), 0, limit)


_DATA_LENGTH_RE = re.compile(rb"\\data length:\s*(\d+)", re.IGNORECASE)


def read_header(path: str | os.PathLike[str]) -> NanoscopeHeader:
    """Read and parse the header of one NanoScope file.

    Reads at most ``min(file size, declared header length)`` bytes (and never more
    than :data:`MAX_HEADER_BYTES`).

    Raises
    ------
    UnsupportedFormatError
        The file does not start with ``\\*File list`` (or is the text variant).
    CorruptFileError, TruncatedFileError
        The header is malformed or ends early.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(min(size, _FIRST_READ))
        if not has_magic(head):
            if len(head) < len(MAGIC) and MAGIC.startswith(head):
                # Empty, or cut inside the magic: a NanoScope frame that was cut short.
                raise TruncatedFileError(p, f"file ends after {len(head)} bytes, inside the '\\*File list' magic")
            if head.startswith(TEXT_MAGIC):
                raise UnsupportedFormatError(
                    f"{p}: a text-data NanoScope file ('?*File list'); only binary files are supported",
                    path=p,
                )
            raise UnsupportedFormatError(f"{p}: not a NanoScope file (no '\\*File list' at the start)", path=p)
        declared = None
        # The header length is the "Data length" of the File list section itself.
        file_list_end = head.find(b"\\*", len(MAGIC))
        m = _DATA_LENGTH_RE.search(head, 0, file_list_end if file_list_end > 0 else len(head))
        if m:
            declared = int(m.group(1))
            if declared > MAX_HEADER_BYTES:
                raise CorruptFileError(p, f"declared header length {declared} bytes is implausible")
        limit = min(size, declared if declared else MAX_HEADER_BYTES)
        end = _find_end(head, limit)
        if end < 0 and limit > len(head):
            head += fh.read(limit - len(head))
            end = _find_end(head, limit)
    if end < 0:
        if declared is not None and size < declared:
            raise TruncatedFileError(
                p, f"file ends inside the header ({size} bytes of a declared {declared}-byte header)"
            )
        raise CorruptFileError(p, f"no '\\*File list end' within the first {limit} bytes of the header")
    text = head[:end].decode("latin-1")
    return parse_header(text, p, size, declared if declared else end)


_BLANKS = " \t\r\x00\x1a"


def _parse_params(body: str) -> dict[str, str]:
    """``\\Key: value`` lines -> {normalised key: value}; later duplicates win.

    A plain loop with ``str.partition`` is about twice as fast here as a regex.
    """
    params: dict[str, str] = {}
    for line in body.split("\n"):
        if line[:1] != "\\":
            continue
        key, sep, value = line[1:].partition(":")
        if key[:1] == "@" and key[1:].isdigit():
            # "@2:Z scale: ..." - the group number's colon is part of the key.
            rest, sep, value = value.partition(":")
            key = f"{key}:{rest}"
        if not sep:
            continue  # a stray line without a value
        key = key.rstrip().lower()
        if "  " in key or "\t" in key:
            key = normalize_key(key)
        params[key] = value.strip(_BLANKS)
    return params


def parse_header(text: str, path: Path, file_size: int, header_length: int) -> NanoscopeHeader:
    """Parse header text (up to ``\\*File list end``) into sections and images."""
    chunks = ("\n" + text).split("\n\\*")
    if chunks[0].strip(_BLANKS + "\n"):
        raise CorruptFileError(path, f"header text before any section: {chunks[0].strip()[:60]!r}")
    sections = []
    for chunk in chunks[1:]:
        name, _, body = chunk.partition("\n")
        sections.append(Section(name.strip(_BLANKS), _parse_params(body)))
    if not sections or normalize_key(sections[0].name) != "file list":
        raise CorruptFileError(path, "header does not start with the '\\*File list' section")
    images = [
        _image(path, file_size, i, s)
        for i, s in enumerate(s for s in sections if normalize_key(s.name) == "ciao image list")
    ]
    if not images:
        raise CorruptFileError(path, "header has no '\\*Ciao image list' section (no stored image)")
    return NanoscopeHeader(path, file_size, header_length, sections, images)


def _int(path: Path, section: Section, what: str, key: str, default: int | None = None) -> int:
    value = section.number(key)
    if value is None:
        if default is not None:
            return default
        raise CorruptFileError(path, f"{what} has no '{key}'")
    if value != int(value) or value < 0:
        raise CorruptFileError(path, f"{what}: '{key}' is {section.get(key)!r}, not a count")
    return int(value)


def _image(path: Path, file_size: int, index: int, s: Section) -> ImageHeader:
    what = f"image {index}"
    channel, internal = _channel_name(s)
    if channel is None:
        raise CorruptFileError(path, f"{what} has no 'Image Data' parameter naming its channel")
    what = f"image {index} ({channel!r})"
    samples = _int(path, s, what, "Samps/line")
    lines = _int(path, s, what, "Number of lines")
    cols = _int(path, s, what, "Valid data len X", samples) or samples
    rows = _int(path, s, what, "Valid data len Y", lines) or lines
    if samples == 0 or lines == 0:
        raise CorruptFileError(path, f"{what}: empty raster ({samples} samples x {lines} lines)")
    offset = _int(path, s, what, "Data offset")
    length = s.number("Data length")
    bpp_value = s.number("Bytes/pixel")
    if bpp_value is None:
        # Old files: the width follows from the data length.
        bpp_value = (length or 0) // (rows * cols) if length else 2
    try:
        width = PixelWidth(int(bpp_value))
    except ValueError:
        raise CorruptFileError(path, f"{what}: unsupported 'Bytes/pixel' {s.get('Bytes/pixel')!r}") from None
    needed = rows * cols * int(width)
    data_length = int(length) if length is not None else needed
    if data_length < needed:
        raise CorruptFileError(
            path, f"{what}: 'Data length' {data_length} is less than {rows} x {cols} x {int(width)} bytes"
        )
    try:
        direction = LineDirection.parse(s.get("Line Direction"))
    except ValueError as exc:
        raise CorruptFileError(path, f"{what}: {exc}") from None
    rel = s.number("Relative frame time")
    return ImageHeader(
        index=index,
        channel=channel,
        internal_name=internal,
        line_direction=direction,
        frame_direction=(s.get("Frame direction") or None),
        data_offset=offset,
        data_length=data_length,
        pixel_width=width,
        rows=rows,
        cols=cols,
        lines=lines,
        samples_per_line=samples,
        scan_size_nm=_scan_size(s),
        relative_frame_time=rel,
        z_scale_text=s.at("Z scale"),
        section=s,
    )


def _channel_name(s: Section) -> tuple[str | None, str | None]:
    text = s.at("Image Data")
    if text is None:
        return None, None
    typed = TypedValue.parse(text)
    if typed is not None and typed.type is ValueType.SELECT:
        name = typed.text or typed.soft_scale
        return name, typed.soft_scale
    name = text.strip().strip('"').strip()
    return (name or None), None


_ASPECT_RE = re.compile(rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})")


def _scan_size(s: Section) -> tuple[float, float] | None:
    """``Scan Size: 100 100 nm`` -> (100.0, 100.0) nm; one number uses the aspect ratio."""
    text = s.get("Scan Size")
    if text is None:
        return None
    parts = text.split()
    numbers: list[float] = []
    for part in parts:
        q = parse_quantity(part)
        if q is None or q.unit:
            break
        numbers.append(q.value)
    if not numbers:
        return None
    unit = " ".join(parts[len(numbers):]) or "nm"
    factor, base = si_factor(unit)
    if base != "m":
        return None
    to_nm = factor * 1e9
    x = numbers[0] * to_nm
    if len(numbers) >= 2:
        y = numbers[1] * to_nm
    else:
        # Old files give one extent; "Aspect ratio a:b" is x:y.
        m = _ASPECT_RE.match(s.get("Aspect Ratio") or "")
        a, b = (float(m.group(1)), float(m.group(2))) if m else (1.0, 1.0)
        y = x * b / a if a > 0 and b > 0 else x
    if not (0 < x < math.inf and 0 < y < math.inf):
        return None
    return x, y


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_DATE_RE = re.compile(
    r"^\s*(\d{1,2}):(\d{2}):(\d{2})\s*([AaPp][Mm])?\s+(?:[A-Za-z]+\s+)?([A-Za-z]{3})[a-z]*\s+(\d{1,2})\s+(\d{4})"
)


def parse_date(text: str | None) -> float | None:
    """``"04:06:25 PM Thu Sep 26 2019"`` -> Unix seconds (the naive time taken as UTC)."""
    if not text:
        return None
    m = _DATE_RE.match(text)
    if not m:
        return None
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3))
    ampm = (m.group(4) or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    month = _MONTHS.get(m.group(5).lower())
    if month is None:
        return None
    try:
        when = datetime(int(m.group(7)), month, int(m.group(6)), hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None
    return when.timestamp()
