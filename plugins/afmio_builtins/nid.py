"""Nanosurf ``.nid`` files: several channels per file; a folder of them is a video.

Driver ``nid``. Reads the files Nanosurf easyScan / FlexAFM / DriveAFM software
writes: an INI-style text header (``[DataSet]``, ``[DataSet-0:1]`` ... sections of
``key=value`` lines) ended by a line starting ``#!``, then the binary images one after
the other::

    afmio.load("scan.nid", channel="Z-Axis (Scan backward)")

``lazy=True`` reads headers now and each file's pixels when the frame is used.

Input
    A file starting with ``[DataSet]`` (checked by content), or a folder of ``*.nid``
    files, ordered by their ``Date`` / ``Time``.

Channels
    ``[DataSet]`` lists groups (``Gr0-Name=Scan forward``, ``Gr1-Name=Scan backward``)
    and, per group, its images ``Gr<g>-Ch<c>=DataSet-<g>:<c>``. Each image is named
    ``"<Dim2Name> (<Frame>)"`` as the file spells them: ``"Z-Axis (Scan forward)"``,
    ``"Deflection (Scan backward)"``, ``"Z-AxisSensor (Scan forward)"``.
    ``channel=None`` / ``"height"`` gives the first present of ``Z-Axis (Scan forward)``,
    ``Z-AxisSensor (Scan forward)``, ``Topography (Scan forward)`` and their backward
    versions, else the first image. ``channels(path)`` lists them in file order.

Values (``z_unit``)
    Samples are ``SaveBits`` (16 or 32) wide, ``SaveSign`` signed or unsigned,
    ``SaveOrder`` ``Intel`` (little-endian) or else big-endian. The full range of the
    integer type spans ``Dim2Range`` starting at ``Dim2Min``:
    ``value = Dim2Min + (raw - lowest) * Dim2Range / 2**SaveBits`` (``lowest`` is the
    type's smallest value), as Gwyddion and SurfaceTopography scale them (older
    SurfaceTopography releases ignored ``Dim2Min``, which only matters when the range
    is not centred on 0; it is centred for the sample's heights). ``Dim2Unit`` lengths come
    out in nm, ``V`` in V, ``°`` in deg; other units (``N``, ``A``) as written.

Pixel size
    x = ``Dim0Range`` / ``Points``, y = ``Dim1Range`` / ``Lines`` (units ``Dim0Unit``,
    ``Dim1Unit``).

Orientation (Gwyddion's)
    Row 0 is the last stored line (rows reversed), as Gwyddion and SurfaceTopography
    show the image.

Timing
    ``start_epoch_ms`` from ``[DataSet-Info]`` ``Date`` (``dd-mm-yyyy``) and ``Time``,
    taken as UTC; ``line_rate`` = 1 / ``Time/Line``; ``frame_duration_s`` =
    ``Lines * Time/Line``; ``scan_direction`` from ``Scan direction`` (``Up`` ->
    ``bottomUp``, ``Down`` -> ``topDown``).

Errors
    No ``#!`` data marker, a listed image section missing, a ``SaveMode`` other than
    ``Binary`` or an unknown ``SaveBits`` raise :class:`~afmio.errors.CorruptFileError`;
    a file shorter than its images raises :class:`~afmio.errors.TruncatedFileError`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from afmio.errors import CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo
from afmio.units import nm_per_unit, preferred

__all__ = ["NidCodec", "NidSaveSign", "channels", "parse_header", "probe", "read", "sniff"]

MAGIC = b"[DataSet]"
DATA_MARKER = b"#!"
#: Headers are tens of kB; a file without a data marker in this much text is not read further.
_MAX_HEADER = 16 << 20
_CHUNK = 1 << 18


class NidSaveSign(enum.Enum):
    """``SaveSign`` values."""

    SIGNED = "Signed"
    UNSIGNED = "Unsigned"


class NidSaveOrder(enum.Enum):
    """``SaveOrder`` values: ``Intel`` is little-endian; Nanosurf writes nothing else."""

    INTEL = "Intel"
    MOTOROLA = "Motorola"


@dataclass(frozen=True)
class _Block:
    offset: int
    dtype: np.dtype
    lowest: int
    bits: int
    z_min: float
    z_range: float


def parse_header(text: str) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}`` from the INI-style header (keys keep their spelling)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is not None and "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), value.strip())
    return sections


_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def _seconds(value: str | None) -> float | None:
    """``"500ms"`` -> 0.5."""
    m = _QUANTITY.match(value or "")
    if not m:
        return None
    factor = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "Âµs": 1e-6}.get(m.group(2) or "s")
    return None if factor is None else float(m.group(1)) * factor


def _float(path: Path, section: dict[str, str], key: str, name: str) -> float:
    try:
        return float(section[key])
    except (KeyError, ValueError):
        raise CorruptFileError(path, f"[{name}] has no usable {key!r}") from None


def _int(path: Path, section: dict[str, str], key: str, name: str) -> int:
    try:
        n = int(section[key])
    except (KeyError, ValueError):
        raise CorruptFileError(path, f"[{name}] has no usable {key!r}") from None
    if n <= 0:
        raise CorruptFileError(path, f"[{name}] {key} is {n}; it must be positive")
    return n


def _z_unit(unit: str) -> tuple[float, str]:
    if unit in ("°", "Â°"):  # the degree sign, also as mis-decoded UTF-8
        return 1.0, "deg"
    return preferred(1.0, unit)


def _start_epoch(info: dict[str, str]) -> float | None:
    date, time = info.get("Date"), info.get("Time")
    if not date or not time:
        return None
    try:
        stamp = datetime.strptime(f"{date} {time}", "%d-%m-%Y %H:%M:%S")
    except ValueError:
        return None
    return stamp.replace(tzinfo=timezone.utc).timestamp()


class NidCodec(FrameCodec):
    """Byte codec of Nanosurf ``.nid`` files."""

    format_name = "Nanosurf NID"
    member_patterns = ("*.nid",)
    default_order = tuple(
        f"{name} ({frame})"
        for frame in ("Scan forward", "Scan backward")
        for name in ("Z-Axis", "Z-AxisSensor", "Topography")
    )

    def sniff(self, path: Path) -> bool | None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(64)
        except OSError:
            return None
        return head.lstrip(b"\xef\xbb\xbf").startswith(MAGIC)

    def _read_text(self, path: Path, size: int) -> tuple[str, int]:
        """The header text and the offset of the first image (after ``#!``)."""
        with open(path, "rb") as fh:
            buf = b""
            while True:
                chunk = fh.read(_CHUNK)
                start = max(0, len(buf) - 2)
                buf += chunk
                at = buf.find(b"\n" + DATA_MARKER, start)
                if at >= 0:
                    return buf[:at].decode("latin-1"), at + 1 + len(DATA_MARKER)
                if not chunk or len(buf) >= min(size, _MAX_HEADER):
                    raise CorruptFileError(path, "no '#!' line: the header is not followed by data")

    def read_header(self, path: Path) -> FrameHeader:
        size = path.stat().st_size
        if size < len(MAGIC) and MAGIC.startswith(path.read_bytes()):
            raise TruncatedFileError(path, f"the file has only {size} bytes")
        if not self.sniff(path):
            raise UnsupportedFormatError(f"{path}: not a Nanosurf .nid file (no [DataSet] at the start)", path=path)
        text, data_start = self._read_text(path, size)
        sections = parse_header(text)
        dataset = sections.get("DataSet", {})
        info = sections.get("DataSet-Info", {})
        try:
            n_groups = int(dataset.get("GroupCount", "0"))
        except ValueError:
            raise CorruptFileError(path, "[DataSet] GroupCount is not a number") from None
        images: list[ImageInfo] = []
        blocks: dict[str, _Block] = {}
        offset = data_start
        for g in range(n_groups):
            try:
                count = int(dataset.get(f"Gr{g}-Count", "0"))
            except ValueError:
                raise CorruptFileError(path, f"[DataSet] Gr{g}-Count is not a number") from None
            for c in range(count):
                name = dataset.get(f"Gr{g}-Ch{c}")
                if name is None:
                    continue  # Nanosurf leaves gaps in the channel numbers
                if name not in sections:
                    raise CorruptFileError(path, f"[DataSet] lists {name!r} but the header has no such section")
                image, block = self._image(path, name, sections[name], offset)
                if image.channel in blocks:
                    image = replace(image, channel=f"{image.channel} [{name}]")
                images.append(image)
                blocks[image.channel] = block
                offset += image.shape[0] * image.shape[1] * block.dtype.itemsize
        if not images:
            raise CorruptFileError(path, "the header lists no images")
        if offset > size:
            raise TruncatedFileError(path, f"the images need {offset} bytes but the file has {size}")
        time_per_line = _seconds(info.get("Time/Line"))
        direction = info.get("Scan direction")
        rows = images[0].shape[0]
        acquisition = {
            "instrument": " ".join(v for v in (info.get("Head type"), info.get("Scan head")) if v) or None,
            "software_version": info.get("Software ver."),
            "firmware_version": info.get("Firmware ver."),
            "controller_serial": info.get("Controller S/N"),
            "operating_mode": info.get("Op. mode"),
            "cantilever": info.get("Cantilever type"),
            "image_size": info.get("Image size"),
            "date": " ".join(v for v in (info.get("Date"), info.get("Time")) if v) or None,
        }
        return FrameHeader(
            path=path,
            images=images,
            start_epoch_s=_start_epoch(info),
            frame_duration_s=None if time_per_line is None else rows * time_per_line,
            line_rate=None if not time_per_line else 1.0 / time_per_line,
            scan_direction={"up": "bottomUp", "down": "topDown"}.get((direction or "").lower(), direction),
            acquisition={k: v for k, v in acquisition.items() if v is not None},
            private=blocks,
        )

    def _image(self, path: Path, name: str, sec: dict[str, str], offset: int) -> tuple[ImageInfo, _Block]:
        if sec.get("SaveMode", "Binary") != "Binary":
            raise CorruptFileError(path, f"[{name}] SaveMode {sec.get('SaveMode')!r} is not Binary")
        cols = _int(path, sec, "Points", name)
        rows = _int(path, sec, "Lines", name)
        bits = _int(path, sec, "SaveBits", name)
        if bits not in (8, 16, 32):
            raise CorruptFileError(path, f"[{name}] SaveBits {bits} is not 8, 16 or 32")
        try:
            sign = NidSaveSign(sec.get("SaveSign", "Signed"))
            order = NidSaveOrder(sec.get("SaveOrder", "Intel"))
        except ValueError as exc:
            raise CorruptFileError(path, f"[{name}] {exc}") from None
        kind = "i" if sign is NidSaveSign.SIGNED else "u"
        dtype = np.dtype(f"{'<' if order is NidSaveOrder.INTEL else '>'}{kind}{bits // 8}")
        lowest = int(np.iinfo(dtype).min)
        factor, z_unit = _z_unit(sec.get("Dim2Unit", ""))
        z_min = _float(path, sec, "Dim2Min", name) * factor
        z_range = _float(path, sec, "Dim2Range", name) * factor
        sizes = []
        for axis, n in (("Dim0", cols), ("Dim1", rows)):
            extent = _float(path, sec, f"{axis}Range", name)
            per = nm_per_unit(sec.get(f"{axis}Unit", "m"))
            if per is None or not extent > 0:
                raise CorruptFileError(path, f"[{name}] {axis}Range {extent} {sec.get(axis + 'Unit')} is not a length")
            sizes.append(extent * per / n)
        channel = f"{sec.get('Dim2Name', name)} ({sec.get('Frame', name)})"
        image = ImageInfo(
            channel=channel,
            shape=(rows, cols),
            pixel_size_nm=sizes[0],
            pixel_size_y_nm=sizes[1],
            z_unit=z_unit,
            facts={"section": name, "save_bits": bits, "save_sign": sign.value,
                   "dim2_min": sec.get("Dim2Min"), "dim2_range": sec.get("Dim2Range"),
                   "dim2_unit": sec.get("Dim2Unit")},
        )
        return image, _Block(offset, dtype, lowest, bits, z_min, z_range)

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        block: _Block = header.private[image.channel]
        rows, cols = image.shape
        n_bytes = rows * cols * block.dtype.itemsize
        with open(header.path, "rb") as fh:
            fh.seek(block.offset)
            raw = fh.read(n_bytes)
        if len(raw) < n_bytes:
            raise TruncatedFileError(header.path, f"the file ends inside image {image.channel!r}")
        values = np.frombuffer(raw, block.dtype, rows * cols).reshape(rows, cols).astype(np.float64)
        values = block.z_min + (values - block.lowest) * (block.z_range / 2.0**block.bits)
        return values[::-1]  # Gwyddion's orientation: the last stored line is row 0


_driver = FramePerFileDriver(NidCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
