"""Functional tier: ``chalice.test.Client`` -> app.py -> adapters -> moto in-process.

One moto world per test module: ``infra/resources.yaml`` is deployed once with
moto's CloudFormation, its outputs become the app's environment, and ``app`` is
imported fresh against them. Tests share that world, so each one works on its
own skus, customers and orders (see ``tests.support.builders.unique``); the
one test that needs an empty catalog empties it itself. The shop and its
helpers live in ``tests.support.functional_shop``.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import bootstrap
from tests.support.functional_shop import (
    REGION,
    ROOT,
    STACK_NAME,
    STAGE,
    STRIPE_WEBHOOK_SECRET,
    TEMPLATE,
    Shop,
    stage_secret,
)


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    from devstack.sqs_moves import patch_message_moves

    patch_message_moves()  # moto lacks StartMessageMoveTask; devstack adds it
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)

        session = boto3.session.Session(region_name=REGION)
        cfn = session.client("cloudformation")
        with warnings.catch_warnings():
            # moto's CloudFormation skips SNS subscriptions and queue policies;
            # the handlers are invoked directly here, so nothing needs them.
            warnings.simplefilter("ignore")
            cfn.create_stack(
                StackName=STACK_NAME,
                TemplateBody=TEMPLATE.read_text(),
                Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
            )
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack["StackStatus"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        for key in ("InventoryQueueName", "PaymentsQueueName", "ShippingQueueName"):
            # Queue outputs must be plain names (the app resolves URLs by name).
            assert "/" not in outputs[key] and ":" not in outputs[key], outputs[key]

        from chalicelib.platform.settings import output_to_env

        for key, value in outputs.items():
            mp.setenv(output_to_env(key), value)
        secret = stage_secret()
        mp.setenv("STAGE", STAGE)
        mp.setenv("JWT_SECRET", secret)
        mp.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET)

        # This module's world: services built from its environment. The app
        # is imported once per process; its handlers ask bootstrap for the
        # services at call time, so a new world needs no reload.
        bootstrap.install(bootstrap.build())
        app_module = importlib.import_module("app")

        from devstack.api import patch_authorizer

        patch_authorizer()

        with Client(app_module.app, stage_name=STAGE, project_dir=str(ROOT)) as client:
            yield Shop(
                app=app_module,
                client=client,
                outputs=outputs,
                secret=secret,
                session=session,
            )
        bootstrap.install(None)
