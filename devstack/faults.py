"""Watching and disturbing the app's AWS calls (botocore ``before-send`` hooks).

- counts every request the app sends, by service and operation, for the
  benchmarks (the emulator's own polling uses other clients: not counted);
- fails a chosen fraction of them with HTTP 503 before they leave, which
  botocore's retry policy treats like an AWS hiccup (the order drill sets 10%).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class AwsCalls:
    def __init__(self, error_rate: float = 0.0, seed: int | None = None) -> None:
        self.error_rate = error_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.sent: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    def before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        # event_name: before-send.<service>.<Operation>
        operation = event_name.split(".", 1)[-1]
        with self._lock:
            fail = self.error_rate > 0 and self._rng.random() < self.error_rate
            (self.injected if fail else self.sent)[operation] += 1
        if not fail:
            return None
        body = b'{"__type":"ServiceUnavailable","message":"injected by devstack"}'
        return AWSResponse(
            request.url, 503, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body)
        )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "errorRate": self.error_rate,
                "sent": dict(self.sent),
                "injected": dict(self.injected),
            }

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self.injected.clear()
