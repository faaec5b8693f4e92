"""OME-Zarr (OME-NGFF 0.4): chunked, cloud-friendly stacks, as a folder or a zip.

Needs the optional extra ``afmio[zarr]`` (zarr-python 3). Two drivers share this code:
``ome-zarr`` for a directory store (``movie.ome.zarr/``) and ``ome-zarr-zip`` for a
zip store (``movie.ome.zarr.zip``).

Layout written (NGFF **0.4**, the version most viewers read today, so the arrays are
zarr format 2 with ``/`` chunk keys):

- group attributes ``multiscales``: one image with axes ``t`` (time, second), ``y`` and
  ``x`` (space, nanometer) and one dataset ``"0"`` whose scale transformation is
  ``[frame interval s, pixel y nm, pixel x nm]``;
- array ``0``: ``(n_frames, height, width)`` float32, **one chunk per frame**, Blosc-zstd
  with byte shuffle (``compression="none"`` stores raw chunks);
- group attribute ``afmio``: everything else of the stack, so nothing is lost: channel,
  ``z_unit``, both pixel sizes, per-frame timestamps and the full frame metadata,
  provenance and state backups;
- arrays ``processed/<name>`` and ``masks/<name>`` for processed layers and masks
  (NGFF readers ignore them).

Writing streams a lazy stack block by block (bounded memory) and zarr writes the chunks
of each block concurrently. Reading with ``lazy=True`` fetches frames on demand.
Stores from other software load too: 5-D ``(t, c, z, y, x)`` images take channel 0,
plane 0, and units other than nanometres are converted from the axes' units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from afmio.hookspecs import DriverSpec, hookimpl

from . import forward_to

if TYPE_CHECKING:
    from ._ome_zarr_impl import probe, read, sniff, write

__all__ = ["afmio_drivers", "probe", "read", "sniff", "write"]

_MODULE = "afmio_builtins.ome_zarr"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    common: dict[str, Any] = {
        "read": f"{_MODULE}:read",
        "write": f"{_MODULE}:write",
        "probe": f"{_MODULE}:probe",
        "sniff": f"{_MODULE}:sniff",
        "lazy": True,
    }
    return [
        DriverSpec(
            name="ome-zarr",
            aliases=("zarr", "ngff"),
            description="OME-Zarr / OME-NGFF 0.4 directory store (needs afmio[zarr])",
            kind="folder",
            extensions=(".ome.zarr", ".zarr"),
            **common,
        ),
        DriverSpec(
            name="ome-zarr-zip",
            aliases=("zarr-zip",),
            description="OME-Zarr / OME-NGFF 0.4 in a single zip file (needs afmio[zarr])",
            extensions=(".ome.zarr.zip", ".zarr.zip"),
            **common,
        ),
    ]


__getattr__ = forward_to("afmio_builtins._ome_zarr_impl", __name__)
