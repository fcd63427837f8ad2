"""Test stacks cap Lambda's batching windows; make run and the benchmarks keep them."""

from __future__ import annotations

import pytest


def test_a_batching_window_is_capped_only_when_the_cap_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from devstack.eventsources import MAX_BATCHING_WINDOW_ENV, _window

    config = SimpleNamespace(maximum_batching_window_in_seconds=1)
    monkeypatch.delenv(MAX_BATCHING_WINDOW_ENV, raising=False)
    assert _window(config) == 1  # make run, the benchmarks: Lambda's window
    monkeypatch.setenv(MAX_BATCHING_WINDOW_ENV, "")
    assert _window(config) == 1
    monkeypatch.setenv(MAX_BATCHING_WINDOW_ENV, "0")
    assert _window(config) == 0  # test stacks
    assert _window(SimpleNamespace(maximum_batching_window_in_seconds=None)) == 0
