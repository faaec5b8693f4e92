"""OME-Zarr (OME-NGFF 0.4): chunked, cloud-friendly stacks, as a folder or a zip.

Needs the optional extra ``afmio[zarr]`` (zarr-python 3). Two drivers share this code:
``ome-zarr`` for a directory store (``movie.ome.zarr/``) and ``ome-zarr-zip`` for a
zip store (``movie.ome.zarr.zip``).

Layout written (NGFF **0.4**, the version most viewers read today, so the arrays are
zarr format 2 with ``/`` chunk keys):

- group attributes ``multiscales``: one image with axes ``t`` (time, second), ``y`` and
  ``x`` (space, nanometer) and one dataset ``"0"`` whose scale transformation is
  ``[frame interval s, pixel y nm, pixel x nm]``;
- array ``0``: ``(n_frames, height, width)`` float32, **one chunk per frame**, Blosc-zstd
  with byte shuffle (``compression="none"`` stores raw chunks);
- group attribute ``afmio``: everything else of the stack, so nothing is lost: channel,
  ``z_unit``, both pixel sizes, per-frame timestamps and the full frame metadata,
  provenance and state backups;
- arrays ``processed/<name>`` and ``masks/<name>`` for processed layers and masks
  (NGFF readers ignore them).

Writing streams a lazy stack block by block (bounded memory) and zarr writes the chunks
of each block concurrently. Reading with ``lazy=True`` fetches frames on demand.
Stores from other software load too: 5-D ``(t, c, z, y, x)`` images take channel 0,
plane 0, and units other than nanometres are converted from the axes' units.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from afmio import limits
from afmio.channels import select_channel
from afmio.errors import CorruptFileError, MissingDependencyError, OptionError, reading
from afmio.frames import close_on_error
from afmio.hookspecs import ProbeResult
from afmio.metadata import build_frame_metadata, make_json_safe
from afmio.progress import progress
from afmio.stack import AFMImageStack

__all__ = ["MAX_METADATA_BYTES", "probe", "read", "sniff", "write"]

#: Largest ``.zattrs``/``.zarray``/``.zgroup``/``zarr.json`` afmio parses (frame metadata of
#: a long movie is a few tens of MB; a GB of JSON is a damaged or hostile store).
MAX_METADATA_BYTES = 256 << 20
_METADATA_NAMES = (".zattrs", ".zarray", ".zgroup", "zarr.json")

NGFF_VERSION = "0.4"

#: Length units of NGFF axes, in nanometres.
_NM_PER_UNIT = {
    "nanometer": 1.0,
    "micrometer": 1e3,
    "millimeter": 1e6,
    "meter": 1e9,
    "angstrom": 0.1,
    "picometer": 1e-3,
}
#: What zarr, numcodecs and zipfile raise on a damaged store besides the usual data
#: errors (zarr's own errors are ValueErrors): codecs' RuntimeError, zip CRC errors,
#: a wrong-typed metadata value (TypeError), an unreadable chunk file (OSError).
ZARR_ERRORS: tuple[type[Exception], ...] = (TypeError, RuntimeError, OSError, zipfile.BadZipFile)
_S_PER_UNIT = {"second": 1.0, "millisecond": 1e-3, "microsecond": 1e-6, "minute": 60.0, "hour": 3600.0}


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise MissingDependencyError("zarr", "zarr", "OME-Zarr") from exc
    return zarr


def _is_zip(path: Path) -> bool:
    return path.name.lower().endswith(".zip")


def _open_store(path: Path, mode: Literal["r", "w"]) -> Any:
    _zarr()  # a clear MissingDependencyError before touching zarr.storage
    if _is_zip(path):
        from zarr.storage import ZipStore

        if mode == "r":
            _check_zip_directory(path)
        return ZipStore(path, mode=mode)
    from zarr.storage import LocalStore

    if mode == "r":
        _check_metadata_files(path)
    return LocalStore(path, read_only=mode == "r")


def _check_zip_directory(path: Path) -> None:
    """Refuse a zip whose directory promises members larger than the file.

    zipfile sizes its read buffer from the directory, so a damaged size field would make
    reading one small member allocate whatever the field says.
    """
    size = path.stat().st_size
    with reading(path, "the zip directory", also=ZARR_ERRORS), zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    for info in infos:
        if info.compress_type == zipfile.ZIP_DEFLATED:
            limits.check_declared(path, info.file_size, f"zip member {info.filename!r}",
                                  on_disk=info.compress_size, codec="deflate")
        if info.filename.rsplit("/", 1)[-1] in _METADATA_NAMES and info.file_size > MAX_METADATA_BYTES:
            raise CorruptFileError(
                path, f"zip member {info.filename!r} declares {info.file_size} bytes of JSON metadata "
                f"(afmio reads at most {MAX_METADATA_BYTES})"
            )
        if info.compress_size > size or info.header_offset + info.compress_size > size:
            raise CorruptFileError(
                path, f"zip member {info.filename!r} claims {info.compress_size} bytes at offset "
                f"{info.header_offset}, beyond the {size}-byte file"
            )
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CorruptFileError(path, f"zip member {info.filename!r} is stored but its sizes disagree")


def _check_metadata_files(path: Path) -> None:
    """A directory store's JSON metadata files must be of a readable size."""
    for name in _METADATA_NAMES:
        for item in (path / name, path / "0" / name):
            try:
                size = item.stat().st_size
            except OSError:
                continue
            if size > MAX_METADATA_BYTES:
                raise CorruptFileError(path, f"{item.name} is {size} bytes (afmio reads at most {MAX_METADATA_BYTES})")


def _store_bytes(path: Path) -> int:
    """Bytes the store holds on disk (the zip file, or the folder's files)."""
    if path.is_dir():
        return limits.tree_size(path)
    return path.stat().st_size


def _codec(array: Any) -> str:
    """The :data:`afmio.limits.MAX_RATIO` key of the array's codecs."""
    try:
        names = " ".join(type(c).__name__.lower() for c in (array.compressors or ()))
    except Exception:  # an unreadable codec list: assume the most generous codec
        return "zstd"
    if not names:
        return "none"
    for key in ("blosc", "zstd", "lz4", "lzma", "bz2"):
        if key in names:
            return "zstd"
    if "zlib" in names or "gzip" in names:
        return "deflate"
    return "zstd"


def _check_array(path: Path, array: Any, on_disk: int) -> None:
    """The array's declared shape (and one chunk) must fit in what the store holds."""
    itemsize = np.dtype(array.dtype).itemsize
    total = math.prod(int(d) for d in array.shape) * itemsize
    chunk = math.prod(int(d) for d in (array.chunks or array.shape)) * itemsize
    codec = _codec(array)
    what = f"image array {tuple(int(d) for d in array.shape)} {array.dtype}"
    limits.check_declared(path, total, what, on_disk=on_disk, codec=codec)
    limits.check_declared(path, chunk, f"{what}, one chunk {tuple(array.chunks)}", on_disk=on_disk, codec=codec)
    if array.ndim > 2:
        limits.check_frame_count(path, int(array.shape[0]), what, on_disk=on_disk)


def _check_zip_chunks(path: Path, array: Any) -> None:
    """A ZIP-deflated chunk member may not inflate to more than a chunk (plus codec overhead).

    zipfile allocates a member's declared size when zarr reads it; the ratio check alone
    would let a 1 MB member claim 1 GB of an array whose chunks are a few KB.
    """
    itemsize = np.dtype(array.dtype).itemsize
    chunk = math.prod(int(d) for d in (array.chunks or array.shape)) * itemsize
    limit = 2 * chunk + limits.SLACK_BYTES
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.filename.rsplit("/", 1)[-1] in _METADATA_NAMES or info.compress_type == zipfile.ZIP_STORED:
                continue
            if info.file_size > limit:
                raise CorruptFileError(
                    path, f"zip member {info.filename!r} declares {info.file_size} bytes, more than a chunk of "
                    f"the image ({chunk} bytes) can hold"
                )


def _close(store: Any) -> None:
    """Close a store that may never have opened (a damaged zip leaves ZipStore half-made)."""
    try:
        store.close()
    except Exception:  # nothing left to release
        pass


# ---------------------------------------------------------------------------- sniff


def sniff(path: Path) -> bool | None:
    """A directory with NGFF ``multiscales`` attributes, or a zip holding one."""
    if path.is_dir():
        for name in (".zattrs", "zarr.json"):
            attrs = path / name
            if attrs.is_file():
                try:
                    with open(attrs, "rb") as handle:
                        head = handle.read(1_000_000)
                except OSError:
                    return None
                text = head.decode("utf-8", "replace")
                return "multiscales" in text
        return False
    if _is_zip(path):
        try:
            with zipfile.ZipFile(path) as zf:
                return any(n in (".zattrs", "zarr.json") for n in zf.namelist()[:10_000])
        except Exception:  # zipfile raises several types for damaged archives
            return False
    return None


# ---------------------------------------------------------------------------- write


def _clean_json(obj: Any) -> Any:
    """JSON-safe and strict (NaN/inf become None), as zarr attributes require."""
    obj = make_json_safe(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_json(v) for v in obj]
    return obj


def _frame_interval(times: list[float]) -> float:
    if len(times) > 1 and times[-1] > times[0]:
        return (times[-1] - times[0]) / (len(times) - 1)
    return 1.0


def _compressors(compression: str) -> Any:
    if compression == "none":
        return None
    if compression != "default":
        raise OptionError(f"compression must be 'default' or 'none', not {compression!r}")
    from numcodecs import Blosc

    return Blosc(cname="zstd", clevel=1, shuffle=Blosc.SHUFFLE)


def write(stack: AFMImageStack, path: Path, *, compression: str = "default", block: int = 16) -> None:
    """Write ``stack`` as an OME-NGFF 0.4 image, streaming ``block`` frames at a time."""
    zarr = _zarr()
    times = stack.get_frame_times()
    axes = [
        {"name": "t", "type": "time", "unit": "second"},
        {"name": "y", "type": "space", "unit": "nanometer"},
        {"name": "x", "type": "space", "unit": "nanometer"},
    ]
    scale = [_frame_interval(times), stack.pixel_size_y_nm, stack.pixel_size_nm]
    multiscales = [
        {
            "version": NGFF_VERSION,
            "name": str(stack.channel),
            "axes": axes,
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
            "type": "none",
            "metadata": {"written_by": "afmio"},
        }
    ]
    afmio_attrs = {
        "channel": str(stack.channel),
        "z_unit": stack.z_unit,
        "pixel_size_nm": stack.pixel_size_nm,
        "pixel_size_y_nm": stack.pixel_size_y_nm,
        "timestamps": times,
        "frame_metadata": stack.frame_metadata,
        "provenance": stack.provenance,
        "state_backups": stack.state_backups,
        "file_path": None if stack.file_path is None else str(stack.file_path),
    }
    if _is_zip(path):
        # ZipStore appends and would store .zgroup/.zattrs twice: build a folder, then zip it.
        import shutil
        import tempfile

        staging = Path(tempfile.mkdtemp(prefix=".afmio-zarr-", dir=path.parent))
        try:
            _write_store(stack, staging / "s.ome.zarr", zarr, multiscales, afmio_attrs, compression, block)
            _zip_folder(staging / "s.ome.zarr", path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return
    _write_store(stack, path, zarr, multiscales, afmio_attrs, compression, block)


def _zip_folder(folder: Path, target: Path) -> None:
    """Zip a directory store without recompressing (chunks are compressed already)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for item in sorted(folder.rglob("*")):
            if item.is_file():
                zf.write(item, item.relative_to(folder).as_posix())


def _write_store(
    stack: AFMImageStack, path: Path, zarr: Any, multiscales: list[Any], afmio_attrs: dict[str, Any],
    compression: str, block: int,
) -> None:
    n, h, w = stack.shape
    store = _open_store(path, "w")
    try:
        root = zarr.open_group(store, mode="w", zarr_format=2)
        root.attrs.update({"multiscales": multiscales, "afmio": _clean_json(afmio_attrs)})
        compressors = _compressors(compression)
        key_encoding = {"name": "v2", "separator": "/"}
        dtype = np.float32 if stack.dtype.kind == "f" and stack.dtype.itemsize <= 4 else stack.dtype
        arr = root.create_array(
            "0", shape=(n, h, w), chunks=(1, h, w), dtype=dtype, compressors=compressors,
            chunk_key_encoding=key_encoding, fill_value=0,
        )
        blocks = stack.iter_frames(block=block)
        for i, chunk in enumerate(progress(blocks, total=-(-n // block) if n else 0, desc="OME-Zarr")):
            arr[i * block : i * block + chunk.shape[0]] = chunk
        for group_name, layers in (("processed", stack.processed), ("masks", stack.masks)):
            if not layers:
                continue
            group = root.create_group(group_name)
            for key, layer in layers.items():
                layer = np.asarray(layer)
                chunks = (1, *layer.shape[1:]) if layer.ndim == 3 else layer.shape
                group.create_array(key, data=layer, chunks=chunks, compressors=compressors,
                                   chunk_key_encoding=key_encoding)
    finally:
        _close(store)


# ---------------------------------------------------------------------------- read


class _ZarrFrames:
    """Frame source over the image array; keeps the store open until ``close``."""

    def __init__(self, store: Any, array: Any, squeeze: bool, path: Path) -> None:
        self._path = path
        self._store = store
        self._array = array
        self._squeeze = squeeze  # 5-D (t, c, z, y, x): take c = 0, z = 0

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self._array.shape
        return (s[0], s[-2], s[-1]) if len(s) != 2 else (1, s[0], s[1])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._array.dtype)

    def _read(self, start: int, stop: int) -> np.ndarray:
        with reading(self._path, f"frames {start}..{stop - 1}", also=ZARR_ERRORS):
            return self._read_unchecked(start, stop)

    def _read_unchecked(self, start: int, stop: int) -> np.ndarray:
        a = self._array
        if a.ndim == 2:
            return np.asarray(a[...])[np.newaxis][start:stop]
        if a.ndim == 5:
            return np.asarray(a[start:stop, 0, 0])
        if a.ndim == 4:
            return np.asarray(a[start:stop, 0])
        return np.asarray(a[start:stop])

    def read_frame(self, index: int) -> np.ndarray:
        return self._read(index, index + 1)[0]

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        return self._read(start, stop)

    def close(self) -> None:
        _close(self._store)


def _open(path: Path) -> tuple[Any, Any, dict[str, Any]]:
    zarr = _zarr()
    with reading(path, "the store", also=ZARR_ERRORS):
        store = _open_store(path, "r")
    with close_on_error(store), reading(path, "the OME-NGFF metadata", also=ZARR_ERRORS):
        try:
            root = zarr.open_group(store, mode="r")
            image, extra = _image_metadata(path, root.attrs.asdict())
            name = image["datasets"][0]["path"]
            if name not in root:
                raise CorruptFileError(path, f"the store lacks the array {name!r} its metadata names")
            array = root[name]
        except zarr.errors.NodeNotFoundError as exc:  # also a FileNotFoundError, but of a part, not the path
            raise CorruptFileError(path, f"the store lacks a part its metadata names: {exc}") from None
        if not hasattr(array, "dtype"):
            raise CorruptFileError(path, "the image dataset is a group, not an array")
        if array.ndim not in (2, 3, 4, 5):
            raise CorruptFileError(path, f"image array has {array.ndim} dimensions; expected (t,) y, x")
        _check_array(path, array, _store_bytes(path))
        if _is_zip(path):
            _check_zip_chunks(path, array)
    return store, array, {"image": image, "afmio": extra, "root": root}


def _image_metadata(path: Path, attrs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first NGFF image (with a dataset path) and afmio's own record, type-checked."""
    if isinstance(attrs.get("ome"), dict) and "multiscales" not in attrs:  # NGFF 0.5 nests under "ome"
        attrs = {**attrs, **attrs["ome"]}
    multiscales = attrs.get("multiscales")
    if not multiscales:
        raise CorruptFileError(path, "no OME-NGFF 'multiscales' attribute: not an OME-Zarr image")
    image = multiscales[0] if isinstance(multiscales, list) else None
    datasets = image.get("datasets") if isinstance(image, dict) else None
    first = datasets[0] if isinstance(datasets, list) and datasets else None
    if not isinstance(first, dict) or not isinstance(first.get("path"), str):
        raise CorruptFileError(path, "malformed OME-NGFF metadata: 'multiscales[0].datasets[0].path' is missing")
    extra = attrs.get("afmio")
    return image, extra if isinstance(extra, dict) else {}  # type: ignore[return-value]


def _scales(path: Path, image: dict[str, Any], ndim: int) -> tuple[float, float, float]:
    """(frame interval s, pixel y nm, pixel x nm) from the first dataset's transformations."""
    axes = image.get("axes") or []
    scale = [1.0] * ndim
    for t in image["datasets"][0].get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = [float(v) for v in t["scale"]]
    if len(axes) != len(scale):
        return 1.0, 1.0, 1.0

    def factor(axis: dict[str, Any], table: dict[str, float]) -> float:
        unit = axis.get("unit") if isinstance(axis, dict) else None
        return table.get(str(unit).lower(), 1.0) if unit else 1.0

    dt = scale[0] * factor(axes[0], _S_PER_UNIT) if ndim > 2 else 1.0
    return dt, scale[-2] * factor(axes[-2], _NM_PER_UNIT), scale[-1] * factor(axes[-1], _NM_PER_UNIT)


@reading.wrap("the OME-Zarr store", also=ZARR_ERRORS)
def read(path: Path, *, channel: str | None = None, lazy: bool = False) -> AFMImageStack:
    """Load an OME-Zarr image (see the module docstring)."""
    store, array, meta = _open(path)
    source = _ZarrFrames(store, array, squeeze=array.ndim == 5, path=path)
    with close_on_error(source):
        extra = meta["afmio"]
        dt, py, px = _scales(path, meta["image"], array.ndim)
        px = float(extra.get("pixel_size_nm") or px)
        py = float(extra.get("pixel_size_y_nm") or py)
        n = source.shape[0]
        frame_meta = extra.get("frame_metadata")
        if not isinstance(frame_meta, list) or len(frame_meta) != n:
            frame_meta = [build_frame_metadata(timestamp=i * dt, frame_pixel_size_nm=px) for i in range(n)]
        name = select_channel(path, [_channel_name(meta)], channel)

        def read_layers(stack: AFMImageStack) -> None:
            if isinstance(extra.get("provenance"), dict):
                stack.provenance.update(json.loads(json.dumps(extra["provenance"])))
            if isinstance(extra.get("state_backups"), dict):
                stack.state_backups = extra["state_backups"]
            root = meta["root"]
            for group_name, target, cast in (("processed", stack.processed, np.float32), ("masks", stack.masks, bool)):
                if group_name in root:
                    for key, arr in root[group_name].arrays():
                        target[key] = np.asarray(arr[...]).astype(cast)

        return AFMImageStack.from_source(
            source, px if px > 0 else 1.0, name, path, frame_meta, lazy=lazy, finish=read_layers,
            pixel_size_y_nm=py if py > 0 else None, z_unit=extra.get("z_unit", "nm"),
        )


def _channel_name(meta: dict[str, Any]) -> str:
    """The one channel of the image: afmio's record, else the NGFF image name."""
    return str(meta["afmio"].get("channel") or meta["image"].get("name") or "height_trace")


@reading.wrap("the OME-Zarr store", also=ZARR_ERRORS)
def probe(path: Path) -> ProbeResult:
    """Shape, pixel sizes and times from the metadata only."""
    store, array, meta = _open(path)
    try:
        source = _ZarrFrames(store, array, squeeze=False, path=path)
        n, h, w = source.shape
        extra = meta["afmio"]
        dt, py, px = _scales(path, meta["image"], array.ndim)
        name = _channel_name(meta)
        times = extra.get("timestamps") or [i * dt for i in range(n)]
        return ProbeResult(
            n_frames=n,
            frame_shape=(h, w),
            channels=[name],
            default_channel=name,
            pixel_size_nm=float(extra.get("pixel_size_nm") or px),
            pixel_size_y_nm=float(extra.get("pixel_size_y_nm") or py),
            z_unit=extra.get("z_unit", "nm"),
            frame_times=[float(t) if t is not None else float(i) for i, t in enumerate(times)],
            acquisition={"ngff_version": meta["image"].get("version")},
        )
    finally:
        _close(store)
