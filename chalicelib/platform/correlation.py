"""One correlation id per business flow (an order, an upload, a job run).

The API takes it from ``X-Correlation-Id`` (or makes one) and answers with it;
it is stored with every order event, carried by the relay on every message,
and set again by each handler for the record it works on, so the log records
of every hop of one flow share it. It lives in a context variable: each
request, record or job run sets its own (``use``), and the log filter
(``platform.logs``) and the repositories read it (``current``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Correlation-Id"
MAX_LENGTH = 128
# Printable ASCII, spaces included, 1-128 characters, not blank.
_VALID = re.compile(r"^[\x20-\x7e]{1,128}$")

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_subject: ContextVar[dict[str, str]] = ContextVar("correlation_subject", default={})  # noqa: B039


def new() -> str:
    return uuid.uuid4().hex


def valid(raw: object) -> bool:
    return isinstance(raw, str) and bool(_VALID.match(raw)) and bool(raw.strip())


def accept(raw: object) -> str:
    """``raw`` when it is a valid id, else a new one."""
    return raw if isinstance(raw, str) and valid(raw) else new()


def current() -> str | None:
    return _current.get()


def subject() -> dict[str, str]:
    """What the current flow is about (``order_id``, ``image_id``), for the logs."""
    return _subject.get()


@contextmanager
def use(correlation_id: str | None, **about: str | None) -> Iterator[str]:
    """Run the block under ``correlation_id`` (a new one if it is not valid),
    about ``order_id=...`` / ``image_id=...``; the previous ones come back after."""
    cid = accept(correlation_id)
    token = _current.set(cid)
    subject_token = _subject.set({k: v for k, v in about.items() if v})
    try:
        yield cid
    finally:
        _subject.reset(subject_token)
        _current.reset(token)


def about(**keys: str | None) -> None:
    """Add to what the current flow is about (an order id learned on the way);
    outside any flow (``use``) nothing, since nothing would take it back."""
    if _current.get() is None:
        return
    _subject.set({**_subject.get(), **{k: v for k, v in keys.items() if v}})
