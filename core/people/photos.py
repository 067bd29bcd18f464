"""Identity photos: a JPEG or PNG that is only a photo, re-encoded without its metadata.

Reception uploads a photo from a camera or a scanner. Before anything is
stored it must be, byte for byte, one image of the type it claims and nothing
else: a file that also parses as something else (a "polyglot": a PDF, a ZIP or
a script riding in a comment segment or after the image's end) is refused, not
cleaned, so the person uploading learns that the file is not what they think.
What is stored is never the upload: the pixels are decoded by Pillow, turned
upright by their EXIF orientation, scaled to at most `MAX_SIDE` and written as
a fresh JPEG, so no EXIF (location, camera serial, time), ICC profile or
comment survives.

Decoding is CPU work: call `clean_photo` in a worker thread.
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import Code, ServiceError

MAX_SIDE = 600
MIN_SIDE = 64
MAX_PIXELS = 40_000_000
TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
SIGNATURES = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n"}
# Other formats' openings, and markup a browser would run: none belongs in a photo.
FOREIGN = (
    b"%pdf-",
    b"pk\x03\x04",
    b"pk\x05\x06",
    b"rar!\x1a\x07",
    b"7z\xbc\xaf\x27\x1c",
    b"\x7felf",
    b"gif87a",
    b"gif89a",
    b"<script",
    b"<html",
    b"<svg",
    b"<?php",
    b"<!doctype",
    b"<?xml",
    b"javascript:",
)

NOT_AN_IMAGE = "A photo is a JPEG or PNG image."
POLYGLOT = "This file holds more than a photo. Save the photo again as a plain JPEG or PNG."
TOO_SMALL = f"A photo is at least {MIN_SIDE} pixels on each side."
TOO_MANY_PIXELS = "The photo has too many pixels. Save it at a smaller size."
# Each refusal's `reason`, for the page to say it in its own language.
NOT_IMAGE = {"reason": "not_an_image"}
MANY_PIXELS = {"reason": "too_many_pixels"}


def _refuse_polyglot() -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, POLYGLOT, extra={"reason": "polyglot"})


def _png_parts(data: bytes) -> tuple[int, list[bytes]]:
    """Where the PNG's IEND chunk ends, and every chunk but the pixel data (IDAT)."""
    i = len(SIGNATURES["PNG"])
    other: list[bytes] = []
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        if kind != b"IDAT":
            other.append(data[i + 4 : i + 8 + length])
        i += 12 + length
        if kind == b"IEND":
            return i, other
    raise _refuse_polyglot()


def _jpeg_parts(data: bytes) -> tuple[int, list[bytes]]:
    """Where the JPEG's end-of-image marker ends, and every segment (not the scans' data)."""
    i, n = 2, len(data)
    other: list[bytes] = []
    while i + 1 < n:
        if data[i] != 0xFF:
            raise _refuse_polyglot()
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xD9:
            return i + 2, other
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if i + 4 > n:
            break
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            raise _refuse_polyglot()
        other.append(data[i + 4 : i + 2 + length])
        i += 2 + length
        if marker == 0xDA:
            # Entropy-coded data: runs to the next marker that is not a stuffed
            # zero or a restart.
            while True:
                i = data.find(b"\xff", i)
                if i < 0 or i + 1 >= n:
                    raise _refuse_polyglot()
                follower = data[i + 1]
                if follower == 0x00 or 0xD0 <= follower <= 0xD7:
                    i += 2
                    continue
                break
    raise _refuse_polyglot()


def clean_photo(data: bytes, content_type: str) -> bytes:
    """The photo as a metadata-free JPEG, or a `ServiceError` saying what is wrong with it."""
    expected = TYPES.get(content_type.split(";")[0].strip().lower())
    if expected is None or not data.startswith(SIGNATURES.get(expected, b"\x00")):
        raise ServiceError(Code.UNSUPPORTED_MEDIA_TYPE, NOT_AN_IMAGE, extra=NOT_IMAGE)
    end, segments = _png_parts(data) if expected == "PNG" else _jpeg_parts(data)
    if end != len(data):
        raise _refuse_polyglot()
    # Compressed pixels are not searched (any four bytes turn up in a few megabytes of
    # them); a reader of another format looks in the opening kilobyte or at the end.
    for part in (data[:1024], *segments):
        lowered = part.lower()
        if any(sig in lowered for sig in FOREIGN):
            raise _refuse_polyglot()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ServiceError(Code.BODY_TOO_LARGE, TOO_MANY_PIXELS, extra=MANY_PIXELS)
                if min(width, height) < MIN_SIDE:
                    raise ServiceError(
                        Code.INVALID_REQUEST, TOO_SMALL, extra={"reason": "too_small"}
                    )
                if expected == "JPEG":
                    # Decode at a reduced scale (a JPEG can, for free): the stored photo is small.
                    image.draft("RGB", (MAX_SIDE * 2, MAX_SIDE * 2))
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                pixels = upright.convert("RGB")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ServiceError(Code.BODY_TOO_LARGE, TOO_MANY_PIXELS, extra=MANY_PIXELS) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ServiceError(Code.UNSUPPORTED_MEDIA_TYPE, NOT_AN_IMAGE, extra=NOT_IMAGE) from None
    pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=88, optimize=True)
    return out.getvalue()
