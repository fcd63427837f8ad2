"""Input parsing every context shares: a pydantic model or a 400 naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.platform import errors

M = TypeVar("M", bound=BaseModel)


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


def describe(exc: Exception) -> str:
    """Why an input is unreadable, without the input (it may carry a secret,
    such as an order message's payment token)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
    return type(exc).__name__
