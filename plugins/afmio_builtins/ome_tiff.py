"""OME-TIFF stacks (``.ome.tif``, ``.ome.tiff``; also plain ``.tif``/``.tiff`` stacks): read and write.

Writing follows playNano 0.5.0's ``save_ome_tiff_stack``: one page per frame, axes
``TCZYX`` with C = Z = 1, little-endian, uncompressed, and OME-XML (2016-06 schema)
in the first page's ImageDescription:

* ``Pixels@PhysicalSizeX`` / ``PhysicalSizeY`` in µm (``PhysicalSize*Unit="µm"``),
  ``TimeIncrement`` (t1 - t0, s), one ``Plane`` per frame with ``DeltaT`` in seconds
  (omitted when any frame time is unknown), ``Channel@Name`` = the channel.
* Resolution tags in pixels per inch (25 400 000 / nm per pixel).
* Private tags on page 0, type UNDEFINED (7): **65000** = provenance JSON,
  **65001** = JSON list of the processed layer names (as playNano), and afmio's
  own **65002** = ``z_unit``, exact x/y pixel sizes and the full frame metadata.
* Values keep their dtype (float32 stays float32). A lazy stack is streamed frame
  by frame. Processed layers, masks and state backups are not stored (as in playNano).
* BigTIFF is used automatically above 4 GB.

Reading accepts OME-TIFF from afmio, playNano or other software, and plain
multi-page TIFF stacks (e.g. ImageJ):

* Frames: every page of series 0 (all axes other than Y, X and C in file order;
  a single frame reloads as a 1-frame stack). With several OME channels,
  ``channel=`` picks one by name (default: the first; ``"height"`` works as usual).
  Integer samples become float32; RGB images are refused.
* Pixel size: afmio's tag 65002 if present; else OME ``PhysicalSizeX/Y`` with its
  unit (default µm); else ImageJ's ``unit`` with the resolution tags; else the
  resolution tags in inch or cm; else **1.0 nm**, stated in
  ``acquisition["pixel_size_source"]`` (the source is always recorded there).
* Times: tag 65002's frame metadata, else OME ``Plane@DeltaT`` (converted from its
  unit), else ImageJ ``finterval``, else unknown (None).
* Provenance: tag 65000 (JSON), else a JSON ImageDescription's ``UserDataProvenance``,
  else empty; then ``bundle = {bundle_file, bundle_type: "ome-tiff"}`` and, when tag
  65001 is present, ``bundle["processed_keys"]``. A private tag that is not valid
  JSON is skipped (as playNano does) and named in ``bundle["ignored"]``.
* ``z_unit``: tag 65002, else ``"nm"``.
* ``lazy=True`` reads frames on demand when every page is one frame (afmio's and
  playNano's files, most plain stacks); ``stack.close()`` releases the file.
  Otherwise the frames are read at once and ``provenance["bundle"]["lazy"]`` says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from afmio.hookspecs import DriverSpec, hookimpl

from . import forward_to

if TYPE_CHECKING:
    from ._ome_tiff_impl import TiffFrameSource, channels, probe, read, sniff, write

__all__ = ["TiffFrameSource", "afmio_drivers", "channels", "probe", "read", "sniff", "write"]

_M = "afmio_builtins.ome_tiff"


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return [
        DriverSpec(
            name="ome-tiff",
            aliases=("tif", "tiff", "ome-tif"),
            extensions=(".ome.tif", ".ome.tiff", ".tif", ".tiff"),
            description="OME-TIFF stack (playNano bundle) and plain multi-page TIFF stacks",
            read=f"{_M}:read",
            write=f"{_M}:write",
            probe=f"{_M}:probe",
            channels=f"{_M}:channels",
            sniff=f"{_M}:sniff",
            lazy=True,
        )
    ]


__getattr__ = forward_to("afmio_builtins._ome_tiff_impl", __name__)
