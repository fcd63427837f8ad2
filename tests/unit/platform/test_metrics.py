"""EMF as CloudWatch reads it: one namespace, every metric by stage, a metric
with dimensions of its own in a record of its own, nothing printed for an
invocation that wrote nothing."""

from __future__ import annotations

import json

import pytest

from chalicelib.platform.metrics import NAMESPACE, EmfMetrics


def emf(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_one_record_per_invocation_dimensioned_by_stage(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics("dev")
    metrics.flush()
    assert emf(capsys.readouterr().out) == []  # nothing written, nothing printed
    metrics.count("OrdersPlaced")
    metrics.count("OrdersPlaced")
    metrics.ms("OrderLeadTimeMs", 1234.5)
    metrics.flush()
    (record,) = emf(capsys.readouterr().out)
    aws = record["_aws"]
    assert isinstance(aws, dict)
    (directive,) = aws["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert sorted(directive["Dimensions"][0]) == ["service", "stage"]
    assert record["stage"] == "dev"
    assert record["OrdersPlaced"] == [1.0, 1.0]
    assert record["OrderLeadTimeMs"] == [1234.5]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"OrdersPlaced": "Count", "OrderLeadTimeMs": "Milliseconds"}
    metrics.flush()
    assert emf(capsys.readouterr().out) == []  # flushed means gone


def test_a_step_timing_carries_its_step_and_the_cold_start_its_function(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = EmfMetrics("dev")
    metrics.ms("SagaStepMs", 12.0, step="payments")
    metrics.cold_start("eventshop-dev-payments_step")
    step, cold = emf(capsys.readouterr().out)
    assert (step["step"], step["SagaStepMs"], step["stage"]) == ("payments", [12.0], "dev")
    assert (cold["function_name"], cold["ColdStart"]) == ("eventshop-dev-payments_step", [1.0])


def test_each_thread_flushes_what_it_wrote(capsys: pytest.CaptureFixture[str]) -> None:
    """The local stack runs many invocations in one process, one per thread:
    an invocation's record holds its own metrics, not a neighbour's."""
    import threading

    metrics = EmfMetrics("dev")
    metrics.count("OrdersPlaced")
    wrote, go_on = threading.Event(), threading.Event()

    def other() -> None:
        metrics.count("OrdersCompleted")
        wrote.set()
        go_on.wait(5)
        metrics.flush()

    thread = threading.Thread(target=other)
    thread.start()
    assert wrote.wait(5)
    metrics.flush()
    (mine,) = emf(capsys.readouterr().out)
    go_on.set()
    thread.join(5)
    (theirs,) = emf(capsys.readouterr().out)
    assert "OrdersPlaced" in mine and "OrdersCompleted" not in mine
    assert "OrdersCompleted" in theirs and "OrdersPlaced" not in theirs
