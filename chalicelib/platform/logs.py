"""Secrets never reach the logs: a ``logging.Filter`` that redacts them.

CloudWatch keeps what handlers print, for everyone with log access, for months.
Bearer tokens, payment tokens, presigned signatures and POST policies must not
be there, even when a library puts them into an exception message (pydantic's
``input_value=...`` carries whole messages, payment token included).

``install(logger)`` puts the filter on the logger (records created on it) and
on each of its handlers (records that propagate to it from child loggers: a
logger's own filters never see those). Install it on the root logger and on
``app.log`` (Chalice gives that one its own handler and stops propagation).
Only standard-library imports and precompiled patterns: cheap at cold start.

``configure(loggers, "json")`` makes every record of the process one JSON object
per line (Powertools' ``LambdaPowertoolsFormatter``, imported only then): on the
root logger's handlers (Lambda's own, which every library logger reaches) and on
``app.log``'s. Each record carries ``level``, ``message``, ``timestamp``,
``service``, ``function_name``, ``correlation_id`` and the ``order_id``,
``image_id`` or ``import_id`` the flow is about (``platform.correlation``; "-" outside any
flow, as for a cold start's own lines); exceptions are
formatted by the redacting formatter, never serialised raw.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from chalicelib.platform import correlation

REDACTED = "[REDACTED]"

_Sub = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

# Keys whose values are secrets wherever they appear: JSON, Python reprs,
# form fields of a presigned POST, query strings, headers.
_KEYS = r"paymentToken|payment_token|authorization|x-amz-signature|x-amz-security-token|policy"

_SUBSTITUTIONS: tuple[_Sub, ...] = (
    # pydantic error text: the input is message data, secrets included, and
    # its repr is truncated mid-key, so key-based rules below may not see it.
    (re.compile(r"input_value=.*?, input_type="), f"input_value={REDACTED}, input_type="),
    # "key": "value" / 'key': 'value' (JSON, dict reprs; headers as dicts).
    (
        re.compile(rf"""(["'](?:{_KEYS})["']\s*:\s*)(["'])(?:(?!\2).)*\2""", re.IGNORECASE),
        lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}",
    ),
    # key=value (query strings, urlencoded forms, keyword reprs).
    (
        re.compile(rf"""\b((?:{_KEYS})=)(["']?)[^&\s"',;)]+\2""", re.IGNORECASE),
        lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}",
    ),
    # multipart form-data: name="policy"\r\n\r\nvalue
    (
        re.compile(rf"""(name="(?:{_KEYS})"\s+)\S+""", re.IGNORECASE),
        rf"\g<1>{REDACTED}",
    ),
    # Authorization: <scheme> <credentials> (a header line).
    (
        re.compile(r"\b(authorization\s*:\s*)[^\r\n\"']+", re.IGNORECASE),
        rf"\g<1>{REDACTED}",
    ),
    # RFC 6750 b64token characters ("Bearer <token>" in a message stays).
    (re.compile(r"\b(bearer\s+)[A-Za-z0-9._~+/-]+=*", re.IGNORECASE), rf"\g<1>{REDACTED}"),
    # JWTs: three base64url parts; the header of every JSON one starts "eyJ".
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (
        re.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b"),
        REDACTED,
    ),
    # The simulated provider's (and most real providers') payment tokens.
    (re.compile(r"\btok_[A-Za-z0-9_]+"), REDACTED),
)


def redact(text: str) -> str:
    """``text`` with every secret the patterns know replaced by ``[REDACTED]``."""
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    """Strings are redacted; other values are kept unless their text holds a
    secret (then their redacted text replaces them), so ``%d`` still works."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactingFilter(logging.Filter):
    """Redacts ``record.msg``, ``record.args``, the exception and stack text.

    Never drops a record. Idempotent: a record that passes two installed
    filters (logger, then handler) comes out the same.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # noqa: BLE001 - logging must never fail the caller
            record.msg, record.args = REDACTED + " (record could not be redacted)", None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    @staticmethod
    def _redact_parts(record: logging.LogRecord, message: str | None) -> None:
        """Keep msg and args apart when redacting each part is enough;
        otherwise (a secret straddles them: '"paymentToken": "%s"') log the
        redacted message alone."""
        record.msg = _redact_value(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_redact_value(a) for a in record.args)
        if message is None:
            return
        try:
            parts_ok = redact(out := record.getMessage()) == out
        except (TypeError, ValueError, KeyError):
            parts_ok = False
        if not parts_ok:
            record.msg, record.args = redact(message), None

    def _redact(self, record: logging.LogRecord) -> None:
        if not record.args:
            record.msg = _redact_value(record.msg)
        else:
            try:
                message: str | None = record.getMessage()
            except (TypeError, ValueError, KeyError):
                message = None  # a bad format call: the handler reports it
            if message is None or redact(message) != message:
                self._redact_parts(record, message)
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set: format the traceback once, here.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)


_FILTER = RedactingFilter()


def install(logger: logging.Logger | None = None) -> RedactingFilter:
    """Put the (shared) filter on ``logger`` (default: root) and its handlers.

    Handlers added to the logger later are not covered: install after logging
    is configured. Installing twice is harmless.
    """
    target = logger if logger is not None else logging.getLogger()
    for filterer in (target, *target.handlers):
        if _FILTER not in filterer.filters:
            filterer.addFilter(_FILTER)
    return _FILTER


SERVICE = "eventshop"

_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "function_name", default=None
)


def function_name() -> str:
    """The Lambda function running: Lambda's environment says so; where one
    process runs every function (the local stack), the invocation's context
    does (``in_function``)."""
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or _FUNCTION.get() or "local"


@contextlib.contextmanager
def in_function(name: str | None) -> Iterator[None]:
    """Records logged inside carry ``name`` as their function, unless
    Lambda's environment names one (it wins)."""
    token = _FUNCTION.set(name or None)
    try:
        yield
    finally:
        _FUNCTION.reset(token)


class ContextFilter(logging.Filter):
    """Adds the flow's keys to every record: the correlation id, the order or
    image it is about, and the Lambda function that logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation.current() or "-"
        for key, value in correlation.subject().items():
            setattr(record, key, value)
        record.function_name = function_name()
        return True


_CONTEXT = ContextFilter()


def json_formatter() -> logging.Formatter:
    """Powertools' JSON formatter, with exceptions formatted (and redacted) as
    text: its serialised stack trace would carry the exception's raw value."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class RedactingJsonFormatter(LambdaPowertoolsFormatter):
        def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
            return redact(super().formatException(ei))

    return RedactingJsonFormatter(
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
        serialize_stacktrace=False,
        utc=True,
    )


def configure(loggers: list[logging.Logger], fmt: str) -> None:
    """Redaction (``install``) and the flow's keys on ``loggers`` and their
    handlers; with ``fmt`` "json" also the JSON formatter on their handlers (a
    stdout handler is added to a logger that has none, as in Lambda's runtime)."""
    formatter = json_formatter() if fmt == "json" else None
    for logger in loggers:
        if formatter is not None and not logger.handlers:
            logger.addHandler(logging.StreamHandler())
        install(logger)
        for filterer in (logger, *logger.handlers):
            if _CONTEXT not in filterer.filters:
                filterer.addFilter(_CONTEXT)
        if formatter is not None:
            for handler in logger.handlers:
                handler.setFormatter(formatter)
