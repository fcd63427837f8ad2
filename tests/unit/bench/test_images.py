"""The image benchmark's arithmetic and table, and its photo generator's dimensions.
Nothing heavy runs: no 12-50 MP photo is made, no subprocess is started."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import images  # noqa: E402
from tests.support import images as fx  # noqa: E402


# --- geometric mean and median ---------------------------------------------------------------
def test_geometric_mean() -> None:
    assert images.geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert images.geometric_mean([0.5, 2.0]) == pytest.approx(1.0)
    assert images.geometric_mean([3.0]) == pytest.approx(3.0)
    assert images.geometric_mean([1.0, 10.0, 100.0]) == pytest.approx(10.0)


@pytest.mark.parametrize("values", [[], [1.0, 0.0], [2.0, -1.0]])
def test_geometric_mean_rejects_bad_input(values: list[float]) -> None:
    with pytest.raises(ValueError, match="values"):
        images.geometric_mean(values)


def test_median() -> None:
    assert images.median([5.0, 1.0, 3.0]) == 3.0
    assert images.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError, match="no values"):
        images.median([])


# --- ratios and targets ------------------------------------------------------------------------
TIMINGS = {
    12.0: {"ours_200": 44.0, "ours_3": 110.0, "vips_3": 220.0, "floor": 40.0, "vips_200": 45.0},
    24.0: {"ours_200": 90.0, "ours_3": 200.0, "vips_3": 400.0, "floor": 80.0, "vips_200": 95.0},
    50.0: {"ours_200": 190.0, "ours_3": 400.0, "vips_3": 1000.0, "floor": 160.0},
}


def test_summarize_ratios_and_targets() -> None:
    rss = {24.0: {"ours_200": 6.0, "ours_3": 22.5, "vips_3": 60.0, "floor": 3.0}}
    summary = images.summarize(TIMINGS, rss)
    assert summary["per_mp"]["12"]["cascade_vs_pyvips"] == pytest.approx(0.5)
    assert summary["per_mp"]["24"]["200_vs_floor"] == pytest.approx(1.125)
    expected = math.exp((math.log(0.5) + math.log(0.5) + math.log(0.4)) / 3)
    assert summary["cascade_vs_pyvips_geomean"] == pytest.approx(expected)
    assert summary["200_vs_floor_worst"] == pytest.approx(190 / 160)  # 1.1875
    assert summary["ours_peak_rss_mb_at_24mp"] == 22.5  # ours only: pyvips' 60 MB is not ours
    assert list(summary["targets"].values()) == ["OK", "MISSED", "OK"]


def test_summarize_without_pyvips_or_rss() -> None:
    no_vips = {
        mp: {k: v for k, v in ops.items() if not k.startswith("vips")}
        for mp, ops in TIMINGS.items()
    }
    summary = images.summarize(no_vips)
    assert summary["cascade_vs_pyvips_geomean"] is None
    assert summary["per_mp"]["50"]["cascade_vs_pyvips"] is None
    assert list(summary["targets"].values()) == ["n/a", "MISSED", "n/a"]


def test_verdict() -> None:
    assert images.verdict(1.0, 1.0) == "OK"
    assert images.verdict(1.01, 1.0) == "MISSED"
    assert images.verdict(None, 1.0) == "n/a"


def test_rss_delta_is_in_mib_and_never_negative() -> None:
    assert images.rss_delta_mb({"before_kb": 40_000, "after_kb": 60_480}) == pytest.approx(20.0)
    assert images.rss_delta_mb({"before_kb": 40_000, "after_kb": 39_000}) == 0


# --- the table ---------------------------------------------------------------------------------
def test_format_table_aligns_text_left_and_numbers_right() -> None:
    table = images.format_table(
        ["MP", "operation", "wall ms", "peak RSS MB"],
        [["12", "ours 200", 44.123, 6.5], ["24", "pyvips 3 sizes", 1234.56, None]],
    )
    lines = table.splitlines()
    assert lines[0].split() == ["MP", "operation", "wall", "ms", "peak", "RSS", "MB"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len({len(line) for line in lines[1:]}) == 1  # every row as wide as the rule
    assert lines[2].startswith("12  ours 200      ")
    assert lines[2].endswith("44.1         6.50")
    assert lines[3].endswith("1234.6            -")


def test_report_prints_every_row_and_the_targets() -> None:
    rows = [
        {
            "mp": mp,
            "file_mb": 1.0,
            "op": op,
            "wall_ms": ms,
            "cpu_ms": ms,
            "peak_rss_mb": None,
        }
        for mp, ops in TIMINGS.items()
        for op, ms in ops.items()
    ]
    result = {
        "environment": {
            "pillow": "13.0.0",
            "libjpeg_turbo": "3.2.0",
            "pyvips": None,
            "libvips": None,
            "vips_concurrency": None,
            "cpus": 2,
            "loadavg_1m": 0.5,
        },
        "params": {"repeat": 5},
        "rows": rows,
        "summary_wall": images.summarize(TIMINGS),
        "summary_cpu": images.summarize(TIMINGS),
    }
    text = images.report(result)
    assert text.count("ours 3 sizes") == 3
    assert "geomean 3 sizes / pyvips: 0.46x wall" in text
    assert "200 px <= 1.15x floor (every size): MISSED" in text


# --- the photo generator --------------------------------------------------------------------------
@pytest.mark.parametrize("megapixels", [12, 24, 50])
def test_photo_dimensions(megapixels: int) -> None:
    width, height = fx.photo_dimensions(megapixels)
    assert width % 16 == 0
    assert height % 16 == 0
    assert width > height
    assert width / height == pytest.approx(4 / 3, rel=0.01)
    assert width * height / 1e6 == pytest.approx(megapixels, rel=0.01)


def test_photo_jpeg_has_the_requested_dimensions_and_texture() -> None:
    width, height = fx.photo_dimensions(0.3)
    data = fx.photo_jpeg(width, height, make="BenchCam", quality=90)
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (width, height)
        assert img.format == "JPEG"
        assert img.getexif()[fx.TAG_MAKE] == "BenchCam"
        lows, highs = zip(*img.convert("RGB").getextrema(), strict=True)
    assert max(highs) - min(lows) > 150  # textured, not flat
    assert len(data) / (width * height) > 0.15  # bytes per pixel: photo-like, not trivial
