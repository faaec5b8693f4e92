"""The resource policy (afmio.limits) and the issue-20/22 classes of tiny files declaring huge content.

The regression set runs every public read entry point on each case in one subprocess
under a 2 GiB address-space cap and a 10 s limit per case, as the adversarial run did;
the heavy random run lives in ``tests/fuzz/adversarial.py`` (``nox -s fuzz``).
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import pytest

import afmio
from afmio import limits
from afmio.errors import CorruptFileError, ResourceError

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="address-space caps need Linux")


def test_declared_size_within_the_codec_ratio_passes_and_beyond_is_refused():
    limits.check_declared("f", 1032 * 1000 + limits.SLACK_BYTES, "x", on_disk=1000, codec="deflate")
    with pytest.raises(CorruptFileError, match=r"declares 2000000000 bytes .* holds only 1000 bytes"):
        limits.check_declared("f", 2_000_000_000, "x", on_disk=1000, codec="deflate")
    with pytest.raises(CorruptFileError, match="stored raw"):
        limits.check_declared("f", limits.SLACK_BYTES + 1001, "x", on_disk=1000)
    with pytest.raises(CorruptFileError, match="negative"):
        limits.check_declared("f", -1, "x", on_disk=1000)


def test_frame_count_needs_a_byte_per_frame():
    limits.check_frame_count("f", 10, "x", on_disk=10)
    with pytest.raises(CorruptFileError, match="declares 11 frames"):
        limits.check_frame_count("f", 11, "x", on_disk=10)


def test_memory_check_names_the_size_and_the_lazy_way(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)
    limits.check_memory("f.npz", 1 << 29, "data")  # half of what is available: fits
    with pytest.raises(ResourceError, match=r"f.npz: loading data needs 1.00 GiB .* lazy=True") as info:
        limits.check_memory("f.npz", 1 << 30, "data")
    assert isinstance(info.value, MemoryError)


def test_small_allocations_do_not_ask_the_system(monkeypatch):
    def no_asking():
        raise AssertionError("reading /proc for a few kilobytes costs more than the read")

    monkeypatch.setattr(limits, "available_memory", no_asking)
    limits.check_memory("f.npz", limits.UNCHECKED_BYTES - 1, "data")
    with pytest.raises(AssertionError):
        limits.check_memory("f.npz", limits.UNCHECKED_BYTES, "data")


def test_available_memory_sees_the_address_space_cap():
    import resource
    import subprocess

    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31)); "
            "from afmio import limits; print(limits.available_memory())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 0 < int(out) < 1 << 31
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 1 << 31  # the parent is untouched


def test_inflate_bounded_stops_at_the_declared_size():
    stream = zlib.compress(bytes(10_000_000))
    assert limits.inflate_bounded(stream, 10_000_000, "f", "m") == bytes(10_000_000)
    with pytest.raises(CorruptFileError, match="inflates past the 1000 bytes"):
        limits.inflate_bounded(stream, 1000, "f", "m")
    with pytest.raises(CorruptFileError, match="damaged compressed data"):
        limits.inflate_bounded(b"not zlib", 1000, "f", "m")


@pytest.fixture(scope="module")
def capped_results(tmp_path_factory):
    from afmio_testdata.adversarial import BUILDERS, run_capped

    names, paths = [], []
    for name, build in BUILDERS.items():
        names.append(name)
        paths.append(build(tmp_path_factory.mktemp(name)))
    return dict(zip(names, run_capped(paths, cap=2 << 30, seconds=10)))


def _case_names():
    from afmio_testdata.adversarial import BUILDERS

    return list(BUILDERS)


@pytest.mark.parametrize("name", _case_names())
def test_tiny_file_declaring_huge_content_fails_cleanly_under_a_2gib_cap(capped_results, name):
    result = capped_results[name]
    assert "crash" not in result, result.get("crash")
    outcomes = result["results"]
    assert "hang" not in outcomes, f"{name} ran past 10 s"
    for entry, outcome in outcomes.items():
        assert outcome == "ok" or outcome.startswith("afmio:"), f"{name} {entry}: {outcome}"
    # the eager load must refuse (the content is not real); nothing may cost hundreds of MB
    assert outcomes["load"].startswith("afmio:"), outcomes["load"]
    assert result["peak_rss"] < 400 << 20
    assert "tifffile" not in result["stderr"]


def test_npz_bomb_names_size_and_lazy_way_when_memory_is_short(tmp_path, monkeypatch):
    from afmio_testdata.adversarial import npz_deflate_bomb

    path = npz_deflate_bomb(tmp_path)
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)
    with pytest.raises(ResourceError, match=r"member 'data.npy' needs 1.50 GiB .* lazy=True"):
        afmio.load(path)
    with pytest.raises(ResourceError, match="compression='none' to read it lazily"):
        afmio.load(path, lazy=True)
    assert afmio.registry.probe(path).n_frames == 384  # headers only: probe stays cheap


def test_a_case_stuck_where_the_alarm_cannot_reach_is_killed_and_reported():
    """The harness itself: a loop inside a C library ignores SIGALRM; it must still end."""
    from afmio_testdata.adversarial import _stream

    code = ("import signal, sys, time, json\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
            "print(json.dumps({'path': sys.argv[1], 'results': {}}), flush=True)\ntime.sleep(60)\n")
    lines, _stderr, stuck = _stream(code, [Path("first"), Path("second")], per_case=1.0)
    assert stuck and len(lines) == 1 and '"first"' in lines[0]
