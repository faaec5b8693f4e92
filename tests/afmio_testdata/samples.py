"""Where the real instrument samples live (``../shared/samples`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def samples_root() -> Path | None:
    """The samples folder, or None when this checkout has none beside it."""
    env = os.environ.get("AFMIO_SAMPLES")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "samples")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def sample_path(relative: str) -> Path:
    """Path of one sample; skips the calling test when the samples are absent."""
    root = samples_root()
    if root is None:
        pytest.skip("real samples not available (../shared/samples is absent)")
    path = root / relative
    if not path.exists():
        pytest.skip(f"sample {relative} not available")
    return path
