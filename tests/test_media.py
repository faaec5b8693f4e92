"""The video drivers (mp4, mov, mkv, avi, webm) and image sequences (png, jpg, tif), decoded back
with PyAV and Pillow."""

from __future__ import annotations

import os
import sys
from fractions import Fraction

import numpy as np
import pytest

from afmio import AFMImageStack, MissingDependencyError, OverwriteError, build_frame_metadata
from afmio.synthetic import synthetic_stack
from afmio.testing import make_registry
from afmio_builtins.catalog import builtin
from afmio_builtins.pictures import media
from afmio_builtins.pictures.render import Renderer, palette


@pytest.fixture
def reg():
    names = ("mp4", "mov", "mkv", "avi", "webm", "png", "jpg", "tif-sequence")
    return make_registry(*(builtin(name) for name in names))


def make_stack(data, px=0.5, *, path="movie.asd"):
    data = np.asarray(data, np.float32)
    meta = [build_frame_metadata(timestamp=0.5 * i, frame_pixel_size_nm=px) for i in range(data.shape[0])]
    return AFMImageStack(data, px, "height_trace", path, meta)


# ---------------------------------------------------------------------- mp4
def decode_mp4(path):
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {
            "codec": stream.codec_context.name,
            "rate": stream.average_rate,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
        }
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    return frames, info


def test_mp4_frame_count_size_rate(reg, tmp_path):
    pytest.importorskip("av")
    stack = make_stack(np.random.default_rng(0).uniform(0, 1, (9, 100, 121)))
    out = reg.save(stack, tmp_path / "m.mp4", fps=12.5)
    frames, info = decode_mp4(out)
    assert frames.shape == (9, 512, 620, 3)  # 121 * 512 / 100 = 619.5 -> 620, even
    assert (info["width"], info["height"]) == (620, 512)
    assert info["codec"] == "h264"
    assert info["rate"] == Fraction(25, 2)


def test_mp4_odd_sizes_become_even_and_duration_sets_rate(reg, tmp_path):
    pytest.importorskip("av")
    stack = make_stack(np.random.default_rng(1).uniform(0, 1, (3, 513, 301)))
    frames, info = decode_mp4(reg.save(stack, tmp_path / "odd.mp4", duration=250))
    assert frames.shape == (3, 514, 302, 3)
    assert info["rate"] == 4


def test_mp4_pixels_follow_the_rendering(reg, tmp_path):
    pytest.importorskip("av")
    # Left half low, right half high; flat rows so chroma subsampling does not matter.
    data = np.zeros((2, 512, 512), np.float32)
    data[:, :, 256:] = 10.0
    stack = make_stack(data)
    out = reg.save(stack, tmp_path / "g.mp4", cmap="gray", zmin=0, zmax=10, crf=0, scale_bar_nm=50)
    frames, _ = decode_mp4(out)
    gray = frames[..., 1].astype(int)
    assert np.abs(gray[:, 200:400, 100:200] - 0).max() <= 3
    assert np.abs(gray[:, 200:400, 300:500] - 255).max() <= 3
    # Scale bar on the dark half: 50 nm at 0.5 nm/px = 100 px, rows 497..501, from x = 10.
    bar = gray[0, 497:502, 12:108]
    assert bar.min() >= 240
    assert gray[0, 497:502, 115:200].max() <= 20


def test_mp4_without_pyav_names_the_extra(reg, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    stack = make_stack(np.zeros((2, 8, 8)))
    with pytest.raises(MissingDependencyError, match=r"MP4 export needs the optional package 'av'.*afmio\[video\]"):
        reg.save(stack, tmp_path / "m.mp4")
    assert os.listdir(tmp_path) == []


def test_mp4_bad_options(reg, tmp_path):
    pytest.importorskip("av")
    stack = make_stack(np.zeros((2, 8, 8)))
    for bad in ({"fps": -1}, {"crf": 60}, {"fps": 5, "duration": 100}, {"preset": "quick"}):
        with pytest.raises(ValueError):
            reg.save(stack, tmp_path / "m.mp4", **bad)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("ext", "codec"), [(".mov", "h264"), (".mkv", "h264"), (".avi", "mpeg4"), (".webm", "vp9")])
def test_every_container_holds_every_frame_at_the_rate(reg, tmp_path, ext, codec):
    pytest.importorskip("av")
    data = np.zeros((4, 64, 64), np.float32)
    data[:, :, 32:] = 10.0
    out = reg.save(make_stack(data), tmp_path / f"m{ext}", fps=4, cmap="gray", zmin=0, zmax=10, draw_ts=False,
                   draw_scale=False)
    frames, info = decode_mp4(out)
    assert info["codec"] == codec and frames.shape == (4, 512, 512, 3) and info["rate"] == 4
    gray = frames[..., 1].astype(int)
    assert gray[:, 100:400, 50:200].max() <= 25 and gray[:, 100:400, 320:480].min() >= 230  # lossy, but the picture


def test_avi_and_webm_check_their_own_quality_options(reg, tmp_path):
    pytest.importorskip("av")
    stack = make_stack(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="quality"):
        reg.save(stack, tmp_path / "m.avi", quality=40)
    with pytest.raises(ValueError, match="crf"):
        reg.save(stack, tmp_path / "m.webm", crf=70)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("fmt", "ext", "pillow"), [("jpg", "jpg", "JPEG"), ("tif-sequence", "tif", "TIFF")])
def test_jpg_and_tif_sequences(reg, tmp_path, fmt, ext, pillow):
    from PIL import Image

    stack = make_stack(np.random.default_rng(5).uniform(0, 1, (3, 40, 40)))
    out = reg.save(stack, tmp_path / "run", format=fmt)
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"run_000{i}.{ext}" for i in range(3)]
    png = reg.save(stack, tmp_path / "ref", format="png")
    for name, ref in zip(names, sorted(png.iterdir())):
        with Image.open(out / name) as im, Image.open(ref) as expected:
            assert im.format == pillow and im.size == expected.size == (512, 512)
            diff = np.abs(np.asarray(im.convert("RGB"), int) - np.asarray(expected.convert("RGB"), int))
            assert (diff.mean() < 4) if ext == "jpg" else (diff.max() == 0)  # TIFF keeps the exact colours


def test_a_single_frame_sequence_is_one_file_and_a_video_is_refused(reg, tmp_path):
    from PIL import Image

    from afmio import WriteError

    stack = make_stack(np.random.default_rng(6).uniform(0, 1, (3, 20, 20)))
    one = reg.save(stack[1:2], tmp_path / "frame1.png", format="png")
    assert one.is_file()
    with Image.open(one) as im:
        assert im.format == "PNG" and im.mode == "P"
    with pytest.raises(WriteError, match="holds one frame"):
        reg.save(stack, tmp_path / "all.jpg", format="jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame1.png"]


# ---------------------------------------------------------------------- png sequence
def read_png(path):
    from PIL import Image

    with Image.open(path) as im:
        assert im.mode == "P"
        return np.asarray(im), np.asarray(im.getpalette(), np.uint8).reshape(-1, 3)


def test_png_sequence_layout_and_exact_pixels(reg, tmp_path):
    rng = np.random.default_rng(2)
    stack = make_stack(rng.uniform(0, 1, (12, 200, 200)))
    out = reg.save(stack, tmp_path / "run", format="png", cmap="viridis")
    assert out == tmp_path / "run" and out.is_dir()
    names = sorted(os.listdir(out))
    assert names == [f"run_{i:04d}.png" for i in range(12)]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left
    expected = list(Renderer(stack, cmap="viridis").index_frames())
    for i in (0, 11):
        idx, pal = read_png(out / names[i])
        assert idx.shape == (512, 512)
        np.testing.assert_array_equal(idx, expected[i])
        np.testing.assert_array_equal(pal[:256], palette("viridis"))


def test_png_sequence_export_naming(reg, tmp_path):
    stack = make_stack(np.random.default_rng(3).uniform(0, 1, (3, 16, 16)), path="/d/pn_asd_sample_0.asd")
    assert reg.export(stack, tmp_path, formats=["png"]) == [tmp_path / "pn_asd_sample_0"]
    assert sorted(os.listdir(tmp_path / "pn_asd_sample_0")) == [f"pn_asd_sample_0_{i:04d}.png" for i in range(3)]
    stack.processed["raw"] = stack.data.copy()
    stack.processed["level"] = stack.data + 1
    out = reg.export(stack, tmp_path, "named", formats=["png"])
    assert out == [tmp_path / "named_filtered"]
    assert sorted(os.listdir(out[0]))[0] == "named_filtered_0000.png"
    with pytest.raises(OverwriteError):
        reg.export(stack, tmp_path, "named", formats=["png"])
    reg.export(stack, tmp_path, "named", formats=["png"], overwrite=True, prefix="f")
    assert sorted(os.listdir(out[0])) == ["f_0000.png", "f_0001.png", "f_0002.png"]


def test_png_files_are_named_after_the_final_folder(reg, tmp_path):
    stack = synthetic_stack(2, 16, 16)
    for name in ("run", "run.v2", "x_filtered"):
        out = reg.save(stack, tmp_path / name, format="png")
        assert sorted(os.listdir(out)) == [f"{name}_0000.png", f"{name}_0001.png"]
    media.write_png_sequence(stack, tmp_path / "plain")  # called directly: named after its own folder
    assert sorted(os.listdir(tmp_path / "plain"))[0] == "plain_0000.png"


def test_png_sequence_bad_prefix(reg, tmp_path):
    stack = make_stack(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="prefix"):
        reg.save(stack, tmp_path / "s", format="png", prefix="a/b")
    assert os.listdir(tmp_path) == []
