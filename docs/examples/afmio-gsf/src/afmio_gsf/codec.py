"""The GSF file layout: parse and build one file's header and values.

Layout (Gwyddion user guide, "GSF"): the magic line ``Gwyddion Simple Field 1.0``,
``Key = Value`` lines, 1 to 4 NUL bytes so that the data starts at a multiple of
4, then ``XRes * YRes`` little-endian float32 values, row after row. The file
size must equal that offset plus ``4 * XRes * YRes`` exactly.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from afmio import CorruptFileError, TruncatedFileError

MAGIC = b"Gwyddion Simple Field 1.0\n"
#: A header longer than this is not a GSF header (real ones are a few hundred bytes).
MAX_HEADER = 1 << 16
DTYPE = np.dtype("<f4")


@dataclass
class Header:
    """One file's header, as the file states it (units not yet converted)."""

    xres: int
    yres: int
    xreal: float = 1.0
    yreal: float = 1.0
    xoffset: float = 0.0
    yoffset: float = 0.0
    xy_units: str | None = None
    z_units: str | None = None
    title: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    data_offset: int = 0


def _float(path: Path, fields: dict[str, str], key: str, default: float, positive: bool) -> float:
    text = fields.pop(key, None)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise CorruptFileError(path, f"{key} = {text!r} is not a number") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise CorruptFileError(path, f"{key} = {text!r} must be a {'positive ' if positive else ''}finite number")
    return value


def _resolution(path: Path, fields: dict[str, str], key: str) -> int:
    text = fields.pop(key, None)
    if text is None:
        raise CorruptFileError(path, f"the header has no {key}")
    try:
        value = int(text)
    except ValueError:
        raise CorruptFileError(path, f"{key} = {text!r} is not an integer") from None
    if value < 1:
        raise CorruptFileError(path, f"{key} = {value} must be positive")
    return value


def parse_header(path: Path, head: bytes, file_size: int) -> Header:
    """Parse the header at the start of ``head`` (the file's first bytes) and check sizes.

    Raises
    ------
    CorruptFileError
        No magic line, a malformed line, a missing or bad key, wrong padding, or a
        file longer than the header says.
    TruncatedFileError
        The file ends inside the header or before all the values.
    """
    if not head.startswith(MAGIC):
        if MAGIC.startswith(head):
            raise TruncatedFileError(path, f"the file ends after {len(head)} bytes, inside the magic line")
        raise CorruptFileError(path, "not a Gwyddion Simple Field file (no 'Gwyddion Simple Field 1.0' line)")
    end = head.find(b"\0")
    if end < 0:
        if len(head) >= MAX_HEADER:
            raise CorruptFileError(path, f"no NUL ends the header within its first {MAX_HEADER} bytes")
        raise TruncatedFileError(path, f"the file ends after {len(head)} bytes, inside the header")
    try:
        text = head[len(MAGIC) : end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(path, f"the header is not UTF-8 text (byte {len(MAGIC) + exc.start})") from None
    fields: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise CorruptFileError(path, f"header line {number} is not 'Key = Value': {line[:60]!r}")
        fields[key.strip()] = value.strip()
    offset = end + (4 - end % 4)  # 1 to 4 NULs; the data starts at a multiple of 4
    padding = head[end:offset]
    if len(padding) < offset - end:
        raise TruncatedFileError(path, "the file ends inside the header padding")
    if padding.strip(b"\0"):
        raise CorruptFileError(path, f"the header padding at byte {end} holds non-NUL bytes")
    header = Header(
        xres=_resolution(path, fields, "XRes"),
        yres=_resolution(path, fields, "YRes"),
        xreal=_float(path, fields, "XReal", 1.0, positive=True),
        yreal=_float(path, fields, "YReal", 1.0, positive=True),
        xoffset=_float(path, fields, "XOffset", 0.0, positive=False),
        yoffset=_float(path, fields, "YOffset", 0.0, positive=False),
        xy_units=fields.pop("XYUnits", None) or None,
        z_units=fields.pop("ZUnits", None) or None,
        title=fields.pop("Title", None) or None,
        extra=fields,
        data_offset=offset,
    )
    expected = offset + DTYPE.itemsize * header.xres * header.yres
    if file_size < expected:
        raise TruncatedFileError(
            path, f"XRes x YRes = {header.xres} x {header.yres} needs {expected} bytes, the file has {file_size}"
        )
    if file_size > expected:
        raise CorruptFileError(
            path, f"{file_size - expected} bytes more than XRes x YRes = {header.xres} x {header.yres} allows"
        )
    return header


def read_header(path: Path) -> Header:
    """Read and check the header of the file at ``path`` (reads at most :data:`MAX_HEADER` bytes)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(min(size, MAX_HEADER))
    return parse_header(path, head, size)


def read_values(path: Path, header: Header) -> np.ndarray:
    """The ``(YRes, XRes)`` values of the file, as float32 in the file's units."""
    count = header.xres * header.yres
    with open(path, "rb") as fh:
        fh.seek(header.data_offset)
        raw = fh.read(count * DTYPE.itemsize)
    if len(raw) != count * DTYPE.itemsize:  # the file changed since its header was read
        raise TruncatedFileError(path, f"the file ends inside the data (needed {count * 4} bytes, got {len(raw)})")
    return np.frombuffer(raw, DTYPE).reshape(header.yres, header.xres)


def _clean(value: str) -> str:
    # A value cannot span lines or hold the NUL that ends the header.
    return value.replace("\n", " ").replace("\r", " ").replace("\0", "")


def encode(values: np.ndarray, fields: dict[str, str]) -> bytes:
    """Return a whole GSF file: ``fields`` (``XRes``/``YRes`` are added) and the values."""
    yres, xres = values.shape
    lines = [f"XRes = {xres}", f"YRes = {yres}"]
    lines += [f"{_clean(k)} = {_clean(v)}" for k, v in fields.items() if k not in ("XRes", "YRes")]
    head = MAGIC + ("\n".join(lines) + "\n").encode("utf-8")
    head += b"\0" * (4 - len(head) % 4)
    return head + np.ascontiguousarray(values, DTYPE).tobytes()
