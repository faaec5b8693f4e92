"""The shared picture renderer behind the GIF, MP4, PNG-sequence and preview outputs.

One pipeline, vectorised over the stack:

1. **Normalise** to colour indices 0..254 (:func:`z_range`, :func:`normalize`):
   per frame (each frame's own finite min..max) unless ``zmin`` or ``zmax`` is
   given, then one global range for the whole stack. ``"auto"`` is the 1st / 99th
   percentile of the finite values of the whole stack; ``None`` (next to a given
   bound) is the stack's finite min / max. NaN and -inf get the lowest colour, +inf
   the highest.
2. **Colourise** through a 256-entry palette taken once from matplotlib
   (:func:`palette`): entries 0..254 sample the colormap evenly from 0 to 1, entry
   255 is white and is reserved for the annotations. Reserving it lets GIF and PNG
   frames be written as palette images with the exact colours, without any
   per-frame quantisation.
3. **Upscale** (never shrink) with Pillow's bicubic filter to at least
   ``min_height`` (512) pixels high, correcting non-square pixels so one nanometre
   is as long across as down.
4. **Annotate** in white: the time stamp ``"%.2f s"`` top-left (not on a single
   image, unless ``timestamps`` are given) and a scale bar with
   its length bottom-left, sized relative to the output height ``h``
   (``a = h / 512``): ``margin = max(2, round(10 a))``, bar thickness
   ``max(1, round(5 a))``, the bar's bottom edge ``margin`` pixels above the image
   bottom, its left end at ``x = margin``, its length
   ``round(bar_nm / frame_pixel_size_nm * output_width / input_width)`` pixels, and
   the label's ink ``max(1, round(4 a))`` pixels above the bar. Text is
   ``round(30 a * font_scale)`` pixels (at least 8). The ink gets a thin outline
   (``max(1, round(2 a))`` px) in the colormap's darkest colour so it stays legible
   on bright areas (``outline=False`` drops it). Palette outputs (GIF, PNG) draw
   text without anti-aliasing; RGB outputs (MP4, preview) blend it.

Scale bar length: when not given, the round length (1, 2 or 5 x 10^n nm) nearest a
fifth of the frame width; a requested length that does not fit between the margins
is shortened to the largest round length that does, with a :class:`RenderWarning`.
``scale_bar_nm=0`` draws no bar.

matplotlib and Pillow are imported inside the functions that need them.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from afmio.errors import OptionError

from .levelling import levelled

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from afmio.stack import AFMImageStack

__all__ = [
    "ANNOTATION_INDEX",
    "DEFAULT_CMAP",
    "MAX_UPSCALED_WIDTH",
    "N_LEVELS",
    "RENDER_OPTION_NAMES",
    "Layout",
    "Overlay",
    "RenderOptions",
    "RenderWarning",
    "Renderer",
    "drawable",
    "format_length",
    "nice_length",
    "normalize",
    "palette",
    "takes_render_options",
    "text_ink",
    "z_range",
]

#: Default colormap (playNano's documented default).
DEFAULT_CMAP = "afmhot"
#: Colour levels the data is quantised to (indices 0..N_LEVELS-1).
N_LEVELS = 255
#: Palette index reserved for annotations (white).
ANNOTATION_INDEX = 255
#: Upscaling never makes a frame wider than this (or than it already is).
MAX_UPSCALED_WIDTH = 4096
_WHITE = (255, 255, 255)
_ROUND_MANTISSAS = (1.0, 2.0, 5.0)

ZBound = float | int | str | None


class RenderWarning(UserWarning):
    """Something asked of the renderer was adjusted (scale bar shortened, timestamps ignored)."""


# ---------------------------------------------------------------------- colours
@functools.lru_cache(maxsize=32)
def _palette_for_name(name: str) -> np.ndarray:
    import matplotlib

    from . import colormaps

    cmap = colormaps.get(name)
    if cmap is None:
        try:
            cmap = matplotlib.colormaps[name]
        except KeyError:
            known = [*colormaps.NAMES, *matplotlib.colormaps]
            raise OptionError(_unknown_cmap_message(name, known)) from None
    return _palette_from_cmap(cmap)


def _palette_from_cmap(cmap: Any) -> np.ndarray:
    samples = np.asarray(cmap(np.linspace(0.0, 1.0, N_LEVELS)))[:, :3]
    out = np.empty((256, 3), np.uint8)
    out[:N_LEVELS] = np.clip(np.rint(samples * 255.0), 0, 255).astype(np.uint8)
    out[ANNOTATION_INDEX] = _WHITE
    out.setflags(write=False)
    return out


def _unknown_cmap_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    common: list[str] = [c for c in ("afmhot", "gray", "viridis", "inferno", "magma", "cividis") if c in known]
    suggestions = list(dict.fromkeys(close + common))[:8]
    return (
        f"unknown colormap {name!r}; any of {len(known)} names works (matplotlib's and playNano's "
        "afm_brown), "
        f"e.g. {', '.join(suggestions)}"
    )


def palette(cmap: Any = DEFAULT_CMAP) -> np.ndarray:
    """Return the 256 x 3 uint8 palette for a colormap.

    Parameters
    ----------
    cmap : str or matplotlib.colors.Colormap
        A matplotlib colormap name (``"afmhot"``, ``"viridis"``...), playNano's
        ``"afm_brown"`` (:mod:`.colormaps`), or a colormap object.

    Returns
    -------
    numpy.ndarray
        Read-only ``(256, 3)`` uint8: rows 0..254 sample the colormap at
        ``i / 254``; row 255 is white (annotations).

    Raises
    ------
    ValueError
        Unknown colormap name; the message lists a few valid ones.
    """
    if isinstance(cmap, str):
        return _palette_for_name(cmap)
    if callable(cmap):
        return _palette_from_cmap(cmap)
    raise OptionError(f"cmap must be a colormap name or a matplotlib colormap, not {type(cmap).__name__}")


# ---------------------------------------------------------------------- value range
def _bound(value: ZBound, name: str) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        try:
            return float(text)
        except ValueError:
            pass
    elif (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    ):
        return float(value)
    raise OptionError(f"{name} must be a finite number, 'auto', or None; got {value!r}")


def z_range(data: np.ndarray, zmin: ZBound = None, zmax: ZBound = None) -> tuple[float, float] | None:
    """Return the global ``(lo, hi)`` normalisation range, or None for per-frame.

    Parameters
    ----------
    data : numpy.ndarray
        The whole stack; only finite values count.
    zmin, zmax : float, "auto" or None
        A number is used as is; ``"auto"`` is the 1st (zmin) / 99th (zmax)
        percentile (numpy's linear interpolation); ``None`` is the finite minimum
        / maximum. When both are None the result is None (normalise per frame).

    Raises
    ------
    ValueError
        A bound is neither a number, ``"auto"`` nor None, or ``zmin >= zmax`` when
        a bound was given as a number.
    """
    lo_req, hi_req = _bound(zmin, "zmin"), _bound(zmax, "zmax")
    if lo_req is None and hi_req is None:
        return None
    need_data = not (isinstance(lo_req, float) and isinstance(hi_req, float))
    lo = lo_req if isinstance(lo_req, float) else None
    hi = hi_req if isinstance(hi_req, float) else None
    if need_data:
        arr = np.asarray(data)
        finite = np.isfinite(arr)
        values = arr if finite.all() else arr[finite]
        if values.size == 0:
            lo = 0.0 if lo is None else lo
            hi = lo if hi is None else hi
        else:
            if lo_req == "auto" and hi_req == "auto":
                p1, p99 = np.percentile(values, [1, 99])
                lo, hi = float(p1), float(p99)
            else:
                if lo_req == "auto":
                    lo = float(np.percentile(values, 1))
                elif lo_req is None:
                    lo = float(values.min())
                if hi_req == "auto":
                    hi = float(np.percentile(values, 99))
                elif hi_req is None:
                    hi = float(values.max())
    assert lo is not None and hi is not None
    explicit = isinstance(lo_req, float) or isinstance(hi_req, float)
    if explicit and lo >= hi:
        raise OptionError(f"zmin ({lo:g}) must be less than zmax ({hi:g})")
    return lo, hi


def normalize(frames: np.ndarray, rng: tuple[float, float] | None = None) -> np.ndarray:
    """Map values to colour indices 0..254 (uint8), rounding to the nearest level.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(n, h, w)`` values (or one ``(h, w)`` frame).
    rng : (float, float) or None
        Global ``(lo, hi)``; None normalises each frame to its own finite min..max.
        A flat range (``lo == hi``) gives index 0.

    Returns
    -------
    numpy.ndarray
        uint8 indices of the same shape. NaN and -inf map to 0, +inf to 254.
    """
    arr = np.asarray(frames)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    single = arr.ndim == 2
    if single:
        arr = arr[np.newaxis]
    work_dtype = np.float64 if arr.dtype == np.float64 else np.float32
    top = float(N_LEVELS - 1)
    if rng is not None:
        lo = np.asarray([rng[0]], np.float64)
        hi = np.asarray([rng[1]], np.float64)
    else:
        finite = np.isfinite(arr)
        lo = np.min(arr, axis=(1, 2), where=finite, initial=np.inf).astype(np.float64)
        hi = np.max(arr, axis=(1, 2), where=finite, initial=-np.inf).astype(np.float64)
        empty = ~np.isfinite(lo)
        lo[empty], hi[empty] = 0.0, 0.0
    span = hi - lo
    scale = np.divide(top, span, out=np.zeros_like(span), where=span > 0)
    shape = (-1, 1, 1)
    t = np.subtract(arr, lo.astype(work_dtype).reshape(shape), dtype=work_dtype)
    t *= scale.astype(work_dtype).reshape(shape)
    # Flat frames: (x - lo) * 0 is 0, but inf * 0 is NaN; both end at index 0 below.
    np.clip(t, 0.0, top, out=t)  # also turns +-inf into the end levels
    t += 0.5
    t[np.isnan(t)] = 0.0
    out = t.astype(np.uint8)
    return out[0] if single else out


# ---------------------------------------------------------------------- scale bar
def _round_lengths(limit_nm: float) -> list[float]:
    if not limit_nm > 0:
        return []
    top = math.floor(math.log10(limit_nm)) + 1
    return [m * 10.0**e for e in range(top - 12, top + 1) for m in _ROUND_MANTISSAS]


def nice_length(target_nm: float, limit_nm: float | None = None) -> float | None:
    """The round length (1, 2 or 5 x 10^n nm) nearest ``target_nm`` on a log scale.

    With ``limit_nm`` only lengths up to it are considered. Returns None when no
    round length fits.
    """
    limit = target_nm * 10 if limit_nm is None else limit_nm
    candidates = [c for c in _round_lengths(max(limit, target_nm)) if c <= limit * (1 + 1e-9)]
    if not candidates or not target_nm > 0:
        return None
    return min(candidates, key=lambda c: (abs(math.log(c / target_nm)), -c))


def _largest_round(limit_nm: float) -> float | None:
    candidates = [c for c in _round_lengths(limit_nm) if c <= limit_nm * (1 + 1e-9)]
    return max(candidates) if candidates else None


def format_length(nm: float) -> str:
    """Scale-bar label: nm below 1 µm, µm from 1 µm (``"20 nm"``, ``"0.5 nm"``, ``"2 µm"``).

    Plain numbers, never exponents (``"15 µm"``, not ``"1.5e+04 nm"``). Drawn with a
    font that has no "µ", the label spells it ``"um"`` (see :func:`drawable`).
    """
    if abs(nm) >= 1000:
        return f"{_plain(nm / 1000)} µm"
    return f"{_plain(nm)} nm"


def _plain(value: float) -> str:
    """A number with up to 4 significant digits and no exponent (``0.05``, ``1500``)."""
    text = f"{value:.4g}"
    if "e" in text:
        digits = max(0, 3 - math.floor(math.log10(abs(value)))) if value else 0
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text


@functools.lru_cache(maxsize=16)
def _has_glyph(char: str, size: int) -> bool:
    """Whether the drawing font has ``char`` (not its missing-glyph box)."""
    font = _font(size)
    missing = "\uffff"  # a non-character: every font draws its missing-glyph box
    try:
        return bytes(font.getmask(char)) != bytes(font.getmask(missing)) or font.getbbox(char) != font.getbbox(missing)
    except Exception:  # a bitmap font that cannot draw either
        return False


def drawable(text: str, size: int) -> str:
    """``text`` with "µ" spelled "u" when the font at ``size`` has no "µ"."""
    return text if "µ" not in text or _has_glyph("µ", size) else text.replace("µ", "u")


# ---------------------------------------------------------------------- text
@functools.lru_cache(maxsize=16)
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # FreeType font, Pillow >= 10.1
    except (TypeError, AttributeError, OSError):
        pass
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


@functools.lru_cache(maxsize=256)
def text_ink(text: str, size: int, outline: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Anti-aliased coverage (uint8, 0..255) of ``text`` and of its outline.

    The arrays are cropped to the ink plus ``outline`` pixels on every side; the
    outline coverage (None when ``outline`` is 0) is the text drawn with a stroke of
    that width.
    """
    from PIL import Image, ImageDraw

    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    size_px = (max(1, right - left) + 2 * outline, max(1, bottom - top) + 2 * outline)
    origin = (outline - left, outline - top)
    ink = Image.new("L", size_px, 0)
    ImageDraw.Draw(ink).text(origin, text, fill=255, font=font)
    ink_arr = np.asarray(ink)
    ink_arr.setflags(write=False)
    if not outline:
        return ink_arr, None
    halo = Image.new("L", size_px, 0)
    ImageDraw.Draw(halo).text(origin, text, fill=255, font=font, stroke_width=outline, stroke_fill=255)
    halo_arr = np.maximum(np.asarray(halo), ink_arr)
    halo_arr.setflags(write=False)
    return ink_arr, halo_arr


@dataclass(frozen=True)
class Overlay:
    """Ink over a frame, with its top-left at ``(y, x)``.

    ``ink`` is the white coverage; ``halo`` (optional, same shape) the coverage of
    the dark outline drawn under it.
    """

    y: int
    x: int
    ink: np.ndarray
    halo: np.ndarray | None = None

    def clipped(self, height: int, width: int) -> Overlay | None:
        """This overlay cut to a ``height x width`` frame (None if nothing is left)."""
        h, w = self.ink.shape
        y0, x0 = max(self.y, 0), max(self.x, 0)
        y1, x1 = min(self.y + h, height), min(self.x + w, width)
        if y1 <= y0 or x1 <= x0:
            return None
        cut = (slice(y0 - self.y, y1 - self.y), slice(x0 - self.x, x1 - self.x))
        return Overlay(y0, x0, self.ink[cut], None if self.halo is None else self.halo[cut])

    def paint_indices(self, frame: np.ndarray, dark_index: int) -> None:
        """Burn into palette indices: ink (coverage >= 50 %) white, outline ``dark_index``."""
        h, w = self.ink.shape
        region = frame[self.y : self.y + h, self.x : self.x + w]
        if self.halo is not None:
            region[self.halo >= 128] = dark_index
        region[self.ink >= 128] = ANNOTATION_INDEX

    def paint_rgb(self, frame: np.ndarray, dark: np.ndarray) -> None:
        """Blend into RGB: the outline toward ``dark``, then the ink toward white."""
        h, w = self.ink.shape
        region = frame[self.y : self.y + h, self.x : self.x + w].astype(np.int32)
        if self.halo is not None:
            a = self.halo.astype(np.int32)[..., np.newaxis]
            region += ((dark.astype(np.int32) - region) * a + 127) // 255
        a = self.ink.astype(np.int32)[..., np.newaxis]
        region += ((255 - region) * a + 127) // 255
        frame[self.y : self.y + h, self.x : self.x + w] = region.astype(np.uint8)


# ---------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """Output geometry of one rendered frame (see the module docstring)."""

    in_height: int
    in_width: int
    height: int
    width: int
    margin: int
    bar_thickness: int
    label_gap: int
    font_size: int
    outline: int = 0

    @property
    def scale_x(self) -> float:
        """Output pixels per input pixel along x."""
        return self.width / self.in_width

    @property
    def bar_top(self) -> int:
        """First output row of the scale bar."""
        return self.height - self.margin - self.bar_thickness

    @classmethod
    def for_frame(
        cls,
        in_height: int,
        in_width: int,
        *,
        aspect: float = 1.0,
        min_height: int = 512,
        height: int | None = None,
        even: bool = False,
        font_scale: float = 1.0,
        outline: bool = True,
    ) -> Layout:
        """Geometry for an ``in_height x in_width`` frame.

        ``aspect`` is ``pixel_size_y / pixel_size_x``; ``height`` forces the output
        height (the preview's tiles), otherwise it is ``max(min_height, in_height)``,
        reduced if that would make the frame wider than ``max(in_width, 4096)``.
        ``even`` rounds both sides up to even numbers (video encoders need them).
        ``outline`` gives the ink a dark outline ``max(1, round(2 a))`` pixels wide.
        """
        out_h = int(height) if height is not None else max(int(min_height), in_height)
        out_w = max(1, round(in_width * out_h / (in_height * aspect)))
        limit = max(in_width, MAX_UPSCALED_WIDTH)
        if out_w > limit:  # a strip-like frame: upscaling to 512 px high would make it huge
            out_h = max(1, round(out_h * limit / out_w))
            out_w = limit
        if even:
            out_h += out_h % 2
            out_w += out_w % 2
        a = out_h / 512.0
        return cls(
            in_height=in_height,
            in_width=in_width,
            height=out_h,
            width=out_w,
            margin=max(2, round(10 * a)),
            bar_thickness=max(1, round(5 * a)),
            label_gap=max(1, round(4 * a)),
            font_size=max(8, round(30 * a * font_scale)),
            outline=max(1, round(2 * a)) if outline else 0,
        )


# ---------------------------------------------------------------------- renderer
def _positive(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) and out > 0 else None


def _time_labels(stack: AFMImageStack, timestamps: Sequence[Any] | None) -> list[str]:
    n = stack.n_frames
    if timestamps is None:
        values: list[Any] = [md.get("timestamp") for md in stack.frame_metadata]
    else:
        values = list(timestamps)
        if len(values) != n:
            warnings.warn(
                f"{len(values)} timestamps for {n} frames; drawing frame numbers instead",
                RenderWarning,
                stacklevel=4,
            )
            values = [None] * n
    labels = []
    for i, value in enumerate(values):
        try:
            t = float(value)
        except (TypeError, ValueError):
            t = math.nan
        labels.append(f"{t:.2f} s" if math.isfinite(t) else f"frame {i}")
    return labels


def _stack_range(stack: AFMImageStack, zmin: ZBound, zmax: ZBound) -> tuple[float, float] | None:
    """:func:`z_range` of the whole stack, reading a lazy stack block by block when it can.

    Percentiles (``"auto"``) need every value; a finite min / max needs only each
    block's extremes, so a lazy stack stays lazy (and small in memory) for those.
    """
    if zmin is None and zmax is None:
        return None
    bounds = (_bound(zmin, "zmin"), _bound(zmax, "zmax"))
    if not stack.is_lazy or "auto" in bounds:
        return z_range(stack.data, zmin, zmax)
    if all(isinstance(b, float) for b in bounds):
        return z_range(np.empty((0,), np.float32), zmin, zmax)
    extremes = []
    for chunk in stack.iter_frames(block=16):
        finite = np.isfinite(chunk)
        if finite.any():
            extremes += [np.min(chunk, where=finite, initial=np.inf), np.max(chunk, where=finite, initial=-np.inf)]
    return z_range(np.asarray(extremes, np.float64), zmin, zmax)


@dataclass(frozen=True)
class RenderOptions:
    """The picture options every picture writer takes, declared once.

    Attributes
    ----------
    cmap : str or matplotlib colormap
        Default ``"afmhot"``.
    zmin, zmax : float, "auto" or None
        See :func:`z_range`; both None normalises each frame on its own.
    draw_ts, draw_scale : bool
        Draw the time stamp (top-left) and the scale bar (bottom-left).
    scale_bar_nm : float or None
        Bar length; None picks a round length near a fifth of the frame width, 0 none.
    font_scale : float
        Scales the text.
    timestamps : sequence of float, optional
        Labels instead of the frames' ``timestamp`` metadata.
    level : {"none", "plane", "line"}
        Display-only levelling before colouring (:mod:`.levelling`); the range
        options then refer to the levelled values.
    height : int, optional
        Output frame height in pixels (the width follows the frame's proportions);
        None is the frame's own height, upscaled to at least 512.
    """

    cmap: Any = DEFAULT_CMAP
    zmin: ZBound = None
    zmax: ZBound = None
    draw_ts: bool = True
    draw_scale: bool = True
    scale_bar_nm: float | None = None
    font_scale: float = 1.0
    timestamps: Sequence[Any] | None = None
    level: str = "none"
    height: int | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments for :class:`Renderer`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: The names of the render options, in declaration order.
RENDER_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(RenderOptions))


def takes_render_options(writer: Callable[..., Any]) -> Callable[..., Any]:
    """Give a picture writer taking ``**render`` the render options as its keywords.

    The writer's visible signature lists its own parameters followed by every field of
    :class:`RenderOptions` (keyword-only, with their defaults), so the registry can name
    an unknown option and the docs show them, while the options stay declared once.
    """
    sig = inspect.signature(writer)
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    defaults = RenderOptions()
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=getattr(defaults, name))
        for name in RENDER_OPTION_NAMES
    ]
    writer.__signature__ = sig.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    return writer


class Renderer:
    """Turn a stack into annotated pictures, one frame at a time.

    Parameters
    ----------
    stack : AFMImageStack
        Frames are read block by block, so lazy stacks stay lazy unless a global
        ``"auto"`` range (percentiles) needs the whole stack in memory.
    cmap : str or matplotlib colormap
        Default ``"afmhot"``.
    zmin, zmax : float, "auto" or None
        See :func:`z_range`; both None normalises each frame on its own.
    draw_ts, draw_scale : bool
        Draw the time stamp (top-left) and the scale bar (bottom-left).
    scale_bar_nm : float or None
        Bar length; None picks a round length near a fifth of the frame width,
        0 draws no bar.
    timestamps : sequence of float, optional
        Labels instead of the frames' ``timestamp`` metadata; a sequence of the
        wrong length falls back to frame numbers with a :class:`RenderWarning`.
    level : {"none", "plane", "line"}
        Display-only levelling of the frames before they are coloured (see
        :mod:`.levelling`); the stack is not changed.
    min_height, height, even, font_scale, outline
        Geometry, see :meth:`Layout.for_frame`. ``outline`` (default True) draws a
        thin outline in the colormap's darkest colour around the white ink, so text
        stays legible on bright areas.

    Raises
    ------
    ValueError
        Unknown colormap, bad ``zmin`` / ``zmax``, negative ``scale_bar_nm``.
    """

    def __init__(
        self,
        stack: AFMImageStack,
        *,
        cmap: Any = DEFAULT_CMAP,
        zmin: ZBound = None,
        zmax: ZBound = None,
        draw_ts: bool = True,
        draw_scale: bool = True,
        scale_bar_nm: float | None = None,
        timestamps: Sequence[Any] | None = None,
        min_height: int = 512,
        height: int | None = None,
        even: bool = False,
        font_scale: float = 1.0,
        outline: bool = True,
        level: str = "none",
    ) -> None:
        self.stack = stack
        #: What is coloured: the stack's frames, levelled for display when asked.
        self.frames = levelled(stack, level)
        if height is not None and (isinstance(height, bool) or not isinstance(height, (int, np.integer)) or height < 1):
            raise OptionError(f"height must be a whole number of pixels of at least 1; got {height!r}")
        self.palette = palette(cmap)
        luminance = self.palette[:N_LEVELS].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        #: Palette index of the darkest data colour, used for the ink's outline.
        self.dark_index = int(np.argmin(luminance))
        n, h, w = stack.shape
        if n == 0 or h == 0 or w == 0:
            raise OptionError(f"cannot render an empty stack (shape {stack.shape})")
        aspect = stack.pixel_size_y_nm / stack.pixel_size_nm
        self.layout = Layout.for_frame(
            h,
            w,
            aspect=aspect,
            min_height=min_height,
            height=height,
            even=even,
            font_scale=font_scale,
            outline=outline,
        )
        self.range = _stack_range(self.frames, zmin, zmax)
        # A single image has no time to show ("0.00 s" says nothing) unless times are given.
        stamped = draw_ts and (n > 1 or timestamps is not None)
        self.labels = _time_labels(stack, timestamps) if stamped else None
        self.pixel_sizes = [
            _positive(md.get("frame_pixel_size_nm")) or stack.pixel_size_nm for md in stack.frame_metadata
        ]
        self.bar_nm = self._choose_bar(scale_bar_nm) if draw_scale else None
        self._bar_cache: dict[int, list[Overlay]] = {}

    @classmethod
    def with_options(cls, stack: AFMImageStack, options: RenderOptions, **geometry: Any) -> Renderer:
        """A renderer for ``options`` plus geometry keywords (``even``, ``min_height``...)."""
        return cls(stack, **options.as_kwargs(), **geometry)

    # -------------------------------------------------------------- scale bar
    def _choose_bar(self, requested: float | None) -> float | None:
        lay = self.layout
        px = self.pixel_sizes[0]
        usable_nm = (lay.width - 2 * lay.margin) / lay.scale_x * min(self.pixel_sizes)
        if requested is None:
            return nice_length(lay.in_width * px / 5.0, usable_nm)
        value = float(requested)
        if not math.isfinite(value) or value < 0:
            raise OptionError(f"scale_bar_nm must be a positive length in nm, 0 or None; got {requested!r}")
        if value == 0:
            return None
        if value > usable_nm * (1 + 1e-9):
            shorter = _largest_round(usable_nm)
            warnings.warn(
                f"a {format_length(value)} scale bar does not fit a {format_length(lay.in_width * px)} wide frame "
                f"(at most {format_length(float(f'{usable_nm:.3g}'))} between the margins); "
                + (f"drawing {format_length(shorter)} instead" if shorter else "drawing none"),
                RenderWarning,
                stacklevel=3,
            )
            return shorter
        return value

    def bar_pixels(self, index: int) -> int:
        """Length in output pixels of the scale bar on frame ``index`` (0 = no bar)."""
        if self.bar_nm is None:
            return 0
        return max(1, round(self.bar_nm / self.pixel_sizes[index] * self.layout.scale_x))

    def _bar_overlays(self, index: int) -> list[Overlay]:
        length = self.bar_pixels(index)
        if length == 0:
            return []
        cached = self._bar_cache.get(length)
        if cached is not None:
            return cached
        lay = self.layout
        r = lay.outline
        ink = np.zeros((lay.bar_thickness + 2 * r, length + 2 * r), np.uint8)
        ink[r : r + lay.bar_thickness, r : r + length] = 255
        bar = Overlay(lay.bar_top - r, lay.margin - r, ink, np.full_like(ink, 255) if r else None)
        assert self.bar_nm is not None
        text, halo = text_ink(drawable(format_length(self.bar_nm), lay.font_size), lay.font_size, r)
        label_y = lay.bar_top - lay.label_gap - (text.shape[0] - 2 * r)
        label = Overlay(label_y - r, lay.margin - r, text, halo)
        overlays = [o for o in (bar.clipped(lay.height, lay.width), label.clipped(lay.height, lay.width)) if o]
        self._bar_cache[length] = overlays
        return overlays

    def overlays(self, index: int) -> list[Overlay]:
        """The white ink drawn on frame ``index``."""
        lay = self.layout
        out = list(self._bar_overlays(index))
        if self.labels is not None:
            r = lay.outline
            text, halo = text_ink(self.labels[index], lay.font_size, r)
            ts = Overlay(lay.margin - r, lay.margin - r, text, halo)
            clipped = ts.clipped(lay.height, lay.width)
            if clipped is not None:
                out.append(clipped)
        return out

    # -------------------------------------------------------------- frames
    def __len__(self) -> int:
        return self.stack.n_frames

    def normalized_frames(self, block: int = 16) -> Iterator[np.ndarray]:
        """Yield each frame's colour indices (0..254) at the input size, before upscaling."""
        for chunk in self.frames.iter_frames(block=block):
            yield from normalize(chunk, self.range)

    def finish(self, index: int, frame: np.ndarray, *, annotate: bool = True) -> np.ndarray:
        """Upscale one normalised frame and burn in its ink (index 255).

        Safe to call from several threads at once (Pillow releases the GIL while
        resizing), which is how the GIF writer uses both cores.
        """
        from PIL import Image

        lay = self.layout
        size = (lay.width, lay.height)
        if size == (lay.in_width, lay.in_height):
            out = np.array(frame)
        else:
            out = np.array(Image.fromarray(frame).resize(size, Image.Resampling.BICUBIC))
            np.minimum(out, N_LEVELS - 1, out=out)  # bicubic overshoot must not reach the ink index
        if annotate:
            for o in self.overlays(index):
                o.paint_indices(out, self.dark_index)
        return out

    def index_frames(self, block: int = 16, *, annotate: bool = True) -> Iterator[np.ndarray]:
        """Yield each frame as ``(height, width)`` uint8 palette indices.

        Data is 0..254; with ``annotate`` the ink is index 255 (coverage >= 50 %).
        """
        for i, frame in enumerate(self.normalized_frames(block)):
            yield self.finish(i, frame, annotate=annotate)

    def palette_image(self, indices: np.ndarray) -> Image.Image:
        """A Pillow ``"P"`` image of ``indices`` carrying the palette."""
        from PIL import Image

        img = Image.fromarray(indices)
        img.putpalette(self.palette.tobytes())
        return img

    def palette_images(self, block: int = 16) -> Iterator[Image.Image]:
        """Yield each frame as a Pillow ``"P"`` image carrying the palette."""
        for idx in self.index_frames(block):
            yield self.palette_image(idx)

    def rgb_frames(self, block: int = 16) -> Iterator[np.ndarray]:
        """Yield each frame as ``(height, width, 3)`` uint8 RGB with anti-aliased ink."""
        pal = self.palette
        for i, idx in enumerate(self.index_frames(block, annotate=False)):
            rgb = pal[idx]
            dark = pal[self.dark_index]
            for o in self.overlays(i):
                o.paint_rgb(rgb, dark)
            yield rgb
