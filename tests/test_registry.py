"""Registry behaviour: plugin isolation, load/save wrapping, atomic writes, export naming."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from afmio import (
    AFMImageStack,
    CorruptFileError,
    DriverSpec,
    OverwriteError,
    PluginError,
    Registry,
    ResourceError,
    UnknownOptionError,
    WriteError,
    hookimpl,
    reading,
)
from afmio.synthetic import synthetic_stack
from afmio_testdata.toy import make_plugin, npy_read, npy_write

GOOD = DriverSpec(name="toy", extensions=(".npy",), read="@read", write="@write")


def _good_plugin():
    return make_plugin([GOOD], read=npy_read, write=npy_write)


def test_broken_plugins_are_isolated():
    class Raises:
        @hookimpl
        def afmio_drivers(self):
            raise RuntimeError("boom")

    class NotASpec:
        @hookimpl
        def afmio_drivers(self):
            return ["not a spec"]

    future = make_plugin([DriverSpec(name="future", extensions=(".f",), read="@read", api_version=2)],
                         read=npy_read)
    invalid = make_plugin([DriverSpec(name="Bad Name", extensions=("npy",), read="x")])
    dup = make_plugin([DriverSpec(name="toy", extensions=(".npy",), read="@read")], read=npy_read)
    with pytest.warns(RuntimeWarning, match="set aside"):
        reg = Registry([_good_plugin(), ("raises", Raises()), ("notspec", NotASpec()), future, invalid, dup])
        names = [f.name for f in reg.formats()]
    assert names == ["toy"]
    problems = {p.plugin: p.detail for p in reg.problems()}
    assert "boom" in problems["raises"]
    assert "not a DriverSpec" in problems["notspec"]
    assert "api_version 2" in problems[future.__name__]
    assert "invalid name" in problems[invalid.__name__]
    assert "already used by driver 'toy'" in problems[dup.__name__]


def test_spec_problems_listed():
    spec = DriverSpec(name="x", kind="folder", read="no-colon")
    issues = spec.problems()
    assert any("member_patterns or extensions" in i for i in issues)
    assert any("'module:function'" in i for i in issues)
    assert DriverSpec(name="x", extensions=(".X",)).problems()  # upper case + no read/write


def test_missing_function_module_is_a_plugin_error(tmp_path):
    reg = Registry([make_plugin([DriverSpec(name="ghost", extensions=(".g",), read="no_such_mod:read")])])
    (tmp_path / "a.g").write_bytes(b"x")
    with pytest.raises(PluginError, match="cannot import no_such_mod:read"):
        reg.load(tmp_path / "a.g")


def test_load_sets_source_provenance(tmp_path):
    reg = Registry([_good_plugin()])
    stack = synthetic_stack(2, 8, 8)
    reg.save(stack, tmp_path / "a.npy")
    loaded = reg.load(tmp_path / "a.npy", lazy=True)
    src = loaded.provenance["source"]
    assert src["driver"] == "toy" and src["reason"] == "extension '.npy'"
    assert src["lazy"] is False and "cannot read lazily" in src["note"]
    np.testing.assert_array_equal(loaded.data, stack.data)


def test_reader_crash_is_a_driver_bug_not_a_corrupt_file(tmp_path):
    def bad_read(path, *, channel=None):
        return [][1]  # IndexError deep inside a driver

    reg = Registry([make_plugin([DriverSpec(name="bad", extensions=(".bad",), read="@read")], read=bad_read)])
    path = tmp_path / "x.bad"
    path.write_bytes(b"")
    with pytest.raises(PluginError) as info:
        reg.load(path)
    assert not isinstance(info.value, CorruptFileError)
    text = str(info.value)
    assert str(path) in text and "'bad'" in text and "in read" in text and "IndexError" in text
    assert "a bug in the driver, not a damaged file" in text and isinstance(info.value.__cause__, IndexError)


def test_library_error_wrapped_by_reading_is_a_corrupt_file(tmp_path):
    def guarded_read(path, *, channel=None):
        with reading(path, "the frame table"):
            struct.unpack("<I", b"\x00")

    reg = Registry([make_plugin([DriverSpec(name="ok", extensions=(".ok",), read="@read")], read=guarded_read)])
    path = tmp_path / "x.ok"
    path.write_bytes(b"\x00")
    with pytest.raises(CorruptFileError, match=r"x\.ok: cannot read the frame table \(error: unpack requires"):
        reg.load(path)


def test_memory_error_names_the_file(tmp_path):
    def greedy(path, *, channel=None):
        raise MemoryError

    reg = Registry([make_plugin([DriverSpec(name="big", extensions=(".big",), read="@read")], read=greedy)])
    path = tmp_path / "x.big"
    path.write_bytes(b"")
    with pytest.raises(ResourceError, match=r"x\.big: out of memory reading") as info:
        reg.load(path)
    assert isinstance(info.value, MemoryError)


def test_unknown_option_is_named(tmp_path):
    reg = Registry([_good_plugin()])
    reg.save(synthetic_stack(1, 4, 4), tmp_path / "a.npy")
    with pytest.raises(UnknownOptionError, match="no option 'colour'") as info:
        reg.load(tmp_path / "a.npy", colour="red")
    assert isinstance(info.value, TypeError) and info.value.option == "colour"


def test_save_refuses_to_overwrite_then_replaces(tmp_path):
    reg = Registry([_good_plugin()])
    target = tmp_path / "sub" / "a.npy"
    reg.save(synthetic_stack(1, 4, 4), target)
    with pytest.raises(OverwriteError):
        reg.save(synthetic_stack(2, 4, 4), target)
    reg.save(synthetic_stack(2, 4, 4), target, overwrite=True)
    assert np.load(target).shape == (2, 4, 4)


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    seen = []

    def half_write(stack, path):
        seen.append(path)
        with open(path, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("disk on fire")

    reg = Registry([make_plugin([DriverSpec(name="flaky", extensions=(".ome.tif",), write="@write")],
                                write=half_write)])
    target = tmp_path / "movie.ome.tif"
    target.write_bytes(b"precious")
    with pytest.raises(PluginError, match="disk on fire") as info:  # a crash in a writer is a driver bug
        reg.save(synthetic_stack(1, 4, 4), target, overwrite=True)
    assert "'flaky' failed in write" in str(info.value)
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.ome.tif"]
    # The temporary name kept the full suffix so suffix-sniffing libraries behave.
    assert seen[0].name.startswith(".movie.afmio-") and seen[0].name.endswith(".ome.tif")


def test_os_error_in_writer_becomes_write_error(tmp_path):
    def enospc(stack, path):
        raise OSError(28, "No space left on device")

    reg = Registry([make_plugin([DriverSpec(name="full", extensions=(".x",), write="@write")], write=enospc)])
    with pytest.raises(WriteError, match="No space left"):
        reg.save(synthetic_stack(1, 4, 4), tmp_path / "a.x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_gives_write_error(tmp_path):
    reg = Registry([_good_plugin()])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(WriteError):
            reg.save(synthetic_stack(1, 4, 4), ro / "a.npy")
    finally:
        ro.chmod(0o700)


def test_folder_output_is_atomic(tmp_path):
    def write_folder(stack, path):
        path.mkdir()
        for i, frame in enumerate(stack.iter_frames()):
            np.save(path / f"{i:03d}.npy", frame)

    def write_folder_fails(stack, path):
        path.mkdir()
        (path / "000.npy").write_bytes(b"x")
        raise ValueError("bad frame")

    specs = [DriverSpec(name="seq", kind="folder", extensions=(".seq",), member_patterns=("*.npy",),
                        write="@write"),
             DriverSpec(name="seqbad", kind="folder", extensions=(".bad",), member_patterns=("*.npy",),
                        write="@bad")]
    reg = Registry([make_plugin(specs, write=write_folder, bad=write_folder_fails)])
    out = tmp_path / "movie.seq"
    reg.save(synthetic_stack(3, 4, 4), out)
    assert sorted(p.name for p in out.iterdir()) == ["000.npy", "001.npy", "002.npy"]
    reg.save(synthetic_stack(2, 4, 4), out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["000.npy", "001.npy"]
    with pytest.raises(PluginError, match="bad frame"):
        reg.save(synthetic_stack(2, 4, 4), out, format="seqbad", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.seq"]


def test_raw_is_applied_by_the_registry(tmp_path):
    reg = Registry([_good_plugin()])
    stack = synthetic_stack(3, 4, 4)
    stack.processed["raw"] = stack.data.copy()
    stack.data = stack.data * 0
    reg.save(stack, tmp_path / "raw.npy", raw=True)
    np.testing.assert_array_equal(np.load(tmp_path / "raw.npy"), stack.processed["raw"])


def test_export_naming_and_filtered_suffix(tmp_path):
    other = DriverSpec(name="other", aliases=("oth",), extensions=(".oth",), write="@write")
    reg = Registry([make_plugin([GOOD, other], read=npy_read, write=npy_write)])
    stack = synthetic_stack(2, 4, 4)
    paths = reg.export(stack, tmp_path, "run1.asd", formats=["toy", "oth"])
    assert [p.name for p in paths] == ["run1.npy", "run1.oth"]
    stack.processed["raw"] = stack.data.copy()
    stack.processed["step_1_flatten"] = stack.data.copy()
    assert reg.export(stack, tmp_path, "run1", formats="toy")[0].name == "run1_filtered.npy"
    assert reg.export(stack, tmp_path, "run1", formats=["toy"], raw=True, overwrite=True)[0].name == "run1.npy"
    with pytest.raises(ValueError, match="Invalid characters"):
        reg.export(stack, tmp_path, "a*b", formats=["toy"])


def test_save_rejects_non_stack(tmp_path):
    with pytest.raises(TypeError, match="AFMImageStack"):
        Registry([_good_plugin()]).save(np.zeros((1, 2, 2)), tmp_path / "a.npy")


def test_lazy_discovery_is_thread_safe():
    reg = Registry(discover=True)
    results, errors = [], []

    def work():
        try:
            results.append(tuple(f.name for f in reg.formats()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and results[0]


def test_default_registry_discovers_builtins_via_entry_points():
    import afmio

    infos = {f.name: f for f in afmio.registry.formats()}
    assert infos, "no built-in driver was discovered"
    for info in infos.values():
        if info.plugin in {"npz", "hdf5", "asd"}:
            assert info.distribution == "afmio" and info.version == afmio.__version__


def test_blocked_plugins_are_not_loaded():
    import afmio

    everything = {f.plugin for f in afmio.registry.formats()}
    assert everything
    blocked = sorted(everything)[0]
    reg = Registry(discover=True, blocked=[blocked])
    assert blocked not in {f.plugin for f in reg.formats()}


def test_import_and_formats_stay_light():
    code = (
        "import sys, afmio; afmio.registry.formats();"
        "heavy = [m for m in ('h5py', 'tifffile', 'matplotlib', 'PIL', 'av', 'zarr', 'dask',"
        " 'napari', 'npe2', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6', 'vispy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_stack_from_real_path_types(tmp_path):
    reg = Registry([_good_plugin()])
    stack = AFMImageStack.from_array(np.ones((4, 4), np.float32), 0.5)
    out = reg.save(stack, str(tmp_path / "single.npy"))
    assert isinstance(out, Path) and reg.load(out).n_frames == 1


def test_unwritable_output_folder_gives_write_error(tmp_path):
    # Works as root too: a file stands where the output folder should be.
    blocker = tmp_path / "not_a_folder"
    blocker.write_bytes(b"")
    with pytest.raises(WriteError, match="cannot create folder"):
        Registry([_good_plugin()]).save(synthetic_stack(1, 4, 4), blocker / "a.npy")


def test_fast_entry_points_agree_with_importlib_metadata():
    from importlib.metadata import entry_points as stdlib

    from afmio._entry_points import entry_points

    ours = sorted((e.name, e.value, e.distribution, e.version) for e in entry_points("afmio.drivers"))
    theirs = sorted(
        (e.name, e.value, e.dist.name.replace("_", "-").lower(), e.dist.version)
        for e in stdlib(group="afmio.drivers")
    )
    assert ours == theirs and ours


def test_fast_entry_points_parse_dist_info(tmp_path, monkeypatch):
    from afmio._entry_points import entry_points

    info = tmp_path / "my_plugin-2.5.1.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text(
        "[console_scripts]\nx = y:z\n\n[afmio.drivers]\nfoo = my_plugin.drivers\nbar = my_plugin.b:Plugin [extra]\n"
    )
    shadow = tmp_path / "later"
    (shadow / "my_plugin-9.0.dist-info").mkdir(parents=True)
    (shadow / "my_plugin-9.0.dist-info" / "entry_points.txt").write_text("[afmio.drivers]\nold = gone\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(shadow)])
    found = entry_points("afmio.drivers")
    assert [(e.name, e.value, e.distribution, e.version) for e in found] == [
        ("foo", "my_plugin.drivers", "my-plugin", "2.5.1"),
        ("bar", "my_plugin.b:Plugin", "my-plugin", "2.5.1"),
    ]


# ---------------------------------------------------------------- plugins that would fail silently
class _Misspelt:
    @hookimpl
    def afmio_driver(self):  # the hook is afmio_drivers
        return [GOOD]


class _Unmarked:
    def afmio_drivers(self):  # no @hookimpl: pluggy never calls it
        return [GOOD]


class _Empty:
    @hookimpl
    def afmio_drivers(self):
        return []


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (_Misspelt(), r"unknown hook 'afmio_driver'; did you mean 'afmio_drivers'\?"),
        (_Unmarked(), r"afmio_drivers is not marked with @afmio.hookimpl"),
        (_Empty(), r"declares no drivers"),
        (object(), r"implements no afmio_drivers hook"),
    ],
)
def test_plugin_that_declares_nothing_is_a_problem(plugin, message):
    with pytest.warns(RuntimeWarning, match="set aside"):
        reg = Registry([("p", plugin)])
        problems = reg.problems()
    assert reg.drivers() == []
    assert len(problems) == 1 and problems[0].plugin == "p"
    assert re.search(message, problems[0].detail), problems[0].detail


def test_misspelt_plugin_does_not_block_a_good_one():
    with pytest.warns(RuntimeWarning):
        reg = Registry([("bad", _Misspelt()), ("good", _good_plugin())])
        assert [d.name for d in reg.drivers()] == ["toy"]


# ---------------------------------------------------------------- import of driver modules
def test_driver_module_resolving_another_driver_at_import_does_not_deadlock(tmp_path, monkeypatch):
    """Regression: a global import lock made this hang (the inner import waited on the outer)."""
    (tmp_path / "afmio_dl_b.py").write_text("def read(path, *, channel=None):\n    return 'from b'\n")
    (tmp_path / "afmio_dl_a.py").write_text(
        "import sys\n"
        "_read_b = sys.modules['afmio_dl_hub'].registry.driver('b').function('read')\n"
        "def read(path, *, channel=None):\n"
        "    return _read_b(path)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = types.ModuleType("afmio_dl_hub")
    monkeypatch.setitem(sys.modules, "afmio_dl_hub", hub)
    specs = [DriverSpec(name="a", extensions=(".a",), read="afmio_dl_a:read"),
             DriverSpec(name="b", extensions=(".b",), read="afmio_dl_b:read")]
    hub.registry = reg = Registry([make_plugin(specs)])
    found = []
    worker = threading.Thread(target=lambda: found.append(reg.driver("a").function("read")), daemon=True)
    try:
        worker.start()
        worker.join(20)
        assert not worker.is_alive(), "importing a driver module that resolves another driver deadlocked"
        assert found and found[0]("x") == "from b"
    finally:
        for name in ("afmio_dl_a", "afmio_dl_b"):
            sys.modules.pop(name, None)


def test_signature_is_read_once_and_honours___signature__(tmp_path):
    import inspect

    calls = []

    def write(stack, path, **render):
        calls.append(render)

    write.__signature__ = inspect.Signature([
        inspect.Parameter("stack", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("path", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("cmap", inspect.Parameter.KEYWORD_ONLY, default="afmhot"),
        inspect.Parameter("target", inspect.Parameter.KEYWORD_ONLY, default=None),
    ])
    reg = Registry([make_plugin([DriverSpec(name="pic", extensions=(".pic",), write="@write")], write=write)])
    driver = reg.driver("pic")
    assert driver.signature("write") is driver.signature("write")
    assert driver.signature("write").keyword_options == ["cmap", "target"]
    with pytest.raises(UnknownOptionError) as info:
        reg.save(synthetic_stack(1, 4, 4), tmp_path / "a.pic", colour="red")
    assert info.value.options == ["cmap"]  # target= is the registry's, not a user option
    assert "target" not in str(info.value)


def test_dtype_is_cast_for_a_driver_without_the_option(tmp_path):
    reg = Registry([_good_plugin()])
    stack = synthetic_stack(2, 4, 4)
    reg.save(stack, tmp_path / "a.npy")
    loaded = reg.load(tmp_path / "a.npy", dtype="float64")
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded.data, stack.data.astype(np.float64))
    assert "has no dtype option; its float32 frames were cast to float64" in loaded.provenance["source"]["note"]
    assert "note" not in reg.load(tmp_path / "a.npy").provenance["source"]


@pytest.mark.parametrize("fmt", ["npz", "h5", "ome.tif"])
@pytest.mark.parametrize("lazy", [False, True])
def test_bundle_readers_cast_to_the_requested_dtype(tmp_path, fmt, lazy):
    import afmio

    stack = synthetic_stack(3, 8, 8)
    path = afmio.save(stack, tmp_path / f"a.{fmt}", compression="none") if fmt == "npz" else afmio.save(
        stack, tmp_path / f"a.{fmt}")
    with afmio.load(path, lazy=lazy, dtype="float64") as back:
        assert back.dtype == np.float64 and back.is_lazy == lazy and "note" not in back.provenance["source"]
        np.testing.assert_array_equal(back.data, stack.data.astype(np.float64))
