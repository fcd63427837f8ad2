"""The payments context's route: Stripe's webhooks (no JWT: Stripe signs them)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.http import openapi
from chalicelib.http.routing import Router

bp = Blueprint(__name__)
api = Router(bp)

WEBHOOK_EVENT = openapi.ref("chalicelib.http.wire:StripeEvent")
WEBHOOK_ACK = openapi.ref("chalicelib.http.wire:WebhookReceipt")


@api.route(
    "/webhooks/stripe",
    methods=("POST",),
    summary="Stripe's webhook: verified by its Stripe-Signature, then handed to the saga",
    description="Signed by Stripe with the stage's webhook secret (HMAC-SHA256 of the raw "
    "body, 5 minutes' tolerance); anything unsigned, mis-signed, too old or malformed is a 400.",
    body=WEBHOOK_EVENT,
    response=WEBHOOK_ACK,
    # A deployed stage whose signing secret is still the placeholder: Stripe retries.
    failures=(503,),
    headers={
        "Stripe-Signature": {
            "type": "string",
            "maxLength": 2048,
            "description": "t=<unix time>,v1=<HMAC-SHA256>; without it, a 400",
        }
    },
)
def stripe_webhook() -> dict[str, Any]:
    request = bp.current_request
    raw = request.raw_body or b""
    payload = raw.encode() if isinstance(raw, str) else raw
    signature = request.headers.get("stripe-signature")
    return bootstrap.services().stripe_webhooks.receive(payload, signature)
