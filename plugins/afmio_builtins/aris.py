"""ARIS: Asylum Research / Oxford Instruments Cypher VRS high-speed AFM movies (``.aris``, HDF5).

Reading
-------
``afmio.load("movie.aris", channel=None, lazy=False)``

Layout (as playNano 0.5.0 reads it)
    Frame images are ``/DataSet/Resolution 0/Frame N/<channel>/Image`` (2-D), taken
    in the numeric order of ``N`` (``Frame 2`` before ``Frame 10``). Instrument
    facts live under ``/DataSetInfo``: ``ChannelNames`` (attribute), the scan
    parameters ``/DataSetInfo/Global/Parameters/Scan`` (attributes
    ``FastScanSize`` in metres, ``ScanPoints``, ``ScanRate``, optional
    ``SlowScanSize``) with per-frame overrides in
    ``/DataSetInfo/Frames/Frame N/Parameters/Scan``, the frame times
    ``/DataSetInfo/Series/Time`` (seconds) and ``StartTime`` on
    ``/DataSetInfo/Global``.
Channels
    The names of ``ChannelNames``, as spelled there, matched without regard to
    case. ``channel=None`` or ``"height"`` loads the first of ``HeightTrace``,
    ``Height``, ``height_trace``, ``ZSensorTrace`` present, else the first channel.
Values
    float32, computed in float64. ARIS files written by Asylum's software store
    SI values; playNano hands them over unconverted (heights in metres labelled
    nm). afmio decides the unit per channel: a unit attribute on the ``Image``
    dataset or its channel group (``Unit``, ``Units``, ``DataUnit``,
    ``DataUnits``; any case) wins; without one, a channel whose name contains
    ``phase`` is taken as degrees and every other channel as **metres** (Asylum's
    convention). Lengths become nm (``* 1e9`` for metres), ``V`` and ``deg`` are
    kept; ``stack.z_unit`` says which, and ``acquisition["value_unit_source"]``
    says whether the unit came from the file or was assumed.
Orientation
    Rows as stored (row 0 is the first row of the ``Image`` dataset), as playNano.
Pixel size
    Per frame: ``FastScanSize / ScanPoints`` (nm), each from the frame's own
    override when it has one (a frame that overrides only ``FastScanSize`` uses
    the global ``ScanPoints``, as playNano does; one that overrides only
    ``ScanPoints`` uses it, where playNano keeps the global pixel size). ``stack.pixel_size_nm`` is
    frame 0's; every frame's own is ``frame_metadata[i]["frame_pixel_size_nm"]``.
    **When a frame's pixel size differs from frame 0's**, reading warns once,
    ``acquisition`` records ``pixel_size_range_nm`` and
    ``frames_with_other_pixel_size`` (always present; 0 when all agree), and ``afmio info`` prints a
    ``pixel size varies`` line: measurements across frames then need each
    frame's own size. ``pixel_size_y_nm`` is ``SlowScanSize`` / rows of frame 0
    when the file gives ``SlowScanSize``, else square pixels. Every frame must
    have frame 0's shape in pixels.
Timing (the six per-frame keys)
    ``timestamp`` = ``Series/Time[i] - Series/Time[0]``; ``frame_duration_s`` =
    the time to the next frame (None for the last); ``start_epoch_ms`` =
    ``StartTime`` + ``Series/Time[i]`` (``StartTime`` is
    ``"YYYY-MM-DD HH:MM:SS.fffffffff +HHMM"``; every fractional digit is used,
    where playNano keeps six and truncates the start to whole ms, so the two can
    differ by 1 ms; without a zone the epoch is None); ``line_rate`` =
    ``ScanRate`` (the frame's override when it has one; playNano always uses the
    global one); ``scan_direction`` None. Without ``Series/Time`` the
    timestamps are None (a warning says so); a ``Series/Time`` of another
    length than the frame count is an error, as in playNano.
Acquisition (``stack.acquisition``)
    ``channels``, ``start_time`` (the file's text), ``scan_rate_hz``,
    ``fast_scan_size_m``, ``scan_points``, ``slow_scan_size_m``, ``file_unit``,
    ``value_unit_source``, ``timing``, the pixel-size facts above and, when the
    start epoch is unknown, ``start_time_note`` saying why.

Options
-------
lazy : bool
    Keep the file open and read frames when they are touched (close the stack,
    or use it as a context manager).

Errors
------
A file that is not HDF5 or is damaged raises :class:`~afmio.CorruptFileError`
naming the file; so does a missing required group or attribute, a frame without
the channel, a frame of another shape, or an image whose declared size its
stored bytes cannot hold (checked before anything is allocated).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from afmio.channels import select_channel
from afmio.errors import CorruptFileError, ReadError
from afmio.frames import FrameSourceBase, close_on_error
from afmio.hookspecs import ProbeResult
from afmio.metadata import build_frame_metadata
from afmio.stack import AFMImageStack
from afmio.units import preferred

from ._h5util import attr_float, attr_text, check_stored, check_stored_total, h5_errors, is_hdf5, open_h5

__all__ = ["channels", "parse_start_time", "probe", "read", "sniff"]

DATA_GROUP = "DataSet/Resolution 0"
INFO_GROUP = "DataSetInfo"
SCAN = "Parameters/Scan"
#: Height-like channels, best first, for ``channel=None``.
DEFAULT_ORDER = ("HeightTrace", "Height", "height_trace", "ZSensorTrace")
_UNIT_ATTRS = ("unit", "units", "dataunit", "dataunits")
_FRAME_KEY = re.compile(r"^Frame (\d+)$")
_START = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


# --------------------------------------------------------------------------- facts
def parse_start_time(text: str | None) -> tuple[float | None, str]:
    """POSIX seconds of an ARIS ``StartTime`` and a note; None when it has no zone or is unreadable.

    Every fractional digit counts (ARIS writes nine).

    >>> parse_start_time("2024-03-01 12:00:00.500000001 +0100")[0]
    1709290800.5
    """
    if text is None:
        return None, "no StartTime"
    m = _START.match(text)
    if m is None:
        return None, f"StartTime {text!r} not understood"
    y, mo, d, h, mi, s, frac, zone = m.groups()
    if zone is None:
        return None, f"StartTime {text!r} has no time zone"
    try:
        naive = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        return None, f"StartTime {text!r} is not a valid date"
    if zone == "Z":
        offset = timedelta(0)
    else:
        digits = zone.replace(":", "")
        sign = -1 if digits[0] == "-" else 1
        offset = sign * timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
    whole = naive.replace(tzinfo=timezone(offset)).timestamp()
    fraction = int(frac) / 10 ** len(frac) if frac else 0.0
    return whole + fraction, "StartTime"


@dataclass(frozen=True)
class _FrameFacts:
    key: str
    pixel_size_nm: float
    line_rate: float | None


@dataclass
class _Plan:
    channels: list[str]
    channel: str
    datasets: list[Any]
    shape: tuple[int, int]
    frames: list[_FrameFacts]
    factor: float
    z_unit: str
    pixel_size_y_nm: float | None
    metadata: list[dict[str, Any]]
    timestamps: list[float | None]
    acquisition: dict[str, Any]


def _group(parent: Any, name: str) -> Any:
    """``parent[name]`` when it is a group, else None."""
    return parent.get(name) if parent.get(name, getclass=True) is h5py.Group else None


def _need_group(f: Any, name: str, path: Path) -> Any:
    group = _group(f, name)
    if group is None:
        raise CorruptFileError(path, f"no /{name} group: not an ARIS file")
    return group


def _channel_names(info: Any, path: Path) -> list[str]:
    raw = info.attrs.get("ChannelNames")
    if raw is None:
        raise CorruptFileError(path, "/DataSetInfo has no ChannelNames attribute")
    values = np.atleast_1d(np.asarray(raw)).reshape(-1)
    names = [n for n in (attr_text(v) for v in values) if n]
    if not names:
        raise CorruptFileError(path, "/DataSetInfo ChannelNames is empty")
    return list(dict.fromkeys(names))


def _frame_keys(data: Any, path: Path) -> list[str]:
    numbered = [(int(m.group(1)), k) for k in data if (m := _FRAME_KEY.match(k))]
    if not numbered:
        raise CorruptFileError(path, f"/{DATA_GROUP} holds no 'Frame N' group")
    return [k for _, k in sorted(numbered)]


def _scan_number(attrs: Any, name: str) -> float | None:
    return None if attrs is None else attr_float(attrs.get(name))


def _positive(value: float | None, what: str, path: Path) -> float:
    if value is None or value <= 0:
        raise CorruptFileError(path, f"{what} must be a positive number, not {value!r}")
    return value


def _frame_overrides(info: Any, keys: list[str]) -> dict[str, Any]:
    """Frame key -> attributes of its own ``Parameters/Scan``, for the frames that have one."""
    frames = _group(info, "Frames")
    if frames is None:
        return {}
    out = {}
    for key in set(frames).intersection(keys):  # one listing, then one path look-up per frame
        scan = frames.get(f"{key}/{SCAN}")
        if isinstance(scan, h5py.Group):
            out[key] = scan.attrs
    return out


def _frame_facts(info: Any, keys: list[str], path: Path) -> tuple[list[_FrameFacts], dict[str, Any]]:
    scan = _group(info, "Global/" + SCAN)
    if scan is None:
        raise CorruptFileError(path, "no /DataSetInfo/Global/Parameters/Scan group")
    g = scan.attrs
    size = _positive(_scan_number(g, "FastScanSize"), "Global FastScanSize", path)
    points = _positive(_scan_number(g, "ScanPoints"), "Global ScanPoints", path)
    rate = _scan_number(g, "ScanRate")
    overrides = _frame_overrides(info, keys)
    out = []
    for key in keys:
        own = overrides.get(key)
        own_size = _scan_number(own, "FastScanSize")
        own_points = _scan_number(own, "ScanPoints")
        own_rate = _scan_number(own, "ScanRate")
        fs = size if own_size is None else _positive(own_size, f"{key} FastScanSize", path)
        pts = points if own_points is None else _positive(own_points, f"{key} ScanPoints", path)
        out.append(_FrameFacts(key, fs / pts * 1e9, own_rate if own_rate is not None else rate))
    facts = {
        "fast_scan_size_m": size,
        "scan_points": int(points) if points == int(points) else points,
        "slow_scan_size_m": _scan_number(g, "SlowScanSize"),
        "scan_rate_hz": rate,
    }
    return out, facts


def _open_image(data: Any, key: str, channel: str, path: Path) -> Any:
    """The low-level dataset id of one frame's image (h5py's objects cost several times more per frame)."""
    try:
        ident = h5py.h5o.open(data.id, f"{key}/{channel}/Image".encode())
    except KeyError:
        ident = None
    if not isinstance(ident, h5py.h5d.DatasetID):
        raise CorruptFileError(path, f"{key} has no {channel}/Image dataset")
    return ident


def _images(data: Any, keys: list[str], channel: str, path: Path) -> list[Any]:
    """Low-level dataset ids of the frames' images, checked for shape, type and stored size."""
    file_size = path.stat().st_size
    out = []
    total_declared = total_stored = 0
    for key in keys:
        ds = _open_image(data, key, channel, path)
        if len(ds.shape) != 2 or ds.dtype.kind not in "iuf":
            raise CorruptFileError(path, f"{key}/{channel}/Image is {ds.shape} {ds.dtype}, not a 2-D numeric image")
        declared, stored = check_stored(ds, path, f"{key}/{channel}/Image", file_size)
        total_declared += declared
        total_stored += stored
        out.append(ds)
    check_stored_total(path, total_declared, total_stored, f"the {len(keys)} {channel} images")
    first = out[0].shape
    for key, ds in zip(keys, out):
        if ds.shape != first:
            raise CorruptFileError(
                path, f"{key}/{channel}/Image is {ds.shape} but frame 0 is {first}; a stack needs one frame shape"
            )
    return out


def _value_unit(ds: Any, channel: str) -> tuple[str, str | None, str]:
    """(unit, file's spelling or None, where it came from)."""
    for node, where in ((ds, "Image dataset"), (ds.parent, "channel group")):
        for name, value in node.attrs.items():
            if name.lower() in _UNIT_ATTRS:
                text = (attr_text(value) or "").strip()
                if text:
                    return text, text, f"file: {name!r} attribute of the {where}"
    if "phase" in channel.lower():
        return "deg", None, "assumed: no unit attribute; phase channels are degrees (Asylum convention)"
    return "m", None, "assumed: no unit attribute; SI metres (Asylum convention)"


def _times(info: Any, n: int, path: Path) -> np.ndarray | None:
    series = _group(info, "Series")
    node = None if series is None else series.get("Time")
    if not isinstance(node, h5py.Dataset):
        warnings.warn(f"{path}: no /DataSetInfo/Series/Time; frame times unknown", stacklevel=4)
        return None
    if node.dtype.kind not in "iuf" or node.size != n:
        raise CorruptFileError(path, f"Series/Time holds {node.size} {node.dtype} values for {n} frames")
    check_stored(node, path, "Series/Time")
    times = np.asarray(node[()], dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(times)):
        raise CorruptFileError(path, "Series/Time holds values that are not finite")
    return times


def _pixel_size_facts(sizes: list[float]) -> dict[str, Any]:
    first = sizes[0]
    other = sum(1 for s in sizes if abs(s - first) > 1e-9 * first)
    return {
        "pixel_size_range_nm": [min(sizes), max(sizes)],
        "frames_with_other_pixel_size": other,
    }


def _plan(f: Any, path: Path, channel: str | None) -> _Plan:
    data = _need_group(f, DATA_GROUP, path)
    info = _need_group(f, INFO_GROUP, path)
    names = _channel_names(info, path)
    chosen = select_channel(path, names, channel, order=DEFAULT_ORDER)
    keys = _frame_keys(data, path)
    frames, scan_facts = _frame_facts(info, keys, path)
    datasets = _images(data, keys, chosen, path)
    unit, file_unit, unit_source = _value_unit(h5py.Dataset(datasets[0]), chosen)
    factor, z_unit = preferred(1.0, unit)
    rows = datasets[0].shape[0]
    slow = scan_facts["slow_scan_size_m"]
    pixel_y = slow / rows * 1e9 if slow is not None and slow > 0 else None

    n = len(keys)
    times = _times(info, n, path)
    start_s, start_note = parse_start_time(attr_text(_need_group(info, "Global", path).attrs.get("StartTime")))
    stamps: list[float | None] = [None] * n if times is None else [float(t - times[0]) for t in times]
    metadata = []
    for i, fr in enumerate(frames):
        duration = None if times is None or i + 1 == n else float(times[i + 1] - times[i])
        epoch_ms = None if times is None or start_s is None else (start_s + float(times[i])) * 1000.0
        metadata.append(build_frame_metadata(
            timestamp=stamps[i],
            frame_pixel_size_nm=fr.pixel_size_nm,
            frame_duration_s=duration,
            start_epoch_ms=epoch_ms,
            line_rate=fr.line_rate,
        ))
    acquisition: dict[str, Any] = {
        "channels": names,
        "start_time": attr_text(info["Global"].attrs.get("StartTime")),
        **({} if start_s is not None else {"start_time_note": start_note}),
        **scan_facts,
        "file_unit": file_unit,
        "value_unit_source": unit_source,
        "timing": "unknown (no Series/Time)" if times is None else "Series/Time",
        **_pixel_size_facts([fr.pixel_size_nm for fr in frames]),
    }
    return _Plan(names, chosen, datasets, datasets[0].shape, frames, factor, z_unit, pixel_y, metadata, stamps,
                 acquisition)


# --------------------------------------------------------------------------- frames
class _ArisFrames(FrameSourceBase):
    """Frames of one channel; the HDF5 file stays open until close()."""

    def __init__(self, handle: Any, plan: _Plan, path: Path) -> None:
        self._file = handle
        self._datasets = plan.datasets
        self._factor = plan.factor
        self._shape = (len(plan.datasets), *plan.shape)
        self._path = path

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        if self._file is None:
            raise ReadError(self._path, "the lazy stack was closed; load the file again to read frames")
        start, stop, _ = slice(start, stop).indices(self._shape[0])
        stop = max(start, stop)
        out = np.empty((stop - start, *self._shape[1:]), np.float32)
        # HDF5 converts the stored type while reading (float64 when a unit factor follows).
        scratch = np.empty(self._shape[1:], np.float32 if self._factor == 1.0 else np.float64)
        for i in range(start, stop):
            target = out[i - start] if self._factor == 1.0 else scratch
            with h5_errors(self._path, f"frame {i}"):
                self._datasets[i].read(h5py.h5s.ALL, h5py.h5s.ALL, target)
            if self._factor != 1.0:
                np.multiply(scratch, self._factor, out=out[i - start], casting="same_kind")
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# --------------------------------------------------------------------------- driver API
def read(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Read an ``.aris`` movie.

    Parameters
    ----------
    path : pathlib.Path
    channel : str, optional
        A name of ``ChannelNames`` (any case); None or ``"height"`` for the height channel.
    lazy : bool
        Keep the file open and read frames on demand.

    Returns
    -------
    AFMImageStack
        float32 frames in nm (or ``deg``/``V``/the file's unit, per ``z_unit``).
    """
    path = Path(path)
    f = open_h5(path)
    with close_on_error(f):
        with h5_errors(path):
            plan = _plan(f, path, channel)
        facts = plan.acquisition
        if facts["frames_with_other_pixel_size"]:
            low, high = facts["pixel_size_range_nm"]
            warnings.warn(
                f"{path}: pixel size varies between frames ({low:.6g}..{high:.6g} nm; "
                f"{facts['frames_with_other_pixel_size']} of {len(plan.frames)} frames differ from frame 0); "
                "stack.pixel_size_nm is frame 0's, each frame's own is frame_metadata[i]['frame_pixel_size_nm']",
                UserWarning,
                stacklevel=2,
            )
        return AFMImageStack.from_source(
            _ArisFrames(f, plan, path),
            plan.frames[0].pixel_size_nm,
            plan.channel,
            str(path),
            plan.metadata,
            lazy=lazy,
            pixel_size_y_nm=plan.pixel_size_y_nm,
            z_unit=plan.z_unit,
            acquisition=facts,
        )


def probe(path: Path) -> ProbeResult:
    """Attributes and dataset shapes only (no image is read)."""
    path = Path(path)
    with open_h5(path) as f, h5_errors(path):
        plan = _plan(f, path, None)
    px = plan.frames[0].pixel_size_nm
    return ProbeResult(
        n_frames=len(plan.frames),
        frame_shape=plan.shape,
        channels=list(plan.channels),
        default_channel=plan.channel,
        pixel_size_nm=px,
        pixel_size_y_nm=plan.pixel_size_y_nm or px,
        z_unit=plan.z_unit,
        frame_times=None if plan.timestamps[0] is None else [float(t) for t in plan.timestamps],  # type: ignore[arg-type]
        acquisition=dict(plan.acquisition),
        frame_pixel_sizes_nm=[fr.pixel_size_nm for fr in plan.frames],
    )


def channels(path: Path) -> list[str]:
    """Channel names as ``ChannelNames`` spells them."""
    path = Path(path)
    with open_h5(path) as f, h5_errors(path):
        return _channel_names(_need_group(f, INFO_GROUP, path), path)


def sniff(path: Path) -> bool | None:
    """True for an HDF5 file with ``/DataSet/Resolution 0`` and ``/DataSetInfo``."""
    path = Path(path)
    if not is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return _group(f, DATA_GROUP) is not None and _group(f, INFO_GROUP) is not None
    except (OSError, RuntimeError, ValueError, KeyError):  # damaged HDF5: not recognisably ours
        return False
