"""The fast deflate paths (libdeflate inflate, ISA-L compress, threaded HDF5 chunks) against
independent readers: h5py's own read, ``np.load`` / zipfile, and ``h5dump``."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import afmio
from afmio.errors import CorruptFileError
from afmio_builtins import _h5chunks, _zcodec
from afmio_testdata.bundles import write_playnano_h5, write_playnano_npz


@pytest.fixture
def tiny_chunks_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the direct chunk reader take the small test datasets (and go parallel)."""
    monkeypatch.setattr(_h5chunks, "_MIN_CHUNK_BYTES", 0)
    monkeypatch.setattr(_h5chunks, "_PARALLEL_BYTES", 0)


def _heights(shape: tuple[int, ...], dtype: str = "f4", seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    frames = 3.0 * np.sin(xx / 7.0)[None] + 0.02 * yy[None] + np.arange(n)[:, None, None] * 0.1
    return (frames + rng.normal(0.0, 0.1, shape)).astype(dtype)


def _bundle_h5(path: Path, data: np.ndarray, **dataset: object) -> None:
    """A playNano-layout HDF5 bundle with ``/data`` stored as ``dataset`` says."""
    meta = [{"timestamp": 0.1 * i} for i in range(data.shape[0])]
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data, **dataset)
        f.create_dataset("frame_metadata_json", data=np.bytes_(json.dumps(meta).encode()))
        f.create_dataset("provenance_json", data=np.bytes_(b"{}"))
        f.attrs["pixel_size_nm"] = 0.5
        f.attrs["channel"] = "height"


def _h5py_data(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["data"][()]


# ---------------------------------------------------------------------- HDF5 reading
@pytest.mark.parametrize(
    ("shape", "dtype", "dataset"),
    [
        ((37, 40, 56), "f4", {"compression": "gzip", "compression_opts": 4}),  # playNano: h5py's chunks
        ((37, 40, 56), "f4", {"compression": "gzip", "compression_opts": 4, "shuffle": True,
                              "chunks": (32, 16, 32)}),
        ((21, 33, 65), "f8", {"compression": "gzip", "compression_opts": 1, "shuffle": True, "chunks": (5, 7, 9)}),
        ((21, 33, 65), "f8", {"compression": "gzip", "compression_opts": 9, "chunks": (4, 33, 65)}),
        ((12, 24, 20), "f4", {"shuffle": True, "chunks": (5, 11, 20)}),  # shuffle alone
        ((12, 24, 20), "i2", {"compression": "gzip", "shuffle": True, "chunks": (3, 10, 7)}),
    ],
)
def test_chunks_of_any_shape_read_bit_identical_to_h5py(tmp_path, tiny_chunks_too, shape, dtype, dataset):
    path = tmp_path / "b.h5"
    data = _heights(shape, dtype)
    _bundle_h5(path, data, **dataset)
    with h5py.File(path, "r") as f:
        assert f["data"].chunks != (1, *shape[1:])  # frames cut across chunks
        out = np.empty(shape, dtype)
        assert _h5chunks.read_chunked(f["data"], 0, shape[0], out)  # the fast path, not h5py's
    assert np.array_equal(out, _h5py_data(path))
    stack = afmio.load(path)
    assert stack.data.dtype == np.dtype(dtype) and np.array_equal(stack.data, data)


def test_frame_ranges_cut_through_chunks(tmp_path, tiny_chunks_too):
    path = tmp_path / "b.h5"
    data = _heights((30, 20, 26))
    _bundle_h5(path, data, compression="gzip", compression_opts=4, shuffle=True, chunks=(7, 8, 9))
    with h5py.File(path, "r") as f:
        for start, stop in ((0, 1), (5, 17), (6, 7), (27, 30), (0, 30)):
            out = np.empty((stop - start, 20, 26), np.float32)
            assert _h5chunks.read_chunked(f["data"], start, stop, out)
            assert np.array_equal(out, data[start:stop]), (start, stop)
    with afmio.load(path, lazy=True) as stack:
        assert all(np.array_equal(stack.get_frame(i), data[i]) for i in (0, 6, 13, 29))


def test_many_chunks_are_read_with_pread_not_through_hdf5(tmp_path, tiny_chunks_too):
    path = tmp_path / "b.h5"
    data = _heights((40, 32, 32))
    _bundle_h5(path, data, compression="gzip", chunks=(3, 8, 8))  # 14 x 4 x 4 = 224 chunks
    with h5py.File(path, "r") as f:
        ds = f["data"]
        layout = _h5chunks._layout(ds)
        assert layout is not None
        chunks = _h5chunks._chunks_in(ds, layout, 0, 40)
        assert chunks is not None and len(chunks) == 224 and all(c.address > 0 for c in chunks)
        out = np.empty(ds.shape, ds.dtype)
        assert _h5chunks.read_chunked(ds, 0, 40, out)
    assert np.array_equal(out, data)


def test_other_filters_and_missing_chunks_fall_back_to_h5py(tmp_path, tiny_chunks_too):
    data = _heights((10, 16, 16))
    cases = {
        "fletcher": {"compression": "gzip", "fletcher32": True, "chunks": (2, 16, 16)},
        "lzf": {"compression": "lzf", "chunks": (2, 16, 16)},
        "contiguous": {},
    }
    for name, dataset in cases.items():
        path = tmp_path / f"{name}.h5"
        _bundle_h5(path, data, **dataset)
        with h5py.File(path, "r") as f:
            assert not _h5chunks.read_chunked(f["data"], 0, 10, np.empty(data.shape, data.dtype)), name
        assert np.array_equal(afmio.load(path).data, data), name
    # Chunks never written hold the fill value: h5py knows it, so h5py reads.
    path = tmp_path / "sparse.h5"
    _bundle_h5(path, np.zeros((0, 16, 16), "f4"), compression="gzip", chunks=(2, 16, 16), maxshape=(None, 16, 16))
    with h5py.File(path, "r+") as f:
        f["data"].resize((10, 16, 16))
        f["data"][4:6] = data[4:6]
        del f["frame_metadata_json"]
        f.create_dataset("frame_metadata_json", data=np.bytes_(json.dumps([{}] * 10).encode()))
    with h5py.File(path, "r") as f:
        assert not _h5chunks.read_chunked(f["data"], 0, 10, np.empty(data.shape, data.dtype))
    assert np.array_equal(afmio.load(path).data, _h5py_data(path))


def test_damaged_chunk_is_a_corrupt_file(tmp_path, tiny_chunks_too):
    path = tmp_path / "b.h5"
    data = _heights((8, 32, 32))
    _bundle_h5(path, data, compression="gzip", chunks=(2, 32, 32))
    with h5py.File(path, "r") as f:
        infos: list = []
        f["data"].id.chunk_iter(infos.append)
    raw = bytearray(path.read_bytes())
    target = infos[2]
    raw[target.byte_offset + 10 : target.byte_offset + 40] = b"\xff" * 30
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="damaged"):
        afmio.load(path)


def test_playnano_written_bundle(tmp_path, tiny_chunks_too):
    path = tmp_path / "pn.h5"
    data = _heights((25, 48, 40))
    write_playnano_h5(path, data)
    assert np.array_equal(afmio.load(path).data, _h5py_data(path))


# ---------------------------------------------------------------------- HDF5 writing
def test_default_save_is_plain_gzip_shuffle_hdf5(tmp_path):
    data = _heights((9, 30, 44))
    stack = afmio.AFMImageStack(data, 0.5, "height", "x", [{"timestamp": 0.2 * i} for i in range(9)])
    path = tmp_path / "out.h5"
    afmio.save(stack, path)
    with h5py.File(path, "r") as f:
        ds = f["data"]
        assert ds.compression == "gzip" and ds.shuffle and ds.chunks == (1, 30, 44)
        assert np.array_equal(ds[()], data)  # HDF5's own filters decode our chunks
    for level in ("gzip-1", "gzip-6"):
        afmio.save(stack, path, overwrite=True, compression=level)
        assert np.array_equal(_h5py_data(path), data)


@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (Debian hdf5-tools) not installed")
def test_h5dump_reads_the_default_save(tmp_path):
    data = _heights((3, 4, 5))
    stack = afmio.AFMImageStack(data, 0.5, "height", "x", [{"timestamp": 0.2 * i} for i in range(3)])
    path = tmp_path / "out.h5"
    afmio.save(stack, path)
    out = subprocess.run(["h5dump", "-d", "/data", "-y", "-w", "0", "-m", "%.9g", str(path)],
                         capture_output=True, text=True, check=True).stdout
    body = out[out.index("DATA {") + len("DATA {") :].split("}")[0]
    values = np.array([float(v) for v in body.replace(",", " ").split()], np.float32)
    assert np.array_equal(values, data.ravel())  # %.9g round-trips float32 exactly


# ---------------------------------------------------------------------- NPZ
@pytest.fixture(params=["prefaulted", "binding"])
def inflate_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run NPZ tests through both inflate paths: into prefaulted memory, and the binding's call."""
    from afmio_builtins import _inflate_into

    if request.param == "prefaulted":
        if _inflate_into._libdeflate() is None:
            pytest.skip("libdeflate's symbols are not reachable on this platform")
        monkeypatch.setattr(_inflate_into, "MIN_BYTES", 0)
    else:
        monkeypatch.setattr(_inflate_into, "_libdeflate", lambda: None)
    return request.param


@pytest.mark.parametrize(("shape", "dtype"), [((17, 40, 56), "f4"), ((6, 33, 65), "f8")])
def test_deflated_npz_members_read_bit_identical_to_np_load(tmp_path, shape, dtype, inflate_path):
    path = tmp_path / "pn.npz"
    data = _heights(shape, dtype)
    write_playnano_npz(path, data, processed={"flat": data[::-1]}, masks={"m": data > 0})
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("data.npy").compress_type == zipfile.ZIP_DEFLATED
    with np.load(path, allow_pickle=True) as ref:
        want = {k: ref[k] for k in ("data", "processed__flat", "masks__m")}
    stack = afmio.load(path)
    assert np.array_equal(stack.data, want["data"]) and stack.data.dtype == np.float32
    assert np.array_equal(stack.processed["flat"], want["processed__flat"])
    assert np.array_equal(stack.masks["m"], want["masks__m"])
    stack.data[0, 0, 0] = 1.0  # an ordinary writable array


def test_npz_member_with_wrong_crc_or_cut_stream_is_corrupt(tmp_path, inflate_path):
    path = tmp_path / "pn.npz"
    write_playnano_npz(path, _heights((5, 20, 20)))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("data.npy")
    raw = bytearray(path.read_bytes())
    bad_crc = bytearray(raw)
    entry = raw.find(b"PK\x01\x02")  # data.npy's central-directory entry holds the CRC zipfile checks
    while raw[entry + 46 : entry + 46 + 8] != b"data.npy":
        entry = raw.find(b"PK\x01\x02", entry + 4)
    bad_crc[entry + 16 : entry + 20] = (info.CRC ^ 0xFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(bad_crc))
    with pytest.raises(CorruptFileError, match="CRC"):
        afmio.load(path)
    # Garbage in the middle of the deflate stream.
    start = info.header_offset + 30 + len("data.npy") + len(info.extra)
    broken = bytearray(raw)
    middle = start + info.compress_size // 2
    broken[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(broken))
    with pytest.raises(CorruptFileError):
        afmio.load(path)


# ---------------------------------------------------------------------- codec
def test_inflate_into_prefaulted_memory_matches_zlib(monkeypatch):
    import zlib

    from afmio_builtins import _inflate_into

    if _inflate_into._libdeflate() is None:
        pytest.skip("libdeflate's symbols are not reachable on this platform")
    monkeypatch.setattr(_inflate_into, "_POPULATE_STEP", 4096)  # many steps, racing the writer
    payload = np.random.default_rng(3).normal(size=1_500_000).astype("f4").tobytes()  # 6 MB
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = packer.compress(payload) + packer.flush()
    assert _inflate_into.inflate_raw_into(packed, len(payload)) is None  # small outputs: the binding
    monkeypatch.setattr(_inflate_into, "MIN_BYTES", 0)
    out = _inflate_into.inflate_raw_into(packed, len(payload))
    assert out is not None and out.dtype == np.uint8 and out.tobytes() == payload
    for wrong in (len(payload) + 8, len(payload) - 8):
        with pytest.raises(ValueError, match="does not inflate"):
            _inflate_into.inflate_raw_into(packed, wrong)
    with pytest.raises(ValueError, match="does not inflate"):
        _inflate_into.inflate_raw_into(packed[: len(packed) // 2], len(payload))


def test_inflate_insists_on_the_declared_size():
    payload = np.arange(1000, dtype=np.int32).tobytes()
    packed = _zcodec.compress_zlib(payload)
    assert bytes(_zcodec.inflate_zlib(packed, len(payload))) == payload
    with pytest.raises(_zcodec.InflateError):
        _zcodec.inflate_zlib(packed, len(payload) + 4)  # expands to less than declared
    with pytest.raises(_zcodec.InflateError):
        _zcodec.inflate_zlib(packed, len(payload) - 4)  # does not fit
    with pytest.raises(_zcodec.InflateError):
        _zcodec.inflate_zlib(packed[:-9], len(payload))


def test_shuffle_matches_hdf5s_filter(tmp_path):
    frame = _heights((1, 16, 24), "f8")[0]
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=frame, shuffle=True, chunks=frame.shape)
    with h5py.File(path, "r") as f:
        _mask, stored = f["x"].id.read_direct_chunk((0, 0))
    assert _zcodec.shuffle_bytes(frame) == stored
    assert np.array_equal(_zcodec.unshuffle(stored, frame.dtype).reshape(frame.shape), frame)


# ---------------------------------------------------------------------- a few values from a big chunk
def test_inflated_byte_ranges_match_the_whole_stream():
    payload = np.random.default_rng(3).integers(0, 7, 300_000, dtype=np.uint8).tobytes()
    packed = _zcodec.compress_zlib(payload)
    ranges = [(0, 5), (65_530, 65_545), (131_071, 131_072), (200_000, 200_000), (299_990, 300_000)]
    got = _zcodec.inflate_zlib_ranges(packed, len(payload), ranges)  # ranges cross the 64 KiB windows
    assert [bytes(g) for g in got] == [payload[a:b] for a, b in ranges]
    for damaged, size in ((packed[:-9], len(payload)), (packed, len(payload) + 4), (packed, len(payload) - 4)):
        with pytest.raises(_zcodec.InflateError):
            _zcodec.inflate_zlib_ranges(damaged, size, [(0, 4)])
    with pytest.raises(ValueError, match="outside"):
        _zcodec.inflate_zlib_ranges(packed, len(payload), [(0, len(payload) + 1)])


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(
    ("shape", "chunks", "dtype"),
    [((4, 1), (131_072, 1), "i8"),  # JPK's per-frame time columns
     ((3, 5), (4096, 64), "f8"),  # a corner of a 2-D chunk: rows of the chunk are skipped
     ((6,), (50_000,), "u2")],
)
def test_small_dataset_in_a_big_chunk_reads_bit_identical_to_h5py(tmp_path, shuffle, shape, chunks, dtype):
    path = tmp_path / "c.h5"
    values = (np.arange(int(np.prod(shape))).reshape(shape) * 7919 + 1_748_439_718_548 % 65_000).astype(dtype)
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=values, chunks=chunks, compression="gzip", shuffle=shuffle,
                         maxshape=tuple(None for _ in shape))
    with h5py.File(path, "r") as f:
        _mask, raw = f["x"].id.read_direct_chunk(tuple(0 for _ in shape))
        want = tuple(slice(0, s) for s in shape)
        layout = _h5chunks._layout(f["x"])
        assert layout is not None
        corner = _h5chunks._corner(raw, layout, want, shuffle)
        assert corner is not None  # the windowed path, not a whole-chunk inflate
        assert corner.dtype == np.dtype(dtype) and np.array_equal(corner, values)
        inner = tuple(slice(min(1, s - 1), s) for s in shape)  # not from the chunk's first element
        assert np.array_equal(_h5chunks._corner(raw, layout, inner, shuffle), values[inner])
        whole = _h5chunks.read_whole(f["x"])
    assert whole is not None and np.array_equal(whole, values)


def test_a_pipeline_with_deflate_before_shuffle_is_left_to_h5py(tmp_path):
    """Undoing such filters in the usual order would be wrong; only h5py knows the order."""
    path = tmp_path / "b.h5"
    data = _heights((4, 16, 16))
    _bundle_h5(path, data, compression="gzip", shuffle=True, chunks=(1, 16, 16))
    with h5py.File(path, "r") as f:
        assert _h5chunks._fast_path_ok(f["data"], [_h5chunks.FILTER_SHUFFLE, _h5chunks.FILTER_DEFLATE])
        for pipeline in ([_h5chunks.FILTER_DEFLATE, _h5chunks.FILTER_SHUFFLE],
                         [_h5chunks.FILTER_DEFLATE, _h5chunks.FILTER_DEFLATE]):
            assert not _h5chunks._fast_path_ok(f["data"], pipeline)
