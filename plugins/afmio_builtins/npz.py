"""playNano NPZ bundles (``.npz``): read and write.

The layout is playNano 0.5.0's ``save_npz_bundle`` (a ZIP of ``.npy`` members):

=========================  ==================================================
``pixel_size_nm``          0-d number, nm per pixel along x
``channel``                0-d string
``frame_metadata_json``    0-d string: JSON list, one object per frame
``provenance_json``        0-d string: JSON provenance
``state_backups_json``     0-d string: JSON ``state_backups`` (``{}`` if none)
``data``                   ``(n_frames, height, width)`` values
``timestamps``             float64 seconds per frame (ignored on load)
``processed__<key>``       one per processed layer
``masks__<key>``           bool, one per mask
``afmio_json``             afmio only: ``z_unit``, exact x/y pixel sizes
=========================  ==================================================

Reading
    playNano writes the string members as pickled 0-d object arrays. afmio never
    unpickles: it decodes them by walking the pickle opcodes and accepts only the
    exact structure numpy writes for one string, refusing anything else with
    :class:`~afmio.errors.CorruptFileError` (nothing in the file is executed).
    ``data``, ``pixel_size_nm``, ``channel``, ``frame_metadata_json`` and
    ``provenance_json`` are required (as for playNano); everything else is optional.
    Values keep their stored dtype. A float32 ``pixel_size_nm`` (as playNano writes
    it) is read as the shortest decimal that rounds to it (0.636, not
    0.6359999775886536); afmio's own files carry the exact float64. Without
    ``afmio_json``, ``z_unit`` is ``"nm"`` and the y pixel size equals x.
    The bundle has one channel; ``channel=`` may name it (or ``"height"``).
    ``provenance`` is the saved one with ``bundle = {bundle_file, bundle_type: "npz"}``.
    ``lazy=True`` reads frames on demand straight from the file when ``data`` is
    stored uncompressed (afmio's default; the ZIP CRC is then not checked), and
    reads it at once otherwise (saying so in ``provenance["bundle"]["lazy"]``).
    Processed layers and masks are always read at once.

Writing
    The same members in the same order, string members as unicode arrays (no pickle;
    playNano 0.5.0 reads them), ``pixel_size_nm`` as float64 (no float32 loss), and
    the data in its own dtype. A lazy stack is streamed block by block.
    ``raw=True`` (applied by the registry) writes the raw snapshot with its own frame
    metadata, so metadata and frames always have the same length.

Options
    ``compression``: ``"none"`` (ZIP stored, the default) or ``"deflate"`` /
    ``"deflate-<1..9>"`` (ZIP deflate, as ``np.savez_compressed``). Plain
    ``"deflate"`` compresses 1 MB pieces on all cores with Intel ISA-L's fast level
    (about 15x zlib's level 1 on float heights, for a file slightly smaller than
    ``np.savez_compressed``'s); ``"deflate-<N>"`` uses zlib's level N. Deflate cannot
    shuffle bytes, so on float heights it buys ~12 %: stored is the default, and HDF5
    (gzip + shuffle, ~0.76x) is the compact format.

Speed
    A deflated member (playNano's files are all deflated) is inflated in one call by
    libdeflate (~2.5x zlib) and checked against its ZIP CRC. That costs the member's
    compressed size in memory on top of the returned array for the length of the
    call (about 1.9x the stack for float heights), where zlib's streaming inflate
    would need ~1x: speed was chosen, as the stack itself dominates either way.
"""

from __future__ import annotations

import io
import mmap
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from afmio import limits
from afmio.channels import select_channel
from afmio.errors import CorruptFileError, OptionError, ReadError, TruncatedFileError, reading
from afmio.frames import FrameSourceBase, close_on_error
from afmio.hookspecs import ProbeResult
from afmio.stack import AFMImageStack

from . import _bundle, _zcodec
from ._pickled_string import decode_pickled_string
from ._zipwrite import DEFLATED, STORED, ZipWriter

__all__ = ["NpyFrameSource", "channels", "probe", "read", "sniff", "write"]

REQUIRED = ("data", "pixel_size_nm", "channel", "frame_metadata_json", "provenance_json")
EXTRAS_MEMBER = "afmio_json"
_STRING_MEMBERS = ("channel", "frame_metadata_json", "provenance_json", "state_backups_json", EXTRAS_MEMBER)
#: Largest string member afmio will read (a provenance log is far smaller).
_MAX_TEXT_BYTES = 1 << 30
_CHUNK = 1 << 18  # ZipExtFile.read concatenates; small reads stay linear


# ---------------------------------------------------------------------- reading
def _map_read_only(fh: Any) -> mmap.mmap:
    """A read-only map of the whole file, its pages mapped at once where the system can
    (MAP_POPULATE: one call instead of a fault per page while inflating)."""
    populate = getattr(mmap, "MAP_POPULATE", 0)
    if populate and hasattr(mmap, "MAP_SHARED"):
        return mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)
    return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


class _Member:
    """One ``.npy`` member: its header, and a way to read its body."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int) -> None:
        self.path, self.zf, self.info = path, zf, info
        self.key = info.filename[:-4]
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CorruptFileError(path, f"member {info.filename!r} uses unsupported ZIP compression")
        # The directory's sizes decide how much is allocated: check them against the file.
        if info.header_offset + info.compress_size > archive_size:
            raise TruncatedFileError(
                path, f"member {info.filename!r} claims {info.compress_size} bytes at offset "
                f"{info.header_offset}, beyond the {archive_size}-byte file"
            )
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CorruptFileError(path, f"member {info.filename!r} is stored but its two sizes disagree")
        if info.compress_type == zipfile.ZIP_DEFLATED:
            limits.check_declared(path, info.file_size, f"member {info.filename!r}",
                                  on_disk=info.compress_size, codec="deflate")

    @contextmanager
    def open(self) -> Iterator[tuple[Any, np.dtype, tuple[int, ...], bool, int]]:
        """Yield ``(handle positioned at the body, dtype, shape, fortran_order, body_size)``."""
        fmt = np.lib.format
        with self.zf.open(self.info) as fh:
            try:
                version = fmt.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = fmt.read_array_header_1_0(fh)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = fmt.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unknown .npy version {version}")
                header = fh.tell()
            except ValueError as exc:
                raise CorruptFileError(self.path, f"member {self.info.filename!r}: bad .npy header: {exc}") from None
            body = self.info.file_size - header
            yield fh, dtype, tuple(shape), bool(fortran), body

    def raw_source(self) -> NpyFrameSource | None:
        """A lazy frame source when the member is stored uncompressed, else None."""
        if self.info.compress_type != zipfile.ZIP_STORED or self.info.flag_bits & 0x1:
            return None
        with self.open() as (_fh, dtype, shape, fortran, body):
            header = self.info.file_size - body
        if len(shape) != 3 or fortran or dtype.hasobject:
            return None
        needed = self.check_body(dtype, shape, body)
        fh = open(self.path, "rb")  # noqa: SIM115 - owned by the frame source until close()
        with close_on_error(fh):
            start = self._payload_offset(fh) + header
            if start + needed > os.fstat(fh.fileno()).st_size:
                raise TruncatedFileError(self.path, f"member {self.info.filename!r} runs past the end of the file")
        return NpyFrameSource(self.path, fh, start, dtype, shape)  # type: ignore[arg-type]

    def _payload_offset(self, fh: Any) -> int:
        """File offset of the member's stored bytes (after its local ZIP header)."""
        fh.seek(self.info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise CorruptFileError(self.path, f"member {self.info.filename!r}: bad local ZIP header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        return int(self.info.header_offset) + 30 + name_len + extra_len

    def _inflate_whole(self, header: int, dtype: np.dtype, shape: tuple[int, ...], fortran: bool) -> np.ndarray:
        """A deflated member inflated in one call (libdeflate) and checked against its CRC.

        The compressed bytes are inflated straight from a read-only map of the file (the
        page cache, no copy into the process); the array is a view of the inflated
        buffer (no copy either).
        """
        info = self.info
        with open(self.path, "rb") as fh:
            start = self._payload_offset(fh)
            if start + info.compress_size > os.fstat(fh.fileno()).st_size:
                raise TruncatedFileError(self.path, f"member {info.filename!r} runs past the end of the file")
            with _map_read_only(fh) as mapped, memoryview(mapped) as whole, \
                    whole[start : start + info.compress_size] as packed:
                try:
                    member = _zcodec.inflate_raw(packed, info.file_size)
                except _zcodec.InflateError as exc:
                    raise CorruptFileError(self.path, f"member {info.filename!r}: {exc}") from None
        if _zcodec.crc32(member) != info.CRC:
            raise CorruptFileError(self.path, f"member {info.filename!r} fails its CRC check")
        count = int(np.prod(shape, dtype=np.int64))
        flat = np.frombuffer(member, dtype, count=count, offset=header)
        return flat.reshape(shape, order="F" if fortran else "C")

    def check_body(self, dtype: np.dtype, shape: tuple[int, ...], body: int) -> int:
        """The bytes the header declares, refused when the member holds fewer (or too many frames)."""
        count = 1
        for dim in shape:
            count *= int(dim)
        needed = count * dtype.itemsize
        if body < needed:
            raise TruncatedFileError(
                self.path,
                f"member {self.info.filename!r} holds {body} bytes of data but its header "
                f"describes {needed} ({shape}, {dtype})",
            )
        if shape:
            limits.check_frame_count(self.path, int(shape[0]), f"member {self.info.filename!r}",
                                     on_disk=self.info.compress_size)
        return needed

    def read_array(self, hint: str | None = limits.LAZY_HINT) -> np.ndarray:
        """The member as an array (string members decoded to a 0-d unicode/bytes array)."""
        with self.open() as (fh, dtype, shape, fortran, body):
            if dtype.hasobject:
                return np.array(self._decode_object(fh, shape, body))
            needed = self.check_body(dtype, shape, body)
            count = needed // dtype.itemsize if dtype.itemsize else 0
            limits.check_memory(self.path, needed, f"member {self.info.filename!r}", hint=hint)
            if self.info.compress_type == zipfile.ZIP_DEFLATED and not self.info.flag_bits & 0x1 and count:
                header = self.info.file_size - body
                return self._inflate_whole(header, dtype, shape, fortran)
            flat = np.empty(count, dtype)
            view = flat.view(np.uint8) if count else memoryview(b"")
            pos = 0
            while pos < needed:
                got = fh.readinto(view[pos : min(needed, pos + _CHUNK)])
                if not got:
                    raise TruncatedFileError(self.path, f"member {self.info.filename!r} ends early")
                pos += got
            return flat.reshape(shape, order="F" if fortran else "C")

    def _decode_object(self, fh: Any, shape: tuple[int, ...], body: int) -> str | bytes:
        if shape != ():
            raise CorruptFileError(
                self.path, f"member {self.info.filename!r} is an object array of shape {shape}; "
                "only 0-d string members are read"
            )
        if body > _MAX_TEXT_BYTES:
            raise CorruptFileError(self.path, f"member {self.info.filename!r} is too large ({body} bytes)")
        payload = fh.read(body)
        if len(payload) != body:
            raise TruncatedFileError(self.path, f"member {self.info.filename!r} ends early")
        return decode_pickled_string(payload, self.path, self.info.filename)

    def read_text(self) -> str:
        """A 0-d string member (pickled str/bytes, unicode or bytes array) as text."""
        value = self.read_array()
        if value.shape != ():
            raise CorruptFileError(self.path, f"member {self.info.filename!r} is not a 0-d string")
        item = value.item()
        if isinstance(item, bytes):
            try:
                return item.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorruptFileError(self.path, f"member {self.info.filename!r} is not UTF-8: {exc}") from None
        if not isinstance(item, str):
            raise CorruptFileError(self.path, f"member {self.info.filename!r} is not a string")
        return item

    def read_scalar_header(self) -> tuple[np.dtype, tuple[int, ...]]:
        """The header's dtype and shape, checked against the member's size."""
        with self.open() as (_fh, dtype, shape, _fortran, body):
            if not dtype.hasobject:
                self.check_body(dtype, shape, body)
            return dtype, shape


class NpyFrameSource(FrameSourceBase):
    """Frames of an uncompressed ``data.npy`` member, read from the file on demand.

    Lazy reads skip the ZIP CRC check (it covers the whole member); an eager load checks it.
    """

    def __init__(self, path: Path, handle: Any, offset: int, dtype: np.dtype,
                 shape: tuple[int, int, int]) -> None:
        self._path, self._fh, self._offset = path, handle, offset
        self._dtype, self._shape = dtype, shape
        self._frame_bytes = int(shape[1]) * int(shape[2]) * dtype.itemsize

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self._shape[0])
        stop = max(start, stop)
        out = np.empty((stop - start, *self._shape[1:]), self._dtype)
        if self._fh.closed:
            raise ReadError(self._path, "the lazy stack was closed")
        self._fh.seek(self._offset + start * self._frame_bytes)
        view = out.view(np.uint8).reshape(-1)
        if self._fh.readinto(view) != view.size:
            raise TruncatedFileError(self._path, f"frames {start}:{stop} run past the end of the file")
        return out

    def read_frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self._shape[0]:
            raise IndexError(f"frame {index} out of range for {self._shape[0]} frames")
        return self.read_frames(index, index + 1)[0]

    def close(self) -> None:
        self._fh.close()


@contextmanager
def _open_zip(path: Path) -> Iterator[tuple[zipfile.ZipFile, dict[str, _Member]]]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(path, f"not a readable NPZ (ZIP) file: {exc}") from None
    except (EOFError, ValueError) as exc:  # a ZIP directory pointing past the end
        raise TruncatedFileError(path, f"the ZIP directory is damaged: {exc}") from None
    try:
        members = {}
        archive_size = os.fstat(zf.fp.fileno()).st_size if zf.fp is not None else os.path.getsize(path)
        for info in zf.infolist():
            if info.filename.endswith(".npy"):
                member = _Member(path, zf, info, archive_size)
                members[member.key] = member
        yield zf, members
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(path, f"damaged ZIP data: {exc}") from None
    except zlib.error as exc:
        raise CorruptFileError(path, f"damaged compressed data: {exc}") from None
    except (EOFError, zipfile.LargeZipFile) as exc:
        raise TruncatedFileError(path, f"damaged ZIP data: {exc}") from None
    finally:
        zf.close()


def _require(path: Path, members: dict[str, _Member]) -> None:
    missing = [key for key in REQUIRED if key not in members]
    if missing:
        raise CorruptFileError(
            path, f"not a complete playNano NPZ bundle: missing {', '.join(repr(m) for m in missing)}"
        )


def _pixel_size(path: Path, member: _Member) -> float:
    arr = member.read_array()
    if arr.shape != () or arr.dtype.kind not in "fiu":
        raise CorruptFileError(path, f"'pixel_size_nm' must be a 0-d number, got {arr.dtype} {arr.shape}")
    return _bundle.check_pixel_size(path, _bundle.float_from_float32(arr[()]), "'pixel_size_nm'")


def _extras(path: Path, members: dict[str, _Member]) -> Any:
    if EXTRAS_MEMBER not in members:
        return None
    return _bundle.loads(path, members[EXTRAS_MEMBER].read_text(), EXTRAS_MEMBER)


@reading.wrap("the NPZ bundle", also=(zipfile.BadZipFile, NotImplementedError))
def read(path: Path, *, channel: str | None = None, lazy: bool = False, dtype: Any = None) -> AFMImageStack:
    """Load a playNano (or afmio) NPZ bundle; see the module docstring."""
    path = Path(path)
    with _open_zip(path) as (_zf, members):
        _require(path, members)
        stored_channel = members["channel"].read_text()
        select_channel(path, [stored_channel], channel)
        pixel = _pixel_size(path, members["pixel_size_nm"])
        z_unit, pixel, pixel_y, _ = _bundle.apply_extras(path, _extras(path, members), pixel)
        meta = _bundle.loads(path, members["frame_metadata_json"].read_text(), "frame_metadata_json")
        provenance = _bundle.loads(path, members["provenance_json"].read_text(), "provenance_json")
        state_backups = None
        if "state_backups_json" in members:
            state_backups = _bundle.loads(path, members["state_backups_json"].read_text(), "state_backups_json")
        data: Any = members["data"].raw_source() if lazy else None
        if data is None:
            hint = "'data' is ZIP-compressed: re-save it with compression='none' to read it lazily"
            data = members["data"].read_array(hint=hint if lazy else limits.LAZY_HINT)
            if data.ndim != 3:
                raise CorruptFileError(path, f"'data' must be 3-D (n_frames, height, width), got shape {data.shape}")

        def read_layers(stack: AFMImageStack) -> None:
            for key, member in members.items():
                prefix, sep, name = key.partition("__")
                if not sep or prefix not in ("processed", "masks"):
                    continue
                arr = member.read_array()
                if prefix == "processed":
                    stack.processed[name] = arr
                else:
                    stack.masks[name] = arr if arr.dtype == bool else arr.astype(bool)
            if lazy and not isinstance(data, NpyFrameSource):
                stack.provenance["bundle"]["lazy"] = "'data' is ZIP-compressed, so it was read at once"

        parts = _bundle.BundleParts(pixel, stored_channel, meta, provenance, pixel_y, z_unit, state_backups)
        return _bundle.build_stack(path, data, parts, bundle_type="npz", lazy=lazy, dtype=dtype, finish=read_layers)


@reading.wrap("the NPZ bundle", also=(zipfile.BadZipFile, NotImplementedError))
def probe(path: Path) -> ProbeResult:
    """Shape, channel, pixel size and times without reading ``data``."""
    path = Path(path)
    with _open_zip(path) as (_zf, members):
        _require(path, members)
        dtype, shape = members["data"].read_scalar_header()
        if len(shape) != 3:
            raise CorruptFileError(path, f"'data' must be 3-D, got shape {shape}")
        stored_channel = members["channel"].read_text()
        pixel = _pixel_size(path, members["pixel_size_nm"])
        z_unit, pixel, pixel_y, _ = _bundle.apply_extras(path, _extras(path, members), pixel)
        meta = _bundle.loads(path, members["frame_metadata_json"].read_text(), "frame_metadata_json")
    times = _bundle.frame_times(meta, shape[0])
    return ProbeResult(
        n_frames=shape[0],
        frame_shape=(shape[1], shape[2]),
        channels=[stored_channel],
        default_channel=stored_channel,
        pixel_size_nm=pixel,
        pixel_size_y_nm=pixel_y,
        z_unit=z_unit,
        frame_times=times,
        acquisition={"bundle_type": "npz", "dtype": str(dtype)},
    )


@reading.wrap("the NPZ bundle", also=(zipfile.BadZipFile, NotImplementedError))
def channels(path: Path) -> list[str]:
    path = Path(path)
    with _open_zip(path) as (_zf, members):
        if "channel" not in members:
            raise CorruptFileError(path, "not a complete playNano NPZ bundle: missing 'channel'")
        return [members["channel"].read_text()]


def sniff(path: Path) -> bool | None:
    """True for a ZIP holding ``data.npy``."""
    with open(path, "rb") as fh:
        if fh.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            return False
    try:
        with zipfile.ZipFile(path) as zf:
            return "data.npy" in zf.namelist()
    except Exception:  # a damaged file is for read() to report, not sniff
        return None


# ---------------------------------------------------------------------- writing
def _parse_compression(value: str) -> tuple[int, int | None]:
    """``(ZIP method, zlib level)``; level None is ISA-L's fast level (plain ``"deflate"``)."""
    text = str(value).strip().lower()
    if text in ("none", "stored", "store"):
        return STORED, 0
    if text in ("deflate", "zlib", "gzip"):
        return DEFLATED, None
    for prefix in ("deflate-", "zlib-", "gzip-"):
        if text.startswith(prefix) and text[len(prefix) :].isdigit() and 1 <= int(text[len(prefix) :]) <= 9:
            return DEFLATED, int(text[len(prefix) :])
    raise OptionError(f"npz compression must be 'none', 'deflate' or 'deflate-<1..9>', not {value!r}")


def _npy_chunks(dtype: np.dtype, shape: tuple[int, ...], blocks: Iterable[np.ndarray]) -> Iterator[memoryview | bytes]:
    """The bytes of a ``.npy`` file: header, then each block without copying it."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    if len(repr(header)) < 65000:
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    yield buf.getvalue()
    for block in blocks:
        block = np.ascontiguousarray(block, dtype=dtype)
        if block.size:
            yield block.data.cast("B")


def _write_array(zw: ZipWriter, key: str, array: np.ndarray) -> None:
    array = np.asarray(array)
    zw.write_member(f"{key}.npy", _npy_chunks(array.dtype, array.shape, [array]))


def _write_text(zw: ZipWriter, key: str, text: str) -> None:
    _write_array(zw, key, np.array(text, dtype=np.str_))


def write(stack: AFMImageStack, path: Path, *, compression: str = "none") -> None:
    """Write ``stack`` as a playNano-compatible NPZ bundle at exactly ``path``.

    Parameters
    ----------
    stack : AFMImageStack
    path : pathlib.Path
    compression : {"none", "deflate", "deflate-1" ... "deflate-9"}
        ZIP compression of every member; see the module docstring for measurements.
    """
    method, level = _parse_compression(compression)
    with open(path, "wb") as fh:
        zw = ZipWriter(fh, method, level)
        _write_array(zw, "pixel_size_nm", np.array(float(stack.pixel_size_nm), dtype=np.float64))
        _write_text(zw, "channel", str(stack.channel))
        _write_text(zw, "frame_metadata_json", _bundle.dumps(stack.frame_metadata))
        _write_text(zw, "provenance_json", _bundle.dumps(stack.provenance))
        _write_text(zw, "state_backups_json", _bundle.dumps(stack.state_backups))
        blocks = _bundle.blocks(stack) if stack.is_lazy else [stack.data]
        zw.write_member("data.npy", _npy_chunks(stack.dtype, stack.shape, blocks))
        _write_array(zw, "timestamps", np.asarray(stack.get_frame_times(), dtype=np.float64))
        for key, arr in stack.processed.items():
            _write_array(zw, f"processed__{key}", np.asarray(arr))
        for key, arr in stack.masks.items():
            _write_array(zw, f"masks__{key}", np.asarray(arr, dtype=bool))
        _write_text(zw, EXTRAS_MEMBER, _bundle.dumps(_bundle.extras_for(stack)))
        zw.close()
