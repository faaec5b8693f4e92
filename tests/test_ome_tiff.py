"""OME-TIFF stacks: round trips, OME-XML correctness, playNano's layout, plain TIFF stacks, damage."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tifffile

import afmio
from afmio.errors import ChannelNotFoundError, CorruptFileError
from afmio.metadata import make_json_safe
from afmio_builtins import ome_tiff
from afmio_testdata.bundles import full_stack, lazy_copy, write_playnano_ome_tiff

OME_NS = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"


def test_round_trip(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.ome.tif")
    got = afmio.load(out)
    assert got.data.dtype == np.float32 and np.array_equal(got.data, stack.data)
    assert got.pixel_size_nm == 0.636 and got.pixel_size_y_nm == 0.7071067811865476
    assert got.channel == "TP" and got.z_unit == "V"
    assert got.get_frame_times() == stack.get_frame_times()
    assert got.frame_metadata == stack.frame_metadata  # afmio's tag keeps every key
    prov = {k: v for k, v in got.provenance.items() if k not in ("bundle", "source")}
    assert prov == make_json_safe(stack.provenance) | {"acquisition": prov["acquisition"]}
    assert got.acquisition["pixel_size_source"] == "afmio tag 65002"
    assert got.provenance["bundle"]["bundle_type"] == "ome-tiff"
    assert got.provenance["bundle"]["processed_keys"] == list(stack.processed)
    assert got.processed == {} and got.masks == {}  # as in playNano


def test_ome_xml_and_tags_follow_the_sheet(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.ome.tif")
    with tifffile.TiffFile(out) as tif:
        assert tif.byteorder == "<" and not tif.is_bigtiff
        assert len(tif.pages) == 5 and tif.series[0].axes == "TYX"
        page = tif.pages[0]
        assert page.dtype == np.float32 and page.compression == 1 and page.photometric == 1
        assert page.tags["XResolution"].value == (round(25_400_000 / 0.636), 1) or np.isclose(
            np.divide(*page.tags["XResolution"].value), 25_400_000 / 0.636)
        assert page.tags["ResolutionUnit"].value == 2
        for code in (65000, 65001, 65002):
            assert page.tags[code].dtype == 7
        assert json.loads(page.tags[65000].value) == make_json_safe(stack.provenance)
        assert json.loads(page.tags[65001].value) == list(stack.processed)
        root = ET.fromstring(tif.ome_metadata)
    pixels = root.find(f"{OME_NS}Image/{OME_NS}Pixels")
    assert pixels.get("DimensionOrder") == "XYZCT" and pixels.get("Type") == "float"
    assert (pixels.get("SizeT"), pixels.get("SizeC"), pixels.get("SizeZ")) == ("5", "1", "1")
    assert float(pixels.get("PhysicalSizeX")) == pytest.approx(0.636e-3, rel=1e-12)
    assert float(pixels.get("PhysicalSizeY")) == pytest.approx(0.7071067811865476e-3, rel=1e-12)
    assert pixels.get("PhysicalSizeXUnit") == "µm" and pixels.get("PhysicalSizeYUnit") == "µm"
    assert float(pixels.get("TimeIncrement")) == pytest.approx(stack.get_frame_times()[1])
    assert pixels.find(f"{OME_NS}Channel").get("Name") == "TP"
    planes = pixels.findall(f"{OME_NS}Plane")
    assert [float(p.get("DeltaT")) for p in planes] == stack.get_frame_times()
    assert [int(p.get("TheT")) for p in planes] == list(range(5))


def test_single_frame_round_trips(tmp_path):
    stack = full_stack()[0:1]
    out = afmio.save(stack, tmp_path / "one.ome.tif")
    got = afmio.load(out)
    assert got.shape == (1, 12, 10) and np.array_equal(got.data, stack.data)


def test_reads_playnano_ome_tiff(tmp_path):
    path = tmp_path / "pn.ome.tif"
    data = full_stack().data
    made = write_playnano_ome_tiff(path, data, px=0.5, processed_keys=["raw", "step_1_remove_plane"])
    got = afmio.load(path)
    assert np.array_equal(got.data, data) and got.channel == "TP"
    assert got.pixel_size_nm == pytest.approx(0.5, rel=1e-12) and got.z_unit == "nm"
    assert got.frame_metadata == [{"timestamp": t, "frame_pixel_size_nm": got.pixel_size_nm} for t in made["times"]]
    prov = {k: v for k, v in got.provenance.items() if k not in ("bundle", "source")}
    assert prov == made["provenance"] | {"acquisition": prov["acquisition"]}
    assert got.acquisition["pixel_size_source"] == "OME PhysicalSizeX/Y"
    assert got.provenance["bundle"]["processed_keys"] == ["raw", "step_1_remove_plane"]


def test_unknown_times_are_not_invented(tmp_path):
    stack = full_stack()
    for md in stack.frame_metadata:
        md["timestamp"] = None
    out = afmio.save(stack, tmp_path / "s.ome.tif")
    with tifffile.TiffFile(out) as tif:
        assert "DeltaT" not in tif.ome_metadata
    assert all(md["timestamp"] is None for md in afmio.load(out).frame_metadata)


def test_plain_tiff_stack_gets_a_stated_default(tmp_path):
    path = tmp_path / "plain.tif"
    data = (np.arange(4 * 8 * 9) % 251).astype(np.uint16).reshape(4, 8, 9)
    tifffile.imwrite(path, data, photometric="minisblack")
    got = afmio.load(path)
    assert got.shape == (4, 8, 9) and got.dtype == np.float32 and np.array_equal(got.data, data)
    assert got.pixel_size_nm == 1.0
    assert "default 1.0 nm/pixel" in got.acquisition["pixel_size_source"]
    assert all(md["timestamp"] is None for md in got.frame_metadata)
    assert got.channel == "height_trace"


def test_pages_written_one_by_one_and_resolution_tags(tmp_path):
    path = tmp_path / "pages.tiff"
    with tifffile.TiffWriter(path) as tw:
        for i in range(3):
            tw.write(np.full((8, 9), i, np.float32), resolution=(1e7 / 2.5, 1e7 / 2.0),
                     resolutionunit="CENTIMETER")
    got = afmio.load(path)
    assert got.shape == (3, 8, 9) and list(got.data[:, 0, 0]) == [0, 1, 2]
    assert got.pixel_size_nm == pytest.approx(2.5) and got.pixel_size_y_nm == pytest.approx(2.0)
    assert got.acquisition["pixel_size_source"] == "TIFF resolution tags (cm)"


def test_imagej_stack_units_and_interval(tmp_path):
    path = tmp_path / "ij.tif"
    data = np.random.default_rng(1).random((4, 8, 9), dtype=np.float32)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.002, 1 / 0.002),
                     metadata={"unit": "um", "finterval": 0.25, "axes": "TYX"})
    got = afmio.load(path)
    assert np.array_equal(got.data, data)
    assert got.pixel_size_nm == pytest.approx(2.0)
    assert got.get_frame_times() == [0.0, 0.25, 0.5, 0.75]


def test_multichannel_ome_selects_by_name(tmp_path):
    path = tmp_path / "multi.ome.tif"
    data = np.stack([np.full((3, 6, 7), c, np.float32) for c in range(2)], axis=1)  # T C Y X
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "TCYX", "Channel": {"Name": ["Height", "Phase"]},
                                                     "PhysicalSizeX": 0.002, "PhysicalSizeXUnit": "µm"})
    assert afmio.registry.channels(path) == ["Height", "Phase"]
    assert afmio.load(path).channel == "Height"
    phase = afmio.load(path, channel="phase")
    assert phase.channel == "Phase" and phase.shape == (3, 6, 7) and np.all(phase.data == 1)
    assert phase.pixel_size_nm == pytest.approx(2.0)
    with pytest.raises(ChannelNotFoundError):
        afmio.load(path, channel="Amplitude")


@pytest.mark.parametrize("per_block", [1, 3])
def test_lazy_stack_is_streamed(tmp_path, monkeypatch, per_block):
    stack = full_stack(n_frames=20)
    lazy, source = lazy_copy(stack)
    monkeypatch.setattr("afmio_builtins._bundle.BLOCK_BYTES", per_block * stack.data[0].nbytes)
    out = afmio.save(lazy, tmp_path / "lazy.ome.tif")
    assert lazy.is_lazy and 0 < source.largest <= per_block
    assert np.array_equal(afmio.load(out).data, stack.data)


def test_truncated_and_garbage_files(tmp_path):
    out = afmio.save(full_stack(), tmp_path / "s.ome.tif")
    raw = out.read_bytes()
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(raw[: len(raw) - 200])
    with pytest.raises(CorruptFileError):
        afmio.load(cut)
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"II*\x00" + b"\xff" * 60)
    with pytest.raises(CorruptFileError):
        afmio.load(garbage)
    assert ome_tiff.sniff(garbage) is True
    text = tmp_path / "notes.tif"
    text.write_text("not a tiff at all")
    assert ome_tiff.sniff(text) is False


def test_tif_and_tiff_aliases_and_extensions(tmp_path):
    stack = full_stack()
    for name in ("a.tif", "b.tiff", "c.ome.tiff"):
        out = afmio.save(stack, tmp_path / name)
        assert np.array_equal(afmio.load(out).data, stack.data)
    out = afmio.save(stack, tmp_path / "d.ome.tif", format="tif")
    assert afmio.registry.resolve(out).driver.name == "ome-tiff"
    info = afmio.registry.probe(out)
    assert (info.n_frames, info.frame_shape, info.z_unit) == (5, (12, 10), "V")


def test_cut_inside_the_pixel_data(tmp_path):
    out = afmio.save(full_stack(n_frames=8, height=64, width=64), tmp_path / "s.ome.tif")
    with tifffile.TiffFile(out) as tif:
        end = tif.pages[3].dataoffsets[0] + 100
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(out.read_bytes()[:end])
    with pytest.raises(CorruptFileError, match=r"truncated|runs to byte|damaged"):
        afmio.load(cut)


def test_provenance_from_a_json_description(tmp_path):
    """playNano's fallback: an ImageDescription JSON with ``UserDataProvenance``."""
    path = tmp_path / "desc.tif"
    prov = {"processing": {"steps": [{"name": "remove_plane"}], "keys_by_name": {}}}
    desc = json.dumps({"UserDataProvenance": json.dumps(prov)})
    tifffile.imwrite(path, np.zeros((2, 4, 5), np.float32), photometric="minisblack", description=desc,
                     metadata=None)
    got = afmio.load(path)
    assert got.provenance["processing"] == prov["processing"]
    assert got.provenance["bundle"]["bundle_type"] == "ome-tiff"


def test_damaged_private_tag_is_skipped_and_named(tmp_path):
    path = tmp_path / "pn.ome.tif"
    data = full_stack().data
    write_playnano_ome_tiff(path, data, provenance={"x": 1})
    raw = bytearray(path.read_bytes())
    at = raw.find(b'{"x": 1}')
    raw[at : at + 8] = b'{"x": 1,'  # still 8 bytes, no longer JSON
    path.write_bytes(bytes(raw))
    got = afmio.load(path)
    assert np.array_equal(got.data, data)
    assert "x" not in got.provenance
    assert "TIFF tag 65000" in got.provenance["bundle"]["ignored"][0]


def test_lazy_read_and_streamed_conversion(tmp_path):
    stack = full_stack(n_frames=9)
    out = afmio.save(stack, tmp_path / "s.ome.tif")
    lazy = afmio.load(out, lazy=True)
    assert lazy.is_lazy and lazy.provenance["source"]["lazy"] is True
    assert np.array_equal(lazy.get_frame(4), stack.data[4])
    assert np.array_equal(lazy[2:7].data, stack.data[2:7])
    h5 = afmio.save(lazy, tmp_path / "s.h5")
    assert lazy.is_lazy
    lazy.close()
    with pytest.raises(afmio.ReadError):
        lazy.get_frame(0)
    assert np.array_equal(afmio.load(h5).data, stack.data)
    one = afmio.save(stack[0:1], tmp_path / "one.ome.tif")
    with afmio.load(one, lazy=True) as single:
        assert single.is_lazy and np.array_equal(single.get_frame(0), stack.data[0])


def test_lazy_read_of_a_multichannel_file_loads_at_once(tmp_path):
    path = tmp_path / "multi.ome.tif"
    data = np.stack([np.full((3, 6, 7), c, np.float32) for c in range(2)], axis=1)
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "TCYX", "Channel": {"Name": ["Height", "Phase"]}})
    got = afmio.load(path, channel="Phase", lazy=True)
    assert not got.is_lazy and np.all(got.data == 1)
    assert "read at once" in got.provenance["bundle"]["lazy"]


def test_lazy_plain_uint16_stack_gives_float32(tmp_path):
    path = tmp_path / "plain.tif"
    data = (np.arange(4 * 8 * 9) % 251).astype(np.uint16).reshape(4, 8, 9)
    tifffile.imwrite(path, data, photometric="minisblack")
    with afmio.load(path, lazy=True) as got:
        assert got.is_lazy and got.dtype == np.float32
        assert got.get_frame(2).dtype == np.float32 and np.array_equal(got.get_frame(2), data[2])
