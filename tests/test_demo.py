"""The demo: every writer exercised, round trips checked, missing extras skipped not failed."""

from __future__ import annotations

import numpy as np

from afmio import AFMImageStack, DriverSpec, MissingDependencyError, Registry
from afmio.demo import run_demo
from afmio_testdata.toy import make_plugin


def _write(stack, path, offset=0.0):
    with open(path, "wb") as handle:
        np.savez(handle, data=stack.data + offset, pixel=stack.pixel_size_nm, times=stack.get_frame_times())


def _read(path, *, channel=None):
    with np.load(path, allow_pickle=False) as z:
        meta = [{"timestamp": float(t)} for t in z["times"]]
        return AFMImageStack(z["data"], float(z["pixel"]), "height_trace", str(path), meta)


def _needs_extra(stack, path):
    raise MissingDependencyError("fancylib", "fancy", "Fancy export")


def _lossy_write(stack, path):
    _write(stack, path, offset=1.0)


def test_demo_reports_exact_skipped_and_failed(tmp_path):
    plugin = make_plugin(
        [
            DriverSpec(name="good", extensions=(".npy",), read="@read", write="@write"),
            DriverSpec(name="fancy", extensions=(".fancy",), write="@needs_extra"),
            DriverSpec(name="lossy", extensions=(".lossy",), read="@read", write="@lossy"),
        ],
        read=_read, write=_write, needs_extra=_needs_extra, lossy=_lossy_write,
    )
    results = {r.format: r for r in run_demo(tmp_path, registry=Registry([plugin]), n_frames=3, size=16)}
    assert results["good"].ok and results["good"].round_trip == "exact"
    assert results["fancy"].ok and results["fancy"].skipped and "afmio[fancy]" in results["fancy"].round_trip
    assert not results["lossy"].ok and "data differ" in results["lossy"].round_trip
    assert (tmp_path / "demo.npy").is_file() and not (tmp_path / "demo.fancy").exists()
