"""A one-picture overview of a stack: the contact sheet a user looks at first.

:func:`preview` writes one PNG: a header naming the data, a grid of evenly spaced
frames (each with its time stamp and the scale bar, captioned with its frame
number) and a colour bar labelled in the stack's z unit. Only the frames shown
are read, so previews of large lazy files are quick.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from afmio.errors import OptionError
from afmio.stack import AFMImageStack

from .render import N_LEVELS, Renderer, ZBound, _font, drawable

__all__ = ["preview", "preview_frame_indices"]

_BACKGROUND = (24, 24, 24)
_TEXT = (235, 235, 235)
_DIM = (160, 160, 160)


def preview_frame_indices(n_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced frame indices from first to last (fewer if the stack is short)."""
    if n_frames <= 0:
        return []
    if count < 1:
        raise OptionError(f"frames must be at least 1; got {count}")
    return sorted({round(x) for x in np.linspace(0, n_frames - 1, min(count, n_frames))})


def _select(stack: AFMImageStack, indices: list[int]) -> AFMImageStack:
    from afmio.progress import progress

    data = np.stack([np.asarray(stack.get_frame(i)) for i in progress(indices, total=len(indices), desc="preview")])
    meta = [dict(stack.frame_metadata[i]) for i in indices]
    return stack.derive(data, meta)


def _text(draw: Any, xy: tuple[int, int], text: str, size: int, fill: tuple[int, int, int]) -> int:
    """Draw ``text`` with its ink's top-left at ``xy``; return the ink width."""
    text = drawable(text, size)
    font = _font(size)
    left, top, right, _ = font.getbbox(text)
    draw.text((xy[0] - left, xy[1] - top), text, font=font, fill=fill)
    return right - left


def _text_width(text: str, size: int) -> int:
    left, _, right, _ = _font(size).getbbox(drawable(text, size))
    return right - left


def preview(
    stack_or_path: AFMImageStack | str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    *,
    frames: int = 12,
    columns: int | None = None,
    tile_height: int = 256,
    cmap: Any = "afmhot",
    zmin: ZBound = None,
    zmax: ZBound = None,
    draw_ts: bool = True,
    draw_scale: bool = True,
    scale_bar_nm: float | None = None,
    channel: str | None = None,
    title: str | None = None,
    overwrite: bool = False,
    level: str = "line",
) -> Path:
    """Write a PNG contact sheet of a stack.

    Parameters
    ----------
    stack_or_path : AFMImageStack, str or os.PathLike
        A stack, or any file or folder afmio reads (loaded lazily).
    out_png : str or os.PathLike
        The PNG to write (atomically).
    frames : int
        How many evenly spaced frames to show (first and last included).
    columns : int, optional
        Grid columns; default gives a roughly 4:3 sheet.
    tile_height : int
        Height of each frame's picture in pixels.
    cmap, zmin, zmax, draw_ts, draw_scale, scale_bar_nm
        As for the GIF export (:class:`afmio_builtins.pictures.render.Renderer`). By default each tile
        is stretched to its own min..max, so structure shows even when the height
        offset jumps between frames (raw HS-AFM data); the colour bar then runs from
        "min" to "max" and every caption gives that frame's height span in the z
        unit. With ``zmin`` / ``zmax`` (``"auto"`` = 1st / 99th percentile of the
        frames shown) one range holds for the whole sheet and the colour bar carries
        its values.
    level : {"line", "plane", "none"}
        Display-only levelling (:mod:`.levelling`). The default, ``"line"`` (plane
        fit, then row medians), takes out the tilt and the scan-line offsets that
        dominate raw HS-AFM frames, so the sheet shows the sample; spans, ranges and
        the colour bar then refer to the levelled values. Levelled frames share a
        common zero, so without ``zmin`` / ``zmax`` the sheet uses one ``"auto"``
        range (1st / 99th percentile of the frames shown, robust to spikes) and the
        colour bar carries its values. ``"none"`` shows the values as stored, each
        tile stretched to its own range.
    channel : str, optional
        Channel to load when given a path.
    title : str, optional
        Header line; default is the file name.
    overwrite : bool
        Replace an existing ``out_png``.

    Returns
    -------
    pathlib.Path
        The written PNG.
    """
    from afmio.atomic import atomic_output

    target = Path(os.fspath(out_png))
    if isinstance(stack_or_path, AFMImageStack):
        stack, owned = stack_or_path, False
    else:
        from afmio import load

        stack, owned = load(stack_or_path, channel=channel, lazy=True), True
    try:
        indices = preview_frame_indices(stack.n_frames, frames)
        if not indices:
            raise OptionError("cannot preview an empty stack")
        sub = _select(stack, indices)
        full_n = stack.n_frames
    finally:
        if owned:
            stack.close()

    if level != "none" and zmin is None and zmax is None:
        zmin = zmax = "auto"  # levelled frames share a zero: one robust range shows the sample
    renderer = Renderer(
        sub,
        cmap=cmap,
        zmin=zmin,
        zmax=zmax,
        draw_ts=draw_ts,
        draw_scale=draw_scale,
        scale_bar_nm=scale_bar_nm,
        height=int(tile_height),
        level=level,
    )
    lows, highs = _frame_ranges(renderer.frames.data)
    z_text = ""
    if np.isfinite(lows).any():  # + 0.0 turns -0.0 into 0.0
        z_text = f"z {np.nanmin(lows) + 0.0:.4g} to {np.nanmax(highs) + 0.0:.4g} {stack.z_unit}"
    name = title or (Path(str(stack.file_path)).name if stack.file_path else "stack")
    captions = [f"frame {i} · span {span:.3g} {stack.z_unit}" for i, span in zip(indices, np.nan_to_num(highs - lows))]
    img = _compose(
        renderer,
        columns=columns,
        title=name,
        info=_info_line(stack, full_n, len(indices), z_text, level),
        captions=captions,
        bar_labels=_bar_labels(renderer.range, stack.z_unit),
        unit=_unit_text(stack.z_unit),
    )
    with atomic_output(target, ".png", overwrite=overwrite) as tmp:
        img.save(tmp, format="PNG", optimize=False)
    return target


def _compose(
    renderer: Renderer,
    *,
    columns: int | None,
    title: str,
    info: str,
    captions: list[str],
    bar_labels: dict[float, str],
    unit: str,
) -> Any:
    """Lay out the header, the grid of rendered tiles and the colour bar on one image."""
    from PIL import Image, ImageDraw

    lay = renderer.layout
    tile_w, tile_h = lay.width, lay.height
    k = len(captions)
    if columns is None:
        columns = max(1, min(k, round(math.sqrt(k * (4 / 3) * tile_h / tile_w))))
    rows = math.ceil(k / columns)

    # Everything scales with the tile height (256 px tiles: 12 px padding, 13 px text).
    a = _sheet_scale(tile_h)
    pad, gap = round(12 * a), round(6 * a)
    title_size, info_size, caption_size = round(18 * a), round(13 * a), round(12 * a)
    _check_caption_room(captions, tile_h, tile_w)
    header_h = pad + title_size + gap + info_size + pad
    cell_h = tile_h + gap + caption_size + gap
    grid_w = columns * tile_w + (columns - 1) * gap
    grid_h = rows * cell_h - gap
    bar_w = round(18 * a)
    label_w = max(_text_width(t, info_size) for t in bar_labels.values())
    side_w = gap * 2 + max(bar_w + gap + label_w, _text_width(unit, info_size))
    width = max(pad + grid_w + side_w + pad, pad + _text_width(info, info_size) + pad)
    height = header_h + grid_h + pad

    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = _BACKGROUND
    origins = [(header_h + r * cell_h, pad + c * (tile_w + gap)) for r, c in (divmod(j, columns) for j in range(k))]
    for (y, x), rgb in zip(origins, renderer.rgb_frames()):
        canvas[y : y + tile_h, x : x + tile_w] = rgb

    # Colour bar beside the grid, highest level at the top, at least a tile tall.
    bar_x = pad + grid_w + 2 * gap
    bar_top = header_h + info_size + gap
    bar_h = max(tile_h, min(grid_h, 2 * tile_h)) - info_size - gap
    levels = np.linspace(N_LEVELS - 1, 0, bar_h).round().astype(np.intp)
    canvas[bar_top : bar_top + bar_h, bar_x : bar_x + bar_w] = renderer.palette[levels][:, np.newaxis, :]

    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    _text(draw, (pad, pad), title, title_size, _TEXT)
    _text(draw, (pad, pad + title_size + gap), info, info_size, _DIM)
    for (y, x), caption in zip(origins, captions):
        _text(draw, (x, y + tile_h + gap), caption, caption_size, _DIM)
    _text(draw, (bar_x, header_h), unit, info_size, _TEXT)
    for frac, text in bar_labels.items():
        y = bar_top + round((1 - frac) * (bar_h - 1)) - info_size // 2
        y = min(max(y, bar_top), bar_top + bar_h - info_size)
        _text(draw, (bar_x + bar_w + gap, y), text, info_size, _TEXT)
    return img


def _sheet_scale(tile_h: int) -> float:
    return max(0.6, tile_h / 256)


def _caption_fits(captions: list[str], tile_h: int, tile_w: int) -> bool:
    a = _sheet_scale(tile_h)
    size = round(12 * a)
    return max(_text_width(c, size) for c in captions) <= tile_w + round(6 * a)


def _check_caption_room(captions: list[str], tile_h: int, tile_w: int) -> None:
    """Refuse tiles so small that their captions would run into the next tile."""
    if not captions or _caption_fits(captions, tile_h, tile_w):
        return
    ratio = tile_w / tile_h
    needed = next((h for h in range(tile_h + 1, 4097) if _caption_fits(captions, h, max(1, round(h * ratio)))),
                  None)
    raise ValueError(
        f"tiles {tile_h} px high are too small for their captions"
        + (f"; use tiles at least {needed} px high (tile_height, --tile-height)" if needed else "")
    )


def _frame_ranges(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite min and max of every frame (NaN for a frame without finite values)."""
    finite = np.isfinite(data)
    lows = np.min(data, axis=(1, 2), where=finite, initial=np.inf).astype(np.float64)
    highs = np.max(data, axis=(1, 2), where=finite, initial=-np.inf).astype(np.float64)
    empty = ~finite.any(axis=(1, 2))
    lows[empty], highs[empty] = np.nan, np.nan
    return lows, highs


def _unit_text(unit: str) -> str:
    return f"z ({unit})"


def _bar_labels(rng: tuple[float, float] | None, unit: str) -> dict[float, str]:
    """Colour-bar ticks ``{fraction of the bar: label}`` at round values inside the range.

    The step is the smallest 1, 2 or 5 x 10^n that is at least a quarter of the range,
    so there are 2 to 5 ticks (``0, 5, 10``; ``-220, -219, -218``).
    """
    if rng is None:
        return {1.0: "max", 0.5: "per frame", 0.0: "min"}
    lo, hi = rng
    span = hi - lo
    if not span > 0:
        return {0.5: f"{lo + 0.0:.4g}"}
    exponent = math.floor(math.log10(span / 4))
    step = next(m * 10.0**e for e in (exponent, exponent + 1) for m in (1, 2, 5) if m * 10.0**e >= span / 4)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    first = math.ceil(lo / step - 1e-9)
    ticks = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    return {(t - lo) / span: f"{t + 0.0:.{decimals}f}" for t in ticks}


def _scan_size(x_nm: float, y_nm: float) -> str:
    """``850 x 850 nm``; ``2.5 x 2.5 µm`` from 1 µm."""
    if max(abs(x_nm), abs(y_nm)) >= 1000:
        return f"{x_nm / 1000:.4g} x {y_nm / 1000:.4g} µm"
    return f"{x_nm:.4g} x {y_nm:.4g} nm"


def _count(n: int, word: str) -> str:
    """``1 frame``, ``12 frames``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _info_line(stack: AFMImageStack, n_total: int, n_shown: int, z_text: str, level: str = "none") -> str:
    _, h, w = stack.shape
    px, py = stack.pixel_size_nm, stack.pixel_size_y_nm
    times = [t for t in (md.get("timestamp") for md in stack.frame_metadata) if t is not None]
    span = f", {times[-1] - times[0]:.3g} s" if len(times) > 1 else ""
    pixel = f"{px:.4g} nm/px" if px == py else f"{px:.4g} x {py:.4g} nm/px"
    return (
        f"{stack.channel} · {_count(n_total, 'frame')}{span} · {w} x {h} px · {_scan_size(w * px, h * py)}"
        f" · {pixel}" + (f" · {z_text}" if z_text else "") + (f" · levelled ({level})" if level != "none" else "")
        + f" · showing {n_shown}"
    )
