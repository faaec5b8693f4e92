"""Issue 20/22 regressions outside the resource policy: names, overwrite, atomic saves, odd inputs."""

from __future__ import annotations

import os
import sys
import time
import warnings
import zipfile

import numpy as np
import pytest

import afmio
from afmio.atomic import stale_temporaries, temporary_path_for
from afmio.errors import AfmioError, UnsupportedFormatError, WriteError
from afmio.naming import is_safe_layer_name, safe_layer_name
from afmio.synthetic import synthetic_stack


def _stack() -> afmio.AFMImageStack:
    stack = synthetic_stack(3, 12, 16)
    stack.processed["raw"] = stack.data.copy()
    return stack


# ------------------------------------------------------------------ layer names
def test_safe_layer_name_rule():
    assert is_safe_layer_name("step_1_flatten")
    for bad in ("../../evil", "..", ".", "a/b", "a\\b", ".h", "", "a\x00b", "a" * 129):
        assert not is_safe_layer_name(bad)
        assert is_safe_layer_name(safe_layer_name(bad)), bad
    assert safe_layer_name("../../evil") == "%2E.%2F..%2Fevil"
    assert safe_layer_name("x%/y") == "x%25%2Fy"  # the escape character is escaped too


def _npz_with_layer(tmp_path, name: str):
    seed = afmio.save(_stack(), tmp_path / "seed.npz")
    out = tmp_path / "evil.npz"
    with zipfile.ZipFile(seed) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data)
            if info.filename == "processed__raw.npy":
                dst.writestr(f"processed__{name}.npy", data)
    return out


def test_unsafe_layer_name_from_a_file_is_escaped_once_and_every_writer_stores_it(tmp_path):
    stack = afmio.load(_npz_with_layer(tmp_path, "../../evil"))
    assert "%2E.%2F..%2Fevil" in stack.processed
    assert stack.provenance["source"]["renamed_layers"] == {"../../evil": "%2E.%2F..%2Fevil"}
    for ext in (".npz", ".h5", ".ome.tif", ".ome.zarr"):
        out = afmio.save(stack, tmp_path / "out" / f"copy{ext}")
        back = afmio.load(out)
        if ext != ".ome.tif":  # OME-TIFF does not store processed layers
            np.testing.assert_array_equal(back.processed["%2E.%2F..%2Fevil"], stack.processed["%2E.%2F..%2Fevil"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "copy.h5", "copy.npz", "copy.ome.tif", "copy.ome.zarr"]


def test_unsafe_layer_name_made_in_python_is_refused_by_save_with_a_write_error(tmp_path):
    stack = _stack()
    stack.masks["a/../b"] = stack.data > 0
    for ext in (".npz", ".h5", ".ome.zarr"):
        with pytest.raises(WriteError, match=r"mask name 'a/../b' is not a safe name.*'a%2F..%2Fb'"):
            afmio.save(stack, tmp_path / f"x{ext}")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ overwrite=True
@pytest.mark.parametrize(("name", "fmt"), [("results.ome.zarr", None), ("results", "png")])
def test_overwrite_never_deletes_a_folder_afmio_did_not_write(tmp_path, name, fmt):
    target = tmp_path / name
    target.mkdir()
    (target / "thesis.docx").write_bytes(b"years of work")
    with pytest.raises(WriteError, match="refusing to replace its contents even with overwrite=True"):
        afmio.save(_stack(), target, format=fmt, overwrite=True)
    assert (target / "thesis.docx").read_bytes() == b"years of work"


@pytest.mark.parametrize(("name", "fmt"), [("movie.ome.zarr", None), ("frames", "png")])
def test_overwrite_replaces_afmio_own_folder_output(tmp_path, name, fmt):
    target = afmio.save(_stack(), tmp_path / name, format=fmt)
    afmio.save(synthetic_stack(2, 12, 16), target, format=fmt, overwrite=True)
    if fmt is None:
        assert afmio.load(target).n_frames == 2
    else:
        assert len(list(target.glob("*.png"))) == 2


def test_overwrite_never_replaces_a_folder_with_a_file(tmp_path):
    target = tmp_path / "x.h5"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(WriteError):
        afmio.save(_stack(), target, overwrite=True)
    assert (target / "keep.txt").read_text() == "mine"


# ------------------------------------------------------------------ atomic saves
def test_temporary_names_stay_within_the_name_limit(tmp_path):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    target = tmp_path / ("n" * (limit - len(".ome.tif")) + ".ome.tif")
    tmp = temporary_path_for(target, ".ome.tif")
    assert len(tmp.name.encode()) <= limit and tmp.name.endswith(".ome.tif")
    afmio.save(_stack(), target)
    assert afmio.load(target).n_frames == 3
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores permissions")
def test_saving_into_a_read_only_folder_is_a_write_error_naming_the_target(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        for ext in (".npz", ".h5", ".ome.zarr"):
            with pytest.raises(WriteError, match=f"ro/x{ext}"):
                afmio.save(_stack(), folder / f"x{ext}")
    finally:
        folder.chmod(0o700)


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_temporaries_of_the_target_are_removed_on_the_next_save_and_nothing_else(tmp_path):
    target = tmp_path / "out.h5"
    ours_old = tmp_path / ".out.afmio-1a2b3c4d.h5"
    ours_new = tmp_path / ".out.afmio-5e6f7a8b.h5"  # a save in progress right now
    other_target = tmp_path / ".other.afmio-1a2b3c4d.h5"
    lookalikes = [tmp_path / ".out.afmio-1a2b3c4.h5", tmp_path / ".out.afmio-1A2B3C4D.h5",
                  tmp_path / ".out.afmio-1a2b3c4d.h5.bak", tmp_path / "out.afmio-1a2b3c4d.h5"]
    for p in (ours_old, ours_new, other_target, *lookalikes):
        p.write_bytes(b"x")
    for p in (ours_old, other_target, *lookalikes):
        _age(p, 7200)
    assert stale_temporaries(target, ".h5") == [ours_old]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        afmio.save(_stack(), target)
    assert any(".out.afmio-1a2b3c4d.h5" in str(w.message) for w in caught)
    assert not ours_old.exists()
    assert ours_new.exists() and other_target.exists() and all(p.exists() for p in lookalikes)


# ------------------------------------------------------------------ odd inputs
def test_bytes_instead_of_a_path_is_explained():
    with pytest.raises(UnsupportedFormatError, match="not 5 bytes of content"):
        afmio.load(b"hello")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_behind_a_symlink_is_said_to_be_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "movie.asd"
    link.symlink_to(fifo)
    for fmt in (None, "asd"):
        with pytest.raises(UnsupportedFormatError, match="is a named pipe"):
            afmio.load(link, format=fmt)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_character_device_is_said_to_be_one(tmp_path):
    link = tmp_path / "zero.npz"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnsupportedFormatError, match="is a character device"):
        afmio.load(link)
    with pytest.raises(AfmioError):
        afmio.registry.probe(link)


# ------------------------------------------------------------------ lazy stacks after close()
def _lazy_inputs(tmp_path):
    from afmio_testdata.asd_writer import write_asd
    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

    paths = [afmio.save(_stack(), tmp_path / f"s{ext}") for ext in (".npz", ".h5", ".ome.tif", ".ome.zarr")]
    frames = {"TP": np.arange(3 * 8 * 10, dtype=np.int16).reshape(3, 8, 10)}
    write_asd(tmp_path / "v1.asd", frames, version=1)
    paths.append(tmp_path / "v1.asd")
    paths.append(write_h5jpk(tmp_path / "m.h5-jpk", [H5JpkChannel("height", data=np.zeros((3, 6, 8), np.int32))]))
    return paths


def test_every_lazy_source_gives_the_same_afmio_error_after_close(tmp_path):
    from afmio.errors import ReadError

    for path in _lazy_inputs(tmp_path):
        stack = afmio.load(path, lazy=True)
        assert stack.is_lazy, path
        stack.close()
        for read in (lambda s: s.get_frame(0), lambda s: s.data, lambda s: next(s.iter_frames())):
            with pytest.raises(ReadError, match="the lazy stack was closed; load the file again") as info:
                read(stack)
            assert str(path) in str(info.value)


# ------------------------------------------------------------------ truncation
def test_info_on_a_cut_asd_says_truncated_and_allow_truncated_loads_the_rest(tmp_path, capsys):
    from afmio.cli import main
    from afmio_testdata.asd_writer import write_asd

    frames = {"TP": np.arange(5 * 8 * 10, dtype=np.int16).reshape(5, 8, 10)}
    layout = write_asd(tmp_path / "v1.asd", frames, version=1)
    cut = tmp_path / "cut.asd"
    cut.write_bytes((tmp_path / "v1.asd").read_bytes()[: layout.frame_offset(0, 3) + 5])
    probe = afmio.registry.probe(cut)
    assert probe.n_frames == 3
    assert probe.acquisition["declared_frames"] == 5
    assert "declares 5 frames but the file ends after 3 complete" in probe.acquisition["truncated"]
    assert main(["info", str(cut)]) == 0
    out = capsys.readouterr().out
    assert "3 x 8 x 10" in out and "TRUNCATED" in out and "--allow-truncated" in out
    assert main(["convert", str(cut), str(tmp_path / "out.npz")]) == 1
    assert "allow_truncated=True" in capsys.readouterr().err
    assert main(["convert", "--allow-truncated", str(cut), str(tmp_path / "out.npz")]) == 0
    np.testing.assert_array_equal(afmio.load(tmp_path / "out.npz").data,
                                  afmio.load(tmp_path / "v1.asd").data[:3])
    assert main(["info", "--allow-truncated", "--channel", "TP", str(cut)]) == 0
