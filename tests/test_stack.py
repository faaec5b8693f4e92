"""The stack model: validation, metadata, slicing, raw views and lazy backing."""

from __future__ import annotations

import numpy as np
import pytest

from afmio import AFMImageStack, ArrayFrameSource
from afmio.metadata import FRAME_METADATA_KEYS, build_frame_metadata, make_json_safe, normalize_timestamps
from afmio.stack import normalize_z_unit


def _stack(n=4, h=3, w=5, **kw):
    data = np.arange(n * h * w, dtype=np.float32).reshape(n, h, w)
    meta = [build_frame_metadata(timestamp=0.5 * i, frame_pixel_size_nm=2.0) for i in range(n)]
    return AFMImageStack(data, 2.0, "height_trace", "x.asd", meta, **kw)


def test_data_must_be_array_or_source():
    with pytest.raises(TypeError, match="must be a NumPy array"):
        AFMImageStack([[[1.0]]], 1.0, "c", None)
    with pytest.raises(ValueError, match=r"3D array .* got shape \(2, 2\)"):
        AFMImageStack(np.zeros((2, 2)), 1.0, "c", None)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "1", True, None])
def test_pixel_size_must_be_positive_number(bad):
    with pytest.raises(ValueError, match="positive number"):
        AFMImageStack(np.zeros((1, 2, 2)), bad, "c", None)


def test_numpy_pixel_sizes_are_accepted_as_float():
    s = AFMImageStack(np.zeros((1, 2, 2)), np.float32(0.25), "c", None, pixel_size_y_nm=np.float64(0.5))
    assert type(s.pixel_size_nm) is float and s.pixel_size_nm == 0.25
    assert s.pixel_size_y_nm == 0.5


def test_y_pixel_size_defaults_to_x():
    assert _stack().pixel_size_y_nm == 2.0


def test_metadata_padded_and_too_long_rejected():
    s = AFMImageStack(np.zeros((3, 2, 2)), 1.0, "c", None, [{"timestamp": 1}])
    assert [m["timestamp"] for m in s.frame_metadata] == [1.0, None, None]
    with pytest.raises(ValueError, match=r"Metadata length \(3\) does not match number of frames \(2\)"):
        AFMImageStack(np.zeros((2, 2, 2)), 1.0, "c", None, [{}, {}, {}])


def test_timestamps_normalised():
    out = normalize_timestamps(
        [{"timestamp": np.float32(1.5)}, {"timestamp": "1970-01-01T00:00:10Z"}, {"timestamp": object()},
         {"timestamp": float("nan")}, {}]
    )
    assert [m["timestamp"] for m in out] == [1.5, 10.0, None, None, None]


def test_build_frame_metadata_has_exactly_six_native_keys():
    md = build_frame_metadata(timestamp=np.float64(1), frame_pixel_size_nm=np.float32(0.5),
                              start_epoch_ms=np.int64(12), line_rate=None)
    assert tuple(md) == FRAME_METADATA_KEYS
    assert type(md["timestamp"]) is float and type(md["start_epoch_ms"]) is int
    assert md["line_rate"] is None


def test_make_json_safe_converts_numpy():
    out = make_json_safe({"a": np.arange(3), "b": (np.int32(1), np.bool_(True)), 3: np.float32(0.5)})
    assert out == {"a": [0, 1, 2], "b": [1, True], "3": 0.5}


def test_z_unit_vocabulary():
    assert normalize_z_unit("º") == "deg" and normalize_z_unit("Volts") == "V"
    assert normalize_z_unit("nm") == "nm" and normalize_z_unit("pN") == "pN"
    assert _stack(z_unit="°").z_unit == "deg"


def test_frame_access_and_times():
    s = _stack()
    assert s.n_frames == 4 and s.image_shape == (3, 5) and s.height == 3 and s.width == 5
    np.testing.assert_array_equal(s[1], s.data[1])
    np.testing.assert_array_equal(s.get_frame(-1), s.data[3])
    assert s.get_frame_times() == [0.0, 0.5, 1.0, 1.5]
    s.frame_metadata[2]["timestamp"] = None
    assert s.time_for_frame(2) == 2.0
    with pytest.raises(IndexError):
        s.get_frame(4)
    with pytest.raises(IndexError, match="Frame metadata index 9 out of range"):
        s.get_frame_metadata(9)
    with pytest.raises(TypeError, match="Invalid index type"):
        s["a"]
    assert [i for i, _, _ in s.frames_with_metadata()] == [0, 1, 2, 3]


def test_slice_keeps_metadata_not_processing():
    s = _stack()
    s.processed["raw"] = s.data.copy()
    s.acquisition["k"] = 1
    sub = s[1:3]
    assert sub.n_frames == 2
    np.testing.assert_array_equal(sub.data, s.data[1:3])
    assert sub.get_frame_times() == [0.5, 1.0]
    assert sub.processed == {} and sub.acquisition == {"k": 1}
    sub.frame_metadata[0]["timestamp"] = 99
    assert s.frame_metadata[1]["timestamp"] == 0.5  # a copy, not shared


def test_raw_view_uses_snapshot_and_metadata_before_edit():
    s = _stack(n=3)
    raw = np.ones((5, 3, 5), np.float32)
    s.processed["raw"] = raw
    s.state_backups["frame_metadata_before_edit"] = [{"timestamp": float(i)} for i in range(5)]
    view = s.raw_view()
    assert view.data is raw
    assert view.get_frame_times() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_raw_view_pads_missing_metadata_to_frame_count():
    s = _stack(n=3)
    s.processed["raw"] = np.ones((5, 3, 5), np.float32)
    view = s.raw_view()
    assert len(view.frame_metadata) == 5
    assert view.frame_metadata[4]["timestamp"] is None


def test_raw_view_without_snapshot_is_the_stack():
    s = _stack()
    assert s.raw_view() is s


def test_restore_raw():
    s = _stack()
    with pytest.raises(KeyError, match="No raw data snapshot"):
        s.restore_raw()
    s.processed["raw"] = np.zeros_like(s.data)
    s.restore_raw()
    assert not s.data.any()


def test_has_processing():
    s = _stack()
    assert not s.has_processing
    s.processed["raw"] = s.data
    assert not s.has_processing
    s.processed["step_1_x"] = s.data
    assert s.has_processing


class CountingSource(ArrayFrameSource):
    """An in-memory source that records which frames were read."""

    def __init__(self, array):
        super().__init__(array)
        self.reads: list[tuple[int, int]] = []
        self.closed = False

    def read_frame(self, index):
        self.reads.append((index, index + 1))
        return super().read_frame(index)

    def read_frames(self, start, stop):
        self.reads.append((start, stop))
        return super().read_frames(start, stop)

    def close(self):
        self.closed = True


def test_lazy_stack_reads_only_what_is_touched():
    array = np.random.default_rng(0).random((10, 4, 4)).astype(np.float32)
    src = CountingSource(array)
    with AFMImageStack(src, 1.0, "c", None) as s:
        assert s.is_lazy and s.shape == (10, 4, 4) and s.dtype == np.float32
        assert src.reads == []
        np.testing.assert_array_equal(s.get_frame(7), array[7])
        assert src.reads == [(7, 8)]
        blocks = list(s.iter_frames(block=4))
        assert [b.shape[0] for b in blocks] == [4, 4, 2]
        assert src.reads[1:] == [(0, 4), (4, 8), (8, 10)]
        sub = s[2:5]
        assert sub.is_lazy and sub.n_frames == 3
        np.testing.assert_array_equal(sub.get_frame(0), array[2])
        np.testing.assert_array_equal(sub.data, array[2:5])
        assert s.is_lazy
        np.testing.assert_array_equal(s.data, array)
        assert not s.is_lazy
    assert src.closed


def test_lazy_strided_slice_and_iter_single_frames():
    array = np.arange(6 * 2 * 2, dtype=np.float32).reshape(6, 2, 2)
    s = AFMImageStack(CountingSource(array), 1.0, "c", None)
    np.testing.assert_array_equal(s[::2].data, array[::2])
    frames = list(s.iter_frames())
    assert len(frames) == 6 and frames[5].shape == (2, 2)
    with pytest.raises(ValueError):
        next(s.iter_frames(block=0))


# ---------------------------------------------------------------- the model's one way to build stacks
def test_array_is_wrapped_in_a_frame_source_without_a_copy():
    array = np.zeros((3, 2, 2), np.float32)
    stack = AFMImageStack(array, 1.0, "c", None)
    assert isinstance(stack._source, ArrayFrameSource)
    assert stack.data is array and not stack.is_lazy
    assert np.shares_memory(stack.get_frame(1), array)


def test_missing_frame_metadata_gets_all_six_keys():
    stack = AFMImageStack(np.zeros((3, 2, 2)), 2.5, "c", None, [{"timestamp": 0.0}])
    for md in stack.frame_metadata[1:]:
        assert set(md) == set(FRAME_METADATA_KEYS)
        assert md["frame_pixel_size_nm"] == 2.5 and md["timestamp"] is None and md["line_rate"] is None
    assert stack.frame_metadata[0] == {"timestamp": 0.0}  # given metadata is kept as given


def test_acquisition_in_the_constructor():
    facts = {"instrument": "x"}
    stack = AFMImageStack(np.zeros((1, 2, 2)), 1.0, "c", None, acquisition=facts)
    assert stack.acquisition == facts and stack.provenance["acquisition"] is not facts


def test_from_source_eager_reads_everything_and_closes():
    array = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    src = CountingSource(array)
    stack = AFMImageStack.from_source(src, 1.0, "c", None, lazy=False, z_unit="V")
    assert src.closed and src.reads == [(0, 3)] and not stack.is_lazy and stack.z_unit == "V"
    np.testing.assert_array_equal(stack.data, array)
    np.testing.assert_array_equal(stack[1:].data, array[1:])


def test_from_source_lazy_keeps_the_source_open_until_close():
    src = CountingSource(np.zeros((3, 2, 2), np.float32))
    with AFMImageStack.from_source(src, 1.0, "c", None, lazy=True) as stack:
        assert stack.is_lazy and not src.closed and src.reads == []
    assert src.closed


@pytest.mark.parametrize("lazy", [False, True])
def test_from_source_closes_the_source_when_building_fails(lazy):
    src = CountingSource(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="Metadata length"):
        AFMImageStack.from_source(src, 1.0, "c", None, [{}, {}, {}], lazy=lazy)
    assert src.closed


def test_from_source_closes_the_source_when_the_eager_read_fails():
    class Failing(CountingSource):
        def read_frames(self, start, stop):
            raise OSError("disk gone")

    src = Failing(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(OSError, match="disk gone"):
        AFMImageStack.from_source(src, 1.0, "c", None, lazy=False)
    assert src.closed


@pytest.mark.parametrize("lazy", [False, True])
def test_from_source_runs_finish_while_the_source_is_open(lazy):
    src = CountingSource(np.zeros((2, 2, 2), np.float32))
    seen = []

    def finish(stack):
        seen.append(src.closed)
        stack.processed["raw"] = np.ones((2, 2, 2))

    stack = AFMImageStack.from_source(src, 1.0, "c", None, lazy=lazy, finish=finish)
    assert seen == [False] and "raw" in stack.processed
    assert src.closed is (not lazy)


@pytest.mark.parametrize("lazy", [False, True])
def test_from_source_closes_the_source_when_finish_fails(lazy):
    src = CountingSource(np.zeros((2, 2, 2), np.float32))

    def finish(stack):
        raise KeyError("processed layer")

    with pytest.raises(KeyError, match="processed layer"):
        AFMImageStack.from_source(src, 1.0, "c", None, lazy=lazy, finish=finish)
    assert src.closed


def test_from_source_keeps_an_array_without_copying():
    array = np.zeros((2, 3, 4), np.float32)
    stack = AFMImageStack.from_source(array, 1.0, "c", None, lazy=False)
    assert stack.data is array


def test_from_source_refuses_an_eager_read_larger_than_memory(monkeypatch):
    from afmio import limits
    from afmio.errors import ResourceError

    monkeypatch.setattr(limits, "available_memory", lambda: 1000)
    monkeypatch.setattr(limits, "UNCHECKED_BYTES", 0)
    src = CountingSource(np.zeros((4, 10, 10), np.float32))  # 1600 bytes > half of 1000
    with pytest.raises(ResourceError, match="lazy=True"):
        AFMImageStack.from_source(src, 1.0, "c", "movie.xyz", lazy=False)
    assert src.closed and src.reads == []
    assert AFMImageStack.from_source(CountingSource(np.zeros((4, 10, 10), np.float32)), 1.0, "c", None,
                                     lazy=True).is_lazy  # lazy is not refused


def test_close_on_error_closes_and_keeps_the_real_error():
    from afmio.frames import close_on_error

    class BadClose(CountingSource):
        def close(self):
            super().close()
            raise RuntimeError("close failed too")

    src = BadClose(np.zeros((1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="the header"), close_on_error(src):
        raise ValueError("the header")
    assert src.closed
    ok = CountingSource(np.zeros((1, 2, 2), np.float32))
    with close_on_error(ok):
        pass
    assert not ok.closed
    with close_on_error(None):  # nothing to close is fine
        pass


def test_derive_carries_the_description_not_the_processing():
    stack = _stack(pixel_size_y_nm=3.0, z_unit="deg")
    stack.acquisition["scanner"] = {"gain": 2}
    stack.processed["raw"] = stack.data.copy()
    new = stack.derive(stack.data[:2] * 2, stack.frame_metadata[:2])
    assert (new.pixel_size_nm, new.pixel_size_y_nm, new.channel, new.file_path, new.z_unit) == (
        2.0, 3.0, "height_trace", "x.asd", "deg")
    assert new.acquisition == stack.acquisition and new.acquisition["scanner"] is not stack.acquisition["scanner"]
    assert new.processed == {} and new.n_frames == 2
    same = stack.derive()
    assert same.data is stack.data and same.frame_metadata == stack.frame_metadata
    assert same.frame_metadata[0] is not stack.frame_metadata[0]


def test_setting_data_on_a_lazy_stack_still_closes_its_file():
    src = CountingSource(np.zeros((2, 2, 2), np.float32))
    stack = AFMImageStack(src, 1.0, "c", None)
    stack.data = np.ones((2, 2, 2))
    assert not stack.is_lazy and not src.closed
    stack.close()
    assert src.closed
