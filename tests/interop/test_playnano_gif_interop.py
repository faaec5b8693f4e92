"""playNano 0.5.0's GIF functions and afmio.compat's, called the same way, make the same movie.

Same frame count, the same per-frame delays, colours from the same colour map (playNano's
``afm_brown`` by default) and, pixel for pixel, nearly the same picture (the two resize and
quantise differently, so colours may differ by a few levels). Run with ``nox -s interop``.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from afmio.compat import playnano as compat
from afmio.synthetic import synthetic_stack
from afmio_builtins.pictures.render import palette

pytestmark = pytest.mark.interop

playnano = pytest.importorskip("playnano")
if getattr(playnano, "__version__", "0.5.0") != "0.5.0":
    pytest.skip(f"interop targets playNano 0.5.0, found {playnano.__version__}", allow_module_level=True)

from playnano.afm_stack import AFMImageStack as PNStack  # noqa: E402
from playnano.io import gif_export  # noqa: E402
from playnano.utils.colormaps import register_custom_colormaps  # noqa: E402

register_custom_colormaps()  # playNano's CLI does this at start; its API functions need it for afm_brown


def _movie(path: Path) -> tuple[list[int], list[np.ndarray]]:
    """Per-frame delays (ms) and RGB frames of a GIF."""
    delays, frames = [], []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            delays.append(im.info["duration"])
            frames.append(np.asarray(im.convert("RGB")).astype(np.int32))
    return delays, frames


def _assert_same_movie(theirs: Path, ours: Path, cmap: str) -> None:
    their_delays, their_frames = _movie(theirs)
    our_delays, our_frames = _movie(ours)
    assert len(our_frames) == len(their_frames)
    assert our_delays == their_delays
    colours = palette(cmap).astype(np.int32)  # the map's 255 levels + white for the text
    for t, o in zip(their_frames, our_frames):
        assert o.shape == t.shape
        used = np.unique(t.reshape(-1, 3), axis=0)
        nearest = np.abs(used[:, None, :] - colours[None, :, :]).sum(axis=2).min(axis=1)
        assert np.percentile(nearest, 95) <= 8, "playNano's colours are not this colour map's"
        assert np.median(np.abs(t - o).sum(axis=2)) <= 8, "the pictures differ"


def _stacks(n: int = 5) -> tuple[PNStack, object]:
    ours = synthetic_stack(n, 32, 40, pixel_size_nm=2.0, seed=4)
    ours.file_path = "movie.asd"
    theirs = PNStack(ours.data.astype(np.float64), 2.0, "height_trace", "movie.asd",
                     [dict(m) for m in ours.frame_metadata])
    return theirs, ours


def test_the_050_signatures_are_accepted_as_playnano_declares_them():
    def plain(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    assert plain(compat._export_gif_released) == plain(gif_export.export_gif)
    assert plain(compat._create_gif_released) == plain(gif_export.create_gif_with_scale_and_timestamp)


@pytest.mark.parametrize(
    "args, kwargs, cmap",
    [
        ((20, "viridis"), {}, "viridis"),  # the colour map in sixth place
        ((20,), {"fps": 10}, "afm_brown"),  # 0.5.0's keyword: its default map
        ((0, "gray", False, 3.0), {"zmin": "auto", "zmax": "auto"}, "gray"),
        ((20,), {"cmap_name": "afm_brown", "fps": 0}, "afm_brown"),  # fps 0: half a second per frame
    ],
)
def test_export_gif_makes_playnanos_movie(tmp_path, args, kwargs, cmap):
    theirs, ours = _stacks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gif_export.export_gif(theirs, True, tmp_path / "pn", "m", *args, **kwargs)
    compat.export_gif(ours, True, tmp_path / "afmio", "m", *args, **kwargs)
    _assert_same_movie(tmp_path / "pn" / "m.gif", tmp_path / "afmio" / "m.gif", cmap)


def test_create_gif_makes_playnanos_movie(tmp_path):
    _, ours = _stacks(4)
    data = np.asarray(ours.data, np.float64)
    times = [0.0, 0.5, 1.0, 1.5]
    args = (data, [2.0] * 4, times, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gif_export.create_gif_with_scale_and_timestamp(*args, tmp_path / "pn.gif", 4.0, "afm_brown")
    compat.create_gif_with_scale_and_timestamp(*args, tmp_path / "afmio.gif", 4.0, "afm_brown")
    _assert_same_movie(tmp_path / "pn.gif", tmp_path / "afmio.gif", "afm_brown")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gif_export.create_gif_with_scale_and_timestamp(data, [2.0] * 4, output_path=tmp_path / "pn2.gif")
    compat.create_gif_with_scale_and_timestamp(data, [2.0] * 4, output_path=tmp_path / "afmio2.gif", fps=5.0)
    _assert_same_movie(tmp_path / "pn2.gif", tmp_path / "afmio2.gif", "afm_brown")
