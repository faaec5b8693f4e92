"""afmio's playNano-compatible video and image-sequence functions against playNano 0.5.0's.

Same signatures (names and defaults), same file layout, same frame count and size of
picture (playNano needs OpenCV for videos; only its image sequences are compared
picture by picture). Skipped when playNano is absent (``nox -s interop`` installs it).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from afmio.compat import playnano as compat

pytestmark = pytest.mark.interop

video_export = pytest.importorskip("playnano.io.video_export")
image_sequence_export = pytest.importorskip("playnano.io.image_sequence_export")


def _plain(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("name", ["export_video", "create_video_with_scale_and_timestamp"])
def test_video_signatures_match(name):
    assert _plain(getattr(compat, name)) == _plain(getattr(video_export, name))


@pytest.mark.parametrize("name", ["export_image_sequence", "create_image_sequence"])
def test_image_sequence_signatures_match(name):
    assert _plain(getattr(compat, name)) == _plain(getattr(image_sequence_export, name))


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_image_sequences_have_the_same_layout_and_pictures(tmp_path, fmt):
    from PIL import Image

    rng = np.random.default_rng(3)
    frames = rng.normal(size=(3, 64, 64)).cumsum(axis=2)
    pixel_sizes, times = [0.5] * 3, [0.0, 1.0, 2.0]
    theirs = image_sequence_export.create_image_sequence(frames, pixel_sizes, times, output_folder=tmp_path / "p",
                                                         fmt=fmt, draw_ts=False, draw_scale=False)
    ours = compat.create_image_sequence(frames, pixel_sizes, times, output_folder=tmp_path / "a", fmt=fmt,
                                        draw_ts=False, draw_scale=False)
    names = sorted(p.name for p in ours.iterdir())
    assert names == sorted(p.name for p in theirs.iterdir()) == [f"frame_000{i}.{fmt}" for i in range(3)]
    for name in names:
        with Image.open(ours / name) as a, Image.open(theirs / name) as b:
            mine = np.asarray(a.convert("RGB").resize(b.size), float)
            ref = np.asarray(b.convert("RGB"), float)
        # the same colour map over the same per-frame range: the pictures agree up to resampling
        assert np.median(np.abs(mine - ref).sum(axis=2)) < 24
