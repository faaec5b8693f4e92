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


#: One sample of each format added for issue 16 (the WSxM, NID, Park, .di ones above included).
ONE_OF_EACH = ["wsxm/sample_0.stp", "nid/nid-1.nid", "park/example_ps.tiff", "spm_single_versions/di-1.di",
               "ibw/Example_ibw.ibw", "gwy/test.gwy", "topostats/sample_0_2.topostats", "other/sample_0.jpk-qi-image"]


def _writers() -> list[tuple[str, str]]:
    """(driver name, output name) for every writer: files get the driver's extension, folders none."""
    out = []
    for info in afmio.registry.formats():
        if info.write:
            is_folder = info.kind == "folder"
            out.append((info.name, "out" if is_folder else f"out{info.extensions[0]}"))
    return out


@pytest.mark.parametrize("relative", ONE_OF_EACH)
def test_every_new_format_converts_to_every_writer(sample, tmp_path, relative):
    source = sample(relative)
    original = afmio.load(source)
    for name, target in _writers():
        out = tmp_path / name / target
        out.parent.mkdir()
        assert main(["-q", "convert", str(source), str(out), "--format", name]) == 0, name
        assert out.exists() and ((out.is_file() and out.stat().st_size > 0) or any(out.iterdir())), name
        if afmio.registry.driver(name).can("read"):
            back = afmio.load(out, format=name)
            np.testing.assert_allclose(back.data, original.data, rtol=1e-6, atol=0, err_msg=name)
            assert back.pixel_size_nm == pytest.approx(original.pixel_size_nm), name
            assert back.z_unit == original.z_unit, name
