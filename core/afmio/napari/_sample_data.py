"""napari sample-data contribution: the demo's synthetic HS-AFM video."""

from __future__ import annotations

from ..synthetic import synthetic_stack
from ._layers import LayerData, layer_data

__all__ = ["synthetic_video"]


def synthetic_video() -> list[LayerData]:
    """The synthetic video of ``afmio demo`` (20 frames, 128 x 128, 0.5 nm pixels, 0.1 s per frame)."""
    return [layer_data(synthetic_stack(), name="afmio synthetic video height_trace (nm)")]
