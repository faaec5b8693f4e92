"""Animated GIF (write only): an annotated movie of the stack.

``afmio.save(stack, "movie.gif")`` or ``afmio.export(stack, folder, formats=[..., "gif"])``
(file ``<base>[_filtered].gif``, playNano's naming). Rendering is afmio's shared
renderer (:mod:`afmio_builtins.pictures.render`):

* Colours: ``cmap`` (default ``"afmhot"``; playNano's ``"afm_brown"`` or any
  matplotlib colormap name) sampled
  into a fixed 256-colour palette (255 data levels + white for the text), so every
  frame is stored with exactly those colours, never re-quantised.
* Range: ``zmin`` / ``zmax`` each a number, ``"auto"`` (1st / 99th percentile of
  the whole stack) or None. If either is given one global range is used; with both
  None every frame is stretched to its own min..max. ``zmin >= zmax`` raises
  ``ValueError``.
* Size: frames under 512 px high are upscaled (bicubic) to 512 px high; ``height``
  sets the output height instead (smaller files: a 300-frame movie at 256 px is a
  quarter of its size at 512). Non-square pixels are corrected so the picture keeps
  its physical proportions.
* Text (white): the frame's ``timestamp`` as ``"%.2f s"`` top-left (``draw_ts``),
  ``"frame i"`` when a frame has no time; a scale bar with its length bottom-left
  (``draw_scale``). ``scale_bar_nm=None`` picks a round length (1, 2, 5 x 10^n nm)
  near a fifth of the frame width; a bar too long for the frame is shortened to the
  largest round length that fits, with a warning; ``0`` draws none. ``timestamps=``
  (seconds, one per frame) replaces the metadata times; a list of the wrong length
  draws frame numbers, with a warning. ``font_scale`` scales the text.
* Timing: ``fps`` (default 5 frames/s) or ``duration`` (ms per frame: one number, or
  one per frame). GIF stores delays in 1/100 s, so 1000/3 ms is stored as 330 ms
  (and most players show delays under 20 ms as 100 ms). Every frame is stored, even
  when it repeats the previous one.
* ``loop``: 0 (default) repeats forever, ``n`` repeats n more times, None plays once.
* ``raw=True`` (a registry option) renders the raw snapshot.

Frames are rendered and LZW-encoded on a small thread pool and streamed to the
file, so memory stays at a few frames whatever the length of the movie (except for
``"auto"`` ranges: the percentiles need the whole stack in memory once).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from afmio.errors import OptionError

from .render import Renderer, RenderOptions, takes_render_options

__all__ = ["frame_durations_ms", "write"]




def frame_durations_ms(
    n_frames: int, fps: float | None = None, duration: float | Sequence[float] | None = None
) -> int | list[int]:
    """Return the per-frame delay in ms from ``fps`` or ``duration`` (default 5 fps).

    Raises
    ------
    ValueError
        Both given, a non-positive value, or a duration list of the wrong length.
    """
    if fps is not None and duration is not None:
        raise OptionError("give fps or duration, not both")
    if duration is None:
        rate = 5.0 if fps is None else float(fps)
        if not rate > 0:
            raise OptionError(f"fps must be positive; got {fps!r}")
        return max(1, round(1000.0 / rate))
    if isinstance(duration, (int, float)):
        if not duration > 0:
            raise OptionError(f"duration must be a positive number of ms; got {duration!r}")
        return max(1, round(duration))
    values = [float(d) for d in duration]
    if len(values) != n_frames:
        raise OptionError(f"{len(values)} durations for {n_frames} frames")
    if any(not d > 0 for d in values):
        raise OptionError("every duration must be a positive number of ms")
    return [max(1, round(d)) for d in values]


@takes_render_options
def write(
    stack: Any,
    path: Path,
    *,
    fps: float | None = None,
    duration: float | Sequence[float] | None = None,
    loop: int | None = 0,
    **render: Any,
) -> None:
    """Write ``stack`` as an annotated animated GIF to exactly ``path``."""
    from ._gif_stream import GifStreamWriter, delays_for, encode_frame, ordered_map

    delays = delays_for(stack.n_frames, frame_durations_ms(stack.n_frames, fps, duration))
    if loop is not None and (isinstance(loop, bool) or not 0 <= int(loop) <= 65535):
        raise OptionError(f"loop must be 0 (forever), a repeat count up to 65535 or None; got {loop!r}")
    renderer = Renderer.with_options(stack, RenderOptions(**render))
    palette = renderer.palette.tobytes()

    def render_and_encode(item: tuple[int, Any]) -> bytes:
        index, frame = item
        return encode_frame(renderer.palette_image(renderer.finish(index, frame)), palette)

    lay = renderer.layout
    with open(path, "wb") as fh:
        gif = GifStreamWriter(fh, (lay.width, lay.height), palette, loop)
        for index, block in enumerate(ordered_map(render_and_encode, enumerate(renderer.normalized_frames()))):
            gif.add(block, delays[index])
        gif.close()
