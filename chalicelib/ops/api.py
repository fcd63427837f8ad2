"""The operations blueprint: scheduled jobs that keep the sagas moving."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib import bootstrap

bp = Blueprint(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def time_out_stuck_sagas(event: Any) -> None:
    """Every 5 minutes: compensate the orders whose saga stopped moving."""
    from datetime import datetime

    # "now" is the scheduled event's time: on the local stack, its clock.
    now = datetime.fromisoformat(event.to_dict()["time"].replace("Z", "+00:00"))
    bootstrap.services().ops.sweep_stuck_sagas(now)
