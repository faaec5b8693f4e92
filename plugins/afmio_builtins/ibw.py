"""Asylum Research ``.ibw`` images (Igor binary wave, version 5): one scan per file.

An Asylum Research (Oxford Instruments) MFP-3D / Cypher scan saved as ``.ibw`` is one
Igor wave of ``points x lines x channels`` values with the scan parameters as
``key: value`` lines in the wave note. A single file loads as a one-frame stack; a
folder of ``.ibw`` files loads as a video (see :mod:`afmio.framefiles` for
ordering and checks). The note, labels and units are parsed by the ``igor2``
package (``pip install 'afmio[ibw]'``); afmio first checks the two fixed headers
against the file size and reads a layer's values itself (one plain array after
the headers), so a lazy read touches only the layer asked for.

Channels
    One per layer, named by the layer labels exactly as the file spells them (and
    as AFMReader reports them): ``HeightTracee``, ``HeightRetracece``,
    ``AmplitudeRetracece``, ``PhaseRetracece``, ``NapPhaseRetrace`` ... A wave
    without layer labels has one channel per layer called ``Layer N`` (or the wave
    name for a 2-D wave). The default is the first channel whose name starts with
    ``Height`` (trace before retrace), else ``ZSensor``, else the first.

Values
    Asylum writes one data unit for the whole wave (``m``), which is right for
    height, Z-sensor, amplitude and deflection layers but not for phase. The unit of
    a layer therefore follows its kind: names starting with ``Phase`` (after an
    optional ``Nap``) are degrees, ``Potential`` / ``UserIn`` / ``Bias`` volts,
    ``Current`` amperes, ``Frequency`` hertz; every other layer has the wave's data
    unit. Lengths are converted to nm; ``stack.z_unit`` says the unit.

Orientation
    Igor stores a layer with the fast axis first and the first line at the bottom;
    afmio returns ``np.flipud(layer.T)``, row 0 the top line as Gwyddion shows it
    (AFMReader's convention).

Pixel size
    ``FastScanSize / ScanPoints`` along x and ``SlowScanSize / ScanLines`` along y
    from the note, in nm (AFMReader's values); without them, the wave's x and y
    scaling deltas.

Timing
    The note's ``Date`` and ``Time`` are local time with no zone recorded: they are
    kept as ``acquisition["date"]`` and, for a folder, give the timestamps
    (differences of the local times), but never an absolute ``start_epoch_ms``;
    so a folder loads in natural name order (Asylum numbers its saves, ``...0000``,
    ``...0001``). ``frame_duration_s`` is the note's ``ImageFrameTime``,
    ``line_rate`` its ``ScanRate``, ``scan_direction`` ``topDown`` when
    ``ScanDown`` is 1, else ``bottomUp``.

Acquisition facts
    ``imaging_mode``, ``scan_rate_hz``, ``spring_constant_n_per_m``,
    ``drive_frequency_hz``, ``asylum_version``, ``wave_name``, ``channels``.

Trailer
    Asylum appends a block after the Igor record that the Igor headers do not
    declare (a preview and a ``...FileStart:`` index ending in ``MFP3D``); it is
    not read, so a file cut inside it still loads.

Errors
    Other Igor versions, text or complex waves, and 4-D waves are refused;
    sizes in the headers that do not fit the file, and anything ``igor2`` cannot
    parse, raise :class:`~afmio.CorruptFileError` naming the file.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from afmio.errors import AfmioError, CorruptFileError, MissingDependencyError, UnsupportedFormatError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo
from afmio.stack import normalize_z_unit
from afmio.units import nm_per_unit, si_factor

__all__ = ["IbwCodec", "channels", "probe", "read", "sniff"]

BIN_HEADER5 = struct.Struct("hhiiii4i4iiii")  # 64 bytes
WAVE_HEADER5_SIZE = 320
_NPNTS_AT = 64 + 12
_TYPE_AT = 64 + 16
_NDIM_AT = 64 + 68
_SFA_AT = 64 + 84
_DIM_UNITS_AT = 64 + 152
_ITEMSIZE = {2: 4, 4: 8, 8: 1, 0x10: 2, 0x20: 4}
_KINDS = {2: "f", 4: "f", 8: "i", 0x10: "i", 0x20: "i"}

#: Unit of a layer by its kind (the name after an optional "Nap"); others take the wave's data unit.
_KIND_UNITS = (("Phase", "deg"), ("MinPhase", "deg"), ("MaxPhase", "deg"), ("Potential", "V"),
               ("UserIn", "V"), ("Bias", "V"), ("Current", "A"), ("Frequency", "Hz"))


def _igor2() -> Any:
    try:
        from igor2 import binarywave
    except ImportError as exc:
        raise MissingDependencyError("igor2", "ibw", "Reading Asylum Research .ibw files") from exc
    return binarywave


@dataclass(frozen=True)
class _Layout:
    """What the fixed headers say, checked against the file size."""

    endian: str
    shape: tuple[int, int, int]  # points (x), lines (y), layers
    dtype: np.dtype
    delta_m: tuple[float, float]
    dim_units: tuple[str, str]


def _check_layout(path: Path) -> _Layout:
    """Read the 384 bytes of fixed headers; refuse sizes the file cannot hold."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(64 + WAVE_HEADER5_SIZE)
    if len(head) < 2:
        raise UnsupportedFormatError(f"{path}: too short for an Igor binary wave", path=path)
    endian = "<" if struct.unpack_from("<h", head)[0] == 5 else ">" if struct.unpack_from(">h", head)[0] == 5 else ""
    if not endian:
        version = struct.unpack_from("<h", head)[0]
        raise UnsupportedFormatError(f"{path}: not an Igor binary wave version 5 (version field {version})",
                                     path=path)
    if len(head) < 64 + WAVE_HEADER5_SIZE:
        raise CorruptFileError(path, f"{size} bytes, shorter than the {64 + WAVE_HEADER5_SIZE} bytes of headers")
    fields = struct.unpack_from(endian + BIN_HEADER5.format, head)
    wfm_size, sections = fields[2], (fields[3], fields[4], fields[5], *fields[6:14], fields[14], fields[15], fields[16])
    if wfm_size < WAVE_HEADER5_SIZE or any(s < 0 for s in sections):
        raise CorruptFileError(path, f"negative or too small section sizes in the binary header ({wfm_size})")
    declared = 64 + wfm_size + sum(sections)
    if declared > size:
        raise CorruptFileError(path, f"the headers declare {declared} bytes but the file has {size}")
    npnts = struct.unpack_from(endian + "i", head, _NPNTS_AT)[0]
    wave_type = struct.unpack_from(endian + "h", head, _TYPE_AT)[0]
    dims = struct.unpack_from(endian + "4i", head, _NDIM_AT)
    if wave_type & 0x01 or (wave_type & ~0x40) not in _ITEMSIZE:
        raise CorruptFileError(path, f"wave type {wave_type:#x} is not a real numeric wave")
    if dims[3] != 0 or dims[0] <= 0 or dims[1] <= 0 or dims[2] < 0:
        raise CorruptFileError(path, f"wave dimensions {dims} are not an image stack (points x lines x layers)")
    layers = max(dims[2], 1)
    itemsize = _ITEMSIZE[wave_type & ~0x40]
    if npnts != dims[0] * dims[1] * layers or WAVE_HEADER5_SIZE + npnts * itemsize > wfm_size:
        raise CorruptFileError(path, f"{npnts} points of {itemsize} bytes do not fit dimensions {dims} and "
                                     f"the {wfm_size}-byte wave record")
    sfa = struct.unpack_from(endian + "4d", head, _SFA_AT)
    units = tuple(head[_DIM_UNITS_AT + 4 * k:_DIM_UNITS_AT + 4 * k + 4].split(b"\0")[0].decode("latin-1")
                  for k in range(2))
    base = wave_type & ~0x40
    kind = "u" if wave_type & 0x40 and _KINDS[base] == "i" else _KINDS[base]
    dtype = np.dtype(f"{endian}{kind}{_ITEMSIZE[base]}")
    return _Layout(endian, (dims[0], dims[1], layers), dtype, (abs(sfa[0]), abs(sfa[1])), (units[0], units[1]))


def _note(raw: Any) -> dict[str, str]:
    text = raw.decode("latin-1") if isinstance(raw, (bytes, bytearray)) else str(raw or "")
    out: dict[str, str] = {}
    for line in text.replace("\n", "\r").split("\r"):
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _number(note: dict[str, str], key: str) -> float | None:
    try:
        value = float(note[key])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _layer_names(wave: dict[str, Any], layers: int) -> list[str]:
    labels = wave.get("labels") or []
    names: list[str] = []
    if len(labels) > 2 and len(labels[2]) > layers:
        names = [lab.decode("latin-1").strip() if isinstance(lab, bytes) else str(lab) for lab in labels[2][1:]]
        names = names[:layers]
    if len(names) != layers or not all(names):
        if layers == 1:
            bname = wave["wave_header"].get("bname", b"")
            names = [(bname.decode("latin-1") if isinstance(bname, bytes) else str(bname)) or "Layer 0"]
        else:
            names = [f"Layer {k}" for k in range(layers)]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _layer_unit(name: str, data_unit: str) -> str:
    kind = name[3:] if name.startswith("Nap") else name
    for prefix, unit in _KIND_UNITS:
        if kind.startswith(prefix):
            return unit
    return data_unit


def _z(unit: str) -> tuple[float, str]:
    factor = nm_per_unit(unit)
    if factor is not None:
        return factor, "nm"
    if not unit:
        return 1.0, "unknown"
    scale, base = si_factor(unit)
    return (scale, base) if base in ("V", "deg", "A", "Hz") else (1.0, normalize_z_unit(unit))


def _local_seconds(note: dict[str, str]) -> float | None:
    """Seconds of the note's local Date + Time on a zone-less scale (for differences only)."""
    try:
        naive = datetime.strptime(f"{note['Date']} {note['Time']}", "%Y-%m-%d %H:%M:%S")
    except (KeyError, ValueError):
        return None
    return naive.replace(tzinfo=timezone.utc).timestamp()


def _load(path: Path) -> dict[str, Any]:
    binarywave = _igor2()
    try:
        wave = binarywave.load(str(path))["wave"]
    except AfmioError:
        raise
    except Exception as exc:  # igor2 signals damage with many types (struct, value, index, unicode)
        raise CorruptFileError(path, f"igor2 cannot parse the wave: {type(exc).__name__}: {exc}") from exc
    if not isinstance(wave, dict) or "wData" not in wave or "wave_header" not in wave:
        raise CorruptFileError(path, "igor2 found no wave record")
    return wave


class IbwCodec(FrameCodec):
    """Byte codec of Asylum Research ``.ibw`` files for :class:`~afmio.framefiles.FramePerFileDriver`."""

    format_name = "Asylum Research IBW"
    member_patterns = ("*.ibw",)

    def sniff(self, path: Path) -> bool | None:
        try:
            _check_layout(path)
        except UnsupportedFormatError:
            return False
        except (CorruptFileError, OSError):
            return None  # a version-5 start with broken sizes: let the reader say what is wrong
        return True

    def read_header(self, path: Path) -> FrameHeader:
        layout = _check_layout(path)
        wave = _load(path)
        points, lines, layers = layout.shape
        note = _note(wave.get("note"))
        names = _layer_names(wave, layers)
        data_units = wave["wave_header"].get("dataUnits")
        data_unit = data_units[0].decode("latin-1") if data_units is not None and len(data_units) else ""
        px = self._pixel_size(note, "FastScanSize", "ScanPoints", points, layout.delta_m[0], layout.dim_units[0])
        py = self._pixel_size(note, "SlowScanSize", "ScanLines", lines, layout.delta_m[1], layout.dim_units[1])
        if px is None or py is None:
            raise CorruptFileError(path, "no scan size in the note and no length scaling of the x / y dimensions")
        images = []
        for k, name in enumerate(names):
            unit = _layer_unit(name, data_unit)
            factor, z_unit = _z(unit)
            images.append(ImageInfo(name, (lines, points), px, py, z_unit,
                                    {"layer": k, "file_unit": unit, "scale_to_z_unit": factor}))
        default = next((n for n in names if n.startswith("HeightTrace")), None) or next(
            (n for n in names if n.startswith(("Height", "ZSensor"))), None)
        scan_down = note.get("ScanDown")
        acquisition = {
            "imaging_mode": note.get("ImagingMode"),
            "scan_rate_hz": _number(note, "ScanRate"),
            "spring_constant_n_per_m": _number(note, "SpringConstant"),
            "drive_frequency_hz": _number(note, "DriveFrequency"),
            "asylum_version": note.get("Version"),
            "channels": names,
            "date": f"{note['Date']} {note['Time']} (local time, zone not recorded)"
            if "Date" in note and "Time" in note else None,
        }
        bname = wave["wave_header"].get("bname", b"")
        acquisition["wave_name"] = bname.decode("latin-1") if isinstance(bname, bytes) else str(bname)
        return FrameHeader(
            path=path,
            images=images,
            default_channel=default,
            relative_time_s=_local_seconds(note),
            frame_duration_s=_number(note, "ImageFrameTime"),
            line_rate=_number(note, "ScanRate"),
            scan_direction=None if scan_down is None else ("topDown" if scan_down.strip() == "1" else "bottomUp"),
            acquisition=acquisition,
            private=layout,
        )

    @staticmethod
    def _pixel_size(note: dict[str, str], size_key: str, count_key: str, n: int, delta: float,
                    unit: str) -> float | None:
        size = _number(note, size_key)
        count = _number(note, count_key) or n
        if size is not None and size > 0 and count > 0:
            return size / count * 1e9  # the note's sizes are in metres
        factor = nm_per_unit(unit)
        if factor is not None and delta > 0:
            return delta * factor
        return None

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        # The wave data is one plain array right after the fixed headers (checked against
        # the file size by _check_layout); read just this layer's block, not the whole wave.
        layout: _Layout = header.private
        points, lines, _ = layout.shape
        count = points * lines
        offset = 64 + WAVE_HEADER5_SIZE + int(image.facts["layer"]) * count * layout.dtype.itemsize
        with open(header.path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(count * layout.dtype.itemsize)
        if len(raw) != count * layout.dtype.itemsize:
            raise CorruptFileError(header.path, f"layer {image.facts['layer']} ends beyond the end of the file")
        block = np.frombuffer(raw, layout.dtype).reshape(lines, points)  # Igor is column-major: x fastest
        values = np.flipud(block).astype(np.float64)
        factor = float(image.facts["scale_to_z_unit"])
        if factor != 1.0:
            values *= factor
        return values


_driver = FramePerFileDriver(IbwCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
