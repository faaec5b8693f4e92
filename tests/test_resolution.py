"""Every resolution rule, on isolated registries of toy drivers."""

from __future__ import annotations

import numpy as np
import pytest

from afmio import DriverSpec, PathNotFoundError, Registry, UnsupportedFormatError
from afmio_testdata.toy import magic_sniff, make_plugin, npy_read, npy_write


def _write_npy(path, magic=b""):
    with open(path, "wb") as f:
        f.write(magic)
        np.save(f, np.zeros((1, 2, 2), np.float32))
    return path


@pytest.fixture
def reg():
    plugin = make_plugin(
        [
            DriverSpec(name="tif-generic", extensions=(".tif",), read="@read"),
            DriverSpec(name="ome", aliases=("omex",), extensions=(".ome.tif", ".tif"), read="@read",
                       sniff="@sniff_ome", write="@write"),
            DriverSpec(name="frames", kind="folder", member_patterns=("*.frm", "*.[0-9][0-9][0-9]"),
                       extensions=(".frm",), read="@read"),
            DriverSpec(name="cubes", kind="folder", member_patterns=("*.cub",), read="@read"),
            DriverSpec(name="zstore", kind="folder", extensions=(".zst",), read="@read", write="@write"),
            DriverSpec(name="magic", read="@read", sniff="@sniff_magic"),
            DriverSpec(name="single", extensions=(".one",), read="@read"),
        ],
        read=npy_read,
        write=npy_write,
        sniff_ome=magic_sniff(b"OME!"),
        sniff_magic=magic_sniff(b"MAGIC"),
    )
    return Registry([plugin])


def test_longest_suffix_wins(reg, tmp_path):
    res = reg.resolve(_write_npy(tmp_path / "a.ome.tif", b"OME!"))
    assert res.driver.name == "ome" and ".ome.tif" in res.reason


def test_shared_extension_decided_by_content(reg, tmp_path):
    # Both claim .tif; "ome" has the earlier name but its sniff declines plain files.
    plain = _write_npy(tmp_path / "plain.tif")
    res = reg.resolve(plain)
    assert res.driver.name == "tif-generic"
    assert any(name == "ome" and "declined" in why for name, why in res.rejected)
    ome = _write_npy(tmp_path / "x.tif", b"OME!")
    assert reg.resolve(ome).driver.name == "ome"


def test_priority_breaks_ties_then_name(tmp_path):
    low = DriverSpec(name="b-low", extensions=(".dat",), read="@read")
    high = DriverSpec(name="z-high", extensions=(".dat",), read="@read", priority=5)
    same = DriverSpec(name="a-same", extensions=(".dat",), read="@read")
    reg = Registry([make_plugin([low, high, same], read=npy_read)])
    path = _write_npy(tmp_path / "f.dat")
    assert reg.resolve(path).driver.name == "z-high"
    reg2 = Registry([make_plugin([DriverSpec(name="b", extensions=(".dat",), read="@read"),
                                  DriverSpec(name="a", extensions=(".dat",), read="@read")], read=npy_read)])
    assert reg2.resolve(path).driver.name == "a"


def test_no_extension_uses_sniff(reg, tmp_path):
    path = _write_npy(tmp_path / "noext", b"MAGIC")
    res = reg.resolve(path)
    assert res.driver.name == "magic" and "content" in res.reason
    other = _write_npy(tmp_path / "noext2")
    with pytest.raises(UnsupportedFormatError, match="no extension"):
        reg.resolve(other)


def test_unknown_extension_lists_candidates(reg, tmp_path):
    path = _write_npy(tmp_path / "f.xyz")
    with pytest.raises(UnsupportedFormatError) as info:
        reg.load(path)
    assert "f.xyz" in str(info.value)
    assert any(name == "magic" for name, _ in info.value.candidates)


def test_explicit_format_and_alias_win(reg, tmp_path):
    path = _write_npy(tmp_path / "a.one")
    assert reg.resolve(path, "ome").driver.name == "ome"
    res = reg.resolve(path, "OMEX")
    assert res.driver.name == "ome" and "alias" in res.reason
    with pytest.raises(UnsupportedFormatError, match="unknown format 'nope'"):
        reg.resolve(path, "nope")
    with pytest.raises(UnsupportedFormatError, match="cannot write"):
        reg.resolve(tmp_path / "o.one", "single", mode="write")


def test_missing_path(reg, tmp_path):
    with pytest.raises(PathNotFoundError):
        reg.resolve(tmp_path / "nothing.one")
    with pytest.raises(FileNotFoundError):  # also the built-in a caller would catch
        reg.load(tmp_path / "nothing.one")


def test_folder_goes_to_driver_matching_most_members(reg, tmp_path):
    for name in ["a.frm", "b.001", "c.002"]:
        _write_npy(tmp_path / name)
    for name in ["x.CUB", "y.cub"]:
        _write_npy(tmp_path / name)
    res = reg.resolve(tmp_path)
    assert res.driver.name == "frames" and "3 of 5" in res.reason
    assert any(n == "cubes" and "2" in why for n, why in res.rejected)


def test_member_patterns_are_case_insensitive(reg, tmp_path):
    for name in ["A.CUB", "b.Cub", "c.frm"]:
        _write_npy(tmp_path / name)
    assert reg.resolve(tmp_path).driver.name == "cubes"


def test_folder_with_driver_extension(reg, tmp_path):
    store = tmp_path / "movie.zst"
    store.mkdir()
    _write_npy(store / "a.frm")
    res = reg.resolve(store)
    assert res.driver.name == "zstore"


def test_single_member_file_of_folder_format(reg, tmp_path):
    path = _write_npy(tmp_path / "scan.004")
    res = reg.resolve(path)
    assert res.driver.name == "frames" and "single frame" in res.reason


def test_folder_of_file_format_files_gets_a_hint(reg, tmp_path):
    _write_npy(tmp_path / "a.one")
    with pytest.raises(UnsupportedFormatError) as info:
        reg.resolve(tmp_path)
    assert "pass one of the files" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnsupportedFormatError, match="empty"):
        reg.resolve(empty)


def test_write_resolution_by_longest_extension(reg, tmp_path):
    assert reg.resolve(tmp_path / "o.ome.tif", mode="write").driver.name == "ome"
    with pytest.raises(UnsupportedFormatError, match="give format="):
        reg.resolve(tmp_path / "o.unknown", mode="write")


def test_sniff_that_raises_is_treated_as_cannot_tell(tmp_path):
    def boom(path):
        raise RuntimeError("broken sniff")

    reg = Registry([make_plugin([DriverSpec(name="x", extensions=(".q",), read="@read", sniff="@boom")],
                                read=npy_read, boom=boom)])
    path = _write_npy(tmp_path / "a.q")
    assert reg.resolve(path).driver.name == "x"


# ---------------------------------------------------------------- every loser carries its true reason
def _rejections(res):
    return dict(res.rejected)


def test_shorter_suffix_claimant_is_listed_when_the_longest_wins(reg, tmp_path):
    """Regression: a shorter-suffix claimant was left out when the longest suffix won at once."""
    res = reg.resolve(_write_npy(tmp_path / "a.ome.tif", b"OME!"))
    assert res.driver.name == "ome"
    assert _rejections(res) == {"tif-generic": "claims only the shorter suffix '.tif'; 'ome' claims '.ome.tif'"}
    assert set(res.claimants) == {"ome", "tif-generic"}


def test_rank_once_then_filter_labels_every_loser(tmp_path):
    """Regression: when the longest claim declined, the next group was labelled "shorter suffix"
    as a whole, so the eventual winner appeared among the rejected and its rival got the wrong reason."""
    specs = [
        DriverSpec(name="long", extensions=(".b.c",), read="@read", sniff="@never"),
        DriverSpec(name="mid-high", extensions=(".c",), read="@read", priority=2),
        DriverSpec(name="mid-low", extensions=(".c",), read="@read"),
        DriverSpec(name="mid-low2", extensions=(".c",), read="@read"),
        DriverSpec(name="other", extensions=(".d",), read="@read", sniff="@never"),
    ]
    reg = Registry([make_plugin(specs, read=npy_read, never=lambda path: False)])
    res = reg.resolve(_write_npy(tmp_path / "x.b.c"))
    assert res.driver.name == "mid-high"
    assert _rejections(res) == {
        "long": "claims '.b.c', but its content check declined it",
        "mid-low": "claims '.c' too; ranked below 'mid-high': lower priority (0 < 2)",
        "mid-low2": "claims '.c' too; ranked below 'mid-high': lower priority (0 < 2)",
    }
    assert "mid-high" not in _rejections(res)
    assert set(res.claimants) == {"long", "mid-high", "mid-low", "mid-low2"}  # "other" never claimed it


def test_equal_priority_loser_says_name_order(tmp_path):
    specs = [DriverSpec(name="b", extensions=(".dat",), read="@read"),
             DriverSpec(name="a", extensions=(".dat",), read="@read")]
    res = Registry([make_plugin(specs, read=npy_read)]).resolve(_write_npy(tmp_path / "f.dat"))
    assert res.driver.name == "a"
    assert _rejections(res) == {"b": "claims '.dat' too; ranked below 'a': same priority, later name"}


def test_content_fallback_records_declined_claimants_and_non_recognisers(reg, tmp_path):
    path = _write_npy(tmp_path / "x.tif.bin", b"MAGIC")
    res = reg.resolve(path)
    assert res.driver.name == "magic" and res.claimants == ("magic",)
    assert _rejections(res) == {"ome": "its content check did not recognise the file"}


def test_folder_member_claims_ranked_by_count_with_reasons(reg, tmp_path):
    for name in ["a.frm", "b.001", "c.002", "x.cub", "y.cub"]:
        _write_npy(tmp_path / name)
    res = reg.resolve(tmp_path)
    assert res.driver.name == "frames"
    assert _rejections(res) == {"cubes": "2 files match *.cub against 3 for 'frames'"}


def test_folder_name_claim_outranks_member_counts(reg, tmp_path):
    store = tmp_path / "movie.zst"
    store.mkdir()
    for name in ["a.frm", "b.frm"]:
        _write_npy(store / name)
    res = reg.resolve(store)
    assert res.driver.name == "zstore" and res.reason == "folder name ends with '.zst'"
    assert _rejections(res) == {"frames": "2 files match *.frm, *.[0-9][0-9][0-9], but 'zstore' claims the "
                                          "folder by its name"}


def test_write_losers_reasons(reg, tmp_path):
    res = reg.resolve(tmp_path / "o.ome.tif", mode="write")
    assert res.driver.name == "ome" and res.rejected == []
    specs = [DriverSpec(name="w-long", extensions=(".x.y",), write="@write"),
             DriverSpec(name="w-short", extensions=(".y",), write="@write", priority=9)]
    res = Registry([make_plugin(specs, write=npy_write)]).resolve(tmp_path / "o.x.y", mode="write")
    assert res.driver.name == "w-long"
    assert _rejections(res) == {"w-short": "claims only the shorter suffix '.y'; 'w-long' claims '.x.y'"}


def test_folder_hint_only_when_a_folder_format_claimed_the_file(tmp_path):
    never = lambda path: False  # noqa: E731
    specs = [DriverSpec(name="frames", kind="folder", member_patterns=("*.frm",), read="@read", sniff="@never"),
             DriverSpec(name="plain", extensions=(".pln",), read="@read", sniff="@never")]
    reg = Registry([make_plugin(specs, read=npy_read, never=never)])
    with pytest.raises(UnsupportedFormatError) as info:
        reg.resolve(_write_npy(tmp_path / "a.frm"))
    assert info.value.hint is not None and "load the whole folder" in info.value.hint
    assert "'frames'" in info.value.hint
    with pytest.raises(UnsupportedFormatError) as info:
        reg.resolve(_write_npy(tmp_path / "a.pln"))
    assert info.value.hint is None
