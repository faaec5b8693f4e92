"""Every built-in driver, declared as data in one table.

afmio registers this module under the ``afmio.drivers`` entry-point group in its own
``pyproject.toml``, exactly as a third-party plugin registers its own. Each
:class:`~afmio.DriverSpec` names its functions as ``"module:function"`` strings; the
module (``afmio_builtins.asd``, ...) holds the format's user documentation as its
docstring and its real code, and is imported only when a file of that format is read or
written. So listing formats imports this table and nothing heavier.
"""

from __future__ import annotations

from typing import Any

from afmio.hookspecs import DriverSpec, hookimpl

__all__ = ["BUILTIN_DRIVERS", "SPM_MEMBER_PATTERNS", "afmio_drivers", "builtin"]

#: NanoScope member files: ``*.spm``, ``*.di`` and numbered captures (``.001``, ``.002`` ...).
SPM_MEMBER_PATTERNS = ("*.spm", "*.di", "*.[0-9][0-9][0-9]")


def _roles(module: str, *roles: str) -> dict[str, Any]:
    """``{"read": "afmio_builtins.<module>:read", ...}`` for the named roles."""
    return {role: f"afmio_builtins.{module}:{role}" for role in roles}


_READER = ("read", "probe", "channels", "sniff")
#: Video writers encode with PyAV, installed by the ``video`` extra.
_VIDEO: dict[str, Any] = {"requires": ("av",), "extra": "video"}
_BUNDLE = (*_READER, "write")

BUILTIN_DRIVERS: tuple[DriverSpec, ...] = (
    DriverSpec(
        name="npz",
        extensions=(".npz",),
        description="playNano NPZ bundle (numpy ZIP of .npy members)",
        lazy=True,
        **_roles("npz", *_BUNDLE),
    ),
    DriverSpec(
        name="hdf5",
        aliases=("h5",),
        extensions=(".h5",),
        description="playNano HDF5 bundle",
        lazy=True,
        **_roles("hdf5", *_BUNDLE),
    ),
    DriverSpec(
        name="ome-tiff",
        aliases=("tif", "tiff", "ome-tif"),
        extensions=(".ome.tif", ".ome.tiff", ".tif", ".tiff"),
        description="OME-TIFF stack (playNano bundle) and plain multi-page TIFF stacks",
        lazy=True,
        **_roles("ome_tiff", *_BUNDLE),
    ),
    DriverSpec(
        name="asd",
        extensions=(".asd",),
        description="RIBM / Ando-lab high-speed AFM movie (v0, v1, v2; TP/ER/PH)",
        lazy=True,
        **_roles("asd", *_READER),
    ),
    DriverSpec(
        name="jpk",
        description="JPK .jpk images; a folder of them (NanoRacer HS-AFM) as one video",
        extensions=(".jpk",),
        kind="folder",
        member_patterns=("*.jpk",),
        lazy=True,
        **_roles("jpk", *_READER),
    ),
    DriverSpec(
        name="h5-jpk",
        aliases=("h5jpk",),
        description="JPK .h5-jpk HS-AFM movies (HDF5, JPK SCAN)",
        extensions=(".h5-jpk",),
        lazy=True,
        **_roles("h5jpk", *_READER),
    ),
    DriverSpec(
        name="aris",
        description="Asylum Research / Oxford Instruments Cypher VRS .aris HS-AFM movies (HDF5)",
        extensions=(".aris",),
        lazy=True,
        **_roles("aris", *_READER),
    ),
    DriverSpec(
        name="nhf",
        description="Nanosurf Studio .nhf files (HDF5); a folder of them is a video",
        extensions=(".nhf",),
        kind="folder",
        member_patterns=("*.nhf",),
        lazy=True,
        **_roles("nhf", *_READER),
    ),
    DriverSpec(
        name="spm",
        aliases=("nanoscope",),
        description="Bruker/Veeco NanoScope .spm/.di/.001 files; a folder of them is a video",
        extensions=(".spm", ".di"),
        kind="folder",
        member_patterns=SPM_MEMBER_PATTERNS,
        lazy=True,
        **_roles("spm", *_READER),
    ),
    DriverSpec(
        name="wsxm",
        description="WSxM .stp/.top images; a folder of them is a video",
        extensions=(".stp", ".top"),
        kind="folder",
        member_patterns=("*.stp", "*.top"),
        lazy=True,
        **_roles("wsxm", *_READER),
    ),
    DriverSpec(
        name="nid",
        aliases=("nanosurf",),
        description="Nanosurf .nid files (several channels); a folder of them is a video",
        extensions=(".nid",),
        kind="folder",
        member_patterns=("*.nid",),
        lazy=True,
        **_roles("nid", *_READER),
    ),
    DriverSpec(
        name="park",
        aliases=("psia", "park-tiff"),
        description="Park Systems TIFF (private tags 50432-50441); a folder of them is a video",
        extensions=(".tif", ".tiff"),
        kind="folder",
        member_patterns=("*.tif", "*.tiff"),
        lazy=True,
        # Above ome-tiff, which also claims .tif/.tiff: park's content check declines
        # every TIFF without Park's magic tag, and those go on to ome-tiff.
        priority=10,
        **_roles("park", *_READER),
    ),
    DriverSpec(
        name="ibw",
        aliases=("asylum", "igor"),
        description="Asylum Research Igor binary wave .ibw images; a folder of them as one video (afmio[ibw])",
        extensions=(".ibw",),
        kind="folder",
        member_patterns=("*.ibw",),
        lazy=True,
        **_roles("ibw", *_READER),
    ),
    DriverSpec(
        name="topostats",
        description="TopoStats .topostats (HDF5) images; a folder of them as one video",
        extensions=(".topostats",),
        kind="folder",
        member_patterns=("*.topostats",),
        lazy=True,
        **_roles("topostats", *_READER),
    ),
    DriverSpec(
        name="jpk-qi",
        aliases=("jpk-qi-image",),
        description="JPK QI .jpk-qi-image maps (image channels); a folder of them as one video",
        extensions=(".jpk-qi-image",),
        kind="folder",
        member_patterns=("*.jpk-qi-image",),
        lazy=True,
        **_roles("jpk_qi", *_READER),
    ),
    DriverSpec(
        name="gwy",
        aliases=("gwyddion",),
        description="Gwyddion .gwy images (read and write); a folder of them as one video",
        extensions=(".gwy",),
        kind="folder",
        member_patterns=("*.gwy",),
        lazy=True,
        **_roles("gwy", *_READER, "write"),
    ),
    DriverSpec(
        name="ome-zarr",
        aliases=("zarr", "ngff"),
        description="OME-Zarr / OME-NGFF 0.4 directory store (needs afmio[zarr])",
        kind="folder",
        extensions=(".ome.zarr", ".zarr"),
        lazy=True,
        requires=("zarr",),
        extra="zarr",
        **_roles("ome_zarr", "read", "write", "probe", "sniff"),
    ),
    DriverSpec(
        name="ome-zarr-zip",
        aliases=("zarr-zip",),
        description="OME-Zarr / OME-NGFF 0.4 in a single zip file (needs afmio[zarr])",
        extensions=(".ome.zarr.zip", ".zarr.zip"),
        lazy=True,
        requires=("zarr",),
        extra="zarr",
        **_roles("ome_zarr", "read", "write", "probe", "sniff"),
    ),
    DriverSpec(
        name="gif",
        extensions=(".gif",),
        write="afmio_builtins.pictures.gif:write",
        description="Animated GIF movie with time stamps and scale bar (write only)",
    ),
    DriverSpec(
        name="mp4",
        extensions=(".mp4",),
        write="afmio_builtins.pictures.media:write_video",
        **_VIDEO,
        description="MP4 (H.264) movie with time stamps and scale bar (write only; afmio[video])",
    ),
    DriverSpec(
        name="mov",
        extensions=(".mov",),
        write="afmio_builtins.pictures.media:write_video",
        **_VIDEO,
        description="QuickTime (H.264) movie with time stamps and scale bar (write only; afmio[video])",
    ),
    DriverSpec(
        name="mkv",
        aliases=("matroska",),
        extensions=(".mkv",),
        write="afmio_builtins.pictures.media:write_video",
        **_VIDEO,
        description="Matroska (H.264) movie with time stamps and scale bar (write only; afmio[video])",
    ),
    DriverSpec(
        name="avi",
        extensions=(".avi",),
        write="afmio_builtins.pictures.media:write_video",
        **_VIDEO,
        description="AVI (MPEG-4) movie with time stamps and scale bar (write only; afmio[video])",
    ),
    DriverSpec(
        name="webm",
        extensions=(".webm",),
        write="afmio_builtins.pictures.media:write_video",
        **_VIDEO,
        description="WebM (VP9) movie with time stamps and scale bar (write only; afmio[video])",
    ),
    DriverSpec(
        name="png",
        aliases=("png-sequence",),
        kind="folder",
        member_patterns=("*.png",),
        write="afmio_builtins.pictures.media:write_png_sequence",
        description="Folder of numbered PNG frames with time stamps and scale bar (write only)",
    ),
    DriverSpec(
        name="jpg",
        aliases=("jpeg", "jpg-sequence"),
        kind="folder",
        member_patterns=("*.jpg", "*.jpeg"),
        write="afmio_builtins.pictures.media:write_jpg_sequence",
        description="Folder of numbered JPEG frames with time stamps and scale bar (write only)",
    ),
    DriverSpec(
        name="tif-sequence",
        aliases=("tiff-sequence",),
        kind="folder",
        member_patterns=("*.tif", "*.tiff"),
        write="afmio_builtins.pictures.media:write_tif_sequence",
        description="Folder of numbered TIFF pictures with time stamps and scale bar (write only)",
    ),
)


@hookimpl
def afmio_drivers() -> list[DriverSpec]:
    return list(BUILTIN_DRIVERS)


def builtin(name: str) -> DriverSpec:
    """The built-in declaration called ``name`` (for tests that hold one driver on its own)."""
    for spec in BUILTIN_DRIVERS:
        if spec.name == name:
            return spec
    raise KeyError(f"no built-in driver {name!r}")
