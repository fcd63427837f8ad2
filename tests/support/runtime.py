"""What devstack's event-source runtime (``devstack.eventsources.Runtime``)
needs of a boto3 session, without AWS: unit tests build a runtime on it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class FakeSession:
    region_name = "us-east-1"

    def client(self, service: str, config: Any = None) -> Any:
        return SimpleNamespace(get_caller_identity=lambda: {"Account": "123456789012"})
