"""Small helpers every bounded context shares: time stamps and input parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib import errors

M = TypeVar("M", bound=BaseModel)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]


def parse(model_cls: type[M], body: Any) -> M:
    """Validate a request body; a 400 that names the first bad field."""
    if not isinstance(body, dict):
        raise errors.InvalidInput("the body must be a JSON object")
    try:
        return model_cls.model_validate(body)
    except ValidationError as exc:
        details = validation_errors(exc)
        first = details[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise errors.InvalidInput(f"{where}: {first['msg']}", details) from None
