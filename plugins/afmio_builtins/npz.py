"""playNano NPZ bundles (``.npz``): read and write.

The layout is playNano 0.5.0's ``save_npz_bundle`` (a ZIP of ``.npy`` members):

=========================  ==================================================
``pixel_size_nm``          0-d number, nm per pixel along x
``channel``                0-d string
``frame_metadata_json``    0-d string: JSON list, one object per frame
``provenance_json``        0-d string: JSON provenance
``state_backups_json``     0-d string: JSON ``state_backups`` (``{}`` if none)
``data``                   ``(n_frames, height, width)`` values
``timestamps``             float64 seconds per frame (ignored on load)
``processed__<key>``       one per processed layer
``masks__<key>``           bool, one per mask
``afmio_json``             afmio only: ``z_unit``, exact x/y pixel sizes
=========================  ==================================================

Reading
    playNano writes the string members as pickled 0-d object arrays. afmio never
    unpickles: it decodes them by walking the pickle opcodes and accepts only the
    exact structure numpy writes for one string, refusing anything else with
    :class:`~afmio.errors.CorruptFileError` (nothing in the file is executed).
    ``data``, ``pixel_size_nm``, ``channel``, ``frame_metadata_json`` and
    ``provenance_json`` are required (as for playNano); everything else is optional.
    Values keep their stored dtype. A float32 ``pixel_size_nm`` (as playNano writes
    it) is read as the shortest decimal that rounds to it (0.636, not
    0.6359999775886536); afmio's own files carry the exact float64. Without
    ``afmio_json``, ``z_unit`` is ``"nm"`` and the y pixel size equals x.
    The bundle has one channel; ``channel=`` may name it (or ``"height"``).
    ``provenance`` is the saved one with ``bundle = {bundle_file, bundle_type: "npz"}``.
    ``lazy=True`` reads frames on demand straight from the file when ``data`` is
    stored uncompressed (afmio's default; the ZIP CRC is then not checked), and
    reads it at once otherwise (saying so in ``provenance["bundle"]["lazy"]``).
    Processed layers and masks are always read at once.

Writing
    The same members in the same order, string members as unicode arrays (no pickle;
    playNano 0.5.0 reads them), ``pixel_size_nm`` as float64 (no float32 loss), and
    the data in its own dtype. A lazy stack is streamed block by block.
    ``raw=True`` (applied by the registry) writes the raw snapshot with its own frame
    metadata, so metadata and frames always have the same length.

Options
    ``compression``: ``"none"`` (ZIP stored, the default) or ``"deflate"`` /
    ``"deflate-<1..9>"`` (ZIP deflate, as ``np.savez_compressed``; plain
    ``"deflate"`` is level 1, compressed in 1 MB pieces on all cores). Measured in
    one run on 500 x 256 x 256 float32 synthetic heights (131 MB, 2 busy shared
    cores, medians of 5): stored saves in 0.11 s and loads in 0.04 s at 1.00x raw
    size; deflate-1 saves in 3.1 s and loads in 0.86 s at 0.88x; playNano 0.5.0
    took 5.3 s / 0.50 s for 0.87x. Deflate cannot shuffle bytes, so on float
    heights it buys ~12 % for 30x the save time and 20x the load time: stored is
    the default, and HDF5 (gzip + shuffle, 0.74x) is the compact format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from afmio.hookspecs import DriverSpec, hookimpl

from . import forward_to

if TYPE_CHECKING:
    from ._npz_impl import NpyFrameSource, channels, probe, read, sniff, write

__all__ = ["NpyFrameSource", "afmio_drivers", "channels", "probe", "read", "sniff", "write"]

_M = "afmio_builtins.npz"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="npz",
            extensions=(".npz",),
            description="playNano NPZ bundle (numpy ZIP of .npy members)",
            read=f"{_M}:read",
            write=f"{_M}:write",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
        )
    ]


__getattr__ = forward_to("afmio_builtins._npz_impl", __name__)
