"""JPK QI ``.jpk-qi-image`` maps: the image channels of a Quantitative Imaging scan.

A ``.jpk-qi-image`` (JPK / Bruker NanoWizard QI mode) is the same big-endian TIFF
layout as a ``.jpk`` image: page 0 a thumbnail with the file-wide JPK tags, each
further page one map computed from the force curves (heights, adhesion, slope,
deflection), stored as integers with calibration slots. The tags are read with
the ``.jpk`` driver's code (``afmio_builtins.jpk``); only channel naming and
time zones differ. A single file loads as a one-frame stack; a folder of them
loads as a video (see :mod:`afmio.framefiles`).

Channels
    ``<name>_trace`` / ``<name>_retrace`` as in ``.jpk`` files (``height_trace``,
    ``measuredHeight_trace``, ``adhesion_trace``, ``vDeflection_trace``,
    ``slope_trace``). QI files can hold two maps of one name (``measuredHeight``
    as "Height (measured)" and as "Ref. Force Height at 40%"): the first keeps the
    name, the next is ``<name>_trace (2)``. AFMReader 0.0.7 returns the *last*
    page of a repeated name, i.e. afmio's ``(2)`` channel. The default is
    ``height_trace``.

Values
    ``raw * multiplier + offset`` of each page's default calibration slot; lengths
    in nm from the slot's unit, volts / newtons / other units kept as declared
    (``stack.z_unit``).

Orientation
    Row 0 is the top line as Gwyddion and AFMReader show it: stored rows are
    reversed unless the Grid-reflect tag is true (as for ``.jpk``).

Pixel size
    Grid uLength / width along x and vLength / height along y, in nm.

Timing
    ``start_epoch_ms`` from the StartDate tag in the zone the file states: an
    offset, an IANA name, or a zone abbreviation JPK prints (``CEST`` is UTC+2);
    when the label is missing or unknown, the file's ``metadata.user.timezone``
    (``Europe/Paris``) is used (``acquisition["time_zone"]`` says so), and only
    without either is UTC assumed (``time_zone`` then ends in ``(assumed UTC)``). Duration is
    EndDate - StartDate when both are recorded and differ, else unknown.

Acquisition facts
    ``jpk_version``, ``feedback_mode``, ``time_zone``, ``grid_reflect``,
    ``rows_reversed``, ``channels``, and for the loaded channel ``page``,
    ``file_unit``, ``fancy_name``.

Errors
    As for ``.jpk``: unreadable TIFF structure or page data beyond the file ->
    :class:`~afmio.CorruptFileError` / :class:`~afmio.TruncatedFileError` naming the file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from afmio.errors import CorruptFileError, UnsupportedFormatError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo

from ._jpk_common import ValueScale, as_bool, channel_key, decode, parse_jpk_date, scale_into, settings_value
from .jpk import Tag, _ifd0_codes, _Page, _read_page, _segments, _slot_scale, _Tags

__all__ = ["JpkQiCodec", "channels", "probe", "read", "sniff"]

#: Page-0 text tags that hold ``metadata.user.timezone`` (the QI sample has it in 0x8065).
_ZONE_TEXT_TAGS = (0x8065, 0x8064, Tag.SETTINGS)
_ZONE_KEY = "metadata.user.timezone"
_FANCY_NAME = 0x8052


@dataclass(frozen=True)
class _QiPage:
    page: _Page
    scale: ValueScale
    reflect: bool


class JpkQiCodec(FrameCodec):
    """Codec of JPK QI ``.jpk-qi-image`` files for :class:`~afmio.framefiles.FramePerFileDriver`."""

    format_name = "JPK QI"
    member_patterns = ("*.jpk-qi-image",)
    library_errors = (tifffile.TiffFileError, TypeError)

    def sniff(self, path: Path) -> bool | None:
        try:
            codes = _ifd0_codes(path)
        except (OSError, struct.error):
            return None
        if codes is None:
            return False
        return Tag.CHANNEL_NAME in codes or Tag.START_DATE in codes or Tag.GRID_ULENGTH in codes

    def read_header(self, path: Path) -> FrameHeader:
        if not self.sniff(path):
            raise UnsupportedFormatError(f"{path}: not a TIFF with JPK tags", path=path)
        file_size = os.path.getsize(path)
        with tifffile.TiffFile(path) as tf:
            return self._header(path, tf, file_size)

    def _header(self, path: Path, tf: tifffile.TiffFile, file_size: int) -> FrameHeader:
        first = _Tags(tf.pages.first)
        reflect = bool(as_bool(first.get(Tag.GRID_REFLECT)))
        hint = next((v for code in _ZONE_TEXT_TAGS if (v := settings_value(first.get(code), _ZONE_KEY))), None)
        start, zone_known = parse_jpk_date(first.get(Tag.START_DATE), hint)
        end, _ = parse_jpk_date(first.get(Tag.END_DATE), hint)
        ulength, vlength = (_length(first.get(t), path, t) for t in (Tag.GRID_ULENGTH, Tag.GRID_VLENGTH))
        images: list[ImageInfo] = []
        private: dict[str, _QiPage] = {}
        counts: dict[str, int] = {}
        for index in range(1, len(tf.pages)):
            page = tf.pages[index]
            tags = _Tags(page)
            name = decode(tags.get(Tag.CHANNEL_NAME))
            if not name or len(page.shape) != 2 or page.dtype is None or page.dtype.kind not in "iuf":
                continue  # the thumbnail or a non-channel page
            key = channel_key(name, bool(as_bool(tags.get(Tag.RETRACE))))
            counts[key] = counts.get(key, 0) + 1
            label = key if counts[key] == 1 else f"{key} ({counts[key]})"
            dtype = np.dtype(page.dtype).newbyteorder(tf.byteorder)
            h, w = (int(s) for s in page.shape)
            if h <= 0 or w <= 0:
                raise CorruptFileError(path, f"page {index} ({label}) has an empty {h} x {w} image")
            segments = _segments(page, path, h * w * dtype.itemsize, file_size)
            scale = _slot_scale(tags, label, path)
            private[label] = _QiPage(_Page(index, label, (h, w), dtype, segments, scale), scale, reflect)
            images.append(ImageInfo(label, (h, w), ulength / w, vlength / h, scale.z_unit, {
                "page": index, "file_unit": scale.file_unit, "fancy_name": decode(tags.get(_FANCY_NAME))}))
        if not images:
            raise CorruptFileError(path, "no JPK channel pages (pages with tag 0x8050) in this TIFF")
        words = (decode(first.get(Tag.START_DATE)) or "").split()
        zone = words[2] if len(words) > 2 else None
        if not zone_known:
            zone_text = f"{zone} (assumed UTC)" if zone else None
        elif zone and parse_jpk_date(first.get(Tag.START_DATE))[1]:
            zone_text = zone  # the label alone says it
        else:
            zone_text = f"{hint} (from metadata.user.timezone)"
        duration = None
        if start is not None and end is not None and end > start:
            duration = (end - start).total_seconds()
        return FrameHeader(
            path=path,
            images=images,
            default_channel="height_trace",
            start_epoch_s=None if start is None else start.timestamp(),
            frame_duration_s=duration,
            acquisition={
                "jpk_version": decode(first.get(Tag.VERSION)),
                "feedback_mode": decode(first.get(Tag.FEEDBACK_MODE)),
                "time_zone": zone_text,
                "grid_reflect": reflect,
                "rows_reversed": not reflect,
                "channels": [im.channel for im in images],
            },
            private=private,
        )

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        qi: _QiPage = header.private[image.channel]
        raw = np.empty(image.shape, qi.page.dtype)
        _read_page(header.path, qi.page, raw)
        out = np.empty(image.shape, np.float64)
        scale_into(raw, qi.scale, out, flip=not qi.reflect)
        return out


def _length(value: Any, path: Path, tag: int) -> float:
    try:
        length = float(value)
    except (TypeError, ValueError):
        length = float("nan")
    if not (np.isfinite(length) and length > 0):
        raise CorruptFileError(path, f"missing or invalid Grid length tag {tag:#06x}")
    return length * 1e9


_driver = FramePerFileDriver(JpkQiCodec())
read = _driver.read
probe = _driver.probe
channels = _driver.channels
sniff = _driver.sniff
