"""NHF: Nanosurf Studio measurement files (``.nhf``, HDF5); a folder of them is a video.

Reading
-------
``afmio.load("scan.nhf")`` (a one-frame stack) or ``afmio.load("folder_of_nhf/")``
(one frame per file, ordered by each file's ``created`` time; see
:mod:`afmio.framefiles` for the rules every frame-per-file format shares).

Layout (as Nanosurf's own reader, ``nanosurf.utils.io.nhf_reader``, reads it)
    The root carries ``nsf_file_version_major`` / ``_minor``; versions 1.1 and 2.x
    are read. Each measurement is a root group named by its ``measurement_name``
    (2.x) or ``name`` (1.1) attribute; its segments are sub-groups named by
    ``segment_name`` or ``name`` (``Forward``, ``Backward``); a segment's
    channels are flat datasets named by ``signal_name`` (2.x) or ``name`` (1.1).
    The image size is ``image_points_per_line`` x ``image_number_of_lines``,
    replaced by ``grid_number_of_columns`` / ``_rows`` and then by
    ``rect_axis_size`` (lines, points) when present; the scan range likewise
    from ``image_size_x`` / ``_y``, ``rect_axis_range`` (y, x) and
    ``grid_width`` / ``_height`` (metres), on the measurement or, failing
    that, on its first segment that has them.
One file, several measurements
    A file holds one image: the first measurement (in group order) with a size
    and at least one image-sized channel. Further image measurements are not
    read; a warning says how many there are and ``acquisition["measurements"]``
    counts them. (Nanosurf saves each image as its own file; a folder is the
    video.)
Channels
    ``<name>_trace`` for the ``Forward`` segment and ``<name>_retrace`` for
    ``Backward`` (another segment gives ``<name>_<segment>``, lower case, spaces
    as ``_``); only datasets holding ``points * lines`` values and a calibration
    are channels (spectroscopy and WaveMode NMA curves are not images).
    ``channel=None`` or ``"height"`` loads ``Topography_trace`` (then
    ``height_trace``, ``Position Z_trace``), else the first channel.
Values
    As Nanosurf's reader: ``(raw - type_min) * (cal_max - cal_min) / (type_max -
    type_min) + cal_min`` with the element type's range (1.1: numeric
    ``dataset_element_type`` codes, the full range; 2.x: type names, one code
    kept for "no value") and ``base_calibration_*`` (1.1) or
    ``signal_calibration_*`` (2.x). The unit is the calibration unit (the part
    in parentheses when it reads ``Meter (m)``); lengths become nm, ``V`` and
    ``deg`` are kept. In 2.x files a raw value equal to the dataset's fill value
    ("not measured") becomes NaN (Nanosurf's reader fills it with the most
    negative float). A 2.x channel whose selected signal is another one of the
    calibration graph is read in its own calibration, with a warning (the graph
    is not followed).
Orientation
    The stored lines reversed, as Nanosurf's ``read_channel(as_matrix=True)``
    (``numpy.flipud`` of the ``(lines, points)`` reshape).
Pixel size
    ``range / size`` in each direction, in nm.
Timing
    A file's frame starts at its measurement's ``created`` attribute (ISO 8601,
    UTC ``Z`` or an offset), else the file's; ``line_rate`` is
    ``image_line_rate``; ``scan_direction`` is ``bottomUp`` for
    ``image_scan_direction`` ``up`` and ``topDown`` for ``down``.

Errors
------
An HDF5 file without the Nanosurf version attributes is not NHF
(:class:`~afmio.UnsupportedFormatError`; skipped in a folder); a damaged file, an
unknown element type, or a dataset whose declared size its stored bytes cannot
hold raise :class:`~afmio.CorruptFileError` naming the file.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from afmio.errors import CorruptFileError, UnsupportedFormatError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo
from afmio.units import preferred

from ._h5util import attr_float, attr_text, check_stored, h5_errors, is_hdf5, open_h5

__all__ = ["channels", "parse_created", "probe", "read", "sniff"]

#: 1.1 element-type codes -> (type_min, type_max) of the scaling (Nanosurf's table).
V1_TYPES: dict[int, tuple[float, float]] = {
    0: (-(2.0**31), 2.0**31 - 1), 1: (0.0, 2.0**8 - 1), 2: (0.0, 2.0**16 - 1), 3: (0.0, 2.0**32 - 1),
    4: (0.0, 2.0**64 - 1), 5: (-(2.0**15), 2.0**15 - 1), 6: (-(2.0**63), 2.0**63 - 1), 7: (0.0, 1.0),
}
#: 2.x element-type names -> (type_min, type_max); the code left out means "no value".
V2_TYPES: dict[str, tuple[float, float]] = {
    "int32": (-(2.0**31) + 1, 2.0**31 - 1), "uint8": (0.0, 2.0**8 - 2), "uint16": (0.0, 2.0**16 - 2),
    "uint32": (0.0, 2.0**32 - 2), "uint64": (0.0, 2.0**64 - 2), "int16": (-(2.0**15) + 1, 2.0**15 - 1),
    "int64": (-(2.0**63) + 1, 2.0**63 - 1), "double": (0.0, 1.0),
}
_SEGMENT_SUFFIX = {"forward": "_trace", "backward": "_retrace"}
_DIRECTION = {"up": "bottomUp", "down": "topDown"}
_UNIT_IN_PARENS = re.compile(r"\(([^)]+)\)")


@dataclass(frozen=True)
class _Channel:
    """Where a channel's values are and how they scale (no pixels read)."""

    dataset: str
    type_min: float
    type_max: float
    cal_min: float
    cal_max: float
    unit_factor: float
    mask_fill: bool


def parse_created(text: str | None) -> float | None:
    """POSIX seconds of an NHF ``created`` stamp (``2023-07-18T15:26:38.320Z``); None when unreadable.

    >>> parse_created("1970-01-01T00:00:01.5Z")
    1.5
    """
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo is not None else None


def _unit(text: str | None) -> str:
    if not text:
        return ""
    found = _UNIT_IN_PARENS.findall(text)
    return found[0] if found else text


def _named(group: Any, identifiers: tuple[str, ...]) -> list[tuple[str, str]]:
    """(key, name) of the members carrying one of ``identifiers``, in group order."""
    out = []
    for key in group:
        attrs = group[key].attrs
        for ident in identifiers:
            name = attr_text(attrs.get(ident))
            if name is not None:
                out.append((key, name))
                break
    return out


def _size_and_range(attrs: Any) -> tuple[tuple[int, int] | None, tuple[float, float] | None]:
    """((points, lines), (range_x, range_y)) from one group's attributes, in Nanosurf's precedence."""
    size = rng = None

    def pair(name: str, first: int, second: int) -> tuple[float, float] | None:
        value = attrs.get(name)
        if value is None:
            return None
        arr = np.asarray(value).reshape(-1)
        if arr.size < 2 or arr.dtype.kind not in "iuf":
            return None
        return float(arr[first]), float(arr[second])

    pairs = (("image_points_per_line", "image_number_of_lines"), ("grid_number_of_columns", "grid_number_of_rows"))
    for xs, ys in pairs:
        x, y = attr_float(attrs.get(xs)), attr_float(attrs.get(ys))
        if x is not None and y is not None:
            size = (x, y)
    rect = pair("rect_axis_size", 1, 0)
    size = rect or size
    x, y = attr_float(attrs.get("image_size_x")), attr_float(attrs.get("image_size_y"))
    if x is not None and y is not None:
        rng = (x, y)
    rng = pair("rect_axis_range", 1, 0) or rng
    gx, gy = attr_float(attrs.get("grid_width")), attr_float(attrs.get("grid_height"))
    if gx is not None and gy is not None:
        rng = (gx, gy)
    whole = None
    if size is not None and all(v == int(v) and v > 0 for v in size):
        whole = (int(size[0]), int(size[1]))
    return whole, rng


class NhfCodec(FrameCodec):
    """Byte codec of one ``.nhf`` file: its first image measurement as one frame."""

    format_name = "Nanosurf NHF"
    member_patterns = ("*.nhf",)
    default_order = ("Topography_trace", "height_trace", "Position Z_trace")

    def sniff(self, path: Path) -> bool | None:
        if not is_hdf5(path):
            return False
        try:
            with h5py.File(path, "r") as f:
                return "nsf_file_version_major" in f.attrs
        except (OSError, RuntimeError, ValueError, KeyError):
            return False

    def read_header(self, path: Path) -> FrameHeader:
        with open_h5(path) as f, h5_errors(path):
            return self._header(f, path)

    def _header(self, f: Any, path: Path) -> FrameHeader:
        major = attr_float(f.attrs.get("nsf_file_version_major"))
        minor = attr_float(f.attrs.get("nsf_file_version_minor"))
        if major is None or minor is None:
            raise UnsupportedFormatError(f"{path}: HDF5 without nsf_file_version_major/minor: not a Nanosurf NHF file",
                                         path=path)
        version = (int(major), int(minor))
        if version != (1, 1) and version[0] != 2:
            raise UnsupportedFormatError(f"{path}: NHF file version {version[0]}.{version[1]} is not supported "
                                         "(1.1 and 2.x are)", path=path)
        v2 = version[0] == 2
        found = []
        for key, name in _named(f, ("measurement_name",) if v2 else ("name",)):
            if isinstance(f[key], h5py.Group):
                image = self._measurement(f[key], key, name, v2, path)
                if image is not None:
                    found.append(image)
        if not found:
            raise CorruptFileError(path, "no image measurement (a measurement with a size and image-sized channels)")
        if len(found) > 1:
            warnings.warn(f"{path}: {len(found)} image measurements; only the first ({found[0][0]!r}) is read",
                          UserWarning, stacklevel=2)
        name, group, images, channels, scan_range, points_lines = found[0]
        attrs = group.attrs
        created = attr_text(attrs.get("created"))
        created_from = "measurement"
        if parse_created(created) is None:
            created, created_from = attr_text(f.attrs.get("created")), "file"
        direction = attr_text(attrs.get("image_scan_direction"))
        acquisition = {
            "nhf_version": f"{version[0]}.{version[1]}",
            "measurement": name,
            "measurement_type": attr_text(attrs.get("group_type" if v2 else "measurement_type")),
            "measurements": len(found),
            "created": created,
            "created_from": created_from,
            "image_scan_direction": direction,
            "image_size_px": list(points_lines),
            "scan_range_m": list(scan_range),
            "rows_reversed": True,
        }
        return FrameHeader(
            path=path,
            images=images,
            start_epoch_s=parse_created(created),
            line_rate=attr_float(attrs.get("image_line_rate")),
            scan_direction=_DIRECTION.get((direction or "").lower(), direction),
            acquisition=acquisition,
            private=channels,
        )

    def _measurement(self, group: Any, key: str, name: str, v2: bool, path: Path) -> Any:
        size, rng = _size_and_range(group.attrs)
        segments = [(k, n) for k, n in _named(group, ("segment_name", "name")) if isinstance(group[k], h5py.Group)]
        for k, _ in segments:
            seg_size, seg_rng = _size_and_range(group[k].attrs)
            size, rng = size or seg_size, rng or seg_rng
        if size is None or rng is None:
            return None
        points, lines = size
        if not (rng[0] > 0 and rng[1] > 0):
            raise CorruptFileError(path, f"measurement {name!r} has scan range {rng}, not positive")
        px, py = rng[0] / points * 1e9, rng[1] / lines * 1e9
        images: list[ImageInfo] = []
        channels: dict[str, _Channel] = {}
        for seg_key, seg_name in segments:
            lowered = seg_name.strip().lower()
            suffix = _SEGMENT_SUFFIX.get(lowered, "_" + lowered.replace(" ", "_"))
            seg = group[seg_key]
            for ds_key, ds_name in _named(seg, ("signal_name",) if v2 else ("name",)):
                ds = seg[ds_key]
                if not isinstance(ds, h5py.Dataset) or ds.size != points * lines:
                    continue
                chosen = self._channel(ds, f"{key}/{seg_key}/{ds_key}", v2, path)
                if chosen is None:
                    continue
                scale, unit = chosen
                channel = ds_name + suffix
                if channel in channels:
                    continue
                channels[channel] = scale
                images.append(ImageInfo(channel, (lines, points), px, py, unit, {
                    "dataset": scale.dataset, "file_unit": unit_text(ds, v2),
                    "type_range": [scale.type_min, scale.type_max],
                }))
        if not images:
            return None
        return name, group, images, channels, rng, (points, lines)

    def _channel(self, ds: Any, where: str, v2: bool, path: Path) -> tuple[_Channel, str] | None:
        attrs = ds.attrs
        element = attrs.get("dataset_element_type")
        if element is None or ds.dtype.kind not in "iuf":
            return None
        if v2:
            type_name = attr_text(element) or ""
            if type_name not in V2_TYPES or "signal_name" not in attrs:
                raise CorruptFileError(path, f"{where}: unknown dataset_element_type {type_name!r}")
            tmin, tmax = V2_TYPES[type_name]
            cmin = attr_float(attrs.get("signal_calibration_min"))
            cmax = attr_float(attrs.get("signal_calibration_max"))
            cmin, cmax = (0.0 if cmin is None else cmin), (1.0 if cmax is None else cmax)
            selected, own = attr_text(attrs.get("signal_selected")), attr_text(attrs.get("signal_id"))
            if selected is not None and own is not None and selected != own:
                warnings.warn(f"{path}: {where} selects another calibration signal; read in its own calibration",
                              UserWarning, stacklevel=4)
        else:
            code = attr_float(element)
            if code is None or int(code) not in V1_TYPES:
                raise CorruptFileError(path, f"{where}: unknown dataset_element_type {element!r}")
            if "base_calibration_unit" not in attrs:
                return None  # uncalibrated helper data (WaveMode NMA minima and maxima), not an image channel
            tmin, tmax = V1_TYPES[int(code)]
            cmin = attr_float(attrs.get("base_calibration_min"))
            cmax = attr_float(attrs.get("base_calibration_max"))
            if cmin is None or cmax is None:
                raise CorruptFileError(path, f"{where}: base_calibration_min/max are not numbers")
        if tmax == tmin:
            raise CorruptFileError(path, f"{where}: empty element-type range")
        factor, unit = preferred(1.0, _unit(unit_text(ds, v2)))
        return _Channel(where, tmin, tmax, cmin, cmax, factor, v2), unit

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        scale: _Channel = header.private[image.channel]
        path = header.path
        rows, cols = image.shape
        with open_h5(path) as f, h5_errors(path, str(scale.dataset)):
            ds = f[scale.dataset]
            if ds.size != rows * cols:
                raise CorruptFileError(path, f"{scale.dataset} holds {ds.size} values, not {rows} x {cols}")
            check_stored(ds, path, scale.dataset)
            raw = np.asarray(ds[()]).reshape(rows, cols)
            fill = ds.fillvalue if scale.mask_fill else None
        # Nanosurf's order of operations in the file's unit, then to afmio's unit.
        step = (scale.cal_max - scale.cal_min) / (scale.type_max - scale.type_min)
        values = (raw.astype(np.float64) - scale.type_min) * step + scale.cal_min
        if scale.unit_factor != 1.0:
            values *= scale.unit_factor
        if fill is not None:
            values[raw == fill] = np.nan
        return values[::-1]


def unit_text(ds: Any, v2: bool) -> str:
    """The calibration unit text of a channel dataset as the file spells it."""
    return attr_text(ds.attrs.get("signal_calibration_unit" if v2 else "base_calibration_unit")) or ""


_driver = FramePerFileDriver(NhfCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
