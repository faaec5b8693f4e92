"""What a user coming from playNano meets first on the command line (issue 21).

Batches over folders of sessions, progress on long commands, where outputs go and what
they are called, the picture options of every picture output, and the words and numbers
the commands print. In-process through :func:`afmio.cli.main` (the real parser and
commands), plus one subprocess for the console script.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import afmio
from afmio import build_frame_metadata
from afmio.cli import main
from afmio.stack import AFMImageStack
from afmio.synthetic import synthetic_stack
from afmio_testdata.jpk_builder import make_jpk_folder


@pytest.fixture
def movie(tmp_path) -> Path:
    path = tmp_path / "in" / "movie.npz"
    path.parent.mkdir()
    afmio.save(synthetic_stack(4, 24, 32, seed=1), path)
    return path


def _usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


# ---------------------------------------------------------------------- batches
def test_convert_a_folder_of_sessions_recursively(tmp_path, capsys):
    scans = tmp_path / "scans"
    make_jpk_folder(scans / "session1", 3)  # a JPK session: one video
    make_jpk_folder(scans / "day2" / "session2", 2)
    afmio.save(synthetic_stack(2, 8, 8), scans / "day2" / "loose.npz")
    (scans / "notes.txt").write_text("not a scan")
    assert main(["convert", str(scans), str(tmp_path / "out"), "--format", "h5"]) == 0
    captured = capsys.readouterr()
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.h5"))
    assert written == ["day2/loose.h5", "day2/session2.h5", "session1.h5"]  # each video once, layout kept
    assert afmio.load(tmp_path / "out" / "session1.h5").n_frames == 3
    assert afmio.load(tmp_path / "out" / "day2" / "session2.h5").n_frames == 2
    assert "skipped 1" in captured.err and "notes.txt" in captured.err  # what was skipped, and why
    assert re.search(r"notes\.txt: .+", captured.err)


# ---------------------------------------------------------------------- progress
@pytest.fixture
def bars_on(monkeypatch):
    """As on a terminal: the automatic setting shows bars (``-q`` still switches them off)."""
    from types import SimpleNamespace

    import afmio.progress

    monkeypatch.setattr(afmio.progress, "sys", SimpleNamespace(stderr=SimpleNamespace(isatty=lambda: True)))


@pytest.mark.parametrize(
    "command",
    [
        ["gif", "{in}", "{out}/m.gif"],
        ["convert", "{in}", "{out}/m.h5"],
        ["export", "{in}", "--to", "npz,gif", "--out", "{out}"],
        ["preview", "{in}", "{out}/m.png"],
        ["demo", "{out}/demo", "--frames", "2", "--size", "16"],
    ],
)
def test_every_long_command_shows_progress(movie, tmp_path, capsys, bars_on, command):
    argv = [a.replace("{in}", str(movie)).replace("{out}", str(tmp_path)) for a in command]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert re.search(r"\d+/\d+ \[", err), err  # a tqdm bar: "3/4 [00:00<..."


def test_quiet_silences_the_demo(tmp_path, capsys, bars_on):
    assert main(["-q", "demo", str(tmp_path / "demo"), "--frames", "2", "--size", "16"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# ---------------------------------------------------------------------- outputs
def test_missing_output_folders_are_refused_unless_asked(movie, tmp_path, capsys):
    target = tmp_path / "no" / "such" / "m.h5"
    err = _usage_error(capsys, ["convert", str(movie), str(target)])
    assert "does not exist" in err and "--parents" in err
    assert not (tmp_path / "no").exists()
    assert main(["convert", str(movie), str(target), "--parents"]) == 0
    assert target.is_file() and f"created folder {target.parent}" in capsys.readouterr().out
    # export may create its own --out folder, but not the folders above it.
    err = _usage_error(capsys, ["export", str(movie), "--out", str(tmp_path / "x" / "y")])
    assert "--parents" in err and not (tmp_path / "x").exists()
    assert main(["export", str(movie), "--to", "npz", "--out", str(tmp_path / "exp")]) == 0
    assert (tmp_path / "exp" / "movie.npz").is_file()


@pytest.mark.parametrize(
    "argv, needs",
    [
        (["gif", "{in}", "{out}/v.mp4"], ".gif"),
        (["preview", "{in}", "{out}/p.jpg"], ".png"),
        (["gif", "{in}", "{out}/v"], ".gif"),
    ],
)
def test_an_output_name_for_another_format_is_refused(movie, tmp_path, capsys, argv, needs):
    err = _usage_error(capsys, [a.replace("{in}", str(movie)).replace("{out}", str(tmp_path)) for a in argv])
    assert f"does not end in {needs}" in err
    assert not any(tmp_path.glob("v*")) and not any(tmp_path.glob("p*"))


def test_gif_size_is_settable(movie, tmp_path):
    assert main(["gif", str(movie), str(tmp_path / "small.gif"), "--height", "96", "--cmap", "afm_brown"]) == 0
    assert main(["gif", str(movie), str(tmp_path / "big.gif")]) == 0
    with Image.open(tmp_path / "small.gif") as small, Image.open(tmp_path / "big.gif") as big:
        assert small.size == (128, 96) and big.size == (683, 512)  # 32 x 24 px frames, proportions kept
    assert (tmp_path / "small.gif").stat().st_size < (tmp_path / "big.gif").stat().st_size / 4


def test_picture_options_reach_png_and_mp4_outputs(movie, tmp_path):
    assert main(["convert", str(movie), str(tmp_path / "frames"), "--format", "png", "--height", "48",
                 "--cmap", "gray", "--no-ts", "--no-scale"]) == 0
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pngs) == 4
    with Image.open(pngs[0]) as im:
        assert im.size == (64, 48)
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert np.array_equal(rgb[..., 0], rgb[..., 2])  # gray: R == G == B everywhere (no text drawn)
    av = pytest.importorskip("av")
    assert main(["convert", str(movie), str(tmp_path / "m.mp4"), "--fps", "8", "--height", "64"]) == 0
    with av.open(str(tmp_path / "m.mp4")) as container:
        stream = container.streams.video[0]
        assert float(stream.average_rate) == pytest.approx(8.0)
        assert stream.codec_context.height == 64


def test_picture_options_for_a_non_picture_output_are_an_error(movie, tmp_path, capsys):
    err = _usage_error(capsys, ["convert", str(movie), str(tmp_path / "m.h5"), "--cmap", "gray"])
    assert "--cmap only apply to picture outputs" in err
    err = _usage_error(capsys, ["export", str(movie), "--to", "npz,h5", "--out", str(tmp_path), "--fps", "3"])
    assert "--fps" in err


# ---------------------------------------------------------------------- words and numbers
def test_messages_use_the_command_lines_words(movie, tmp_path, capsys):
    out = tmp_path / "m.gif"
    out.write_bytes(b"old")
    assert main(["gif", str(movie), str(out)]) == 1
    err = capsys.readouterr().err
    assert "add --overwrite" in err and "overwrite=True" not in err
    assert main(["gif", str(movie), str(tmp_path / "z.gif"), "--zmin", "5", "--zmax", "1"]) == 1
    err = capsys.readouterr().err
    assert "zmin (5) must be less than zmax (1)" in err and "ValueError" not in err


def test_a_bad_option_prints_its_commands_usage(movie, tmp_path, capsys):
    err = _usage_error(capsys, ["gif", str(movie), str(tmp_path / "m.gif"), "--bogus"])
    assert err.startswith("usage: afmio gif") and "unrecognized arguments: --bogus" in err


def test_info_reports_measured_intervals_and_micrometres(tmp_path, capsys):
    times = [0.0, 1.0, 2.0, 10.0, 11.0]  # a pause: not "every 2.75 s"
    meta = [build_frame_metadata(timestamp=t, frame_pixel_size_nm=100.0) for t in times]
    stack = AFMImageStack(np.zeros((5, 24, 32), np.float32), 100.0, "height_trace", None, meta)
    afmio.save(stack, tmp_path / "irregular.npz")
    assert main(["info", str(tmp_path / "irregular.npz")]) == 0
    out = capsys.readouterr().out
    assert "frame interval min 1 s, median 1 s, max 8 s" in out
    assert "3.2 x 2.4 µm" in out  # 32 x 100 nm by 24 x 100 nm
    assert "None" not in out


def test_demo_of_one_frame_says_frame(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "demo"), "--frames", "1", "--size", "16"]) == 0
    assert "1 frame of 16 x 16 px" in capsys.readouterr().out


def test_a_single_image_gets_no_time_stamp(tmp_path):
    from afmio_builtins.pictures.render import Renderer

    one = synthetic_stack(1, 16, 16)
    assert Renderer(one).labels is None
    afmio.save(one, tmp_path / "a.gif")
    afmio.save(one, tmp_path / "b.gif", draw_ts=False)
    with Image.open(tmp_path / "a.gif") as a, Image.open(tmp_path / "b.gif") as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert Renderer(one, timestamps=[3.0]).labels == ["3.00 s"]  # asked for: drawn


def test_preview_refuses_tiles_too_small_for_captions(movie, tmp_path, capsys):
    assert main(["preview", str(movie), str(tmp_path / "p.png"), "--tile-height", "16"]) == 1
    err = capsys.readouterr().err
    assert "too small for their captions" in err and "--tile-height" in err
    assert not (tmp_path / "p.png").exists()


# ---------------------------------------------------------------------- facts
def test_formats_says_which_extra_a_driver_needs(monkeypatch, capsys):
    from afmio import drivers

    monkeypatch.setattr(drivers, "_installed", lambda module: module != "av")
    assert main(["formats"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^mp4 \*", text, re.M)
    assert "mp4 needs av, which is not installed; pip install 'afmio[video]'" in text
    spm = next(line for line in text.splitlines() if line.startswith("spm "))
    assert ".001 .002 ..." in spm and ".spm" in spm  # numbered NanoScope captures are listed
    assert main(["formats", "--json"]) == 0
    listed = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert listed["mp4"]["missing"] == ["av"] and listed["mp4"]["available"] is False
    assert listed["mp4"]["extra"] == "video" and listed["ome-zarr"]["requires"] == ["zarr"]
    assert listed["npz"]["available"] is True and listed["npz"]["requires"] == []


def test_requires_and_extra_are_validated():
    from afmio import DriverSpec

    ok = DriverSpec(name="x", read="m:f", requires=("zarr",), extra="zarr")
    assert ok.problems() == []
    assert DriverSpec(name="x", read="m:f", requires="zarr").problems()  # a string, not a tuple
    assert DriverSpec(name="x", read="m:f", requires=("zarr.core",)).problems()  # top-level names only
    assert DriverSpec(name="x", read="m:f", extra="Video!").problems()


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    builtins = next(p for p in listing["plugins"] if "npz" in p["drivers"])
    assert builtins["distribution"] == "afmio" and "gif" in builtins["drivers"]
    assert isinstance(listing["problems"], list)


def test_the_console_script_reports_a_bad_option_with_its_usage(movie, tmp_path):
    script = Path(sys.executable).with_name("afmio")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "afmio"]
    proc = subprocess.run([*entry, "preview", str(movie), str(tmp_path / "p.png"), "--fps", "3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: afmio preview")
