"""OME-Zarr driver: round trips (directory and zip), NGFF 0.4 metadata, lazy reads, foreign stores."""

from __future__ import annotations

import json

import numpy as np
import pytest

import afmio
from afmio import FRAME_METADATA_KEYS, ChannelNotFoundError, CorruptFileError
from afmio.synthetic import synthetic_stack

zarr = pytest.importorskip("zarr")


def _full_stack():
    stack = synthetic_stack(6, 24, 40, pixel_size_nm=0.75)
    stack.pixel_size_y_nm = 1.25
    stack.frame_metadata[2]["line_rate"] = None
    stack.processed["raw"] = stack.data.copy()
    stack.processed["step_1_flatten"] = stack.data - 1
    stack.masks["step_2_mask"] = stack.data > 2
    stack.state_backups["frame_metadata_before_edit"] = [dict(m) for m in stack.frame_metadata]
    stack.provenance["processing"]["steps"].append({"index": 1, "name": "flatten"})
    stack.z_unit = "nm"
    return stack


@pytest.mark.parametrize("name", ["movie.ome.zarr", "movie.ome.zarr.zip"])
def test_round_trip_keeps_everything(tmp_path, name):
    stack = _full_stack()
    afmio.save(stack, tmp_path / name)
    back = afmio.load(tmp_path / name)
    np.testing.assert_array_equal(back.data, stack.data)
    assert back.data.dtype == np.float32
    assert (back.pixel_size_nm, back.pixel_size_y_nm) == (0.75, 1.25)
    assert back.frame_metadata == stack.frame_metadata
    assert back.channel == stack.channel and back.z_unit == "nm"
    np.testing.assert_array_equal(back.processed["step_1_flatten"], stack.processed["step_1_flatten"])
    np.testing.assert_array_equal(back.masks["step_2_mask"], stack.masks["step_2_mask"])
    assert back.state_backups == stack.state_backups
    assert back.provenance["processing"]["steps"] == [{"index": 1, "name": "flatten"}]


def test_ngff_04_metadata_readable_by_zarr(tmp_path):
    stack = _full_stack()
    out = tmp_path / "m.ome.zarr"
    afmio.save(stack, out, compression="none")
    root = zarr.open_group(str(out), mode="r")
    image = root.attrs["multiscales"][0]
    assert image["version"] == "0.4"
    assert [a["name"] for a in image["axes"]] == ["t", "y", "x"]
    assert [a.get("unit") for a in image["axes"]] == ["second", "nanometer", "nanometer"]
    scale = image["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([0.1, 1.25, 0.75])
    arr = root["0"]
    assert arr.chunks == (1, 24, 40) and arr.shape == (6, 24, 40)
    np.testing.assert_array_equal(arr[...], stack.data)
    # zarr format 2 on disk, as NGFF 0.4 requires
    assert json.loads((out / ".zgroup").read_text())["zarr_format"] == 2
    assert (out / "0" / "3" / "0" / "0").is_file()  # "/" chunk keys, one chunk per frame


def test_lazy_read_matches_eager(tmp_path):
    stack = _full_stack()
    afmio.save(stack, tmp_path / "m.ome.zarr")
    with afmio.load(tmp_path / "m.ome.zarr", lazy=True) as lazy:
        assert lazy.is_lazy
        np.testing.assert_array_equal(lazy.get_frame(4), stack.data[4])
        np.testing.assert_array_equal(lazy[1:3].data, stack.data[1:3])
        assert lazy.is_lazy


def test_lazy_stack_streams_into_zarr(tmp_path):
    stack = _full_stack()
    afmio.save(stack, tmp_path / "a.ome.zarr")
    with afmio.load(tmp_path / "a.ome.zarr", lazy=True) as lazy:
        afmio.save(lazy, tmp_path / "b.ome.zarr", block=4)
        assert lazy.is_lazy  # written block by block, never materialised
    np.testing.assert_array_equal(afmio.load(tmp_path / "b.ome.zarr").data, stack.data)


def test_foreign_5d_store_in_micrometres(tmp_path):
    out = tmp_path / "foreign.zarr"
    root = zarr.open_group(str(out), mode="w", zarr_format=2)
    data = np.random.default_rng(1).random((3, 1, 1, 8, 9)).astype(np.float32)
    root.create_array("s0", data=data, chunks=(1, 1, 1, 8, 9))
    root.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": "t", "type": "time", "unit": "millisecond"}, {"name": "c", "type": "channel"},
                 {"name": "z", "type": "space", "unit": "micrometer"},
                 {"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": [{"path": "s0", "coordinateTransformations": [{"type": "scale",
                                                                   "scale": [50, 1, 1, 0.002, 0.001]}]}],
    }]
    stack = afmio.load(out)
    np.testing.assert_array_equal(stack.data, data[:, 0, 0])
    assert stack.pixel_size_nm == pytest.approx(1.0) and stack.pixel_size_y_nm == pytest.approx(2.0)
    assert stack.get_frame_times() == pytest.approx([0.0, 0.05, 0.1])
    assert all(list(md) == list(FRAME_METADATA_KEYS) for md in stack.frame_metadata)
    assert stack.frame_metadata[1]["frame_pixel_size_nm"] == pytest.approx(1.0)


@pytest.mark.parametrize("lazy", [False, True])
def test_channel_is_checked(tmp_path, lazy):
    path = tmp_path / "c.ome.zarr"
    afmio.save(synthetic_stack(2, 8, 8), path)
    for requested in (None, "height", "HEIGHT_TRACE"):
        with afmio.load(path, channel=requested, lazy=lazy) as stack:
            assert stack.channel == "height_trace"
    with pytest.raises(ChannelNotFoundError, match=r"amplitude.*available: height_trace"):
        afmio.load(path, channel="amplitude", lazy=lazy)


def test_not_an_ome_zarr(tmp_path):
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w", zarr_format=2).create_array("a", shape=(2, 2), dtype="f4")
    with pytest.raises(afmio.UnsupportedFormatError):
        afmio.load(plain)
    with pytest.raises(CorruptFileError, match="multiscales"):
        afmio.load(plain, format="ome-zarr")
    bad_zip = tmp_path / "broken.ome.zarr.zip"
    bad_zip.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(afmio.AfmioError):
        afmio.load(bad_zip)


def test_zip_directory_claiming_more_than_the_file_is_refused(tmp_path):
    # Fuzz finding: a member's compressed size raised to 84 MB made zipfile allocate 84 MB
    # to read a 2 KB member of a 20 KB file. Now refused before zarr touches the archive.
    import struct
    import zipfile

    path = tmp_path / "m.ome.zarr.zip"
    afmio.save(_full_stack(), path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        member = zf.getinfo(".zattrs")
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == b".zattrs":
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert central >= 0 and member.compress_size < 1 << 20
    struct.pack_into("<I", data, central + 20, 0x05000000 + member.compress_size)  # compressed size
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"claims .* beyond the"):
        afmio.load(path)


def _foreign_store(path, multiscales, *, array="s0"):
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.create_array(array, data=np.zeros((2, 4, 5), np.float32), chunks=(1, 4, 5))
    root.attrs["multiscales"] = multiscales
    return path


@pytest.mark.parametrize("multiscales, message", [
    ("not a list", "datasets"),
    ([{"datasets": "s0"}], "datasets"),
    ([{"datasets": [{"path": 7}]}], "datasets"),
    ([{"datasets": [{"path": "missing"}]}], "lacks the array .missing."),
    ([{"datasets": [{"path": "s0", "coordinateTransformations": [{"type": "scale", "scale": "xyz"}]}],
       "axes": ["t", "y", "x"]}], "could not convert|cannot read"),
])
def test_malformed_ngff_metadata_is_a_corrupt_store(tmp_path, multiscales, message):
    """Damaged metadata is the store's fault (CorruptFileError naming it), never a driver bug
    and never 'file not found' (zarr's missing-node error is a FileNotFoundError)."""
    path = _foreign_store(tmp_path / "bad.zarr", multiscales)
    for call in (afmio.load, afmio.registry.probe):
        with pytest.raises(CorruptFileError, match=message) as info:
            call(path, format="ome-zarr")
        assert "bad.zarr" in str(info.value)
