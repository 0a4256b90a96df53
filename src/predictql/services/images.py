"""Uploaded images (avatars, event images) are kept only when the whole file is the image it claims.

Two checks, because each misses what the other catches. The container walk below follows the
format's own structure (PNG chunks, JPEG segments and scans, GIF blocks, the RIFF size of WebP) and
requires it to end exactly at the last byte, so nothing (an HTML page, a script) rides behind a valid
header. Pillow then decodes the pixels, bounded in size, so a well-formed shell with broken image
data is refused too.
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image

MAX_PIXELS = 40_000_000  # a decoding bomb costs bounded memory: 40 Mpx x 4 bytes at most
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PILLOW_FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP"}


class NotAnImage(ValueError):
    """The bytes are not (only) a PNG, JPEG, GIF or WebP image."""


def image_type(content: bytes, allowed: tuple[str, ...] = ("png", "jpg", "gif", "webp")) -> str:
    """The file's extension (``png``/``jpg``/``gif``/``webp``) when it is entirely one valid image."""
    kind = _claimed(content)
    if kind is None or kind not in allowed:
        raise NotAnImage(f"not a {', '.join(allowed)} file")
    end = _WALKERS[kind](content)
    if end != len(content):
        raise NotAnImage(f"{len(content) - end} bytes after the end of the {kind} image")
    _decode(content, _PILLOW_FORMATS[kind])
    return kind


def _claimed(content: bytes) -> str | None:
    if content.startswith(PNG_MAGIC):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    return None


def _need(content: bytes, end: int) -> None:
    if end > len(content):
        raise NotAnImage("truncated image")


def _png_end(content: bytes) -> int:
    at = len(PNG_MAGIC)
    while True:
        _need(content, at + 8)
        length = int.from_bytes(content[at : at + 4], "big")
        kind = content[at + 4 : at + 8]
        at += 12 + length  # length, type, data, CRC
        _need(content, at)
        if kind == b"IEND":
            return at


_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length


def _jpeg_end(content: bytes) -> int:
    at = 2  # after SOI
    while True:
        at = _next_marker(content, at)
        marker = content[at + 1]
        at += 2
        if marker == 0xD9:  # EOI
            return at
        if marker in _STANDALONE:
            continue
        _need(content, at + 2)
        at += int(struct.unpack(">H", content[at : at + 2])[0])
        _need(content, at)
        if marker == 0xDA:  # SOS: entropy-coded data follows, up to the next real marker
            at = _scan_end(content, at)


def _next_marker(content: bytes, at: int) -> int:
    _need(content, at + 2)
    if content[at] != 0xFF:
        raise NotAnImage("JPEG segment expected")
    while content[at + 1] == 0xFF:  # fill bytes
        at += 1
        _need(content, at + 2)
    return at


def _scan_end(content: bytes, at: int) -> int:
    while True:
        at = content.find(b"\xff", at)
        if at < 0 or at + 1 >= len(content):
            raise NotAnImage("truncated JPEG scan")
        following = content[at + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            at += 1  # stuffed byte, restart marker or fill: still scan data
            continue
        return at


def _gif_end(content: bytes) -> int:
    _need(content, 13)
    flags = content[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while True:
        _need(content, at + 1)
        block = content[at]
        if block == 0x3B:  # trailer
            return at + 1
        if block == 0x21:  # extension: label, then sub-blocks
            at = _sub_blocks(content, at + 2)
        elif block == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            _need(content, at + 10)
            local = content[at + 9]
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            at = _sub_blocks(content, at + 1)
        else:
            raise NotAnImage("unknown GIF block")


def _sub_blocks(content: bytes, at: int) -> int:
    while True:
        _need(content, at + 1)
        size = content[at]
        at += 1 + size
        if size == 0:
            return at


def _webp_end(content: bytes) -> int:
    _need(content, 12)
    size = int(struct.unpack("<I", content[4:8])[0])
    return 8 + size  # the RIFF size covers every chunk after it, padding included


_WALKERS = {"png": _png_end, "jpg": _jpeg_end, "gif": _gif_end, "webp": _webp_end}


def _decode(content: bytes, expected: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[expected]) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise NotAnImage("image too large in pixels")
                image.verify()
            with Image.open(io.BytesIO(content), formats=[expected]) as image:
                image.load()  # verify() checks structure and CRCs; load() decodes the pixels
    except NotAnImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAnImage(f"the {expected} data does not decode") from exc
