"""JPK ``.h5-jpk`` HS-AFM movies (HDF5 written by JPK SPM software, "JPK SCAN" 3.0).

The file holds ``Measurement_000`` with one ``Channel_*`` group per channel and scan
direction; each group's dataset is ``(pixels, frames)`` integers, one column per
frame, pixels in line order (fast axis varying fastest).

Channels
    ``<name>_trace`` / ``<name>_retrace`` with the name as the file spells it in
    ``channel.name`` (``height_trace``, ``measuredHeight_trace``,
    ``phase_retrace``, ``error_trace``, ``amplitude_retrace``), matched without
    regard to case, so ``measuredheight_trace`` (playNano's spelling) works too.
    The default is ``height_trace`` (else the first). Every channel of the file is
    readable; if a name appears twice, the first group wins.

Values
    ``raw * multiplier + offset`` with the group's ``net-encoder.scaling.*``
    attributes (raw integers straight to the default calibration). When those are
    missing, the chain is composed from ``encoder.scaling.*`` and each
    ``conversion.<slot>.scaling.*`` step (following ``base-calibration-slot``) up
    to ``conversions.default``. Lengths become nm from the declared unit (error
    and amplitude channels in ``m`` too); ``V`` and ``deg`` are kept, and
    ``stack.z_unit`` says which. The unit is never guessed from the data.
    Result: float32 (``dtype="float64"`` keeps it unrounded), computed in float64
    block by block.

Orientation
    Row 0 is the top line (highest y): the stored lines are reversed unless
    ``position-pattern.grid.reflect`` is true -- the same convention as the
    ``jpk`` driver (Gwyddion / AFMReader order), and the row order playNano gives
    for ``.h5-jpk``. Frames may be non-square: ``(jlength, ilength)``.

Pixel size
    ``pixel_size_nm`` = ``grid.ulength / ilength``, ``pixel_size_y_nm`` =
    ``grid.vlength / jlength`` (nm).

Timing
    ``meta-data/start-times`` and ``end-times`` (Unix ms, UTC) give timestamps
    (start differences), durations (end - start) and ``start_epoch_ms``. Without
    them: interval = jlength / ``timing-settings.scanRate``, halved when the
    interlace setting is true. ``line_rate`` = scanRate, ``scan_direction`` =
    ``motion``.

Acquisition facts (``stack.acquisition``)
    ``bidirectional``, ``interlace``, ``timing``, ``start_time`` (the file's text,
    with its UTC offset), ``time_zone``, ``jpk_version``, ``file_format_version``,
    ``scan_rate_hz``, ``duty_cycle``, ``grid_reflect``, ``rows_reversed``,
    ``channels``, ``file_unit``, ``scaling`` (``net-encoder`` or
    ``composed-chain``), ``measurements``. Only the first ``Measurement_*`` group
    is read (a warning says when there are more).

Options
    ``lazy=True`` keeps the file open and decodes frames when touched (close the
    stack, or use it as a context manager).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from afmio.channels import select_channel
from afmio.errors import AfmioError, CorruptFileError, ReadError, reading
from afmio.frames import FrameSourceBase, close_on_error, float_dtype
from afmio.hookspecs import ProbeResult
from afmio.ioutil import natural_sort_key
from afmio.metadata import build_frame_metadata
from afmio.stack import AFMImageStack

from . import _h5chunks
from ._h5limits import check_dataset
from ._jpk_common import (
    MAX_DEFLATE_RATIO,
    ValueScale,
    as_bool,
    channel_key,
    decode,
    frame_timing,
    is_bidirectional,
    scale_into,
    value_scale,
)
from .hdf5 import H5PY_ERRORS

__all__ = ["channels", "probe", "read", "sniff"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
INTERLACE_ATTR = "environment.fast-imaging.feed-forward-parameters.yaxis.interlace"
GRID = "position-pattern.grid."
#: Bytes at each end of the file searched for the root attribute ``file-format-info = JPK SCAN``.
_SNIFF_BYTES = 64 << 10
#: Raw integers decoded per block when reading many frames.
BLOCK_BYTES = 16 << 20


# ---------------------------------------------------------------------- structure
def _h5_errors(path: Path, what: str = "the HDF5 structure") -> reading:
    """Report what h5py raises on a damaged file as CorruptFileError naming ``what``."""
    return reading(path, what, also=H5PY_ERRORS)


@dataclass
class _Info:
    """Header facts of one file (attributes and dataset shapes only)."""

    measurement: Any
    reader: Any  # the file's AttributeReader: every attribute is read through it
    n_measurements: int
    channels: dict[str, tuple[str, str]]  # key -> (group name, dataset name)
    ilength: int
    jlength: int
    pixel_size_nm: float
    pixel_size_y_nm: float

    def attr(self, name: str) -> Any:
        return self.reader.get(self.measurement, name)

    def number(self, name: str) -> float | None:
        """A measurement attribute as a finite float, or None (absent or unreadable)."""
        try:
            out = _num(self.reader.of(self.measurement), name)
        except (TypeError, ValueError, IndexError):
            return None
        return out if out is not None and np.isfinite(out) else None

    @property
    def reflect(self) -> bool:
        return bool(as_bool(self.attr(GRID + "reflect")))


def _open(path: Path) -> Any:
    """The file open in h5py, its global heaps not yet checked: every attribute is read
    through :class:`._h5attrs.AttributeReader`, which checks them before the first value
    stored there (JPK files have none)."""
    from ._h5util import open_h5

    return open_h5(path, check_heaps=False)


def _inspect(f: Any, path: Path) -> _Info:
    import h5py

    from ._h5attrs import AttributeReader

    reader = AttributeReader(path, f)

    measurements = _member_groups(f.id, b"Measurement_")
    if not measurements:
        raise CorruptFileError(path, "no Measurement_* group: not a JPK .h5-jpk file")
    names = [name for name, _ in measurements]
    if len(names) > 1:
        warnings.warn(f"{path}: {len(names)} Measurement groups; only {names[0]} is read", stacklevel=3)
    m = h5py.Group(measurements[0][1])
    m_attrs = reader.of(m)
    chans: dict[str, tuple[str, str]] = {}
    for gname, gid in _member_groups(m.id, b"Channel_"):
        group_attrs = reader.of(h5py.Group(gid))
        name = decode(group_attrs.get("channel.name"))
        # member kinds are checked only for the channel that is read (see _dataset)
        members = sorted(k for k in (_text(raw) for raw in gid) if k != "thumbnail")
        if not name or not members:
            continue
        if len(members) > 1:
            warnings.warn(f"{path}: {gname} has several datasets; using {members[0]!r}", stacklevel=3)
        key = channel_key(name, bool(as_bool(group_attrs.get("retrace"))))
        chans.setdefault(key, (gname, members[0]))
    if not chans:
        raise CorruptFileError(path, f"{names[0]} has no Channel_* group with a channel.name and a dataset")

    def need(attr: str) -> float:
        value = m_attrs.get(GRID + attr)
        if value is None:
            raise CorruptFileError(path, f"missing required attribute {GRID + attr!r} in {names[0]}")
        try:
            out = _first_float(value)
        except (TypeError, ValueError, IndexError) as exc:
            raise CorruptFileError(path, f"attribute {GRID + attr!r} is not a number: {value!r}") from exc
        if not np.isfinite(out) or out <= 0:
            raise CorruptFileError(path, f"attribute {GRID + attr!r} must be positive, not {out}")
        return out

    il, jl, ul = need("ilength"), need("jlength"), need("ulength")
    if il != int(il) or jl != int(jl):
        raise CorruptFileError(path, f"grid size {il} x {jl} is not whole pixels")
    px = ul / il * 1e9
    py = need("vlength") / jl * 1e9 if m_attrs.get(GRID + "vlength") is not None else px
    return _Info(m, reader, len(names), chans, int(il), int(jl), px, py)


def _member_groups(parent: Any, prefix: bytes) -> list[tuple[str, Any]]:
    """``(name, GroupID)`` of the groups in ``parent`` whose names start with ``prefix``,
    in natural order. h5py's low-level calls: its Group wrappers cost ~10 µs each."""
    import h5py

    found = []
    for raw in parent:
        if raw.startswith(prefix):
            ident = h5py.h5o.open(parent, raw)
            if isinstance(ident, h5py.h5g.GroupID):
                found.append((_text(raw), ident))
    return sorted(found, key=lambda item: natural_sort_key(item[0]))


def _text(name: bytes) -> str:
    return name.decode("utf-8", "replace")


def _dataset(info: _Info, key: str, path: Path) -> tuple[Any, int]:
    """The channel's dataset and its frame count, checked against the grid."""
    import h5py

    gname, dname = info.channels[key]
    ds = info.measurement[gname][dname]
    if not isinstance(ds, h5py.Dataset):
        raise CorruptFileError(path, f"{gname}/{dname} is not a dataset")
    pixels = info.ilength * info.jlength
    if ds.ndim not in (1, 2) or ds.shape[0] != pixels:
        raise CorruptFileError(
            path, f"{gname}/{dname} has shape {ds.shape}; expected ({pixels}, n_frames) for a "
            f"{info.jlength} x {info.ilength} grid"
        )
    if ds.dtype.kind not in "iuf":
        raise CorruptFileError(path, f"{gname}/{dname} holds {ds.dtype}, not numbers")
    n = ds.shape[1] if ds.ndim == 2 else 1
    check_dataset(path, ds, f"{gname}/{dname}", frames=n)  # before any per-frame metadata
    return ds, n


def _num(attrs: Any, name: str) -> float | None:
    """The attribute's first value as a float (None when absent); raises on non-numbers."""
    value = attrs.get(name)
    return None if value is None else _first_float(value)


def _first_float(value: Any) -> float:
    return float(np.asarray(value).reshape(-1)[0])


def _check_linear(attrs: Any, prefix: str, path: Path, key: str) -> None:
    kind = decode(attrs.get(prefix + "scaling.type"))
    if kind is not None and kind.lower() != "linear":
        raise CorruptFileError(path, f"channel {key!r}: {prefix}scaling.type is {kind!r}, not linear")


def _scale(info: _Info, key: str, path: Path) -> tuple[ValueScale, str]:
    """Raw -> physical map of a channel: net encoder, else the composed chain."""
    attrs = info.reader.of(info.measurement[info.channels[key][0]])
    mult = _num(attrs, "net-encoder.scaling.multiplier")
    if mult is not None:
        _check_linear(attrs, "net-encoder.", path, key)
        off = _num(attrs, "net-encoder.scaling.offset") or 0.0
        return value_scale(mult, off, decode(attrs.get("net-encoder.scaling.unit.unit"))), "net-encoder"

    mult = _num(attrs, "encoder.scaling.multiplier")
    if mult is None:
        raise CorruptFileError(path, f"channel {key!r} has neither net-encoder nor encoder scaling")
    _check_linear(attrs, "encoder.", path, key)
    off = _num(attrs, "encoder.scaling.offset") or 0.0
    unit = decode(attrs.get("encoder.scaling.unit.unit"))
    base = decode(attrs.get("conversions.base"))
    slot = decode(attrs.get("conversions.default"))
    steps: list[tuple[float, float, str | None]] = []
    seen: set[str] = set()
    while slot and slot != base:
        if slot in seen:
            raise CorruptFileError(path, f"channel {key!r}: calibration slots form a loop at {slot!r}")
        seen.add(slot)
        prefix = f"conversion.{slot}."
        step_m = _num(attrs, prefix + "scaling.multiplier")
        if step_m is None:
            if as_bool(attrs.get(prefix + "defined")) is False:
                break  # an undefined slot without scaling is the encoder's own unit
            raise CorruptFileError(path, f"channel {key!r}: calibration slot {slot!r} has no scaling")
        _check_linear(attrs, prefix, path, key)
        steps.append((step_m, _num(attrs, prefix + "scaling.offset") or 0.0,
                      decode(attrs.get(prefix + "scaling.unit.unit"))))
        slot = decode(attrs.get(prefix + "base-calibration-slot"))
    for step_m, step_o, step_unit in reversed(steps):  # encoder first, default slot last
        mult, off = mult * step_m, off * step_m + step_o
        unit = step_unit or unit
    return value_scale(mult, off, unit), "composed-chain"


def _times(info: _Info, n: int, path: Path) -> tuple[list[int] | None, list[int] | None]:
    import h5py

    def column(name: str) -> list[int] | None:
        node = info.measurement.get(f"meta-data/{name}")
        if not isinstance(node, h5py.Dataset) or node.size != n or node.dtype.kind not in "iuf":
            return None
        # JPK stores these few values in one 1 MB gzip chunk; h5py's read of it is slow.
        values = _h5chunks.read_whole(node)
        return [int(v) for v in np.asarray(node[()] if values is None else values).reshape(-1)]

    starts, ends = column("start-times"), column("end-times")
    if starts is None:
        warnings.warn(f"{path}: no per-frame start times for {n} frames; times from the scan rate",
                      stacklevel=3)
    return starts, ends


@dataclass
class _Plan:
    info: _Info
    key: str
    dataset: Any
    n_frames: int
    scale: ValueScale
    scaling: str
    metadata: list[dict[str, Any]]
    acquisition: dict[str, Any]
    times: list[float | None]


def _plan(f: Any, path: Path, channel: str | None) -> _Plan:
    info = _inspect(f, path)
    key = select_channel(path, list(info.channels), channel)
    ds, n = _dataset(info, key, path)
    scale, how = _scale(info, key, path)
    starts, ends = _times(info, n, path)
    scan_rate = info.number("timing-settings.scanRate")
    interlace = as_bool(info.attr(INTERLACE_ATTR))
    timing = frame_timing(n, starts_ms=starts, ends_ms=ends, lines=info.jlength, scan_rate=scan_rate,
                          interlace=interlace, path=path)
    motion = decode(info.attr("motion"))
    metadata = [
        build_frame_metadata(
            timestamp=timing.timestamps[i],
            frame_pixel_size_nm=info.pixel_size_nm,
            frame_duration_s=timing.durations[i],
            start_epoch_ms=timing.epochs_ms[i],
            scan_direction=motion,
            line_rate=scan_rate,
        )
        for i in range(n)
    ]
    first_group = info.measurement[info.channels[key][0]]
    acquisition: dict[str, Any] = {
        "bidirectional": is_bidirectional(interlace, timing.durations, info.jlength, scan_rate),
        "interlace": interlace,
        "timing": timing.source,
        "start_time": decode(info.attr("start-time")),
        "time_zone": decode(info.attr("environment.metadata.user.timezone")),
        "jpk_version": decode(info.reader.get(first_group, "jpkspm_version")),
        "file_format_version": decode(info.reader.get(f, "file-format-version")),
        "scan_rate_hz": scan_rate,
        "duty_cycle": info.number("timing-settings.dutyCycle"),
        "grid_reflect": info.reflect,
        "rows_reversed": not info.reflect,
        "channels": list(info.channels),
        "file_unit": scale.file_unit,
        "scaling": how,
        "measurements": info.n_measurements,
    }
    if timing.notes:
        acquisition["timing_notes"] = timing.notes
    return _Plan(info, key, ds, n, scale, how, metadata, acquisition, timing.timestamps)


# ---------------------------------------------------------------------- frames
class _H5Frames(FrameSourceBase):
    """Frame source over one channel dataset; the HDF5 file stays open until close()."""

    @classmethod
    def open(cls, path: Path, channel: str | None, dtype: np.dtype) -> _H5Frames:
        """Open ``path`` and plan the read of ``channel``; the file is closed again if that fails."""
        f = _open(path)
        with close_on_error(f):
            with _h5_errors(path):
                plan = _plan(f, path, channel)
                storage = plan.dataset.id.get_storage_size()
            n, h, w = plan.n_frames, plan.info.jlength, plan.info.ilength
            if n * h * w * plan.dataset.dtype.itemsize > MAX_DEFLATE_RATIO * storage + (64 << 20):
                raise CorruptFileError(
                    path, f"channel {plan.key!r} declares {n} frames of {h}x{w} but stores only {storage} bytes"
                )
        return cls(f, plan, path, dtype)

    def __init__(self, handle: Any, plan: _Plan, path: Path, dtype: np.dtype) -> None:
        self._file = handle
        self.plan = plan
        self._dtype = dtype
        self._ds = plan.dataset
        self._scale = plan.scale
        self._flip = not plan.info.reflect
        self._shape = (plan.n_frames, plan.info.jlength, plan.info.ilength)
        self._path = path

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        if self._file is None:
            raise ReadError(self._path, "the lazy stack was closed; load the file again to read frames")
        n, h, w = self._shape
        start, stop, _ = slice(start, stop).indices(n)
        stop = max(start, stop)
        out = np.empty((stop - start, h, w), self._dtype)
        per_block = max(1, BLOCK_BYTES // max(1, h * w * self._ds.dtype.itemsize))
        with _h5_errors(self._path, f"frames {start}..{stop - 1}"):
            for a in range(start, stop, per_block):
                b = min(stop, a + per_block)
                column = _h5chunks.read_whole(self._ds) if (a, b) == (0, n) else None
                if column is None:
                    column = self._ds[()] if self._ds.ndim == 1 else self._ds[:, a:b]
                raw = np.asarray(column).reshape(h * w, b - a)
                # column k is frame a+k: (pixels, k) -> (k, lines, pixels per line)
                frames = raw.T.reshape(b - a, h, w)
                scale_into(frames, self._scale, out[a - start : b - start], flip=self._flip)
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# ---------------------------------------------------------------------- driver API
def read(path: Path, *, channel: str | None = None, lazy: bool = False, dtype: Any = np.float32) -> AFMImageStack:
    """Read a ``.h5-jpk`` movie.

    Parameters
    ----------
    path : pathlib.Path
    channel : str, optional
        ``height_trace`` (default), ``measuredHeight_trace``, ``phase_retrace``...
        any case.
    lazy : bool
        Keep the file open and decode frames on demand.
    dtype : float32 or float64
        Element type of the values (the affine map always runs in float64; float64
        keeps its result unrounded).

    Returns
    -------
    AFMImageStack
        Frames (nm, or ``V``/``deg`` per ``z_unit``), top line first.
    """
    path = Path(path)
    source = _H5Frames.open(path, channel, float_dtype(dtype))
    plan = source.plan
    return AFMImageStack.from_source(
        source,
        plan.info.pixel_size_nm,
        plan.key,
        str(path),
        plan.metadata,
        lazy=lazy,
        pixel_size_y_nm=plan.info.pixel_size_y_nm,
        z_unit=plan.scale.z_unit,
        acquisition=plan.acquisition,
    )


def probe(path: Path) -> ProbeResult:
    """Facts from attributes and dataset shapes only (no frame is decoded)."""
    path = Path(path)
    with _open(path) as f, _h5_errors(path):
        plan = _plan(f, path, None)
        return ProbeResult(
            n_frames=plan.n_frames,
            frame_shape=(plan.info.jlength, plan.info.ilength),
            channels=list(plan.info.channels),
            default_channel=plan.key,
            pixel_size_nm=plan.info.pixel_size_nm,
            pixel_size_y_nm=plan.info.pixel_size_y_nm,
            z_unit=plan.scale.z_unit,
            frame_times=None if any(t is None for t in plan.times) else [float(t) for t in plan.times],  # type: ignore[arg-type]
            acquisition=dict(plan.acquisition),
        )


def channels(path: Path) -> list[str]:
    """Channel names as the file spells them, in group order."""
    path = Path(path)
    with _open(path) as f, _h5_errors(path):
        return list(_inspect(f, path).channels)


def sniff(path: Path) -> bool | None:
    """True for an HDF5 file whose root says ``file-format-info = JPK SCAN``."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_SIGNATURE:
                return False
            ends = fh.read(_SNIFF_BYTES)
            fh.seek(max(fh.tell(), os.fstat(fh.fileno()).st_size - _SNIFF_BYTES))
            ends += fh.read(_SNIFF_BYTES)
    except (IsADirectoryError, PermissionError):
        return False
    if b"file-format-info" in ends and b"JPK SCAN" in ends:
        return True  # the root attribute (JPK writes it last): no second HDF5 open before read()
    try:
        from ._h5attrs import AttributeReader

        with _open(path) as f:  # the attribute may be a variable-length string: the reader checks heaps
            return decode(AttributeReader(path, f).get(f, "file-format-info")) == "JPK SCAN"
    except (AfmioError, OSError, RuntimeError, ValueError, KeyError):  # damaged HDF5: not recognisably ours
        return False
