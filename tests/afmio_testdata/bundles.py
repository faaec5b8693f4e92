"""Test fixtures for the bundle drivers: a stack with every optional part, and
playNano 0.5.0 bundles built by hand from ``formats/playnano-bundles.md``.

These writers follow the sheet, not afmio's code, so reading them tests afmio
against the layout playNano really produces (pickled NPZ members, float32 pixel
size, gzip-4 HDF5 with fixed-length byte JSON, OME-TIFF with tags 65000/65001).
Test code may pickle to build fixtures; afmio itself never unpickles.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from afmio.frames import ArrayFrameSource
from afmio.metadata import build_frame_metadata, make_json_safe
from afmio.stack import AFMImageStack
from afmio.synthetic import synthetic_stack

__all__ = ["CountingSource", "assert_same_stack", "full_stack", "lazy_copy", "playnano_provenance", "write_playnano_h5",
           "write_playnano_npz", "write_playnano_ome_tiff"]


def playnano_provenance(shape: tuple[int, ...]) -> dict[str, Any]:
    """A provenance dict shaped like a real playNano one (sheet §4 example record)."""
    return {
        "acquisition": {"asd_channels": ["TP", "ER"], "asd_file_version": 1},
        "environment": {"timestamp": "2026-11-23T19:39:09.551673Z", "python_version": "3.11.7",
                        "playnano_version": "0.5.0", "numpy_version": "2.4.6"},
        "processing": {
            "steps": [
                {"index": 1, "name": "remove_plane", "params": {}, "timestamp": "2026-11-23T19:39:09.1Z",
                 "step_type": "filter", "version": None, "function_module": "playnano.processing.filters",
                 "processed_key": "step_1_remove_plane",
                 "output_summary": {"shape": list(shape), "dtype": "float64"}},
                {"index": 2, "name": "drop_frames", "params": {"indices_to_drop": [1]},
                 "timestamp": "2026-11-23T19:39:09.551673Z", "step_type": "stack_edit", "version": "0.1.0",
                 "function_module": "playnano.processing.stack_edit", "processed_key": "step_2_drop_frames",
                 "output_summary": {"stack_edit_function_used": "drop_frames", "delegated_to": None,
                                    "shape": [shape[0] - 1, *shape[1:]], "dtype": "float64"}},
            ],
            "keys_by_name": {"remove_plane": ["step_1_remove_plane"], "drop_frames": ["step_2_drop_frames"]},
        },
        "analysis": {"frame_times": None, "steps": [], "results_by_name": {}},
    }


def full_stack(n_frames: int = 6, height: int = 12, width: int = 10) -> AFMImageStack:
    """A processed stack with every optional part a bundle can carry.

    A frame was dropped (state_backups holds the metadata from before), processed
    layers include a 6-frame ``raw``, masks have the old frame count, pixels are not
    square and not float32-exact, values are volts, one frame has an extra key and
    metadata fields that are None.
    """
    base = synthetic_stack(n_frames, height, width, pixel_size_nm=0.636)
    before = [dict(m) for m in base.frame_metadata]
    before[3]["line_rate"] = None
    before[3]["scan_direction"] = None
    keep = [i for i in range(n_frames) if i != 1]
    raw = base.data.copy()
    plane = raw - 0.25
    dropped = plane[keep]
    stack = AFMImageStack(
        dropped - dropped.mean(), 0.636, "TP", "movie.asd", [copy.deepcopy(before[i]) for i in keep],
        pixel_size_y_nm=0.7071067811865476, z_unit="V",
    )
    stack.frame_metadata[2]["afmio_extra"] = {"gain": 2.5}
    stack.processed = {"raw": raw, "step_1_remove_plane": plane, "step_2_drop_frames": dropped}
    stack.masks = {"step_3_mask_threshold": raw > raw.mean(),
                   "step_4_mask_threshold_mask_mean_offset": dropped > 0}
    stack.state_backups = {"frame_metadata_before_edit": before}
    stack.provenance = playnano_provenance(raw.shape)
    stack.provenance["analysis"]["results_by_name"] = {"x": [{"analysis_key": "k", "outputs": {"v": 1.5}}]}
    return stack


class CountingSource(ArrayFrameSource):
    """An in-memory frame source that records the largest block it was asked for."""

    def __init__(self, array: np.ndarray) -> None:
        super().__init__(array)
        self.largest = 0
        self.closed = False

    def read_frame(self, index: int) -> np.ndarray:
        self.largest = max(self.largest, 1)
        return super().read_frame(index)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        self.largest = max(self.largest, stop - start)
        return super().read_frames(start, stop)

    def close(self) -> None:
        self.closed = True


def lazy_copy(stack: AFMImageStack) -> tuple[AFMImageStack, CountingSource]:
    """A lazy stack over the same frames and metadata, and its counting source."""
    source = CountingSource(np.asarray(stack.data))
    lazy = AFMImageStack(source, stack.pixel_size_nm, stack.channel, stack.file_path,
                         copy.deepcopy(stack.frame_metadata), pixel_size_y_nm=stack.pixel_size_y_nm,
                         z_unit=stack.z_unit)
    lazy.provenance = copy.deepcopy(stack.provenance)
    return lazy, source


def _pn_meta(n: int, px: float) -> list[dict[str, Any]]:
    return [build_frame_metadata(timestamp=0.5 * i, frame_pixel_size_nm=px, frame_duration_s=0.5,
                                 start_epoch_ms=1_700_000_000_000 + 500 * i, scan_direction="bottomUp",
                                 line_rate=24.0) for i in range(n)]


def write_playnano_npz(path: Path, data: np.ndarray, *, px: float = 0.636, channel: str = "TP",
                       meta: list[dict[str, Any]] | None = None, provenance: dict[str, Any] | None = None,
                       state_backups: dict[str, Any] | None = None,
                       processed: dict[str, np.ndarray] | None = None, masks: dict[str, np.ndarray] | None = None,
                       skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """An NPZ exactly as playNano's ``save_npz_bundle`` writes it (sheet §1), pickles included."""
    meta = _pn_meta(data.shape[0], px) if meta is None else meta
    provenance = playnano_provenance(data.shape) if provenance is None else provenance
    members: dict[str, Any] = {
        "pixel_size_nm": np.float32(px),
        "channel": np.array(channel, dtype=object),
        "frame_metadata_json": np.array(json.dumps(meta), dtype=object),
        "provenance_json": np.array(json.dumps(provenance).encode("utf-8"), dtype=object),
        "state_backups_json": np.array(json.dumps(state_backups or {}), dtype=object),
        "data": data.astype(np.float32),
        "timestamps": np.array([m["timestamp"] for m in meta], dtype=np.float64),
    }
    for key, arr in (processed or {}).items():
        members[f"processed__{key}"] = arr.astype(np.float32)
    for key, arr in (masks or {}).items():
        members[f"masks__{key}"] = arr.astype(bool)
    for key in skip:
        members.pop(key)
    np.savez_compressed(path, **members)
    return {"meta": meta, "provenance": provenance}


def write_playnano_h5(path: Path, data: np.ndarray, *, px: float = 0.636, channel: str = "TP",
                      meta: list[dict[str, Any]] | None = None, provenance: dict[str, Any] | None = None,
                      state_backups: dict[str, Any] | None = None,
                      processed: dict[str, np.ndarray] | None = None, masks: dict[str, np.ndarray] | None = None,
                      skip: tuple[str, ...] = (), vlen_json: bool = False) -> dict[str, Any]:
    """An HDF5 bundle as playNano's ``save_h5_bundle`` writes it (sheet §2)."""
    import h5py

    meta = _pn_meta(data.shape[0], px) if meta is None else meta
    provenance = playnano_provenance(data.shape) if provenance is None else provenance
    with h5py.File(path, "w") as f:
        if "data" not in skip:
            f.create_dataset("data", data=data.astype(np.float32), compression="gzip", compression_opts=4)
        if processed is not None:
            g = f.create_group("processed")
            for key, arr in processed.items():
                g.create_dataset(key, data=arr.astype(np.float32), compression="gzip")
        if masks is not None:
            g = f.create_group("masks")
            for key, arr in masks.items():
                g.create_dataset(key, data=arr.astype(bool), compression="gzip")
        f.create_dataset("timestamps", data=np.array(
            [np.nan if m["timestamp"] is None else m["timestamp"] for m in meta], dtype=np.float64))
        texts = {"frame_metadata_json": json.dumps(meta), "provenance_json": json.dumps(provenance)}
        if state_backups:
            texts["state_backups_json"] = json.dumps(state_backups)
        for name, text in texts.items():
            if name in skip:
                continue
            if vlen_json:
                f.create_dataset(name, data=text, dtype=h5py.string_dtype("utf-8"))
            else:
                f.create_dataset(name, data=np.bytes_(text.encode("utf-8")))
        if "pixel_size_nm" not in skip:
            f.attrs["pixel_size_nm"] = float(px)
        if "channel" not in skip:
            f.attrs["channel"] = channel
    return {"meta": meta, "provenance": provenance}


def write_playnano_ome_tiff(path: Path, data: np.ndarray, *, px: float = 0.5, channel: str = "TP",
                            times: list[float] | None = None, provenance: dict[str, Any] | None = None,
                            processed_keys: list[str] | None = None) -> dict[str, Any]:
    """An OME-TIFF as playNano's ``save_ome_tiff_stack`` writes it (sheet §3)."""
    import tifffile

    n = data.shape[0]
    times = [0.5 * i for i in range(n)] if times is None else times
    provenance = playnano_provenance(data.shape) if provenance is None else provenance
    prov = json.dumps(provenance, default=str).encode("utf-8")
    keys = json.dumps(processed_keys or []).encode("utf-8")
    metadata = {
        "axes": "TCZYX",
        "PhysicalSizeX": px * 1e-3, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": px * 1e-3, "PhysicalSizeYUnit": "µm",
        "TimeIncrement": (times[1] - times[0]) if n > 1 else 0.0, "TimeIncrementUnit": "s",
        "Channel": {"Name": [channel]},
        "Plane": {"DeltaT": list(times)},
    }
    tifffile.imwrite(
        path, data.astype(np.float32).reshape(n, 1, 1, *data.shape[1:]), ome=True, photometric="minisblack",
        resolution=(25_400_000 / px, 25_400_000 / px), resolutionunit="INCH", metadata=metadata,
        extratags=[(65000, 7, len(prov), prov, True), (65001, 7, len(keys), keys, True)],
    )
    return {"times": times, "provenance": provenance}


def assert_same_stack(got: AFMImageStack, want: AFMImageStack, bundle_type: str) -> None:
    """Every part a NPZ/HDF5 bundle carries is equal, exactly."""
    assert got.data.dtype == want.data.dtype
    assert np.array_equal(got.data, want.data)
    assert got.pixel_size_nm == want.pixel_size_nm
    assert got.pixel_size_y_nm == want.pixel_size_y_nm
    assert got.channel == want.channel
    assert got.z_unit == want.z_unit
    assert got.frame_metadata == want.frame_metadata
    assert got.state_backups == want.state_backups
    assert list(got.processed) == list(want.processed)
    for key, arr in want.processed.items():
        assert got.processed[key].dtype == arr.dtype and np.array_equal(got.processed[key], arr)
    assert list(got.masks) == list(want.masks)
    for key, arr in want.masks.items():
        assert got.masks[key].dtype == bool and np.array_equal(got.masks[key], arr)
    prov = {k: v for k, v in got.provenance.items() if k not in ("bundle", "source")}
    assert prov == make_json_safe(want.provenance)
    assert got.provenance["bundle"]["bundle_type"] == bundle_type
