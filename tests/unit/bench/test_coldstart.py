"""The cold-start benchmark measures what it claims, and the API function never
imports image libraries. Structure and import facts only: no timing asserts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import coldstart  # noqa: E402


def test_api_function_measures_and_imports_no_image_libraries() -> None:
    result = coldstart.measure_function(coldstart.API_FUNCTION, repeat=1)

    assert result.function == coldstart.API_FUNCTION
    assert result.clients == coldstart.FUNCTION_CLIENTS[coldstart.API_FUNCTION]
    assert len(result.init_samples_ms) == 1
    assert len(result.floor_samples_ms) == 1
    assert result.init_ms > 0
    assert result.floor_ms > 0
    assert result.ratio > 0
    assert not result.is_image
    # The app imports more than bare boto3, so the child really imported it.
    assert result.init_modules > result.floor_modules
    assert result.heavy_imported == [], f"api_handler imported {result.heavy_imported}"
    assert 20 < result.peak_mb < 1024  # an interpreter with boto3 and the app, measured
    assert not result.verdict.startswith("FAIL: imports")

    table = coldstart.format_table([result])
    assert coldstart.API_FUNCTION in table
    assert "PIL/exifread at init" in table


def test_discovers_the_api_function() -> None:
    assert coldstart.API_FUNCTION in coldstart.discover_functions()


# --- memory sizes ---------------------------------------------------------------------
def test_a_function_is_sized_from_its_peak_with_headroom_in_steps() -> None:
    assert coldstart.memory_for("record_alert", 80.0) == 128  # 120 -> the 128 minimum
    assert coldstart.memory_for("record_alert", 90.0) == 192  # 135 -> next 64 MB step
    assert coldstart.memory_for("notify_step", 60.0) == 256  # the order path's floor
    assert coldstart.memory_for("notify_step", 200.0) == 320  # 300 -> above the floor
    assert coldstart.memory_for("image_uploaded", 90.0, 700.0) == 1216  # 1185 -> 1216
    assert coldstart.memory_for(coldstart.API_FUNCTION, 60.0) == 512


def test_the_image_working_set_is_the_largest_photos_worst_operation(tmp_path: Path) -> None:
    results = tmp_path / "images.json"
    rows = [
        {"mp": 24.0, "op": "ours 3 sizes", "file_mb": 9.0, "peak_rss_mb": 30.0},
        {"mp": 100.0, "op": "ours 200", "file_mb": 40.0, "peak_rss_mb": 120.0},
        {"mp": 100.0, "op": "ours 3 sizes", "file_mb": 40.0, "peak_rss_mb": 150.0},
        {"mp": 100.0, "op": "pyvips 3 sizes", "file_mb": 40.0, "peak_rss_mb": 900.0},
    ]
    results.write_text(json.dumps({"rows": rows}))
    mb, what = coldstart.image_working_set(results) or (0.0, "")
    assert mb == 190.0  # the file's bytes and the cascade's growth, not pyvips'
    assert what.startswith("100 MP")
    assert coldstart.image_working_set(tmp_path / "missing.json") is None


def test_configured_memory_reads_the_stage_then_the_default(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "lambda_memory_size": 512,
                "stages": {"prod": {"lambda_functions": {"a": {"lambda_memory_size": 256}}}},
            }
        )
    )
    assert coldstart.configured_memory("prod", config) == {"*": 512, "a": 256}
