"""The ``gif`` driver, decoded back with Pillow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import afmio
from afmio import AFMImageStack, build_frame_metadata
from afmio.testing import make_registry
from afmio_builtins.catalog import builtin
from afmio_builtins.pictures.render import RenderWarning, normalize, palette


@pytest.fixture
def reg():
    return make_registry(builtin("gif"))


def make_stack(data, px=0.5, *, times=None, path="movie.asd"):
    data = np.asarray(data, np.float32)
    n = data.shape[0]
    times = [0.5 * i for i in range(n)] if times is None else times
    meta = [build_frame_metadata(timestamp=t, frame_pixel_size_nm=px) for t in times]
    return AFMImageStack(data, px, "height_trace", path, meta)


def decode(path):
    """Every frame as RGB, plus per-frame info (duration, loop)."""
    from PIL import Image

    frames, infos = [], []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
            infos.append(dict(im.info))
    return np.stack(frames), infos


def gray_indices(rgb):
    """Invert the 'gray' palette: palette index of each pixel (255 = white ink)."""
    lut = {int(v): i for i, v in enumerate(palette("gray")[:255, 0])}
    values = rgb[..., 0]
    out = np.vectorize(lambda v: lut.get(int(v), -1), otypes=[int])(np.unique(values))
    return out[np.searchsorted(np.unique(values), values)]


def test_frame_count_size_duration_loop(reg, tmp_path):
    rng = np.random.default_rng(0)
    stack = make_stack(rng.uniform(0, 5, (7, 200, 200)))
    out = reg.save(stack, tmp_path / "movie.gif")
    frames, infos = decode(out)
    assert frames.shape == (7, 512, 512, 3)
    assert all(info["duration"] == 200 for info in infos)  # 5 fps default
    assert infos[0]["loop"] == 0
    with open(out, "rb") as fh:
        assert fh.read(6) == b"GIF89a"


def test_single_frame_and_tiny_frame(reg, tmp_path):
    frames, infos = decode(reg.save(make_stack(np.arange(6.0).reshape(1, 2, 3)), tmp_path / "one.gif"))
    assert frames.shape == (1, 512, 768, 3)
    assert infos[0]["duration"] == 200


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"fps": 10}, [100] * 3), ({"fps": 3}, [330] * 3), ({"duration": 250}, [250] * 3),
     ({"duration": [100, 200, 400]}, [100, 200, 400])],
)
def test_timing_options(reg, tmp_path, options, expected):
    stack = make_stack(np.random.default_rng(1).uniform(0, 1, (3, 32, 32)))
    out = reg.save(stack, tmp_path / "t.gif", **options)
    _, infos = decode(out)
    assert [i["duration"] for i in infos] == expected  # GIF keeps 1/100 s: 1000/3 ms -> 330


@pytest.mark.parametrize(("loop", "stored"), [(0, 0), (3, 3), (None, None)])
def test_loop_option(reg, tmp_path, loop, stored):
    stack = make_stack(np.random.default_rng(1).uniform(0, 1, (2, 32, 32)))
    _, infos = decode(reg.save(stack, tmp_path / "l.gif", loop=loop))
    assert infos[0].get("loop") == stored


@pytest.mark.parametrize("bad", [{"fps": 0}, {"fps": 5, "duration": 100}, {"duration": [1, 2]}, {"loop": -1}])
def test_bad_timing_raises_and_leaves_nothing(reg, tmp_path, bad):
    stack = make_stack(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError):
        reg.save(stack, tmp_path / "bad.gif", **bad)
    assert os.listdir(tmp_path) == []


def test_pixels_are_the_normalised_data_through_the_palette(reg, tmp_path):
    rng = np.random.default_rng(2)
    data = rng.normal(0, 1, (3, 512, 512)).astype(np.float32)
    out = reg.save(stack := make_stack(data), tmp_path / "p.gif", cmap="viridis", draw_ts=False, draw_scale=False)
    frames, _ = decode(out)
    pal = palette("viridis")
    np.testing.assert_array_equal(frames, pal[normalize(stack.data)])


def test_auto_range_uses_stack_percentiles(reg, tmp_path):
    rng = np.random.default_rng(3)
    data = rng.uniform(0, 100, (4, 512, 512)).astype(np.float32)
    data[0, :10, :10] = 1e6  # outliers that min/max would let dominate
    out = reg.save(make_stack(data), tmp_path / "a.gif", cmap="gray", zmin="auto", zmax="auto",
                   draw_ts=False, draw_scale=False)
    frames, _ = decode(out)
    values = data.astype(np.float64).ravel()
    lo, hi = np.percentile(values, 1), np.percentile(values, 99)
    expected = np.floor(np.clip((data - lo) / (hi - lo) * 254, 0, 254) + 0.5).astype(np.uint8)
    got = gray_indices(frames)
    # float32 arithmetic may round a level boundary differently; nothing is off by more.
    assert np.abs(got - expected).max() <= 1
    assert np.mean(got == expected) > 0.999
    assert (got[0, :10, :10] == 254).all()


def test_per_frame_vs_global_normalisation(reg, tmp_path):
    base = np.random.default_rng(4).uniform(0, 1, (512, 512)).astype(np.float32)
    data = np.stack([base, base + 50])
    per, _ = decode(reg.save(make_stack(data), tmp_path / "per.gif", cmap="gray", draw_scale=False))
    glob, _ = decode(reg.save(make_stack(data), tmp_path / "glob.gif", cmap="gray", zmin=0, draw_scale=False))
    below_text = slice(100, None)
    # Per frame: the offset disappears, both frames look the same (up to float32
    # rounding at a level boundary: base + 50 is not exact).
    p = gray_indices(per[:, below_text])
    assert np.abs(p[0] - p[1]).max() <= 1 and np.mean(p[0] == p[1]) > 0.99
    # Global (zmin=0, zmax=None -> stack max 51): frame 0 is dark, frame 1 bright.
    g = gray_indices(glob[:, below_text])
    assert g[0].max() <= np.ceil(254 / 51) and g[1].min() >= np.floor(254 * 50 / 51)


def test_scale_bar_pixels_where_the_geometry_says(reg, tmp_path):
    # Flat frames render black; every white pixel is ink.
    for px, length in ((0.5, round(20 / 0.5 * 512 / 200)), (1.0, round(20 / 1.0 * 512 / 200))):
        stack = make_stack(np.zeros((2, 200, 200)), px=px)
        frames, _ = decode(reg.save(stack, tmp_path / f"bar{px}.gif", scale_bar_nm=20, overwrite=True))
        white = (frames[0] == 255).all(axis=-1)
        bar_rows = white[512 - 10 - 5 : 512 - 10]
        assert bar_rows.all(axis=0).sum() == length  # 102 px at 0.5 nm/px, 51 at 1 nm/px
        assert bar_rows[:, 10 : 10 + length].all()
        assert not white[512 - 10 - 5 - 1 : 512 - 10 - 5 + 1 + 5 + 1, :10].any()
        assert not white[512 - 10 :].any()


def test_too_long_default_bar_is_shortened(reg, tmp_path):
    stack = make_stack(np.zeros((2, 170, 170)))  # 85 nm
    with pytest.warns(RenderWarning, match="drawing 50 nm"):
        frames, _ = decode(reg.save(stack, tmp_path / "s.gif", scale_bar_nm=100))
    white = (frames[0] == 255).all(axis=-1)
    assert white[512 - 15 : 512 - 10].all(axis=0).sum() == round(50 / 0.5 * 512 / 170)


def test_switches_remove_text(reg, tmp_path):
    stack = make_stack(np.zeros((2, 64, 64)))
    frames, _ = decode(reg.save(stack, tmp_path / "n.gif", draw_ts=False, draw_scale=False))
    assert frames.shape[0] == 2 and frames.max() == 0  # flat, nothing drawn; repeated frames kept
    frames, _ = decode(reg.save(stack, tmp_path / "ts.gif", draw_scale=False))
    white = (frames[0] == 255).all(axis=-1)
    assert white[:60, :150].any() and not white[60:].any()  # only the time stamp, top-left


def test_errors_from_options(reg, tmp_path):
    stack = make_stack(np.random.default_rng(5).uniform(0, 1, (2, 16, 16)))
    with pytest.raises(ValueError, match=r"unknown colormap 'afm_bron'.*afm_brown"):
        reg.save(stack, tmp_path / "c.gif", cmap="afm_bron")
    with pytest.raises(ValueError, match="zmin"):
        reg.save(stack, tmp_path / "z.gif", zmin=3, zmax=1)
    with pytest.raises(TypeError, match="no option 'colormap'"):
        reg.save(stack, tmp_path / "o.gif", colormap="gray")
    assert os.listdir(tmp_path) == []


def test_export_naming_filtered_and_raw(reg, tmp_path):
    rng = np.random.default_rng(6)
    raw = rng.uniform(0, 1, (3, 512, 512)).astype(np.float32)
    stack = make_stack(raw * 10 + 100, path="/data/pn_asd_sample_0.asd")
    assert reg.export(stack, tmp_path, formats=["gif"]) == [tmp_path / "pn_asd_sample_0.gif"]
    stack.processed["raw"] = raw
    stack.processed["flatten"] = raw * 10 + 100
    out = reg.export(stack, tmp_path, formats=["gif"], fps=10, draw_ts=False, draw_scale=False, zmin=0, zmax=1)
    assert out == [tmp_path / "pn_asd_sample_0_filtered.gif"]
    frames, infos = decode(out[0])
    assert [i["duration"] for i in infos] == [100, 100, 100]
    assert frames.min() == 255  # processed data (100..110) is above zmax=1: all white
    out = reg.export(stack, tmp_path, "raw_named", formats=["gif"], raw=True, draw_ts=False, draw_scale=False,
                     zmin=0, zmax=1, cmap="gray")
    assert out == [tmp_path / "raw_named.gif"]
    frames, _ = decode(out[0])
    np.testing.assert_array_equal(gray_indices(frames), normalize(raw, (0.0, 1.0)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # drivers other helpers have not committed yet
def test_save_through_the_shared_registry(tmp_path):
    stack = make_stack(np.random.default_rng(7).uniform(0, 1, (2, 16, 16)))
    out = afmio.save(stack, tmp_path / "movie.gif")
    assert decode(out)[0].shape == (2, 512, 512, 3)


def test_listing_formats_imports_no_picture_library():
    code = (
        "import sys, afmio; afmio.registry.formats(); "
        "print(sorted(m for m in ('PIL', 'matplotlib', 'av') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_real_asd_sample_renders(sample, tmp_path):
    path = sample("asd/asd_sample_0.asd")
    if "asd" not in {f.name for f in afmio.registry.formats()}:
        pytest.skip("the asd driver is not installed yet")
    stack = afmio.load(path)
    frames, infos = decode(afmio.save(stack, tmp_path / "asd.gif"))
    assert frames.shape == (32, 512, 512, 3)  # 200 x 200 px upscaled
    assert infos[0]["duration"] == 200
    white = (frames[0] == 255).all(axis=-1)
    # 100 nm / 200 px = 0.5 nm/px; default bar 20 nm = 40 px -> 102 px at 2.56x.
    assert white[512 - 15 : 512 - 10].all(axis=0).sum() == 102


def test_second_decoder_agrees(reg, tmp_path):
    av = pytest.importorskip("av")
    stack = make_stack(np.random.default_rng(8).normal(0, 1, (4, 100, 150)))
    out = reg.save(stack, tmp_path / "ff.gif", cmap="viridis")
    pillow, _ = decode(out)
    with av.open(str(out)) as container:
        ffmpeg = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    np.testing.assert_array_equal(ffmpeg, pillow)
    assert pillow.shape == (4, 512, 768, 3)


def test_foreign_encoder_palette_becomes_a_local_table():
    import io

    from PIL import Image

    from afmio_builtins.pictures._gif_stream import GifStreamWriter, encode_frame

    ours = palette("gray").tobytes()
    theirs = palette("viridis").tobytes()
    img = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    img.putpalette(theirs)
    block = encode_frame(img, ours)
    assert block[9] & 0x80  # local colour table attached
    buf = io.BytesIO()
    writer = GifStreamWriter(buf, (16, 16), ours, loop=0)
    writer.add(block, 100)
    writer.close()
    buf.seek(0)
    with Image.open(buf) as im:
        got = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(got.reshape(256, 3), palette("viridis"))


def test_ordered_map_keeps_order_and_raises():
    from afmio_builtins.pictures._gif_stream import ordered_map

    assert list(ordered_map(lambda x: x * x, range(50), workers=3)) == [x * x for x in range(50)]
    assert list(ordered_map(lambda x: -x, range(5), workers=1)) == [0, -1, -2, -3, -4]

    def boom(x):
        if x == 7:
            raise ValueError("frame 7")
        return x

    with pytest.raises(ValueError, match="frame 7"):
        list(ordered_map(boom, range(20), workers=2))


def test_writer_refuses_bad_geometry():
    import io

    from afmio_builtins.pictures._gif_stream import GifStreamWriter

    with pytest.raises(ValueError, match="256 RGB entries"):
        GifStreamWriter(io.BytesIO(), (4, 4), b"\0" * 30, 0)
    with pytest.raises(ValueError, match=r"1\.\.65535"):
        GifStreamWriter(io.BytesIO(), (70000, 4), b"\0" * 768, 0)


def test_timestamps_option_and_wrong_length(reg, tmp_path):
    stack = make_stack(np.zeros((2, 64, 64)))
    a, _ = decode(reg.save(stack, tmp_path / "a.gif", draw_scale=False, timestamps=[10.0, 20.0]))
    b, _ = decode(reg.save(stack, tmp_path / "b.gif", draw_scale=False))
    assert not np.array_equal(a[0], b[0])  # "10.00 s" drawn instead of "0.00 s"
    with pytest.warns(RenderWarning, match="3 timestamps for 2 frames"):
        c, _ = decode(reg.save(stack, tmp_path / "c.gif", draw_scale=False, timestamps=[1, 2, 3]))
    assert not np.array_equal(c[0], b[0])  # "frame 0"
