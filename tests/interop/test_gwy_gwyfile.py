"""afmio's Gwyddion reader and writer against the ``gwyfile`` package.

gwyfile reads the sample and afmio's output; afmio reads what gwyfile writes.
Skipped when gwyfile is absent (``nox -s interop`` installs it).
"""

from __future__ import annotations

import numpy as np
import pytest

import afmio
from afmio.synthetic import synthetic_stack

pytestmark = pytest.mark.interop

gwyfile = pytest.importorskip("gwyfile")


def test_sample_matches_gwyfile(sample):
    path = sample("gwy/test.gwy")
    fields = gwyfile.util.get_datafields(gwyfile.load(str(path)))
    stack = afmio.load(path, dtype=np.float64)
    assert list(fields) == [stack.channel]
    field = fields[stack.channel]
    np.testing.assert_array_equal(stack.data[0], field.data)
    assert stack.pixel_size_nm == field.xreal / field.data.shape[1]  # no lateral unit: numbers as stored
    assert stack.pixel_size_y_nm == field.yreal / field.data.shape[0]


def test_gwyfile_reads_afmio_output(tmp_path):
    stack = synthetic_stack(3, 9, 13, pixel_size_nm=0.5, frame_time_s=0.2)
    stack.pixel_size_y_nm = 1.5
    afmio.save(stack, tmp_path / "video", format="gwy")
    for i, path in enumerate(sorted((tmp_path / "video").glob("*.gwy"))):
        container = gwyfile.load(str(path))
        field = container["/0/data"]
        assert container["/0/data/title"] == stack.channel
        assert field.si_unit_z.unitstr == "m" and field.si_unit_xy.unitstr == "m"
        np.testing.assert_allclose(field.data * 1e9, stack.data[i], rtol=1e-6)
        assert field.xreal == pytest.approx(13 * 0.5e-9, rel=1e-15)
        assert field.yreal == pytest.approx(9 * 1.5e-9, rel=1e-15)
        assert float(container["/0/meta"]["afmio:timestamp"]) == stack.frame_metadata[i]["timestamp"]


def test_afmio_reads_what_gwyfile_writes(tmp_path):
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    data = np.random.default_rng(3).normal(0, 1e-9, (5, 7))
    field = GwyDataField(data, xreal=7e-8, yreal=2.5e-8, si_unit_xy=GwySIUnit(unitstr="m"),
                         si_unit_z=GwySIUnit(unitstr="m"))
    container = GwyContainer()
    container["/0/data"] = field
    container["/0/data/title"] = "Topography"
    container.tofile(str(tmp_path / "g.gwy"))
    stack = afmio.load(tmp_path / "g.gwy", dtype=np.float64)
    assert stack.channel == "Topography" and stack.z_unit == "nm"
    np.testing.assert_allclose(stack.data[0], data * 1e9, rtol=1e-15)
    assert stack.pixel_size_nm == pytest.approx(10.0) and stack.pixel_size_y_nm == pytest.approx(5.0)
