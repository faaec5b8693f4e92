"""The *Open every channel* widget (Plugins > afmio): napari's file dialog offers one reader per plugin."""

from pathlib import Path

from magicgui import magic_factory
from napari.types import LayerDataTuple

from ._reader import open_every_channel

__all__ = ["every_channel_widget"]


@magic_factory(
    call_button="Open every channel",
    path={"label": "AFM file", "mode": "r"},
    whole_folder={"label": "the whole folder as one video (JPK, NanoScope)"},
)
def every_channel_widget(path: Path = Path(), whole_folder: bool = False) -> list[LayerDataTuple]:
    """Open each channel of an AFM file (or of the video in its folder) as its own layer."""
    return [LayerDataTuple(layer) for layer in open_every_channel(path, whole_folder)]
