"""The ``afmio`` command, through the real console entry point.

Every subprocess costs a Python start-up, so the commands are launched together by one
module fixture and run in parallel; each test then checks one of the results. A few
finer behaviours are checked in-process through :func:`afmio.cli.main`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio.cli import main
from afmio.stack import AFMImageStack
from afmio.synthetic import synthetic_stack

SCRIPT = Path(sys.executable).with_name("afmio")
ENTRY = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "afmio"]


@dataclass
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        """stderr without warnings (a plugin set aside elsewhere must not break these tests)."""
        return [ln for ln in self.stderr.splitlines() if ln.strip() and not ln.startswith("afmio: warning")]


def _stack(seed: int, *, y_nm: float | None = None) -> AFMImageStack:
    stack = synthetic_stack(4, 24, 32, seed=seed)
    if y_nm is not None:
        stack.pixel_size_y_nm = y_nm
    return stack


def _fake_broken_plugin(root: Path) -> Path:
    """A distribution on PYTHONPATH whose afmio entry point cannot be imported."""
    site = root / "site"
    info = site / "afmio_broken_demo-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: afmio-broken-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[afmio.drivers]\nbroken = afmio_no_such_module_xyz\n")
    return site


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Input files shared by the tests: ``a.npz`` (non-square pixels), ``b.h5``, a corrupt file."""
    d = tmp_path_factory.mktemp("cli_in")
    a, b = d / "a.npz", d / "b.h5"
    afmio.save(_stack(0, y_nm=0.75), a)
    afmio.save(_stack(1), b)
    bad = d / "bad.npz"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    batch = d / "batch"
    batch.mkdir()
    shutil.copy(a, batch / "a.npz")
    shutil.copy(b, batch / "b.h5")
    _fake_broken_plugin(d)
    return d


@pytest.fixture(scope="module")
def cli(data, tmp_path_factory):
    """Run one command line per command and error path at once; ``(runs by key, data dir, out dir)``."""
    d, out = data, tmp_path_factory.mktemp("cli_out")
    a, b, bad, missing, site = d / "a.npz", d / "b.h5", d / "bad.npz", d / "missing.npz", d / "site"
    (out / "exists.h5").write_bytes(b"old")

    commands: dict[str, list[str]] = {
        "version": ["--version"],
        "formats": ["formats", "--json"],
        "info_json": ["info", str(a), "--json"],
        "info_missing": ["info", str(missing)],
        "info_bad_debug": ["info", str(bad), "--debug"],
        "channels": ["channels", str(a)],
        "convert": ["convert", str(a), str(out / "a.h5")],
        "convert_batch": ["convert", str(a), str(missing), str(bad), str(b), str(out / "batch"),
                          "--format", "npz"],
        "convert_exists": ["convert", str(a), str(out / "exists.h5")],
        "convert_usage": ["convert", str(a)],
        "export": ["export", str(a), "--to", "npz,h5,gif", "--out", str(out / "exp"), "--name", "base"],
        "gif": ["gif", str(a), str(out / "a.gif"), "--fps", "10"],
        "preview": ["preview", str(b), str(out / "b.png")],
        "demo": ["demo", str(out / "demo"), "--frames", "3", "--size", "32"],
        "plugins_check": ["plugins", "--check"],
        "debug_plugins": ["--debug-plugins", "formats"],
        "module": ["-m", "afmio", "channels", str(b)],
        "broken_check": ["plugins", "--check"],
    }
    env = dict(os.environ, COLUMNS="100")
    broken_env = dict(env, PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    procs = {}
    for key, argv in commands.items():
        full = [sys.executable, *argv] if argv[0] == "-m" else [*ENTRY, *argv]
        procs[key] = (argv, subprocess.Popen(
            full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=out,
            env=broken_env if key.startswith("broken") else env,
        ))
    runs = {}
    for key, (argv, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        runs[key] = Run(argv, proc.returncode, stdout, stderr)
    return runs, d, out


def test_version(cli):
    runs, _, _ = cli
    assert runs["version"].returncode == 0
    assert runs["version"].stdout.strip() == f"afmio {afmio.__version__}"


def test_formats_json_is_the_registry(cli, capsys):
    runs, _, _ = cli
    r = runs["formats"]
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [f["name"] for f in listed] == [f.name for f in afmio.registry.formats()]
    npz = next(f for f in listed if f["name"] == "npz")
    assert npz["extensions"] == [".npz"] and npz["read"] and npz["write"]
    assert main(["formats"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split()[:3] == ["name", "aliases", "extensions"]
    assert any(line.startswith("npz ") for line in text)


def test_info_json(cli):
    runs, _, _ = cli
    r = runs["info_json"]
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["driver"] == "npz"
    assert info["frames"] == 4 and info["frame_shape"] == [24, 32]
    assert info["channels"] == ["height_trace"] and info["default_channel"] == "height_trace"
    assert info["pixel_size_nm"] == 0.5 and info["pixel_size_y_nm"] == 0.75
    assert info["z_unit"] == "nm"
    assert info["time_span_s"] == pytest.approx(0.3)
    assert info["frame_rate_hz"] == pytest.approx(10.0)


def test_info_text(data, capsys):
    assert main(["info", str(data / "a.npz"), "-v"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].endswith("a.npz")
    assert "npz (extension '.npz'" in lines[1]
    text = out
    assert "4 x 24 x 32" in text
    assert "0.5 x 0.75 nm (x, y) (non-square pixels)" in text
    assert "16 x 18 nm" in text  # 32 * 0.5 by 24 * 0.75
    assert "0.3 s (10 frames/s)" in text


def test_quiet_silences_driver_progress_bars(monkeypatch):
    import afmio.progress
    from afmio.cli import inspect

    seen = []
    monkeypatch.setattr(inspect, "cmd_formats", lambda args: seen.append(afmio.progress.is_enabled(100)) or 0)
    with afmio.progress.enabled(True):
        assert main(["-q", "formats"]) == 0
        assert main(["formats"]) == 0
        assert main(["formats", "-q"]) == 0
        assert afmio.progress.is_enabled(100)  # the setting is restored after each command
    # -q switches bars off; without it the automatic rule (a terminal?) applies: no tty under pytest
    assert seen == [False, False, False]


def test_info_fact_text():
    from afmio.cli.inspect import _fact_text

    assert _fact_text(0.1 + 0.6) == "0.7"  # 0.7000000000000001 in binary
    assert _fact_text([1.0, 0.1 * 3, "a"]) == "1, 0.3, a"
    assert _fact_text("") == "-"
    assert _fact_text(None) == "-"  # never Python's None in the text
    assert _fact_text(True) == "yes"


def test_info_errors_are_one_line(cli, capsys):
    runs, d, _ = cli
    r = runs["info_missing"]
    assert r.returncode == 1
    assert r.errors == [f"afmio: error: {d / 'missing.npz'}: no such file or folder"]
    assert main(["info", str(d / "a.npz"), "--channel", "nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"afmio: error: {d / 'a.npz'}: no channel 'nope'; available: height_trace"]


def test_debug_shows_the_traceback(cli):
    runs, _, _ = cli
    r = runs["info_bad_debug"]
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr
    assert "CorruptFileError" in r.stderr or "TruncatedFileError" in r.stderr


def test_channels(cli):
    runs, _, _ = cli
    assert runs["channels"].returncode == 0
    assert runs["channels"].stdout == "height_trace\n"
    assert runs["module"].returncode == 0, runs["module"].stderr
    assert runs["module"].stdout == "height_trace\n"


def test_convert_round_trips_exactly(cli):
    runs, d, out = cli
    r = runs["convert"]
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"wrote {out / 'a.h5'}"
    src, dst = afmio.load(d / "a.npz"), afmio.load(out / "a.h5")
    assert np.array_equal(src.data, dst.data)
    assert dst.pixel_size_nm == 0.5 and dst.pixel_size_y_nm == 0.75
    assert dst.get_frame_times() == src.get_frame_times()


def test_convert_batch_keeps_going_and_reports_every_failure(cli):
    runs, d, out = cli
    r = runs["convert_batch"]
    assert r.returncode == 1
    assert sorted(p.name for p in (out / "batch").iterdir()) == ["a.npz", "b.npz"]
    assert np.array_equal(afmio.load(out / "batch" / "b.npz").data, afmio.load(d / "b.h5").data)
    assert r.errors[0] == "afmio: 2 of 4 input(s) failed:"
    assert len(r.errors) == 3
    assert "missing.npz: no such file or folder" in r.errors[1]
    assert "bad.npz" in r.errors[2]
    assert "Traceback" not in r.stderr


def test_convert_a_folder_of_files(data, tmp_path, capsys):
    assert main(["convert", str(data / "batch"), str(tmp_path / "from_folder"), "--format", "h5"]) == 0
    assert sorted(p.name for p in (tmp_path / "from_folder").iterdir()) == ["a.h5", "b.h5"]
    assert np.array_equal(afmio.load(tmp_path / "from_folder" / "a.h5").data, afmio.load(data / "a.npz").data)
    assert capsys.readouterr().out.splitlines()[-1] == "2 input(s) done, 2 file(s) written"


def test_convert_never_replaces_without_overwrite(cli, tmp_path):
    runs, d, out = cli
    r = runs["convert_exists"]
    assert r.returncode == 1
    assert (out / "exists.h5").read_bytes() == b"old"
    assert "already exists" in r.errors[0] and "--overwrite" in r.errors[0]
    (tmp_path / "replace.h5").write_bytes(b"old")
    assert main(["-q", "convert", str(d / "b.h5"), str(tmp_path / "replace.h5"), "--overwrite"]) == 0
    assert np.array_equal(afmio.load(tmp_path / "replace.h5").data, afmio.load(d / "b.h5").data)


def test_quiet_and_usage_errors(cli, tmp_path, capsys):
    runs, d, _ = cli
    assert main(["-q", "convert", str(d / "a.npz"), str(tmp_path / "quiet.npz")]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "quiet.npz").is_file()
    r = runs["convert_usage"]
    assert r.returncode == 2
    assert "needs an input and an output" in r.stderr


def test_export(cli, tmp_path, capsys):
    runs, d, out = cli
    r = runs["export"]
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "exp").iterdir()) == ["base.gif", "base.h5", "base.npz"]
    assert afmio.load(out / "exp" / "base.h5").n_frames == 4
    assert main(["export", str(d / "a.npz"), "--to", "npz,nosuch", "--out", str(tmp_path / "exp2")]) == 1
    assert "unknown format 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "exp2").exists()  # nothing was written before the check


def test_gif_and_preview(cli):
    from PIL import Image

    runs, _, out = cli
    assert runs["gif"].returncode == 0, runs["gif"].stderr
    with Image.open(out / "a.gif") as im:
        assert im.n_frames == 4
        assert im.info["duration"] == 100
    assert runs["preview"].returncode == 0, runs["preview"].stderr
    with Image.open(out / "b.png") as im:
        assert im.format == "PNG"


def test_demo(cli):
    runs, _, out = cli
    r = runs["demo"]
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout
    for name in ("demo.npz", "demo.h5"):
        stack = afmio.load(out / "demo" / name)
        assert stack.shape == (3, 32, 32)


def test_plugins(cli):
    runs, _, _ = cli
    r = runs["plugins_check"]
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].endswith("0 problem(s)")
    builtins = [line for line in r.stdout.splitlines() if line.startswith("builtins ")]
    assert len(builtins) == 1 and "afmio" in builtins[0] and "npz" in builtins[0]
    r = runs["debug_plugins"]
    assert r.returncode == 0
    assert "afmio_drivers" in r.stderr  # pluggy's trace of the hook calls
    assert "afmio: driver 'npz' from plugin 'builtins' (afmio " in r.stderr


def test_a_broken_plugin_is_reported_but_harmless(cli):
    runs, _, _ = cli
    r = runs["broken_check"]
    assert r.returncode == 1
    assert any("broken" in ln and "afmio_no_such_module_xyz" in ln for ln in r.stderr.splitlines())
    assert any(line.startswith("builtins ") for line in r.stdout.splitlines())  # the others still work


# --------------------------------------------------------------------------- in-process
def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: afmio" in capsys.readouterr().out


def test_batch_refuses_two_inputs_with_one_output_name(tmp_path, capsys):
    stack = _stack(0)
    afmio.save(stack, tmp_path / "x.npz")
    afmio.save(stack, tmp_path / "x.h5")
    rc = main(["convert", str(tmp_path / "x.npz"), str(tmp_path / "x.h5"), str(tmp_path / "o"), "-f", "npz"])
    assert rc == 1
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["x.npz"]
    assert "would both be written to" in capsys.readouterr().err


def test_single_input_into_an_existing_folder(tmp_path):
    afmio.save(_stack(2), tmp_path / "m.npz")
    (tmp_path / "dest").mkdir()
    assert main(["-q", "convert", str(tmp_path / "m.npz"), str(tmp_path / "dest"), "--format", "h5"]) == 0
    assert np.array_equal(afmio.load(tmp_path / "dest" / "m.h5").data, afmio.load(tmp_path / "m.npz").data)


def test_output_name_without_a_format_is_a_usage_error(tmp_path, capsys):
    afmio.save(_stack(2), tmp_path / "m.npz")
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "noext")])
    assert exc.value.code == 2
    assert "add --format NAME" in capsys.readouterr().err


def test_export_name_needs_one_input(tmp_path):
    afmio.save(_stack(2), tmp_path / "m.npz")
    afmio.save(_stack(3), tmp_path / "n.npz")
    with pytest.raises(SystemExit) as exc:
        main(["export", str(tmp_path / "m.npz"), str(tmp_path / "n.npz"), "--name", "x", "--to", "npz",
              "--out", str(tmp_path / "o")])
    assert exc.value.code == 2


def test_channels_json_and_info_for_a_named_channel(tmp_path, capsys):
    afmio.save(_stack(2), tmp_path / "m.npz")
    assert main(["channels", str(tmp_path / "m.npz"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == {"path": str(tmp_path / "m.npz"), "channels": ["height_trace"], "default": "height_trace"}
    assert main(["info", str(tmp_path / "m.npz"), "--channel", "HEIGHT", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channel"] == "height_trace"


def test_output_stem_drops_the_whole_format_extension(tmp_path):
    from afmio.cli._common import output_stem

    assert output_stem(tmp_path / "movie.ome.zarr.zip") == "movie"
    assert output_stem(tmp_path / "run.2024.npz") == "run.2024"
    assert output_stem(tmp_path / "README") == "README"


def test_unreadable_file_error_is_one_line_with_its_hint(tmp_path, capsys):
    (tmp_path / "movie.gif").write_bytes(b"GIF89a" + b"\x00" * 20)
    assert main(["info", str(tmp_path / "movie.gif")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"afmio: error: no driver reads {tmp_path / 'movie.gif'} (extension '.gif') "
                   "(afmio writes gif files but cannot read them) [-v: details]"]
    assert main(["info", str(tmp_path / "movie.gif"), "-v"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) > 1  # every driver's reason


def test_info_verbose_lists_only_drivers_that_claimed_the_file(tmp_path, capsys):
    renamed = tmp_path / "stack.bin"  # no driver claims .bin; npz recognises the content
    afmio.save(synthetic_stack(2, 4, 4), tmp_path / "stack.npz")
    (tmp_path / "stack.npz").rename(renamed)
    res = afmio.registry.resolve(renamed)
    assert res.driver.name == "npz" and "recognised by content" in res.reason
    assert any(why == "its content check did not recognise the file" for _, why in res.rejected)
    assert main(["info", str(renamed), "-v"]) == 0
    out = capsys.readouterr().out
    assert "npz (no extension matched; recognised by content)" in out
    assert "not chosen" not in out  # the sniffers that said no never claimed the file
