"""The conformance kit itself: a correct toy driver passes, each flawed variant fails clearly."""

from __future__ import annotations

import re

import numpy as np
import pytest

from afmio import AFMImageStack, build_frame_metadata, hookimpl
from afmio.testing import (
    Collision,
    Expected,
    check_claims,
    check_damaged,
    check_declaration,
    check_lazy,
    check_load,
    check_probe,
    check_reader,
    check_resolves,
    check_round_trip,
    installed_registry,
    make_registry,
)
from afmio_testdata import kit_toy
from afmio_testdata.kit_toy import MODULE, KitPlugin, spec


@pytest.fixture(autouse=True)
def _close_leaks():
    yield
    while kit_toy.LEAKED:
        kit_toy.LEAKED.pop().close()


def toy_stack(n: int = 3) -> AFMImageStack:
    data = np.arange(n * 4 * 5, dtype=np.float32).reshape(n, 4, 5) * 0.25 - 3
    meta = [build_frame_metadata(timestamp=0.5 * i, frame_pixel_size_nm=1.5) for i in range(n)]
    return AFMImageStack(data, 1.5, "height_trace", None, meta, pixel_size_y_nm=2.0, z_unit="nm")


@pytest.fixture
def kit_file(tmp_path):
    path = tmp_path / "sample.kit"
    path.write_bytes(kit_toy.encode(toy_stack()))
    return path


EXPECTED = Expected(n_frames=3, frame_shape=(4, 5), channel="height_trace", channels=["height_trace"],
                    pixel_size_nm=1.5, pixel_size_y_nm=2.0, z_unit="nm", frame_times=[0.0, 0.5, 1.0],
                    pixels={(0, 0, 0): -3.0, (2, 3, 4): 59 * 0.25 - 3})


def registry(**overrides):
    return make_registry(KitPlugin(spec(**overrides)))


class EmptyPlugin:
    @hookimpl
    def afmio_drivers(self):
        return []


def fails(match: str):
    return pytest.raises(AssertionError, match=match)


# ---------------------------------------------------------------- the correct driver passes
def test_correct_driver_passes_every_check(kit_file, tmp_path):
    (driver,) = check_declaration(KitPlugin())
    assert driver.name == "kit"
    assert check_claims(KitPlugin()) == []  # against everything really installed
    reg = registry()
    stack = check_reader(reg, kit_file, "kit", EXPECTED, tmp_dir=tmp_path)
    assert stack.n_frames == 3
    back = check_round_trip(reg, toy_stack(), tmp_path / "out.kit")
    np.testing.assert_array_equal(back.data, toy_stack().data)
    report = check_damaged(reg, kit_file, tmp_path)
    assert report.variants == report.raised + report.loaded and report.raised >= 5


def test_round_trip_of_a_lazy_stack(kit_file, tmp_path):
    reg = registry()
    with reg.load(kit_file, lazy=True) as lazy:
        check_round_trip(reg, lazy, tmp_path / "copy.kit")


# ---------------------------------------------------------------- declarations
@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (KitPlugin(spec(extensions=("KIT",))), "extension 'KIT' must be lower case"),
        (KitPlugin(spec(api_version=2)), "declares api_version 2, but this afmio supports api_version 1"),
        (KitPlugin(spec(read="no_such_function")), f"{MODULE}:no_such_function does not exist"),
        (KitPlugin(spec(read="afmio_testdata.no_such_module:read")), "cannot import afmio_testdata.no_such"),
        (KitPlugin(spec(read="read_no_channel", lazy=False)), "must accept the keyword channel="),
        (KitPlugin(spec(read="read_no_channel")), "must accept lazy= because the spec says lazy=True"),
        (KitPlugin(spec(write="channels")), re.escape("must take (stack, path) positionally")),
        (KitPlugin(spec(name="kit"), spec(name="kit", extensions=(".kit2",))), "name 'kit' is already used"),
        (EmptyPlugin(), "declares no drivers"),
    ],
)
def test_invalid_declarations_fail(plugin, message):
    with fails("invalid afmio plugin declaration") as info:
        check_declaration(plugin)
    assert re.search(message, str(info.value)), str(info.value)


# ---------------------------------------------------------------- claims
def installed_with(*specs):
    return make_registry(KitPlugin(*specs))


def test_shared_extension_is_reported_with_its_resolution():
    installed = installed_with(spec(name="other", extensions=(".kit",)))
    with fails(r"extension '\.kit' is also claimed by 'other' \(plugin .*\): files ending in '\.kit' go to "
               r"'kit' \(equal priority 0, then name order\); 'other' gets them only when the sniff of 'kit' declines"):
        check_claims(KitPlugin(), installed=installed)
    with fails(r"go to 'kit' \(priority 5 > 0\)"):
        check_claims(KitPlugin(spec(priority=5)), installed=installed)
    (collision,) = check_claims(KitPlugin(spec(priority=5)), installed=installed, allow=["other"])
    assert isinstance(collision, Collision) and collision.other == "other" and not collision.fatal


def test_name_clash_is_never_allowed():
    installed = installed_with(spec(name="kit", extensions=(".elsewhere",)))
    with fails("name 'kit' is also claimed by 'kit'.*names must be unique"):
        check_claims(KitPlugin(), installed=installed, allow=["kit"])


def test_nested_extension_and_folder_members_are_reported():
    installed = installed_with(spec(name="plain", extensions=(".kit",)))
    with fails(r"extension '\.x\.kit' against '\.kit'.*files ending in '\.x\.kit' go to 'kit' \(the longest"):
        check_claims(KitPlugin(spec(extensions=(".x.kit",))), installed=installed)
    folder = spec(kind="folder", extensions=(), member_patterns=("*.kit",))
    with fails(r"single '\*\.kit' files \('kit' reads one as a one-frame video\)"):
        check_claims(KitPlugin(folder), installed=installed)


def test_collision_with_a_real_builtin_names_its_distribution():
    if "npz" not in {f.name for f in installed_registry().formats()}:
        pytest.fail("the built-in npz driver is missing")
    with fails(r"also claimed by 'npz' \(afmio \d"):
        check_claims(KitPlugin(spec(name="kit-npz", extensions=(".npz",))))


def test_check_resolves_names_the_winner(kit_file):
    reg = make_registry(KitPlugin(spec(), spec(name="other", priority=9)))
    with fails(r"resolves to driver 'other' \(extension '\.kit', content confirmed\), not 'kit'"):
        check_resolves(reg, kit_file, "kit")


# ---------------------------------------------------------------- loading and probing
@pytest.mark.parametrize(
    ("expected", "message"),
    [
        (Expected(n_frames=4), "n_frames: got 3, expected 4"),
        (Expected(pixel_size_y_nm=1.5), "pixel_size_y_nm: got 2.0, expected 1.5"),
        (Expected(z_unit="V"), "z_unit: got 'nm', expected 'V'"),
        (Expected(frame_times=[0, 0.25]), r"frame times \(s\): got \[0.0, 0.5\]"),
        (Expected(pixels={(1, 2, 3): 0.0}), "value at frame 1, row 2, column 3: got 5.25, expected 0.0"),
    ],
)
def test_wrong_values_fail(kit_file, expected, message):
    with fails(message):
        check_load(registry(), kit_file, expected)


@pytest.mark.parametrize(
    ("read", "message"),
    [
        ("read_int", "frames are int16, expected floating point"),
        ("read_bare_metadata", "frame 0 metadata lacks frame_pixel_size_nm, frame_duration_s.*build_frame_metadata"),
        ("read_leaks", r"load of sample\.kit left 1 file handle\(s\) open: fd \d+ -> .*sample\.kit"),
    ],
)
def test_flawed_loads_fail(kit_file, read, message):
    with fails(message):
        check_load(registry(read=read), kit_file)


def test_load_names_the_wrong_driver(kit_file):
    with fails("read by 'kit', expected driver 'gsf'"):
        check_load(registry(), kit_file, driver="gsf")


def test_probe_disagreeing_with_load_fails(kit_file):
    with fails(r"probe of sample\.kit disagrees with load:\n  - n_frames: probe says 4, load gives 3\n"
               r"  - pixel_size_y_nm: probe says 1\.5, load gives 2\.0"):
        check_probe(registry(probe="probe_wrong"), kit_file)
    with fails(r"channels\(\) against probe\(\)\.channels: probe says \['height_trace'\], load gives"):
        check_probe(registry(channels="channels_wrong"), kit_file)
    with fails(r"frame_pixel_sizes_nm: probe says \[3\.0, 3\.0, 3\.0\], load gives \[1\.5, 1\.5, 1\.5\]"):
        check_probe(registry(probe="probe_wrong_frame_sizes"), kit_file)


# ---------------------------------------------------------------- lazy reads
@pytest.mark.parametrize(
    ("read", "message"),
    [
        ("read_lazy_shifted", "frame 0 differs from the eager load: 20 of 20 values differ"),
        ("read_never_lazy", "the spec says lazy=True but load\\(lazy=True\\) returned an in-memory stack"),
        ("read_lazy_unclosed", r"lazy load of sample\.kit followed by close\(\) left 1 file handle"),
    ],
)
def test_flawed_lazy_reads_fail(kit_file, read, message):
    with fails(message):
        check_lazy(registry(read=read), kit_file)


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("pixel", "pixel_size_nm: wrote 1.5, read 1.0"),
        ("time", r"timestamps: wrote \[0.0, 0.5, 1.0\]..., read \[0.0, 1.0, 2.0\]"),
        ("unit", "z_unit: wrote 'nm', read 'V'"),
        ("channel", "channel: wrote 'height_trace', read 'height'"),
        ("data", r"data: \d+ of 60 values differ; first at"),
        ("leak", r"save to out\.kit left 1 file handle\(s\) open"),
    ],
)
def test_flawed_writers_fail(tmp_path, flaw, message):
    reg = registry(write="write_flawed")
    with fails(message):
        check_round_trip(reg, toy_stack(), tmp_path / "out.kit", flaw=flaw)


def test_ignore_skips_what_a_format_cannot_store(tmp_path):
    reg = registry(write="write_flawed")
    check_round_trip(reg, toy_stack(), tmp_path / "out.kit", ignore=["pixel_size"], flaw="pixel")
    with pytest.raises(ValueError, match="ignore= takes"):
        check_round_trip(reg, toy_stack(), tmp_path / "x.kit", ignore=["colour"])


def test_tolerance_for_lossy_values(tmp_path):
    reg = registry(write="write_flawed")
    check_round_trip(reg, toy_stack(), tmp_path / "out.kit", atol=2e-3, flaw="data")


# ---------------------------------------------------------------- damaged copies
@pytest.mark.parametrize(
    ("overrides", "options", "message"),
    [
        ({"read": "read_trusting"}, {},
         r"driver 'kit' read raised (ValueError|struct.error): .* on a copy of sample\.kit with truncated to 0 of \d+ "
         r"bytes\. Raise an afmio error naming the file"),
        ({"read": "read_pads_truncation", "lazy": False}, {},
         r"read a copy of sample\.kit truncated to \d+ of \d+ bytes without an error.*TruncatedFileError"),
        ({"read": "read_hangs"}, {"seconds": 0.3}, r"did not finish within 0\.3 s \(a hang on bad input\?\)"),
        ({"read": "read_allocates"}, {"memory_headroom": 256 << 20}, "ran out of memory.*check_allocation"),
        ({"read": "read_vague"}, {}, r"raised UnsupportedFormatError\(bad data\).*does not name the file"),
        ({"sniff": "sniff_raises"}, {}, "sniff raised struct.error: .*sniff must answer False or None"),
        ({"read": "read_leaks_on_error"}, {},
         r"driver 'kit' on a copy of sample\.kit with truncated to 0 of \d+ bytes left 2 file handle\(s\) open"),
    ],
)
def test_crashes_on_damaged_copies_fail(kit_file, tmp_path, overrides, options, message):
    with fails(message):
        check_damaged(registry(**overrides), kit_file, tmp_path, **options)


def test_truncation_may_be_allowed(kit_file, tmp_path):
    reg = registry(read="read_pads_truncation", lazy=False)
    report = check_damaged(reg, kit_file, tmp_path, truncation_must_fail=False)
    assert report.loaded > 0


def test_kit_imports_no_pytest_and_afmio_does_not_import_the_kit():
    import subprocess
    import sys

    code = ("import sys, afmio; assert 'afmio.testing' not in sys.modules; "
            "import afmio.testing; assert 'pytest' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
