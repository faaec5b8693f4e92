"""Real entry-point discovery of third-party plugins, overrides by priority, and isolation.

The toy distributions under ``tests/plugins/`` are exposed through a ``*.dist-info``
folder on ``sys.path`` (see ``afmio_testdata.distributions``), so these tests go
through ``importlib.metadata`` exactly as an installed plugin would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import afmio
from afmio import Registry
from afmio.synthetic import synthetic_stack
from afmio.testing import make_registry
from afmio_testdata.distributions import PLUGINS, expose

TOY = ("afmio-toy", "1.2.3")
BROKEN = "afmio-toy-broken"


def _forget_modules() -> None:
    for name in [m for m in sys.modules if m.startswith("afmio_toy")]:
        del sys.modules[name]


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site folder on sys.path; ``site.expose("afmio-toy")`` makes a distribution visible."""
    folder = tmp_path / "site"
    folder.mkdir()

    class Site:
        path = folder

        @staticmethod
        def expose(project: str) -> tuple[str, str]:
            out = expose(PLUGINS / project, folder)
            monkeypatch.syspath_prepend(str(folder))
            return out

    yield Site()
    _forget_modules()


def _discover() -> Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ambient problems are not this test's business
        reg = Registry(discover=True)
        reg.drivers()
    return reg


def test_toy_distribution_is_discovered_with_name_and_version(site):
    assert site.expose("afmio-toy") == TOY
    reg = _discover()
    infos = {f.name: f for f in reg.formats()}
    for name in ("toy", "toy-npz"):
        assert (infos[name].distribution, infos[name].version, infos[name].plugin) == (*TOY, "toy")
    assert not [p for p in reg.problems() if p.distribution == TOY[0]]
    assert infos["npz"].distribution == "afmio"  # the built-in is still there, overridden only by priority


def test_not_visible_without_the_distribution():
    assert "toy" not in {f.name for f in _discover().formats()}


def test_new_format_loads_and_saves_through_discovery(site, tmp_path):
    site.expose("afmio-toy")
    reg = _discover()
    stack = synthetic_stack(3, 8, 10)
    reg.save(stack, tmp_path / "movie.toy")
    back = reg.load(tmp_path / "movie.toy")
    np.testing.assert_array_equal(back.data, stack.data)
    source = back.provenance["source"]
    assert (source["driver"], source["distribution"], source["version"]) == ("toy", *TOY)


def test_override_by_priority_with_fallback_by_content(site, tmp_path):
    site.expose("afmio-toy")
    reg = _discover()
    stack = synthetic_stack(2, 8, 8)
    # Saving to .npz now goes to the higher-priority toy driver...
    reg.save(stack, tmp_path / "toy.npz")
    res = reg.resolve(tmp_path / "toy.npz")
    assert res.driver.name == "toy-npz" and "content confirmed" in res.reason
    assert ("npz", "claims '.npz' too; ranked below 'toy-npz': lower priority (0 < 10)") in res.rejected
    # ...while a playNano bundle, declined by the toy sniff, still reaches the built-in.
    reg.save(stack, tmp_path / "bundle.npz", format="npz")
    res = reg.resolve(tmp_path / "bundle.npz")
    assert res.driver.name == "npz"
    assert any(name == "toy-npz" and "declined" in why for name, why in res.rejected)
    np.testing.assert_array_equal(reg.load(tmp_path / "bundle.npz").data, stack.data)
    np.testing.assert_array_equal(reg.load(tmp_path / "toy.npz").data, stack.data)


EXPECTED_PROBLEMS = {
    "import-fails": "failed to import afmio_toy_broken.import_fails: ModuleNotFoundError",
    "missing-module": "failed to import afmio_toy_broken.no_such_module",
    "bad-spec": "extension 'TIF' must be lower case",
    "future-api": "declares api_version 2, but this afmio supports api_version 1",
    "duplicate-name": "name 'npz' is already used by driver 'npz' of plugin 'builtins'",
    "hook-raises": "afmio_drivers() raised RuntimeError: toy hook failure",
}


def test_broken_plugins_are_isolated(site, tmp_path):
    site.expose("afmio-toy")
    site.expose(BROKEN)
    reg = Registry(discover=True)
    with pytest.warns(RuntimeWarning, match="afmio plugin set aside") as caught:
        reg.drivers()
    problems = {p.plugin: p for p in reg.problems() if p.distribution == BROKEN}
    assert set(problems) == set(EXPECTED_PROBLEMS)
    for plugin, text in EXPECTED_PROBLEMS.items():
        assert text in problems[plugin].detail, problems[plugin]
        assert any(plugin in str(w.message) for w in caught)
    names = {f.name for f in reg.formats()}
    assert {"toy", "toy-npz", "npz"} <= names and not names & {"bad-spec", "future"}
    assert reg.driver("npz").distribution == "afmio"  # the duplicate did not replace the built-in
    # Every other driver keeps working.
    stack = synthetic_stack(2, 6, 6)
    for target, fmt in ((tmp_path / "a.toy", None), (tmp_path / "b.npz", "npz"), (tmp_path / "c.npz", None)):
        reg.save(stack, target, format=fmt)
        np.testing.assert_array_equal(reg.load(target).data, stack.data)


def test_blocked_distribution_is_not_loaded(site):
    site.expose(BROKEN)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        reg = Registry(discover=True, blocked=[BROKEN, "ome_tiff"])
        assert not [p for p in reg.problems() if p.distribution == BROKEN]


def test_cli_reports_problems_and_lists_the_rest(site):
    site.expose("afmio-toy")
    site.expose(BROKEN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site.path), os.environ.get("PYTHONPATH", "")])}
    check = subprocess.run([sys.executable, "-m", "afmio", "plugins", "--check"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    for plugin in EXPECTED_PROBLEMS:
        assert f"{plugin} (from {BROKEN})" in check.stderr
    listing = subprocess.run([sys.executable, "-m", "afmio", "formats"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0
    rows = {line.split()[0]: line for line in listing.stdout.splitlines() if line.strip()}
    for name in ("toy", "toy-npz", "npz"):
        assert name in rows
    assert "afmio-toy 1.2.3" in rows["toy"] and "afmio-toy 1.2.3" in rows["toy-npz"]


def test_kit_registry_loads_only_the_named_distribution(site):
    site.expose("afmio-toy")
    reg = make_registry("afmio-toy")
    infos = reg.formats()
    assert [(f.name, f.distribution, f.version) for f in infos] == [("toy", *TOY), ("toy-npz", *TOY)]
    assert reg.problems() == []


@pytest.mark.afmio_plugins("toy")
def test_kit_fixture_isolates_from_ambient_plugins(site, request):
    # The marker names the entry point; the registry is built after the site is exposed.
    site.expose("afmio-toy")
    reg = request.getfixturevalue("afmio_registry")
    assert {f.name for f in reg.formats()} == {"toy", "toy-npz"}
    assert afmio.registry is reg  # afmio.load / afmio.save use it during the test
