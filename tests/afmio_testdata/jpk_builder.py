"""Test-only writers for small JPK files: ``.jpk`` TIFF frames and ``.h5-jpk`` movies.

The layouts follow ``shared/formats/jpk.md`` and ``h5jpk.md``: a big-endian TIFF
whose page 0 is a thumbnail with the file-wide tags and whose pages 1..n are int32
channel pages with calibration slots; an HDF5 file with ``Measurement_000`` and one
``Channel_*`` group per channel and direction. Every tag or attribute can be left
out or overridden, so tests can build the edge cases (missing dates, reflect,
interlace, odd frames, missing net-encoder scaling...).

Typical use::

    from afmio_testdata.jpk_builder import JpkChannel, write_jpk, make_jpk_folder
    raw = np.arange(12, dtype=np.int32).reshape(3, 4)
    write_jpk(tmp / "a.jpk", [JpkChannel("height", data=raw, multiplier=1e-12)])
    paths = make_jpk_folder(tmp / "movie", 5, shape=(6, 8))
    # expected values of frame i, channel key:  frame_raw(i, key, shape) * 1e-12 * 1e9

    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk
    write_h5jpk(tmp / "m.h5-jpk", [H5JpkChannel("height", data=frames)], ulength=1e-7)

Raw arrays are always given in *stored* order (TIFF row 0 / HDF5 line j = 0 first);
the drivers reverse rows unless ``reflect=True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "H5JpkChannel",
    "JpkChannel",
    "Slot",
    "frame_raw",
    "jpk_date",
    "make_jpk_folder",
    "write_h5jpk",
    "write_jpk",
]

# TIFF tag types
ASCII, SSHORT, SLONG, DOUBLE = 2, 8, 9, 12

START_DATE, END_DATE, SETTINGS = 0x8003, 0x8006, 0x8017
SLOT_BASE, SLOT_STRIDE = 0x8090, 0x30


@dataclass
class Slot:
    """One calibration slot of a channel page (``raw`` is slot 0 in real files)."""

    name: str
    unit: str | None = "m"
    scaling: str = "LinearScaling"
    multiplier: float = 1.0
    offset: float = 0.0
    parent: str | None = None


@dataclass
class JpkChannel:
    """One channel page of a ``.jpk`` file.

    Parameters
    ----------
    name : str
        Tag 0x8050 (``height``, ``measuredHeight``, ``error``...).
    retrace : bool
        Tag 0x8051.
    data : ndarray
        2-D integers in stored (TIFF) row order; int32 unless ``dtype`` says otherwise.
    multiplier, offset, unit :
        The default slot's linear map (raw -> unit).
    default_slot : str
        Tag 0x8081; the slot of that name carries ``multiplier``/``offset``/``unit``.
    slots : list of Slot, optional
        Replace the generated slots (raw, volts, default) entirely.
    """

    name: str = "height"
    retrace: bool = False
    data: np.ndarray | None = None
    multiplier: float = 1e-12
    offset: float = 0.0
    unit: str | None = "m"
    default_slot: str = "calibrated"
    slots: list[Slot] | None = None

    @property
    def key(self) -> str:
        return f"{self.name}_{'retrace' if self.retrace else 'trace'}"

    def slot_list(self) -> list[Slot]:
        if self.slots is not None:
            return self.slots
        slots = [Slot("raw", None, "NullScaling"), Slot("volts", "V", "LinearScaling", 3e-10, 0.0, "raw")]
        if self.default_slot not in ("raw", "volts"):
            slots.append(Slot(self.default_slot, self.unit, "LinearScaling", self.multiplier, self.offset, "volts"))
        return slots


def jpk_date(instant: datetime, zone: str = "GMT") -> str:
    """``2023-02-16 12:08:46.436 GMT`` (JPK's ``yyyy-MM-dd HH:mm:ss.SSS zzz``)."""
    return instant.strftime("%Y-%m-%d %H:%M:%S.") + f"{instant.microsecond // 1000:03d} {zone}"


def _settings_text(interlace: bool | None, extra: Mapping[str, str] | None) -> str:
    lines = ["imaging.restart-id : 2023-02-16 12\\:08\\:46.207 GMT"]
    if interlace is not None:
        lines.append(f"fast-imaging.feed-forward-parameters.yaxis.interlace : {'true' if interlace else 'false'}")
    for k, v in (extra or {}).items():
        lines.append(f"{k} : {v}")
    return "\n".join(lines) + "\n"


def _slot_tags(ch: JpkChannel) -> list[tuple[int, int, int, Any, bool]]:
    slots = ch.slot_list()
    tags: list[tuple[int, int, int, Any, bool]] = [
        (0x8050, ASCII, 0, ch.name, True),
        (0x8051, SSHORT, 1, 1 if ch.retrace else 0, True),
        (0x8052, ASCII, 0, ch.name.capitalize(), True),
        (0x8080, SLONG, 1, len(slots), True),
        (0x8081, ASCII, 0, ch.default_slot, True),
    ]
    for k, s in enumerate(slots):
        base = SLOT_BASE + SLOT_STRIDE * k
        tags.append((base, ASCII, 0, s.name, True))
        tags.append((base + 1, ASCII, 0, "AbsoluteCalibration" if s.parent is None else "RelativeCalibration", True))
        if s.parent is not None:
            tags.append((base + 2, ASCII, 0, s.parent, True))
        tags.append((base + 0x11, ASCII, 0, "SignedInteger", True))
        if s.unit is not None:
            tags.append((base + 0x12, ASCII, 0, s.unit, True))
        tags.append((base + 0x13, ASCII, 0, s.scaling, True))
        if s.scaling == "LinearScaling":
            tags.append((base + 0x14, DOUBLE, 1, float(s.multiplier), True))
            tags.append((base + 0x15, DOUBLE, 1, float(s.offset), True))
    return tags


def write_jpk(
    path: str | Path,
    channels: Sequence[JpkChannel],
    *,
    start: str | None = "2023-02-16 12:08:46.436 GMT",
    end: str | None = "2023-02-16 12:08:49.021 GMT",
    scan_rate: float | None = 100.0,
    duty_cycle: float = 0.7,
    ulength: float | None = 8.5e-8,
    vlength: float | None = None,
    reflect: bool | None = False,
    interlace: bool | None = None,
    motion: str | None = "topDown",
    version: str = "8.0.33",
    byteorder: str = ">",
    extra_settings: Mapping[str, str] | None = None,
    extra_global_tags: Sequence[tuple[int, int, int, Any, bool]] = (),
    rowsperstrip: int | None = None,
    compression: str | None = None,
) -> Path:
    """Write one ``.jpk`` frame and return its path.

    ``None`` for any tag argument leaves that tag out (``start=None`` = no StartDate).
    ``vlength`` defaults to ``ulength * height / width`` (square pixels).
    ``rowsperstrip`` / ``compression`` change the page layout (the reader's
    non-contiguous and tifffile-decoded paths).
    """
    import tifffile

    path = Path(path)
    if not channels:
        raise ValueError("a .jpk needs at least one channel")
    h, w = np.asarray(channels[0].data).shape
    if vlength is None and ulength is not None:
        vlength = ulength * h / w
    glob: list[tuple[int, int, int, Any, bool]] = [(0x8000, ASCII, 0, version, True)]
    if start is not None:
        glob.append((START_DATE, ASCII, 0, start, True))
    glob.append((0x8004, ASCII, 0, "<empty>", True))
    if end is not None:
        glob.append((END_DATE, ASCII, 0, end, True))
    glob.append((SETTINGS, ASCII, 0, _settings_text(interlace, extra_settings), True))
    glob.append((0x8030, ASCII, 0, "ac", True))
    if ulength is not None:
        glob.append((0x8042, DOUBLE, 1, float(ulength), True))
    if vlength is not None:
        glob.append((0x8043, DOUBLE, 1, float(vlength), True))
    if reflect is not None:
        glob.append((0x8045, SSHORT, 1, 1 if reflect else 0, True))
    glob.append((0x8046, SLONG, 1, int(w), True))
    glob.append((0x8047, SLONG, 1, int(h), True))
    if scan_rate is not None:
        glob.append((0x8049, DOUBLE, 1, float(scan_rate), True))
    glob.append((0x804A, DOUBLE, 1, float(duty_cycle), True))
    if motion is not None:
        glob.append((0x804B, ASCII, 0, motion, True))
    glob.append((0x8050, ASCII, 0, "thumbnail", True))
    glob.extend(extra_global_tags)
    glob.sort(key=lambda t: t[0])

    with tifffile.TiffWriter(path, byteorder=byteorder) as tw:
        thumb = np.zeros((64, 64), np.uint8)
        tw.write(thumb, photometric="minisblack", metadata=None, extratags=glob)
        for ch in channels:
            data = np.asarray(ch.data)
            if data.dtype.kind not in "iu":
                data = data.astype(np.int32)
            tw.write(
                data,
                photometric="minisblack",
                metadata=None,
                extratags=sorted(_slot_tags(ch), key=lambda t: t[0]),
                rowsperstrip=rowsperstrip,
                compression=compression,
            )
    return path


def frame_raw(index: int, key: str, shape: tuple[int, int]) -> np.ndarray:
    """Deterministic int32 raw data of frame ``index``, channel ``key`` (stored order)."""
    h, w = shape
    salt = sum(map(ord, key)) % 97
    y, x = np.mgrid[0:h, 0:w]
    return (1_000_000 * (index + 1) + 1000 * y + 10 * x + salt).astype(np.int32)


def make_jpk_folder(
    folder: str | Path,
    n_frames: int,
    *,
    shape: tuple[int, int] = (6, 8),
    channels: Sequence[str] = ("height_retrace", "height_trace"),
    t0: datetime = datetime(2023, 2, 16, 12, 8, 46, 436000, tzinfo=timezone.utc),
    interval_s: float = 2.59,
    duration_s: float = 2.585,
    dates: bool = True,
    multiplier: float = 1e-12,
    names: Sequence[str] | None = None,
    per_frame: Mapping[int, Mapping[str, Any]] | None = None,
    **write_kwargs: Any,
) -> list[Path]:
    """Write ``n_frames`` ``.jpk`` files named like NanoRacer saves; return their paths.

    Frame ``i`` holds :func:`frame_raw(i, key, shape) <frame_raw>` for each channel key
    (``height_trace``...), starts at ``t0 + i*interval_s`` and lasts ``duration_s``.
    ``dates=False`` leaves out StartDate/EndDate. ``names`` overrides file names.
    ``per_frame[i]`` overrides :func:`write_jpk` arguments for frame ``i`` (e.g.
    ``{"shape": (4, 4)}`` or ``{"channels": ("height_trace",)}``, ``{"start": None}``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_frames):
        extra = dict(per_frame.get(i, {})) if per_frame else {}
        fshape = tuple(extra.pop("shape", shape))
        keys = extra.pop("channels", channels)
        begin = t0 + timedelta(seconds=i * interval_s)
        finish = begin + timedelta(seconds=duration_s)
        name = names[i] if names else f"save-{begin:%Y.%m.%d-%H.%M.%S}.{begin.microsecond // 1000:03d}.jpk"
        chans = []
        for key in keys:
            base, _, direction = key.rpartition("_")
            chans.append(JpkChannel(base, direction == "retrace", frame_raw(i, key, fshape),  # type: ignore[arg-type]
                                    multiplier=multiplier))
        kwargs: dict[str, Any] = dict(write_kwargs)
        kwargs.setdefault("start", jpk_date(begin) if dates else None)
        kwargs.setdefault("end", jpk_date(finish) if dates else None)
        kwargs.update(extra)
        paths.append(write_jpk(folder / name, chans, **kwargs))
    return paths


# ---------------------------------------------------------------------- .h5-jpk
@dataclass
class H5JpkChannel:
    """One ``Channel_*`` group of a ``.h5-jpk`` file.

    Parameters
    ----------
    name, retrace :
        ``channel.name`` and ``retrace`` attributes.
    data : ndarray
        ``(n_frames, jlength, ilength)`` integers in stored line order.
    encoder : (multiplier, offset, unit)
        ``encoder.scaling.*`` (raw -> base unit).
    conversions : list of (slot, base_slot, multiplier, offset, unit)
        Relative calibration steps; the last one is ``conversions.default``.
    base : str
        ``conversions.base`` (the encoder's own slot).
    net : bool
        Write the composed ``net-encoder.scaling.*`` attributes.
    net_override : (multiplier, offset, unit), optional
        Write these as the net attributes instead of the composition.
    """

    name: str = "height"
    retrace: bool = False
    data: np.ndarray | None = None
    encoder: tuple[float, float, str] = (3.2e-8, 69.0, "V")
    conversions: list[tuple[str, str, float, float, str]] = field(
        default_factory=lambda: [
            ("nominal", "volts", -1.44e-8, 1.44e-6, "m"),
            ("calibrated", "nominal", 0.7955, 0.0, "m"),
        ]
    )
    base: str = "volts"
    net: bool = True
    net_override: tuple[float, float, str] | None = None
    dataset_name: str | None = None

    def composed(self) -> tuple[float, float, str]:
        """The net map: encoder, then each conversion in order (``y = m*x + o``)."""
        m, o, unit = self.encoder
        for _slot, _base, sm, so, su in self.conversions:
            m, o, unit = m * sm, o * sm + so, su
        return m, o, unit


def write_h5jpk(
    path: str | Path,
    channels: Sequence[H5JpkChannel],
    *,
    ulength: float = 1.5e-7,
    vlength: float | None = None,
    start_times_ms: Sequence[int] | None = None,
    end_times_ms: Sequence[int] | None = None,
    scan_rate: float | None = 40.0,
    interlace: bool | None = False,
    reflect: bool | None = False,
    motion: str | None = "topDown",
    measurements: int = 1,
    drop_attrs: Sequence[str] = (),
    format_info: bytes = b"JPK SCAN",
) -> Path:
    """Write a small ``.h5-jpk`` file and return its path.

    Frame times default to 3.275 s apart (3.262 s long) from 1748439718548 ms;
    pass ``start_times_ms=[]`` to leave the ``meta-data`` datasets out.
    ``drop_attrs`` removes measurement attributes by name (e.g. the grid).
    """
    import h5py

    path = Path(path)
    first = np.asarray(channels[0].data)
    n, jl, il = first.shape
    if vlength is None:
        vlength = ulength * jl / il
    if start_times_ms is None:
        start_times_ms = [1748439718548 + 3275 * i for i in range(n)]
        if end_times_ms is None:
            end_times_ms = [s + 3262 for s in start_times_ms]
    s = np.bytes_
    with h5py.File(path, "w") as f:
        f.attrs["file-format-info"] = s(format_info)
        f.attrs["file-format-version"] = s(b"3.0")
        for mi in range(measurements):
            m = f.create_group(f"Measurement_{mi:03d}")
            attrs: dict[str, Any] = {
                "position-pattern.grid.ilength": np.int32(il),
                "position-pattern.grid.jlength": np.int32(jl),
                "position-pattern.grid.ulength": np.float64(ulength),
                "position-pattern.grid.vlength": np.float64(vlength),
                "start-time": s(b"2025-05-28 14:41:58.548 +0100"),
                "environment.metadata.user.timezone": s(b"Europe/London"),
                "timing-settings.dutyCycle": np.float64(0.7),
            }
            if reflect is not None:
                attrs["position-pattern.grid.reflect"] = s(b"true" if reflect else b"false")
            if scan_rate is not None:
                attrs["timing-settings.scanRate"] = np.float64(scan_rate)
            if interlace is not None:
                attrs["environment.fast-imaging.feed-forward-parameters.yaxis.interlace"] = s(
                    b"true" if interlace else b"false"
                )
            if motion is not None:
                attrs["motion"] = s(motion.encode())
            for k, v in attrs.items():
                if k not in drop_attrs:
                    m.attrs[k] = v
            for ci, ch in enumerate(channels):
                g = m.create_group(f"Channel_{ci:03d}")
                g.attrs["channel.name"] = s(ch.name.encode())
                g.attrs["retrace"] = s(b"true" if ch.retrace else b"false")
                g.attrs["type"] = s(b"channel-retrace")
                g.attrs["jpkspm_version"] = s(b"8.1.42")
                em, eo, eu = ch.encoder
                g.attrs["encoder.scaling.multiplier"] = np.float64(em)
                g.attrs["encoder.scaling.offset"] = np.float64(eo)
                g.attrs["encoder.scaling.unit.unit"] = s(eu.encode())
                g.attrs["encoder.scaling.type"] = s(b"linear")
                g.attrs["conversions.base"] = s(ch.base.encode())
                g.attrs[f"conversion.{ch.base}.defined"] = s(b"false")
                default = ch.conversions[-1][0] if ch.conversions else ch.base
                g.attrs["conversions.default"] = s(default.encode())
                for slot, base, sm, so, su in ch.conversions:
                    p = f"conversion.{slot}."
                    g.attrs[p + "base-calibration-slot"] = s(base.encode())
                    g.attrs[p + "defined"] = s(b"true")
                    g.attrs[p + "scaling.multiplier"] = np.float64(sm)
                    g.attrs[p + "scaling.offset"] = np.float64(so)
                    g.attrs[p + "scaling.unit.unit"] = s(su.encode())
                    g.attrs[p + "scaling.type"] = s(b"linear")
                if ch.net:
                    nm, no, nu = ch.net_override or ch.composed()
                    g.attrs["net-encoder.scaling.multiplier"] = np.float64(nm)
                    g.attrs["net-encoder.scaling.offset"] = np.float64(no)
                    g.attrs["net-encoder.scaling.unit.unit"] = s(nu.encode())
                    g.attrs["net-encoder.scaling.type"] = s(b"linear")
                data = np.asarray(ch.data).astype(np.int32)
                columns = data.reshape(data.shape[0], -1).T  # (pixels, frames)
                dname = ch.dataset_name or ch.name[:1].upper() + ch.name[1:]
                g.create_dataset(dname, data=columns, chunks=(columns.shape[0], 1), compression="gzip",
                                 shuffle=True)
                g.create_dataset("thumbnail", data=np.zeros((64, 1), np.int32))
            if start_times_ms:
                md = m.create_group("meta-data")
                md.create_dataset("start-times", data=np.asarray(start_times_ms, np.int64).reshape(-1, 1))
                if end_times_ms is not None:
                    md.create_dataset("end-times", data=np.asarray(end_times_ms, np.int64).reshape(-1, 1))
    return path
