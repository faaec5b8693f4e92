"""Videos (MP4, AVI, MOV, MKV, WebM) and image sequences (PNG, JPEG, TIFF), rendered like the GIF.

All use afmio's shared renderer (:mod:`afmio_builtins.pictures.render`) and take the same
picture options as the ``gif`` driver: ``cmap`` (default ``"afmhot"``), ``zmin`` / ``zmax``
(number, ``"auto"`` = 1st / 99th percentile of the stack, or None; per-frame stretch when
both are None), ``draw_ts``, ``draw_scale``, ``scale_bar_nm``, ``font_scale``,
``timestamps``, ``height`` (output frame height in px) and ``level`` (display-only
levelling: ``"none"`` by default, as playNano draws; ``"plane"`` or ``"line"`` take out
tilt and scan-line offsets, see :mod:`.levelling`). ``raw=True`` (a registry option) renders the raw snapshot.

Videos (``.mp4``, ``.mov``, ``.mkv``, ``.avi``, ``.webm``)
    At ``fps`` frames per second (default 5; ``duration`` in ms per frame is accepted
    instead). Frames are rendered at even width and height, as the codecs need.
    MP4, MOV and MKV hold H.264 (``libx264``, yuv420p, ``crf`` 18 by default; ``crf=0``
    is lossless in luma; ``preset`` default ``"veryfast"``, about 3x quicker than x264's
    ``"medium"`` for a file of the same size on AFM data). AVI holds MPEG-4 Part 2 (the
    codec every AVI player has) at ``quality`` 1 (best) to 31 (smallest), default 2.
    WebM holds VP9 (``libvpx-vp9``) in constant-quality mode at ``crf`` (0-63, default
    18 here too). Needs the optional extra ``afmio[video]`` (PyAV); without it saving
    raises :class:`~afmio.errors.MissingDependencyError` naming the extra.

Image sequences (``png``, ``jpg``, ``tif``: folders)
    A folder of numbered frames, as playNano's image-sequence export lays it out:
    ``save(stack, "out/run", format="png")`` writes ``out/run/run_0000.png``,
    ``run_0001.png``...; ``export(stack, "out", formats=["png"])`` writes the folder
    ``out/<base>[_filtered]/`` with ``<base>[_filtered]_0000.png``... The number is the
    frame index, zero-padded to ``max(4, len(str(n_frames)))`` digits; ``prefix=``
    overrides the file-name prefix. PNG frames are 8-bit palette images with the exact
    colours (``compress_level`` 0-9, default 1, trades size for speed); JPEG frames are
    RGB at ``quality`` 90 (1-95); TIFF frames are palette images, deflate-compressed.
    A one-frame stack saved to a name with the format's own extension
    (``afmio.save(stack[3:4], "frame3.png")``) is written as that one file. Timing is only
    in the drawn time stamps. The folder is written beside the target and renamed into
    place when complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from afmio.errors import MissingDependencyError, OptionError, WriteError

from .render import Renderer, RenderOptions, takes_render_options

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = ["write_jpg_sequence", "write_png_sequence", "write_tif_sequence", "write_video"]

_X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)
#: Container (by file extension) -> (PyAV format name, codec).
_VIDEO = {
    ".mp4": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".avi": ("avi", "mpeg4"),
    ".webm": ("webm", "libvpx-vp9"),
}


def _fps(fps: float | None, duration: float | None) -> Fraction:
    if fps is not None and duration is not None:
        raise OptionError("give fps or duration, not both")
    if duration is not None:
        if isinstance(duration, Sequence) or not float(duration) > 0:
            raise OptionError(f"duration must be one positive number of ms per frame; got {duration!r}")
        rate = 1000.0 / float(duration)
    else:
        rate = 5.0 if fps is None else float(fps)
    if not rate > 0:
        raise OptionError(f"fps must be positive; got {fps!r}")
    from fractions import Fraction

    return Fraction(rate).limit_denominator(1001)


@takes_render_options
def write_video(
    stack: Any,
    path: Path,
    *,
    fps: float | None = None,
    duration: float | None = None,
    crf: int = 18,
    preset: str = "veryfast",
    quality: int = 2,
    **render: Any,
) -> None:
    """Write ``stack`` as an annotated video to exactly ``path``; the container follows its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in _VIDEO:
        raise WriteError(path, f"no video container for {suffix!r}; afmio writes {', '.join(_VIDEO)}")
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("av", "video", f"{suffix[1:].upper()} export") from exc
    container_format, codec = _VIDEO[suffix]
    rate = _fps(fps, duration)
    options: dict[str, object] = dict(_codec_options(codec, crf, preset, quality))
    renderer = Renderer.with_options(stack, RenderOptions(**render), even=True)
    lay = renderer.layout
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        assert isinstance(stream, av.VideoStream)  # a video codec gives a video stream
        stream.width, stream.height = lay.width, lay.height
        stream.pix_fmt = "yuv420p"
        stream.options = options
        for rgb in renderer.rgb_frames():
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _codec_options(codec: str, crf: int, preset: str, quality: int) -> dict[str, str]:
    """The encoder settings for ``codec``, after checking the ones that apply to it."""
    if codec == "mpeg4":
        if not 1 <= int(quality) <= 31:
            raise OptionError(f"quality must be 1 (best) .. 31; got {quality!r}")
        return {"qscale": str(int(quality))}
    if codec == "libvpx-vp9":
        if not 0 <= int(crf) <= 63:
            raise OptionError(f"crf must be 0..63 for WebM; got {crf!r}")
        return {"crf": str(int(crf)), "b": "0", "row-mt": "1"}
    if not 0 <= int(crf) <= 51:
        raise OptionError(f"crf must be 0..51; got {crf!r}")
    if preset not in _X264_PRESETS:
        raise OptionError(f"preset must be one of {', '.join(_X264_PRESETS)}; got {preset!r}")
    return {"crf": str(int(crf)), "preset": preset}


def _write_sequence(
    stack: Any, path: Path, fmt: str, *, prefix: str | None, target: Path | None, save: dict[str, Any],
    render: dict[str, Any],
) -> None:
    """Write the frames of ``stack`` as numbered ``fmt`` images into the folder ``path``
    (or, for a one-frame stack saved under a name ending in ``.<fmt>``, as that one file)."""
    final = Path(target) if target is not None else Path(path)
    extensions = {"png": (".png",), "jpg": (".jpg", ".jpeg"), "tif": (".tif", ".tiff")}[fmt]
    single = final.suffix.lower() in extensions
    if single and stack.n_frames != 1:
        raise WriteError(
            final, f"a {final.suffix} file holds one frame but the stack has {stack.n_frames}; save to a folder "
            f"instead (a path without {final.suffix!r}, with format={fmt!r})",
        )
    # Files are named after the folder the user asked for (``target``, passed by the
    # registry), not the temporary folder they are written into.
    name = str(prefix) if prefix is not None else final.name
    if not name or any(ch in name for ch in '\\/:*?"<>|'):
        raise OptionError(f"invalid file-name prefix {name!r}")
    renderer = Renderer.with_options(stack, RenderOptions(**render))
    pillow_format = {"png": "PNG", "jpg": "JPEG", "tif": "TIFF"}[fmt]
    if single:
        (image,) = renderer.palette_images()
        _save_image(image, Path(path), pillow_format, save)
        return
    digits = max(4, len(str(stack.n_frames)))
    path.mkdir(parents=True, exist_ok=False)
    for i, image in enumerate(renderer.palette_images()):
        _save_image(image, path / f"{name}_{i:0{digits}d}.{fmt}", pillow_format, save)


def _save_image(image: Any, path: Path, pillow_format: str, save: dict[str, Any]) -> None:
    if pillow_format == "JPEG":
        image = image.convert("RGB")  # JPEG has no palette
    image.save(path, format=pillow_format, **save)


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
        raise OptionError(f"compress_level must be 0..9; got {compress_level!r}")
    _write_sequence(stack, path, "png", prefix=prefix, target=target,
                    save={"compress_level": int(compress_level)}, render=render)


@takes_render_options
def write_jpg_sequence(
    stack: Any,
    path: Path,
    *,
    prefix: str | None = None,
    quality: int = 90,
    target: Path | None = None,
    **render: Any,
) -> None:
    """Write ``stack`` as a folder of numbered, annotated JPEG frames at exactly ``path``."""
    if not 1 <= int(quality) <= 95:
        raise OptionError(f"quality must be 1..95; got {quality!r}")
    _write_sequence(stack, path, "jpg", prefix=prefix, target=target, save={"quality": int(quality)}, render=render)


@takes_render_options
def write_tif_sequence(
    stack: Any,
    path: Path,
    *,
    prefix: str | None = None,
    target: Path | None = None,
    **render: Any,
) -> None:
    """Write ``stack`` as a folder of numbered, annotated TIFF frames at exactly ``path``."""
    _write_sequence(stack, path, "tif", prefix=prefix, target=target, save={"compression": "tiff_adobe_deflate"},
                    render=render)
