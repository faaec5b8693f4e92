"""The contact-sheet preview and the ``afmio gif`` / ``afmio preview`` commands."""

from __future__ import annotations

import numpy as np
import pytest

import afmio
from afmio import AFMImageStack, OverwriteError, build_frame_metadata
from afmio.cli import main
from afmio_builtins.pictures.contact_sheet import _bar_labels, preview, preview_frame_indices
from afmio_builtins.pictures.render import Renderer


def make_stack(data, px=0.5, path="sheet.asd"):
    data = np.asarray(data, np.float32)
    meta = [build_frame_metadata(timestamp=0.1 * i, frame_pixel_size_nm=px) for i in range(data.shape[0])]
    return AFMImageStack(data, px, "height_trace", path, meta)


def gradient_stack(n=40, h=64, w=80):
    rng = np.random.default_rng(0)
    return make_stack(rng.uniform(0, 1, (n, h, w)) + np.arange(n)[:, None, None])


def read_rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def find_tile(canvas, tile):
    """Every (y, x) where ``tile`` appears in ``canvas`` exactly."""
    th, tw = tile.shape[:2]
    H, W = canvas.shape[:2]
    ys, xs = np.mgrid[0 : H - th + 1, 0 : W - tw + 1]
    ok = np.ones(ys.shape, bool)
    for dy, dx in ((0, 0), (th // 2, tw // 3), (th - 1, tw - 1), (th // 3, tw - 2)):
        ok &= (canvas[dy : dy + ys.shape[0], dx : dx + xs.shape[1]] == tile[dy, dx]).all(axis=-1)
    return [(int(y), int(x)) for y, x in zip(*np.nonzero(ok)) if (canvas[y : y + th, x : x + tw] == tile).all()]


def test_frame_indices_are_evenly_spaced():
    assert preview_frame_indices(32, 12) == [0, 3, 6, 8, 11, 14, 17, 20, 23, 25, 28, 31]
    assert preview_frame_indices(5, 12) == [0, 1, 2, 3, 4]
    assert preview_frame_indices(100, 1) == [0]
    assert preview_frame_indices(0, 12) == []
    with pytest.raises(ValueError):
        preview_frame_indices(10, 0)


def test_sheet_holds_the_rendered_frames_in_a_grid(tmp_path):
    stack = gradient_stack()
    out = preview(stack, tmp_path / "sheet.png", cmap="gray", tile_height=128, level="none")
    assert out == tmp_path / "sheet.png"
    canvas = read_rgb(out)
    indices = preview_frame_indices(40, 12)
    sub = AFMImageStack(stack.data[indices], 0.5, "h", None, [stack.frame_metadata[i] for i in indices])
    tiles = list(Renderer(sub, cmap="gray", height=128).rgb_frames())
    assert tiles[0].shape == (128, 160, 3)
    places = [find_tile(canvas, t) for t in tiles]
    assert all(len(p) == 1 for p in places)
    ys = sorted({p[0][0] for p in places})
    xs = sorted({p[0][1] for p in places})
    assert len(ys) == 3 and len(xs) == 4  # 12 tiles of 5:4 -> 4 columns x 3 rows
    assert [p[0] for p in places] == [(y, x) for y in ys for x in xs]  # row-major, first to last


def test_colour_bar_runs_from_top_level_to_bottom(tmp_path):
    stack = gradient_stack(6)
    canvas = read_rgb(preview(stack, tmp_path / "s.png", cmap="gray", zmin=0, zmax=6, tile_height=128))
    right = canvas[:, canvas.shape[1] - 120 :, 0].astype(int)

    def gradient_run(column):
        """The longest stretch going down from white to black without ever getting lighter."""
        best, start = (0, 0), 0
        for y in range(1, len(column) + 1):
            if y == len(column) or column[y] > column[y - 1]:
                if y - start > best[1] - best[0]:
                    best = (start, y)
                start = y
        return column[best[0] : best[1]]

    runs = [gradient_run(right[:, x]) for x in range(right.shape[1])]
    bars = [r for r in runs if len(r) > 100 and r[0] >= 250 and r[-1] == 0 and len(np.unique(r)) > 100]
    assert len(bars) >= 10  # the bar is a band of identical gradient columns


def test_colour_bar_labels():
    # Ticks at round values inside the range, placed where those values fall.
    assert _bar_labels((0.0, 10.0), "nm") == {1.0: "10", 0.5: "5", 0.0: "0"}
    labels = _bar_labels((-220.8, -217.8), "nm")
    assert list(labels.values()) == ["-220", "-219", "-218"]
    assert list(labels) == pytest.approx([0.8 / 3, 1.8 / 3, 2.8 / 3])
    assert list(_bar_labels((-249.3, 0.0), "nm").values()) == ["-200", "-100", "0"]
    assert list(_bar_labels((0.0, 0.37), "nm").values()) == ["0.0", "0.1", "0.2", "0.3"]
    assert _bar_labels(None, "nm") == {1.0: "max", 0.5: "per frame", 0.0: "min"}


class CountingSource:
    def __init__(self, data):
        self.data, self.read = data, []

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)

    def read_frame(self, i):
        self.read.append(i)
        return self.data[i].copy()

    def read_frames(self, a, b):
        self.read.extend(range(a, b))
        return self.data[a:b].copy()

    def close(self):
        pass


def test_only_the_shown_frames_are_read(tmp_path):
    src = CountingSource(np.random.default_rng(1).uniform(0, 1, (100, 32, 32)).astype(np.float32))
    stack = AFMImageStack(src, 1.0, "h", "lazy.asd")
    preview(stack, tmp_path / "lazy.png", frames=5)
    assert sorted(src.read) == [0, 25, 50, 74, 99]


def test_overwrite_and_atomic(tmp_path):
    stack = gradient_stack(3, 16, 16)
    target = tmp_path / "p.png"
    preview(stack, target)
    with pytest.raises(OverwriteError):
        preview(stack, target)
    preview(stack, target, overwrite=True, frames=2)
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


def test_empty_stack(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        preview(AFMImageStack(np.zeros((0, 4, 4)), 1.0, "h", None), tmp_path / "e.png")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # drivers other helpers have not committed yet
def test_preview_from_a_path_and_the_cli(tmp_path, capsys):
    from PIL import Image

    src = afmio.save(gradient_stack(10, 32, 32), tmp_path / "in.npz")
    out = preview(src, tmp_path / "api.png", frames=4)
    assert read_rgb(out).shape[0] > 256

    assert main(["preview", str(src), str(tmp_path / "cli.png"), "--frames", "3", "--cmap", "gray"]) == 0
    assert read_rgb(tmp_path / "cli.png").shape[1] > 2 * 256  # 3 tiles: 2 columns, 2 rows
    assert main(["gif", str(src), str(tmp_path / "cli.gif"), "--fps", "10", "--zmin", "auto", "--zmax", "auto",
                 "--no-ts", "--no-scale", "--loop", "-1"]) == 0
    with Image.open(tmp_path / "cli.gif") as im:
        assert (im.n_frames, im.size, im.info["duration"]) == (10, (512, 512), 100)
        assert "loop" not in im.info
    assert "wrote" in capsys.readouterr().out

    assert main(["gif", str(src), str(tmp_path / "bad.gif"), "--cmap", "nope"]) == 1
    assert "unknown colormap 'nope'" in capsys.readouterr().err
    assert main(["gif", str(src), str(tmp_path / "bad.gif"), "--zmin", "3", "--zmax", "1"]) == 1
    assert "zmin (3) must be less than zmax (1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["gif", str(src), str(tmp_path / "bad.gif"), "--zmin", "low"])
    assert not (tmp_path / "bad.gif").exists()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_real_asd_sample_sheet(sample, tmp_path):
    path = sample("asd/asd_sample_0.asd")
    if "asd" not in {f.name for f in afmio.registry.formats()}:
        pytest.skip("the asd driver is not installed yet")
    canvas = read_rgb(preview(path, tmp_path / "asd.png"))
    stack = afmio.load(path)
    indices = preview_frame_indices(32, 12)
    sub = AFMImageStack(stack.data[indices], stack.pixel_size_nm, "TP", None,
                        [stack.frame_metadata[i] for i in indices])
    # the default sheet: line-levelled for display, one robust range over the frames shown
    tiles = list(Renderer(sub, height=256, level="line", zmin="auto", zmax="auto").rgb_frames())
    assert find_tile(canvas, tiles[0]) and find_tile(canvas, tiles[-1])
