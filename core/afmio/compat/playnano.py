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
  The first JPK folder loaded through this module says so once
  (:class:`OrientationWarning`).
* **NanoScope v5 folders** that spell the header key ``Scan rate`` (lower case) load;
  playNano fails with ``Missing data: line_rate=None``.
* **Single-frame OME-TIFF** exports load as a one-frame stack; playNano's loader sees a
  2-D array and raises ``Unexpected OME-TIFF shape``.
* **Channel names**: playNano's default ``channel="height_trace"`` fails for ASD (``TP``),
  NanoScope (``Height Sensor``) and ARIS (``HeightTrace``) files; here, when a file has no
  ``height_trace`` channel, that default means the file's height channel.
* **Single files of folder formats** (one ``.jpk``, one ``.spm``/``.001``) load as a
  one-frame stack instead of raising "typically a single-frame export".
* **ARIS heights** are in nm, as the other formats: playNano returns an ``.aris`` file's
  stored values unconverted (SI metres, labelled nm). Channel names, per-frame pixel
  sizes and timestamps are playNano's; see :mod:`afmio_builtins.aris` for the rest.
* **GIF functions** take playNano 0.5.0's arguments (``cmap_name`` sixth in
  ``export_gif``, ``fps``, ``font_scale``, ``afm_brown`` by default) and the older
  documented ones (``raw`` sixth, ``duration``); see each function. With the older
  ``duration``, frames are shown for ``duration`` seconds (that release passed
  ``duration * 500`` ms to Pillow, half the time asked).

* **Videos and image sequences** (``export_video``, ``create_video_with_scale_and_timestamp``,
  ``export_image_sequence``, ``create_image_sequence``) take playNano 0.5.0's arguments and
  are drawn by afmio's renderer; playNano needs OpenCV for videos, afmio writes them with
  PyAV (``afmio[video]``): mp4, mov and mkv hold H.264, avi MPEG-4.
"""

from __future__ import annotations

import inspect
import logging
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ChannelNotFoundError
from ..stack import AFMImageStack

__all__ = [
    "OrientationWarning",
    "check_path_is_path",
    "create_gif_with_scale_and_timestamp",
    "create_image_sequence",
    "create_video_with_scale_and_timestamp",
    "export_bundles",
    "export_gif",
    "export_image_sequence",
    "export_video",
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
class OrientationWarning(UserWarning):
    """afmio orients these frames differently from playNano 0.5.0, on purpose."""


#: Drivers whose frames playNano 0.5.0 orients differently (it flips JPK folder frames twice).
_FLIPPED_BY_PLAYNANO = frozenset({"jpk"})
_orientation_warned = False

JPK_ORIENTATION_NOTE = (
    "afmio orients JPK frames like Gwyddion (top scan line at row 0); playNano 0.5.0 flips JPK "
    "folder frames twice, so its frames are upside down next to these. See 'Where afmio differs "
    "on purpose' (JPK folder orientation) in the guide 'Migrating from playNano'. "
    "This is said once per session."
)


def _warn_orientation_once(stack: AFMImageStack) -> None:
    global _orientation_warned
    driver = (stack.provenance.get("source") or {}).get("driver")
    if driver in _FLIPPED_BY_PLAYNANO and not _orientation_warned:
        _orientation_warned = True
        warnings.warn(JPK_ORIENTATION_NOTE, OrientationWarning, stacklevel=4)


def _load(path: Path, channel: str | None, fmt: str | None = None) -> AFMImageStack:
    reg = _registry()
    try:
        stack = reg.load(path, channel=channel, format=fmt)
    except ChannelNotFoundError:
        if channel != _PLAYNANO_DEFAULT_CHANNEL:
            raise
        # playNano's default names no channel of this file: use its height channel.
        stack = reg.load(path, channel="height", format=fmt)
    _warn_orientation_once(stack)
    return stack


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
        A file (``.asd``, ``.aris``, ``.h5-jpk``, ``.npz``, ``.h5``, ``.ome.tif``...) or a folder
        of frame files (JPK, NanoScope).
    channel : str
        Channel to read, matched without regard to case. playNano's default
        ``"height_trace"`` falls back to the file's height channel (``TP`` for ASD,
        ``Height Sensor`` for NanoScope, ``HeightTrace`` for ARIS) when the file has no
        channel of that name.

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
    single-frame OME-TIFF loads as one frame, ARIS heights are converted to nm.
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
#: playNano 0.5.0's GIF text size (``font_scale``); afmio's ``font_scale=1`` draws that size.
RELEASED_FONT_SCALE = 2.0
#: The older documented ``export_gif``'s fixed colour map and seconds per frame.
DOCUMENTED_GIF_CMAP = "afmhot"
DOCUMENTED_GIF_DURATION_S = 0.5


def _create_gif_released(image_stack, pixel_sizes_nm, timestamps=None, scale_bar_length_nm=100,  # type: ignore[no-untyped-def]
                         output_path="output", fps=5.0, cmap_name="afm_brown", zmin=None, zmax=None,
                         draw_ts=True, draw_scale=True, font_scale=2.0):
    """playNano 0.5.0's ``create_gif_with_scale_and_timestamp`` parameters (binding only)."""


def _create_gif_documented(image_stack, pixel_size_nm, timestamps=None, scale_bar_length_nm=100,  # type: ignore[no-untyped-def]
                           output_path="output", duration=0.5, cmap_name="afmhot", zmin=None, zmax=None,
                           draw_ts=True, draw_scale=True):
    """The older documented ``create_gif_with_scale_and_timestamp`` parameters (binding only)."""


def _export_gif_released(afm_stack, make_gif, output_folder, output_name, scale_bar_nm,  # type: ignore[no-untyped-def]
                         cmap_name="afm_brown", raw=False, fps=5.0, zmin=None, zmax=None, draw_ts=True,
                         draw_scale=True, font_scale=2.0):
    """playNano 0.5.0's ``export_gif`` parameters (binding only)."""


def _export_gif_documented(afm_stack, make_gif, output_folder, output_name, scale_bar_nm,  # type: ignore[no-untyped-def]
                           raw=False, zmin=None, zmax=None, draw_ts=True, draw_scale=True):
    """The older documented ``export_gif`` parameters (binding only)."""


def _bind(
    name: str,
    released: Callable[..., Any],
    documented: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    released_hint: bool,
) -> tuple[bool, dict[str, Any]]:
    """Bind a call to playNano 0.5.0's parameters or the older documented ones.

    A keyword only one spelling has decides; otherwise ``released_hint`` (what the
    positional arguments suggest). Returns ``(is_released, arguments with defaults)``.
    """
    released_params = set(inspect.signature(released).parameters)
    documented_params = set(inspect.signature(documented).parameters)
    only_released = sorted(set(kwargs) & (released_params - documented_params))
    only_documented = sorted(set(kwargs) & (documented_params - released_params))
    if only_released and only_documented:
        raise TypeError(
            f"{name}() mixes playNano 0.5.0's {', '.join(only_released)} with the older "
            f"{', '.join(only_documented)}; use one or the other"
        )
    is_released = bool(only_released) or (released_hint and not only_documented)
    target = released if is_released else documented
    try:
        bound = inspect.signature(target).bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{name}(): {exc}") from None
    bound.apply_defaults()
    return is_released, dict(bound.arguments)


def _frame_delay_s(fps: Any) -> float:
    """playNano 0.5.0's delay: ``1 / fps`` seconds, or half a second when ``fps`` is not positive."""
    rate = float(fps)
    return 1.0 / rate if rate > 0 else 0.5


def _afmio_font_scale(playnano_font_scale: Any) -> float:
    """afmio's ``font_scale`` 1 draws playNano's default (2.0) text size."""
    return float(playnano_font_scale) / RELEASED_FONT_SCALE


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


def _frame_pixel_sizes(pixel_sizes: Any, n: int) -> list[float] | None:
    """One pixel size per frame from a number or a per-frame sequence; None when unusable."""
    if isinstance(pixel_sizes, (int, float, np.integer, np.floating)) and not isinstance(pixel_sizes, bool):
        return [float(pixel_sizes)] * n
    try:
        values = [float(v) for v in pixel_sizes]
    except (TypeError, ValueError):
        return None
    return values if len(values) == n and all(v > 0 for v in values) else None


def _gif_options(
    *, cmap: str, zmin: Any, zmax: Any, draw_ts: bool, draw_scale: bool, scale_bar_nm: float, delay_s: float,
    font_scale: float = 1.0,
) -> dict[str, Any]:
    return {
        "cmap": cmap,
        "zmin": zmin,
        "zmax": zmax,
        "draw_ts": draw_ts,
        "draw_scale": draw_scale,
        "scale_bar_nm": scale_bar_nm,
        "font_scale": font_scale,
        "duration": float(delay_s) * 1000.0,  # the gif writer takes ms per frame
    }


def create_gif_with_scale_and_timestamp(image_stack: np.ndarray, *args: Any, **kwargs: Any) -> None:
    """Write an annotated animated GIF of a ``(n_frames, height, width)`` array.

    Both spellings of this function are accepted:

    * playNano 0.5.0's: ``(image_stack, pixel_sizes_nm, timestamps=None,
      scale_bar_length_nm=100, output_path="output", fps=5.0, cmap_name="afm_brown",
      zmin=None, zmax=None, draw_ts=True, draw_scale=True, font_scale=2.0)``;
    * the older documented one: ``(image_stack, pixel_size_nm, timestamps=None,
      scale_bar_length_nm=100, output_path="output", duration=0.5, cmap_name="afmhot",
      zmin=None, zmax=None, draw_ts=True, draw_scale=True)``.

    The keywords ``fps``, ``font_scale`` or ``pixel_sizes_nm``, or a per-frame list as
    the second argument, select 0.5.0's spelling and its defaults (so a sixth
    positional argument is ``fps``); otherwise the older one applies (a sixth
    positional argument is ``duration``).

    Parameters
    ----------
    image_stack : numpy.ndarray
        Frames, ``(N, H, W)`` (a single 2-D frame is accepted too).
    pixel_sizes_nm, pixel_size_nm : list of float or float
        nm per pixel, for the scale bar: one per frame or one for all. A list of the
        wrong length draws no scale bar, with a warning (as playNano 0.5.0).
    timestamps : sequence of float, optional
        Seconds per frame, drawn as ``"1.23 s"``; None or a sequence of the wrong length
        draws frame indices (as playNano).
    scale_bar_length_nm : float
        Scale bar length; 0 hides it.
    output_path : str or pathlib.Path
        The GIF file, written exactly there (overwriting), as playNano does.
    fps : float
        Frames per second (0.5.0); not positive means half a second per frame, as 0.5.0.
    duration : float
        Seconds each frame is shown (older spelling). (That playNano passed
        ``duration * 500`` ms to Pillow, showing frames for half the time asked; afmio
        shows them for ``duration``.)
    cmap_name : str
        ``"afm_brown"`` (playNano's map) or any matplotlib colormap name.
    zmin, zmax : float, "auto" or None
        Both None: each frame is scaled to its own min..max. Otherwise one range for
        the whole stack; ``"auto"`` is the 1st / 99th percentile, None the min / max.
    draw_ts, draw_scale : bool
        Draw the timestamp (top left) and the scale bar (bottom left).
    font_scale : float
        playNano's text size factor (2.0 is its default size).

    Raises
    ------
    ValueError
        A bad ``zmin``/``zmax`` (not a number, ``"auto"`` or None; ``zmin > zmax``).
    TypeError
        Arguments that fit neither spelling, or a mix of both.
    """
    released_hint = bool(args) and isinstance(args[0], (list, tuple, np.ndarray))
    released, a = _bind("create_gif_with_scale_and_timestamp", _create_gif_released, _create_gif_documented,
                        (image_stack, *args), kwargs, released_hint)
    data = np.asarray(a["image_stack"])
    if data.ndim == 2:
        data = data[np.newaxis]
    n = data.shape[0]
    sizes = _frame_pixel_sizes(a["pixel_sizes_nm"] if released else a["pixel_size_nm"], n)
    draw_scale = bool(a["draw_scale"])
    if sizes is None:
        log.warning("Invalid pixel_sizes_nm list; scale bar will be omitted.")
        sizes, draw_scale = [1.0] * n, False
    times = _valid_timestamps(a["timestamps"], n)
    meta = [{"timestamp": t, "frame_pixel_size_nm": px} for t, px in zip(times, sizes)]
    stack = AFMImageStack(data, sizes[0], "height_trace", None, meta)
    options = _gif_options(
        cmap=a["cmap_name"], zmin=a["zmin"], zmax=a["zmax"], draw_ts=a["draw_ts"], draw_scale=draw_scale,
        scale_bar_nm=a["scale_bar_length_nm"],
        delay_s=_frame_delay_s(a["fps"]) if released else float(a["duration"]),
        font_scale=_afmio_font_scale(a["font_scale"]) if released else 1.0,
    )
    _registry().save(stack, Path(a["output_path"]), format="gif", overwrite=True, **options)


def export_gif(
    afm_stack: AFMImageStack,
    make_gif: bool,
    output_folder: str | Path | None,
    output_name: str | None,
    scale_bar_nm: float | None,
    *args: Any,
    **kwargs: Any,
) -> None:
    """Write ``<output_folder>/<name>[_filtered].gif`` for a stack, as playNano's ``export_gif``.

    Both spellings are accepted:

    * playNano 0.5.0's: ``(afm_stack, make_gif, output_folder, output_name, scale_bar_nm,
      cmap_name="afm_brown", raw=False, fps=5.0, zmin=None, zmax=None, draw_ts=True,
      draw_scale=True, font_scale=2.0)``;
    * the older documented one: ``(afm_stack, make_gif, output_folder, output_name,
      scale_bar_nm, raw=False, zmin=None, zmax=None, draw_ts=True, draw_scale=True)``,
      drawn with afmhot at half a second per frame.

    A string in sixth place is a colour map (0.5.0), a bool is ``raw`` (older); the
    keywords ``cmap_name``, ``fps`` or ``font_scale`` select 0.5.0's spelling and its
    defaults.

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
    cmap_name : str
        ``"afm_brown"`` (playNano's map) or any matplotlib colormap name.
    raw : bool
        Render the ``processed["raw"]`` snapshot (with the frame times saved before
        any frame was dropped) when there is one.
    fps : float
        Frames per second; not positive means half a second per frame, as 0.5.0.
    zmin, zmax : float, "auto" or None
        Colour range, as :func:`create_gif_with_scale_and_timestamp`.
    draw_ts, draw_scale : bool
        Draw the timestamp and the scale bar.
    font_scale : float
        playNano's text size factor (2.0 is its default size).

    Notes
    -----
    ``_filtered`` follows playNano's GIF rule: added when the stack has a ``raw``
    snapshot and other processed layers, and ``raw`` is False.
    """
    released_hint = bool(args) and isinstance(args[0], str)
    released, a = _bind("export_gif", _export_gif_released, _export_gif_documented,
                        (afm_stack, make_gif, output_folder, output_name, scale_bar_nm, *args), kwargs,
                        released_hint)
    if not a["make_gif"]:
        return
    from ..naming import sanitize_output_name

    stack = a["afm_stack"]
    folder = _prepare_output_directory(a["output_folder"])
    default = Path(str(stack.file_path)).stem if stack.file_path else "playnano_export"
    base = sanitize_output_name(a["output_name"], default)
    raw = bool(a["raw"])
    processed = stack.processed
    if not raw and "raw" in processed and any(k != "raw" for k in processed):
        base += "_filtered"
    bar = a["scale_bar_nm"]
    options = _gif_options(
        cmap=a["cmap_name"] if released else DOCUMENTED_GIF_CMAP,
        zmin=a["zmin"], zmax=a["zmax"], draw_ts=a["draw_ts"], draw_scale=a["draw_scale"],
        scale_bar_nm=100 if bar is None else bar,
        delay_s=_frame_delay_s(a["fps"]) if released else DOCUMENTED_GIF_DURATION_S,
        font_scale=_afmio_font_scale(a["font_scale"]) if released else 1.0,
    )
    _registry().save(stack, folder / f"{base}.gif", format="gif", overwrite=True, raw=raw, **options)


# --------------------------------------------------------------------------- videos and image sequences
#: playNano 0.5.0's video containers and picture formats (``"jpeg"`` is written as ``.jpg``).
VIDEO_FORMATS = ("mp4", "avi", "mov", "mkv")
IMAGE_FORMATS = ("png", "jpg", "jpeg")


def _array_stack(image_stack: Any, pixel_sizes_nm: Any, timestamps: Any) -> tuple[AFMImageStack, bool]:
    """A stack of a ``(N, H, W)`` array with playNano's per-frame pixel sizes and times.

    Returns the stack and whether the pixel sizes were usable (else no scale bar).
    """
    data = np.asarray(image_stack)
    if data.ndim == 2:
        data = data[np.newaxis]
    n = data.shape[0]
    sizes = _frame_pixel_sizes(pixel_sizes_nm, n)
    usable = sizes is not None
    if sizes is None:
        log.warning("Invalid pixel_sizes_nm list; scale bar will be omitted.")
        sizes = [1.0] * n
    times = _valid_timestamps(timestamps, n)
    meta = [{"timestamp": t, "frame_pixel_size_nm": px} for t, px in zip(times, sizes)]
    return AFMImageStack(data, sizes[0], "height_trace", None, meta), usable


def _picture_options(
    *, cmap_name: str, zmin: Any, zmax: Any, draw_ts: bool, draw_scale: bool, scale_bar_nm: float | None,
    font_scale: float,
) -> dict[str, Any]:
    return {
        "cmap": cmap_name,
        "zmin": zmin,
        "zmax": zmax,
        "draw_ts": draw_ts,
        "draw_scale": draw_scale,
        "scale_bar_nm": 100 if scale_bar_nm is None else scale_bar_nm,
        "font_scale": _afmio_font_scale(font_scale),
    }


def _checked(fmt: str, allowed: tuple[str, ...], what: str) -> str:
    value = str(fmt).lower().lstrip(".")
    if value not in allowed:
        raise ValueError(f"Unsupported {what} format '{fmt}'. Choose from {set(allowed)}.")
    return "jpg" if value == "jpeg" else value


def _export_base(afm_stack: AFMImageStack, output_name: str | None, raw: bool) -> str:
    """playNano's export stem: the output name (or the file's stem), ``_filtered`` when processed."""
    from ..naming import sanitize_output_name

    default = Path(str(afm_stack.file_path)).stem if afm_stack.file_path else "playnano_export"
    base = sanitize_output_name(output_name, default)
    processed = afm_stack.processed
    if not raw and "raw" in processed and any(k != "raw" for k in processed):
        base += "_filtered"
    return base


def create_video_with_scale_and_timestamp(
    image_stack: np.ndarray,
    pixel_sizes_nm: list[float],
    timestamps: Sequence[float] | None = None,
    scale_bar_length_nm: float = 100,
    output_path: str | Path = "output.mp4",
    fps: float = 5.0,
    cmap_name: str = "afm_brown",
    zmin: float | str | None = None,
    zmax: float | str | None = None,
    draw_ts: bool = True,
    draw_scale: bool = True,
    font_scale: float = 2.0,
) -> None:
    """Write an annotated video of a ``(n_frames, height, width)`` array (playNano 0.5.0's signature).

    The container follows ``output_path``'s extension (``.mp4``, ``.avi``, ``.mov``,
    ``.mkv``; afmio also writes ``.webm``). ``pixel_sizes_nm`` is one value per frame (a
    list of another length draws no scale bar, with a warning); ``timestamps`` of the
    wrong length draw frame indices; ``fps`` frames per second; ``cmap_name``
    ``"afm_brown"`` (playNano's map) or any matplotlib name; ``zmin``/``zmax`` as for the
    GIF; ``font_scale`` playNano's text size factor (2.0 its default size). Written
    exactly at ``output_path`` (overwriting), as playNano does.
    """
    stack, usable = _array_stack(image_stack, pixel_sizes_nm, timestamps)
    options = _picture_options(cmap_name=cmap_name, zmin=zmin, zmax=zmax, draw_ts=draw_ts,
                               draw_scale=draw_scale and usable, scale_bar_nm=scale_bar_length_nm,
                               font_scale=font_scale)
    _registry().save(stack, Path(output_path), overwrite=True, fps=float(fps) if fps > 0 else 2.0, **options)


def export_video(
    afm_stack: AFMImageStack,
    make_video: bool,
    output_folder: str | Path | None,
    output_name: str | None,
    scale_bar_nm: float | None,
    fmt: str = "mp4",
    fps: float = 5.0,
    raw: bool = False,
    zmin: float | str | None = None,
    zmax: float | str | None = None,
    draw_ts: bool = True,
    draw_scale: bool = True,
    cmap_name: str = "afm_brown",
    font_scale: float = 2.0,
) -> None:
    """Write ``<output_folder>/<name>[_filtered].<fmt>`` for a stack, as playNano 0.5.0's ``export_video``.

    ``make_video`` False returns at once; ``output_folder`` None means ``output``;
    ``output_name`` None the input file's name; ``scale_bar_nm`` None means 100 nm;
    ``fmt`` one of mp4, avi, mov, mkv; ``raw`` renders the raw snapshot with the frame
    times saved before any frame was dropped. ``_filtered`` is added as playNano adds it.
    """
    if not make_video:
        return
    ext = _checked(fmt, VIDEO_FORMATS, "video")
    folder = _prepare_output_directory(output_folder)
    base = _export_base(afm_stack, output_name, raw)
    options = _picture_options(cmap_name=cmap_name, zmin=zmin, zmax=zmax, draw_ts=draw_ts, draw_scale=draw_scale,
                               scale_bar_nm=scale_bar_nm, font_scale=font_scale)
    _registry().save(afm_stack, folder / f"{base}.{ext}", overwrite=True, raw=raw,
                     fps=float(fps) if fps > 0 else 2.0, **options)


def create_image_sequence(
    image_stack: np.ndarray,
    pixel_sizes_nm: list[float],
    timestamps: Sequence[float] | None = None,
    scale_bar_length_nm: float = 100,
    output_folder: str | Path = "output_frames",
    base_name: str = "frame",
    fmt: str = "png",
    cmap_name: str = "afm_brown",
    zmin: float | str | None = None,
    zmax: float | str | None = None,
    draw_ts: bool = True,
    draw_scale: bool = True,
    font_scale: float = 2.0,
) -> Path:
    """Write every frame as ``<output_folder>/<base_name>_NNNN.<fmt>`` (playNano 0.5.0's signature).

    ``fmt`` is ``"png"``, ``"jpg"`` or ``"jpeg"`` (written ``.jpg``, quality 90 as
    playNano); the other arguments as for :func:`create_video_with_scale_and_timestamp`.
    An existing folder of that name is replaced, as playNano overwrites its frames.

    Returns
    -------
    pathlib.Path
        The folder the images were written to.
    """
    ext = _checked(fmt, IMAGE_FORMATS, "image")
    stack, usable = _array_stack(image_stack, pixel_sizes_nm, timestamps)
    options = _picture_options(cmap_name=cmap_name, zmin=zmin, zmax=zmax, draw_ts=draw_ts,
                               draw_scale=draw_scale and usable, scale_bar_nm=scale_bar_length_nm,
                               font_scale=font_scale)
    folder = Path(output_folder)
    return _registry().save(stack, folder, format=ext, overwrite=True, prefix=base_name, **options)


def export_image_sequence(
    afm_stack: AFMImageStack,
    make_sequence: bool,
    output_folder: str | Path | None,
    output_name: str | None,
    scale_bar_nm: float | None,
    fmt: str = "png",
    raw: bool = False,
    zmin: float | str | None = None,
    zmax: float | str | None = None,
    draw_ts: bool = True,
    draw_scale: bool = True,
    cmap_name: str = "afm_brown",
    font_scale: float = 2.0,
) -> None:
    """Write ``<output_folder>/<name>[_filtered]/<name>[_filtered]_NNNN.<fmt>``, as playNano 0.5.0's
    ``export_image_sequence`` (arguments as :func:`export_video`; ``fmt`` png, jpg or jpeg)."""
    if not make_sequence:
        return
    ext = _checked(fmt, IMAGE_FORMATS, "image")
    root = _prepare_output_directory(output_folder)
    base = _export_base(afm_stack, output_name, raw)
    options = _picture_options(cmap_name=cmap_name, zmin=zmin, zmax=zmax, draw_ts=draw_ts, draw_scale=draw_scale,
                               scale_bar_nm=scale_bar_nm, font_scale=font_scale)
    _registry().save(afm_stack, root / base, format=ext, overwrite=True, raw=raw, prefix=base, **options)
