"""Correlation ids: what the API accepts, and the context each flow runs in."""

from __future__ import annotations

import pytest

from chalicelib.platform import correlation


@pytest.mark.parametrize("raw", ["t-1", "a" * 128, "order 42 / retry #3", "~!@#$%^&*()"])
def test_printable_ascii_up_to_128_characters_is_kept(raw: str) -> None:
    assert correlation.accept(raw) == raw


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "a" * 129, "café", "tab\there", "line\nbreak", "\x00", 42]
)
def test_anything_else_gets_a_new_id(raw: object) -> None:
    got = correlation.accept(raw)
    assert got != raw and correlation.valid(got) and len(got) == 32


def test_each_block_runs_under_its_own_id_and_the_outer_one_comes_back() -> None:
    assert correlation.current() is None
    with correlation.use("outer", order_id="o-1") as outer:
        assert (outer, correlation.subject()) == ("outer", {"order_id": "o-1"})
        with correlation.use(None) as inner:
            assert correlation.current() == inner != "outer"
            assert correlation.subject() == {}
        correlation.about(image_id="i-1")
        assert correlation.current() == "outer"
        assert correlation.subject() == {"order_id": "o-1", "image_id": "i-1"}
    assert correlation.current() is None and correlation.subject() == {}


def test_outside_any_flow_about_changes_nothing() -> None:
    """Nothing would take it back: the next flow's records would carry it."""
    correlation.about(order_id="o-stray")
    assert correlation.subject() == {}
    with correlation.use("t-1") as cid:
        correlation.about(order_id="o-1")
        assert (cid, correlation.subject()) == ("t-1", {"order_id": "o-1"})
    assert correlation.subject() == {}
