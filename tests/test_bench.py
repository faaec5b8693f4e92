"""The benchmark's own measuring code: limits compute what they claim, runs report figures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from afmio_testdata.asd_writer import levels_to_values, write_asd

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import child  # noqa: E402
import runner  # noqa: E402
from targets import Check, Target  # noqa: E402


def test_asd_decode_floor_equals_the_sheet_conversion(tmp_path):
    rng = np.random.default_rng(3)
    tp = rng.integers(0, 4096, (4, 6, 10), dtype=np.int16)
    er = rng.integers(0, 4096, (4, 6, 10), dtype=np.int16)
    path = tmp_path / "two.asd"
    write_asd(path, {"TP": tp, "ER": er}, version=1)

    floor = child.asd_decode_floor(path)
    fig = child.op_raw_asd_floor({"path": str(path)})

    assert floor.dtype == np.float32 and floor.shape == (4, 6, 10)
    assert fig["dtype"] == "float32" and fig["shape"] == [4, 6, 10] and fig["t_call_s"] > 0
    # Channel 1 (TP) in nm, as the sheet's float64 formula gives it (float32 rounding aside).
    np.testing.assert_allclose(floor, levels_to_values(tp, "TP"), rtol=1e-6, atol=1e-4)
    assert not np.allclose(floor, levels_to_values(er, "ER"), atol=1.0)


def test_raw_reads_cover_every_byte_of_a_folder(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 1000)
    (tmp_path / "b.bin").write_bytes(b"y" * 24)
    assert child.op_raw_readinto({"path": str(tmp_path)})["nbytes"] == 1024
    assert child.op_raw_fromfile({"path": str(tmp_path)})["nbytes"] == 1024


def test_a_fresh_process_run_reports_its_result_and_peak_memory(tmp_path):
    env = runner.Environment(
        python=sys.executable, drivers={}, playnano_python=None, playnano_note="", gnu_time=None,
        afmio_cli=[], samples=None, afmio_version="test",
    )
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 64)
    case = runner.Case("k", "", "fromfile", "afmio", {"op": "raw_fromfile", "path": str(path)})
    res = runner.run_once(case, env)
    assert res["ok"] and res["nbytes"] == 256 * 64
    assert res["peak_rss_mb"] > 1 and res["wall_s"] >= res["t_call_s"]

    bad = runner.Case("k", "", "afmio", "afmio", {"op": "raw_fromfile", "path": str(tmp_path / "missing")})
    failed = runner.run_once(bad, env)
    assert not failed["ok"] and "missing" in failed["error"]


@pytest.mark.parametrize(
    ("oks", "status"),
    [([True, True], "met"), ([True, False], "not met"), ([None, None], "not measured"), ([None, True], "met")],
)
def test_target_status(oks, status):
    t = Target("k", "text", [Check(f"row{i}", "x", ok) for i, ok in enumerate(oks)])
    assert t.status == status
