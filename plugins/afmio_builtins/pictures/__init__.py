"""Pictures of a stack: the shared renderer, the contact sheet and the picture writers.

:mod:`.render` turns frames into annotated palette images (colour map, range, time
stamp, scale bar; the options are :class:`.render.RenderOptions`, declared once);
:mod:`.gif` and :mod:`.media` are the write-only ``gif``, ``mp4`` and ``png`` drivers
built on it; :mod:`.contact_sheet` is behind :func:`afmio.preview`. Nothing here is
imported until a picture is made.
"""
