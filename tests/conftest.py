"""Shared fixtures for afmio's own tests."""

from __future__ import annotations

import pytest

# Progress bars off in tests, whatever the terminal.
import afmio.progress
from afmio_testdata.samples import sample_path, samples_root

afmio.progress.set_enabled(False)  # bars would interleave with pytest output


@pytest.fixture
def samples():
    """The real samples folder; the test is skipped when it is absent."""
    root = samples_root()
    if root is None:
        pytest.skip("real samples not available (../shared/samples is absent)")
    return root


@pytest.fixture
def sample():
    """``sample("asd/asd_sample_0.asd")`` -> Path, skipping when absent."""
    return sample_path
