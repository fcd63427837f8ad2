"""Opaque, tamper-evident pagination cursors.

A cursor is DynamoDB's LastEvaluatedKey, JSON, base64url, with an HMAC so that
a client cannot craft keys into another partition: a tampered or foreign cursor
is a 400, not a scan of someone else's data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.platform import errors

MAX_CURSOR_CHARS = 2048


def _sign(secret: bytes, scope: str, payload: bytes) -> str:
    mac = hmac.new(secret, scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def encode(key: dict[str, Any] | None, secret: bytes, scope: str) -> str | None:
    if not key:
        return None
    payload = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(secret, scope, payload)}"


def decode(cursor: str | None, secret: bytes, scope: str) -> dict[str, Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        body, mac = cursor.split(".", 1)
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if not hmac.compare_digest(mac, _sign(secret, scope, payload)):
            raise ValueError("bad signature")
        key = json.loads(payload)
        if not isinstance(key, dict):
            raise ValueError("not an object")
        return key
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # TypeError: non-ASCII mac
        raise errors.InvalidInput("cursor is not valid for this listing") from exc
