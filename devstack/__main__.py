"""``python -m devstack COMMAND``: run the local stack and talk to it.

Generic: it runs any Chalice app (``--project-dir``) and knows nothing of the
app's code; the app's own commands live with the app."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _run_parser(run: argparse.ArgumentParser) -> None:
    from devstack.provision import ENV_NAMING

    run.add_argument("--project-dir", type=Path, default=Path.cwd())
    run.add_argument("--template", type=Path, default=None)
    run.add_argument("--stage", default="local")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--api-port", type=int, default=_env_int("API_PORT", 8000))
    run.add_argument("--emulator-port", type=int, default=_env_int("EMULATOR_PORT", 4566))
    run.add_argument("--control-port", type=int, default=_env_int("CONTROL_PORT", 4567))
    run.add_argument(
        "--visibility-timeout",
        type=int,
        default=2,
        help="seconds a failed SQS message stays hidden before its retry",
    )
    run.add_argument("--stream-max-retries", type=int, default=3)
    run.add_argument(
        "--mappings",
        type=Path,
        default=None,
        help="event source mapping settings by function name (JSON); "
        "default: .chalice/event-source-mappings.json in the project",
    )
    _fault_arguments(run)
    run.add_argument(
        "--reload",
        action="store_true",
        help="import the app again when app.py, chalicelib/ or .chalice/config.json "
        "changes, keeping the emulator's state, the event sources and the ports",
    )
    run.add_argument(
        "--seed",
        default=None,
        metavar="MODULE:FUNCTION",
        help="after the ready line, call this function with the stack's URLs and print "
        "what it returns (the app's demo data: it decides whether the state is empty)",
    )
    run.add_argument(
        "--env-naming",
        choices=sorted(ENV_NAMING),
        default="snake-upper",
        help="how a stack output's key becomes the app's environment variable: "
        "snake-upper (OrdersTableName -> ORDERS_TABLE_NAME) or as-is",
    )
    run.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep the emulator's state and the stack's stream positions and clock in "
        "this folder, and go on from it at the next start (default: memory only)",
    )
    run.add_argument("--fresh", action="store_true", help="with --state-dir: empty it first")
    run.add_argument(
        "--fsync",
        action="store_true",
        help="with --state-dir: every logged write waits for the disk (a power cut loses none)",
    )


def _fault_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--aws-error-rate",
        type=float,
        default=0.0,
        help="fail this fraction of the app's AWS requests with a 503",
    )
    run.add_argument(
        "--aws-error-services",
        nargs="*",
        default=[],
        metavar="SERVICE",
        help="fail only these services' requests (botocore's names: sns, s3, dynamodb)",
    )
    run.add_argument(
        "--aws-error-operations",
        nargs="*",
        default=[],
        metavar="SERVICE.OPERATION",
        help="fail only these operations (sns.PublishBatch), besides --aws-error-services",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("LOG_FORMAT") or "text",
        help="how the functions' records show under each invocation: readable text, "
        "or the raw JSON lines they print (default: $LOG_FORMAT, else text)",
    )
    run.add_argument(
        "--stripe",
        action="store_true",
        help="start a Stripe-compatible server too; the app gets STRIPE_API_BASE, "
        "STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, the server sends its signed "
        "webhooks to the API at --stripe-webhook-path",
    )
    run.add_argument("--stripe-port", type=int, default=_env_int("STRIPE_PORT", 4568))
    run.add_argument("--stripe-webhook-path", default="/webhooks/stripe")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub.add_parser("run", help="start the local stack in the foreground"))

    emu = sub.add_parser("emulator", help="the serialized moto server alone")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=_env_int("EMULATOR_PORT", 4566))
    emu.add_argument(
        "--state",
        type=Path,
        default=None,
        help="keep the state in this folder (snapshot and write-ahead log); default: memory",
    )
    emu.add_argument(
        "--fsync",
        action="store_true",
        help="with --state: wait for the disk on every logged write (survives a power cut)",
    )

    drain = sub.add_parser("drain", help="wait until the running stack is idle")
    _control_argument(drain)
    drain.add_argument("--timeout", type=float, default=60)

    trace = sub.add_parser(
        "trace", help="the timeline of one id's deliveries (correlation, order, image id)"
    )
    trace.add_argument("id")
    _control_argument(trace)
    return parser


def _control_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--control", default=f"http://127.0.0.1:{_env_int('CONTROL_PORT', 4567)}")


def _run(args: argparse.Namespace) -> int:
    from devstack.stack import Options
    from devstack.stack import run as run_stack

    return run_stack(
        Options(
            project_dir=args.project_dir.resolve(),
            template=args.template,
            stage=args.stage,
            host=args.host,
            api_port=args.api_port,
            emulator_port=args.emulator_port,
            control_port=args.control_port,
            visibility_timeout=args.visibility_timeout,
            stream_max_retries=args.stream_max_retries,
            state_dir=args.state_dir.resolve() if args.state_dir else None,
            fresh=args.fresh,
            fsync=args.fsync,
            mappings=args.mappings,
            aws_error_rate=args.aws_error_rate,
            aws_error_services=tuple(args.aws_error_services),
            aws_error_operations=tuple(args.aws_error_operations),
            env_naming=args.env_naming,
            log_format=args.log_format,
            stripe=args.stripe,
            stripe_port=args.stripe_port,
            stripe_webhook_path=args.stripe_webhook_path,
            reload=args.reload,
            seed=args.seed,
        )
    )


def _emulator(args: argparse.Namespace) -> int:
    import logging
    import warnings

    # Request lines and moto's "no CloudFormation support" notes for the
    # types devstack.provision creates itself are noise here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"moto\.")
    from devstack.emulator import serve

    serve(args.host, args.port, args.state, args.fsync)
    return 0


def _drain(args: argparse.Namespace) -> int:
    from devstack.client import StackControl

    print(json.dumps(StackControl(args.control).drain(args.timeout)["byOutcome"]))
    return 0


def _trace(args: argparse.Namespace) -> int:
    from devstack.client import StackControl
    from devstack.traces import render

    print(render(args.id, StackControl(args.control).traces(args.id)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"run": _run, "emulator": _emulator, "drain": _drain, "trace": _trace}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
