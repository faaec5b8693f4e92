"""OME-TIFF stacks (``.ome.tif``, ``.ome.tiff``; also plain ``.tif``/``.tiff`` stacks): read and write.

Writing follows playNano 0.5.0's ``save_ome_tiff_stack``: one page per frame, axes
``TCZYX`` with C = Z = 1, little-endian, uncompressed, and OME-XML (2016-06 schema)
in the first page's ImageDescription:

* ``Pixels@PhysicalSizeX`` / ``PhysicalSizeY`` in µm (``PhysicalSize*Unit="µm"``),
  ``TimeIncrement`` (t1 - t0, s), one ``Plane`` per frame with ``DeltaT`` in seconds
  (omitted when any frame time is unknown), ``Channel@Name`` = the channel.
* Resolution tags in pixels per inch (25 400 000 / nm per pixel).
* Private tags on page 0, type UNDEFINED (7): **65000** = provenance JSON,
  **65001** = JSON list of the processed layer names (as playNano), and afmio's
  own **65002** = ``z_unit``, exact x/y pixel sizes and the full frame metadata.
* Values keep their dtype (float32 stays float32). A lazy stack is streamed frame
  by frame. Processed layers, masks and state backups are not stored (as in playNano).
* BigTIFF is used automatically above 4 GB.

Reading accepts OME-TIFF from afmio, playNano or other software, and plain
multi-page TIFF stacks (e.g. ImageJ):

* Frames: every page of series 0 (all axes other than Y, X and C in file order;
  a single frame reloads as a 1-frame stack). With several OME channels,
  ``channel=`` picks one by name (default: the first; ``"height"`` works as usual).
  Integer samples become float32; RGB images are refused.
* Pixel size: afmio's tag 65002 if present; else OME ``PhysicalSizeX/Y`` with its
  unit (default µm); else ImageJ's ``unit`` with the resolution tags; else the
  resolution tags in inch or cm; else **1.0 nm**, stated in
  ``acquisition["pixel_size_source"]`` (the source is always recorded there).
* Times: tag 65002's frame metadata, else OME ``Plane@DeltaT`` (converted from its
  unit), else ImageJ ``finterval``, else unknown (None).
* Provenance: tag 65000 (JSON), else a JSON ImageDescription's ``UserDataProvenance``,
  else empty; then ``bundle = {bundle_file, bundle_type: "ome-tiff"}`` and, when tag
  65001 is present, ``bundle["processed_keys"]``. A private tag that is not valid
  JSON is skipped (as playNano does) and named in ``bundle["ignored"]``.
* ``z_unit``: tag 65002, else ``"nm"``.
* ``lazy=True`` reads frames on demand when every page is one frame (afmio's and
  playNano's files, most plain stacks); ``stack.close()`` releases the file.
  Otherwise the frames are read at once and ``provenance["bundle"]["lazy"]`` says why.
"""

from __future__ import annotations

import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from afmio import limits
from afmio.channels import select_channel
from afmio.errors import (
    CorruptFileError,
    MissingDependencyError,
    OptionError,
    ReadError,
    TruncatedFileError,
    UnsupportedFormatError,
    reading,
)
from afmio.frames import close_on_error
from afmio.hookspecs import ProbeResult
from afmio.metadata import make_json_safe
from afmio.stack import AFMImageStack
from afmio.units import nm_per_unit

from . import _bundle

__all__ = ["TiffFrameSource", "channels", "probe", "read", "sniff", "write"]

TAG_PROVENANCE = 65000
TAG_PROCESSED_KEYS = 65001
TAG_AFMIO = 65002
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_NM_PER_INCH = 25_400_000.0
_DEFAULT_PIXEL_NM = 1.0
_DEFAULT_CHANNEL = "height_trace"
#: Resolution tags giving pixels larger than this (e.g. 72 dpi) are display defaults.
_MAX_TAG_PIXEL_NM = 10_000.0
#: Largest expansion a compressed TIFF page is believed to have (deflate's ~1032:1).
_MAX_EXPANSION = 1100

#: Length words ImageJ and OME use besides SI symbols (those go through ``_units``).
_LENGTH_WORDS_NM = {"micron": 1e3, "microns": 1e3, "nanometer": 1.0, "å": 0.1, "angstrom": 0.1}


def _nm_per(unit: str) -> float | None:
    """nm in one ``unit`` (OME and ImageJ spellings), or None for anything else."""
    text = unit.strip()
    return _LENGTH_WORDS_NM.get(text.lower()) or nm_per_unit(text) or nm_per_unit(text.lower())
#: seconds per unit for OME time units.
_TIME_S = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - tifffile is a core dependency
        raise MissingDependencyError("tifffile", "tiff", "reading and writing OME-TIFF") from exc
    return tifffile


# ---------------------------------------------------------------------- reading helpers
class _LoggedErrors(logging.Handler):
    """Collects what tifffile logs at ERROR while it skips damaged tags or pages."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.ERROR)
        self.path = path
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def check(self) -> None:
        """Raise :class:`CorruptFileError` for the first damage logged so far."""
        if self.messages:
            first, self.messages = self.messages[0], []
            raise CorruptFileError(self.path, f"damaged TIFF structure: {first}")


@contextmanager
def _strict(path: Path) -> Iterator[_LoggedErrors]:
    """Turn tifffile's logged-and-skipped damage into a :class:`CorruptFileError`.

    Raised at the end of the block, or earlier by ``check()`` (while a file opened
    inside the block can still be closed).
    """
    handler = _LoggedErrors(path)
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
    handler.check()


def _check_extents(path: Path, series: list[Any], nbytes: int) -> None:
    """Every frame's bytes must lie inside the file, and the image must fit in it.

    A header claiming a huge image over a few stored bytes is refused before
    anything is allocated (compressed pages may expand, but not beyond what
    deflate/LZW can achieve).
    """
    size = path.stat().st_size
    stored = sum(int(sum(p.databytecounts)) for s in series for p in s.pages if p is not None)
    compressed = any(p is not None and p.compression != 1 for s in series for p in s.pages[:1])
    limit = _MAX_EXPANSION * max(stored, 1) + (1 << 20) if compressed else stored
    if nbytes > limit or stored > size:
        raise CorruptFileError(
            path, f"the header describes {nbytes} bytes of image data but the file stores {stored}"
        )
    for s in series:
        for page in s.pages:
            if page is None:
                raise TruncatedFileError(path, "a page of the image series is missing")
            ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts)]
            if ends and max(ends) > size:
                raise TruncatedFileError(
                    path, f"image data runs to byte {max(ends)} but the file has {size} bytes"
                )


_PIXELS_RE = re.compile(r"<(?:\w+:)?Pixels\b([^>]*)>")
_SIZE_RE = re.compile(r'\b(Size[XYZCT])\s*=\s*"\s*(\d+)\s*"')
_TYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "float": 4,
               "double": 8, "complex": 8, "double-complex": 16, "bit": 1}


def _check_ome_sizes(path: Path, tif: Any) -> None:
    """Refuse OME-XML sizes the file cannot hold, before tifffile builds series from them.

    tifffile sizes its page lists and shapes from ``SizeT x SizeZ x SizeC`` and
    ``SizeX x SizeY``; a damaged ``999999999`` would make it allocate gigabytes.
    """
    try:
        text = tif.pages.first.description if tif.is_ome else ""
    except Exception:  # no readable first page: tifffile reports it later
        return
    size = path.stat().st_size
    compression = getattr(tif.pages.first, "compression", 1)
    codec = "none" if compression == 1 else "deflate" if compression in (8, 32946) else "lzw"
    for match in _PIXELS_RE.finditer(text or ""):
        attrs = dict(_SIZE_RE.findall(match.group(1)))
        dims = {k: int(attrs.get(k, "1")) for k in ("SizeX", "SizeY", "SizeZ", "SizeC", "SizeT")}
        kind = re.search(r'\bType\s*=\s*"([^"]*)"', match.group(1))
        itemsize = _TYPE_BYTES.get(kind.group(1).lower() if kind else "", 8)
        planes = dims["SizeZ"] * dims["SizeC"] * dims["SizeT"]
        what = "OME-XML Pixels " + " ".join(f"{k}={v}" for k, v in dims.items())
        limits.check_frame_count(path, planes, what, on_disk=size)
        limits.check_declared(path, planes * dims["SizeX"] * dims["SizeY"] * itemsize, what, on_disk=size,
                              codec=codec)


#: What tifffile (and the codecs behind it) raise on damaged files besides the usual data
#: errors (TiffFileError is a ValueError).
TIFF_ERRORS: tuple[type[Exception], ...] = (OSError, RuntimeError, TypeError)


def _open(path: Path) -> Any:
    tifffile = _tifffile()
    size = path.stat().st_size
    if size < 16:  # less than a header and one directory entry
        raise TruncatedFileError(path, f"only {size} bytes; not a complete TIFF file")
    with reading(path, "the TIFF header", also=TIFF_ERRORS):
        tif = tifffile.TiffFile(path)
    with close_on_error(tif):
        _check_ome_sizes(path, tif)
    return tif


def _tag_value(page: Any, code: int) -> Any:
    tag = page.tags.get(code)
    return None if tag is None else tag.value


def _tag_json(path: Path, page: Any, code: int, problems: list[str]) -> Any:
    """A private JSON tag, or None when absent or unreadable (noted in ``problems``).

    As in playNano, a damaged metadata tag does not make the image unreadable.
    """
    value = _tag_value(page, code)
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).rstrip(b"\x00")
    elif isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        value = bytes(value)
    try:
        return _bundle.loads(path, value, f"TIFF tag {code}")
    except CorruptFileError as exc:
        problems.append(exc.detail)
        return None


class _Ome:
    """The parts of the OME-XML afmio uses."""

    def __init__(self) -> None:
        self.pixel_x_nm: float | None = None
        self.pixel_y_nm: float | None = None
        self.channel_names: list[str] = []
        self.planes: dict[tuple[int, int, int], float] = {}
        self.size_t = self.size_z = self.size_c = 1


def _length_nm(value: str | None, unit: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    factor = _nm_per(unit or "µm")
    if factor is None or not math.isfinite(number) or number <= 0:
        return None
    return number * factor


def _parse_ome(text: str | None) -> _Ome | None:
    if not text or "<OME" not in text:
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    pixels = root.find(f"{ns}Image/{ns}Pixels")
    if pixels is None:
        return None
    ome = _Ome()
    ome.pixel_x_nm = _length_nm(pixels.get("PhysicalSizeX"), pixels.get("PhysicalSizeXUnit"))
    ome.pixel_y_nm = _length_nm(pixels.get("PhysicalSizeY"), pixels.get("PhysicalSizeYUnit"))
    for attr in ("SizeT", "SizeZ", "SizeC"):
        try:
            setattr(ome, attr.lower().replace("size", "size_"), int(pixels.get(attr, "1")))
        except ValueError:
            pass
    ome.channel_names = [ch.get("Name") or "" for ch in pixels.findall(f"{ns}Channel")]
    for plane in pixels.findall(f"{ns}Plane"):
        try:
            key = (int(plane.get("TheT", "0")), int(plane.get("TheZ", "0")), int(plane.get("TheC", "0")))
            delta = plane.get("DeltaT")
            if delta is not None:
                ome.planes[key] = float(delta) * _TIME_S.get(plane.get("DeltaTUnit", "s"), 1.0)
        except ValueError:
            continue
    return ome


def _resolution_nm(page: Any, imagej: dict[str, Any] | None) -> tuple[float | None, float | None, str]:
    """Pixel size from the resolution tags (and ImageJ's unit): ``(x, y, how)``."""
    def ratio(code: int) -> float | None:
        value = _tag_value(page, code)
        if isinstance(value, tuple) and len(value) == 2 and value[1]:
            out = value[0] / value[1]
            return out if out > 0 else None
        return None

    xres, yres = ratio(282), ratio(283)
    if xres is None:
        return None, None, ""
    yres = yres or xres
    unit = _tag_value(page, 296)
    unit = 2 if unit is None else int(unit)
    ij_unit = (imagej or {}).get("unit")
    if isinstance(ij_unit, str):
        # ImageJ keeps the length unit in its description and the resolution in pixels per unit.
        text = ij_unit.strip().replace("\\u00B5", "µ")
        factor = _nm_per(text)
        if factor is not None:
            x, y, how = factor / xres, factor / yres, f"ImageJ unit {ij_unit!r} and resolution tags"
        else:
            return None, None, ""
    elif unit == 2:
        x, y, how = _NM_PER_INCH / xres, _NM_PER_INCH / yres, "TIFF resolution tags (inch)"
    elif unit == 3:
        x, y, how = 1e7 / xres, 1e7 / yres, "TIFF resolution tags (cm)"
    else:
        return None, None, ""
    if x > _MAX_TAG_PIXEL_NM or y > _MAX_TAG_PIXEL_NM:
        # 72 dpi, 1/1 and the like are screen defaults, not an AFM scan.
        return None, None, ""
    return x, y, how


def _frame_axes(path: Path, axes: str, shape: tuple[int, ...]) -> None:
    if "Y" not in axes or "X" not in axes:
        raise UnsupportedFormatError(f"{path}: TIFF series has axes {axes!r}; no Y/X image plane")
    if "S" in axes and shape[axes.index("S")] > 1:
        raise UnsupportedFormatError(
            f"{path}: an RGB (or multi-sample) TIFF is an image, not a height stack; "
            "afmio reads single-sample TIFF stacks"
        )


class _Layout:
    """How series 0 maps to frames: axes, the selected channel, frame count, names."""

    def __init__(self, path: Path, tif: Any, channel: str | None) -> None:
        series = tif.series[0] if tif.series else None
        if series is None:
            raise CorruptFileError(path, "the TIFF file has no image series")
        self.series = [series]
        self.axes = series.get_axes(False)
        self.shape = tuple(series.get_shape(False))
        if not tif.is_ome and not tif.is_imagej and len(tif.series) > 1:
            # Pages written one by one by other software: every series like the first is a frame.
            same = [
                s
                for s in tif.series
                if tuple(s.get_shape(False)) == self.shape
                and s.get_axes(False) == self.axes
                and s.dtype == series.dtype
            ]
            if len(same) > 1:
                self.series = same
                self.axes = "I" + self.axes
                self.shape = (len(same), *self.shape)
        _frame_axes(path, self.axes, self.shape)
        page0 = tif.pages.first if hasattr(tif.pages, "first") else tif.pages[0]
        self.page0 = page0
        self.ome = _parse_ome(tif.ome_metadata if tif.is_ome else None)
        self.imagej = tif.imagej_metadata if tif.is_imagej else None
        self.problems: list[str] = []
        self.afmio = _tag_json(path, page0, TAG_AFMIO, self.problems)
        n_c = self.shape[self.axes.index("C")] if "C" in self.axes else 1
        names = [n for n in (self.ome.channel_names if self.ome else [])]
        if len(names) != n_c or not all(names):
            names = []
        if names:
            self.channel = select_channel(path, names, channel)
            self.c_index = names.index(self.channel)
        else:
            # No channel names: a single unnamed channel takes the requested name.
            if n_c > 1:
                names = [f"C{i}" for i in range(n_c)]
                self.channel = select_channel(path, names, channel)
                self.c_index = names.index(self.channel)
            else:
                wanted = channel if channel and channel.strip().lower() != "height" else None
                self.channel = wanted or _DEFAULT_CHANNEL
                self.c_index = 0
        self.channel_names = names or [self.channel]
        self.n_channels = n_c
        self.frame_dims = [(a, n) for a, n in zip(self.axes, self.shape) if a not in "YXCS"]
        self.n_frames = int(np.prod([n for _, n in self.frame_dims], dtype=np.int64)) if self.frame_dims else 1
        self.height = self.shape[self.axes.index("Y")]
        self.width = self.shape[self.axes.index("X")]
        dtype = np.dtype(series.dtype)
        if dtype.kind not in "fiub":
            raise UnsupportedFormatError(f"{path}: TIFF sample type {dtype} is not a height map")
        self.dtype = dtype
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * dtype.itemsize

    def read(self) -> np.ndarray:
        if len(self.series) == 1:
            arr = self.series[0].asarray().reshape(self.shape)
        else:
            arr = np.empty(self.shape, self.dtype)
            for i, s in enumerate(self.series):
                arr[i] = s.asarray().reshape(self.shape[1:])
        # Put C first (selected) and Y, X last; the frame axes keep their file order.
        order = [i for i, a in enumerate(self.axes) if a not in "YXCS"]
        c = [self.axes.index("C")] if "C" in self.axes else []
        s = [self.axes.index("S")] if "S" in self.axes else []
        arr = arr.transpose(c + s + order + [self.axes.index("Y"), self.axes.index("X")])
        if c:
            arr = arr[self.c_index]
        if s:
            arr = arr[0]
        arr = arr.reshape(self.n_frames, self.height, self.width)
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float32)
        return arr

    def pixel_sizes(self, path: Path) -> tuple[float, float, str]:
        if isinstance(self.afmio, dict):
            x = self.afmio.get("pixel_size_nm")
            y = self.afmio.get("pixel_size_y_nm", x)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x > 0 and y > 0:
                return float(x), float(y), "afmio tag 65002"
        if self.ome is not None and self.ome.pixel_x_nm is not None:
            return self.ome.pixel_x_nm, self.ome.pixel_y_nm or self.ome.pixel_x_nm, "OME PhysicalSizeX/Y"
        x, y, how = _resolution_nm(self.page0, self.imagej)
        if x is not None and y is not None:
            return x, y, how
        return _DEFAULT_PIXEL_NM, _DEFAULT_PIXEL_NM, (
            f"default {_DEFAULT_PIXEL_NM} nm/pixel: the file has no usable OME PhysicalSize or resolution tags"
        )

    def frame_metadata(self, pixel_nm: float) -> tuple[list[dict[str, Any]], str]:
        if isinstance(self.afmio, dict):
            meta = self.afmio.get("frame_metadata")
            if isinstance(meta, list) and len(meta) == self.n_frames and all(isinstance(m, dict) for m in meta):
                return [dict(m) for m in meta], "afmio tag 65002"
        times: list[float | None] = [None] * self.n_frames
        how = "unknown"
        if self.ome is not None and self.ome.planes:
            # Frames run over the non-C axes in file order; OME planes are keyed (T, Z, C).
            keys = _frame_plane_keys(self.frame_dims, self.c_index)
            if keys is not None:
                found = [self.ome.planes.get(k) for k in keys]
                if all(t is not None for t in found):
                    times, how = found, "OME Plane@DeltaT"
        elif self.imagej and isinstance(self.imagej.get("finterval"), (int, float)):
            dt = float(self.imagej["finterval"])
            times, how = [i * dt for i in range(self.n_frames)], "ImageJ finterval"
        meta = [{"timestamp": t, "frame_pixel_size_nm": pixel_nm} for t in times]
        return meta, how


def _frame_plane_keys(frame_dims: list[tuple[str, int]], c_index: int) -> list[tuple[int, int, int]] | None:
    if any(a not in "TZ" for a, _ in frame_dims):
        return None
    sizes = [n for _, n in frame_dims]
    keys = []
    for idx in np.ndindex(*sizes) if sizes else [()]:
        pos = dict(zip([a for a, _ in frame_dims], idx))
        keys.append((pos.get("T", 0), pos.get("Z", 0), c_index))
    return keys


def _provenance(path: Path, layout: _Layout) -> dict[str, Any]:
    prov = _tag_json(path, layout.page0, TAG_PROVENANCE, layout.problems)
    if prov is None:
        desc = layout.page0.description or ""
        if desc.lstrip().startswith("{"):
            try:
                parsed = json.loads(desc)
                text = parsed.get("UserDataProvenance") if isinstance(parsed, dict) else None
                prov = json.loads(text) if isinstance(text, str) else text
            except ValueError:
                prov = None
    if not isinstance(prov, dict):
        prov = {}
    return prov


class TiffFrameSource:
    """Frames of a one-page-per-frame TIFF series, read on demand; owns the open file."""

    def __init__(self, path: Path, tif: Any, shape: tuple[int, int, int], dtype: np.dtype) -> None:
        self._path, self._tif, self._shape, self._stored = path, tif, shape, dtype
        self._closed = False

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._stored if self._stored.kind == "f" else np.dtype(np.float32)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self._shape[0])
        stop = max(start, stop)
        if self._closed:
            raise ReadError(self._path, "the lazy stack was closed")
        if stop == start:
            return np.empty((0, *self._shape[1:]), self.dtype)
        with reading(self._path, f"frames {start}:{stop}", also=TIFF_ERRORS):
            arr = self._tif.asarray(key=range(start, stop), series=0)
        return arr.reshape(stop - start, *self._shape[1:]).astype(self.dtype, copy=False)

    def read_frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self._shape[0]:
            raise IndexError(f"frame {index} out of range for {self._shape[0]} frames")
        return self.read_frames(index, index + 1)[0]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._tif.close()


def _lazy_source(path: Path, tif: Any, layout: _Layout) -> TiffFrameSource | None:
    """A lazy source when every page of series 0 is exactly one frame."""
    if len(layout.series) != 1 or layout.n_channels != 1:  # (multi-sample files are refused earlier)
        return None
    pages = layout.series[0].pages
    if len(pages) != layout.n_frames or pages[0] is None:
        return None
    if int(np.prod(pages[0].shape)) != layout.height * layout.width:
        return None
    return TiffFrameSource(path, tif, (layout.n_frames, layout.height, layout.width), layout.dtype)


@reading.wrap("the TIFF file", also=(OSError,))
def read(path: Path, *, channel: str | None = None, lazy: bool = False, dtype: Any = None) -> AFMImageStack:
    """Load an OME-TIFF or plain TIFF stack; see the module docstring."""
    path = Path(path)
    with _strict(path) as damage:
        tif = _open(path)
        with close_on_error(tif):
            layout = _Layout(path, tif, channel)
            _check_extents(path, layout.series, layout.nbytes)
            px, py, px_how = layout.pixel_sizes(path)
            meta, time_how = layout.frame_metadata(px)
            provenance = _provenance(path, layout)
            processed_keys = _tag_json(path, layout.page0, TAG_PROCESSED_KEYS, layout.problems)
            data: Any = _lazy_source(path, tif, layout) if lazy else None
            if data is None:
                try:
                    data = layout.read()
                except (ValueError, OSError, EOFError) as exc:
                    if isinstance(exc, (FileNotFoundError, PermissionError)):
                        raise
                    raise TruncatedFileError(path, f"image data cannot be read: {exc}") from None
                tif.close()
            damage.check()
    z_unit = "nm"
    if isinstance(layout.afmio, dict) and isinstance(layout.afmio.get("z_unit"), str):
        z_unit = layout.afmio["z_unit"]

    def describe(stack: AFMImageStack) -> None:
        bundle = stack.provenance["bundle"]
        if isinstance(processed_keys, list):
            bundle["processed_keys"] = processed_keys
        if layout.problems:
            bundle["ignored"] = list(layout.problems)
        if lazy and not isinstance(data, TiffFrameSource):
            bundle["lazy"] = "frames span several pages or channels, so they were read at once"
        acq = stack.acquisition
        acq.setdefault("pixel_size_source", px_how)
        if time_how == "unknown":
            acq.setdefault("frame_time_source", "unknown: the file stores no frame times")

    parts = _bundle.BundleParts(px, layout.channel, meta, provenance, py, z_unit)
    return _bundle.build_stack(path, data, parts, bundle_type="ome-tiff", lazy=lazy, dtype=dtype, finish=describe)


@reading.wrap("the TIFF file", also=(OSError,))
def probe(path: Path) -> ProbeResult:
    """Shape, channels, pixel size and times without reading pixel data."""
    path = Path(path)
    with _strict(path), _open(path) as tif:
        layout = _Layout(path, tif, None)
        px, py, how = layout.pixel_sizes(path)
        meta, _ = layout.frame_metadata(px)
    z_unit = layout.afmio.get("z_unit") if isinstance(layout.afmio, dict) else None
    return ProbeResult(
        n_frames=layout.n_frames,
        frame_shape=(layout.height, layout.width),
        channels=list(layout.channel_names),
        default_channel=layout.channel,
        pixel_size_nm=px,
        pixel_size_y_nm=py,
        z_unit=z_unit if isinstance(z_unit, str) else "nm",
        frame_times=_bundle.frame_times(meta, layout.n_frames),
        acquisition={"pixel_size_source": how, "dtype": str(layout.dtype), "axes": layout.axes},
    )


@reading.wrap("the TIFF file", also=(OSError,))
def channels(path: Path) -> list[str]:
    path = Path(path)
    with _open(path) as tif:
        return list(_Layout(path, tif, None).channel_names)


def sniff(path: Path) -> bool | None:
    """True for any TIFF (classic or BigTIFF, either byte order)."""
    with open(path, "rb") as fh:
        return fh.read(4) in _TIFF_MAGICS


# ---------------------------------------------------------------------- writing
def _frames(stack: AFMImageStack) -> Iterator[np.ndarray]:
    if not stack.is_lazy:
        yield from stack.data
        return
    for block in _bundle.blocks(stack):
        yield from block


def _ome_metadata(stack: AFMImageStack) -> dict[str, Any]:
    times = [md.get("timestamp") for md in stack.frame_metadata]
    meta: dict[str, Any] = {
        "axes": "TCZYX",
        "PhysicalSizeX": stack.pixel_size_nm * 1e-3,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": stack.pixel_size_y_nm * 1e-3,
        "PhysicalSizeYUnit": "µm",
        "Channel": {"Name": [str(stack.channel)]},
    }
    known = [float(t) for t in times if t is not None]
    if known and len(known) == len(times):
        meta["TimeIncrement"] = known[1] - known[0] if len(known) > 1 else 0.0
        meta["TimeIncrementUnit"] = "s"
        meta["Plane"] = {"DeltaT": known, "DeltaTUnit": ["s"] * len(known)}
    return meta


def write(stack: AFMImageStack, path: Path) -> None:
    """Write ``stack`` as a playNano-compatible OME-TIFF at exactly ``path``."""
    tifffile = _tifffile()
    n, h, w = stack.shape
    dtype = stack.dtype
    if dtype == np.bool_:
        raise OptionError("OME-TIFF export needs numeric frames, not a boolean mask stack")
    provenance = json.dumps(make_json_safe(stack.provenance)).encode("utf-8")
    keys = json.dumps(list(stack.processed.keys())).encode("utf-8")
    extras = _bundle.dumps(_bundle.extras_for(stack, with_frame_metadata=True)).encode("utf-8")
    extratags = [
        (TAG_PROVENANCE, 7, len(provenance), provenance, True),
        (TAG_PROCESSED_KEYS, 7, len(keys), keys, True),
        (TAG_AFMIO, 7, len(extras), extras, True),
    ]
    bigtiff = n * h * w * dtype.itemsize > 2**32 - 2**25
    with tifffile.TiffWriter(path, bigtiff=bigtiff, ome=True, byteorder="<") as tw:
        tw.write(
            _frames(stack),
            shape=(n, 1, 1, h, w),
            dtype=dtype,
            photometric="minisblack",
            resolution=(_NM_PER_INCH / stack.pixel_size_nm, _NM_PER_INCH / stack.pixel_size_y_nm),
            resolutionunit="INCH",
            metadata=_ome_metadata(stack),
            extratags=extratags,
        )
