"""afmio's napari plugin: manifest, headless readers on real files, writer, sample, a real Viewer.

Needs the ``afmio[napari]`` extra; without it every test here is skipped. The
Viewer test uses Qt's offscreen platform; napari's canvas still needs an OpenGL
context, which that platform takes from an X display: the test starts ``Xvfb``
when no ``DISPLAY`` is set (and skips without one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import afmio

npe2 = pytest.importorskip("npe2")
pytest.importorskip("dask.array")

from afmio.napari import _reader, _sample_data, _writer  # noqa: E402
from afmio.synthetic import synthetic_stack  # noqa: E402

MANIFEST = Path(afmio.__file__).parent / "napari" / "napari.yaml"


def _read(path: Path, plugin: str = "afmio") -> list[tuple]:
    hook = _reader.get_reader_all_channels if plugin.endswith("all_channels") else _reader.get_reader
    read = hook(str(path))
    assert read is not None, f"afmio declined {path}"
    return read(str(path))


# ---------------------------------------------------------------- manifest
def test_npe2_validate_passes_with_imports():
    out = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "afmio", "--imports"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout


def test_manifest_is_found_through_the_entry_point():
    manifest = npe2.PluginManifest.from_distribution("afmio")
    assert manifest.name == "afmio"
    assert {r.command for r in manifest.contributions.readers} == {"afmio.get_reader", "afmio.get_reader_all_channels"}
    assert all(r.accepts_directories for r in manifest.contributions.readers)
    assert [s.key for s in manifest.contributions.sample_data] == ["synthetic"]
    assert [w.display_name for w in manifest.contributions.widgets] == ["Open every channel"]


def _builtin_drivers():
    return [d for d in afmio.registry.drivers() if d.distribution == "afmio"]


def test_reader_patterns_are_exactly_the_builtin_readable_files():
    needed = set()
    for d in _builtin_drivers():
        if not d.can("read"):
            continue
        if d.spec.kind == "file":
            needed |= {f"*{ext}" for ext in d.spec.extensions}
        else:  # a folder format also reads one member file; its extensions name folders otherwise
            needed |= set(d.spec.member_patterns)
            needed |= {f"*{ext}" for ext in d.spec.extensions if d.member_match(f"x{ext}")}
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    for reader in manifest.contributions.readers:
        declared = set(reader.filename_patterns)
        missing, stale = sorted(needed - declared), sorted(declared - needed)
        assert declared == needed, f"napari.yaml, {reader.command}: add {missing}, drop {stale}"


def test_writer_extensions_are_exactly_the_builtin_writers():
    needed = {ext for d in _builtin_drivers() if d.can("write") for ext in d.spec.extensions}
    (writer,) = npe2.PluginManifest.from_file(MANIFEST).contributions.writers
    assert set(writer.filename_extensions) == needed
    assert writer.layer_types == ["image"]


def test_afmio_napari_package_imports_no_napari_qt_or_dask():
    code = (
        "import sys, afmio, afmio.napari;"
        "print(','.join(m for m in ('napari', 'npe2', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6', 'vispy', 'dask')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---------------------------------------------------------------- reader, headless
# (sample, frames, height, width): sizes from the samples' provenance notes
REAL_SAMPLES = [
    ("asd/asd_sample_0.asd", 32, 200, 200),
    ("h5jpk/sample_0.h5-jpk", 4, 128, 128),
    ("jpk_folder_streptavidin_nanoracer", 4, 512, 512),
    ("spm_folder_fastscan_nanolocz", 3, 486, 768),
    ("spm_folder_old_bruker", 2, 256, 256),
]


@pytest.mark.parametrize(("name", "n", "h", "w"), REAL_SAMPLES)
def test_reader_gives_a_lazy_scaled_layer_of_the_default_channel(sample, name, n, h, w):
    import dask.array as da

    path = sample(name)
    (layer,) = _read(path)
    data, kwargs, kind = layer
    assert kind == "image"
    assert isinstance(data, da.Array) and data.shape == (n, h, w)
    stack = afmio.load(path)
    times = stack.get_frame_times()
    interval = float(np.median(np.diff(times)))
    assert kwargs["scale"] == pytest.approx((interval, stack.pixel_size_y_nm, stack.pixel_size_nm))
    assert kwargs["units"] == ("s", "nm", "nm")
    assert kwargs["axis_labels"] == ("t", "y", "x")
    meta = kwargs["metadata"]
    assert meta["timestamps_s"] == pytest.approx(times)
    assert meta["frame_interval_source"] == "median of the timestamp differences"
    assert meta["channel"] == stack.channel and meta["z_unit"] == stack.z_unit
    assert meta["channels"] == afmio.registry.channels(path)
    assert meta["acquisition"] == stack.acquisition
    assert meta["frame_metadata"] == stack.frame_metadata
    # frames read on demand are the library's frames, bit for bit
    for i in (0, n - 1):
        np.testing.assert_array_equal(np.asarray(data[i]), stack.data[i])
    # the first view is not one colour: most of the frame napari opens on lies inside the range
    lo, hi = kwargs["contrast_limits"]
    middle = stack.data[(n - 1) // 2]
    assert lo < hi and np.mean((middle >= lo) & (middle <= hi)) > 0.9


@pytest.mark.parametrize("name", ["nid/nid-1.nid", "park/example_ps.tiff", "wsxm/sample_0.top", "wsxm"])
def test_reader_opens_the_single_image_formats_as_the_library_reads_them(sample, name):
    path = sample(name)
    (layer,) = _read(path)
    stack = afmio.load(path)
    assert layer[0].shape == stack.shape
    assert layer[1]["scale"][1:] == pytest.approx((stack.pixel_size_y_nm, stack.pixel_size_nm))
    assert layer[1]["metadata"]["source"]["driver"] == stack.provenance["source"]["driver"]
    np.testing.assert_array_equal(np.asarray(layer[0]), stack.data)


def test_reader_takes_physical_facts_from_the_file(sample):
    # asd_sample_0: scan 100 x 100 nm over 200 x 200 pixels, frame_time 1000 ms (PROVENANCE.md)
    (layer,) = _read(sample("asd/asd_sample_0.asd"))
    assert layer[1]["scale"] == pytest.approx((1.0, 0.5, 0.5))
    # sample_0.h5-jpk: scan 150 x 150 nm over 128 x 128 pixels
    (layer,) = _read(sample("h5jpk/sample_0.h5-jpk"))
    assert layer[1]["scale"][1:] == pytest.approx((150 / 128, 150 / 128))


def test_every_channel_reader_gives_one_layer_per_channel(sample):
    path = sample("asd/202110200146.asd")  # two channels: TP (height) and PH (phase)
    layers = _read(path, plugin="afmio.get_reader_all_channels")
    assert [kw["metadata"]["channel"] for _, kw, _ in layers] == ["TP", "PH"]
    assert [kw["metadata"]["z_unit"] for _, kw, _ in layers] == ["nm", "deg"]
    assert [kw.get("visible", True) for _, kw, _ in layers] == [True, False]
    phase = afmio.load(path, channel="PH")
    np.testing.assert_array_equal(np.asarray(layers[1][0]), phase.data)
    # the default reader gives the first of them only
    assert [kw["name"] for _, kw, _ in _read(path)] == [layers[0][1]["name"]]


def test_unknown_frame_times_give_one_second_and_say_so(tmp_path):
    stack = synthetic_stack(3, 8, 8)
    for m in stack.frame_metadata:
        m["timestamp"] = None
    afmio.save(stack, tmp_path / "untimed.npz")
    (layer,) = _read(tmp_path / "untimed.npz")
    assert layer[1]["scale"][0] == 1.0
    assert "unknown" in layer[1]["metadata"]["frame_interval_source"]


def test_open_every_channel_takes_a_file_or_the_folder_video_it_belongs_to(sample):
    folder = sample("jpk_folder_streptavidin_nanoracer")
    member = sorted(folder.glob("*.jpk"))[0]
    layers = _reader.open_every_channel(member, whole_folder=True)
    names = [kw["metadata"]["channel"] for _, kw, _ in layers]
    assert sorted(names) == sorted(afmio.registry.channels(folder))
    assert names[0] == afmio.load(folder, lazy=True).channel  # the default channel first
    assert layers[0][0].shape == afmio.load(folder, lazy=True).shape
    assert layers[0][0].shape[0] > 1
    assert _reader.open_every_channel(member)[0][0].shape[0] == 1
    with pytest.raises(afmio.UnsupportedFormatError):
        _reader.open_every_channel(folder.parent / "PROVENANCE.md")


def test_reader_declines_what_is_not_afm_data(tmp_path):
    (tmp_path / "notes.txt").write_text("not AFM data")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert _reader.get_reader(str(tmp_path)) is None
    assert _reader.get_reader(str(tmp_path / "notes.txt")) is None
    assert _reader.get_reader(str(tmp_path / "missing.asd")) is None
    assert _reader.get_reader_all_channels(str(tmp_path)) is None


def test_reader_lists_a_folder_once_and_never_its_subfolders(tmp_path, monkeypatch):
    # napari offers every folder it opens: deciding must not walk a big tree
    for i in range(50):
        sub = tmp_path / f"run{i}" / "deep"
        sub.mkdir(parents=True)
        (sub / "frame.jpk").write_bytes(b"")
        (tmp_path / f"table{i}.csv").write_text("1,2\n")
    listed = []
    real_scandir = os.scandir

    def counting_scandir(path=".", *args):
        listed.append(Path(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    monkeypatch.setattr(os, "walk", lambda *a, **k: pytest.fail("os.walk used"))
    assert _reader.get_reader(str(tmp_path)) is None
    assert listed == [tmp_path]


def test_reader_takes_one_path_only(sample):
    path = str(sample("asd/asd_sample_0.asd"))
    assert _reader.get_reader([path, path]) is None
    assert _reader.get_reader([path]) is not None


# ---------------------------------------------------------------- writer
def _napari_layer_tuple(data, kwargs):
    layers = pytest.importorskip("napari.layers")
    return layers.Image(data, **kwargs).as_layer_data_tuple()


@pytest.mark.parametrize("ext", [".h5", ".npz", ".ome.tif", ".ome.zarr.zip"])
def test_layer_from_the_reader_writes_back_exactly(sample, tmp_path, ext):
    path = sample("h5jpk/sample_0.h5-jpk")
    (layer,) = _read(path)
    data, meta, _ = _napari_layer_tuple(layer[0], layer[1])
    out = tmp_path / f"copy{ext}"
    assert _writer.write_image(str(out), data, meta) == [str(out)]
    original, copy = afmio.load(path), afmio.load(out)
    np.testing.assert_array_equal(copy.data, original.data)
    assert copy.pixel_size_nm == pytest.approx(original.pixel_size_nm)
    assert copy.pixel_size_y_nm == pytest.approx(original.pixel_size_y_nm)
    assert copy.get_frame_times() == pytest.approx(original.get_frame_times())
    assert (copy.channel, copy.z_unit) == (original.channel, original.z_unit)


def test_plain_array_layer_takes_sizes_and_times_from_scale_and_units(tmp_path):
    frames = np.random.default_rng(1).normal(size=(4, 6, 5)).astype(np.float32)
    data, meta, _ = _napari_layer_tuple(frames, {"scale": (0.25, 0.003, 0.002), "units": ("s", "um", "um")})
    out = tmp_path / "plain.h5"
    _writer.write_image(str(out), data, meta)
    back = afmio.load(out)
    np.testing.assert_array_equal(back.data, frames)
    assert (back.pixel_size_nm, back.pixel_size_y_nm) == pytest.approx((2.0, 3.0))
    assert back.get_frame_times() == pytest.approx([0.0, 0.25, 0.5, 0.75])


def test_single_image_layer_writes_one_frame_with_its_pixel_sizes(tmp_path):
    frame = np.random.default_rng(2).normal(size=(6, 5)).astype(np.float32)
    data, meta, _ = _napari_layer_tuple(frame, {"scale": (3.0, 2.0), "units": ("nm", "nm")})
    out = tmp_path / "one.npz"
    _writer.write_image(str(out), data, meta)
    back = afmio.load(out)
    np.testing.assert_array_equal(back.data, frame[None])
    assert (back.pixel_size_nm, back.pixel_size_y_nm) == pytest.approx((2.0, 3.0))


def test_writer_is_chosen_by_napari_for_afmio_extensions(tmp_path):
    frames = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    layer = _napari_layer_tuple(frames, {"scale": (1.0, 2.0, 2.0), "units": ("s", "nm", "nm")})
    out = tmp_path / "via_npe2.ome.tif"
    npe2.PluginManager.instance().discover()  # as napari does at start-up
    written = npe2.write(str(out), [layer], plugin_name="afmio")
    assert written == [str(out)]
    np.testing.assert_array_equal(afmio.load(out).data, frames)


def test_writer_refuses_data_it_cannot_hold(tmp_path):
    with pytest.raises(afmio.WriteError, match="4 dimensions"):
        _writer.write_image(str(tmp_path / "x.h5"), np.zeros((2, 2, 3, 3), np.float32), {})
    assert not (tmp_path / "x.h5").exists()


# ---------------------------------------------------------------- sample data
def test_sample_is_the_demo_video():
    ((data, kwargs, kind),) = _sample_data.synthetic_video()
    expected = synthetic_stack()
    np.testing.assert_array_equal(data, expected.data)
    assert kind == "image"
    assert kwargs["scale"] == pytest.approx((0.1, 0.5, 0.5))
    assert kwargs["metadata"]["timestamps_s"] == pytest.approx(expected.get_frame_times())


# ---------------------------------------------------------------- a real napari Viewer
# Run in a child process: Qt reads QT_QPA_PLATFORM once per process, and Xlib ends a
# process whose X server goes away, so neither Qt nor the display touch pytest's own.
VIEWER_SCRIPT = """
import json, sys
import numpy as np
import napari
viewer = napari.Viewer(show=False)
try:
    layers = viewer.open(sys.argv[1], plugin="afmio")
    step = viewer.dims.current_step[0]
    shown = np.asarray(layers[0].data[step])
    sample = viewer.open_sample("afmio", "synthetic")
    _, widget = viewer.window.add_plugin_dock_widget("afmio", "Open every channel")
    widget.path.value = sys.argv[2]
    before = len(viewer.layers)
    widget()
    print(json.dumps({
        "widget_layers": [layer.name for layer in viewer.layers[before:]],
        "plugins": [layer.source.reader_plugin for layer in layers],
        "names": [layer.name for layer in layers],
        "shape": list(layers[0].data.shape),
        "scale": [float(s) for s in layers[0].scale],
        "units": [str(u) for u in layers[0].units],
        "axis_labels": list(layers[0].axis_labels),
        "step": int(step),
        "shown_sum": float(shown.astype(np.float64).sum()),
        "sample_shape": list(sample[0].data.shape),
    }))
finally:
    viewer.close()
"""


@pytest.fixture
def x_display():
    """An X display for napari's OpenGL canvas (Qt's offscreen platform takes its GL from it)."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no DISPLAY and no Xvfb: napari's canvas needs an OpenGL context")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_napari_viewer_opens_a_video_with_the_afmio_plugin(sample, x_display):
    import json

    pytest.importorskip("napari")
    pytest.importorskip("qtpy")
    path = sample("asd/asd_sample_0.asd")
    two_channels = sample("asd/202110200146.asd")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DISPLAY": x_display}
    for _attempt in range(2):
        out = subprocess.run(
            [sys.executable, "-c", VIEWER_SCRIPT, str(path), str(two_channels)],
            capture_output=True, text=True, env=env, timeout=300,
        )
        # Mesa on Xvfb now and then hands Qt's offscreen canvas no current GL context
        # (vispy then reads no GL_EXTENSIONS): a fault of the virtual display, tried once more.
        if out.returncode == 0 or "glGetParameter" not in out.stderr:
            break
    assert out.returncode == 0, f"stdout: {out.stdout[-2000:]}\nstderr: {out.stderr[-3000:]}"
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["plugins"] == ["afmio"]
    assert seen["shape"] == [32, 200, 200]
    assert seen["scale"] == pytest.approx([1.0, 0.5, 0.5])  # 1000 ms frames; 100 nm over 200 pixels
    assert seen["units"] == ["second", "nanometer", "nanometer"]
    assert seen["axis_labels"] == ["t", "y", "x"]
    # the frame on screen is the library's frame
    assert seen["shown_sum"] == pytest.approx(float(afmio.load(path).data[seen["step"]].astype(np.float64).sum()))
    assert seen["sample_shape"] == [20, 128, 128]
    # the Plugins > afmio widget opens every channel
    assert seen["widget_layers"] == ["202110200146.asd TP (nm)", "202110200146.asd PH (deg)"]
