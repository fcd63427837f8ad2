"""The cold-start benchmark measures what it claims, and the API function never
imports image libraries. Structure and import facts only: no timing asserts."""

from __future__ import annotations

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
    assert not result.verdict.startswith("FAIL: imports")

    table = coldstart.format_table([result])
    assert coldstart.API_FUNCTION in table
    assert "PIL/exifread at init" in table


def test_discovers_the_api_function() -> None:
    assert coldstart.API_FUNCTION in coldstart.discover_functions()
