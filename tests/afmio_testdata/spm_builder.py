"""Build small Bruker NanoScope files byte by byte, for tests.

The files follow ``../shared/formats/spm.md``: an ASCII header (CRLF lines, latin-1)
from ``\\*File list`` to ``\\*File list end``, padded to ``header_size`` bytes, then
the raw little-endian images one after another.

Example::

    from afmio_testdata.spm_builder import SpmImage, write_spm

    raw = np.arange(12, dtype=np.int16).reshape(3, 4)
    write_spm(tmp_path / "f.001", [SpmImage(raw)], style="v5", relative_frame_time=None)

API
---
:class:`SpmImage`
    One stored image: its raw integers in storage order (``int8``/``int16``/``int32``
    sets ``Bytes/pixel``), channel name, internal name, line/frame direction, the
    ``@2:Z scale`` text, scan size, and ``extra``/``omit`` to add or drop image keys.
:func:`build_header` -> str
    The header text alone (``Data offset`` values filled in), for tests that edit it.
:func:`build_spm` -> bytes
    The whole file.
:func:`write_spm` -> Path
    ``build_spm`` written to a path.
:func:`write_series` -> list of Path
    A folder of one-image files ``<stem>.001``, ``.002``... with increasing ``Date``
    (one second apart) and ``Relative frame time``.
:func:`nanoscope_date`
    ``"04:06:25 PM Thu Sep 26 2019"`` spelling of a :class:`datetime.datetime`.
:data:`V5_KEYS`, :data:`V9_KEYS`
    The key spellings of NanoScope 5.x and 9.x (``style="v5"`` / ``"v9"``).
:func:`expected_values`
    The float64 values afmio should produce for an image (sheet formula, flipped rows);
    give it the sensitivity as ``(value, unit)`` and the hard value as ``(value, unit)``.

Everything is deterministic; no randomness is used unless the caller passes data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_SENSITIVITIES",
    "V5_KEYS",
    "V9_KEYS",
    "SpmImage",
    "build_header",
    "build_spm",
    "expected_values",
    "nanoscope_date",
    "write_series",
    "write_spm",
]

#: Key spellings that differ between NanoScope generations.
V9_KEYS = {
    "version": "0x09010201",
    "scan_size": "Scan Size",
    "scan_rate": "Scan Rate",
    "aspect": "Aspect Ratio",
    "line_direction": "Line Direction",
}
V5_KEYS = {
    "version": "0x05310001",
    "scan_size": "Scan size",
    "scan_rate": "Scan rate",
    "aspect": "Aspect ratio",
    "line_direction": "Line direction",
}

#: Sensitivities written into the scanner list unless the caller gives others.
DEFAULT_SENSITIVITIES = {
    "Sens. ZsensSens": "V 133.3501 nm/V",
    "Sens. AmplSens": "V 20.00000 nm/V",
    "Sens. Phase": "V 1.000000 ",
}

_WIDTHS = {np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 4}


@dataclass
class SpmImage:
    """One ``\\*Ciao image list`` section and its data.

    Parameters
    ----------
    data : numpy.ndarray
        ``(rows, cols)`` raw integers as stored (first stored line first).
    channel, internal : str
        ``@2:Image Data: S [internal] "channel"``.
    line_direction, frame_direction : str or None
        ``Trace``/``Retrace`` and ``Down``/``Up``; None leaves the key out.
    z_scale : str
        The ``@2:Z scale`` value text.
    scan_size : str or None
        The image's ``Scan Size`` value (``"100 100 nm"``).
    samples_per_line, lines : int, optional
        ``Samps/line`` / ``Number of lines``; default the data's shape.
    valid_len : bool
        Write ``Valid data len X/Y`` (the data's shape).
    relative_frame_time : float or None or "inherit"
        ``Relative frame time``; "inherit" takes the file-level value.
    extra : mapping
        More ``key: value`` lines for this image (written verbatim, ``@`` keys too).
    omit : sequence of str
        Keys (as written, e.g. ``"Bytes/pixel"``) to leave out.
    """

    data: np.ndarray
    channel: str = "Height Sensor"
    internal: str = "ZSensor"
    line_direction: str | None = "Trace"
    frame_direction: str | None = "Down"
    z_scale: str = "V [Sens. ZsensSens] (0.0003750000 V/LSB) 24.57563 V"
    scan_size: str | None = "100 100 nm"
    samples_per_line: int | None = None
    lines: int | None = None
    valid_len: bool = True
    relative_frame_time: float | str | None = "inherit"
    extra: Mapping[str, str] = field(default_factory=dict)
    omit: Sequence[str] = ()

    @property
    def bytes_per_pixel(self) -> int:
        return _WIDTHS[np.dtype(self.data.dtype)]


def _pad(n: int, block: int = 4096) -> int:
    return -(-n // block) * block


def _layout(
    images: Sequence[SpmImage],
    *,
    style: str = "v9",
    date: str | None = "04:06:25 PM Thu Sep 26 2019",
    scan_rate: float | None = 2.0,
    relative_frame_time: float | None = 100.0,
    sensitivities: Mapping[str, str] | None = None,
    scan_list_sensitivities: Mapping[str, str] | None = None,
    header_size: int | None = None,
    declared_header_size: int | None = None,
    global_extra: Mapping[str, str] | None = None,
    end_marker: bool = True,
) -> tuple[str, int]:
    """The header text and the header size it was laid out for."""
    keys = V5_KEYS if style == "v5" else V9_KEYS
    sens = dict(DEFAULT_SENSITIVITIES if sensitivities is None else sensitivities)

    def render(size: int) -> str:
        lines = ["\\*File list", f"\\Version: {keys['version']}"]
        if date is not None:
            lines.append(f"\\Date: {date}")
        lines.append(f"\\Data length: {declared_header_size if declared_header_size is not None else size}")
        lines += ["\\*Equipment list", "\\Description: afmio test builder", "\\*Scanner list",
                  "\\Scanner type: test"]
        lines += [f"\\@{name}: {value}" for name, value in sens.items()]
        first = images[0].data.shape if images else (0, 0)
        lines += ["\\*Ciao scan list", f"\\{keys['scan_size']}: 100 nm",
                  f"\\Samps/line: {first[1]}", f"\\Lines: {first[0]}", f"\\{keys['aspect']}: 1:1"]
        if scan_rate is not None:
            lines.append(f"\\{keys['scan_rate']}: {scan_rate}")
        lines.append("\\Capture direction: Down")
        for k, v in (global_extra or {}).items():
            lines.append(f"\\{k}: {v}")
        lines += [f"\\@{name}: {value}" for name, value in (scan_list_sensitivities or {}).items()]
        offset = size
        for im in images:
            rows, cols = im.data.shape
            bpp = im.bytes_per_pixel
            rel = relative_frame_time if im.relative_frame_time == "inherit" else im.relative_frame_time
            entries: list[tuple[str, object]] = [
                ("Data offset", offset),
                ("Data length", rows * cols * bpp),
                ("Bytes/pixel", bpp),
                ("Data type", "AFM"),
                ("Frame direction", im.frame_direction),
                ("Relative frame time", rel),
                ("Samps/line", im.samples_per_line or cols),
                ("Number of lines", im.lines or rows),
                (keys["aspect"], "1:1"),
                (keys["scan_size"], im.scan_size),
                (keys["line_direction"], im.line_direction),
            ]
            if im.valid_len:
                entries += [("Valid data len X", cols), ("Valid data len Y", rows)]
            entries += [
                ("@2:Image Data", f'S [{im.internal}] "{im.channel}"'),
                ("@2:Z scale", im.z_scale),
            ]
            lines.append("\\*Ciao image list")
            for k, v in entries:
                if v is not None and k not in im.omit:
                    lines.append(f"\\{k}: {v}")
            for k, v in im.extra.items():
                lines.append(f"\\{k}: {v}")
            offset += rows * cols * bpp
        if end_marker:
            lines.append("\\*File list end")
        return "\r\n".join(lines) + "\r\n"

    if header_size is not None:
        return render(header_size), header_size
    # Measure with the widest offsets, so the final text (shorter or equal) still fits.
    size = _pad(len(render(10**12).encode("latin-1")) + 1)
    return render(size), size


def build_header(images: Sequence[SpmImage], **kwargs: object) -> str:
    """Return the header text (CRLF lines), data offsets following the header size.

    Keyword arguments (all optional): ``style`` (``"v9"`` or ``"v5"`` key spellings),
    ``date`` (``\\Date`` text or None), ``scan_rate`` (None omits it),
    ``relative_frame_time`` (file-level default for images, None omits it),
    ``sensitivities`` (``{"Sens. X": "V 1.0 nm/V"}`` for the scanner list),
    ``scan_list_sensitivities`` (the same, written later in the scan list),
    ``header_size`` (default: the text rounded up to 4096 bytes),
    ``declared_header_size`` (what the File list's ``\\Data length`` says; default
    ``header_size``), ``global_extra`` (more scan-list lines), ``end_marker``
    (False leaves out ``\\*File list end``).
    """
    return _layout(images, **kwargs)[0]  # type: ignore[arg-type]


def build_spm(images: Sequence[SpmImage], *, header_size: int | None = None, **kwargs: object) -> bytes:
    """Return a whole NanoScope file: header padded with ``\\x1a`` + zeros, then the data.

    Keyword arguments are those of :func:`build_header`.
    """
    text, size = _layout(images, header_size=header_size, **kwargs)  # type: ignore[arg-type]
    head = text.encode("latin-1")
    if len(head) + 1 > size:
        raise ValueError(f"header text is {len(head)} bytes, more than header_size {size}")
    body = [head, b"\x1a", b"\x00" * (size - len(head) - 1)]
    for im in images:
        body.append(np.ascontiguousarray(im.data, dtype=im.data.dtype.newbyteorder("<")).tobytes())
    return b"".join(body)


def write_spm(path: str | Path, images: Sequence[SpmImage], **kwargs: object) -> Path:
    """Write :func:`build_spm` output to ``path`` and return it."""
    p = Path(path)
    p.write_bytes(build_spm(images, **kwargs))  # type: ignore[arg-type]
    return p


_SI = {"p": 1e-12, "n": 1e-9, "~": 1e-6, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3}


def _si(unit: str) -> tuple[float, str]:
    for base in ("V", "m"):
        if unit.endswith(base) and unit[: -len(base)] in _SI:
            return _SI[unit[: -len(base)]], base
    return 1.0, unit


def expected_values(
    image: SpmImage, hard: tuple[float, str], sensitivity: tuple[float, str] | None
) -> tuple[np.ndarray, str]:
    """Float64 values and unit for ``image``, straight from the sheet's formula.

    ``raw * hard_value / 2**(8*bpp) * sensitivity`` with prefixes applied, rows flipped.
    Handles the units the tests use: hard values in (m|)V or degrees, sensitivities in
    (p|n|~)m/V or without unit.
    """
    raw = image.data.astype(np.float64)[::-1]
    levels = 2.0 ** (8 * image.bytes_per_pixel)
    hv, hu = hard
    hf, hbase = _si(hu)
    if sensitivity is None or not sensitivity[1]:
        s = 1.0 if sensitivity is None else sensitivity[0]
        if hbase == "V":
            return raw * hv * hf / levels * s, "V"
        return raw * hv / levels * s, "deg" if hu in ("º", "deg") else hu
    sv, su = sensitivity
    num, den = su.split("/")
    nf, nbase = _si(num)
    df, _ = _si(den)
    assert nbase == "m", "expected_values handles length sensitivities only"
    return raw * (hv * hf / df) / levels * sv * nf * 1e9, "nm"


def nanoscope_date(when: datetime) -> str:
    """Spell ``when`` as NanoScope's ``\\Date`` does: ``04:06:25 PM Thu Sep 26 2019``."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    hour = when.hour % 12 or 12
    ampm = "PM" if when.hour >= 12 else "AM"
    return (f"{hour:02d}:{when.minute:02d}:{when.second:02d} {ampm} {days[when.weekday()]} "
            f"{months[when.month - 1]} {when.day:02d} {when.year}")


def write_series(
    folder: str | Path,
    raws: Sequence[np.ndarray],
    *,
    stem: str = "frame",
    image: SpmImage | None = None,
    start: datetime = datetime(2019, 9, 26, 16, 6, 25),
    seconds_apart: float = 1.0,
    first_relative_time: float | None = 100.0,
    **kwargs: object,
) -> list[Path]:
    """Write one file per raw frame: ``<stem>.001``, ``<stem>.002``...

    Each file holds ``image`` (default :class:`SpmImage` defaults) with its data
    replaced by the frame, a ``Date`` ``seconds_apart`` later than the previous one
    (whole seconds, as NanoScope writes) and ``Relative frame time`` growing by the
    same step (None leaves it out). Other keyword arguments go to :func:`build_spm`.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    template = image if image is not None else SpmImage(np.zeros((1, 1), np.int16))
    paths = []
    for i, raw in enumerate(raws):
        when = start + timedelta(seconds=int(i * seconds_apart))
        rel = None if first_relative_time is None else first_relative_time + i * seconds_apart
        paths.append(write_spm(out / f"{stem}.{i + 1:03d}", [replace(template, data=raw)],
                               date=nanoscope_date(when), relative_frame_time=rel, **kwargs))
    return paths
