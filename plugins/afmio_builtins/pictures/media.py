"""MP4 video and PNG image sequence (write only), rendered like the GIF.

Both use afmio's shared renderer (:mod:`afmio_builtins.pictures.render`) and take the same picture
options as the ``gif`` driver: ``cmap`` (default ``"afmhot"``), ``zmin`` / ``zmax``
(number, ``"auto"`` = 1st / 99th percentile of the stack, or None; per-frame
stretch when both are None), ``draw_ts``, ``draw_scale``, ``scale_bar_nm``,
``font_scale``, ``timestamps``. ``raw=True`` (a registry option) renders the raw snapshot.

``mp4`` (``.mp4``)
    H.264 (``libx264``, yuv420p, ``crf`` 18 by default; ``crf=0`` is lossless in
    luma; ``preset`` default ``"veryfast"``, about 3x quicker than x264's ``"medium"``
    for a file of the same size on AFM data) at ``fps`` frames per second (default
    5; ``duration`` in ms per frame is accepted instead). Frames are rendered at even width and height, as H.264 needs.
    Needs the optional extra ``afmio[video]`` (PyAV); without it saving raises
    :class:`~afmio.errors.MissingDependencyError` naming the extra.

``png`` (folder; no extension of its own)
    A folder of numbered PNG frames, as playNano's image-sequence export lays it out:
    ``save(stack, "out/run", format="png")`` writes ``out/run/run_0000.png``,
    ``run_0001.png``...; ``export(stack, "out", formats=["png"])`` writes the folder
    ``out/<base>[_filtered]/`` with ``<base>[_filtered]_0000.png``... The number is
    the frame index, zero-padded to ``max(4, len(str(n_frames)))`` digits. Frames are
    8-bit palette PNGs with the exact colours (``prefix=`` overrides the file-name
    prefix; ``compress_level`` 0-9, default 1, trades size for speed). Timing is only
    in the drawn time stamps. The folder is written beside the target and renamed
    into place when complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from afmio.errors import MissingDependencyError

from .render import Renderer, RenderOptions, takes_render_options

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = ["write_mp4", "write_png_sequence"]

_X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)



def _fps(fps: float | None, duration: float | None) -> Fraction:
    if fps is not None and duration is not None:
        raise ValueError("give fps or duration, not both")
    if duration is not None:
        if isinstance(duration, Sequence) or not float(duration) > 0:
            raise ValueError(f"duration must be one positive number of ms per frame; got {duration!r}")
        rate = 1000.0 / float(duration)
    else:
        rate = 5.0 if fps is None else float(fps)
    if not rate > 0:
        raise ValueError(f"fps must be positive; got {fps!r}")
    from fractions import Fraction

    return Fraction(rate).limit_denominator(1001)


@takes_render_options
def write_mp4(
    stack: Any,
    path: Path,
    *,
    fps: float | None = None,
    duration: float | None = None,
    crf: int = 18,
    preset: str = "veryfast",
    **render: Any,
) -> None:
    """Write ``stack`` as an annotated H.264 MP4 to exactly ``path``."""
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("av", "video", "MP4 export") from exc
    rate = _fps(fps, duration)
    if not 0 <= int(crf) <= 51:
        raise ValueError(f"crf must be 0..51; got {crf!r}")
    if preset not in _X264_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(_X264_PRESETS)}; got {preset!r}")
    renderer = Renderer.with_options(stack, RenderOptions(**render), even=True)
    lay = renderer.layout
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = lay.width, lay.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": preset}
        for rgb in renderer.rgb_frames():
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@takes_render_options
def write_png_sequence(
    stack: Any,
    path: Path,
    *,
    prefix: str | None = None,
    compress_level: int = 1,
    target: Path | None = None,
    **render: Any,
) -> None:
    """Write ``stack`` as a folder of numbered, annotated PNG frames at exactly ``path``."""
    if not 0 <= int(compress_level) <= 9:
        raise ValueError(f"compress_level must be 0..9; got {compress_level!r}")
    # Files are named after the folder the user asked for (``target``, passed by the
    # registry), not the temporary folder they are written into.
    name = str(prefix) if prefix is not None else (target or path).name
    if not name or any(ch in name for ch in '\\/:*?"<>|'):
        raise ValueError(f"invalid file-name prefix {name!r}")
    renderer = Renderer.with_options(stack, RenderOptions(**render))
    digits = max(4, len(str(stack.n_frames)))
    path.mkdir(parents=True, exist_ok=False)
    for i, img in enumerate(renderer.palette_images()):
        img.save(path / f"{name}_{i:0{digits}d}.png", format="PNG", compress_level=int(compress_level))
