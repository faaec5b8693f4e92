"""Test-only writer of Asylum Research / Cypher VRS ``.aris`` movies (HDF5).

Written from the layout playNano 0.5.0 reads (issue 17), independently of afmio's
reader, so tests can check the reader against files whose every value is known:

>>> import numpy as np
>>> heights_m = np.random.default_rng(0).normal(0, 1e-9, (3, 16, 24))   # SI metres
>>> write_aris("x.aris", {"HeightTrace": heights_m}, fast_scan_size_m=2.4e-7)  # doctest: +SKIP

Frames are written as ``/DataSet/Resolution 0/Frame N/<channel>/Image`` (in the
order given by ``frame_numbers``), ``ChannelNames`` on ``/DataSetInfo``, the scan
parameters on ``/DataSetInfo/Global/Parameters/Scan`` with optional per-frame
overrides, ``/DataSetInfo/Series/Time`` and ``StartTime``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

__all__ = ["write_aris"]


def write_aris(
    path: str | Path,
    channels: Mapping[str, np.ndarray],
    *,
    fast_scan_size_m: float = 1e-6,
    scan_points: int | None = None,
    slow_scan_size_m: float | None = None,
    scan_rate_hz: float = 100.0,
    times_s: Sequence[float] | None = None,
    start_time: str | None = "2024-05-06 07:08:09.123456789 +0200",
    frame_scan: Mapping[int, Mapping[str, float]] | None = None,
    frame_numbers: Sequence[int] | None = None,
    units: Mapping[str, str] | None = None,
    channel_names_as_bytes: bool = True,
    compression: str | None = None,
) -> Path:
    """Write an ARIS movie and return its path.

    Parameters
    ----------
    channels : mapping of str to array (n_frames, rows, cols)
        Values as they are to be stored (Asylum stores SI units).
    scan_points : int, optional
        Global ``ScanPoints``; default the number of columns.
    times_s : sequence of float, optional
        ``Series/Time``; default ``0.1 * i``. An empty sequence leaves it out.
    frame_scan : mapping of frame index to attributes, optional
        Per-frame ``Parameters/Scan`` overrides (``FastScanSize``, ``ScanPoints``, ``ScanRate``).
    frame_numbers : sequence of int, optional
        The ``N`` of ``Frame N`` for each frame (default ``0..n-1``).
    units : mapping of channel to str, optional
        A ``Unit`` attribute written on that channel's ``Image`` datasets.
    """
    path = Path(path)
    names = list(channels)
    arrays = [np.asarray(channels[c]) for c in names]
    n, _, cols = arrays[0].shape
    numbers = list(range(n)) if frame_numbers is None else list(frame_numbers)
    times = [0.1 * i for i in range(n)] if times_s is None else list(times_s)
    with h5py.File(path, "w") as f:
        data = f.create_group("DataSet/Resolution 0")
        info = f.create_group("DataSetInfo")
        encoded: Any = [c.encode() for c in names] if channel_names_as_bytes else names
        info.attrs["ChannelNames"] = np.array(encoded, dtype=h5py.string_dtype() if not channel_names_as_bytes
                                              else f"S{max(len(c) for c in encoded)}")
        glob = info.create_group("Global")
        if start_time is not None:
            glob.attrs["StartTime"] = start_time
        scan = glob.create_group("Parameters/Scan")
        scan.attrs["FastScanSize"] = float(fast_scan_size_m)
        scan.attrs["ScanPoints"] = int(cols if scan_points is None else scan_points)
        scan.attrs["ScanRate"] = float(scan_rate_hz)
        if slow_scan_size_m is not None:
            scan.attrs["SlowScanSize"] = float(slow_scan_size_m)
        for i, number in enumerate(numbers):
            frame = data.create_group(f"Frame {number}")
            for name, arr in zip(names, arrays):
                ds = frame.create_group(name).create_dataset("Image", data=arr[i], compression=compression)
                if units and name in units:
                    ds.attrs["Unit"] = units[name]
            for attr, value in (frame_scan or {}).get(i, {}).items():
                info.require_group(f"Frames/Frame {number}/Parameters/Scan").attrs[attr] = value
        if times:
            info.create_dataset("Series/Time", data=np.asarray(times, dtype=np.float64))
    return path
