"""The REST API on ``chalice local``, with API Gateway's authorizer contract.

API Gateway answers 401 when a token authorizer raises ``Exception("Unauthorized")``
(and 500 for any other exception); ``chalice local`` and ``chalice.test`` let the
exception escape as a 500. ``patch_authorizer`` gives both Gateway's behaviour,
so the app's authorizer is written once, for AWS.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

_patched = False


def patch_authorizer() -> None:
    global _patched
    if _patched:
        return
    from chalice import local

    original = local.LocalGatewayAuthorizer.authorize

    def authorize(self: Any, raw_path: str, event: Any, context: Any) -> Any:
        try:
            return original(self, raw_path, event, context)
        except local.LocalGatewayException:
            raise
        except Exception as exc:
            headers = {"x-amzn-RequestId": context.aws_request_id}
            if str(exc) == "Unauthorized":
                raise local.NotAuthorizedError(
                    {**headers, "x-amzn-ErrorType": "UnauthorizedException"},
                    b'{"message":"Unauthorized"}') from None
            logging.getLogger("devstack.api").exception("authorizer failed")
            raise local.InvalidAuthorizerError(
                {**headers, "x-amzn-ErrorType": "AuthorizerConfigurationException"},
                b'{"message":null}') from None

    local.LocalGatewayAuthorizer.authorize = authorize  # type: ignore[method-assign]
    _patched = True


def load_app(project_dir: Path, stage: str) -> tuple[Any, Any]:
    """Import the Chalice app as ``chalice local`` does: the stage's
    environment variables from .chalice/config.json are applied first."""
    from chalice.cli.factory import CLIFactory

    factory = CLIFactory(project_dir=str(project_dir), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    return factory, config


def serve(project_dir: Path, stage: str, host: str, port: int) -> None:
    from chalice.deploy.validate import validate_routes

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    patch_authorizer()
    factory, config = load_app(project_dir, stage)
    validate_routes(config.chalice_app.routes)
    server = factory.create_local_server(config.chalice_app, config, host, port)
    print(f"api listening on {host}:{server.server.server_address[1]}", flush=True)
    server.server.serve_forever()
