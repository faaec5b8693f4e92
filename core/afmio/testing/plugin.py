"""The pytest plugin of :mod:`afmio.testing` (registered as ``pytest11`` entry point ``afmio``).

Fixtures
--------
``afmio_registry``
    An isolated :class:`~afmio.Registry` holding only the plugins the test names,
    with ``afmio.registry`` (what ``afmio.load``/``afmio.save`` and the CLI use)
    pointed at it for the duration of the test. Name the plugins with the marker
    ``@pytest.mark.afmio_plugins(my_module, "my-dist")`` or by overriding the
    ``afmio_plugins`` fixture in your ``conftest.py``; with neither, the registry
    is empty. Nothing installed is discovered.
``afmio_plugins``
    The default plugin list for ``afmio_registry`` (empty); override it.
``afmio_make_registry``
    A factory, ``afmio_make_registry(*plugins)``, for tests that need several
    isolated registries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from .registries import make_registry

MARKER = "afmio_plugins"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*plugins): plugins the afmio_registry fixture registers: modules, (name, module) "
        "pairs, or names of installed afmio.drivers entry points or distributions",
    )


@pytest.fixture
def afmio_plugins() -> Sequence[Any]:
    """Plugins for ``afmio_registry`` when the test has no ``afmio_plugins`` marker."""
    return ()


@pytest.fixture
def afmio_make_registry() -> Callable[..., Any]:
    """Return :func:`afmio.testing.make_registry` (isolated registries on demand)."""
    return make_registry


@pytest.fixture
def afmio_registry(
    request: pytest.FixtureRequest, afmio_plugins: Sequence[Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """An isolated registry of the named plugins, also installed as ``afmio.registry``."""
    import afmio

    marker = request.node.get_closest_marker(MARKER)
    plugins = marker.args if marker is not None else tuple(afmio_plugins)
    registry = make_registry(*plugins)
    monkeypatch.setattr(afmio, "registry", registry)
    return registry
