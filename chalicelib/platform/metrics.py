"""Business metrics, as CloudWatch Embedded Metric Format (Powertools Metrics).

Services take a ``MetricSink`` (the role); ``EmfMetrics`` writes each one into
the invocation's EMF record, which the ``flush`` at the end of every
invocation prints as one JSON line (CloudWatch turns it into metrics; devstack
reads it back). One namespace, ``eventshop``, every metric dimensioned by
``stage``; a metric with its own dimensions (``SagaStepMs`` by ``step``) is a
record of its own. Powertools is imported when the first metric is written,
so a function that writes none pays nothing for it.

What counts is a state change that was written, never a delivery: a
redelivered message changes nothing, so it counts nothing.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

NAMESPACE = "eventshop"


class MetricSink(Protocol):
    def count(self, name: str, value: float = 1) -> None: ...

    def ms(self, name: str, value: float, **dimensions: str) -> None: ...


class NoMetrics:
    """What a service writes to when nothing reads its metrics (unit tests)."""

    def count(self, name: str, value: float = 1) -> None:
        return None

    def ms(self, name: str, value: float, **dimensions: str) -> None:
        return None


class RecordedMetrics:
    """Keeps every metric written (tests assert on ``written``)."""

    def __init__(self) -> None:
        self.written: list[tuple[str, float, dict[str, str]]] = []

    def count(self, name: str, value: float = 1) -> None:
        self.written.append((name, value, {}))

    def ms(self, name: str, value: float, **dimensions: str) -> None:
        self.written.append((name, value, dimensions))

    def names(self) -> list[str]:
        return [n for n, _, _ in self.written]


class EmfMetrics:
    def __init__(self, stage: str, service: str = NAMESPACE) -> None:
        self.stage = stage
        self.service = service
        # One metric set per thread: Lambda runs one invocation per container,
        # the local stack runs many in one process, each on its own thread, and
        # each invocation's flush prints what that invocation wrote.
        self._local = threading.local()

    def _emf(self) -> Any:
        metrics = getattr(self._local, "metrics", None)
        if metrics is None:
            # Ephemeral: its own metric set, not the class-wide one ``Metrics``
            # instances share (whose default dimensions warn when set twice).
            from aws_lambda_powertools.metrics import EphemeralMetrics

            metrics = EphemeralMetrics(namespace=NAMESPACE, service=self.service)
            metrics.set_default_dimensions(stage=self.stage)
            self._local.metrics = metrics
        return metrics

    def count(self, name: str, value: float = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self._emf().add_metric(name=name, unit=MetricUnit.Count, value=value)

    def ms(self, name: str, value: float, **dimensions: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        if not dimensions:
            self._emf().add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
            return
        with single_metric(
            name=name,
            unit=MetricUnit.Milliseconds,
            value=value,
            namespace=NAMESPACE,
            default_dimensions={"stage": self.stage, "service": self.service, **dimensions},
        ):
            pass  # printed when the block ends

    def cold_start(self, function_name: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name="ColdStart",
            unit=MetricUnit.Count,
            value=1,
            namespace=NAMESPACE,
            default_dimensions={
                "stage": self.stage,
                "service": self.service,
                "function_name": function_name,
            },
        ):
            pass

    def flush(self) -> None:
        """Print what this invocation wrote (nothing when it wrote nothing)."""
        metrics = getattr(self._local, "metrics", None)
        if metrics is not None and metrics.metric_set:
            metrics.flush_metrics()
