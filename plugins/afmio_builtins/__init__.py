"""afmio's built-in format drivers.

:mod:`afmio_builtins.catalog` declares every built-in driver in one table and is the
only module registered (under the ``afmio.drivers`` entry-point group, as a third-party
plugin is). Each format has one module holding its user documentation (the module
docstring) and its code — :mod:`.asd`, :mod:`.npz`, :mod:`.hdf5`, :mod:`.ome_tiff`,
:mod:`.jpk`, :mod:`.h5jpk`, :mod:`.spm`, :mod:`.ome_zarr` — and the pictures (renderer,
contact sheet, GIF/MP4/PNG writers) live in :mod:`.pictures`. Those modules are imported
only when a file of their format is read or written, so listing formats stays cheap.
"""
