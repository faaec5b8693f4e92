"""playNano 0.5.0's io functions, with the same names and signatures, over afmio's registry.

Change the import and an existing script keeps working::

    from afmio.compat.playnano import load_afm_stack, export_bundles

    stack = load_afm_stack("movie.asd")
    export_bundles(stack, "output", "movie", ["tif", "npz", "h5"])

Everything here is a thin wrapper: reading and writing go through
:data:`afmio.registry`, so the same drivers, error messages and atomic saves apply.
Like playNano's, the ``save_*`` and export functions replace existing files.

Where afmio deliberately differs
--------------------------------
afmio follows the files where playNano has known bugs (see each function):

* **JPK folders** are oriented like every other JPK reader (and like playNano's own
  ``.h5-jpk`` frames); playNano flips JPK folder frames twice (AFMReader's flip plus its
  own), so its folder frames come out upside down relative to its ``.h5-jpk`` frames.
* **NanoScope v5 folders** that spell the header key ``Scan rate`` (lower case) load;
  playNano fails with ``Missing data: line_rate=None``.
* **Single-frame OME-TIFF** exports load as a one-frame stack; playNano's loader sees a
  2-D array and raises ``Unexpected OME-TIFF shape``.
* **Channel names**: playNano's default ``channel="height_trace"`` fails for ASD (``TP``)
  and NanoScope (``Height Sensor``) files; here, when a file has no ``height_trace``
  channel, that default means the file's height channel.
* **Single files of folder formats** (one ``.jpk``, one ``.spm``/``.001``) load as a
  one-frame stack instead of raising "typically a single-frame export".
* **GIF timing**: ``duration`` is the time each frame is shown, in seconds; playNano
  passes ``duration * 500`` milliseconds to Pillow, which shows frames for half as long.

Out of scope: playNano's ``.aris`` reader and its avi/mov/mkv video and jpg exports.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ChannelNotFoundError
from ..stack import AFMImageStack

__all__ = [
    "check_path_is_path",
    "create_gif_with_scale_and_timestamp",
    "export_bundles",
    "export_gif",
    "get_loader_for_file",
    "get_loader_for_folder",
    "load_afm_stack",
    "load_h5_bundle",
    "load_npz_bundle",
    "load_ome_tiff_stack",
    "save_h5_bundle",
    "save_npz_bundle",
    "save_ome_tiff_stack",
]

log = logging.getLogger("afmio.compat.playnano")

Loader = Callable[..., AFMImageStack]

#: The formats :func:`export_bundles` accepts, in the order it writes them.
BUNDLE_FORMATS = ("tif", "npz", "h5")

_PLAYNANO_DEFAULT_CHANNEL = "height_trace"
_BAD_DIR_CHARS = set('*?"<>|')


def _registry() -> Any:
    from .. import registry

    return registry


# --------------------------------------------------------------------------- paths
def check_path_is_path(path: str | Path) -> Path:
    """Return ``path`` as a :class:`pathlib.Path`.

    Parameters
    ----------
    path : str or pathlib.Path

    Raises
    ------
    TypeError
        ``path`` is neither a ``str`` nor a ``Path``.
    """
    if isinstance(path, Path):
        return path
    if isinstance(path, str):
        return Path(path)
    raise TypeError(f"{path!r} is not a string or Path.")


def _prepare_output_directory(folder: str | Path | None, default: str = "output") -> Path:
    """playNano's output-folder rule: empty means ``default``; wildcard characters are refused."""
    text = str(folder).strip() if folder is not None else ""
    out = Path(text or default)
    for part in out.parts:
        if any(ch in _BAD_DIR_CHARS for ch in part):
            raise ValueError(f"Invalid characters in output folder: {str(out)!r}")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    return out


# --------------------------------------------------------------------------- loading
def _load(path: Path, channel: str | None, fmt: str | None = None) -> AFMImageStack:
    reg = _registry()
    try:
        return reg.load(path, channel=channel, format=fmt)
    except ChannelNotFoundError:
        if channel != _PLAYNANO_DEFAULT_CHANNEL:
            raise
        # playNano's default names no channel of this file: use its height channel.
        return reg.load(path, channel="height", format=fmt)


def _driver_loader(driver_name: str) -> Loader:
    """A playNano-style loader ``loader(path, channel="height_trace")`` for one afmio driver."""

    def loader(path: str | Path, channel: str = _PLAYNANO_DEFAULT_CHANNEL) -> AFMImageStack:
        return _load(Path(path), channel, driver_name)

    loader.__name__ = f"load_with_{driver_name.replace('-', '_')}"
    loader.__doc__ = f"Load a path with afmio's {driver_name!r} driver."
    return loader


def load_afm_stack(file_path: str | Path, channel: str = "height_trace") -> AFMImageStack:
    """Load any supported file or folder as an :class:`~afmio.AFMImageStack`.

    Parameters
    ----------
    file_path : str or pathlib.Path
        A file (``.asd``, ``.h5-jpk``, ``.npz``, ``.h5``, ``.ome.tif``...) or a folder
        of frame files (JPK, NanoScope).
    channel : str
        Channel to read, matched without regard to case. playNano's default
        ``"height_trace"`` falls back to the file's height channel (``TP`` for ASD,
        ``Height Sensor`` for NanoScope) when the file has no channel of that name.

    Raises
    ------
    FileNotFoundError
        The path does not exist (:class:`afmio.PathNotFoundError`).
    ValueError
        No driver reads the path, or its content is bad (afmio's error subclasses).
    KeyError
        The channel is not in the file (:class:`afmio.ChannelNotFoundError`); playNano
        raises ``ValueError`` here.

    Notes
    -----
    Where playNano 0.5.0 is wrong, afmio follows the file (see the module notes): JPK
    folders are not flipped twice, NanoScope v5 folders with ``Scan rate`` load, a
    single-frame OME-TIFF loads as one frame.
    """
    path = Path(file_path).resolve()
    return _load(path, channel)


def get_loader_for_file(
    file_path: str | Path,
    file_loaders: Mapping[str, Loader] | None,
    folder_loaders: Mapping[str, Loader] | None,
) -> tuple[str, Loader]:
    """Choose the loader for a file, as playNano does, or with afmio's registry.

    Parameters
    ----------
    file_path : str or pathlib.Path
    file_loaders : mapping of str to callable, or None
        ``{".asd": load_asd, ...}`` as playNano builds it: the joined suffixes
        (``".ome.tif"``) are tried first, then the last suffix. None means afmio's
        registry (extension, then content), which also handles files without a
        known extension.
    folder_loaders : mapping of str to callable, or None
        Extensions of folder formats; a file with one of them is refused, as in
        playNano. Ignored when ``file_loaders`` is None.

    Returns
    -------
    (str, callable)
        The matched extension and ``loader(path, channel="height_trace")``.

    Raises
    ------
    ValueError
        No extension, an unsupported one, or a folder format's single file (mappings);
        no driver reads the file (registry).
    """
    path = Path(file_path)
    if file_loaders is None:
        driver = _registry().resolve(path).driver
        ext = driver.extension_match(path.name) or path.suffix.lower()
        return ext, _driver_loader(driver.name)
    suffixes = [s.lower() for s in path.suffixes]
    if not suffixes:
        raise ValueError(f"{path} has no extension and cannot be identified.")
    joined = "".join(suffixes)
    if joined in file_loaders:
        return joined, file_loaders[joined]
    ext = suffixes[-1]
    if ext in file_loaders:
        return ext, file_loaders[ext]
    if folder_loaders and ext in folder_loaders:
        raise ValueError(
            f"The {ext} file type is typically a single-frame export. "
            "To load HS-AFM video, pass the full folder instead."
        )
    raise ValueError(f"Unsupported file type: {ext}")


def _folder_suffix(name: str) -> str:
    ext = Path(name).suffix.lower()
    return ".spm" if len(ext) == 4 and ext[1:].isdigit() else ext


def get_loader_for_folder(
    folder_path: str | Path, folder_loaders: Mapping[str, Loader] | None
) -> tuple[str, Loader]:
    """Choose the loader for a folder of frame files.

    Parameters
    ----------
    folder_path : str or pathlib.Path
    folder_loaders : mapping of str to callable, or None
        ``{".jpk": ..., ".spm": ...}`` as playNano builds it: files are counted by
        lower-case suffix (``.001``-style NanoScope suffixes count as ``.spm``);
        ``.jpk`` wins when present, else the most common. None means afmio's registry
        (the folder driver whose member patterns match the most files).

    Returns
    -------
    (str, callable)
        The chosen extension and ``loader(path, channel="height_trace")``.

    Raises
    ------
    FileNotFoundError
        No file in the folder has a known suffix.
    """
    folder = Path(folder_path)
    if folder_loaders is None:
        driver = _registry().resolve(folder).driver
        names = [p.name for p in folder.iterdir() if p.is_file() and driver.member_match(p.name)]
        counts = Counter(_folder_suffix(n) for n in names)
        ext = counts.most_common(1)[0][0] if counts else (driver.spec.extensions or ("",))[0]
        return ext, _driver_loader(driver.name)
    counts = Counter(
        ext for p in folder.iterdir() if p.is_file() and (ext := _folder_suffix(p.name)) in folder_loaders
    )
    if not counts:
        raise FileNotFoundError("No supported AFM files found in the folder.")
    chosen = ".jpk" if ".jpk" in counts else max(counts, key=lambda e: counts[e])
    return chosen, folder_loaders[chosen]


def load_npz_bundle(path: str | Path, channel: str = "height_trace") -> AFMImageStack:
    """Load a playNano NPZ bundle (``channel`` is ignored, as in playNano: a bundle has one).

    Unlike playNano (which loads with pickling enabled), nothing in the file is unpickled: afmio decodes
    the pickled string members playNano writes without executing them.
    """
    return _registry().load(Path(path), format="npz")


def load_h5_bundle(path: str | Path, channel: str = "height_trace") -> AFMImageStack:
    """Load a playNano HDF5 bundle (``channel`` is ignored, as in playNano)."""
    return _registry().load(Path(path), format="h5")


def load_ome_tiff_stack(path: str | Path, channel: str = "height_trace") -> AFMImageStack:
    """Load an OME-TIFF (playNano bundle or any OME-TIFF/TIFF stack).

    ``channel`` is ignored: the file's own channel name is kept. A single-frame file
    loads as a one-frame stack (playNano raises ``Unexpected OME-TIFF shape``).
    """
    return _registry().load(Path(path), format="tif")


# --------------------------------------------------------------------------- saving
def _save(stack: AFMImageStack, path: Path, fmt: str, raw: bool, **options: Any) -> Path:
    if not isinstance(stack, AFMImageStack):
        raise TypeError(f"expected an AFMImageStack, got {type(stack).__name__}")
    return _registry().save(stack, path, format=fmt, overwrite=True, raw=raw, **options)


def save_npz_bundle(path: str | Path, stack: AFMImageStack, raw: bool = False) -> None:
    """Write ``stack`` as a playNano NPZ bundle at ``path`` with its suffix set to ``.npz``.

    ``raw=True`` writes the ``processed["raw"]`` snapshot when there is one. The file
    is byte-compatible with playNano's reader; it replaces an existing file.
    """
    _save(stack, check_path_is_path(path).with_suffix(".npz"), "npz", raw)


def save_h5_bundle(path: str | Path, stack: AFMImageStack, raw: bool = False) -> None:
    """Write ``stack`` as a playNano HDF5 bundle at ``path`` with its suffix set to ``.h5``."""
    _save(stack, check_path_is_path(path).with_suffix(".h5"), "h5", raw)


def save_ome_tiff_stack(path: str | Path, afm_stack: AFMImageStack, raw: bool = False) -> None:
    """Write ``afm_stack`` as a playNano OME-TIFF at exactly ``path`` (normally ``*.ome.tif``)."""
    _save(afm_stack, check_path_is_path(path), "tif", raw)


def export_bundles(
    afm_stack: AFMImageStack,
    output_folder: str | Path | None,
    base_name: str | None,
    formats: Sequence[str],
    raw: bool = False,
) -> None:
    """Write ``afm_stack`` in several bundle formats with playNano's names.

    Files are ``<output_folder>/<base>[_filtered].ome.tif``, ``.npz``, ``.h5`` (in that
    order, for the formats asked for). ``_filtered`` is added when the stack has
    processed layers other than ``raw`` and ``raw`` is False. An empty ``base_name``
    means the input file's name; an empty ``output_folder`` means ``output``.

    Parameters
    ----------
    afm_stack : AFMImageStack
    output_folder : str or pathlib.Path or None
    base_name : str or None
    formats : sequence of {"tif", "npz", "h5"}
    raw : bool
        Export the ``processed["raw"]`` snapshot when there is one.

    Raises
    ------
    SystemExit
        A format outside ``{"tif", "npz", "h5"}`` (playNano's documented behaviour:
        an error is logged and the process exits with status 1).
    ValueError
        ``base_name`` or ``output_folder`` contains characters not allowed in names.
    """
    bad = sorted(set(formats) - set(BUNDLE_FORMATS))
    if bad:
        log.error("Unsupported format(s): %s. Choose from %s.", bad, list(BUNDLE_FORMATS))
        sys.exit(1)
    folder = _prepare_output_directory(output_folder)
    ordered = [f for f in BUNDLE_FORMATS if f in formats]
    _registry().export(afm_stack, folder, base_name, ordered, raw=raw, overwrite=True)


# --------------------------------------------------------------------------- GIF
def _valid_timestamps(timestamps: Any, n: int) -> list[float]:
    """playNano's rule: a list/tuple of the right length, else frame indices (per frame too)."""
    if not isinstance(timestamps, (list, tuple)) or len(timestamps) != n:
        if timestamps is not None:
            log.warning("Invalid timestamps provided, will use frame indices as timestamps.")
        return [float(i) for i in range(n)]
    out = []
    for i, t in enumerate(timestamps):
        try:
            out.append(float(t))
        except (TypeError, ValueError):
            out.append(float(i))
    return out


def _gif_options(
    *, cmap: str, zmin: Any, zmax: Any, draw_ts: bool, draw_scale: bool, scale_bar_nm: float, duration_s: float
) -> dict[str, Any]:
    return {
        "cmap": cmap,
        "zmin": zmin,
        "zmax": zmax,
        "draw_ts": draw_ts,
        "draw_scale": draw_scale,
        "scale_bar_nm": scale_bar_nm,
        "duration": float(duration_s) * 1000.0,  # the gif writer takes ms per frame
    }


def create_gif_with_scale_and_timestamp(
    image_stack: np.ndarray,
    pixel_size_nm: float,
    timestamps: Sequence[float] | None = None,
    scale_bar_length_nm: float = 100,
    output_path: str | Path = "output",
    duration: float = 0.5,
    cmap_name: str = "afmhot",
    zmin: float | str | None = None,
    zmax: float | str | None = None,
    draw_ts: bool = True,
    draw_scale: bool = True,
) -> None:
    """Write an annotated animated GIF of a ``(n_frames, height, width)`` array.

    Parameters
    ----------
    image_stack : numpy.ndarray
        Frames, ``(N, H, W)`` (a single 2-D frame is accepted too).
    pixel_size_nm : float
        nm per pixel, for the scale bar.
    timestamps : sequence of float, optional
        Seconds per frame, drawn as ``"1.23 s"``; None or a sequence of the wrong length
        draws frame indices (as playNano).
    scale_bar_length_nm : float
        Scale bar length; 0 hides it.
    output_path : str or pathlib.Path
        The GIF file, written exactly there (overwriting), as playNano does.
    duration : float
        Seconds each frame is shown. (playNano passes ``duration * 500`` ms to Pillow,
        showing frames for half the time asked; afmio shows them for ``duration``.)
    cmap_name : str
        Any matplotlib colormap name.
    zmin, zmax : float, "auto" or None
        Both None: each frame is scaled to its own min..max. Otherwise one range for
        the whole stack; ``"auto"`` is the 1st / 99th percentile, None the min / max.
    draw_ts, draw_scale : bool
        Draw the timestamp (top left) and the scale bar (bottom left).

    Raises
    ------
    ValueError
        A bad ``zmin``/``zmax`` (not a number, ``"auto"`` or None; ``zmin > zmax``).
    """
    data = np.asarray(image_stack)
    if data.ndim == 2:
        data = data[np.newaxis]
    times = _valid_timestamps(timestamps, data.shape[0])
    meta = [{"timestamp": t, "frame_pixel_size_nm": float(pixel_size_nm)} for t in times]
    stack = AFMImageStack(data, float(pixel_size_nm), "height_trace", None, meta)
    options = _gif_options(cmap=cmap_name, zmin=zmin, zmax=zmax, draw_ts=draw_ts, draw_scale=draw_scale,
                           scale_bar_nm=scale_bar_length_nm, duration_s=duration)
    _registry().save(stack, Path(output_path), format="gif", overwrite=True, **options)


def export_gif(
    afm_stack: AFMImageStack,
    make_gif: bool,
    output_folder: str | Path | None,
    output_name: str | None,
    scale_bar_nm: float | None,
    raw: bool = False,
    zmin: float | str | None = None,
    zmax: float | str | None = None,
    draw_ts: bool = True,
    draw_scale: bool = True,
) -> None:
    """Write ``<output_folder>/<name>[_filtered].gif`` for a stack, as playNano's ``export_gif``.

    Parameters
    ----------
    afm_stack : AFMImageStack
    make_gif : bool
        False returns at once (playNano's switch).
    output_folder : str or pathlib.Path or None
        None or empty means ``output``.
    output_name : str or None
        Base name; None means the input file's name.
    scale_bar_nm : float or None
        None means 100 nm; 0 hides the bar.
    raw : bool
        Render the ``processed["raw"]`` snapshot (with the frame times saved before
        any frame was dropped) when there is one.
    zmin, zmax : float, "auto" or None
        Colour range, as :func:`create_gif_with_scale_and_timestamp`.
    draw_ts, draw_scale : bool
        Draw the timestamp and the scale bar.

    Notes
    -----
    ``_filtered`` follows playNano's GIF rule: added when the stack has a ``raw``
    snapshot and other processed layers, and ``raw`` is False.
    """
    if not make_gif:
        return
    from ..naming import sanitize_output_name

    folder = _prepare_output_directory(output_folder)
    default = Path(str(afm_stack.file_path)).stem if afm_stack.file_path else "playnano_export"
    base = sanitize_output_name(output_name, default)
    processed = afm_stack.processed
    if not raw and "raw" in processed and any(k != "raw" for k in processed):
        base += "_filtered"
    options = _gif_options(cmap="afmhot", zmin=zmin, zmax=zmax, draw_ts=draw_ts, draw_scale=draw_scale,
                           scale_bar_nm=100 if scale_bar_nm is None else scale_bar_nm, duration_s=0.5)
    _registry().save(afm_stack, folder / f"{base}.gif", format="gif", overwrite=True, raw=raw, **options)
