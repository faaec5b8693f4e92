"""afmio in napari: open AFM videos as layers with physical scale and a time axis.

Install with ``pip install 'afmio[napari]'``; napari then finds the plugin through
the ``napari.manifest`` entry point (this package's ``napari.yaml``). Nothing here
is imported by ``import afmio``.

Reading
    *File > Open* (or ``napari movie.asd``, ``viewer.open(path, plugin="afmio")``)
    takes every file and folder afmio reads. napari offers every folder to the
    plugin; one that is not AFM data is declined at once. The layer holds a Dask
    array over afmio's lazy stack: frames are read when shown.
Channels
    A plain open gives one layer: the file's default channel (topography for most
    instruments). Every channel as its own layer, the default one first and
    visible: *Plugins > afmio > Open every channel*, or
    ``viewer.open(path, plugin="afmio.get_reader_all_channels")`` (napari's reader
    dialog lists one reader per plugin, so the second reader is not offered there).
Layer
    ``scale = (frame interval s, y nm, x nm)``, ``units = ("s", "nm", "nm")``,
    ``axis_labels = ("t", "y", "x")``. The frame interval is the median of the
    timestamp differences, or 1 s when the file records no times
    (``metadata["frame_interval_source"]`` says which). Values stay in the
    channel's unit (``metadata["z_unit"]``: nm, V, deg), which the layer name
    shows. The contrast range is the 1st to 99th percentile of five frames.
Metadata (``layer.metadata``)
    ``timestamps_s`` (real per-frame times), ``frame_metadata`` (afmio's six
    per-frame keys), ``acquisition`` (instrument facts), ``channel``,
    ``channels``, ``z_unit``, ``pixel_size_nm``, ``pixel_size_y_nm``,
    ``frame_interval_s``, ``frame_interval_source``, ``file_path`` and ``source``
    (which driver read it).
Writing
    *File > Save Selected Layer(s)* with an image layer and an afmio extension
    (``.h5``, ``.npz``, ``.ome.tif``, ``.ome.zarr``, ``.gif``...) writes it with
    that afmio writer, replacing an existing file. Pixel sizes come from the
    layer's scale and units (napari's default ``pixel`` unit is taken as nm), the
    frame times from the metadata the reader filled, else from the time scale.
Sample data
    *File > Open Sample > afmio* gives the demo's synthetic video.
"""
