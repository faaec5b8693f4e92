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
    with pytest.raises(afmio.CorruptFileError, match="frames are 8 x 8"):
        afmio.to_dask([files[0][0], other])
    with pytest.raises(ValueError):
        afmio.to_dask([])
