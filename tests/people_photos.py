"""Photos for the identity-photo tests, made with Pillow in memory."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def jpeg(width: int = 320, height: int = 400, *, exif_gps: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), (180, 120, 90))
    for x in range(0, width, 8):
        image.putpixel((x, height // 2), (10, 20, 30))
    out = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "SpyCam Ltd"  # Make
        exif[0x0131] = "where-it-was-taken 51.5N"  # Software
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"
        gps[2] = (51.0, 30.0, 0.0)
        image.save(out, format="JPEG", exif=exif, quality=90)
    else:
        image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def png(width: int = 200, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (20, 160, 90, 255)).save(out, format="PNG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (100, 100)).save(out, format="GIF")
    return out.getvalue()


def png_with_text(text: bytes) -> bytes:
    """A PNG with a tEXt chunk holding `text`, before its IEND."""
    data = png()
    body = b"Comment\x00" + text
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    return data[:-12] + chunk + data[-12:]


def jpeg_with_comment(text: bytes) -> bytes:
    """A JPEG with a COM segment holding `text`, straight after its SOI."""
    data = jpeg()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + data[2:]


def zip_file() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("run.html", "<script>alert(1)</script>")
    return out.getvalue()
