"""The example plugin ``docs/examples/afmio-gsf``, installed as a real distribution.

A session fixture pip-installs it (no dependencies, no network, the venv's
hatchling as build backend) into a temporary folder; the tests then reach it only
through entry-point discovery, the CLI, and its own test suite.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio.synthetic import synthetic_stack

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "afmio-gsf"
DIST = ("afmio-gsf", "0.1.0")


@pytest.fixture(scope="session")
def gsf_site(tmp_path_factory) -> Path:
    """A folder holding the installed example (package + ``afmio_gsf-0.1.0.dist-info``)."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("building the example plugin needs hatchling: install afmio with the 'dev' extra")
    target = tmp_path_factory.mktemp("gsf-site")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
           "--disable-pip-version-check", "--target", str(target), str(EXAMPLE)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip could not install the example plugin:\n{done.stdout}\n{done.stderr}"
    assert (target / "afmio_gsf-0.1.0.dist-info" / "entry_points.txt").is_file()
    return target


@pytest.fixture
def discovering(gsf_site, monkeypatch):
    """``afmio.registry`` as a fresh process would have it, with the example installed."""
    monkeypatch.syspath_prepend(str(gsf_site))
    registry = afmio.Registry(discover=True)
    monkeypatch.setattr(afmio, "registry", registry)
    yield registry
    for name in [m for m in sys.modules if m == "afmio_gsf" or m.startswith("afmio_gsf.")]:
        del sys.modules[name]


def _env(site: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_discovered_with_distribution_and_version(discovering):
    info = {f.name: f for f in discovering.formats()}["gsf"]
    assert (info.distribution, info.version) == DIST
    assert (info.kind, info.read, info.write, info.lazy) == ("folder", True, True, True)
    assert not [p for p in discovering.problems() if p.distribution == DIST[0]]


def test_load_and_save_through_the_shared_registry(discovering, tmp_path):
    stack = synthetic_stack(4, 16, 24)
    afmio.save(stack, tmp_path / "frames", format="gsf")
    afmio.save(stack[2:3], tmp_path / "third.gsf")
    video = afmio.load(tmp_path / "frames")
    assert video.provenance["source"]["distribution"] == DIST[0]
    np.testing.assert_allclose(video.data, stack.data, rtol=3e-7)
    assert video.get_frame_times() == pytest.approx(stack.get_frame_times())
    single = afmio.load(tmp_path / "third.gsf")
    assert single.n_frames == 1 and single.provenance["source"]["reason"].startswith("extension '.gsf'")
    np.testing.assert_allclose(single.data[0], stack.data[2], rtol=3e-7)


def test_cli_lists_gsf_with_distribution(gsf_site):
    done = subprocess.run([sys.executable, "-m", "afmio", "formats"], env=_env(gsf_site),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.split()[:1] == ["gsf"]]
    assert len(rows) == 1 and "afmio-gsf 0.1.0" in rows[0], done.stdout
    as_json = subprocess.run([sys.executable, "-m", "afmio", "formats", "--json"], env=_env(gsf_site),
                             capture_output=True, text=True, timeout=60)
    assert '"distribution": "afmio-gsf"' in as_json.stdout


def test_cli_converts_into_gsf_frames(gsf_site, tmp_path):
    afmio.Registry(discover=True).save(synthetic_stack(3, 8, 8), tmp_path / "in.npz")
    done = subprocess.run([sys.executable, "-m", "afmio", "convert", str(tmp_path / "in.npz"),
                           str(tmp_path / "out"), "--format", "gsf"],
                          env=_env(gsf_site), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"out_0000{i}.gsf" for i in range(3)]


def test_example_own_test_suite_passes(gsf_site):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE, env={**_env(gsf_site), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "SKIPPED" not in done.stdout, done.stdout[-2000:]
