"""The resource policy (:mod:`afmio.limits`) applied to HDF5 datasets (bundles and h5-jpk).

HDF5 stores each dataset's allocated bytes (``get_storage_size``) and its filter
pipeline, so a declared shape is checked against what is really stored before a single
chunk is inflated: an unallocated dataset declaring 2**31 frames, or one tiny chunk that
deflates to a GiB, is refused as damaged. A pipeline of several compression filters is
capped as one codec (chaining deflate twice is how a 3 KB chunk claims 1 GiB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from afmio import limits
from afmio.errors import CorruptFileError

__all__ = ["check_dataset", "codec_of", "dataset_nbytes"]

# HDF5 filter ids (H5Zpublic.h and the registered plugin ids)
_CODECS = {1: "deflate", 32000: "lzf", 32001: "blosc", 32015: "zstd", 4: "deflate"}  # 4 = szip
_NEUTRAL = {2, 3, 6}  # shuffle, fletcher32, scale-offset: no expansion of their own


def codec_of(ds: Any) -> str:
    """The :data:`afmio.limits.MAX_RATIO` key for a dataset's filter pipeline."""
    try:
        dcpl = ds.id.get_create_plist()
        ids = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    except Exception:  # no pipeline information: assume the worst common codec
        return "unknown"
    codecs = [_CODECS.get(i, "unknown") for i in ids if i not in _NEUTRAL]
    if not codecs:
        return "none"
    return max(codecs, key=lambda c: limits.MAX_RATIO.get(c, limits.MAX_RATIO["unknown"]))


def dataset_nbytes(ds: Any) -> int:
    """Declared decoded size of a dataset, in bytes (Python ints: no overflow)."""
    n = 1
    for dim in ds.shape:
        n *= int(dim)
    return n * int(ds.dtype.itemsize)


def check_dataset(path: Path, ds: Any, what: str, *, frames: int | None = None) -> None:
    """Refuse a numeric dataset whose declared size (or frame count) its storage cannot hold."""
    if np.dtype(ds.dtype).kind not in "biufc":
        return
    storage = int(ds.id.get_storage_size())
    label = f"{what} {tuple(int(d) for d in ds.shape)} {ds.dtype}"
    limits.check_declared(path, dataset_nbytes(ds), label, on_disk=storage, codec=codec_of(ds))
    codec = codec_of(ds)
    nbytes = dataset_nbytes(ds)
    if codec != "none" and storage > 2 * nbytes + (64 << 10):
        # compressed chunks never hold (much) more than their content: more is a stream
        # that would inflate past its chunk (HDF5's own filter would grow it unbounded)
        raise CorruptFileError(
            path, f"{label} stores {storage} compressed bytes for {nbytes} bytes of content: "
            "a chunk holds more than it can decode to"
        )
    if frames is not None:
        limits.check_frame_count(path, frames, label, on_disk=storage)
