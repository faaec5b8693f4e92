"""ASD: RIBM / Ando-lab high-speed AFM movies (``.asd``, header versions 0, 1 and 2).

Reading
-------
``afmio.load("movie.asd", channel=None, lazy=False, allow_truncated=False, dtype="float32")``

Channels
    Named by the file's data kind: ``TP`` (topography), ``ER`` (error), ``PH``
    (phase); a kind afmio does not know keeps its two letters (or ``ch1``/``ch2``
    when unreadable). ``channel=None`` or ``"height"`` loads ``TP`` when present,
    else the first channel. Names match without regard to case; ``topography``,
    ``error`` and ``phase`` are accepted as aliases.
Values
    float32 (``dtype="float64"`` for full precision), converted from the stored AD
    levels as AFMReader (and so playNano) does, with ``R`` the AD range in volts (9.99 V for code ``0x3``) and ``res``
    the number of levels (``2**bits`` for 8- to 16-bit files, else 4096)::

        unipolar ranges:  value = -raw * R / res * k
        bipolar ranges:   value = (R - 2 * raw * R / res) * k

    with ``k = z_piezo_gain * z_piezo_extension`` for ``TP`` (nm),
    ``-scanner_sensitivity`` for ``ER`` (nm) and ``-phase_sensitivity`` for ``PH``
    (degrees). Topography therefore comes out negative (e.g. -249..0 nm), with
    molecules *above* the substrate (less negative), exactly as in AFMReader;
    level or offset the stack for absolute heights. A kind with no known
    conversion loads as the AD input voltage (``k = -1``, ``z_unit`` ``"V"``)
    with a warning. ``stack.z_unit`` is ``"nm"``, ``"deg"`` or ``"V"``.
Orientation
    Rows as stored: row 0 is the first line in the file (as AFMReader and
    playNano; some viewers flip vertically for display).
Pixel size
    ``x_nm / x_pixels`` (``pixel_size_nm``) and ``y_nm / y_pixels``
    (``pixel_size_y_nm``) from the header's integer scan ranges.
Timing (per-frame metadata, the six playNano keys)
    ``timestamp = i * frame_time``; ``frame_duration_s`` = the header's frame
    time; ``line_rate = y_pixels / frame_duration_s``; ``scan_direction`` None
    (the raw code is in ``acquisition``). ``start_epoch_ms`` follows playNano:
    the header date (no zone in the file) is read as **UTC** and taken as the
    **end** of the recording, so frame 0 starts ``num_frames * frame_duration``
    earlier (truncated to whole ms) and frame *i* ``round(i * frame_duration)`` ms
    after that. An impossible date or frame time gives None.
Acquisition (``stack.acquisition``)
    playNano's ``asd_file_version``, ``asd_scan_direction_raw`` and
    ``asd_channels`` (both kinds, None for a missing second channel), plus the
    operator name and comment decoded with the header's code page
    (``asd_operator``, ``asd_comment``, ``asd_text_encoding``), the header date
    (``asd_recorded``, naive ISO), frame time, scan ranges, AD range and bits,
    piezo and sensitivity factors, machine and file ids, averaging and rounding,
    the v2 extension block (``asd_v2_extension``), the loaded channel and its
    conversion (``asd_conversion``: scale, offset, unit) and the per-frame
    headers: ``asd_frame_headers`` is a dict of lists, one entry per loaded frame
    of the loaded channel, with keys ``frame_number``, ``max_level``,
    ``min_level``, ``x_offset``, ``y_offset``, ``x_tilt``, ``y_tilt`` and
    ``stimulated`` (those that fit the file's frame-header size). It describes
    the frames as loaded; slicing a stack copies it unchanged.

Options
-------
lazy : bool
    Frames are read on demand with positioned reads (``os.preadv``/``os.pread``,
    never a memory map) and converted on access, so walking a movie larger than
    memory takes constant memory. ``.data`` reads everything once.
allow_truncated : bool
    A file shorter than its header promises raises ``TruncatedFileError``; with
    True the complete frames of the chosen channel load, with a warning.
dtype : "float32" (default) or "float64"
    Element type of the converted values; the conversion itself is computed in that
    type, so float64 keeps every digit of ``level * scale + offset``.

Errors: an unknown version number, impossible sizes or an unknown AD range code
raise ``CorruptFileError`` before any large allocation. Other programs also write
``.asd`` files: one whose first word is not 0, 1 or 2 is declined by ``sniff``, so
``afmio.load`` reports it as not an ASD movie (``format="asd"`` forces the reader
and its ``CorruptFileError``). ``probe`` reads only the header.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from afmio.channels import select_channel
from afmio.errors import TruncatedFileError
from afmio.frames import FrameSourceBase, close_on_error, float_dtype
from afmio.hookspecs import ProbeResult
from afmio.ioutil import check_allocation
from afmio.metadata import build_frame_metadata
from afmio.stack import AFMImageStack

from ._asd_header import KIND_UNITS, AsdHeader, AsdVersion, Conversion, frame_header_dtype, read_header

__all__ = ["AsdFrameSource", "channels", "probe", "read", "sniff"]


#: Bytes of frame records decoded per step: large enough to amortise calls,
#: small enough to stay in cache between the read and the conversion.
BLOCK_BYTES = 1 << 20

#: Python-side bytes per frame (metadata dict, frame-header entries), counted in the
#: allocation check so a file of many one-pixel frames cannot blow up memory.
_FRAME_OVERHEAD = 1024

_ALIASES = {"topography": "TP", "error": "ER", "phase": "PH"}


# ---------------------------------------------------------------- positioned reads
class _PositionedFile:
    """A read-only file descriptor read at explicit offsets (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._lock = threading.Lock()  # only for the seek+read fallback

    def readinto(self, buf: np.ndarray, offset: int) -> int:
        """Fill ``buf`` (a uint8 array) from ``offset``; return the bytes read (short at EOF)."""
        if self._fd is None:
            raise ValueError(f"{self.path}: the file behind this lazy stack is closed")
        view = memoryview(buf).cast("B")  # type: ignore[arg-type]  # numpy arrays are buffers
        got, want = 0, len(view)
        while got < want:
            n = self._read_some(view[got:], offset + got)
            if n == 0:
                break
            got += n
        return got

    def _read_some(self, view: memoryview, offset: int) -> int:
        fd = self._fd
        assert fd is not None
        if hasattr(os, "preadv"):
            return os.preadv(fd, [view], offset)
        if hasattr(os, "pread"):
            data = os.pread(fd, len(view), offset)
        else:  # Windows: no positioned read in os; serialise seek + read
            with self._lock:
                os.lseek(fd, offset, os.SEEK_SET)
                data = os.read(fd, len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# ---------------------------------------------------------------- frame source
class AsdFrameSource(FrameSourceBase):
    """Frames of one channel of an ASD file, read with positioned reads and converted on access.

    Parameters
    ----------
    path : path-like
    header : AsdHeader
    channel_index : int
        0 or 1.
    conversion : Conversion
        Level-to-value conversion of that channel.
    n_frames : int
        Frames to expose (fewer than the header's for a truncated file).
    dtype : numpy.dtype
        float32 (the default) or float64 values.
    headers_now : bool
        Read every frame header at once (a lazy load); otherwise they are kept from
        the first whole read, which decodes them in the same pass as the frames.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: AsdHeader,
        channel_index: int,
        conversion: Conversion,
        n_frames: int,
        *,
        dtype: Any = np.float32,
        headers_now: bool = False,
    ) -> None:
        y, x, fhl = header.y_pixels, header.x_pixels, header.frame_header_size
        self._header_dtype = frame_header_dtype(fhl)
        self._record = np.dtype(
            {
                "names": ["header", "data"],
                "formats": [self._header_dtype, ("<i2", (y, x))],
                "offsets": [0, fhl],
                "itemsize": header.frame_size,
            }
        )
        self._start = header.channel_start(channel_index)
        self._shape = (int(n_frames), y, x)
        self._dtype = np.dtype(dtype)
        self._scale = self._dtype.type(conversion.scale)
        self._offset = self._dtype.type(conversion.offset) if conversion.offset else None
        self._block = max(1, BLOCK_BYTES // header.frame_size)
        self._headers: np.ndarray | None = None
        self._file = _PositionedFile(path)
        if headers_now:
            with close_on_error(self._file):
                self._headers = self._read_frame_headers()

    @property
    def frame_headers(self) -> np.ndarray:
        """Every frame header (structured array), read once."""
        if self._headers is None:
            self._headers = self._read_frame_headers()
        return self._headers

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self._shape[0])
        out = np.empty((max(0, stop - start), *self._shape[1:]), self._dtype)
        whole = start == 0 and stop == self._shape[0] and self._headers is None
        headers = np.empty(self._shape[0], self._header_dtype) if whole else None
        self._decode(start, out, headers)  # a whole read keeps the frame headers of the same pass
        if headers is not None:
            self._headers = headers
        return out

    def _read_frame_headers(self) -> np.ndarray:
        """Every frame header, without reading the frame data."""
        n, size = self._shape[0], self._header_dtype.itemsize
        headers = np.zeros(n, self._header_dtype)
        if size:
            raw = headers.view(np.uint8).reshape(n, size)
            for i in range(n):
                self._read_exact(raw[i], self._start + i * self._record.itemsize)
        return headers

    def _read_exact(self, buf: np.ndarray, offset: int) -> None:
        got = self._file.readinto(buf, offset)
        if got != buf.nbytes:
            raise TruncatedFileError(
                self._file.path, f"file ends at byte {offset + got}, inside a frame (changed since it was opened?)"
            )

    def _decode(self, first: int, out: np.ndarray, headers: np.ndarray | None = None) -> None:
        """Convert frames ``first:first+len(out)`` into ``out`` block by block.

        Each block is read into one reusable byte buffer, viewed through the record
        dtype, cast to the output type straight into ``out`` and scaled in place, so memory
        beyond the result is one block.
        """
        n = out.shape[0]
        if n == 0:
            return
        rec = self._record
        buf = np.empty(min(self._block, n) * rec.itemsize, np.uint8)
        for s in range(0, n, self._block):
            m = min(self._block, n - s)
            chunk = buf[: m * rec.itemsize]
            self._read_exact(chunk, self._start + (first + s) * rec.itemsize)
            records = chunk.view(rec)
            target = out[s : s + m]
            np.copyto(target, records["data"], casting="unsafe")
            np.multiply(target, self._scale, out=target)
            if self._offset is not None:
                np.add(target, self._offset, out=target)
            if headers is not None:
                headers[s : s + m] = records["header"]

    def close(self) -> None:
        self._file.close()


# ---------------------------------------------------------------- header access
def _open_header(path: Path) -> AsdHeader:
    with open(path, "rb") as fh:
        return read_header(fh, path)


def _version_fields(header: AsdHeader) -> dict[str, Any]:
    f = header.fields
    if header.version is AsdVersion.V0:
        return {"asd_rounding_degree": f["rounding_degree"]}
    out = {
        "asd_x_rounding_degree": f["x_rounding_degree"],
        "asd_y_rounding_degree": f["y_rounding_degree"],
        "asd_x_piezo_extension_nm_per_v": f["x_piezo_extension"],
        "asd_y_piezo_extension_nm_per_v": f["y_piezo_extension"],
        "asd_offset": f["offset"],
    }
    if header.version is AsdVersion.V2:
        out["asd_v2_extension"] = dict(header.extension)
    return out


def _acquisition(header: AsdHeader) -> dict[str, Any]:
    """Whole-file facts, from the header alone."""
    f = header.fields
    kinds = list(header.kinds) + [None] * (2 - len(header.kinds))
    recorded = header.recorded
    ad = header.ad_range
    acq: dict[str, Any] = {
        "asd_file_version": int(header.version),
        "asd_scan_direction_raw": int(f["scan_direction"]),
        "asd_channels": tuple(kinds),
        "asd_channel_codes": [int(c) for c in header.kind_codes],
        "asd_operator": header.operator,
        "asd_comment": header.comment,
        "asd_text_encoding": None if header.version is AsdVersion.V0 else int(f["text_encoding"]),
        "asd_recorded": None if recorded is None else recorded.isoformat(),
        "asd_frame_time_ms": header.frame_time_ms,
        "asd_num_frames": header.n_frames,
        "asd_initial_frames": int(f["initial_frames"]),
        "asd_pixels": (header.x_pixels, header.y_pixels),
        "asd_scan_range_nm": (int(f["x_nm"]), int(f["y_nm"])),
        "asd_max_scan_range_nm": (f["max_x_scan_range"], f["max_y_scan_range"]),
        "asd_ad_range_code": int(f["analogue_digital_range"]),
        "asd_ad_range": None if ad is None else ad.name,
        "asd_ad_bits": int(f["analogue_digital_data_bits_size"]),
        "asd_z_piezo_extension_nm_per_v": f["z_piezo_extension"],
        "asd_z_piezo_gain": f["z_piezo_gain"],
        "asd_scanner_sensitivity_nm_per_v": f["scanner_sensitivity"],
        "asd_phase_sensitivity_deg_per_v": f["phase_sensitivity"],
        "asd_is_averaged": bool(f["is_averaged"]),
        "asd_averaging_window": int(f["averaging_window"]),
        "asd_file_id": int(f["file_id"]),
        "asd_afm_id": int(f["afm_id"]),
        "asd_header_length": int(f["header_length"]),
        "asd_data_start": header.data_start,
        "asd_frame_header_length": header.frame_header_size,
    }
    acq.update(_version_fields(header))
    return acq


def _pixel_sizes(header: AsdHeader, path: Path) -> tuple[float, float]:
    px, py = header.pixel_size_nm
    if px is None or py is None:
        warnings.warn(
            f"{path}: scan range {header.fields['x_nm']} x {header.fields['y_nm']} nm is not positive; "
            "pixel size unknown, using the other axis or 1 nm",
            UserWarning,
            stacklevel=3,
        )
        px = px or py or 1.0
        py = py or px
    return px, py


def _frame_metadata(header: AsdHeader, n: int, pixel_nm: float) -> list[dict[str, Any]]:
    dur = header.frame_duration_s
    base = header.start_epoch_ms()
    line_rate = None if dur is None else header.y_pixels / dur
    return [
        build_frame_metadata(
            timestamp=None if dur is None else i * dur,
            frame_pixel_size_nm=pixel_nm,
            frame_duration_s=dur,
            start_epoch_ms=None if base is None or dur is None else base + round(i * dur * 1000),
            scan_direction=None,
            line_rate=line_rate,
        )
        for i in range(n)
    ]


def _frames_to_load(header: AsdHeader, index: int, path: Path, allow_truncated: bool) -> int:
    """Frames of channel ``index`` to read; checks the file size against the header."""
    expected, size = header.expected_size, header.file_size
    name = header.kinds[index]
    if size < expected:
        complete = header.complete_frames(index)
        detail = (
            f"the header promises {len(header.kinds)} x {header.n_frames} frames of "
            f"{header.frame_size} bytes ({expected} bytes in all) but the file has {size} bytes; "
            f"{complete} of {header.n_frames} {name} frames are complete"
        )
        if not allow_truncated:
            raise TruncatedFileError(path, detail + "; pass allow_truncated=True to load them")
        if complete == 0:
            raise TruncatedFileError(path, detail)
        warnings.warn(f"{path}: truncated: {detail}; loading those", UserWarning, stacklevel=3)
        return complete
    if size > expected:
        warnings.warn(
            f"{path}: {size - expected} bytes after the last frame the header declares; ignored",
            UserWarning,
            stacklevel=3,
        )
    return header.n_frames


# ---------------------------------------------------------------- driver functions
def read(
    path: Path,
    *,
    channel: str | None = None,
    lazy: bool = False,
    allow_truncated: bool = False,
    dtype: Any = np.float32,
) -> AFMImageStack:
    """Read one channel of an ASD movie (see the module docstring for conventions).

    Parameters
    ----------
    path : pathlib.Path
    channel : str, optional
        ``TP``, ``ER``, ``PH`` (any case; ``height`` = the default, ``TP``).
    lazy : bool
        Read frames on demand with positioned reads.
    allow_truncated : bool
        Load the complete frames of a truncated file instead of raising.
    dtype : float32 or float64
        Element type of the values: float64 keeps every digit of the conversion of
        the 16-bit levels (float32 rounds to about 7 significant digits).

    Returns
    -------
    AFMImageStack
        Values in ``stack.z_unit``.
    """
    path = Path(path)
    out_dtype = float_dtype(dtype)
    header = _open_header(path)
    name = select_channel(path, list(header.kinds), channel, aliases=_ALIASES)
    index = header.kinds.index(name)
    conversion = header.conversion(name)
    if not conversion.known:
        warnings.warn(
            f"{path}: channel {name!r} has no known conversion (only {', '.join(KIND_UNITS)} do); "
            "loading the AD input voltage in V",
            UserWarning,
            stacklevel=2,
        )
    n = _frames_to_load(header, index, path, allow_truncated)
    check_allocation(
        path,
        n * (header.x_pixels * header.y_pixels * out_dtype.itemsize + _FRAME_OVERHEAD),
        f"{n} frames",
        header.file_size,
    )
    px, py = _pixel_sizes(header, path)

    source = AsdFrameSource(path, header, index, conversion, n, dtype=out_dtype, headers_now=lazy)
    stack = AFMImageStack.from_source(
        source,
        px,
        name,
        str(path),
        _frame_metadata(header, n, px),
        lazy=lazy,
        pixel_size_y_nm=py,
        z_unit=conversion.unit,
        acquisition=_acquisition(header),
    )
    frame_headers = source.frame_headers  # read at construction (lazy) or with the frames (eager)
    acq = stack.acquisition
    acq["asd_channel"] = name
    acq["asd_conversion"] = conversion.as_dict()
    acq["asd_frames_loaded"] = n
    acq["asd_frame_headers"] = {key: frame_headers[key].tolist() for key in frame_headers.dtype.names or ()}
    return stack


def probe(path: Path) -> ProbeResult:
    """Header-only facts: frames, shape, channels, pixel sizes, unit, times."""
    path = Path(path)
    header = _open_header(path)
    names = list(header.kinds)
    default = select_channel(path, names, None)
    px, py = header.pixel_size_nm
    dur = header.frame_duration_s
    acq = _acquisition(header)
    # A header promising more than the file holds gets no frame-time list (it could be huge).
    size_ok = header.file_size >= header.expected_size
    acq["asd_file_size_ok"] = size_ok
    n_frames = header.n_frames
    if not size_ok:  # say so, and count only the frames the file really holds
        n_frames = header.complete_frames(names.index(default))
        acq["truncated"] = (
            f"the header declares {header.n_frames} frames but the file ends after {n_frames} complete "
            f"{default} frames ({header.file_size} of {header.expected_size} bytes)"
        )
        acq["declared_frames"] = header.n_frames
    return ProbeResult(
        n_frames=n_frames,
        frame_shape=(header.y_pixels, header.x_pixels),
        channels=names,
        default_channel=default,
        pixel_size_nm=px,
        pixel_size_y_nm=py,
        z_unit=KIND_UNITS.get(default, "V"),
        frame_times=None if dur is None or not size_ok else [i * dur for i in range(header.n_frames)],
        acquisition=acq,
    )


def channels(path: Path) -> list[str]:
    """Channel names (data kinds) of an ASD file, in file order."""
    return list(_open_header(Path(path)).kinds)


def sniff(path: Path) -> bool | None:
    """Cheap content check on the first bytes.

    False when the version word is not 0, 1 or 2 (e.g. other programs' ``.asd``
    files); True when the fixed header is also plausible; None when the version
    fits but the rest does not (a damaged ASD file: let ``read`` explain).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(165)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return None
    if len(head) < 4:
        return False
    version = int.from_bytes(head[:4], "little", signed=True)
    if version not in (0, 1, 2):
        return False
    return True if _plausible(head, version, size) else None


def _plausible(head: bytes, version: int, size: int) -> bool:
    def i32(at: int) -> int:
        return int.from_bytes(head[at : at + 4], "little", signed=True)

    def i16(at: int) -> int:
        return int.from_bytes(head[at : at + 2], "little", signed=True)

    if version == 0:
        if len(head) < 105:
            return False
        kinds = head[4:8].replace(b"\x00", b"")
        return (
            len(kinds) >= 2
            and all(0x41 <= b <= 0x5A for b in kinds)
            and 0 <= i32(12) <= 1 << 16
            and i16(28) > 0
            and i16(30) > 0
        )
    if len(head) < 165:
        return False
    return 165 <= i32(4) <= size and 0 <= i32(8) <= 1 << 16 and i32(48) > 0 and i32(52) > 0 and i32(36) >= 0
