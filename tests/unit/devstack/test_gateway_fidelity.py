"""devstack's REST API answers as API Gateway does where ``chalice local`` does
not (devstack.api, docs/DEVSTACK.md): API keys, binary responses by the first
Accept type, undefined methods and paths, binary request bodies; and the app
being run imports its own ``app`` and ``chalicelib``, never eventshop's."""

from __future__ import annotations

import base64
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from chalice.app import AuthResponse, Chalice, Response
from chalice.config import Config

from devstack import api
from devstack import traces as tr

ROOT = Path(__file__).resolve().parents[3]
OTHER_APP = ROOT / "tests" / "e2e" / "other_app"
PNG = b"\x89PNG\r\n\x1a\n\xff\xfe"
MISSING = {"message": "Missing Authentication Token"}


def shop() -> Chalice:
    app = Chalice("gated")

    @app.authorizer()
    def gate(auth: Any) -> AuthResponse:
        return AuthResponse(routes=["*"], principal_id="p")

    @app.route("/keyed", api_key_required=True)
    def keyed() -> dict[str, bool]:
        return {"keyed": True}

    @app.route("/both", authorizer=gate, api_key_required=True)
    def both() -> dict[str, bool]:
        return {"both": True}

    @app.route("/blob")
    def blob() -> Response:
        return Response(body=PNG, headers={"Content-Type": "image/png"})

    @app.route("/open", methods=["GET"], cors=True)
    def open_() -> dict[str, bool]:
        return {"open": True}

    return app


def serve(app: Chalice, recorder: tr.Recorder | None = None) -> Iterator[str]:
    config = Config.create(chalice_app=app, app_name=app.app_name, chalice_stage="local")
    server = api.start_server(config, "127.0.0.1", 0, recorder)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def recorder() -> tr.Recorder:
    return tr.Recorder()


@pytest.fixture(scope="module")
def url(recorder: tr.Recorder) -> Iterator[str]:
    """One server for the module (each shutdown waits out a 0.5 s poll), no keys listed."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(api.API_KEYS_ENV, raising=False)
        yield from serve(shop(), recorder)


# --- API keys ------------------------------------------------------------------------


def test_a_route_that_requires_an_api_key_is_forbidden_without_one(url: str) -> None:
    for headers in ({}, {"x-api-key": ""}):
        r = requests.get(f"{url}/keyed", headers=headers, timeout=10)
        assert r.status_code == 403
        assert r.content == b'{"message":"Forbidden"}'
        assert r.headers["x-amzn-ErrorType"] == "ForbiddenException"
        assert r.headers["Content-Type"] == "application/json"
    # Any non-empty key, by any case of the header's name, unless keys are listed.
    for name in ("x-api-key", "X-Api-Key"):
        r = requests.get(f"{url}/keyed", headers={name: "anything"}, timeout=10)
        assert (r.status_code, r.json()) == (200, {"keyed": True})


def test_the_authorizer_answers_before_the_api_key_is_checked(url: str) -> None:
    # No token: the authorizer's 401 comes first, as on API Gateway.
    assert requests.get(f"{url}/both", timeout=10).status_code == 401
    auth = {"Authorization": "t"}
    r = requests.get(f"{url}/both", headers=auth, timeout=10)
    assert (r.status_code, r.headers["x-amzn-ErrorType"]) == (403, "ForbiddenException")
    r = requests.get(f"{url}/both", headers={**auth, "x-api-key": "k"}, timeout=10)
    assert (r.status_code, r.json()) == (200, {"both": True})


def test_listed_api_keys_are_the_only_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.API_KEYS_ENV, " key-one, key-two ,")
    for url in serve(shop()):
        for key, status in (("key-one", 200), ("key-two", 200), ("key-three", 403), ("", 403)):
            r = requests.get(f"{url}/keyed", headers={"x-api-key": key}, timeout=10)
            assert r.status_code == status, key


def test_api_keys_are_read_from_the_environment() -> None:
    assert api.api_keys({}) is None
    assert api.api_keys({api.API_KEYS_ENV: " , "}) is None
    assert api.api_keys({api.API_KEYS_ENV: "a, b"}) == frozenset({"a", "b"})


# --- binary responses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "decoded"),
    [
        ("image/png", True),
        ("IMAGE/PNG;q=0.9, text/html", True),
        # Any binary type first, even another than the response's: Gateway looks at Accept.
        ("application/octet-stream", True),
        ("text/html, image/png", False),  # only the first type counts
        ("*/*", False),  # not in the app's binary types
        ("text/html,*/*;q=0.8", False),
    ],
)
def test_a_binary_response_is_decoded_only_for_a_first_accept_type_that_is_binary(
    url: str, accept: str, decoded: bool
) -> None:
    r = requests.get(f"{url}/blob", headers={"Accept": accept}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/png"
    assert r.content == (PNG if decoded else base64.b64encode(PNG))


def test_a_binary_response_without_a_binary_accept_type_is_the_apps_own_400(url: str) -> None:
    # Chalice refuses it in the app itself, on Lambda as here.
    r = requests.get(f"{url}/blob", headers={"Accept": "text/html"}, timeout=10)
    assert r.status_code == 400 and r.json()["Code"] == "BadRequest"


def test_binary_media_types_match_as_api_gateway_matches_them() -> None:
    assert api.media_type_in("image/png", ["image/png"])
    assert api.media_type_in("Image/PNG; charset=x", ["image/png"])
    assert api.media_type_in("image/webp", ["image/*"])
    assert api.media_type_in("text/plain", ["*/*"])
    assert not api.media_type_in("*/*", ["image/png"])
    assert not api.media_type_in("image/pngx", ["image/png"])
    assert not api.media_type_in("", ["*/*"])
    assert not api.media_type_in(None, ["*/*"])
    assert api.first_accept({"ACCEPT": "a/b, c/d"}) == "a/b"
    assert api.first_accept({}) is None


def test_a_binary_request_body_reaches_the_app_base64_encoded() -> None:
    gateway = api.Gateway(shop(), Config.create(app_name="gated"), None)
    converter = gateway.event_converter
    # requests and browsers send "Content-Type"; chalice local looked for "content-type" only.
    for name in ("Content-Type", "content-type"):
        event = converter.create_lambda_event("GET", "/blob", {name: "image/png"}, PNG)
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(event["body"]) == PNG
    text = converter.create_lambda_event("GET", "/blob", {"Content-Type": "text/plain"}, b"hi")
    assert "isBase64Encoded" not in text and text["body"] == b"hi"


# --- undefined methods and paths -----------------------------------------------------


def test_an_undefined_method_or_path_is_a_missing_authentication_token(url: str) -> None:
    for method, path in (
        ("POST", "/keyed"),  # chalice local: the app's 405
        ("DELETE", "/blob"),
        ("OPTIONS", "/keyed"),  # no CORS on the route: Chalice deploys no preflight
        ("GET", "/nowhere"),
        ("GET", "/keyed/deeper"),
    ):
        r = requests.request(method, f"{url}{path}", timeout=10)
        assert r.status_code == 403, (method, path)
        assert r.content == b'{"message":"Missing Authentication Token"}'
        assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        assert r.headers["x-amzn-RequestId"]
        assert "Allow" not in r.headers


def test_a_cors_route_still_answers_its_preflight(url: str) -> None:
    r = requests.options(f"{url}/open", timeout=10)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_with_an_authorization_header_an_undefined_route_is_a_bad_signature(
    url: str, recorder: tr.Recorder
) -> None:
    token = "Bearer secret-token-123"
    r = requests.post(f"{url}/keyed", headers={"Authorization": token}, timeout=10)
    assert r.status_code == 403
    assert r.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    digest = base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()
    assert r.json() == {
        "message": "Invalid key=value pair (missing equal-sign) in Authorization header "
        f"(hashed with SHA-256 and encoded with Base64): '{digest}'."
    }
    # The credential is neither echoed nor kept in the request's trace.
    assert "secret-token-123" not in r.text
    trace = recorder.traces[-1]  # this request's: it ends before its answer is sent
    assert (trace.detail, trace.outcome) == ({"method": "POST", "path": "/keyed"}, 403)
    assert not trace.matches("secret-token-123")


def test_a_sigv4_shaped_header_is_told_what_it_lacks() -> None:
    error = api.missing_route({"authorization": "AWS4-HMAC-SHA256 Foo=bar"}, "rid")
    assert error.CODE == 403
    assert error.headers == {
        "x-amzn-RequestId": "rid",
        "x-amzn-ErrorType": "IncompleteSignatureException",
    }
    assert error.body is not None
    assert b"requires 'Credential' parameter" in error.body and b"Foo=bar" not in error.body
    plain = api.missing_route({}, "rid")
    assert plain.body == b'{"message":"Missing Authentication Token"}'
    assert plain.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


# --- the app's own modules -----------------------------------------------------------


@pytest.fixture
def kept_modules() -> Iterator[None]:
    """Whatever a test imports or drops, the process's modules and path are
    as before afterwards (eventshop's chalicelib stays eventshop's)."""
    modules, path = dict(sys.modules), list(sys.path)
    yield
    sys.modules.clear()
    sys.modules.update(modules)
    sys.path[:] = path


def test_another_app_imports_its_own_chalicelib_in_a_process_that_has_eventshops(
    kept_modules: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chalicelib.platform.settings  # eventshop's: what a test process has loaded

    assert Path(chalicelib.platform.settings.__file__).is_relative_to(ROOT / "chalicelib")
    for name in ("JOBS_QUEUE_NAME", "DROPS_BUCKET_NAME", "NEWS_TOPIC_NAME"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("ENTRIES_STREAM_ARN", "arn:aws:dynamodb:us-east-1:1:table/t/stream/s")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    config = api.load_app(OTHER_APP, "local")

    assert config.chalice_app.app_name == "ledger"
    assert sys.path[0] == str(OTHER_APP)
    for name in ("app", "chalicelib", "chalicelib.platform"):
        assert Path(sys.modules[name].__file__ or "").is_relative_to(OTHER_APP), name
    assert "chalicelib.platform.settings" not in sys.modules


def test_isolate_drops_only_the_modules_of_other_projects(
    kept_modules: None, tmp_path: Path
) -> None:
    own, other = tmp_path / "own", tmp_path / "other"

    def module(name: str, folder: Path) -> ModuleType:
        m = ModuleType(name)
        m.__file__ = str(folder / "chalicelib" / "x.py")
        sys.modules[name] = m
        return m

    module("chalicelib.theirs", other)
    module("chalicelib.ours", own)
    module("app", other)
    sys.path.append(str(own))

    dropped = api.isolate(own)

    assert sorted(n for n in dropped if n in ("app", "chalicelib.theirs", "chalicelib.ours")) == [
        "app",
        "chalicelib.theirs",
    ]
    assert "chalicelib.ours" in sys.modules and "chalicelib.theirs" not in sys.modules
    assert sys.path[0] == str(own.resolve()) and sys.path.count(str(own)) == 1


def test_a_chalicelib_without_init_that_another_package_shadows_is_refused(
    kept_modules: None, tmp_path: Path
) -> None:
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text('{"version": "2.0", "app_name": "ns"}')
    (tmp_path / "chalicelib").mkdir()  # a namespace package: no __init__.py
    (tmp_path / "chalicelib" / "tools.py").write_text("X = 1\n")
    (tmp_path / "app.py").write_text(
        "import chalicelib\nfrom chalice import Chalice\napp = Chalice(app_name='ns')\n"
    )
    sys.path.append(str(ROOT))  # eventshop's folder, whose chalicelib is a regular package

    with pytest.raises(RuntimeError, match=r"chalicelib was imported from .*give .* __init__"):
        api.load_app(tmp_path, "local")
