"""afmio's ASD reader against AFMReader (the reader playNano 0.5.0 calls) and playNano's loader.

Values must agree to float32 rounding, and playNano's per-frame metadata and
acquisition facts must be the same. Skipped when AFMReader / playNano are absent
(``nox -s interop`` installs them).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import afmio_builtins.asd as asd
from afmio_testdata.asd_writer import write_asd

pytestmark = pytest.mark.interop

afmreader_asd = pytest.importorskip("AFMReader.asd")

SAMPLES = [("asd/asd_sample_0.asd", "TP"), ("asd/202110200146.asd", "TP"), ("asd/202110200146.asd", "PH")]


def _afmio(path, channel):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return asd.read(path, channel=channel)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("ad_range", [0x3, 0x1, 0x40000, 0x20000])
def test_synthetic_files_match_afmreader(tmp_path, version, ad_range):
    rng = np.random.default_rng(ad_range + version)
    frames = {k: rng.integers(0, 4096, (3, 6, 8)).astype(np.int16) for k in ("TP", "ER")}
    layout = write_asd(
        tmp_path / "m.asd", frames, version=version, ad_range=ad_range, scan_nm=(16, 12), comment="c",
        comment_offset_size=3 if version == 0 else 0,
    )  # fmt: skip
    for channel in frames:
        ref, px, _ = afmreader_asd.load_asd(layout.path, channel)
        stack = _afmio(layout.path, channel)
        assert stack.pixel_size_nm == px
        np.testing.assert_allclose(stack.data, ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name,channel", SAMPLES)
def test_real_samples_match_afmreader(sample, name, channel):
    path = sample(name)
    ref, px, _ = afmreader_asd.load_asd(path, channel)
    stack = _afmio(path, channel)
    assert stack.pixel_size_nm == px
    np.testing.assert_allclose(stack.data, ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name,channel", SAMPLES)
def test_real_samples_match_playnano_metadata(sample, name, channel):
    loader = pytest.importorskip("playnano.io.loader")
    path = sample(name)
    theirs = loader.load_afm_stack(path, channel=channel)
    ours = _afmio(path, channel)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=0, atol=1e-4)
    assert ours.pixel_size_nm == theirs.pixel_size_nm and ours.channel == theirs.channel
    assert ours.frame_metadata == theirs.frame_metadata
    for key in ("asd_file_version", "asd_scan_direction_raw", "asd_channels"):
        assert ours.acquisition[key] == theirs.provenance["acquisition"][key]
