"""playNano HDF5 bundles (``.h5``): read (eagerly or lazily) and write.

The layout is playNano 0.5.0's ``save_h5_bundle``:

=========================  ==================================================
``/data``                  ``(n_frames, height, width)`` values
``/processed/<key>``       one dataset per processed layer
``/masks/<key>``           bool, one dataset per mask
``/timestamps``            float64 seconds per frame (NaN when unknown; ignored on load)
``/frame_metadata_json``   scalar bytes: JSON list, one object per frame
``/provenance_json``       scalar bytes: JSON provenance
``/state_backups_json``    scalar bytes: JSON ``state_backups`` (only when not empty)
attr ``pixel_size_nm``     float64, nm per pixel along x
attr ``channel``           UTF-8 string
attr ``afmio_json``        afmio only: ``z_unit``, exact x/y pixel sizes
=========================  ==================================================

Reading
    ``/data``, ``pixel_size_nm``, ``channel``, ``/frame_metadata_json`` and
    ``/provenance_json`` are required (as for playNano); the rest is optional.
    Values keep their stored dtype. ``lazy=True`` returns a stack that reads frames
    from the open file on demand (processed layers and masks are still read at
    once); call ``stack.close()`` (or use ``with``) to release the file. Without
    ``afmio_json``, ``z_unit`` is ``"nm"`` and the y pixel size equals x. The bundle
    has one channel; ``channel=`` may name it (or ``"height"``). ``provenance`` is the
    saved one with ``bundle = {bundle_file, bundle_type: "h5"}``.

Writing
    One chunk per frame for ``/data``, ``/processed/*`` and ``/masks/*``. A lazy stack
    is streamed block by block, so a large input converts in bounded memory.
    ``raw=True`` (applied by the registry) writes the raw snapshot with its own frame
    metadata.

Options
    ``compression``: ``"gzip"`` (the default: the byte-shuffle filter, then deflate at
    Intel ISA-L's fast level), ``"gzip-<1..9>"`` (zlib's level, also with shuffle),
    ``"lzf"`` (h5py's own filter, readable only where h5py's LZF plugin is installed) or
    ``"none"``. ``shuffle=False`` drops the shuffle filter. Gzip and shuffle are the
    standard HDF5 filters, so every HDF5 tool (h5py, playNano, ``h5dump``) reads the
    file; afmio compresses one-frame chunks itself on all cores and hands them to HDF5
    finished (``write_direct_chunk``).

Speed
    Loading any gzip/shuffle dataset (also playNano's, whose h5py-chosen chunks such
    as ``(32, 16, 32)`` cut across frames) reads the stored chunks raw and inflates
    them with libdeflate on all cores, bit-identical to h5py's own read; other filters
    and unwritten chunks are read by h5py. See ``bench/`` for measured figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from afmio import limits
from afmio.channels import select_channel
from afmio.errors import CorruptFileError, MissingDependencyError, OptionError, reading
from afmio.frames import close_on_error
from afmio.hookspecs import ProbeResult
from afmio.stack import AFMImageStack

from . import _bundle, _h5chunks
from ._h5limits import check_dataset, dataset_nbytes

__all__ = ["H5FrameSource", "channels", "probe", "read", "sniff", "write"]

EXTRAS_ATTR = "afmio_json"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Largest JSON dataset afmio reads.
_MAX_TEXT_BYTES = 1 << 30
#: What h5py raises on damaged files besides the usual data errors (its OSError means
#: "cannot read this object", not a missing file).
H5PY_ERRORS: tuple[type[Exception], ...] = (OSError, RuntimeError, TypeError)


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a core dependency
        raise MissingDependencyError("h5py", "hdf5", "reading and writing HDF5 bundles") from exc
    return h5py


# ---------------------------------------------------------------------- reading
def _open(path: Path) -> Any:
    _h5py()  # a clear MissingDependencyError first
    from ._h5util import open_h5  # imports h5py: not at module import (h5-jpk imports this module)

    return open_h5(path)


def _dataset(path: Path, f: Any, name: str) -> Any:
    obj = f.get(name)
    if obj is None:
        raise CorruptFileError(path, f"not a complete playNano HDF5 bundle: missing '/{name}'")
    if not hasattr(obj, "dtype"):
        raise CorruptFileError(path, f"'/{name}' is a group, not a dataset")
    return obj


def _text(path: Path, ds: Any, name: str) -> str:
    if ds.shape not in ((), (1,)):
        raise CorruptFileError(path, f"'/{name}' must be a scalar string, got shape {ds.shape}")
    if ds.dtype.kind not in "SOU" or (ds.dtype.kind == "S" and ds.dtype.itemsize > _MAX_TEXT_BYTES):
        raise CorruptFileError(path, f"'/{name}' must be a string, got {ds.dtype}")
    value = ds[()]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    return _as_text(path, value, f"'/{name}'")


def _attr(path: Path, f: Any, name: str) -> Any:
    if name not in f.attrs:
        raise CorruptFileError(path, f"not a complete playNano HDF5 bundle: missing attribute {name!r}")
    value = f.attrs[name]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    return value


def _attr_text(path: Path, value: Any, name: str) -> str:
    return _as_text(path, value, f"attribute {name!r}")


def _as_text(path: Path, value: Any, what: str) -> str:
    """A stored string (UTF-8 bytes or str) as text, or CorruptFileError naming ``what``."""
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptFileError(path, f"{what} is not UTF-8: {exc}") from None
    if isinstance(value, str):
        return value
    raise CorruptFileError(path, f"{what} must be a string, got {type(value).__name__}")


def _check_size(path: Path, ds: Any, name: str, *, eager: bool = True) -> None:
    """Refuse a dataset whose declared size its stored bytes cannot hold (afmio.limits)."""
    check_dataset(path, ds, f"'/{name}'", frames=int(ds.shape[0]) if name == "data" and ds.ndim == 3 else None)
    if eager:
        limits.check_memory(path, dataset_nbytes(ds), f"'/{name}'")


def _read_block(path: Path, ds: Any, start: int, stop: int) -> np.ndarray:
    out = np.empty((stop - start, *ds.shape[1:]), ds.dtype)
    if stop <= start:
        return out
    try:
        if not _h5chunks.read_chunked(ds, start, stop, out):
            ds.read_direct(out, np.s_[start:stop])
    except ValueError as exc:
        raise CorruptFileError(path, f"'{ds.name}' frames {start}:{stop} are damaged: {exc}") from None
    except (OSError, RuntimeError, KeyError, TypeError) as exc:
        raise CorruptFileError(path, f"'{ds.name}' frames {start}:{stop} cannot be read: {exc}") from None
    return out


def _read_whole(path: Path, ds: Any) -> np.ndarray:
    _check_size(path, ds, ds.name.lstrip("/"))
    if ds.ndim == 3:
        return _read_block(path, ds, 0, ds.shape[0])
    try:
        return ds[()]
    except OSError as exc:
        raise CorruptFileError(path, f"'{ds.name}' cannot be read: {exc}") from None


class H5FrameSource:
    """Frames of an HDF5 dataset, read on demand; owns the open file."""

    def __init__(self, path: Path, file: Any, dataset: Any) -> None:
        self._path, self._file, self._ds = path, file, dataset

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self._ds.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return self._ds.dtype

    def read_frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"frame {index} out of range for {self.shape[0]} frames")
        return _read_block(self._path, self._ds, index, index + 1)[0]

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self.shape[0])
        return _read_block(self._path, self._ds, start, max(start, stop))

    def close(self) -> None:
        if self._file is not None and self._file.id.valid:
            self._file.close()


def _header(path: Path, f: Any) -> tuple[Any, _bundle.BundleParts]:
    """Everything but the arrays: required parts checked, JSON parsed."""
    data = _dataset(path, f, "data")
    if data.ndim != 3:
        raise CorruptFileError(path, f"'/data' must be 3-D (n_frames, height, width), got shape {data.shape}")
    _check_size(path, data, "data", eager=False)
    channel = _attr_text(path, _attr(path, f, "channel"), "channel")
    raw_pixel = _attr(path, f, "pixel_size_nm")
    if not isinstance(raw_pixel, (int, float, np.integer, np.floating)) or isinstance(raw_pixel, bool):
        raise CorruptFileError(path, f"attribute 'pixel_size_nm' must be a number, got {raw_pixel!r}")
    pixel = _bundle.check_pixel_size(path, _bundle.float_from_float32(raw_pixel), "'pixel_size_nm'")
    extras = None
    if EXTRAS_ATTR in f.attrs:
        extras = _bundle.loads(path, _attr_text(path, _attr(path, f, EXTRAS_ATTR), EXTRAS_ATTR), EXTRAS_ATTR)
    z_unit, pixel, pixel_y, _ = _bundle.apply_extras(path, extras, pixel)
    texts = {}
    for name in ("frame_metadata_json", "provenance_json", "state_backups_json"):
        if name == "state_backups_json" and name not in f:
            continue
        texts[name] = _bundle.loads(path, _text(path, _dataset(path, f, name), name), name)
    return data, _bundle.BundleParts(
        pixel_size_nm=pixel,
        channel=channel,
        frame_metadata=texts["frame_metadata_json"],
        provenance=texts["provenance_json"],
        pixel_size_y_nm=pixel_y,
        z_unit=z_unit,
        state_backups=texts.get("state_backups_json"),
    )


def _read_group(path: Path, f: Any, name: str) -> dict[str, np.ndarray]:
    group = f.get(name)
    if group is None:
        return {}
    if hasattr(group, "dtype"):
        raise CorruptFileError(path, f"'/{name}' is a dataset, not a group")
    out = {}
    # Iterating a group holds h5py's global lock; list the names first so the
    # threaded chunk reader below can take the lock.
    for key in list(group.keys()):
        ds = group[key]
        if not hasattr(ds, "dtype"):
            raise CorruptFileError(path, f"'/{name}/{key}' is not a dataset")
        arr = _read_whole(path, ds)
        out[key] = arr.astype(bool, copy=False) if name == "masks" else arr
    return out


@reading.wrap("the HDF5 bundle", also=H5PY_ERRORS)
def read(path: Path, *, channel: str | None = None, lazy: bool = False, dtype: Any = None) -> AFMImageStack:
    """Load a playNano (or afmio) HDF5 bundle; see the module docstring."""
    path = Path(path)
    f = _open(path)
    with close_on_error(f):
        data, parts = _header(path, f)
        select_channel(path, [parts.channel], channel)

        def read_layers(stack: AFMImageStack) -> None:
            stack.processed.update(_read_group(path, f, "processed"))
            stack.masks.update(_read_group(path, f, "masks"))

        return _bundle.build_stack(path, H5FrameSource(path, f, data), parts, bundle_type="h5", lazy=lazy,
                                   dtype=dtype, finish=read_layers)


@reading.wrap("the HDF5 bundle", also=H5PY_ERRORS)
def probe(path: Path) -> ProbeResult:
    """Shape, channel, pixel size and times without reading any frame."""
    path = Path(path)
    with _open(path) as f:
        data, parts = _header(path, f)
        shape, dtype = data.shape, data.dtype
    return ProbeResult(
        n_frames=shape[0],
        frame_shape=(shape[1], shape[2]),
        channels=[parts.channel],
        default_channel=parts.channel,
        pixel_size_nm=parts.pixel_size_nm,
        pixel_size_y_nm=parts.pixel_size_y_nm,
        z_unit=parts.z_unit,
        frame_times=_bundle.frame_times(parts.frame_metadata, shape[0]),
        acquisition={"bundle_type": "h5", "dtype": str(dtype)},
    )


@reading.wrap("the HDF5 bundle", also=H5PY_ERRORS)
def channels(path: Path) -> list[str]:
    path = Path(path)
    with _open(path) as f:
        return [_attr_text(path, _attr(path, f, "channel"), "channel")]


def sniff(path: Path) -> bool | None:
    """True for an HDF5 file with a ``/data`` dataset (not an h5-jpk or other HDF5)."""
    with open(path, "rb") as fh:
        if fh.read(8) != _HDF5_MAGIC:
            return False
    try:
        with _h5py().File(path, "r") as f:
            return "data" in f and "frame_metadata_json" in f
    except Exception:  # a damaged file is for read() to report, not sniff
        return None


# ---------------------------------------------------------------------- writing
class _Compression:
    """A parsed ``compression=`` choice."""

    def __init__(self, value: str, shuffle: bool) -> None:
        text = str(value).strip().lower()
        self.kind, self.level = "none", 0
        self.fast = False  # ISA-L's fast level instead of zlib's ``level``
        if text in ("none", "off"):
            pass
        elif text in ("gzip", "deflate", "zlib"):
            self.kind, self.level = "gzip", 1
            self.fast = True
        elif text.startswith("gzip-") and text[5:].isdigit() and 1 <= int(text[5:]) <= 9:
            self.kind, self.level = "gzip", int(text[5:])
        elif text == "lzf":
            self.kind = "lzf"
        else:
            raise OptionError(f"hdf5 compression must be 'gzip', 'gzip-<1..9>', 'lzf' or 'none', not {value!r}")
        self.shuffle = bool(shuffle) and self.kind != "none"

    @property
    def zlib_level(self) -> int | None:
        """The zlib level chunks are compressed at (None: ISA-L's fast level)."""
        return None if self.fast else self.level

    def dataset_options(self, dtype: np.dtype) -> dict[str, Any]:
        if self.kind == "none":
            return {}
        opts: dict[str, Any] = {"compression": self.kind, "shuffle": self.shuffle and dtype.itemsize > 1}
        if self.kind == "gzip":
            opts["compression_opts"] = self.level
        return opts


def _write_frames(
    parent: Any, name: str, dtype: np.dtype, shape: tuple[int, ...], blocks: Iterable[np.ndarray], comp: _Compression
) -> None:
    """A frame-chunked dataset filled block by block; gzip chunks are compressed on all cores."""
    n = shape[0]
    chunks = (1, *shape[1:]) if n and all(shape[1:]) else None
    ds = parent.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, **comp.dataset_options(dtype))
    if comp.kind == "gzip" and chunks is not None and dtype.isnative:
        with ThreadPoolExecutor(_h5chunks.threads()) as pool:
            pos = _h5chunks.write_frame_chunks(ds, blocks, level=comp.zlib_level,
                                               shuffle=comp.shuffle and dtype.itemsize > 1, pool=pool)
    else:
        pos = 0
        for block in blocks:
            ds[pos : pos + block.shape[0]] = np.asarray(block, dtype=dtype)
            pos += block.shape[0]
    if pos != n:
        raise ValueError(f"{name}: wrote {pos} frames, expected {n}")


def _write_json(f: Any, name: str, text: str) -> None:
    f.create_dataset(name, data=np.bytes_(text.encode("utf-8")))


def _write_array(group: Any, key: str, arr: np.ndarray, comp: _Compression) -> None:
    if arr.ndim == 3:
        step = _bundle.frames_per_block(arr.shape, arr.dtype.itemsize)
        blocks = (arr[i : i + step] for i in range(0, arr.shape[0], step))
        _write_frames(group, key, arr.dtype, arr.shape, blocks, comp)
    else:
        group.create_dataset(key, data=arr, **comp.dataset_options(arr.dtype))


def write(stack: AFMImageStack, path: Path, *, compression: str = "gzip", shuffle: bool = True) -> None:
    """Write ``stack`` as a playNano-compatible HDF5 bundle at exactly ``path``.

    Parameters
    ----------
    stack : AFMImageStack
    path : pathlib.Path
    compression : {"gzip", "gzip-1" ... "gzip-9", "lzf", "none"}
        Compression of ``/data``, ``/processed/*`` and ``/masks/*``.
    shuffle : bool
        Add HDF5's byte-shuffle filter before compression (default True).
    """
    h5py = _h5py()
    comp = _Compression(compression, shuffle)
    times = np.array(
        [np.nan if md.get("timestamp") is None else float(md["timestamp"]) for md in stack.frame_metadata],
        dtype=np.float64,
    )
    with h5py.File(path, "w") as f:
        # In memory or lazy, block by block so compressed chunks never pile up.
        _write_frames(f, "data", stack.dtype, stack.shape, _bundle.blocks(stack), comp)
        processed = f.create_group("processed")
        for key, arr in stack.processed.items():
            _write_array(processed, key, np.asarray(arr), comp)
        masks = f.create_group("masks")
        for key, arr in stack.masks.items():
            _write_array(masks, key, np.asarray(arr, dtype=bool), comp)
        f.create_dataset("timestamps", data=times)
        _write_json(f, "frame_metadata_json", _bundle.dumps(stack.frame_metadata))
        _write_json(f, "provenance_json", _bundle.dumps(stack.provenance))
        if stack.state_backups:
            _write_json(f, "state_backups_json", _bundle.dumps(stack.state_backups))
        f.attrs["pixel_size_nm"] = np.float64(stack.pixel_size_nm)
        f.attrs["channel"] = str(stack.channel)
        f.attrs[EXTRAS_ATTR] = _bundle.dumps(_bundle.extras_for(stack))
