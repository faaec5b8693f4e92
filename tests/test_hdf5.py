"""HDF5 bundles: exact round trips, standard filters, lazy frames, playNano's layout, damaged files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import afmio
from afmio.errors import CorruptFileError
from afmio.metadata import make_json_safe
from afmio_builtins import hdf5
from afmio_testdata.bundles import assert_same_stack, full_stack, lazy_copy, write_playnano_h5


@pytest.mark.parametrize(
    ("compression", "shuffle", "filters"),
    [("gzip", True, ("gzip", 1, True)), ("gzip-6", False, ("gzip", 6, False)),
     ("lzf", True, ("lzf", None, True)), ("none", True, (None, None, False))],
)
def test_round_trip_every_part(tmp_path, compression, shuffle, filters):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.h5", compression=compression, shuffle=shuffle)
    assert_same_stack(afmio.load(out), stack, "h5")
    with h5py.File(out, "r") as f:
        ds = f["data"]
        assert ds.chunks == (1, 12, 10)  # one chunk per frame
        assert (ds.compression, ds.compression_opts, ds.shuffle) == filters
        # h5py's own filter pipeline decodes afmio's chunks (standard gzip/shuffle)
        assert np.array_equal(ds[()], stack.data)
        assert np.array_equal(f["processed/raw"][()], stack.processed["raw"])
        assert f["masks/step_3_mask_threshold"].dtype == bool


def test_layout_matches_the_sheet(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.h5")
    with h5py.File(out, "r") as f:
        assert set(f) == {"data", "processed", "masks", "timestamps", "frame_metadata_json",
                          "provenance_json", "state_backups_json"}
        assert f["frame_metadata_json"].shape == () and f["frame_metadata_json"].dtype.kind == "S"
        assert json.loads(f["frame_metadata_json"][()].decode()) == make_json_safe(stack.frame_metadata)
        assert json.loads(f["provenance_json"][()].decode()) == make_json_safe(stack.provenance)
        assert f["timestamps"].dtype == np.float64 and f["timestamps"].compression is None
        assert np.array_equal(f["timestamps"][()], [m["timestamp"] for m in stack.frame_metadata])
        assert isinstance(f.attrs["channel"], str) and f.attrs["channel"] == "TP"
        assert f.attrs["pixel_size_nm"].dtype == np.float64 and f.attrs["pixel_size_nm"] == 0.636
        assert json.loads(f.attrs["afmio_json"])["z_unit"] == "V"


def test_empty_state_backups_are_not_written(tmp_path):
    stack = full_stack()
    stack.state_backups = {}
    out = afmio.save(stack, tmp_path / "s.h5")
    with h5py.File(out, "r") as f:
        assert "state_backups_json" not in f
    assert afmio.load(out).state_backups == {}


@pytest.mark.parametrize("vlen", [False, True])
def test_reads_playnano_h5(tmp_path, vlen):
    path = tmp_path / "pn.h5"
    stack = full_stack()
    made = write_playnano_h5(path, stack.data, state_backups=stack.state_backups, processed=stack.processed,
                             masks=stack.masks, vlen_json=vlen)
    got = afmio.load(path)
    assert got.channel == "TP" and got.pixel_size_nm == 0.636 and got.pixel_size_y_nm == 0.636
    assert got.z_unit == "nm"
    assert got.data.dtype == np.float32 and np.array_equal(got.data, stack.data)
    assert got.frame_metadata == made["meta"]
    assert {k: v for k, v in got.provenance.items() if k not in ("bundle", "source")} == made["provenance"]
    assert got.provenance["bundle"] == {"bundle_file": str(path), "bundle_type": "h5"}
    assert got.state_backups == stack.state_backups
    assert list(got.processed) == list(stack.processed)
    assert np.array_equal(got.processed["raw"], stack.processed["raw"])
    assert np.array_equal(got.masks["step_3_mask_threshold"], stack.masks["step_3_mask_threshold"])


def test_partial_playnano_h5_loads(tmp_path):
    path = tmp_path / "old.h5"
    data = full_stack().data
    write_playnano_h5(path, data)  # no processed/masks groups, no state backups
    got = afmio.load(path)
    assert got.processed == {} and got.masks == {} and got.state_backups == {}
    assert np.array_equal(got.data, data)


@pytest.mark.parametrize(
    ("missing", "named"),
    [("data", "'/data'"), ("frame_metadata_json", "'/frame_metadata_json'"),
     ("provenance_json", "'/provenance_json'"), ("pixel_size_nm", "'pixel_size_nm'"), ("channel", "'channel'")],
)
def test_missing_required_part_is_named(tmp_path, missing, named):
    path = tmp_path / "pn.h5"
    write_playnano_h5(path, full_stack().data, skip=(missing,))
    with pytest.raises(CorruptFileError, match=f"missing .*{named}"):
        hdf5.read(path)


def test_lazy_reads_frames_on_demand_and_closes(tmp_path):
    stack = full_stack(n_frames=8)
    out = afmio.save(stack, tmp_path / "s.h5")
    lazy = afmio.load(out, lazy=True)
    assert lazy.is_lazy and lazy.provenance["source"]["lazy"] is True
    assert np.array_equal(lazy.get_frame(4), stack.data[4])
    assert np.array_equal(lazy[2:5].data, stack.data[2:5])
    assert lazy.is_lazy
    assert np.array_equal(lazy.processed["raw"], stack.processed["raw"])
    source = lazy._source
    assert source._file.id.valid
    lazy.close()
    assert not source._file.id.valid


@pytest.mark.parametrize("per_block", [1, 4])
def test_lazy_stack_converts_in_blocks(tmp_path, monkeypatch, per_block):
    stack = full_stack(n_frames=30)
    lazy, source = lazy_copy(stack)
    monkeypatch.setattr("afmio_builtins._bundle.BLOCK_BYTES", per_block * stack.data[0].nbytes)
    out = afmio.save(lazy, tmp_path / "lazy.h5")
    assert lazy.is_lazy and 0 < source.largest <= per_block
    assert np.array_equal(afmio.load(out).data, stack.data)
    # lazy h5 -> h5 conversion streams too
    src = afmio.load(out, lazy=True)
    again = afmio.save(src, tmp_path / "again.h5", compression="none")
    assert src.is_lazy
    src.close()
    assert np.array_equal(afmio.load(again).data, stack.data)


def test_truncated_and_damaged_files(tmp_path):
    stack = full_stack()
    good = afmio.save(stack, tmp_path / "s.h5")
    raw = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptFileError):
        afmio.load(cut, format="hdf5")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(CorruptFileError):
        afmio.load(garbage, format="hdf5")
    # damage the compressed bytes of one frame chunk
    with h5py.File(good, "r") as f:
        offset = f["data"].id.get_chunk_info_by_coord((2, 0, 0)).byte_offset
    damaged = bytearray(raw)
    damaged[offset + 10 : offset + 40] = b"\xff" * 30
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(CorruptFileError, match=r"damaged|cannot be read"):
        afmio.load(bad)


def test_dataset_claiming_impossible_size_is_refused(tmp_path):
    path = tmp_path / "huge.h5"
    write_playnano_h5(path, full_stack().data, skip=("data",))
    with h5py.File(path, "a") as f:
        f.create_dataset("data", shape=(100_000, 1024, 1024), dtype="f4", chunks=(1, 1024, 1024))
    with pytest.raises(CorruptFileError, match=r"declares 419430400000 bytes .* holds only 0 bytes"):
        afmio.load(path)


def test_sniff_declines_other_hdf5(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    assert hdf5.sniff(other) is False
    text = tmp_path / "text.h5"
    text.write_text("hello")
    assert hdf5.sniff(text) is False


def test_probe_reads_no_frames(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.h5")
    info = afmio.registry.probe(out)
    assert (info.n_frames, info.frame_shape, info.channels) == (5, (12, 10), ["TP"])
    assert info.pixel_size_nm == 0.636 and info.z_unit == "V"
    assert info.frame_times == stack.get_frame_times()
    assert afmio.registry.channels(out) == ["TP"]


def test_unknown_compression_is_refused(tmp_path):
    with pytest.raises(ValueError, match="compression"):
        afmio.save(full_stack(), tmp_path / "s.h5", compression="gzip-12")


def test_unwritten_chunks_read_as_the_fill_value(tmp_path):
    path = tmp_path / "sparse.h5"
    write_playnano_h5(path, full_stack().data, skip=("data",))
    with h5py.File(path, "a") as f:
        ds = f.create_dataset("data", shape=(5, 12, 10), dtype="f4", chunks=(1, 12, 10), compression="gzip",
                              shuffle=True)
        ds[2] = 7
    got = hdf5.read(path)
    assert list(got.data[:, 0, 0]) == [0, 0, 7, 0, 0]


@pytest.mark.parametrize("whole_file", [True, False])
def test_a_global_heap_hdf5_would_loop_on_is_refused_before_any_string_is_read(tmp_path, monkeypatch, whole_file):
    """HDF5 spins forever in C on a free-space heap record of size 0; afmio walks the heap first.

    ``whole_file=False`` takes the large-file path (numeric raw data skipped, the heap still found).
    """
    from afmio_builtins import _h5heap
    from afmio_testdata.adversarial import h5_global_heap_loop

    if not whole_file:
        monkeypatch.setattr(_h5heap, "WHOLE_SCAN_BYTES", 0)
    path = h5_global_heap_loop(tmp_path)
    for call in (afmio.load, afmio.registry.probe, afmio.registry.channels):
        with pytest.raises(CorruptFileError, match=r"bundle.h5: damaged HDF5 global heap .* of size 0"):
            call(path)


def test_sound_global_heaps_pass_on_both_paths(tmp_path, monkeypatch):
    from afmio.synthetic import synthetic_stack
    from afmio_builtins import _h5heap

    path = tmp_path / "many.h5"
    afmio.save(synthetic_stack(3, 8, 8), path)
    with h5py.File(path, "a") as f:
        for i in range(300):  # enough strings for more than one collection
            f.attrs[f"note_{i}"] = f"string number {i} " * 3
    with h5py.File(path, "r") as f:
        _h5heap.check_global_heaps(path, f)
        monkeypatch.setattr(_h5heap, "WHOLE_SCAN_BYTES", 0)
        assert _h5heap._raw_data_extents(f)  # the frames' chunks are skipped
        _h5heap.check_global_heaps(path, f)
    assert afmio.load(path).shape == (3, 8, 8)
