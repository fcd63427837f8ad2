"""A local stand-in for the part of Stripe's REST API a payment provider built
on the official ``stripe`` library uses: PaymentIntents (create, retrieve,
confirm, cancel), refunds, idempotency keys and signed webhooks.

What it imitates, and how closely:

- **Wire format.** Form-encoded bodies as the library sends them (nested
  ``metadata[order_id]=...``, indexed lists ``allowed_payment_method_types[0]=card``
  (or the older ``payment_method_types``), booleans as ``true``/``false``);
  JSON answers shaped like Stripe's objects,
  with ``Request-Id`` and ``Stripe-Version`` headers; ids ``pi_``, ``ch_``,
  ``re_``, ``evt_`` + 24 alphanumerics.
- **Errors** as ``stripe._api_requestor`` maps them to exceptions: 401
  ``AuthenticationError`` (wrong or missing ``Bearer`` key), 400/404
  ``InvalidRequestError`` (with ``param`` and ``code``), 402 ``CardError``
  (``type: card_error``, ``code``, ``decline_code``, the PaymentIntent),
  ``IdempotencyError`` (``type: idempotency_error``), 429 ``RateLimitError``,
  500 ``APIError``. Messages are Stripe's wording where known.
- **Test payment methods.** ``pm_card_visa`` / ``pm_card_mastercard``
  succeed; ``pm_card_chargeDeclined`` and
  ``pm_card_chargeDeclinedInsufficientFunds`` are declined (a failed Charge,
  the PaymentIntent back to ``requires_payment_method`` with
  ``last_payment_error`` and no payment method); ``pm_card_authenticationRequired``
  stops in ``requires_action`` until the control API plays the customer
  (:meth:`StripeServer.authenticate`). Any other ``pm_...`` is unknown.
- **Idempotency keys.** A POST's response is stored per (API key,
  ``Idempotency-Key``) with a fingerprint of method, path and parameters; the
  same request again gets the same status and body with
  ``Idempotent-Replayed: true`` and ``Original-Request``, a different one an
  ``idempotency_error``. As on Stripe, a request rejected by parameter
  validation stores nothing (nothing ran), while a decline or a state error
  is stored. Injected faults (429/500) are not stored: they stand for the
  edge failing before the API ran, so a retry with the same key runs.
- **Webhooks.** ``payment_intent.succeeded``, ``payment_intent.payment_failed``,
  ``payment_intent.canceled`` and ``charge.refunded`` Events (a snapshot of
  the object at that moment, ``request.id`` / ``request.idempotency_key`` of
  the API call that caused it, null for the control API), POSTed as indented
  JSON with ``Stripe-Signature: t=...,v1=HMAC-SHA256(secret, "t.payload")``,
  one at a time in the order they happened, each retried on a non-2xx or a
  connection error (Stripe retries for days, this ``webhook_attempts`` times
  with ``webhook_backoff`` doubling) and then counted as failed.

What it leaves out (a provider tested only here would not notice these):

- every other resource and event (Customers, PaymentMethods, Charges and
  Refunds endpoints, ``payment_intent.created`` / ``.requires_action``,
  ``charge.succeeded``, ``refund.created`` ...), ``expand``, listing,
  updating, manual capture, Connect headers, per-currency minimum amounts
  (``amount_too_small``), and the rejection of unknown parameters (Stripe
  answers ``parameter_unknown``; here they are ignored);
- Stripe's ``return_url`` rule: with automatic payment methods (the default
  since API version 2023-08-16), confirming without ``return_url`` fails on
  Stripe unless ``automatic_payment_methods[allow_redirects]=never`` or
  ``payment_method_types`` is given. Here it succeeds;
- two concurrent requests with one key: Stripe answers the second 409
  ``idempotency_error`` (which the library retries); here the second waits
  for the first and gets its stored response;
- keys and objects live as long as the server (Stripe forgets keys after
  24 hours); one API key, test mode only.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import json
import logging
import re
import secrets
import string
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger("devstack.stripe")

# The version stripe-python 16.1.0 pins; stamped on every Event.
API_VERSION = "2026-10-28.endive"

SUCCEEDING = frozenset({"pm_card_visa", "pm_card_mastercard"})
DECLINES = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
AUTHENTICATION_REQUIRED = "pm_card_authenticationRequired"
KNOWN_PAYMENT_METHODS = SUCCEEDING | DECLINES.keys() | {AUTHENTICATION_REQUIRED}

CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
MAX_AMOUNT = 99_999_999
MAX_IDEMPOTENCY_KEY = 255
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())  # noqa: SIM905
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}

FAULT_NAMES = {
    "rateLimit": "rate_limit",
    "rate_limit": "rate_limit",
    "serverError": "server_error",
    "server_error": "server_error",
    "serverErrorForever": "server_error_forever",
    "server_error_forever": "server_error_forever",
    "duplicateWebhooks": "duplicate_webhooks",
    "duplicate_webhooks": "duplicate_webhooks",
}

_ALNUM = string.ascii_letters + string.digits
_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_INTEGER = re.compile(r"-?\d+")

Json = dict[str, Any]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


class StripeApiError(Exception):
    """An error answer: HTTP ``status`` and the ``error`` object Stripe sends.
    ``stored`` is False for errors raised before the endpoint ran (parameter
    validation), which Stripe does not keep under an idempotency key."""

    def __init__(self, status: int, error: Json, *, stored: bool = True) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error
        self.stored = stored

    def body(self) -> Json:
        return {"error": self.error}


def _invalid(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    stored: bool = True,
    **extra: Any,
) -> StripeApiError:
    error: Json = {"type": "invalid_request_error", "message": message}
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    error.update(extra)
    return StripeApiError(status, error, stored=stored)


def _validation(message: str, param: str, code: str | None = None) -> StripeApiError:
    return _invalid(message, param=param, code=code, stored=False)


def _missing(kind: str, object_id: str, param: str, status: int = 400) -> StripeApiError:
    return _invalid(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=status
    )


def _money(amount: int, currency: str) -> str:
    value = str(amount) if currency in ZERO_DECIMAL else f"{amount / 100:.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


# --- form decoding ---------------------------------------------------------


def decode_form(pairs: list[tuple[str, str]]) -> Json:
    """Stripe's form encoding back to nested values: ``a[b]=1`` -> ``{"a":
    {"b": "1"}}``, ``a[0]=x`` or ``a[]=x`` -> ``{"a": ["x"]}``. ``metadata``
    stays a mapping even if its keys are digits; scalars stay strings."""
    root: Json = {}
    for key, value in pairs:
        match = _KEY.fullmatch(key)
        parts = [match.group(1), *_SEGMENT.findall(match.group(2))] if match else [key]
        node = root
        for part in parts[:-1]:
            name = part or str(len(node))
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
        node[parts[-1] or str(len(node))] = value
    return {key: value if key == "metadata" else _listify(value) for key, value in root.items()}


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {key: _listify(item) for key, item in value.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _string(params: Json, name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _validation(f"Invalid string: {name} must be a string.", name)
    return value


def _integer(params: Json, name: str) -> int | None:
    raw = _string(params, name)
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw):
        raise _validation(f"Invalid integer: {raw}", name, "parameter_invalid_integer")
    return int(raw)


def _boolean(params: Json, name: str) -> bool:
    raw = _string(params, name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise _validation(f"Invalid boolean: {raw}", name, "parameter_invalid_boolean")
    return raw == "true"


def _metadata(params: Json) -> dict[str, str]:
    """Stripe drops keys posted with an empty value (and ``metadata=``)."""
    value = params.get("metadata")
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _validation("Invalid metadata: values must be strings.", "metadata")
    return {key: item for key, item in value.items() if item != ""}


def _choice(params: Json, name: str, allowed: frozenset[str]) -> str | None:
    value = _string(params, name)
    if value is not None and value not in allowed:
        options = ", ".join(sorted(allowed))
        raise _validation(f"Invalid {name}: must be one of {options}", name)
    return value


# --- server ----------------------------------------------------------------


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]
    stored: bool = True


@dataclass
class _Stored:
    fingerprint: tuple[Any, ...]
    response: _Response
    request_id: str


@dataclass
class _KeyLock:
    lock: threading.Lock
    users: int = 0


@dataclass
class _Context:
    """The API request that is causing a state change (None: the control API)."""

    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class _Faults:
    rate_limit: int = 0
    server_error: int = 0
    server_error_forever: bool = False
    duplicate_webhooks: bool = False


def _encode(body: Any) -> bytes:
    return json.dumps(body, indent=2).encode()


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
    stripe: StripeServer


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "stripe-devstack"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            response = self.server.stripe.handle(method, self.path, self.headers.items(), raw)
        except Exception:
            log.exception("stripe devstack failed on %s %s", method, self.path)
            response = _Response(
                500, _encode({"error": {"type": "api_error", "message": "Internal error"}}), {}
            )
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)


class StripeServer:
    """Stripe's API on loopback, for one API key, plus a control API
    (``/_control/...``, no auth) and the same controls as methods.

    Thread-safe: one lock guards the objects, counters and webhook queue;
    requests with one idempotency key are also serialized on that key.
    """

    webhook_attempts = 5
    webhook_backoff = 0.1
    webhook_timeout = 5.0

    def __init__(
        self,
        api_key: str = "sk_test_local",
        webhook_secret: str = "whsec_local",  # noqa: S107  (a local test secret)
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._intents: dict[str, Json] = {}
        self._charges: dict[str, Json] = {}
        self._refunds: dict[str, Json] = {}
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        self._key_locks: dict[tuple[str, str], _KeyLock] = {}
        self._faults = _Faults()
        self._requests = 0
        self._replayed = 0
        self._queue: deque[str] = deque()
        self._in_flight = 0
        self._webhooks: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._http: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle ---

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("StripeServer is not started")
        return f"http://{self.host}:{self._http.server_port}"

    def start(self) -> StripeServer:
        if self._http is not None:
            return self
        self._stopping.clear()
        self._http = _HTTPServer((self.host, self.port), _Handler)
        self._http.stripe = self
        self._threads = [
            threading.Thread(
                target=self._http.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() waits up to one interval
                name="stripe-api",
                daemon=True,
            ),
            threading.Thread(target=self._deliver_forever, name="stripe-webhooks", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; webhooks not yet delivered are dropped."""
        http_server, self._http = self._http, None
        self._stopping.set()
        with self._changed:
            self._queue.clear()
            self._changed.notify_all()
        if http_server is not None:
            http_server.shutdown()
            http_server.server_close()
        for thread in self._threads:
            thread.join(timeout=self.webhook_timeout + 1)
        self._threads = []

    def __enter__(self) -> StripeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def idle(self, timeout: float = 30) -> bool:
        """Wait until no webhook is queued or being delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    # --- controls ---

    def authenticate(self, intent_id: str, succeed: bool) -> Json:
        """The customer completes (or fails) the 3-D Secure step of a
        ``requires_action`` PaymentIntent. Raises :class:`StripeApiError`."""
        with self._lock:
            intent = self._intent(intent_id, "intent", 404)
            if intent["status"] != "requires_action":
                raise _invalid(
                    f"PaymentIntent {intent_id} has a status of {intent['status']}, "
                    "not requires_action: there is nothing to authenticate.",
                    code="payment_intent_unexpected_state",
                )
            context = _Context()
            if succeed:
                self._succeed(intent, intent["payment_method"], context)
            else:
                error = {
                    "type": "card_error",
                    "code": "payment_intent_authentication_failure",
                    "message": (
                        "The provided PaymentMethod has failed authentication. You can provide "
                        "payment_method_data or a new PaymentMethod to attempt to fulfill this "
                        "PaymentIntent again."
                    ),
                    "payment_method": self._payment_method(intent["payment_method"]),
                }
                self._fail(intent, error, context)
            return copy.deepcopy(intent)

    def set_faults(self, **faults: int | bool) -> None:
        """Replace the injected faults (none given: clear them all):
        ``rate_limit`` / ``rateLimit``: the next n API requests answer 429;
        ``server_error``: the next n answer 500; ``server_error_forever``:
        every one answers 500; ``duplicate_webhooks``: each webhook is sent
        twice (same event id). Rate limits come first, then server errors."""
        new = _Faults()
        for name, value in faults.items():
            field = FAULT_NAMES.get(name)
            if field is None:
                raise TypeError(f"unknown fault: {name}")
            if field in ("rate_limit", "server_error"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a count")
                setattr(new, field, value)
            else:
                setattr(new, field, bool(value))
        with self._lock:
            self._faults = new

    def stats(self) -> Json:
        with self._lock:
            intents = list(self._intents.values())
            refunds = list(self._refunds.values())
            return {
                "paymentIntents": dict(Counter(i["status"] for i in intents)),
                "succeeded": sum(1 for c in self._charges.values() if c["status"] == "succeeded"),
                "amountReceived": sum(i["amount_received"] for i in intents),
                "refunds": len(refunds),
                "refundedAmount": sum(r["amount"] for r in refunds),
                "requests": self._requests,
                "replayed": self._replayed,
                "webhooks": {
                    "sent": self._webhooks["sent"],
                    "failed": self._webhooks["failed"],
                    "attempts": self._webhooks["attempts"],
                    "pending": len(self._queue) + self._in_flight,
                },
                "faults": dict(self._faults.__dict__),
            }

    def intents(self, **metadata: str) -> list[Json]:
        """The PaymentIntents whose metadata has all these values, oldest
        first, each with the list of its ``refunds``."""
        with self._lock:
            found = []
            for intent in self._intents.values():
                if all(intent["metadata"].get(k) == v for k, v in metadata.items()):
                    item = copy.deepcopy(intent)
                    item["refunds"] = [
                        copy.deepcopy(r)
                        for r in self._refunds.values()
                        if r["payment_intent"] == intent["id"]
                    ]
                    found.append(item)
            return found

    # --- HTTP entry point ---

    def handle(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], raw: bytes
    ) -> _Response:
        """Answer one request (``headers``: name/value pairs)."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path.startswith("/_control/"):
            return self._control(method, path, parts.query, raw)
        if not path.startswith("/v1/"):
            return self._reply(
                _invalid(f"Unrecognized request URL ({method}: {path}).", status=404)
            )
        return self._api(method, path, {name.lower(): value for name, value in headers}, raw)

    def _reply(
        self,
        result: Json | StripeApiError,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> _Response:
        if isinstance(result, StripeApiError):
            return _Response(result.status, _encode(result.body()), headers or {}, result.stored)
        return _Response(status, _encode(result), headers or {})

    # --- the API ---

    def _api(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> _Response:
        request_id = new_id("req_", 14)
        base = {"Request-Id": request_id, "Stripe-Version": headers.get("stripe-version") or ""}
        base = {k: v for k, v in base.items() if v}
        with self._lock:
            self._requests += 1
        denied = self._authorize(headers.get("authorization"))
        if denied is not None:
            return self._reply(denied, headers=base)
        fault = self._fault()
        if fault is not None:
            return self._reply(fault, headers=base)

        pairs = parse_qsl(raw.decode(), keep_blank_values=True) if method == "POST" else []
        route = self._route(method, path)
        if route is None:
            error = _invalid(
                f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                "or we can help at https://support.stripe.com/.",
                status=404,
            )
            return self._reply(error, headers=base)
        key = headers.get("idempotency-key") if method == "POST" else None
        context = _Context(request_id, key)

        def run() -> _Response:
            try:
                result = route(decode_form(pairs), context)
            except StripeApiError as exc:
                return self._reply(exc, headers=dict(base))
            return self._reply(result, headers=dict(base))

        if not key:
            return run()
        base["Idempotency-Key"] = key
        if len(key) > MAX_IDEMPOTENCY_KEY:
            error = _invalid(
                f"Invalid idempotency key: keys can be no longer than {MAX_IDEMPOTENCY_KEY} "
                "characters.",
                stored=False,
            )
            return self._reply(error, headers=base)
        fingerprint = (method, path, tuple(sorted(pairs)))
        return self._idempotent(key, fingerprint, request_id, run)

    def _authorize(self, header: str | None) -> StripeApiError | None:
        scheme, _, credential = (header or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                credential = base64.b64decode(credential).decode().partition(":")[0]
            except ValueError:
                credential = ""
        elif scheme.lower() != "bearer":
            credential = ""
        credential = credential.strip()
        if not credential:
            message = (
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details."
            )
            return _invalid(message, status=401)
        if not hmac.compare_digest(credential.encode(), self.api_key.encode()):
            masked = credential[:8] + "*" * max(len(credential) - 12, 0) + credential[-4:]
            return _invalid(f"Invalid API Key provided: {masked}", status=401)
        return None

    def _fault(self) -> StripeApiError | None:
        with self._lock:
            faults = self._faults
            if faults.rate_limit > 0:
                faults.rate_limit -= 1
                return _invalid(
                    "Too many requests hit the API too quickly. We recommend an exponential "
                    "backoff of your requests.",
                    code="rate_limit",
                    status=429,
                    stored=False,
                )
            if faults.server_error > 0 or faults.server_error_forever:
                faults.server_error = max(faults.server_error - 1, 0)
                error = {
                    "type": "api_error",
                    "message": "An unknown error occurred (injected by devstack).",
                }
                return StripeApiError(500, error, stored=False)
        return None

    @contextmanager
    def _serialized(self, scope: tuple[str, str]) -> Iterator[None]:
        with self._lock:
            entry = self._key_locks.setdefault(scope, _KeyLock(threading.Lock()))
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._lock:
                entry.users -= 1
                if entry.users == 0:
                    del self._key_locks[scope]

    def _idempotent(
        self,
        key: str,
        fingerprint: tuple[Any, ...],
        request_id: str,
        run: Callable[[], _Response],
    ) -> _Response:
        scope = (self.api_key, key)
        with self._serialized(scope):
            with self._lock:
                stored = self._idempotency.get(scope)
                if stored is not None and stored.fingerprint == fingerprint:
                    self._replayed += 1
            if stored is not None:
                headers = {"Request-Id": request_id, "Idempotency-Key": key}
                if stored.fingerprint != fingerprint:
                    error = {
                        "type": "idempotency_error",
                        "message": (
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request."
                        ),
                    }
                    return self._reply(StripeApiError(400, error), headers=headers)
                replay = stored.response
                headers.update(
                    {"Idempotent-Replayed": "true", "Original-Request": stored.request_id}
                )
                return _Response(replay.status, replay.body, {**replay.headers, **headers})
            response = run()
            if response.stored:
                with self._lock:
                    self._idempotency[scope] = _Stored(fingerprint, response, request_id)
            return response

    _INTENT_PATH = re.compile(r"/v1/payment_intents/([^/]+)(?:/(confirm|cancel))?")

    def _route(self, method: str, path: str) -> Callable[[Json, _Context], Json] | None:
        if path == "/v1/payment_intents" and method == "POST":
            return self._create_intent
        if path == "/v1/refunds" and method == "POST":
            return self._create_refund
        match = self._INTENT_PATH.fullmatch(path)
        if match is None:
            return None
        intent_id, action = unquote(match.group(1)), match.group(2)
        if action is None and method == "GET":
            return lambda params, context: self._retrieve_intent(intent_id)
        if action == "confirm" and method == "POST":
            return lambda params, context: self._confirm_intent(intent_id, params, context)
        if action == "cancel" and method == "POST":
            return lambda params, context: self._cancel_intent(intent_id, params, context)
        return None

    # --- PaymentIntents ---

    def _intent(self, intent_id: str, param: str, status: int = 400) -> Json:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, param, status)
        return intent

    @staticmethod
    def _known_payment_method(params: Json) -> str | None:
        payment_method = _string(params, "payment_method")
        if payment_method is not None and payment_method not in KNOWN_PAYMENT_METHODS:
            raise _invalid(
                f"No such PaymentMethod: '{payment_method}'",
                param="payment_method",
                code="resource_missing",
                stored=False,
            )
        return payment_method

    def _create_intent(self, params: Json, context: _Context) -> Json:
        amount = _integer(params, "amount")
        if amount is None:
            raise _validation("Missing required param: amount.", "amount", "parameter_missing")
        if amount < 1:
            raise _validation(
                "This value must be greater than or equal to 1.",
                "amount",
                "parameter_invalid_integer",
            )
        currency = _string(params, "currency")
        if currency is None:
            raise _validation("Missing required param: currency.", "currency", "parameter_missing")
        if not _CURRENCY.fullmatch(currency):
            raise _validation(f"Invalid currency: {currency}.", "currency")
        currency = currency.lower()
        if amount > MAX_AMOUNT:
            raise _validation(
                f"Amount must be no more than {_money(MAX_AMOUNT, currency)}",
                "amount",
                "amount_too_large",
            )
        confirm = _boolean(params, "confirm")
        payment_method = self._known_payment_method(params)
        metadata = _metadata(params)
        if confirm and payment_method is None:
            raise _invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "You can either update the PaymentIntent with a payment method and then confirm "
                "it again, or confirm it again directly with a payment method.",
                code="payment_intent_unexpected_state",
                stored=False,
            )
        # ``allowed_payment_method_types`` in the API versions stripe-python 16 pins.
        types = params.get("payment_method_types") or params.get("allowed_payment_method_types")
        automatic = params.get("automatic_payment_methods")
        intent_id = new_id("pi_")
        intent: Json = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "automatic_payment_methods": (
                {
                    "enabled": automatic.get("enabled") == "true",
                    "allow_redirects": automatic.get("allow_redirects", "always"),
                }
                if isinstance(automatic, dict)
                else None
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "customer": None,
            "description": _string(params, "description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "payment_method": payment_method,
            "payment_method_types": (
                [t for t in types if isinstance(t, str)] if isinstance(types, list) else ["card"]
            ),
            "receipt_email": _string(params, "receipt_email"),
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
        }
        with self._lock:
            self._intents[intent_id] = intent
            if confirm:
                assert payment_method is not None
                self._attempt(intent, payment_method, context)
            return copy.deepcopy(intent)

    def _retrieve_intent(self, intent_id: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._intent(intent_id, "intent", 404))

    def _confirm_intent(self, intent_id: str, params: Json, context: _Context) -> Json:
        payment_method = self._known_payment_method(params)
        with self._lock:
            intent = self._intent(intent_id, "intent", 404)
            status = intent["status"]
            if status in ("succeeded", "canceled", "processing"):
                message = (
                    "You cannot confirm this PaymentIntent because it has already succeeded "
                    "after being previously confirmed."
                    if status == "succeeded"
                    else f"You cannot confirm this PaymentIntent because it has a status of "
                    f"{status}. Only a PaymentIntent with one of the following statuses may be "
                    "confirmed: requires_confirmation, requires_action, requires_payment_method."
                )
                raise _invalid(
                    message,
                    code="payment_intent_unexpected_state",
                    payment_intent=copy.deepcopy(intent),
                )
            payment_method = payment_method or intent["payment_method"]
            if payment_method is None:
                raise _invalid(
                    "You cannot confirm this PaymentIntent because it's missing a payment "
                    "method. You can either update the PaymentIntent with a payment method and "
                    "then confirm it again, or confirm it again directly with a payment method.",
                    code="payment_intent_unexpected_state",
                    payment_intent=copy.deepcopy(intent),
                )
            self._attempt(intent, payment_method, context)
            return copy.deepcopy(intent)

    def _cancel_intent(self, intent_id: str, params: Json, context: _Context) -> Json:
        reason = _choice(params, "cancellation_reason", CANCELLATION_REASONS)
        with self._lock:
            intent = self._intent(intent_id, "intent", 404)
            if intent["status"] not in CANCELABLE:
                raise _invalid(
                    "You cannot cancel this PaymentIntent because it has a status of "
                    f"{intent['status']}. Only a PaymentIntent with one of the following "
                    "statuses may be canceled: requires_payment_method, requires_capture, "
                    "requires_confirmation, requires_action, processing.",
                    code="payment_intent_unexpected_state",
                    payment_intent=copy.deepcopy(intent),
                )
            intent.update(
                status="canceled",
                canceled_at=int(time.time()),
                cancellation_reason=reason,
                next_action=None,
            )
            self._emit("payment_intent.canceled", intent, context)
            return copy.deepcopy(intent)

    # The state changes below run under self._lock.

    def _attempt(self, intent: Json, payment_method: str, context: _Context) -> None:
        """Stripe's confirmation, by test payment method."""
        intent["payment_method"] = payment_method
        if payment_method in SUCCEEDING:
            self._succeed(intent, payment_method, context)
        elif payment_method == AUTHENTICATION_REQUIRED:
            intent.update(
                status="requires_action",
                last_payment_error=None,
                next_action={
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {
                        "type": "three_d_secure_redirect",
                        "stripe_js": f"https://hooks.stripe.com/3d_secure_2/hosted/{intent['id']}",
                        "source": new_id("src_"),
                    },
                },
            )
        else:
            decline_code, message = DECLINES[payment_method]
            charge = self._charge(intent, payment_method, "failed")
            charge.update(failure_code="card_declined", failure_message=message)
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": message,
                "charge": charge["id"],
                "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                "payment_method": self._payment_method(payment_method),
            }
            intent["latest_charge"] = charge["id"]
            self._fail(intent, error, context)
            raise StripeApiError(402, {**error, "payment_intent": copy.deepcopy(intent)})

    def _succeed(self, intent: Json, payment_method: str, context: _Context) -> None:
        charge = self._charge(intent, payment_method, "succeeded")
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            latest_charge=charge["id"],
            last_payment_error=None,
            next_action=None,
        )
        self._emit("payment_intent.succeeded", intent, context)

    def _fail(self, intent: Json, error: Json, context: _Context) -> None:
        intent.update(
            status="requires_payment_method",
            payment_method=None,
            last_payment_error=copy.deepcopy(error),
            next_action=None,
        )
        self._emit("payment_intent.payment_failed", intent, context)

    @staticmethod
    def _payment_method(payment_method: str | None) -> Json:
        brand = "mastercard" if payment_method == "pm_card_mastercard" else "visa"
        return {
            "id": payment_method,
            "object": "payment_method",
            "type": "card",
            "card": {"brand": brand},
        }

    def _charge(self, intent: Json, payment_method: str, status: str) -> Json:
        succeeded = status == "succeeded"
        charge: Json = {
            "id": new_id("ch_"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if succeeded else 0,
            "amount_refunded": 0,
            "captured": succeeded,
            "created": int(time.time()),
            "currency": intent["currency"],
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "paid": succeeded,
            "payment_intent": intent["id"],
            "payment_method": payment_method,
            "refunded": False,
            "status": status,
        }
        self._charges[charge["id"]] = charge
        return charge

    def _charge_view(self, charge: Json) -> Json:
        """The Charge as Stripe shows it: with its PaymentIntent's metadata."""
        intent = self._intents[charge["payment_intent"]]
        return {**copy.deepcopy(charge), "metadata": dict(intent["metadata"])}

    # --- refunds ---

    def _create_refund(self, params: Json, context: _Context) -> Json:
        intent_id = _string(params, "payment_intent")
        charge_id = _string(params, "charge")
        if intent_id is None and charge_id is None:
            raise _validation(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                "payment_intent",
            )
        amount = _integer(params, "amount")
        if amount is not None and amount < 1:
            raise _validation("Invalid positive integer", "amount", "parameter_invalid_integer")
        metadata = _metadata(params)
        reason = _choice(params, "reason", REFUND_REASONS)
        with self._lock:
            charge = self._refundable(intent_id, charge_id)
            left = charge["amount"] - charge["amount_refunded"]
            if left <= 0:
                raise _invalid(
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                )
            amount = left if amount is None else amount
            if amount > left:
                currency = charge["currency"]
                raise _invalid(
                    f"Refund amount ({_money(amount, currency)}) is greater than unrefunded "
                    f"amount on charge ({_money(left, currency)})",
                    param="amount",
                )
            refund: Json = {
                "id": new_id("re_"),
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "metadata": metadata,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "succeeded",
            }
            self._refunds[refund["id"]] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self._emit("charge.refunded", self._charge_view(charge), context)
            return copy.deepcopy(refund)

    def _refundable(self, intent_id: str | None, charge_id: str | None) -> Json:
        if charge_id is not None:
            found = self._charges.get(charge_id)
            if found is None:
                raise _missing("charge", charge_id, "charge")
            if intent_id is not None and found["payment_intent"] != intent_id:
                raise _invalid(
                    f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.",
                    param="charge",
                )
            intent_id = found["payment_intent"]
        assert intent_id is not None
        intent = self._intent(intent_id, "payment_intent")
        charge = self._charges.get(intent["latest_charge"] or "")
        if charge_id is not None:
            charge = self._charges[charge_id]
        if intent["status"] != "succeeded" or charge is None or charge["status"] != "succeeded":
            # Stripe sends no code for this one: only this message.
            raise _invalid(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="charge" if charge_id is not None else "payment_intent",
            )
        return charge

    # --- webhooks ---

    def _emit(self, event_type: str, obj: Json, context: _Context) -> None:
        """Queue an Event about ``obj`` as it is now (under self._lock)."""
        if self.webhook_url is None:
            return
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": context.request_id, "idempotency_key": context.idempotency_key},
            "type": event_type,
        }
        payload = json.dumps(event, indent=2)
        copies = 2 if self._faults.duplicate_webhooks else 1
        self._queue.extend([payload] * copies)
        self._changed.notify_all()

    def signature(self, payload: str, timestamp: int | None = None) -> str:
        """The ``Stripe-Signature`` header for ``payload``."""
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(self.webhook_secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256)
        return f"t={t},v1={mac.hexdigest()}"

    def _deliver_forever(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._stopping.is_set():
                    self._changed.wait()
                if self._stopping.is_set():
                    return
                payload = self._queue.popleft()
                self._in_flight = 1
            outcome: str | None = None
            try:
                outcome = self._deliver(payload)
            finally:
                with self._changed:
                    self._in_flight = 0
                    if outcome is not None:
                        self._webhooks[outcome] += 1
                    self._changed.notify_all()

    def _deliver(self, payload: str) -> str | None:
        """POST one event until a 2xx: "sent", "failed", or None (no URL, stopping)."""
        delay = self.webhook_backoff
        for attempt in range(self.webhook_attempts):
            url = self.webhook_url
            if url is None or self._stopping.is_set():
                return None
            with self._lock:
                self._webhooks["attempts"] += 1
            status = self._post(url, payload)
            if status is not None and 200 <= status < 300:
                return "sent"
            log.info("webhook to %s answered %s (attempt %d)", url, status, attempt + 1)
            if attempt + 1 < self.webhook_attempts:
                if self._stopping.wait(delay):
                    return None
                delay *= 2
        return "failed"

    def _post(self, url: str, payload: str) -> int | None:
        parts = urlsplit(url)
        connection_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_type(parts.netloc, timeout=self.webhook_timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        body = payload.encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": self.signature(payload),
        }
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException) as exc:
            log.info("webhook to %s failed: %s", url, exc)
            return None
        finally:
            connection.close()

    # --- control API ---

    def _control(self, method: str, path: str, query: str, raw: bytes) -> _Response:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._reply(_invalid("The body must be JSON."))
        if not isinstance(body, dict):
            return self._reply(_invalid("The body must be a JSON object."))
        route = path[len("/_control") :]
        try:
            if method == "GET" and route == "/stats":
                return self._reply(self.stats())
            if method == "GET" and route == "/payment_intents":
                metadata = {}
                for key, value in parse_qsl(query, keep_blank_values=True):
                    match = re.fullmatch(r"metadata(?:\.(.+)|\[(.+)\])", key)
                    if match:
                        metadata[match.group(1) or match.group(2)] = value
                return self._reply({"object": "list", "data": self.intents(**metadata)})
            if method == "POST" and route == "/faults":
                try:
                    self.set_faults(**body)
                except (TypeError, ValueError) as exc:
                    return self._reply(_invalid(str(exc)))
                return self._reply(self.stats()["faults"])
            match = re.fullmatch(r"/payment_intents/([^/]+)/authenticate", route)
            if method == "POST" and match:
                succeed = body.get("succeed", True)
                if not isinstance(succeed, bool):
                    return self._reply(_invalid("succeed must be true or false.", param="succeed"))
                return self._reply(self.authenticate(unquote(match.group(1)), succeed))
        except StripeApiError as exc:
            return self._reply(exc)
        return self._reply(_invalid(f"Unrecognized control URL ({method}: {path}).", status=404))
