"""Reading a request on a blueprint: the caller, the JSON body, query
parameters and signed paging cursors. Errors are domain errors (a 4xx)."""

from __future__ import annotations

import hashlib
from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.http import cursor
from chalicelib.http.authorizer import current_principal
from chalicelib.identity import auth
from chalicelib.platform import errors

# The largest valid body (an order of 50 lines with a full address) is a few
# KB; anything far beyond is refused before it is parsed.
MAX_BODY_BYTES = 64 * 1024


class RequestReader:
    """The current request of one blueprint."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    @property
    def _request(self) -> Any:
        return self.blueprint.current_request

    def principal(self) -> auth.Principal:
        return auth.require(current_principal(self.blueprint))

    def header(self, name: str) -> str | None:
        headers = self._request.headers if self._request else {}
        value = headers.get(name.lower())
        return None if value is None else str(value)

    def json_body(self) -> Any:
        request = self._request
        if request is None:
            return None
        if len(request.raw_body or b"") > MAX_BODY_BYTES:
            raise errors.PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            return request.json_body
        except Exception as exc:  # Chalice raises BadRequestError for bad JSON
            raise errors.InvalidInput("the body is not valid JSON") from exc

    def query(self, name: str) -> str | None:
        params: Any = (self._request.query_params if self._request else None) or {}
        value = params.get(name)
        return None if value is None else str(value)

    def page_limit(self, default: int = 20, maximum: int = 100) -> int:
        raw = self.query("limit")
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
            raise errors.InvalidInput(
                f"limit must be an integer from 1 to {maximum}",
                [{"loc": ["query", "limit"], "msg": f"1-{maximum}"}],
            )
        return int(raw)

    def page_start(self, scope: str) -> dict[str, Any] | None:
        """The listing's start key from ``?cursor=``, or a 400."""
        raw = self.query("cursor")
        # Cursors are ASCII (base64url): anything else is refused here, since
        # hmac.compare_digest raises TypeError on non-ASCII text (a 500).
        if raw is not None and not raw.isascii():
            raise errors.InvalidInput(
                "cursor is not valid for this listing",
                [{"loc": ["query", "cursor"], "msg": "not a cursor"}],
            )
        return cursor.decode(raw, cursor_secret(), scope)

    def page(self, items: list[Any], last_key: dict[str, Any] | None, scope: str) -> dict[str, Any]:
        """A listing's body: its items and the cursor of the next page."""
        return {"items": items, "nextCursor": cursor.encode(last_key, cursor_secret(), scope)}


def cursor_secret() -> bytes:
    return hashlib.sha256(b"cursor\0" + auth.secret(bootstrap.settings()).encode()).digest()
