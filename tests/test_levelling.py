"""Display-only levelling: what it removes, what it keeps, and that the data never changes."""

from __future__ import annotations

import numpy as np
import pytest

import afmio
from afmio import AFMImageStack
from afmio_builtins.pictures.levelling import level_frames, levelled
from afmio_builtins.pictures.render import Renderer


def _tilted(n=3, h=20, w=30, seed=0):
    """Frames = a different plane each + row offsets + a bump; returns (frames, bump)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    bump = 2.0 * np.exp(-((x - 15) ** 2 + (y - 10) ** 2) / 8.0)
    planes = np.stack([rng.normal() * 5 + rng.normal() * x + rng.normal() * y for _ in range(n)])
    rows = rng.normal(scale=0.5, size=(n, h, 1))
    return planes + rows + bump, bump


def test_plane_removes_exact_planes():
    y, x = np.mgrid[0:8, 0:12].astype(np.float64)
    frames = np.stack([3.0 + 0.5 * x - 2.0 * y, -7.0 + 0.1 * y])
    np.testing.assert_allclose(level_frames(frames, "plane"), 0.0, atol=1e-10)


def test_line_removes_row_offsets_and_keeps_the_features():
    frames, bump = _tilted()
    out = level_frames(frames, "line")
    np.testing.assert_allclose(np.median(out, axis=2), 0.0, atol=1e-12)  # every row's median is zero
    for frame in out:
        # the bump stands out by its height over the flat rows around it
        assert frame[10, 15] - np.median(frame) == pytest.approx(bump[10, 15], abs=0.3)
    assert np.abs(level_frames(frames, "plane")).max() > 1.0  # a plane alone leaves the row offsets


def test_gaps_are_fitted_around_and_stay_gaps():
    frames, _ = _tilted(1)
    frames[0, 3, 4] = np.nan
    frames[0, 7, :] = np.nan  # a whole missing line
    out = level_frames(frames, "line")
    assert np.isnan(out[0, 3, 4]) and np.isnan(out[0, 7]).all()
    assert np.isfinite(np.delete(out[0], 7, axis=0)[np.arange(19) != 3]).all()


def test_none_returns_the_frames_untouched_and_unknown_levels_fail():
    frames = np.ones((1, 2, 2), np.float32)
    assert level_frames(frames, "none") is frames
    with pytest.raises(ValueError, match="plane"):
        level_frames(frames, "tilt")


def test_rendering_levelled_leaves_the_stack_and_stays_lazy(tmp_path):
    frames, _ = _tilted()
    stack = AFMImageStack(frames.astype(np.float32), 1.0, "h", None)
    afmio.save(stack, tmp_path / "s.h5")
    before = stack.data.copy()
    with afmio.load(tmp_path / "s.h5", lazy=True) as lazy:
        view = levelled(lazy, "line")
        assert lazy.is_lazy and view.is_lazy
        np.testing.assert_allclose(view[1], level_frames(frames[1:2], "line")[0], atol=1e-5)
        renderer = Renderer(lazy, level="line", zmin="auto", zmax="auto")
        list(renderer.normalized_frames())
    np.testing.assert_array_equal(stack.data, before)
    # the range refers to the levelled values: centred on zero, not on the planes' offsets
    lo, hi = renderer.range
    assert lo < 0 < hi and hi - lo < 5


def test_gif_level_option_changes_the_picture_not_the_file_data(tmp_path):
    from PIL import Image

    frames, _ = _tilted()
    stack = AFMImageStack(frames, 1.0, "h", None)
    plain = afmio.save(stack, tmp_path / "plain.gif")
    flat = afmio.save(stack, tmp_path / "flat.gif", level="line")
    a, b = (np.asarray(Image.open(p).convert("L"), dtype=float) for p in (plain, flat))
    assert a.shape == b.shape and not np.array_equal(a, b)
    with pytest.raises(ValueError, match="level"):
        afmio.save(stack, tmp_path / "bad.gif", level="wobbly")
