"""afmio.compat.playnano: every function with playNano 0.5.0's signature, called as playNano's users do."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio import ChannelNotFoundError
from afmio.compat import playnano as pn
from afmio.synthetic import synthetic_stack


def _stack(n: int = 4):
    # 5 nm pixels: playNano's default 100 nm scale bar fits the 160 nm wide frame.
    return synthetic_stack(n, 24, 32, seed=3, pixel_size_nm=5.0)


def _processed(stack):
    """A stack as playNano's pipeline leaves it: raw snapshot + one step, one frame dropped."""
    stack.processed["raw"] = stack.data.copy()
    stack.processed["step_1_remove_plane"] = stack.data - 1.0
    stack.state_backups["frame_metadata_before_edit"] = [dict(m) for m in stack.frame_metadata]
    stack.data = stack.data[1:] - 1.0
    stack.frame_metadata = stack.frame_metadata[1:]
    return stack


def test_signatures_match_playnano():
    expected = {
        "load_afm_stack": "(file_path, channel='height_trace')",
        "get_loader_for_file": "(file_path, file_loaders, folder_loaders)",
        "get_loader_for_folder": "(folder_path, folder_loaders)",
        "load_npz_bundle": "(path, channel='height_trace')",
        "load_h5_bundle": "(path, channel='height_trace')",
        "load_ome_tiff_stack": "(path, channel='height_trace')",
        "check_path_is_path": "(path)",
        "save_npz_bundle": "(path, stack, raw=False)",
        "save_h5_bundle": "(path, stack, raw=False)",
        "save_ome_tiff_stack": "(path, afm_stack, raw=False)",
        "export_bundles": "(afm_stack, output_folder, base_name, formats, raw=False)",
        # Both GIF spellings: playNano 0.5.0's and the older documented one.
        "_create_gif_released": (
            "(image_stack, pixel_sizes_nm, timestamps=None, scale_bar_length_nm=100, output_path='output', "
            "fps=5.0, cmap_name='afm_brown', zmin=None, zmax=None, draw_ts=True, draw_scale=True, font_scale=2.0)"
        ),
        "_create_gif_documented": (
            "(image_stack, pixel_size_nm, timestamps=None, scale_bar_length_nm=100, output_path='output', "
            "duration=0.5, cmap_name='afmhot', zmin=None, zmax=None, draw_ts=True, draw_scale=True)"
        ),
        "_export_gif_released": (
            "(afm_stack, make_gif, output_folder, output_name, scale_bar_nm, cmap_name='afm_brown', raw=False, "
            "fps=5.0, zmin=None, zmax=None, draw_ts=True, draw_scale=True, font_scale=2.0)"
        ),
        "_export_gif_documented": (
            "(afm_stack, make_gif, output_folder, output_name, scale_bar_nm, raw=False, zmin=None, "
            "zmax=None, draw_ts=True, draw_scale=True)"
        ),
        # playNano 0.5.0's video and image-sequence exports (tests/interop compares with the real ones).
        "export_video": (
            "(afm_stack, make_video, output_folder, output_name, scale_bar_nm, fmt='mp4', fps=5.0, raw=False, "
            "zmin=None, zmax=None, draw_ts=True, draw_scale=True, cmap_name='afm_brown', font_scale=2.0)"
        ),
        "create_video_with_scale_and_timestamp": (
            "(image_stack, pixel_sizes_nm, timestamps=None, scale_bar_length_nm=100, output_path='output.mp4', "
            "fps=5.0, cmap_name='afm_brown', zmin=None, zmax=None, draw_ts=True, draw_scale=True, font_scale=2.0)"
        ),
        "export_image_sequence": (
            "(afm_stack, make_sequence, output_folder, output_name, scale_bar_nm, fmt='png', raw=False, "
            "zmin=None, zmax=None, draw_ts=True, draw_scale=True, cmap_name='afm_brown', font_scale=2.0)"
        ),
        "create_image_sequence": (
            "(image_stack, pixel_sizes_nm, timestamps=None, scale_bar_length_nm=100, output_folder='output_frames', "
            "base_name='frame', fmt='png', cmap_name='afm_brown', zmin=None, zmax=None, draw_ts=True, "
            "draw_scale=True, font_scale=2.0)"
        ),
    }
    for name, sig in expected.items():
        params = inspect.signature(getattr(pn, name)).parameters.values()
        plain = "(" + ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params) + ")"
        assert plain == sig, name
    public = {n for n in expected if not n.startswith("_")} | {"create_gif_with_scale_and_timestamp", "export_gif"}
    assert sorted(public) == sorted(n for n in pn.__all__ if n != "OrientationWarning")


def test_check_path_is_path():
    p = Path("x/y.npz")
    assert pn.check_path_is_path(p) is p
    assert pn.check_path_is_path("x/y.npz") == p
    with pytest.raises(TypeError, match="is not a string or Path"):
        pn.check_path_is_path(3)


@pytest.mark.parametrize(("save", "load", "ext"), [
    (pn.save_npz_bundle, pn.load_npz_bundle, ".npz"),
    (pn.save_h5_bundle, pn.load_h5_bundle, ".h5"),
])
def test_bundle_save_sets_the_suffix_overwrites_and_loads_back(tmp_path, save, load, ext):
    stack = _stack()
    save(tmp_path / "out" / "stack_export", stack)  # playNano adds the suffix and the folders
    path = tmp_path / "out" / f"stack_export{ext}"
    assert path.is_file()
    other = _stack(2)
    save(str(path), other)  # replaces, as playNano does
    back = load(path, channel="anything")  # bundles ignore channel, as in playNano
    assert np.array_equal(back.data, other.data)
    assert back.channel == "height_trace"
    assert back.frame_metadata == other.frame_metadata
    assert back.provenance["bundle"]["bundle_type"] == ext[1:]


def test_bundle_raw_export_uses_the_snapshot(tmp_path):
    stack = _processed(_stack())
    pn.save_h5_bundle(tmp_path / "r", stack, raw=True)
    back = pn.load_h5_bundle(tmp_path / "r.h5")
    assert np.array_equal(back.data, stack.processed["raw"])
    assert back.n_frames == 4 and len(back.frame_metadata) == 4


def test_ome_tiff_save_and_load_single_frame(tmp_path):
    one = _stack(1)
    pn.save_ome_tiff_stack(tmp_path / "one.ome.tif", one)
    back = pn.load_ome_tiff_stack(tmp_path / "one.ome.tif")
    # playNano 0.5.0 raises "Unexpected OME-TIFF shape" here; afmio gives one frame.
    assert back.shape == (1, 24, 32)
    assert np.array_equal(back.data, one.data)
    assert back.pixel_size_nm == pytest.approx(5.0)


def test_export_bundles_names_order_and_filtered(tmp_path):
    stack = _stack()
    stack.file_path = "/data/movie.asd"
    pn.export_bundles(stack, tmp_path / "plain", None, ["h5", "tif", "npz"])
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["movie.h5", "movie.npz", "movie.ome.tif"]
    processed = _processed(_stack())
    pn.export_bundles(processed, tmp_path / "proc", "run.v1", ["npz"])
    assert [p.name for p in (tmp_path / "proc").iterdir()] == ["run_filtered.npz"]
    pn.export_bundles(processed, tmp_path / "proc", "run", ["npz"], raw=True)
    raw = afmio.load(tmp_path / "proc" / "run.npz")
    assert np.array_equal(raw.data, processed.processed["raw"])
    pn.export_bundles(processed, tmp_path / "proc", "run", ["npz"], raw=True)  # overwrites quietly


def test_export_bundles_unknown_format_exits(tmp_path):
    with pytest.raises(SystemExit) as exc:
        pn.export_bundles(_stack(), tmp_path, "x", ["npz", "gif"])
    assert exc.value.code == 1
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="Invalid characters"):
        pn.export_bundles(_stack(), tmp_path / "a*b", "x", ["npz"])
    with pytest.raises(ValueError, match="Invalid characters"):
        pn.export_bundles(_stack(), tmp_path, "bad|name", ["npz"])


def test_get_loader_for_file_with_playnano_mappings():
    def load_ome(p, channel="height_trace"):
        return None

    def load_tif(p, channel="height_trace"):
        return None

    file_loaders = {".ome.tif": load_ome, ".tif": load_tif, ".npz": load_tif}
    folder_loaders = {".jpk": load_tif, ".spm": load_tif}
    assert pn.get_loader_for_file(Path("a.OME.TIF"), file_loaders, folder_loaders) == (".ome.tif", load_ome)
    assert pn.get_loader_for_file("x.v2.tif", file_loaders, folder_loaders) == (".tif", load_tif)
    with pytest.raises(ValueError, match="typically a single-frame export"):
        pn.get_loader_for_file(Path("frame.jpk"), file_loaders, folder_loaders)
    with pytest.raises(ValueError, match="has no extension"):
        pn.get_loader_for_file(Path("noext"), file_loaders, folder_loaders)
    with pytest.raises(ValueError, match=r"Unsupported file type: \.xyz"):
        pn.get_loader_for_file(Path("a.xyz"), file_loaders, folder_loaders)


def test_get_loader_for_file_with_the_registry(tmp_path):
    stack = _stack()
    afmio.save(stack, tmp_path / "m.npz")
    ext, loader = pn.get_loader_for_file(tmp_path / "m.npz", None, None)
    assert ext == ".npz"
    assert np.array_equal(loader(tmp_path / "m.npz").data, stack.data)
    with pytest.raises(FileNotFoundError):
        pn.get_loader_for_file(tmp_path / "gone.npz", None, None)


def test_get_loader_for_folder_with_playnano_mappings(tmp_path):
    def jpk(p, channel="height_trace"):
        return None

    def spm(p, channel="height_trace"):
        return None

    loaders = {".jpk": jpk, ".spm": spm}
    for name in ("a.001", "a.002", "a.003", "b.JPK", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert pn.get_loader_for_folder(tmp_path, loaders) == (".jpk", jpk)  # .jpk wins even when fewer
    (tmp_path / "b.JPK").unlink()
    assert pn.get_loader_for_folder(str(tmp_path), loaders) == (".spm", spm)  # .NNN counts as .spm
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"No supported AFM files found in the folder\."):
        pn.get_loader_for_folder(empty, loaders)


def test_get_loader_for_folder_with_the_registry(sample):
    folder = sample("spm_folder_fastscan_nanolocz")
    ext, loader = pn.get_loader_for_folder(folder, None)
    assert ext == ".spm"
    stack = loader(folder)  # playNano's default "height_trace" falls back to the height channel
    assert stack.channel == "Height Sensor"
    assert stack.shape == (3, 486, 768)


def test_load_afm_stack(tmp_path, sample):
    stack = _stack()
    afmio.save(stack, tmp_path / "m.h5")
    back = pn.load_afm_stack(str(tmp_path / "m.h5"))
    assert np.array_equal(back.data, stack.data)
    asd = pn.load_afm_stack(sample("asd/asd_sample_0.asd"))
    assert asd.channel == "TP"  # playNano raises for the default channel here
    assert asd.n_frames == 32
    with pytest.raises(ChannelNotFoundError) as exc:
        pn.load_afm_stack(sample("asd/asd_sample_0.asd"), channel="ER")
    assert exc.value.available == ["TP"]
    with pytest.raises(FileNotFoundError):
        pn.load_afm_stack(tmp_path / "missing.asd")


def test_load_afm_stack_where_playnano_fails(sample):
    # NanoScope v5 spells the key "Scan rate"; playNano 0.5.0 raises "Missing data: line_rate=None".
    old = pn.load_afm_stack(sample("spm_folder_old_bruker"))
    assert old.channel == "Height" and old.shape == (2, 256, 256)
    assert old.pixel_size_nm == pytest.approx(15000 / 256)
    assert old.frame_metadata[0]["line_rate"] is not None
    assert old.get_frame_times()[0] == 0.0 and old.get_frame_times()[1] > 0


def _gif_frames(path):
    from PIL import Image

    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        return im.n_frames, durations


def test_create_gif_with_scale_and_timestamp(tmp_path):
    data = _stack(3).data
    out = tmp_path / "x.gif"
    pn.create_gif_with_scale_and_timestamp(data, 5.0, timestamps=[0.0, 0.1, 0.2], output_path=out,
                                           duration=0.25, zmin="auto", zmax="auto")
    # Seconds per frame as asked (playNano would store 125 ms).
    assert _gif_frames(out) == (3, [250, 250, 250])
    pn.create_gif_with_scale_and_timestamp(data[0], 5.0, timestamps=(1, 2), output_path=str(out),
                                           draw_ts=False, draw_scale=False, cmap_name="gray")
    assert _gif_frames(out) == (1, [500])  # a 2-D frame, wrong-length times: frame indices
    with pytest.raises(ValueError):
        pn.create_gif_with_scale_and_timestamp(data, 5.0, output_path=out, zmin="lowest")


def test_export_gif(tmp_path):
    stack = _stack()
    stack.file_path = "/data/movie.asd"
    pn.export_gif(stack, False, tmp_path / "no", None, None)
    assert not (tmp_path / "no").exists()
    pn.export_gif(stack, True, tmp_path / "g", None, None)
    assert _gif_frames(tmp_path / "g" / "movie.gif") == (4, [500] * 4)
    processed = _processed(_stack())
    pn.export_gif(processed, True, tmp_path / "g", "run", 20, zmin=0, zmax=10)
    assert _gif_frames(tmp_path / "g" / "run_filtered.gif")[0] == 3
    pn.export_gif(processed, True, tmp_path / "g", "run", 0, raw=True, draw_ts=False)
    assert _gif_frames(tmp_path / "g" / "run.gif")[0] == 4


def _gif_palette(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)


def test_export_gif_takes_playnano_050_arguments(tmp_path):
    """0.5.0's spelling: a colour map sixth, ``fps=``, ``font_scale=``; its defaults with its keywords."""
    from afmio_builtins.pictures.render import palette

    stack = _stack()
    stack.file_path = "/data/movie.asd"
    pn.export_gif(stack, True, tmp_path, "viridis", 20, "viridis")
    assert np.array_equal(_gif_palette(tmp_path / "viridis.gif"), palette("viridis"))
    assert _gif_frames(tmp_path / "viridis.gif") == (4, [200] * 4)  # a map sixth is 0.5.0: 5 frames/s
    pn.export_gif(stack, True, tmp_path, "fast", 20, fps=10)
    assert _gif_frames(tmp_path / "fast.gif") == (4, [100] * 4)
    assert np.array_equal(_gif_palette(tmp_path / "fast.gif"), palette("afm_brown"))  # 0.5.0's default map
    pn.export_gif(stack, True, tmp_path, "pos", 20, "gray", False, 4.0, 0, 10, True, True, 1.0)
    assert _gif_frames(tmp_path / "pos.gif") == (4, [250] * 4)
    pn.export_gif(stack, True, tmp_path, "zero", 20, fps=0)  # 0.5.0: not positive -> half a second
    assert _gif_frames(tmp_path / "zero.gif") == (4, [500] * 4)
    # The older spelling: a bool sixth is raw; its defaults are afmhot at half a second.
    pn.export_gif(_processed(_stack()), True, tmp_path, "old", 0, True, 0, 10)
    assert _gif_frames(tmp_path / "old.gif") == (4, [500] * 4)
    assert np.array_equal(_gif_palette(tmp_path / "old.gif"), palette("afmhot"))
    with pytest.raises(TypeError, match="unexpected keyword"):
        pn.export_gif(stack, True, tmp_path, "x", 20, duration=0.1)
    with pytest.raises(TypeError):
        pn.export_gif(stack, True, tmp_path, "x", 20, "gray", False, 5.0, None, None, True, True, 2.0, "extra")


def test_create_gif_takes_playnano_050_arguments(tmp_path):
    data = _stack(3).data
    out = tmp_path / "x.gif"
    pn.create_gif_with_scale_and_timestamp(data, [5.0] * 3, [0.0, 0.1, 0.2], 50, out, 4.0)
    assert _gif_frames(out) == (3, [250] * 3)  # a per-frame list second: 0.5.0, sixth is fps
    assert np.array_equal(_gif_palette(out), pn_palette("afm_brown"))
    pn.create_gif_with_scale_and_timestamp(data, 5.0, None, 50, out, 0.1)
    assert _gif_frames(out) == (3, [100] * 3)  # a number second: the older spelling, sixth is duration
    pn.create_gif_with_scale_and_timestamp(image_stack=data, pixel_sizes_nm=[5.0] * 3, output_path=out, fps=20)
    assert _gif_frames(out) == (3, [50] * 3)
    with pytest.raises(TypeError, match="mixes"):
        pn.create_gif_with_scale_and_timestamp(data, 5.0, output_path=out, fps=5, duration=0.2)


def pn_palette(name):
    from afmio_builtins.pictures.render import palette

    return palette(name)


def test_afm_brown_is_a_colour_map_everywhere(tmp_path):
    """playNano's default map works by name in every picture writer, and reversed."""
    from afmio_builtins.pictures.render import palette

    brown = palette("afm_brown")
    assert brown[0].tolist() == [2, 2, 2] and brown[254].tolist() == [248, 244, 243]  # dark -> near white
    reverse = palette("afm_brown_r")[:255].astype(int)
    assert np.abs(reverse - brown[:255][::-1].astype(int)).max() <= 3  # 256 stops sampled at 255 levels
    assert np.all(np.diff(brown[:255].astype(int).sum(axis=1)) >= 0)  # brightens monotonically
    afmio.save(_stack(), tmp_path / "b.gif", cmap="afm_brown")
    assert np.array_equal(_gif_palette(tmp_path / "b.gif"), brown)


def test_jpk_folder_orientation_is_said_once(sample, monkeypatch):
    folder = sample("jpk_folder_streptavidin_nanoracer")
    monkeypatch.setattr(pn, "_orientation_warned", False)
    with pytest.warns(pn.OrientationWarning, match="Migrating from playNano"):
        pn.load_afm_stack(folder)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", pn.OrientationWarning)
        pn.load_afm_stack(folder)  # once per session


# ---------------------------------------------------------------------- videos and image sequences
def _processed_stack():
    from afmio.synthetic import synthetic_stack

    stack = synthetic_stack(4, 24, 32)
    stack.file_path = "/data/run7.asd"
    stack.processed["raw"] = stack.data.copy()
    stack.processed["flattened"] = stack.data - 1.0
    return stack


def test_export_video_names_and_containers(tmp_path):
    av = pytest.importorskip("av")
    from afmio.compat import playnano as compat

    stack = _processed_stack()
    for fmt, codec in (("mp4", "h264"), ("avi", "mpeg4"), ("mov", "h264"), ("mkv", "h264")):
        compat.export_video(stack, True, tmp_path, None, 10, fmt=fmt, fps=8)
        path = tmp_path / f"run7_filtered.{fmt}"
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == codec and stream.average_rate == 8
            assert sum(1 for _ in container.decode(stream)) == 4
    compat.export_video(stack, True, tmp_path, "raw_one", None, raw=True)
    assert (tmp_path / "raw_one.mp4").is_file()
    compat.export_video(stack, False, tmp_path / "never", None, None)
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValueError, match="Unsupported video format"):
        compat.export_video(stack, True, tmp_path, None, None, fmt="flv")


def test_create_video_from_an_array(tmp_path):
    av = pytest.importorskip("av")
    from afmio.compat import playnano as compat

    frames = np.random.default_rng(1).normal(size=(5, 20, 30))
    compat.create_video_with_scale_and_timestamp(frames, [0.5] * 5, [0, 1, 2, 3, 4], output_path=tmp_path / "v.avi")
    with av.open(str(tmp_path / "v.avi")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


def test_image_sequences_follow_playnano_layout(tmp_path):
    from PIL import Image

    from afmio.compat import playnano as compat

    stack = _processed_stack()
    compat.export_image_sequence(stack, True, tmp_path, None, 10, fmt="jpeg")
    folder = tmp_path / "run7_filtered"
    assert sorted(p.name for p in folder.iterdir()) == [f"run7_filtered_000{i}.jpg" for i in range(4)]
    with Image.open(folder / "run7_filtered_0000.jpg") as im:
        assert im.format == "JPEG"
    out = compat.create_image_sequence(stack.data, [1.0] * 4, output_folder=tmp_path / "seq", base_name="f")
    assert out == tmp_path / "seq" and sorted(p.name for p in out.iterdir())[0] == "f_0000.png"
    with pytest.raises(ValueError, match="Unsupported image format"):
        compat.create_image_sequence(stack.data, [1.0] * 4, output_folder=tmp_path / "x", fmt="bmp")


def test_load_afm_stack_reads_aris_like_playnano_with_heights_in_nm(tmp_path):
    from afmio_testdata.aris_writer import write_aris

    heights = np.random.default_rng(8).normal(0.0, 2e-9, (3, 4, 6))
    path = write_aris(tmp_path / "movie.aris", {"HeightTrace": heights, "AmplitudeTrace": heights / 2},
                      fast_scan_size_m=6e-8, times_s=[0.0, 0.5, 1.0])
    stack = pn.load_afm_stack(path)  # playNano's default "height_trace" -> the file's HeightTrace
    assert stack.channel == "HeightTrace" and stack.z_unit == "nm"
    assert np.array_equal(stack.data, (heights * 1e9).astype(np.float32))
    assert [m["timestamp"] for m in stack.frame_metadata] == [0.0, 0.5, 1.0]
    assert pn.load_afm_stack(str(path), channel="AmplitudeTrace").channel == "AmplitudeTrace"
    ext, loader = pn.get_loader_for_file(path, None, None)
    assert ext == ".aris" and loader(path).channel == "HeightTrace"
