"""Test-only writer of Nanosurf ``.nhf`` files (HDF5), versions 1.1 and 2.0.

Written from the layout Nanosurf's own reader (``nanosurf.utils.io.nhf_reader`` in
the ``nanosurf-utils`` package) reads and from the example file shipped with
``nanosurf-apps`` (a 1.1 file), independently of afmio's reader:

>>> import numpy as np
>>> topo = np.random.default_rng(0).normal(0, 1e-9, (16, 24))      # metres, (lines, points)
>>> write_nhf("scan.nhf", {("Forward", "Topography"): topo}, range_m=(2.4e-7, 1.6e-7))  # doctest: +SKIP

Images are given as they should come out of Nanosurf's ``read_channel(...,
as_matrix=True)``: physical values, row 0 at the top; the writer stores each one
flat with its lines reversed and quantised to the element type over the
calibration range.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

__all__ = ["quantise", "write_nhf"]

#: 1.1 code, 2.x name, numpy type, (type_min, type_max) per version
_TYPES = {
    "int32": (0, np.int32, (-(2.0**31), 2.0**31 - 1), (-(2.0**31) + 1, 2.0**31 - 1)),
    "int16": (5, np.int16, (-(2.0**15), 2.0**15 - 1), (-(2.0**15) + 1, 2.0**15 - 1)),
    "uint16": (2, np.uint16, (0.0, 2.0**16 - 1), (0.0, 2.0**16 - 2)),
}


def quantise(values: np.ndarray, cal: tuple[float, float], type_range: tuple[float, float], dtype: type) -> np.ndarray:
    """Raw codes whose scaled values are closest to ``values``."""
    (cmin, cmax), (tmin, tmax) = cal, type_range
    raw = np.rint((np.asarray(values, np.float64) - cmin) / (cmax - cmin) * (tmax - tmin) + tmin)
    return np.clip(raw, tmin, tmax).astype(dtype)


def write_nhf(
    path: str | Path,
    images: Mapping[tuple[str, str], np.ndarray],
    *,
    version: tuple[int, int] = (1, 1),
    range_m: tuple[float, float] = (1e-6, 1e-6),
    units: Mapping[str, str] | None = None,
    calibration: Mapping[str, tuple[float, float]] | None = None,
    element_type: str = "int32",
    created: str | None = "2023-07-18T15:26:38.320Z",
    line_rate_hz: float | None = 2.0,
    scan_direction: str = "up",
    measurements: int = 1,
    missing: Mapping[tuple[str, str], np.ndarray] | None = None,
) -> Path:
    """Write an NHF file with one (or more, identical) image measurement(s); return its path.

    Parameters
    ----------
    images : mapping of (segment name, channel name) to array (lines, points)
        Physical values in the channel's unit (SI: metres, volts).
    units : mapping of channel name to unit text, optional
        Default ``"m"`` (``"V"`` for names containing ``In``).
    calibration : mapping of channel name to (min, max), optional
        Default: symmetric around zero, 1.2 times the largest magnitude.
    missing : mapping of (segment, channel) to bool array, optional
        2.x only: pixels stored as the dataset's fill value ("not measured").
    """
    path = Path(path)
    code, np_type, v1_range, v2_range = _TYPES[element_type]
    v2 = version[0] == 2
    type_range = v2_range if v2 else v1_range
    lines, points = next(iter(images.values())).shape
    fill = -(2**31) if element_type == "int32" else (-(2**15) if element_type == "int16" else 2**16 - 1)
    with h5py.File(path, "w") as f:
        f.attrs["nsf_file_version_major"] = np.uint32(version[0])
        f.attrs["nsf_file_version_minor"] = np.uint32(version[1])
        if created is not None:
            f.attrs["created"] = created
        for m in range(measurements):
            group = f.create_group(f"measurement_{m}")
            group.attrs["measurement_name" if v2 else "name"] = f"Image {m + 1}"
            group.attrs["group_type" if v2 else "measurement_type"] = "image_line_based"
            if created is not None:
                group.attrs["created"] = created
            if v2:
                group.attrs["rect_axis_size"] = np.array([lines, points], dtype=np.uint32)
                group.attrs["rect_axis_range"] = np.array([range_m[1], range_m[0]], dtype=np.float64)
            else:
                group.attrs["image_points_per_line"] = np.uint32(points)
                group.attrs["image_number_of_lines"] = np.uint32(lines)
                group.attrs["image_size_x"] = float(range_m[0])
                group.attrs["image_size_y"] = float(range_m[1])
            if line_rate_hz is not None:
                group.attrs["image_line_rate"] = float(line_rate_hz)
            group.attrs["image_scan_direction"] = scan_direction
            segments: dict[str, h5py.Group] = {}
            for (segment, channel), values in images.items():
                if segment not in segments:
                    seg = group.create_group(f"segment_{len(segments)}")
                    seg.attrs["segment_name" if v2 else "name"] = segment
                    segments[segment] = seg
                seg = segments[segment]
                unit = (units or {}).get(channel, "V" if " In" in channel else "m")
                peak = float(np.nanmax(np.abs(values))) * 1.2 or 1.0
                cal = (calibration or {}).get(channel, (-peak, peak))
                raw = quantise(np.nan_to_num(values), cal, type_range, np_type)
                if missing and (segment, channel) in missing:
                    raw[np.asarray(missing[(segment, channel)])] = fill
                ds = seg.create_dataset(f"dataset_{len(seg)}", data=raw[::-1].reshape(-1), fillvalue=fill)
                if v2:
                    ds.attrs["signal_name"] = channel
                    ds.attrs["dataset_element_type"] = element_type
                    ds.attrs["signal_calibration_min"] = float(cal[0])
                    ds.attrs["signal_calibration_max"] = float(cal[1])
                    ds.attrs["signal_calibration_unit"] = unit
                    ds.attrs["signal_unit"] = unit
                else:
                    ds.attrs["name"] = channel
                    ds.attrs["dataset_element_type"] = np.uint32(code)
                    ds.attrs["base_calibration_min"] = float(cal[0])
                    ds.attrs["base_calibration_max"] = float(cal[1])
                    ds.attrs["base_calibration_unit"] = unit
                ds.attrs["dataset_size"] = np.uint64(raw.size)
    return path
