"""``python -m tools COMMAND``: eventshop's own commands (the local stack's
generic ones are ``python -m devstack``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools")
    sub = parser.add_subparsers(dest="command", required=True)

    tok = sub.add_parser("token", help="print a JWT the local stage accepts")
    tok.add_argument("--role", default="customer")
    tok.add_argument("--sub", default="customer-1")
    tok.add_argument("--stage", default="local")
    tok.add_argument("--ttl", type=int, default=3600)
    tok.add_argument("--project-dir", type=Path, default=Path.cwd())

    dep = sub.add_parser("deploy", help="deploy a stage to AWS: resources, secret, app")
    dep.add_argument("--stage", required=True)

    rep = sub.add_parser(
        "replay-orders", help="rebuild orders from their events; report any that differ"
    )
    rep.add_argument(
        "--stack",
        default="devstack-local",
        help="CloudFormation stack whose outputs name the orders table",
    )
    rep.add_argument(
        "--endpoint",
        default=f"http://127.0.0.1:{_env_int('EMULATOR_PORT', 4566)}",
        help="AWS endpoint (the local emulator); '' for AWS itself",
    )

    rev = sub.add_parser("replay-events", help="rebuild a read model from the event bus's archive")
    rev.add_argument("--into", required=True, help="the read model: analytics")
    rev.add_argument("--since", default=None, help="ISO time: replay only what came since")
    rev.add_argument(
        "--stack",
        default="devstack-local",
        help="CloudFormation stack whose outputs name the bus and the read model's table",
    )
    rev.add_argument(
        "--endpoint",
        default=f"http://127.0.0.1:{_env_int('EMULATOR_PORT', 4566)}",
        help="AWS endpoint (the local emulator); '' for AWS itself",
    )

    args = parser.parse_args(argv)
    if args.command == "token":
        from tools.issue_token import main as token

        return token(args.role, args.sub, args.stage, args.ttl, args.project_dir)
    if args.command == "deploy":
        from tools.deploy import main as deploy

        return deploy(args.stage)
    if args.command == "replay-events":
        from tools.replay_events import main as replay_events

        return replay_events(args.into, args.since, args.stack, args.endpoint or None)
    if args.command == "replay-orders":
        from tools.replay import main as replay

        return replay(args.stack, args.endpoint or None)
    return 2


if __name__ == "__main__":
    sys.exit(main())
