"""NPZ bundles: exact round trips, playNano's own layout, pickle safety, damaged files."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio.errors import CorruptFileError, TruncatedFileError
from afmio.metadata import make_json_safe
from afmio_builtins import npz
from afmio_testdata.bundles import assert_same_stack, full_stack, lazy_copy, write_playnano_npz

SHEET_ORDER = ["pixel_size_nm", "channel", "frame_metadata_json", "provenance_json", "state_backups_json",
               "data", "timestamps"]


@pytest.mark.parametrize("compression", ["none", "deflate", "deflate-6"])
def test_round_trip_every_part(tmp_path, compression):
    stack = full_stack()
    assert stack.frame_metadata[2]["afmio_extra"] == {"gain": 2.5}
    out = afmio.save(stack, tmp_path / "s.npz", compression=compression)
    got = afmio.load(out)
    assert_same_stack(got, stack, "npz")
    assert got.provenance["bundle"]["bundle_file"] == str(out)
    # None values survive as None, not NaN or a missing key
    assert got.state_backups["frame_metadata_before_edit"][3]["line_rate"] is None
    assert got.pixel_size_nm == 0.636 and got.pixel_size_y_nm == 0.7071067811865476


def test_layout_matches_the_sheet_and_has_no_pickles(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.npz", compression="deflate")
    with zipfile.ZipFile(out) as zf:
        names = [n[:-4] for n in zf.namelist()]
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in zf.infolist())
    assert names[:7] == SHEET_ORDER
    assert names[7:] == ["processed__raw", "processed__step_1_remove_plane", "processed__step_2_drop_frames",
                         "masks__step_3_mask_threshold", "masks__step_4_mask_threshold_mask_mean_offset",
                         "afmio_json"]
    with np.load(out, allow_pickle=False) as arrs:  # would raise on any pickled member
        assert arrs["pixel_size_nm"].dtype == np.float64 and arrs["pixel_size_nm"][()] == 0.636
        assert arrs["channel"].dtype.kind == "U" and arrs["channel"].shape == ()
        assert json.loads(arrs["frame_metadata_json"][()]) == make_json_safe(stack.frame_metadata)
        assert json.loads(arrs["state_backups_json"][()]) == stack.state_backups
        assert np.array_equal(arrs["timestamps"], stack.get_frame_times())
        assert arrs["masks__step_3_mask_threshold"].dtype == bool
        extras = json.loads(arrs["afmio_json"][()])
    assert extras["z_unit"] == "V" and extras["pixel_size_y_nm"] == 0.7071067811865476


def test_reads_playnano_npz_with_pickled_members(tmp_path):
    path = tmp_path / "pn.npz"
    stack = full_stack()
    made = write_playnano_npz(path, stack.data, state_backups=stack.state_backups,
                              processed=stack.processed, masks=stack.masks)
    with zipfile.ZipFile(path) as zf, zf.open("channel.npy") as fh:  # the fixture really holds pickles
        assert b"'descr': '|O'" in fh.read(128)
    got = afmio.load(path)
    assert got.channel == "TP"
    assert got.pixel_size_nm == 0.636  # float32 0.63599997... read as the decimal it came from
    assert got.pixel_size_y_nm == 0.636 and got.z_unit == "nm"  # no afmio extras: defaults
    assert got.data.dtype == np.float32 and np.array_equal(got.data, stack.data)
    assert got.frame_metadata == made["meta"]
    assert {k: v for k, v in got.provenance.items() if k not in ("bundle", "source")} == made["provenance"]
    assert got.provenance["bundle"] == {"bundle_file": str(path), "bundle_type": "npz"}
    assert got.state_backups == stack.state_backups
    assert list(got.processed) == list(stack.processed) and list(got.masks) == list(stack.masks)
    assert np.array_equal(got.masks["step_3_mask_threshold"], stack.masks["step_3_mask_threshold"])
    assert got.processed["raw"].shape[0] == 6 and got.data.shape[0] == 5


def test_reads_protocol_3_pickles_from_older_numpy(tmp_path):
    """numpy 1.x wrote protocol-3 pickles naming numpy.core.multiarray."""
    payload = pickle.dumps(np.array("ER", dtype=object), protocol=3)
    payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in payload
    assert npz.decode_pickled_string(payload, "x.npz", "channel.npy") == "ER"
    text = pickle.dumps(np.array(b'{"a": 1}', dtype=object), protocol=2)
    assert npz.decode_pickled_string(text, "x.npz", "provenance_json.npy") == b'{"a": 1}'


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _replace_member(src: Path, dst: Path, member: str, body: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = body if info.filename == member else zin.read(info)
            zout.writestr(info.filename, data)


def _npy_object_member(pickled: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    return buf.getvalue() + pickled


@pytest.mark.parametrize("member", ["channel.npy", "provenance_json.npy"])
def test_malicious_pickle_is_refused_without_running(tmp_path, member):
    good = tmp_path / "good.npz"
    write_playnano_npz(good, full_stack().data)
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker
    bad = tmp_path / "bad.npz"
    _replace_member(good, bad, member, _npy_object_member(pickle.dumps(evil, protocol=4)))
    with pytest.raises(CorruptFileError, match=r"system.*not executed"):
        afmio.load(bad)
    assert not marker.exists()


def test_pickle_with_numpy_globals_but_wrong_payload_is_refused(tmp_path):
    good = tmp_path / "good.npz"
    write_playnano_npz(good, full_stack().data)
    bad = tmp_path / "bad.npz"
    for obj in (np.array(["a", "b"], dtype=object), np.array(3.5, dtype=object), {"a": 1}):
        _replace_member(good, bad, "channel.npy", _npy_object_member(pickle.dumps(obj, protocol=4)))
        with pytest.raises(CorruptFileError, match=r"channel\.npy"):
            afmio.load(bad)


@pytest.mark.parametrize("missing", ["data", "pixel_size_nm", "channel", "frame_metadata_json", "provenance_json"])
def test_missing_required_member_is_named(tmp_path, missing):
    path = tmp_path / "pn.npz"
    write_playnano_npz(path, full_stack().data, skip=(missing,))
    with pytest.raises(CorruptFileError, match=f"missing '{missing}'"):
        npz.read(path)


def test_missing_optional_members_load(tmp_path):
    path = tmp_path / "old.npz"
    data = full_stack().data
    write_playnano_npz(path, data, skip=("state_backups_json", "timestamps"))
    got = afmio.load(path)
    assert got.state_backups == {} and got.processed == {} and got.masks == {}
    assert np.array_equal(got.data, data)


def test_bad_json_is_a_corrupt_file(tmp_path):
    path = tmp_path / "pn.npz"
    write_playnano_npz(path, full_stack().data)
    bad = tmp_path / "bad.npz"
    _replace_member(path, bad, "frame_metadata_json.npy",
                    _npy_object_member(pickle.dumps(np.array("[{", dtype=object), protocol=4)))
    with pytest.raises(CorruptFileError, match="invalid JSON in 'frame_metadata_json'"):
        afmio.load(bad)


def test_truncated_and_damaged_files(tmp_path):
    stack = full_stack()
    good = afmio.save(stack, tmp_path / "s.npz")
    raw = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptFileError):
        afmio.load(cut)
    # flip bytes inside the stored data member: the ZIP CRC catches it
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("data.npy")
    flipped = bytearray(raw)
    start = info.header_offset + 30 + len(info.filename) + 200
    flipped[start : start + 8] = bytes(8)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CorruptFileError, match=r"data\.npy|CRC|damaged"):
        afmio.load(bad)


@pytest.mark.parametrize("lazy", [False, True])
def test_header_claiming_more_data_than_stored(tmp_path, lazy):
    path = tmp_path / "pn.npz"
    write_playnano_npz(path, full_stack().data)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 512, 512)})
    bad = tmp_path / "bad.npz"
    _replace_member(path, bad, "data.npy", buf.getvalue() + bytes(64))
    with pytest.raises(TruncatedFileError, match="describes"):
        afmio.load(bad, lazy=lazy)


def test_raw_export_keeps_metadata_and_frames_aligned(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "raw.npz", raw=True)
    got = afmio.load(out)
    assert np.array_equal(got.data, stack.processed["raw"])
    assert len(got.frame_metadata) == got.n_frames == 6
    assert got.frame_metadata == stack.state_backups["frame_metadata_before_edit"]
    assert all(m["timestamp"] is not None for m in got.frame_metadata)  # playNano pads a None here
    assert got.processed == {} and got.masks == {}


@pytest.mark.parametrize("per_block", [1, 3])
def test_lazy_stack_is_streamed(tmp_path, monkeypatch, per_block):
    stack = full_stack(n_frames=30)
    lazy, source = lazy_copy(stack)
    monkeypatch.setattr("afmio_builtins._bundle.BLOCK_BYTES", per_block * stack.data[0].nbytes)
    out = afmio.save(lazy, tmp_path / "lazy.npz")
    assert lazy.is_lazy and 0 < source.largest <= per_block
    assert np.array_equal(afmio.load(out).data, stack.data)


def test_probe_and_channels_do_not_need_the_data(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.npz")
    info = afmio.registry.probe(out)
    assert (info.n_frames, info.frame_shape) == (5, (12, 10))
    assert info.channels == ["TP"] and info.z_unit == "V" and info.pixel_size_y_nm == 0.7071067811865476
    assert info.frame_times == stack.get_frame_times()
    assert afmio.registry.channels(out) == ["TP"]
    with pytest.raises(afmio.ChannelNotFoundError):
        afmio.load(out, channel="ER")
    assert afmio.load(out, channel="height").channel == "TP"


def test_unknown_compression_is_refused(tmp_path):
    with pytest.raises(ValueError, match="compression"):
        afmio.save(full_stack(), tmp_path / "s.npz", compression="zstd")


def test_export_writes_all_three_bundles_with_playnano_names(tmp_path):
    stack = full_stack()
    written = afmio.registry.export(stack, tmp_path / "out", "movie", formats=["npz", "h5", "tif"])
    assert [p.name for p in written] == ["movie_filtered.npz", "movie_filtered.h5", "movie_filtered.ome.tif"]
    for path, kind in zip(written, ["npz", "h5", "ome-tiff"]):
        got = afmio.load(path)
        assert np.array_equal(got.data, stack.data) and got.provenance["bundle"]["bundle_type"] == kind
    raw = afmio.registry.export(stack, tmp_path / "out", "movie", formats=["npz", "h5", "tif"], raw=True)
    assert [p.name for p in raw] == ["movie.npz", "movie.h5", "movie.ome.tif"]
    assert all(afmio.load(p).n_frames == 6 for p in raw)


def test_lazy_read_of_a_stored_bundle(tmp_path):
    stack = full_stack(n_frames=9)
    out = afmio.save(stack, tmp_path / "s.npz")
    lazy = afmio.load(out, lazy=True)
    assert lazy.is_lazy and lazy.provenance["source"]["lazy"] is True
    assert np.array_equal(lazy.get_frame(5), stack.data[5])
    assert np.array_equal(lazy[2:6].data, stack.data[2:6])
    assert lazy.is_lazy and np.array_equal(lazy.processed["raw"], stack.processed["raw"])
    again = afmio.save(lazy, tmp_path / "again.h5")  # streams from the open NPZ
    assert lazy.is_lazy
    lazy.close()
    with pytest.raises(afmio.ReadError):
        lazy.get_frame(0)
    assert np.array_equal(afmio.load(again).data, stack.data)


def test_lazy_read_of_a_deflated_bundle_loads_at_once(tmp_path):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "s.npz", compression="deflate")
    got = afmio.load(out, lazy=True)
    assert not got.is_lazy and np.array_equal(got.data, stack.data)
    assert "read at once" in got.provenance["bundle"]["lazy"]



def test_parallel_deflate_is_one_valid_stream(tmp_path):
    """Members over 1 MB are deflated in independent pieces; every ZIP reader sees one stream."""
    stack = full_stack(n_frames=40, height=128, width=128)  # 2.6 MB of data
    out = afmio.save(stack, tmp_path / "big.npz", compression="deflate-6")
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        info = zf.getinfo("data.npy")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size < info.file_size
        body = zf.read("data.npy")
    assert body[-stack.data.nbytes :] == stack.data.tobytes()
    with np.load(out, allow_pickle=False) as arrs:
        assert np.array_equal(arrs["data"], stack.data)


def test_zip_directory_sizes_beyond_the_file_are_refused(tmp_path):
    # A damaged directory must not decide an allocation: sizes are checked against the file.
    import struct

    from afmio.synthetic import synthetic_stack

    path = tmp_path / "b.npz"
    afmio.save(synthetic_stack(3, 8, 8), path)
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len] == b"data.npy":
            break
        at = data.find(b"PK\x01\x02", at + 4)
    assert at >= 0
    struct.pack_into("<II", data, at + 20, 0x7FFF0000, 0x7FFF0000)  # compressed and uncompressed size
    path.write_bytes(bytes(data))
    with pytest.raises(afmio.AfmioError, match="beyond the"):
        afmio.load(path)
