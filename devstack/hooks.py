"""Hooks on every botocore client the app creates, without the app's help.

``install(attach)`` wraps ``botocore.session.Session.create_client`` (boto3's
clients and resources are made there too), so each client created afterwards,
from any session, is passed to ``attach`` (which registers its event hooks on
that client alone: each client has its own copy of the event system). Clients
made from a session given to ``exempt`` are left alone: devstack's own
provisioning and pollers, which must be neither counted nor faulted.

The stack installs this before it imports the app, so a client the app makes
at import time carries the hooks as well.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import botocore.session

Attach = Callable[[Any], None]

_lock = threading.Lock()
_attachers: list[Attach] = []
_exempt: weakref.WeakSet[botocore.session.Session] = weakref.WeakSet()
_original: Any = None


def _botocore_session(session: Any) -> botocore.session.Session:
    # boto3.session.Session wraps a botocore session; accept either.
    inner = getattr(session, "_session", session)
    assert isinstance(inner, botocore.session.Session), type(session)
    return inner


def exempt(session: Any) -> Any:
    """Clients from ``session`` (boto3 or botocore) get no hooks. Returns it."""
    _exempt.add(_botocore_session(session))
    return session


def is_exempt(session: Any) -> bool:
    return _botocore_session(session) in _exempt


def _create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
    client = _original(self, *args, **kwargs)
    if self not in _exempt:
        for attach in list(_attachers):
            attach(client)
    return client


def install(attach: Attach) -> Callable[[], None]:
    """Call ``attach(client)`` for every client created from now on (outside
    exempt sessions). Returns a function that undoes this."""
    global _original
    with _lock:
        if _original is None:
            _original = botocore.session.Session.create_client
            botocore.session.Session.create_client = _create_client  # type: ignore[method-assign]
        _attachers.append(attach)

    def uninstall() -> None:
        global _original
        with _lock:
            if attach in _attachers:
                _attachers.remove(attach)
            if not _attachers and _original is not None:
                botocore.session.Session.create_client = _original  # type: ignore[method-assign]
                _original = None

    return uninstall
