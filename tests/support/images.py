"""Image files for the processing tests and the image benchmark, made in memory.

Photos are textured (gradients, smooth blotches and grain), not flat colour, so a
JPEG of them costs what a real photo costs to decode. The oriented photos carry a
red MARKER in the top-left corner of the UPRIGHT picture; the stored pixels are the
inverse of the EXIF orientation, so a correct reader shows the marker top-left again.
Hostile files (bombs, truncations, junk EXIF) are crafted byte by byte.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction

from PIL import Image, ImageChops, ImageDraw, TiffImagePlugin

MARKER_RGB = (230, 20, 20)
MARKER_FRACTION = 0.2  # of each upright edge

# What makes an upright image look the way a camera stored it with orientation o
# (the inverse of the transpose that a reader applies).
_STORED_FROM_UPRIGHT = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

TAG_ORIENTATION = 0x0112
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
IFD_EXIF = 0x8769
IFD_GPS = 0x8825
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME_ORIGINAL = 0x9011


# --- photos -------------------------------------------------------------------------
def textured(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB picture: gradients, smooth blotches and fine grain.

    Red is kept below the marker's level, so a MARKER block stays identifiable."""
    size = (width, height)
    sigma_big, sigma_fine = 60 + seed % 7, 14
    coarse = (max(2, width // 24), max(2, height // 24))
    blotches = Image.effect_noise(coarse, sigma_big).resize(size, Image.Resampling.BILINEAR)
    horizontal = Image.linear_gradient("L").rotate(90).resize(size)
    radial = Image.radial_gradient("L").resize(size)
    grain = Image.effect_noise(size, sigma_fine)

    def with_grain(channel: Image.Image) -> Image.Image:
        return ImageChops.add(channel, grain, scale=1.0, offset=-128)

    red = with_grain(Image.blend(horizontal, blotches, 0.5)).point(lambda v: v * 0.55)
    green = with_grain(Image.blend(blotches, radial, 0.35))
    blue = with_grain(Image.blend(radial, horizontal, 0.5))
    return Image.merge("RGB", (red, green, blue))


def exif_block(
    orientation: int | None = None,
    make: str | None = None,
    model: str | None = None,
    taken_at: str | None = None,
    offset_time: str | None = None,
    gps: tuple[float, float] | None = None,
) -> Image.Exif:
    """An EXIF block; ``taken_at`` as EXIF writes it ("2024:05:01 12:34:56");
    ``gps`` (lat, lon) in signed decimal degrees, written as D/M/S rationals + refs."""
    exif = Image.Exif()
    if orientation is not None:
        exif[TAG_ORIENTATION] = orientation
    if make is not None:
        exif[TAG_MAKE] = make
    if model is not None:
        exif[TAG_MODEL] = model
    if taken_at is not None or offset_time is not None:
        sub = exif.get_ifd(IFD_EXIF)
        if taken_at is not None:
            sub[TAG_DATETIME_ORIGINAL] = taken_at
        if offset_time is not None:
            sub[TAG_OFFSET_TIME_ORIGINAL] = offset_time
    if gps is not None:
        lat, lon = gps
        block = exif.get_ifd(IFD_GPS)
        block[0] = b"\x02\x03\x00\x00"  # GPSVersionID 2.3
        block[1] = "N" if lat >= 0 else "S"
        block[2] = _dms(abs(lat))
        block[3] = "E" if lon >= 0 else "W"
        block[4] = _dms(abs(lon))
    return exif


def _dms(value: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    """Decimal degrees -> (degrees, minutes, seconds) rationals, seconds in 1/10000."""
    seconds = Fraction(round(value * 3600 * 10000), 10000)
    degrees, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return (
        TiffImagePlugin.IFDRational(int(degrees), 1),
        TiffImagePlugin.IFDRational(int(minutes), 1),
        TiffImagePlugin.IFDRational(seconds.numerator, seconds.denominator),
    )


def oriented_picture(width: int, height: int, orientation: int = 1, seed: int = 0) -> Image.Image:
    """The STORED pixels (width x height, as the header says) of a picture which,
    shown upright per ``orientation``, has the MARKER in its top-left corner."""
    upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    img = textured(*upright, seed=seed)
    draw = ImageDraw.Draw(img)
    mw, mh = max(1, int(upright[0] * MARKER_FRACTION)), max(1, int(upright[1] * MARKER_FRACTION))
    draw.rectangle((0, 0, mw - 1, mh - 1), fill=MARKER_RGB)
    method = _STORED_FROM_UPRIGHT[orientation]
    return img if method is None else img.transpose(method)


def photo_jpeg(
    width: int,
    height: int,
    orientation: int | None = None,
    make: str | None = None,
    model: str | None = None,
    taken_at: str | None = None,
    offset_time: str | None = None,
    gps: tuple[float, float] | None = None,
    quality: int = 90,
    seed: int = 0,
    comment: bytes | None = None,
) -> bytes:
    """A textured JPEG of width x height (stored, header) pixels, with EXIF as given."""
    img = oriented_picture(width, height, orientation or 1, seed=seed)
    exif = exif_block(orientation, make, model, taken_at, offset_time, gps)
    out = io.BytesIO()
    params: dict[str, object] = {"quality": quality}
    if len(exif) or exif.get_ifd(IFD_EXIF) or exif.get_ifd(IFD_GPS):
        params["exif"] = exif.tobytes()
    if comment is not None:
        params["comment"] = comment
    img.save(out, "JPEG", **params)
    return out.getvalue()


def photo_dimensions(megapixels: float, aspect: tuple[int, int] = (4, 3)) -> tuple[int, int]:
    """Landscape dimensions of about ``megapixels`` MP, multiples of 16 (JPEG MCUs)."""
    a, b = aspect
    unit = (megapixels * 1e6 / (a * b)) ** 0.5
    return (max(16, round(unit * a / 16) * 16), max(16, round(unit * b / 16) * 16))


# --- broken and hostile files ---------------------------------------------------------
def truncated_jpeg(width: int = 800, height: int = 600, keep: float = 0.5) -> bytes:
    data = photo_jpeg(width, height)
    return data[: int(len(data) * keep)]


EMPTY = b""
HTML_AS_JPG = b"<!doctype html>\n<html><head><title>Not found</title></head><body>404</body></html>"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A well-formed PNG whose IHDR declares width x height, with a tiny IDAT (one
    compressed empty row): a decompression bomb as far as the header says."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def cmyk_jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    textured(width, height, seed=3).convert("CMYK").save(out, "JPEG", quality=90)
    return out.getvalue()


def grey16_png(width: int = 640, height: int = 480) -> bytes:
    """16-bit grey PNG (opens as mode I;16): a gradient over the whole 0..65535 range."""
    ramp = Image.linear_gradient("L").resize((width, height)).convert("I")
    img = ramp.point(lambda v: v * 257).convert("I;16")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def rgba_png(width: int = 600, height: int = 400) -> bytes:
    """Left half transparent, right half opaque blue."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((width // 2, 0, width - 1, height - 1), fill=(0, 0, 255, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def animated_gif(width: int = 300, height: int = 200, frames: int = 3) -> bytes:
    """Palette frames with a transparent background; frame 0 has a green box top-left,
    later frames a magenta box bottom-right."""
    images: list[Image.Image] = []
    for i in range(frames):
        frame = Image.new("P", (width, height), 0)
        frame.putpalette([0, 0, 0, 0, 200, 0, 200, 0, 200] + [0] * (256 * 3 - 9))
        box = (0, 0, width // 3, height // 3)
        if i:
            box = (width - width // 3, height - height // 3, width - 1, height - 1)
        ImageDraw.Draw(frame).rectangle(box, fill=1 if i == 0 else 2)
        images.append(frame)
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=images[1:],
        duration=100,
        loop=0,
        transparency=0,
        disposal=2,
    )
    return out.getvalue()


def _with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """``jpeg`` with an APP1 segment holding ``payload``, right after SOI."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def corrupt_exif_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A valid TIFF header whose IFD0 says 500 entries, each a tag with a wild type and
    offsets far past the end; IFD0 also links to itself as the next IFD."""
    body = bytearray(b"II*\x00" + struct.pack("<I", 8))
    body += struct.pack("<H", 500)
    for i in range(40):  # only 40 of the 500 entries are there
        body += struct.pack("<HHII", 0x0100 + i, (i % 13) + 1, 0xFFFFFF, 0x7FFFFFF0)
    body += struct.pack("<I", 8)  # next IFD: itself
    return _with_app1(photo_jpeg(width, height), b"Exif\x00\x00" + bytes(body))


def junk_exif_jpeg(width: int = 640, height: int = 480, seed: int = 7) -> bytes:
    """An APP1 'Exif' segment full of pseudo-random junk."""
    junk = bytes((i * 1103515245 + seed * 12345) >> 7 & 0xFF for i in range(4000))
    return _with_app1(photo_jpeg(width, height), b"Exif\x00\x00" + junk)


def flooding_exif_jpeg(width: int = 320, height: int = 240, entries: int = 5000) -> bytes:
    """A well-formed but hostile EXIF: IFD0 with thousands of entries of 999 rationals
    each, all pointing at the same data (tens of millions of reads for a naive reader)."""
    data_offset = 8 + 2 + 12 * entries + 4
    body = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", entries))
    for i in range(entries):
        body += struct.pack("<HHII", 0xC000 + (i % 0x3000), 5, 999, data_offset)
    body += struct.pack("<I", 0)
    body += b"\x01\x00\x00\x00\x01\x00\x00\x00" * 16
    return _with_app1(photo_jpeg(width, height), b"Exif\x00\x00" + bytes(body))


def bmp_file(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, "BMP")
    return out.getvalue()


def heic_head() -> bytes:
    """The start of a HEIC file: an ftyp box (major brand heic, compatible mif1)."""
    ftyp = b"ftyp" + b"heic" + b"\x00\x00\x00\x00" + b"mif1" + b"heic"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + b"\x00" * 64


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def iso(value: str) -> str:
    """EXIF date text -> ISO 8601 (what the processing must report)."""
    return datetime.strptime(value, "%Y:%m:%d %H:%M:%S").isoformat()


def sizes_present(long_edge: int, sizes: Sequence[int] = (1024, 512, 200)) -> list[int]:
    return sorted((s for s in sizes if s <= long_edge), reverse=True)
