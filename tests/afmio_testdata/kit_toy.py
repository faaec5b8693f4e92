"""A small, correct driver for the ``.kit`` toy format, and deliberately flawed variants.

``tests/test_testing_kit.py`` shows that the conformance kit passes the correct
driver and fails each flawed one with a clear message.

Layout: ``KIT1``, uint32 frames/height/width, float64 x/y pixel sizes (nm), an
8-byte z unit and a 16-byte channel name (ASCII, NUL padded), one float64
timestamp per frame, then little-endian float32 values.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np

from afmio import (
    AFMImageStack,
    CorruptFileError,
    DriverSpec,
    ProbeResult,
    TruncatedFileError,
    UnsupportedFormatError,
    build_frame_metadata,
    hookimpl,
)
from afmio.channels import select_channel
from afmio.ioutil import read_exact

MODULE = "afmio_testdata.kit_toy"
MAGIC = b"KIT1"
HEAD = struct.Struct("<4sIIIdd8s16s")

#: Handles deliberately kept open by the leaking variants.
LEAKED: list[IO[bytes]] = []


def spec(**overrides: Any) -> DriverSpec:
    """The correct spec, with ``overrides`` (``read="...:read_leaks"`` names a flawed function)."""
    base: dict[str, Any] = dict(
        name="kit", extensions=(".kit",), description="toy format for the kit's own tests",
        read=f"{MODULE}:read", write=f"{MODULE}:write", probe=f"{MODULE}:probe",
        channels=f"{MODULE}:channels", sniff=f"{MODULE}:sniff", lazy=True,
    )
    for key, value in overrides.items():
        role = key in ("read", "write", "probe", "channels", "sniff")
        base[key] = f"{MODULE}:{value}" if role and value and ":" not in value else value
    return DriverSpec(**base)


class KitPlugin:
    """A plugin object declaring the given specs (default: the correct one)."""

    def __init__(self, *specs: DriverSpec) -> None:
        self.specs = list(specs) or [spec()]

    @hookimpl
    def afmio_drivers(self) -> list[DriverSpec]:
        return self.specs


# ---------------------------------------------------------------- the correct driver
class Header:
    def __init__(self, path: Path, fh: IO[bytes], size: int) -> None:
        raw = read_exact(fh, HEAD.size, path, "the header")
        magic, self.n, self.h, self.w, self.px, self.py, unit, chan = HEAD.unpack(raw)
        if magic != MAGIC:
            raise CorruptFileError(path, "not a kit file")
        if min(self.n, self.h, self.w) < 1:
            raise CorruptFileError(path, f"empty shape {(self.n, self.h, self.w)}")
        if not all(np.isfinite(v) and v > 0 for v in (self.px, self.py)):
            raise CorruptFileError(path, f"bad pixel sizes {self.px!r}, {self.py!r}")
        try:
            self.z_unit = unit.rstrip(b"\0").decode("ascii")
            self.channel = chan.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError:
            raise CorruptFileError(path, "unit or channel is not ASCII") from None
        if not self.z_unit or not self.channel:
            raise CorruptFileError(path, "empty unit or channel")
        self.data_offset = HEAD.size + 8 * self.n
        need = self.data_offset + 4 * self.n * self.h * self.w
        if size < need:
            raise TruncatedFileError(path, f"needs {need} bytes, has {size}")
        if size > need:
            raise CorruptFileError(path, f"{size - need} unexpected trailing bytes")
        times = np.frombuffer(read_exact(fh, 8 * self.n, path, "the timestamps"), "<f8")
        self.times = [float(t) for t in times]


def read_header(path: Path) -> Header:
    with open(path, "rb") as fh:
        return Header(path, fh, os.fstat(fh.fileno()).st_size)


class Source:
    """Lazy frames from one open handle, closed by close()."""

    def __init__(self, path: Path, header: Header, shift: int = 0) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - held until close()
        self._path, self._hd, self._shift = path, header, shift

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self._hd.n, self._hd.h, self._hd.w)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        n, h, w = self.shape
        start, stop = max(0, start), min(n, stop)
        start2, stop2 = min(n - 1, start + self._shift), min(n, stop + self._shift)
        self._fh.seek(self._hd.data_offset + 4 * h * w * start2)
        raw = read_exact(self._fh, 4 * h * w * (stop2 - start2), self._path, "the frames")
        return np.frombuffer(raw, "<f4").reshape(stop2 - start2, h, w).astype(np.float32)

    def read_frame(self, index: int) -> np.ndarray:
        return self.read_frames(index, index + 1)[0]

    def close(self) -> None:
        self._fh.close()


def _stack(path: Path, hd: Header, data: Any, channel: str | None) -> AFMImageStack:
    chosen = select_channel(path, [hd.channel], channel)
    meta = [build_frame_metadata(timestamp=t, frame_pixel_size_nm=hd.px) for t in hd.times]
    return AFMImageStack(data, hd.px, chosen, path, meta, pixel_size_y_nm=hd.py, z_unit=hd.z_unit)


def read(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    hd = read_header(path)
    source = Source(path, hd)
    if lazy:
        return _stack(path, hd, source, channel)
    try:
        return _stack(path, hd, source.read_frames(0, hd.n), channel)
    finally:
        source.close()


def probe(path: Path) -> ProbeResult:
    hd = read_header(path)
    return ProbeResult(n_frames=hd.n, frame_shape=(hd.h, hd.w), channels=[hd.channel],
                       default_channel=hd.channel, pixel_size_nm=hd.px, pixel_size_y_nm=hd.py,
                       z_unit=hd.z_unit, frame_times=hd.times)


def channels(path: Path) -> list[str]:
    return [read_header(path).channel]


def sniff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == MAGIC


def encode(stack: AFMImageStack, *, pixel_size: float | None = None, times: list[float] | None = None,
           z_unit: str | None = None, channel: str | None = None) -> bytes:
    n, h, w = stack.shape
    times = times if times is not None else stack.get_frame_times()
    head = HEAD.pack(MAGIC, n, h, w, pixel_size or stack.pixel_size_nm, stack.pixel_size_y_nm,
                     (z_unit or stack.z_unit).encode(), (channel or stack.channel).encode())
    return head + np.asarray(times, "<f8").tobytes() + np.ascontiguousarray(stack.data, "<f4").tobytes()


def write(stack: AFMImageStack, path: Path) -> None:
    path.write_bytes(encode(stack))


# ---------------------------------------------------------------- flawed variants
def read_leaks(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Keeps a handle open after an eager load."""
    LEAKED.append(open(path, "rb"))  # noqa: SIM115 - the flaw under test
    return read(path, channel=channel, lazy=lazy)


def read_leaks_on_error(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Closes its file on success, but keeps it (as a cache might) when the header is bad."""
    fh = open(path, "rb")  # noqa: SIM115 - the flaw under test
    try:
        Header(path, fh, os.fstat(fh.fileno()).st_size)
    except CorruptFileError:
        LEAKED.append(fh)
        raise
    fh.close()
    return read(path, channel=channel, lazy=lazy)


def read_trusting(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Trusts the header: no size checks, so damage surfaces as numpy/struct errors."""
    with open(path, "rb") as fh:
        raw = fh.read()
    _, n, h, w, px, py, unit, chan = HEAD.unpack_from(raw)
    data = np.frombuffer(raw, "<f4", offset=HEAD.size + 8 * n, count=n * h * w).reshape(n, h, w)
    return AFMImageStack(data.astype(np.float32), px, chan.rstrip(b"\0").decode(), path,
                         pixel_size_y_nm=py, z_unit=unit.rstrip(b"\0").decode())


def read_pads_truncation(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Loads a short file by padding it with zeros, hiding the truncation."""
    raw = path.read_bytes()
    try:
        magic, n, h, w, px, *_ = HEAD.unpack_from(raw.ljust(HEAD.size, b"\0"))
    except struct.error:
        raise CorruptFileError(path, "bad header") from None
    if magic != MAGIC or min(n, h, w) < 1 or n * h * w > 1 << 24 or not np.isfinite(px) or not px > 0:
        raise CorruptFileError(path, "bad header")
    body = raw[HEAD.size + 8 * n :].ljust(4 * n * h * w, b"\0")[: 4 * n * h * w]
    data = np.frombuffer(body, "<f4").reshape(n, h, w).astype(np.float32)
    return AFMImageStack(data, px, "height", path)


def read_hangs(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Waits for a byte that a damaged file never delivers."""
    with open(path, "rb") as fh:
        while fh.read(4) not in (MAGIC,):
            fh.seek(0)
    return read(path, channel=channel, lazy=lazy)


def read_allocates(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Allocates what the header says before checking it against the file size."""
    with open(path, "rb") as fh:
        raw = fh.read(HEAD.size)
    if len(raw) == HEAD.size:
        _, n, h, w, *_ = HEAD.unpack(raw)
        buffer = np.ones((n, h, w), np.float32)  # noqa: F841 - the flaw under test
    return read(path, channel=channel, lazy=lazy)


def read_vague(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Raises an afmio error that does not say which file."""
    try:
        return read(path, channel=channel, lazy=lazy)
    except CorruptFileError:
        raise UnsupportedFormatError("bad data") from None


def read_int(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Returns raw integer counts instead of physical floats."""
    stack = read(path, channel=channel)
    stack.data = stack.data.astype(np.int16)
    return stack


def read_bare_metadata(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Keeps only the timestamps of the per-frame metadata."""
    stack = read(path, channel=channel)
    meta = [{"timestamp": md["timestamp"]} for md in stack.frame_metadata]
    return AFMImageStack(stack.data, stack.pixel_size_nm, stack.channel, path, meta, z_unit=stack.z_unit)


def read_lazy_shifted(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Lazy reads are off by one frame."""
    if not lazy:
        return read(path, channel=channel)
    hd = read_header(path)
    return _stack(path, hd, Source(path, hd, shift=1), channel)


def read_never_lazy(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Declares lazy=True but always loads everything."""
    return read(path, channel=channel)


class _NoCloseSource(Source):
    def close(self) -> None:
        LEAKED.append(self._fh)  # left open; the test's teardown closes it


def read_lazy_unclosed(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """A lazy stack whose close() forgets the file."""
    if not lazy:
        return read(path, channel=channel)
    hd = read_header(path)
    return _stack(path, hd, _NoCloseSource(path, hd), channel)


def read_no_channel(path: Path) -> AFMImageStack:
    """Does not accept channel=."""
    return read(path)


def probe_wrong(path: Path) -> ProbeResult:
    """Miscounts frames and forgets the y pixel size differs."""
    result = probe(path)
    result.n_frames += 1
    result.pixel_size_y_nm = result.pixel_size_nm
    return result


def probe_wrong_frame_sizes(path: Path) -> ProbeResult:
    """Claims per-frame pixel sizes that the loaded frames do not have."""
    result = probe(path)
    result.frame_pixel_sizes_nm = [2.0 * result.pixel_size_nm] * result.n_frames  # type: ignore[operator]
    return result


def channels_wrong(path: Path) -> list[str]:
    return ["Height", "Phase"]


def sniff_raises(path: Path) -> bool:
    """struct.error on files shorter than four bytes."""
    with open(path, "rb") as fh:
        return struct.unpack("<4s", fh.read(4))[0] == MAGIC


def write_flawed(stack: AFMImageStack, path: Path, *, flaw: str = "") -> None:
    """Writes with one flaw: ``pixel``, ``time``, ``unit``, ``channel``, ``data`` or ``leak``."""
    kwargs: dict[str, Any] = {}
    if flaw == "pixel":
        kwargs["pixel_size"] = 1.0
    elif flaw == "time":
        kwargs["times"] = list(range(stack.n_frames))
    elif flaw == "unit":
        kwargs["z_unit"] = "nm" if stack.z_unit != "nm" else "V"
    elif flaw == "channel":
        kwargs["channel"] = "height"
    elif flaw == "data":
        stack = AFMImageStack(stack.data + np.float32(0.001), stack.pixel_size_nm,
                              stack.channel, None, stack.frame_metadata,
                              pixel_size_y_nm=stack.pixel_size_y_nm, z_unit=stack.z_unit)
    elif flaw == "leak":
        LEAKED.append(open(path, "wb"))  # noqa: SIM115 - the flaw under test
    path.write_bytes(encode(stack, **kwargs))
