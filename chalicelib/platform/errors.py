"""Domain errors. ``app.py`` maps them to HTTP in one place; adapters raise them
instead of botocore's ``ClientError`` (see ``chalicelib.platform.aws.translate``)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 500
    code = "InternalError"

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class InvalidInput(DomainError):
    status = 400
    code = "BadRequestError"


class Unauthorized(DomainError):
    status = 401
    code = "UnauthorizedError"


class Forbidden(DomainError):
    status = 403
    code = "ForbiddenError"


class NotFound(DomainError):
    status = 404
    code = "NotFoundError"


class Conflict(DomainError):
    status = 409
    code = "ConflictError"


class PayloadTooLarge(DomainError):
    status = 413
    code = "RequestEntityTooLargeError"


class Transient(DomainError):
    """A dependency failed in a way worth retrying (throttling, timeouts)."""

    status = 503
    code = "ServiceUnavailableError"
