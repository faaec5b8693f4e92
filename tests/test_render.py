"""The shared renderer: palette, value range, normalisation, geometry, scale bar, labels."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from afmio import AFMImageStack, build_frame_metadata
from afmio_builtins.pictures.render import (
    ANNOTATION_INDEX,
    Layout,
    Renderer,
    RenderWarning,
    format_length,
    nice_length,
    normalize,
    palette,
    z_range,
)


def make_stack(data, px=0.5, *, py=None, times=None):
    data = np.asarray(data, np.float32)
    n = data.shape[0]
    times = [0.25 * i for i in range(n)] if times is None else times
    meta = [build_frame_metadata(timestamp=t, frame_pixel_size_nm=px) for t in times]
    return AFMImageStack(data, px, "height_trace", "x.asd", meta, pixel_size_y_nm=py)


# ---------------------------------------------------------------------- palette
def test_palette_samples_matplotlib_and_reserves_white():
    import matplotlib

    pal = palette("viridis")
    cmap = matplotlib.colormaps["viridis"]
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    for i in (0, 17, 127, 254):
        expected = np.rint(np.asarray(cmap(i / 254))[:3] * 255).astype(np.uint8)
        np.testing.assert_array_equal(pal[i], expected)
    assert tuple(pal[ANNOTATION_INDEX]) == (255, 255, 255)
    assert not pal.flags.writeable


def test_palette_default_is_afmhot_black_to_white():
    pal = palette()
    assert tuple(pal[0]) == (0, 0, 0)
    assert tuple(pal[254]) == (255, 255, 255)
    assert pal[127, 0] > pal[127, 1] > pal[127, 2]  # red ramps first: the "hot" look


def test_unknown_colormap_lists_valid_names():
    with pytest.raises(ValueError) as info:
        palette("viridiss")
    text = str(info.value)
    assert "unknown colormap 'viridiss'" in text
    assert "viridis" in text and "afmhot" in text and "gray" in text


def test_colormap_object_accepted():
    import matplotlib

    np.testing.assert_array_equal(palette(matplotlib.colormaps["gray"]), palette("gray"))


# ---------------------------------------------------------------------- z range
def test_auto_range_is_first_and_99th_percentile_of_finite_values():
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, (4, 30, 40)).astype(np.float32)
    data[0, 0, :5] = np.nan
    data[1, 1, 1] = np.inf
    finite = data[np.isfinite(data)].astype(np.float64)
    lo, hi = z_range(data, "auto", "auto")
    assert lo == pytest.approx(np.percentile(finite, 1), rel=1e-6)
    assert hi == pytest.approx(np.percentile(finite, 99), rel=1e-6)
    assert lo > finite.min() and hi < finite.max()


def test_range_mixes_numbers_auto_and_none():
    data = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    assert z_range(data, None, None) is None
    assert z_range(data, 100, None) == (100.0, 999.0)
    assert z_range(data, None, "500") == (0.0, 500.0)
    lo, hi = z_range(data, 2.5, "auto")
    assert (lo, hi) == (2.5, pytest.approx(np.percentile(np.arange(1000.0), 99)))


@pytest.mark.parametrize(("zmin", "zmax"), [(5, 5), (5, 1), (2000, None), (None, -1)])
def test_zmin_not_below_zmax_raises(zmin, zmax):
    data = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    with pytest.raises(ValueError, match=r"zmin .* must be less than zmax"):
        z_range(data, zmin, zmax)


@pytest.mark.parametrize("bad", ["high", [1.0], float("nan"), True])
def test_bad_bound_raises(bad):
    with pytest.raises(ValueError, match="zmin must be a finite number, 'auto', or None"):
        z_range(np.zeros((1, 2, 2)), bad, None)


def test_flat_stack_auto_range_renders_flat_not_error():
    assert z_range(np.full((2, 3, 3), 7.0), "auto", "auto") == (7.0, 7.0)
    assert not normalize(np.full((2, 3, 3), 7.0), (7.0, 7.0)).any()


# ---------------------------------------------------------------------- normalise
def test_global_normalisation_matches_formula():
    rng = np.random.default_rng(2)
    data = rng.uniform(-3, 13, (3, 20, 20))
    lo, hi = 0.0, 10.0
    expected = np.floor(np.clip((data - lo) / (hi - lo) * 254, 0, 254) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(normalize(data, (lo, hi)), expected)
    np.testing.assert_array_equal(normalize(data.astype(np.float32), (lo, hi)), expected)


def test_non_finite_values():
    frame = np.array([[0.0, 10.0, np.nan], [np.inf, -np.inf, 5.0]])
    glob = normalize(frame[np.newaxis], (0.0, 10.0))[0]
    np.testing.assert_array_equal(glob, [[0, 254, 0], [254, 0, 127]])
    # Per frame the range comes from finite values only (inf does not flatten the frame).
    per = normalize(frame)
    np.testing.assert_array_equal(per, [[0, 254, 0], [254, 0, 127]])


def test_per_frame_and_global_normalisation_differ_as_they_should():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, (16, 16))
    data = np.stack([base, base * 3 + 50])  # same picture, different offset and contrast
    per = normalize(data)
    np.testing.assert_array_equal(per[0], per[1])  # each frame stretched to its own range
    assert per[0].min() == 0 and per[0].max() == 254
    glob = normalize(data, z_range(data, None, 10.0 + 50))
    assert glob[0].max() <= math.ceil(254 / 60)  # frame 0 (0..1) sits at the bottom of 0..60
    assert glob[1].min() >= math.floor(254 * 50 / 60)


def test_integer_input_and_single_frame():
    out = normalize(np.array([[0, 5], [10, 10]], np.int16))
    np.testing.assert_array_equal(out, [[0, 127], [254, 254]])


# ---------------------------------------------------------------------- scale-bar length
@pytest.mark.parametrize(
    ("target", "limit", "expected"),
    [(17, None, 20), (20, None, 20), (12, None, 10), (0.3, None, 0.2), (40, None, 50),
     (17, 15, 10), (700, None, 500), (3.4, None, 5)],
)
def test_nice_length(target, limit, expected):
    assert nice_length(target, limit) == pytest.approx(expected)


def test_format_length():
    assert format_length(20.0) == "20 nm"
    assert format_length(0.5) == "0.5 nm"
    assert format_length(2000.0) == "2 µm"  # µm from 1 µm, round, never an exponent
    assert format_length(15000.0) == "15 µm"
    assert format_length(1500.0) == "1.5 µm"
    assert format_length(999.0) == "999 nm"
    assert format_length(0.05) == "0.05 nm"


def test_default_bar_is_round_length_near_a_fifth_of_the_width():
    r = Renderer(make_stack(np.zeros((1, 170, 170)), px=0.5))  # 85 nm wide
    assert r.bar_nm == 20  # 17 nm -> 20 nm
    r = Renderer(make_stack(np.zeros((1, 100, 300)), px=2.0))  # 600 nm wide
    assert r.bar_nm == 100  # 120 nm -> 100 nm


def test_too_long_bar_is_shortened_with_warning():
    # playNano's 100 nm default on an 85 nm frame.
    expected = r"100 nm scale bar does not fit a 85 nm wide frame \(at most 81.7 nm .*\); drawing 50 nm"
    with pytest.warns(RenderWarning, match=expected):
        r = Renderer(make_stack(np.zeros((1, 170, 170)), px=0.5), scale_bar_nm=100)
    assert r.bar_nm == 50
    lay = r.layout
    assert r.bar_pixels(0) <= lay.width - 2 * lay.margin


def test_bar_that_fits_is_kept_and_zero_disables():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = Renderer(make_stack(np.zeros((1, 200, 200)), px=0.5), scale_bar_nm=75)
    assert r.bar_nm == 75
    assert Renderer(make_stack(np.zeros((1, 8, 8))), scale_bar_nm=0).bar_pixels(0) == 0
    with pytest.raises(ValueError, match="scale_bar_nm"):
        Renderer(make_stack(np.zeros((1, 8, 8))), scale_bar_nm=-5)


# ---------------------------------------------------------------------- geometry
@pytest.mark.parametrize(
    ("shape", "size"),
    [((200, 200), (512, 512)), ((486, 768), (512, 809)), ((600, 300), (600, 300)), ((100, 121), (512, 620))],
)
def test_layout_upscales_to_512_high_never_shrinks(shape, size):
    lay = Layout.for_frame(*shape)
    assert (lay.height, lay.width) == size


def test_layout_does_not_blow_up_strip_frames():
    lay = Layout.for_frame(4, 2000)  # 512 px high would be 256000 px wide
    assert (lay.height, lay.width) == (8, 4096)
    lay = Layout.for_frame(10, 5000)  # wider than the limit already: not upscaled at all
    assert (lay.height, lay.width) == (10, 5000)


def test_layout_even_and_non_square_pixels():
    lay = Layout.for_frame(100, 121, even=True)
    assert (lay.height, lay.width) == (512, 620)
    lay = Layout.for_frame(101, 101, min_height=101, even=True)
    assert (lay.height, lay.width) == (102, 102)
    # y pixels twice as long as x pixels: the picture is twice as tall as wide.
    r = Renderer(make_stack(np.zeros((1, 100, 100)), px=1.0, py=2.0))
    assert (r.layout.height, r.layout.width) == (512, 256)


def test_annotation_geometry_in_index_frames():
    # Flat frames normalise to index 0; every ink pixel is index 255.
    stack = make_stack(np.zeros((2, 200, 200)), px=0.5)
    r = Renderer(stack, scale_bar_nm=20, draw_ts=False, outline=False)
    frame = next(r.index_frames())
    assert frame.shape == (512, 512)
    # Documented geometry at 512 px: margin 10, thickness 5, bottom edge 10 px above the bottom.
    length = round(20 / 0.5 * 512 / 200)  # 102 px
    bar = np.zeros_like(frame, bool)
    bar[512 - 10 - 5 : 512 - 10, 10 : 10 + length] = True
    label_rows = slice(0, 512 - 10 - 5 - 1)
    ink = frame == ANNOTATION_INDEX
    np.testing.assert_array_equal(ink[512 - 10 - 5 - 1 :], bar[512 - 10 - 5 - 1 :])
    # The label "20 nm" sits above the bar, starting at the margin, at most 4 px gap.
    rows, cols = np.nonzero(ink[label_rows])
    assert rows.max() == 512 - 10 - 5 - 4 - 1
    assert cols.min() >= 10 and cols.max() < 10 + 120
    assert not frame[~ink].any()


def test_outline_uses_darkest_palette_colour():
    stack = make_stack(np.ones((1, 512, 512)) * np.linspace(0, 1, 512)[np.newaxis, :], px=0.5)
    r = Renderer(stack, cmap="gray_r", draw_ts=False, scale_bar_nm=20)
    assert r.dark_index == 254  # gray_r is darkest at the top
    frame = next(r.index_frames())
    top = r.layout.bar_top
    length = r.bar_pixels(0)
    assert (frame[top : top + r.layout.bar_thickness, r.layout.margin : r.layout.margin + length] == 255).all()
    outline = r.layout.outline
    assert outline == 2
    assert (frame[top - 1, r.layout.margin : r.layout.margin + length] == 254).all()
    assert frame[top, r.layout.margin + length + outline - 1] == 254


def test_timestamps_drawn_top_left_and_fallback():
    stack = make_stack(np.zeros((3, 64, 64)), times=[0.0, 1.5, None])
    r = Renderer(stack, draw_scale=False, outline=False)
    assert r.labels == ["0.00 s", "1.50 s", "frame 2"]
    frame = next(r.index_frames())
    rows, cols = np.nonzero(frame == ANNOTATION_INDEX)
    # The ink box starts at the margin (its faint anti-aliased edge may fall below 50 %).
    m = r.layout.margin
    assert m <= rows.min() <= m + 1 and m <= cols.min() <= m + 1
    assert rows.max() < 512 // 4 and cols.max() < 512 // 2
    with pytest.warns(RenderWarning, match="2 timestamps for 3 frames; drawing frame numbers"):
        r = Renderer(stack, timestamps=[0.0, 1.0])
    assert r.labels == ["frame 0", "frame 1", "frame 2"]


def test_rgb_frames_blend_white_ink_and_match_palette_elsewhere():
    rng = np.random.default_rng(4)
    stack = make_stack(rng.uniform(0, 1, (2, 512, 512)))
    r = Renderer(stack, cmap="viridis")
    idx_frames = list(r.index_frames(annotate=False))
    for i, rgb in enumerate(r.rgb_frames()):
        plain = r.palette[idx_frames[i]]
        touched = np.zeros(rgb.shape[:2], bool)
        for o in r.overlays(i):
            h, w = o.ink.shape
            touched[o.y : o.y + h, o.x : o.x + w] = True
        np.testing.assert_array_equal(rgb[~touched], plain[~touched])
        assert (rgb[touched] == 255).all(axis=-1).sum() > 100  # solid white ink exists


def test_lazy_stack_renders_block_by_block():
    from afmio import ArrayFrameSource

    data = np.random.default_rng(5).uniform(0, 1, (20, 32, 32)).astype(np.float32)
    lazy = AFMImageStack(ArrayFrameSource(data), 0.5, "h", None)
    frames = list(Renderer(lazy, draw_ts=False, draw_scale=False).index_frames(block=3))
    assert len(frames) == 20 and lazy.is_lazy
    eager = list(Renderer(make_stack(data), draw_ts=False, draw_scale=False).index_frames())
    np.testing.assert_array_equal(np.stack(frames), np.stack(eager))


@pytest.mark.parametrize(("zmin", "zmax"), [(None, 0.5), (0.2, None), (0.1, 0.9), ("auto", None)])
def test_lazy_global_range_matches_eager(zmin, zmax):
    from afmio import ArrayFrameSource

    data = np.random.default_rng(6).uniform(-1, 1, (37, 8, 9)).astype(np.float32)
    data[3] = np.nan  # a frame without finite values
    data[5, 0, 0] = -np.inf
    lazy = AFMImageStack(ArrayFrameSource(data.copy()), 0.5, "h", None)
    renderer = Renderer(lazy, zmin=zmin, zmax=zmax)
    assert renderer.range == z_range(data, zmin, zmax)
    # min / max are found block by block; only percentiles read the whole stack at once
    assert lazy.is_lazy == ("auto" not in (zmin, zmax))


def test_empty_stack_refused():
    with pytest.raises(ValueError, match="empty stack"):
        Renderer(AFMImageStack(np.zeros((0, 4, 4)), 1.0, "h", None))
