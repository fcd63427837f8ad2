"""The simulated carrier of the local and test stages (API.md): a shipment per
order, with a tracking number ``TRK-`` + 10 digits that is the same however
often the order is shipped, so a redelivered request ships nothing twice."""

from __future__ import annotations

import hashlib
from typing import Protocol


class Carrier(Protocol):
    def ship(self, order_id: str) -> str:
        """Create (or find) the order's shipment; return its tracking number."""


class SimulatedCarrier:
    def ship(self, order_id: str) -> str:
        digest = int(hashlib.sha256(order_id.encode()).hexdigest(), 16)
        return f"TRK-{digest % 10**10:010d}"
