"""The simulated carrier of the local and test stages (API.md): a shipment per
order, with a tracking number ``TRK-`` + 10 digits that is the same however
often the order is shipped, so a redelivered request ships nothing twice. A
shipping address with postal code ``00000`` is one the carrier never answers
for (as ``tok_unavailable`` is for payments): the order stays PAID until the
saga timeout refunds and cancels it."""

from __future__ import annotations

import hashlib
from typing import Protocol

from chalicelib.platform import errors

UNREACHABLE_POSTAL_CODE = "00000"


class CarrierUnavailable(errors.Transient):
    """The carrier did not answer; the shipping step's message is retried."""


class Carrier(Protocol):
    def ship(self, order_id: str, postal_code: str = "") -> str:
        """Create (or find) the order's shipment; return its tracking number."""


class SimulatedCarrier:
    def ship(self, order_id: str, postal_code: str = "") -> str:
        if postal_code == UNREACHABLE_POSTAL_CODE:
            raise CarrierUnavailable(f"simulated carrier: not answering for {postal_code}")
        digest = int(hashlib.sha256(order_id.encode()).hexdigest(), 16)
        return f"TRK-{digest % 10**10:010d}"
