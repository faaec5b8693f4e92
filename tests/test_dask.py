"""afmio.to_dask: lazy Dask arrays over files, computed on a local multi-process cluster."""

from __future__ import annotations

import numpy as np
import pytest

import afmio
from afmio.synthetic import synthetic_stack

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask")
    stacks = [synthetic_stack(n, 16, 20, seed=seed) for seed, n in enumerate([3, 5, 4])]
    paths = []
    for i, stack in enumerate(stacks):
        path = folder / f"movie{i}.ome.zarr"
        afmio.save(stack, path)
        paths.append(path)
    return paths, stacks


def test_single_file_chunks_and_metadata(files):
    paths, stacks = files
    arr = afmio.to_dask(paths[1])
    assert arr.shape == (5, 16, 20) and arr.chunks[0] == (1, 1, 1, 1, 1)
    assert arr.attrs["pixel_size_nm"] == stacks[1].pixel_size_nm and arr.attrs["z_unit"] == "nm"
    assert arr.attrs["timestamps"] == [stacks[1].get_frame_times()]
    np.testing.assert_array_equal(arr.compute(scheduler="sync"), stacks[1].data)
    blocks = afmio.to_dask(paths[1], frames_per_chunk=2)
    assert blocks.chunks[0] == (2, 2, 1)


def test_several_files_on_a_local_cluster(files):
    paths, _ = files
    arr = afmio.to_dask(paths)
    assert arr.shape == (12, 16, 20) and arr.attrs["frames_per_file"] == [3, 5, 4]
    expected = np.concatenate([afmio.load(p).data for p in paths])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        total = client.compute(arr.sum(axis=(1, 2))).result()
        whole = client.compute(arr).result()
    np.testing.assert_array_equal(whole, expected)
    np.testing.assert_allclose(total, expected.sum(axis=(1, 2)), rtol=1e-6)


def test_mismatched_frame_shapes_are_refused(files, tmp_path):
    other = tmp_path / "other.ome.zarr"
    afmio.save(synthetic_stack(2, 8, 8), other)
    with pytest.raises(ValueError, match="its frames are 8 x 8 px") as caught:
        afmio.to_dask([files[0][0], other])
    assert not isinstance(caught.value, afmio.CorruptFileError)  # both files are fine
    with pytest.raises(ValueError):
        afmio.to_dask([])



def test_open_files_are_bounded_and_closed(files, monkeypatch):
    from afmio import daskio

    paths, stacks = files
    daskio.close_cached_files()
    monkeypatch.setattr(daskio, "MAX_OPEN_FILES", 2)
    opened, closed = [], []
    real_load = afmio.registry.load

    def spy(*args, **kwargs):
        stack = real_load(*args, **kwargs)
        real_close = stack.close
        stack.close = lambda: (closed.append(stack), real_close())
        opened.append(stack)
        return stack

    monkeypatch.setattr(afmio.registry, "load", spy)
    names = [str(p) for p in paths]
    for name, stack in zip(names, stacks):  # three files through a cache of two
        np.testing.assert_array_equal(daskio._read_block(name, None, "ome-zarr", 0, 2), stack.data[:2])
    assert len(opened) == 3 and closed == [opened[0]]
    daskio._read_block(names[2], None, "ome-zarr", 1, 3)  # cached: no new open
    assert len(opened) == 3
    # A stack evicted while a task still reads it is closed by that task, not under it.
    entry = daskio._acquire(names[1], None, "ome-zarr")
    daskio._read_block(names[0], None, "ome-zarr", 0, 1)  # evicts file 2
    daskio._read_block(names[2], None, "ome-zarr", 0, 1)  # evicts file 1, still in use
    assert entry.evicted and closed == [opened[0], opened[2]]
    daskio._release(entry)
    assert closed == [opened[0], opened[2], opened[1]]
    daskio.close_cached_files()
    assert not daskio._cache and len(closed) == len(opened) == 5


def test_mixed_lazy_drivers_on_a_local_cluster(tmp_path):
    """ASD, HDF5 and OME-TIFF files (three lazy drivers) joined into one array."""
    from afmio_testdata.asd_writer import write_asd

    stack = synthetic_stack(4, 16, 20, seed=7)
    paths = [afmio.save(stack, tmp_path / "a.h5"), afmio.save(stack, tmp_path / "b.ome.tif")]
    levels = np.random.default_rng(3).integers(0, 4000, (3, 16, 20)).astype(np.int16)
    write_asd(tmp_path / "c.asd", {"TP": levels})
    paths.append(tmp_path / "c.asd")
    expected = np.concatenate([afmio.load(p).data for p in paths])
    arr = afmio.to_dask(paths, frames_per_chunk=2)
    assert arr.shape == (11, 16, 20) and arr.attrs["frames_per_file"] == [4, 4, 3]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        whole = client.compute(arr).result()
    np.testing.assert_array_equal(whole, expected)
