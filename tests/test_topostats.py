"""TopoStats ``.topostats``: both sample layouts against h5py, built files, folders, damage."""

from __future__ import annotations

import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

import afmio
import afmio_builtins.topostats as topostats
from afmio.cli import main
from afmio.errors import CorruptFileError, UnsupportedFormatError


def _build(path, image, scale=2.5, original=None, version=0.2):
    with h5py.File(path, "w") as h5:
        h5["image"] = image
        h5["pixel_to_nm_scaling"] = scale
        h5["topostats_file_version"] = version
        if original is not None:
            h5["image_original"] = original
        h5["grain_masks/above"] = np.zeros((*image.shape, 2), np.int32)
    return path


@pytest.mark.parametrize(("name", "channels"), [("sample_0_1", ["image"]), ("sample_0_2", ["image", "image_original"])])
def test_samples_match_h5py(sample, name, channels):
    path = sample(f"topostats/{name}.topostats")
    assert topostats.channels(path) == channels
    with h5py.File(path, "r") as h5:
        truth = {c: h5[c][()] for c in channels}
        scale = float(h5["pixel_to_nm_scaling"][()])
        version = float(h5["topostats_file_version"][()])
    for channel in channels:
        stack = afmio.load(path, channel=channel, dtype=np.float64)
        assert stack.shape == (1, 64, 64) and stack.z_unit == "nm" and stack.channel == channel
        np.testing.assert_array_equal(stack.data[0], truth[channel])
        assert stack.pixel_size_nm == stack.pixel_size_y_nm == scale
        assert stack.acquisition["topostats_file_version"] == version
        assert stack.frame_metadata[0]["timestamp"] is None


def test_newer_layout_with_topostats_version(tmp_path):
    path = _build(tmp_path / "a.topostats", np.arange(12.0).reshape(3, 4), original=np.ones((3, 4)))
    with h5py.File(path, "a") as h5:
        h5["topostats_version"] = np.bytes_("2.3.1")  # fixed-length: read
        h5["filename"] = "scan_01"  # variable-length, as TopoStats writes it: read (its heap is sound)
    stack = afmio.load(path)
    assert stack.acquisition["topostats_version"] == "2.3.1"
    assert stack.acquisition["source_filename"] == "scan_01"
    assert "unread_variable_length_strings" not in stack.acquisition
    assert stack.pixel_size_nm == 2.5 and stack.shape == (1, 3, 4)


def test_folder_is_a_video_in_name_order(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    for i in (3, 1, 2):
        _build(folder / f"f{i}.topostats", np.full((2, 2), float(i)))
    stack = afmio.load(folder)
    assert [float(f[0, 0]) for f in stack.data] == [1.0, 2.0, 3.0]


def test_not_hdf5_missing_image_and_bad_scale(tmp_path):
    (tmp_path / "x.topostats").write_bytes(b"not hdf5 at all")
    assert topostats.sniff(tmp_path / "x.topostats") is False
    with pytest.raises(UnsupportedFormatError):
        topostats.read(tmp_path / "x.topostats")
    with h5py.File(tmp_path / "noimg.topostats", "w") as h5:
        h5["pixel_to_nm_scaling"] = 1.0
    with pytest.raises(CorruptFileError, match="no 'image'"):
        topostats.read(tmp_path / "noimg.topostats")
    _build(tmp_path / "neg.topostats", np.zeros((2, 2)), scale=-1.0)
    with pytest.raises(CorruptFileError, match="pixel_to_nm_scaling"):
        topostats.read(tmp_path / "neg.topostats")
    cut = tmp_path / "cut.topostats"
    cut.write_bytes(_build(tmp_path / "full.topostats", np.zeros((40, 40))).read_bytes()[:3000])
    with pytest.raises(CorruptFileError, match=re.escape("cut.topostats")):
        topostats.read(cut)


def test_cli_converts_the_sample_to_hdf5(sample, tmp_path):
    src = sample("topostats/sample_0_2.topostats")
    assert main(["-q", "convert", str(src), str(tmp_path / "out.h5")]) == 0
    back, ours = afmio.load(tmp_path / "out.h5"), afmio.load(src)
    np.testing.assert_array_equal(back.data, ours.data)
    assert (back.pixel_size_nm, back.pixel_size_y_nm, back.channel) == (ours.pixel_size_nm, ours.pixel_size_y_nm,
                                                                         ours.channel)


def test_damaged_global_heap_does_not_hang(sample, tmp_path):
    """Four bytes of the sample's global heap (its variable-length strings) set to ff made
    libhdf5 spin forever when the strings were read (damaged-copy check finding)."""
    raw = bytearray(sample("topostats/sample_0_2.topostats").read_bytes())
    raw[2261:2265] = b"\xff" * 4
    path = tmp_path / "heap.topostats"
    path.write_bytes(bytes(raw))
    code = (f"import afmio_builtins.topostats as m; m.probe({str(path)!r}); s = m.read({str(path)!r}); "
            "print(s.shape, s.acquisition['unread_variable_length_strings'], s.acquisition['damaged_strings'])")
    done = subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True, text=True)
    assert "['filename', 'img_path']" in done.stdout and "damaged HDF5 global heap" in done.stdout
    clean = afmio.load(sample("topostats/sample_0_2.topostats"))  # the undamaged sample's strings are read
    assert "unread_variable_length_strings" not in clean.acquisition
    assert clean.acquisition["source_filename"] and clean.acquisition["source_path"]
