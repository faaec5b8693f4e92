"""The kit's ``afmio_registry`` fixture sees only this plugin, whatever else is installed."""

import pytest

import afmio_gsf.plugin


@pytest.fixture
def afmio_plugins():
    return [afmio_gsf.plugin]
