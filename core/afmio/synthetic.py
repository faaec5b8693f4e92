"""Reproducible synthetic HS-AFM videos for the demo, the tests and the benchmarks."""

from __future__ import annotations

import numpy as np

from .metadata import build_frame_metadata
from .stack import AFMImageStack

__all__ = ["synthetic_heights", "synthetic_stack"]


def synthetic_heights(
    n_frames: int = 20,
    height: int = 128,
    width: int = 128,
    *,
    seed: int = 0,
    n_particles: int = 6,
    pixel_size_nm: float = 0.5,
) -> np.ndarray:
    """Return float32 heights in nm: a tilted, rough substrate with drifting particles.

    Each frame also gets a small per-line offset (as a real scanner leaves) and
    0.1 nm white noise. The same arguments always give the same array.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    tilt = 0.02 * x + 0.01 * y
    # Rough substrate: smoothed noise, fixed over time.
    rough = rng.normal(0.0, 0.3, (height, width)).astype(np.float32)
    # A 5 x 5 box blur (periodic edges) turns white noise into a smooth, rough surface.
    rough = np.mean([np.roll(rough, k, axis=0) for k in range(-2, 3)], axis=0)
    rough = np.mean([np.roll(rough, k, axis=1) for k in range(-2, 3)], axis=0).astype(np.float32)

    start = rng.uniform(0.15, 0.85, (n_particles, 2)) * (height, width)
    velocity = rng.normal(0.0, 0.6, (n_particles, 2))
    radius_nm = rng.uniform(3.0, 8.0, n_particles)
    peak_nm = rng.uniform(2.0, 6.0, n_particles)

    out = np.empty((n_frames, height, width), np.float32)
    for t in range(n_frames):
        frame = tilt + rough
        centres = start + velocity * t
        for (cy, cx), r, h in zip(centres, radius_nm / pixel_size_nm, peak_nm):
            frame = frame + h * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
        frame = frame + rng.normal(0.0, 0.2, (height, 1)).astype(np.float32)  # line offsets
        frame = frame + rng.normal(0.0, 0.1, (height, width)).astype(np.float32)
        out[t] = frame
    return out


def synthetic_stack(
    n_frames: int = 20,
    height: int = 128,
    width: int = 128,
    *,
    seed: int = 0,
    pixel_size_nm: float = 0.5,
    frame_time_s: float = 0.1,
    start_epoch_ms: int = 1_700_000_000_000,
) -> AFMImageStack:
    """Return a synthetic :class:`AFMImageStack` with full per-frame metadata."""
    data = synthetic_heights(n_frames, height, width, seed=seed, pixel_size_nm=pixel_size_nm)
    meta = [
        build_frame_metadata(
            timestamp=i * frame_time_s,
            frame_pixel_size_nm=pixel_size_nm,
            frame_duration_s=frame_time_s,
            start_epoch_ms=start_epoch_ms + round(i * frame_time_s * 1000),
            scan_direction="topDown",
            line_rate=height / frame_time_s,
        )
        for i in range(n_frames)
    ]
    stack = AFMImageStack(data, pixel_size_nm, "height_trace", "synthetic", meta, z_unit="nm")
    stack.acquisition.update({"instrument": "afmio synthetic", "seed": seed})
    return stack
