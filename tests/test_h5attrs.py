"""Attributes read through afmio's low-level reader: the same values as h5py, and the
global heaps checked exactly when a value stored there is about to be read."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import afmio
from afmio.errors import CorruptFileError
from afmio_builtins import _h5attrs
from afmio_builtins._h5attrs import AttributeReader
from afmio_builtins._h5util import open_h5

FIXED = {
    "i1": np.int8(-5), "i2": np.int16(-300), "i4": np.int32(-70_000), "i8": np.int64(-(1 << 40)),
    "u1": np.uint8(250), "u2": np.uint16(65_000), "u4": np.uint32(4_000_000_000), "u8": np.uint64(1 << 63),
    "f4": np.float32(1.5e-9), "f8": np.float64(-3.6824010693660005e-16),
    "text": np.bytes_(b"height"), "spaced": np.bytes_(b"nm  "),
    "vector": np.array([1.0, 2.5, -3.0]), "words": np.array([b"a", b"bc"]), "one": np.array([7], np.int32),
}


@pytest.fixture
def attributes_file(tmp_path):
    path = tmp_path / "attrs.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("g")
        for name, value in FIXED.items():
            group.attrs[name] = value
        group.attrs["empty"] = h5py.Empty("f8")
        group.attrs["flag"] = np.bool_(True)  # h5py's enum
        group.attrs["note"] = "variable-length"  # a str: stored in a global heap
        group.attrs.create("padded", np.bytes_(b"ab"), dtype=h5py.string_dtype("ascii", 6))
    return path


def test_fixed_size_values_equal_h5pys_without_a_heap_check(attributes_file, monkeypatch):
    def no_check(path, f):
        raise AssertionError("numbers and fixed-length strings do not live in a global heap")

    monkeypatch.setattr(_h5attrs, "check_global_heaps", no_check)
    with open_h5(attributes_file, check_heaps=False) as f:
        reader, group = AttributeReader(attributes_file, f), f["g"]
        for name in [*FIXED, "padded"]:
            got, want = reader.get(group, name), group.attrs[name]
            assert np.asarray(got).dtype == np.asarray(want).dtype, name
            assert np.array_equal(np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)), name
        assert reader.get(group, "one") == 7 and np.ndim(reader.get(group, "one")) == 0  # one element: a scalar
        assert reader.get(group, "missing") is None
        assert reader.get(group, "empty") is None
        assert reader.of(group).get("text") == b"height"


def test_other_types_are_read_by_h5py_after_one_heap_check(attributes_file, monkeypatch):
    calls = []
    real = _h5attrs.check_global_heaps
    monkeypatch.setattr(_h5attrs, "check_global_heaps", lambda path, f: (calls.append(path), real(path, f)))
    with open_h5(attributes_file, check_heaps=False) as f:
        reader, group = AttributeReader(attributes_file, f), f["g"]
        assert reader.get(group, "text") == b"height" and calls == []
        assert reader.get(group, "note") == "variable-length" and calls == [attributes_file]
        assert reader.get(group, "flag") == np.bool_(True)
        assert reader.get(group, "note") == "variable-length" and len(calls) == 1  # checked once per file


def test_a_damaged_heap_is_refused_before_the_string_is_read(tmp_path):
    from afmio_testdata.adversarial import h5_global_heap_loop

    path = h5_global_heap_loop(tmp_path)
    with open_h5(path, check_heaps=False) as f:
        reader = AttributeReader(path, f)
        assert reader.get(f, "pixel_size_nm") is not None  # a number: no heap involved
        with pytest.raises(CorruptFileError, match=r"global heap .* of size 0"):
            reader.get(f, "note")


def test_an_attribute_claiming_too_many_elements_is_corrupt(attributes_file, monkeypatch):
    monkeypatch.setattr(_h5attrs, "MAX_ELEMENTS", 2)
    with open_h5(attributes_file, check_heaps=False) as f, \
            pytest.raises(CorruptFileError, match=r"attrs\.h5: attribute 'vector' claims 3 elements"):
        AttributeReader(attributes_file, f).get(f["g"], "vector")


def test_h5jpk_loads_without_checking_heaps_when_it_has_no_strings_there(tmp_path, monkeypatch):
    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

    def no_check(path, f):
        raise AssertionError("a JPK file without variable-length values needs no heap check")

    path = write_h5jpk(tmp_path / "m.h5-jpk", [H5JpkChannel("height", data=np.ones((2, 4, 4), np.int32))])
    monkeypatch.setattr(_h5attrs, "check_global_heaps", no_check)
    stack = afmio.load(path)
    assert stack.shape == (2, 4, 4) and stack.acquisition["start_time"] == "2025-05-28 14:41:58.548 +0100"
