"""The image-processing core: bytes in, a validated result out. No AWS here.

``process(data)`` sniffs the format from the magic bytes (never from the name or
the declared content type), reads the dimensions from the header and enforces the
pixel cap BEFORE anything is decoded, decodes once (JPEG at a reduced DCT scale
chosen for the largest thumbnail), and builds the thumbnails as a cascade (each
from the previous, larger one). EXIF (make, model, takenAt, orientation, GPS) is
read with exifread from the first 64 KB only; bad EXIF never fails an image.

Cold start rule: PIL and exifread are imported inside the functions that use them,
so importing this module costs only the standard library. Module-level imports
stay stdlib.

Not thread-safe: ``PIL.Image.MAX_IMAGE_PIXELS`` and the warnings filters are
process-wide, and are set for the duration of a call (a Lambda process handles
one event at a time).
"""

from __future__ import annotations

import builtins
import contextlib
import io
import logging
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:  # typing only: no import at run time
    from PIL import Image as PILImage

__all__ = [
    "ALLOWED_FORMATS",
    "EXIF_READ_LIMIT",
    "ExifInfo",
    "Gps",
    "ProcessingError",
    "Result",
    "process",
    "sniff",
]

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
_ALLOWED_TEXT = "JPEG, PNG, WebP, GIF, TIFF"
EXIF_READ_LIMIT = 65536  # exifread only ever sees the first 64 KB
_EXIF_READ_BUDGET = 20_000  # reads of the EXIF buffer; a camera's EXIF needs a few hundred
_EXIFREAD_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF", "HEIC"})  # GIF has no EXIF

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
_HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_VIDEO_BRANDS = frozenset({b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5"})

_RESAMPLE_NAME = "LANCZOS"
_GAP = 2.0  # reducing_gap: a fast box reduction first when the ratio is >= 4 (PNG, TIFF...)

# Orientation -> the transpose that makes the image upright: ImageOps.exif_transpose's
# table, applied to the largest thumbnail instead of the decoded image (a fraction of
# the pixels), with the orientation read once and shared with width and height.
_UPRIGHT_METHOD = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


class ProcessingError(Exception):
    """The file is not a usable image; ``reason`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Gps(TypedDict):
    lat: float
    lon: float


class ExifInfo(TypedDict):
    make: str | None
    model: str | None
    takenAt: str | None  # camelCase: the API key
    orientation: int | None
    gps: Gps | None


def empty_exif() -> ExifInfo:
    return {"make": None, "model": None, "takenAt": None, "orientation": None, "gps": None}


@dataclass
class Result:
    format: str  # one of ALLOWED_FORMATS (PIL's names: "WEBP", not "WebP")
    width: int  # upright: after the EXIF orientation (swapped for 5-8)
    height: int
    bytes: int  # size of the input
    thumbnails: dict[int, builtins.bytes] = field(default_factory=dict)  # long edge -> JPEG
    exif: ExifInfo = field(default_factory=empty_exif)


# --- sniffing ----------------------------------------------------------------------
def sniff(head: bytes) -> str | None:
    """The image format from the magic bytes, or None.

    Returns one of ALLOWED_FORMATS, or "HEIC", "AVIF", "BMP", "JXL", "PSD", "ICO"
    (recognised, not allowed), or None when the bytes are not a known image.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF
        return "TIFF"
    brands = _ftyp_brands(head)
    if brands:
        if brands[0] in _AVIF_BRANDS:
            return "AVIF"
        if any(b in _HEIC_BRANDS for b in brands):
            return "HEIC"
        if any(b in _AVIF_BRANDS for b in brands):
            return "AVIF"
        if any(b in _HEIF_GENERIC_BRANDS for b in brands):
            return "HEIC"
        return None
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "JXL"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "BMP"
    if head[:4] == b"8BPS":
        return "PSD"
    if head[:4] == b"\x00\x00\x01\x00" and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "ICO"
    return None


def _ftyp_brands(head: bytes) -> list[bytes]:
    """ISO-BMFF ``ftyp`` brands (major first), or [] when the file has no ftyp box."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return []
    box_size = int.from_bytes(head[0:4], "big")
    end = min(box_size if box_size >= 16 else 16, len(head))
    brands = [head[8:12]]  # major brand; head[12:16] is the minor version
    brands += [head[i : i + 4] for i in range(16, end - 3, 4)]
    return brands


def _describe_unknown(head: bytes) -> str:
    """Why a file with no known image signature is rejected."""
    text = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return "not an image: the file starts like HTML"
    if b"<svg" in text:
        return f"unsupported format: SVG (allowed: {_ALLOWED_TEXT})"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "not an image: the file starts like XML"
    if head.startswith(b"%PDF-"):
        return "not an image: the file starts like PDF"
    if head.startswith(b"PK\x03\x04"):
        return "not an image: the file starts like a ZIP archive"
    if _ftyp_brands(head)[:1] and any(b in _VIDEO_BRANDS for b in _ftyp_brands(head)):
        return "not an image: the file starts like an MP4/QuickTime video"
    if text.startswith((b"{", b"[")):
        return "not an image: the file starts like JSON"
    try:
        sample = head[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "not an image: unrecognised file signature"
    if sample.isprintable() or all(c.isprintable() or c in "\r\n\t" for c in sample):
        return "not an image: the file looks like text"
    return "not an image: unrecognised file signature"


# --- the pixel cap -----------------------------------------------------------------
def _megapixels(pixels: int) -> str:
    """900 MP, 120 MP, 24.2 MP, 0.05 MP."""
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 100 else f"{mp:.3g}"


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"image too large: {width}x{height} is {_megapixels(width * height)} MP, "
        f"the limit is {_megapixels(max_pixels)} MP"
    )


@contextlib.contextmanager
def _pil_limits(max_pixels: int | None) -> Iterator[None]:
    """PIL's own bomb check agrees with ``max_pixels``, and its warning is an error.

    PIL's UserWarnings ("Corrupt EXIF data", "Truncated File Read"...) are about the
    untrusted file, which is judged here anyway: they are silenced, not logged."""
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _declared_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """The header's dimensions with PIL's cap lifted (header only: nothing is decoded).

    Only called after PIL refused the image as too large, to say how large it is."""
    from PIL import Image

    with _pil_limits(None):
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                return img.size
        except Exception:  # noqa: BLE001 - best effort, for the message only
            return None


def _bomb_reason(data: bytes, fmt: str, exc: Exception, max_pixels: int) -> str:
    size = _declared_size(data, fmt)
    if size is not None:
        return _too_large(size[0], size[1], max_pixels)
    match = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{_megapixels(int(match.group(1)))} MP" if match else "the image"
    return f"image too large: {pixels} is over the limit of {_megapixels(max_pixels)} MP"


# --- EXIF --------------------------------------------------------------------------
class _ExifBudgetExceeded(Exception):
    """Hostile EXIF (e.g. thousands of IFD entries, each with hundreds of rationals)."""


class _BudgetedReader(io.BytesIO):
    """exifread reads every value with seek + read: cap the number of reads, so that a
    crafted EXIF block cannot keep it busy for minutes."""

    def __init__(self, data: bytes, budget: int) -> None:
        super().__init__(data)
        self._left = budget

    def read(self, size: int | None = -1, /) -> bytes:
        self._left -= 1
        if self._left < 0:
            raise _ExifBudgetExceeded
        return super().read(size)


def read_exif(data: bytes, fmt: str | None = None) -> ExifInfo:
    """make, model, takenAt, orientation and gps from the first 64 KB. Never raises."""
    fmt = fmt or sniff(data[:32])
    if fmt not in _EXIFREAD_FORMATS:
        return empty_exif()
    import exifread

    logging.getLogger("exifread").setLevel(logging.ERROR)  # corrupt EXIF is not news
    try:
        tags = exifread.process_file(
            _BudgetedReader(data[:EXIF_READ_LIMIT], _EXIF_READ_BUDGET),
            details=False,
            extract_thumbnail=False,
        )
        return _exif_from_tags(tags)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - any failure in a third-party parser of hostile bytes
        return empty_exif()


def _exif_from_tags(tags: dict[str, Any]) -> ExifInfo:
    info = empty_exif()
    info["make"] = _text(tags.get("Image Make"))
    info["model"] = _text(tags.get("Image Model"))
    info["takenAt"] = _taken_at(
        _text(tags.get("EXIF DateTimeOriginal")), _text(tags.get("EXIF OffsetTimeOriginal"))
    )
    orientation = _first_int(tags.get("Image Orientation"))
    info["orientation"] = orientation if orientation in range(1, 9) else None
    lat = _gps_coordinate(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef"), 90)
    lon = _gps_coordinate(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef"), 180)
    if lat is not None and lon is not None:
        info["gps"] = {"lat": lat, "lon": lon}
    return info


def _values(tag: Any) -> Any:
    return getattr(tag, "values", None)


def _text(tag: Any) -> str | None:
    value = _values(tag)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value[:200] or None


def _first_int(tag: Any) -> int | None:
    value = _values(tag)
    if isinstance(value, list) and value and isinstance(value[0], int):
        return int(value[0])
    return None


_OFFSET = re.compile(r"^[+-](?:[01]\d|2[0-3]):[0-5]\d$")


def _taken_at(value: str | None, offset: str | None) -> str | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" -> ISO 8601, with the UTC offset when EXIF has one."""
    if not value:
        return None
    try:
        when = datetime.strptime(value[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    iso = when.isoformat()
    if offset and _OFFSET.match(offset):
        iso += offset
    return iso


def _gps_coordinate(tag: Any, ref_tag: Any, limit: int) -> float | None:
    """Degrees, minutes, seconds (rationals) and a ref (N/S/E/W) -> signed decimal."""
    values = _values(tag)
    ref = (_text(ref_tag) or "").upper()[:1]
    if not isinstance(values, list) or not 1 <= len(values) <= 3 or ref not in ("N", "S", "E", "W"):
        return None
    parts: list[float] = []
    for value in values:
        numerator = getattr(value, "numerator", value)
        denominator = getattr(value, "denominator", 1)
        if not isinstance(numerator, int) or not isinstance(denominator, int) or denominator == 0:
            return None
        parts.append(numerator / denominator)
    parts += [0.0] * (3 - len(parts))
    degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
    if not math.isfinite(degrees) or not 0 <= degrees <= limit or min(parts) < 0:
        return None
    return round(-degrees if ref in ("S", "W") else degrees, 7)


# --- decoding and thumbnails --------------------------------------------------------
def _heif_opener_available() -> bool:
    """HEIC is accepted only when a decoder (pillow-heif) happens to be installed."""
    try:
        import pillow_heif  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _orientation(img: PILImage.Image) -> int | None:
    """The orientation PIL sees (EXIF, or XMP when EXIF has none); None when absent,
    invalid or unreadable (the image is then taken as upright)."""
    try:
        value = img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - corrupt EXIF: treat as upright
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _to_rgb(img: PILImage.Image) -> PILImage.Image:
    """Any mode -> RGB; transparency is flattened on white."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        img = _to_8bit(img)
        mode = img.mode
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        mode in ("P", "L", "1") and "transparency" in img.info
    )
    if not has_alpha:
        return img.convert("RGB")
    rgba = img.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _to_8bit(img: PILImage.Image) -> PILImage.Image:
    """16/32-bit grey (and float) -> L, scaled rather than clipped."""
    if img.mode.startswith("I;16"):
        scale, offset = 1 / 256, 0.0
        img = img.convert("I")
    else:
        low, high = img.getextrema()
        assert isinstance(low, int | float) and isinstance(high, int | float)
        if low >= 0 and high <= 255:
            scale, offset = 1.0, 0.0
        elif low >= 0 and high <= 65535:
            scale, offset = 1 / 256, 0.0
        else:
            scale = 255 / (high - low) if high > low else 1.0
            offset = -low * scale
    return img.point(lambda v: v * scale + offset).convert("L")


def _target(width: int, height: int, size: int) -> tuple[int, int]:
    """The dimensions whose long edge is exactly ``size``, aspect kept."""
    long_edge = max(width, height)
    w = max(1, round(width * size / long_edge))
    h = max(1, round(height * size / long_edge))
    return (size, h) if width >= height else (w, size)


def _icc_for_rgb(img: PILImage.Image) -> bytes | None:
    """The source's ICC profile when it describes RGB (a CMYK or grey one would not
    fit the RGB thumbnail). Colour profiles are not personal data; EXIF is not kept."""
    icc = img.info.get("icc_profile")
    if isinstance(icc, bytes) and len(icc) >= 20 and icc[16:20] == b"RGB ":
        return icc
    return None


def _allowed_format(data: bytes) -> str:
    """The format ``data`` really is (magic bytes), or ProcessingError."""
    if not data:
        raise ProcessingError("empty file")
    fmt = sniff(data[:64])
    if fmt is None:
        raise ProcessingError(_describe_unknown(data[:512]))
    if fmt == "HEIC" and not _heif_opener_available():
        raise ProcessingError(
            f"unsupported format: HEIC (no HEIC decoder is installed; allowed: {_ALLOWED_TEXT})"
        )
    if fmt not in ALLOWED_FORMATS and fmt != "HEIC":
        raise ProcessingError(f"unsupported format: {fmt} (allowed: {_ALLOWED_TEXT})")
    return fmt


def _decode(
    img: PILImage.Image, fmt: str, largest: int | None, max_pixels: int
) -> tuple[PILImage.Image, bytes | None]:
    """One decode; a JPEG at the smallest DCT scale that still covers the
    largest thumbnail (draft picks a scale >= the requested size)."""
    from PIL import Image

    width, height = img.size
    try:
        if fmt == "JPEG" and largest:
            img.draft("RGB", _target(width, height, largest))
        img.load()  # open() is at frame 0: the first frame of an animation or a TIFF
        return _to_rgb(img), _icc_for_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ProcessingError(_too_large(width, height, max_pixels)) from None
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - decoder failure on untrusted bytes
        raise ProcessingError(f"truncated or corrupt {fmt}") from None


def _cascade(
    decoded: PILImage.Image,
    size_of: tuple[int, int],
    orientation: int | None,
    wanted: list[int],
    icc: bytes | None,
    quality: int,
) -> dict[int, bytes]:
    """The largest thumbnail from the decoded image, each next from the
    previous; the orientation is applied once, to the largest (the cheapest
    place). ``size_of`` is the stored (not yet upright) width and height."""
    from PIL import Image

    width, height = size_of
    upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    resample = Image.Resampling[_RESAMPLE_NAME]
    thumbnails: dict[int, bytes] = {}
    source = decoded
    for index, size in enumerate(wanted):
        if index == 0:
            thumb = source.resize(_target(width, height, size), resample, reducing_gap=_GAP)
            if orientation is not None and orientation != 1:
                thumb = thumb.transpose(Image.Transpose[_UPRIGHT_METHOD[orientation]])
        else:
            thumb = source.resize(_target(*upright, size), resample, reducing_gap=_GAP)
        thumb.info = {}  # nothing of the source's metadata (EXIF, XMP, comments) is kept
        out = io.BytesIO()
        thumb.save(out, "JPEG", quality=quality, optimize=False, icc_profile=icc)
        thumbnails[size] = out.getvalue()
        source = thumb
    return thumbnails


def process(
    data: bytes,
    sizes: Sequence[int] = (1024, 512, 200),
    max_pixels: int = 100_000_000,
    quality: int = 85,
) -> Result:
    """Validate ``data`` and make its thumbnails (JPEG, long edge = each size).

    Raises ProcessingError (with a reason for people) for anything that is not a
    usable image: empty, not an image, a format not allowed, over ``max_pixels``,
    truncated or corrupt. Bad EXIF never fails an image: its fields are None.
    """
    if any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be positive integers: {sizes!r}")
    fmt = _allowed_format(data)

    from PIL import Image

    corrupt = f"truncated or corrupt {fmt}"
    with _pil_limits(max_pixels):
        # The header only: dimensions, then the cap, before any pixel is decoded.
        try:
            img = Image.open(io.BytesIO(data), formats=[fmt])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ProcessingError(_bomb_reason(data, fmt, exc, max_pixels)) from None
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - any parser failure on untrusted bytes
            raise ProcessingError(corrupt) from None
        with img:
            width, height = img.size
            if width < 1 or height < 1:
                raise ProcessingError(corrupt)
            if width * height > max_pixels:
                raise ProcessingError(_too_large(width, height, max_pixels))
            orientation = _orientation(img)
            upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            wanted = sorted({s for s in sizes if s <= max(width, height)}, reverse=True)
            decoded, icc = _decode(img, fmt, wanted[0] if wanted else None, max_pixels)
            # Inside ``with img``: ``decoded`` may be ``img`` itself.
            thumbnails = _cascade(decoded, (width, height), orientation, wanted, icc, quality)

    exif = read_exif(data, fmt)
    # The orientation reported is the one applied (PIL's reading, which also knows XMP),
    # so that it always agrees with width, height and the thumbnails.
    exif["orientation"] = orientation
    return Result(
        format=fmt,
        width=upright[0],
        height=upright[1],
        bytes=len(data),
        thumbnails=thumbnails,
        exif=exif,
    )
