"""The image-processing core on generated files: every file ends with a correct
Result or a ProcessingError with a reason people can read."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile

from chalicelib.images import processing
from chalicelib.images.processing import ProcessingError, process, sniff
from tests.support import images as fx

ROOT = Path(__file__).resolve().parents[3]
SIZES = (1024, 512, 200)
ALLOWED = "(allowed: JPEG, PNG, WebP, GIF, TIFF)"


def thumbnail(result: processing.Result, size: int) -> Image.Image:
    img = Image.open(io.BytesIO(result.thumbnails[size]))
    img.load()
    return img


def px(img: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = img.getpixel(xy)
    assert isinstance(value, tuple)
    return tuple(int(v) for v in value)


def is_marker(rgb: tuple[int, ...]) -> bool:
    r, g, b = rgb[:3]
    return r > 180 and g < 90 and b < 90


def reason_of(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(ProcessingError) as caught:
        process(data, **kwargs)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# --- sniffing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"GIF87a\x01\x00\x01\x00", "GIF"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"II*\x00\x08\x00\x00\x00", "TIFF"),
        (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"\x00\x00\x00\x18ftypheix\x00\x00\x00\x00mif1heix", "HEIC"),
        (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1", "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "AVIF"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", None),
        (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00", "BMP"),
        (b"<!doctype html>", None),
        (b"%PDF-1.7\n", None),
        (b"", None),
        (b"\xff\xd8", None),  # too short to be sure
    ],
)
def test_sniff_reads_the_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_the_name_and_declared_type_play_no_part() -> None:
    png = fx.encode(fx.textured(300, 200), "PNG")
    result = process(png)  # whatever the upload was called, the bytes are a PNG
    assert result.format == "PNG"


# --- orientation ------------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", range(1, 9))
def test_thumbnails_are_upright_for_every_orientation(orientation: int) -> None:
    stored = (1280, 800)  # what the header says
    data = fx.photo_jpeg(*stored, orientation=orientation)
    result = process(data)

    upright = (800, 1280) if orientation >= 5 else (1280, 800)
    assert (result.width, result.height) == upright
    assert result.exif["orientation"] == orientation
    assert sorted(result.thumbnails) == [200, 512, 1024]
    for size in SIZES:
        img = thumbnail(result, size)
        assert max(img.size) == size
        assert (img.width > img.height) == (upright[0] > upright[1])
        w, h = img.size
        inset_x, inset_y = max(2, w // 20), max(2, h // 20)  # inside the marker (20%)
        assert is_marker(px(img, (inset_x, inset_y))), (orientation, size)
        for corner in ((w - 1 - inset_x, inset_y), (inset_x, h - 1 - inset_y)):
            assert not is_marker(px(img, corner)), (orientation, size, corner)
        assert not is_marker(px(img, (w - 1 - inset_x, h - 1 - inset_y)))


# --- sizes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ((1100, 700), [1024, 512, 200]),
        ((700, 1100), [1024, 512, 200]),
        ((1024, 600), [1024, 512, 200]),  # exactly 1024: kept, not enlarged
        ((900, 600), [512, 200]),
        ((512, 300), [512, 200]),
        ((300, 511), [200]),
        ((199, 120), []),
    ],
)
def test_sizes_are_exact_long_edges_and_never_enlarged(
    stored: tuple[int, int], expected: list[int]
) -> None:
    data = fx.photo_jpeg(*stored)
    result = process(data)
    assert sorted(result.thumbnails, reverse=True) == expected
    for size in expected:
        img = thumbnail(result, size)
        assert max(img.size) == size
        ratio = stored[0] / stored[1]
        assert img.width / img.height == pytest.approx(ratio, rel=0.02)
    assert (result.width, result.height) == stored
    assert result.bytes == len(data)


def test_custom_sizes_in_any_order() -> None:
    result = process(fx.photo_jpeg(1000, 800), sizes=(100, 640, 320))
    assert {s: max(thumbnail(result, s).size) for s in result.thumbnails} == {
        640: 640,
        320: 320,
        100: 100,
    }


@pytest.mark.parametrize("sizes", [(0,), (-5, 200), (200.5,)])
def test_bad_sizes_are_a_programming_error(sizes: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="sizes"):
        process(fx.photo_jpeg(300, 200), sizes=sizes)  # type: ignore[arg-type]


# --- thumbnails carry nothing of the original's metadata --------------------------------------
def test_thumbnails_are_rgb_jpegs_without_exif_gps_or_comments() -> None:
    data = fx.photo_jpeg(
        1200,
        900,
        orientation=6,
        make="Canon",
        model="EOS R5",
        taken_at="2024:05:01 12:34:56",
        gps=(52.52, 13.405),
        comment=b"shot at home, 12 Privet Drive",
    )
    result = process(data)
    for size in SIZES:
        raw = result.thumbnails[size]
        assert raw[:3] == b"\xff\xd8\xff"
        img = thumbnail(result, size)
        assert img.format == "JPEG"
        assert img.mode == "RGB"
        assert dict(img.getexif()) == {}
        assert "exif" not in img.info
        assert "comment" not in img.info
        assert b"Exif\x00\x00" not in raw
        assert b"Privet" not in raw


# --- EXIF -------------------------------------------------------------------------------------
def test_exif_make_model_taken_at_and_gps_north_east() -> None:
    data = fx.photo_jpeg(
        640,
        480,
        make="Canon",
        model="EOS R5",
        taken_at="2024:05:01 12:34:56",
        gps=(52.5200, 13.4050),  # Berlin: 52 deg 31' 12" N, 13 deg 24' 18" E
    )
    exif = process(data).exif
    assert exif["make"] == "Canon"
    assert exif["model"] == "EOS R5"
    assert exif["takenAt"] == "2024-05-01T12:34:56"
    assert exif["orientation"] is None
    assert exif["gps"] is not None
    assert exif["gps"]["lat"] == pytest.approx(52.5200, abs=1e-6)
    assert exif["gps"]["lon"] == pytest.approx(13.4050, abs=1e-6)


def test_exif_gps_south_west_is_negative_and_offset_is_kept() -> None:
    data = fx.photo_jpeg(
        640,
        480,
        taken_at="2023:12:31 23:59:58",
        offset_time="-03:00",
        gps=(-22.9068, -43.1729),  # Rio de Janeiro
    )
    exif = process(data).exif
    gps = exif["gps"]
    assert gps is not None
    assert gps["lat"] == pytest.approx(-22.9068, abs=1e-6)
    assert gps["lon"] == pytest.approx(-43.1729, abs=1e-6)
    assert exif["takenAt"] == "2023-12-31T23:59:58-03:00"


def test_no_exif_is_all_none() -> None:
    result = process(fx.encode(fx.textured(400, 300), "JPEG"))
    assert result.exif == processing.empty_exif()


@pytest.mark.parametrize(
    "make_file",
    [fx.corrupt_exif_jpeg, fx.junk_exif_jpeg],
    ids=["corrupt-exif", "junk-exif"],
)
def test_bad_exif_never_fails_the_image(make_file) -> None:
    result = process(make_file())
    assert (result.format, result.width, result.height) == ("JPEG", 640, 480)
    assert sorted(result.thumbnails) == [200, 512]
    assert result.exif == processing.empty_exif()


def test_hostile_exif_is_cut_short() -> None:
    """5,000 entries of 999 rationals: about 40 s for exifread alone; the read budget
    gives up after a fraction of a second and the image still processes."""
    data = fx.flooding_exif_jpeg()
    started = time.perf_counter()
    result = process(data)
    assert time.perf_counter() - started < 3
    assert result.exif == processing.empty_exif()
    assert sorted(result.thumbnails) == [200]


def test_exif_beyond_the_first_64_kb_is_not_read() -> None:
    jpeg = fx.photo_jpeg(320, 240, make="Far")
    app2 = b"\xff\xe2" + (65533).to_bytes(2, "big") + b"\x00" * 65531
    data = jpeg[:2] + app2 + app2 + jpeg[2:]  # pushes the EXIF past 128 KB
    assert processing.read_exif(data)["make"] is None
    assert processing.read_exif(jpeg)["make"] == "Far"


@pytest.mark.parametrize(
    ("values", "ref", "expected"),
    [
        ([(52, 1), (31, 1), (12, 1)], "N", 52.52),
        ([(33, 1), (5175, 100), (0, 1)], "S", -33.8625),
        ([(10, 1)], "W", -10.0),
        ([(52, 1), (31, 0), (12, 1)], "N", None),  # zero denominator
        ([(52, 1), (31, 1), (12, 1)], "", None),  # no ref: the hemisphere is unknown
        ([(91, 1), (0, 1), (0, 1)], "N", None),  # out of range
    ],
)
def test_gps_conversion(values, ref: str, expected: float | None) -> None:
    from exifread.utils import Ratio

    class Tag:
        def __init__(self, value: object) -> None:
            self.values = value

    tag = Tag([Ratio(n, d) for n, d in values])
    got = processing._gps_coordinate(tag, Tag(ref), 90)
    assert got == (None if expected is None else pytest.approx(expected, abs=1e-9))


# --- files that are not usable images ---------------------------------------------------------
def test_empty_file() -> None:
    assert reason_of(fx.EMPTY) == "empty file"


def test_html_named_jpg() -> None:
    assert reason_of(fx.HTML_AS_JPG) == "not an image: the file starts like HTML"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "not an image: the file starts like PDF"),
        (b"PK\x03\x04\x14\x00\x00\x00", "not an image: the file starts like a ZIP archive"),
        (b"hello, world\n", "not an image: the file looks like text"),
        (b"\x00\x01\x02\x03\xfe\xfd\xfc", "not an image: unrecognised file signature"),
    ],
)
def test_other_non_images(data: bytes, reason: str) -> None:
    assert reason_of(data) == reason


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_jpeg(keep: float) -> None:
    assert reason_of(fx.truncated_jpeg(keep=keep)) == "truncated or corrupt JPEG"


def test_jpeg_cut_inside_its_header() -> None:
    assert reason_of(fx.photo_jpeg(320, 240)[:120]) == "truncated or corrupt JPEG"


def test_bmp_is_not_allowed() -> None:
    assert reason_of(fx.bmp_file()) == f"unsupported format: BMP {ALLOWED}"


def test_heic_without_a_decoder() -> None:
    # pillow-heif is not a dependency (requirements.txt); HEIC gets a clear reason.
    import importlib.util

    assert importlib.util.find_spec("pillow_heif") is None
    reason = reason_of(fx.heic_head())
    assert reason.startswith("unsupported format: HEIC")
    assert "allowed: JPEG, PNG, WebP, GIF, TIFF" in reason


class LoadSpy:
    def __init__(self) -> None:
        self.calls = 0


@pytest.fixture
def load_spy(monkeypatch: pytest.MonkeyPatch) -> LoadSpy:
    spy = LoadSpy()
    original = ImageFile.ImageFile.load

    def counting_load(self):
        spy.calls += 1
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    return spy


def test_png_declaring_30000_by_30000_fails_before_decoding(load_spy: LoadSpy) -> None:
    data = fx.png_declaring(30000, 30000)
    assert len(data) < 200
    reason = reason_of(data)
    assert reason == "image too large: 30000x30000 is 900 MP, the limit is 100 MP"
    assert load_spy.calls == 0


def test_120_mp_png_fails_before_decoding(load_spy: LoadSpy) -> None:
    """Between the limit and twice the limit PIL only warns: the warning is an error."""
    reason = reason_of(fx.png_declaring(12000, 10000))
    assert reason == "image too large: 12000x10000 is 120 MP, the limit is 100 MP"
    assert load_spy.calls == 0


def test_the_pixel_cap_is_a_parameter(load_spy: LoadSpy) -> None:
    reason = reason_of(fx.photo_jpeg(400, 300), max_pixels=100_000)
    assert reason == "image too large: 400x300 is 0.12 MP, the limit is 0.1 MP"
    assert load_spy.calls == 0
    assert process(fx.photo_jpeg(400, 300), max_pixels=120_000).width == 400


def test_pil_limits_are_restored_after_a_call() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ProcessingError):
        process(fx.png_declaring(30000, 30000))
    process(fx.photo_jpeg(300, 200), max_pixels=1_000_000)
    assert before == Image.MAX_IMAGE_PIXELS


def test_png_with_a_bad_crc_is_corrupt() -> None:
    data = bytearray(fx.encode(fx.textured(300, 200), "PNG"))
    data[29] ^= 0xFF  # inside IHDR's CRC
    assert reason_of(bytes(data)) == "truncated or corrupt PNG"


# --- colour modes and formats -----------------------------------------------------------------
def mean_rgb(img: Image.Image) -> tuple[float, ...]:
    small = img.convert("RGB").resize((1, 1), Image.Resampling.BOX)
    return tuple(float(v) for v in px(small, (0, 0)))


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours() -> None:
    result = process(fx.cmyk_jpeg(640, 480))
    assert (result.format, result.width, result.height) == ("JPEG", 640, 480)
    img = thumbnail(result, 512)
    assert img.mode == "RGB"
    expected = mean_rgb(fx.textured(640, 480, seed=3).convert("CMYK"))
    assert mean_rgb(img) == pytest.approx(expected, abs=8)


def test_16_bit_grey_png_is_scaled_not_clipped() -> None:
    data = fx.grey16_png(640, 480)
    with Image.open(io.BytesIO(data)) as source:
        assert source.mode == "I;16"
    result = process(data)
    img = thumbnail(result, 512)
    assert img.mode == "RGB"
    x = img.width // 2  # the ramp runs from black (top) to white (bottom)
    top, middle, bottom = (px(img, (x, y))[0] for y in (3, img.height // 2, img.height - 4))
    assert top < 20
    assert 100 < middle < 156
    assert bottom > 235


def test_animated_gif_uses_the_first_frame_on_white() -> None:
    result = process(fx.animated_gif(300, 200))
    assert (result.format, result.width, result.height) == ("GIF", 300, 200)
    img = thumbnail(result, 200)
    top_left = px(img, (10, 10))
    bottom_right = px(img, (img.width - 10, img.height - 10))
    centre = px(img, (img.width // 2, img.height // 2))
    assert top_left[1] > 150 and top_left[0] < 60  # frame 0's green box
    assert min(bottom_right) > 235  # transparent -> white (no magenta)
    assert min(centre) > 235


def test_rgba_png_is_flattened_on_white() -> None:
    result = process(fx.rgba_png(600, 400))
    img = thumbnail(result, 512)
    assert img.mode == "RGB"
    left = px(img, (20, img.height // 2))
    right = px(img, (img.width - 20, img.height // 2))
    assert min(left) > 240
    assert right[2] > 200 and right[0] < 40 and right[1] < 40


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGBA", "I", "F"])
def test_every_mode_ends_as_rgb(mode: str) -> None:
    source = fx.textured(300, 220).convert("L")
    img = source.convert(mode) if mode not in ("PA",) else source.convert("RGBA").convert("PA")
    fmt = "TIFF" if mode in ("I", "F", "PA") else "PNG"
    result = process(fx.encode(img, fmt))
    assert result.format == fmt
    assert thumbnail(result, 200).mode == "RGB"


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF", "GIF", "PNG"])
def test_allowed_formats(fmt: str) -> None:
    data = fx.encode(fx.oriented_picture(700, 500), fmt)
    result = process(data)
    assert (result.format, result.width, result.height) == (fmt, 700, 500)
    assert sorted(result.thumbnails) == [200, 512]
    assert is_marker(px(thumbnail(result, 200), (8, 8)))


def test_png_orientation_from_its_exif_chunk() -> None:
    img = fx.oriented_picture(500, 300, orientation=8)
    data = fx.encode(img, "PNG", exif=fx.exif_block(orientation=8).tobytes())
    result = process(data)
    assert (result.width, result.height) == (300, 500)
    assert is_marker(px(thumbnail(result, 200), (5, 5)))


# --- cold start -------------------------------------------------------------------------------
def test_importing_the_module_loads_no_image_library() -> None:
    code = (
        "import sys; import chalicelib.images.processing; "
        "print(sorted(m for m in ('PIL', 'exifread', 'pyvips') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
