"""playNano 0.5.0 writes -> afmio reads, and afmio writes -> playNano reads.

Run with ``nox -s interop`` (installs playnano==0.5.0) or ``pytest -m interop tests/interop``
in an environment that has playNano. Skipped when playNano is not importable.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import afmio
from afmio.metadata import build_frame_metadata, make_json_safe
from afmio.synthetic import synthetic_stack
from afmio_testdata.bundles import full_stack

pytestmark = pytest.mark.interop

playnano = pytest.importorskip("playnano")
if getattr(playnano, "__version__", "0.5.0") != "0.5.0":  # the layouts are pinned to 0.5.0
    pytest.skip(f"interop targets playNano 0.5.0, found {playnano.__version__}", allow_module_level=True)

from playnano.afm_stack import AFMImageStack as PNStack  # noqa: E402
from playnano.io.export_data import export_bundles  # noqa: E402
from playnano.io.loader import load_afm_stack  # noqa: E402
from playnano.processing.pipeline import ProcessingPipeline  # noqa: E402

FORMATS = ["tif", "npz", "h5"]


def _playnano_processed_stack() -> PNStack:
    """A playNano stack after the sheet's example pipeline (masks, clear, a dropped frame)."""
    base = synthetic_stack(6, 32, 40, pixel_size_nm=0.8)
    meta = [build_frame_metadata(timestamp=0.5 * i, frame_pixel_size_nm=0.8, frame_duration_s=0.5,
                                 start_epoch_ms=1_700_000_000_000 + 500 * i, scan_direction="topDown",
                                 line_rate=64.0) for i in range(6)]
    stack = PNStack(base.data.astype(np.float64), 0.8, "height_trace", "movie.asd", meta)
    pipeline = ProcessingPipeline(stack)
    (pipeline.add_filter("remove_plane").add_mask("mask_threshold", threshold=0.5).add_mask("mask_mean_offset")
     .add_filter("row_median_align").clear_mask().add_filter("drop_frames", indices_to_drop=[1])
     .add_filter("zero_mean"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.run()
    return stack


def _drop_bundle(prov: dict) -> dict:
    return {k: v for k, v in prov.items() if k not in ("bundle", "source")}


def test_playnano_writes_afmio_reads(tmp_path):
    pn = _playnano_processed_stack()
    assert list(pn.processed) == ["raw", "step_1_remove_plane", "step_4_row_median_align",
                                  "step_6_drop_frames", "step_7_zero_mean"]
    export_bundles(pn, tmp_path, "proc", FORMATS)
    export_bundles(pn, tmp_path, "procraw", FORMATS, raw=True)
    expected_prov = make_json_safe(pn.provenance)
    for ext in ("npz", "h5", "ome.tif"):
        got = afmio.load(tmp_path / f"proc_filtered.{ext}")
        assert got.shape == (5, 32, 40)
        assert np.array_equal(got.data, pn.data.astype(np.float32))
        assert got.pixel_size_nm == pytest.approx(0.8, rel=1e-12)
        assert got.channel == "height_trace"
        assert got.get_frame_times() == [0.0, 1.0, 1.5, 2.0, 2.5]
        if ext == "ome.tif":
            assert got.provenance["bundle"]["processed_keys"] == list(pn.processed)
            assert _drop_bundle(got.provenance)["processing"] == expected_prov["processing"]
            continue
        assert got.frame_metadata == pn.frame_metadata
        assert _drop_bundle(got.provenance) == expected_prov
        assert got.state_backups == pn.state_backups
        assert list(got.processed) == list(pn.processed) and list(got.masks) == list(pn.masks)
        for key, arr in pn.processed.items():
            assert np.array_equal(got.processed[key], arr.astype(np.float32))
        for key, arr in pn.masks.items():
            assert np.array_equal(got.masks[key], arr)
    # raw exports: 6 frames of the snapshot
    for ext in ("npz", "h5", "ome.tif"):
        got = afmio.load(tmp_path / f"procraw.{ext}")
        assert got.shape == (6, 32, 40)
        assert np.array_equal(got.data, pn.processed["raw"].astype(np.float32))
    # playNano's raw NPZ stores only the 5 current metadata entries: the 6th frame is padded
    # with the six keys, no time, and the stack's pixel size
    padded = afmio.load(tmp_path / "procraw.npz").frame_metadata[5]
    assert list(padded) == list(afmio.FRAME_METADATA_KEYS)
    assert padded["timestamp"] is None and padded["frame_pixel_size_nm"] == pytest.approx(0.8)


def test_afmio_writes_playnano_reads(tmp_path):
    stack = full_stack()
    written = afmio.export(stack, tmp_path, "afm", formats=["npz", "h5", "tif"])
    written += afmio.export(stack, tmp_path, "afm", formats=["npz", "h5", "tif"], raw=True)
    assert [p.name for p in written] == ["afm_filtered.npz", "afm_filtered.h5", "afm_filtered.ome.tif",
                                         "afm.npz", "afm.h5", "afm.ome.tif"]
    for path in written:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pn = load_afm_stack(path)
        raw = "_filtered" not in path.name
        want = stack.processed["raw"] if raw else stack.data
        assert np.array_equal(pn.data, want), path.name
        assert pn.channel == "TP"
        assert pn.pixel_size_nm == 0.636  # float64 member: no float32 loss even in playNano
        n = want.shape[0]
        assert len(pn.frame_metadata) == n
        want_meta = stack.state_backups["frame_metadata_before_edit"] if raw else stack.frame_metadata
        assert [m["timestamp"] for m in pn.frame_metadata] == [m["timestamp"] for m in want_meta]
        if path.suffix == ".tif":
            assert _drop_bundle(pn.provenance)["processing"] == make_json_safe(stack.provenance)["processing"]
            continue
        assert pn.frame_metadata == make_json_safe(want_meta)
        assert _drop_bundle(pn.provenance) == make_json_safe(stack.provenance)
        assert pn.state_backups == stack.state_backups
        if raw:
            assert pn.processed == {} and pn.masks == {}
        else:
            assert list(pn.processed) == list(stack.processed) and list(pn.masks) == list(stack.masks)
            for key, arr in stack.processed.items():
                assert np.array_equal(pn.processed[key], arr)
            for key, arr in stack.masks.items():
                assert np.array_equal(pn.masks[key], arr)


@pytest.mark.parametrize("compression", ["none", "deflate"])
def test_playnano_reads_every_npz_compression(tmp_path, compression):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "c.npz", compression=compression)
    pn = load_afm_stack(out)
    assert np.array_equal(pn.data, stack.data)


@pytest.mark.parametrize("compression", ["gzip", "gzip-9", "none", "lzf"])
def test_playnano_reads_every_h5_compression(tmp_path, compression):
    stack = full_stack()
    out = afmio.save(stack, tmp_path / "c.h5", compression=compression)
    pn = load_afm_stack(out)
    assert np.array_equal(pn.data, stack.data)
    assert np.array_equal(pn.masks["step_3_mask_threshold"], stack.masks["step_3_mask_threshold"])


def test_round_trip_through_both(tmp_path):
    """afmio -> playNano (load, re-export) -> afmio keeps data, metadata and provenance."""
    stack = full_stack()
    first = afmio.save(stack, tmp_path / "a.h5")
    pn = load_afm_stack(first)
    export_bundles(pn, tmp_path / "again", "b", ["npz"])
    got = afmio.load(tmp_path / "again" / "b_filtered.npz")
    assert np.array_equal(got.data, stack.data)
    assert got.frame_metadata == make_json_safe(stack.frame_metadata)
    assert list(got.processed) == list(stack.processed)
