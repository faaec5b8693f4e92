"""The issue-16 formats through the command line: listed by ``afmio formats``, converted by ``afmio convert``."""

from __future__ import annotations

import numpy as np
import pytest

import afmio
from afmio.cli import main

SAMPLES = ["wsxm/sample_0.stp", "wsxm/sample_0.top", "nid/nid-1.nid", "park/example_ps.tiff",
           "spm_single_versions/di-1.di"]


def test_formats_lists_them(capsys):
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    for name, ext in (("wsxm", ".stp .top"), ("nid", ".nid"), ("park", ".tif .tiff"), ("spm", ".spm .di")):
        assert any(line.startswith(name + " ") and ext in line for line in out.splitlines()), name


@pytest.mark.parametrize("relative", SAMPLES)
@pytest.mark.parametrize("target", ["out.h5", "out.ome.tif"])
def test_convert_sample(sample, tmp_path, relative, target):
    source = sample(relative)
    out = tmp_path / target
    assert main(["convert", str(source), str(out)]) == 0
    original, converted = afmio.load(source), afmio.load(out)
    np.testing.assert_array_equal(converted.data, original.data)
    assert converted.pixel_size_nm == pytest.approx(original.pixel_size_nm)
    assert converted.pixel_size_y_nm == pytest.approx(original.pixel_size_y_nm)
    assert converted.z_unit == original.z_unit and converted.channel == original.channel
