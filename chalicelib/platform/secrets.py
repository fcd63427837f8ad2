"""Secrets of deployed stages: SSM SecureStrings, read once per container.

Local and test stages never come here (their secrets are in the environment).
A value is cached for the container's life, so a rotated secret takes effect
on new containers; nothing here logs a value.
"""

from __future__ import annotations

import threading

# IAM actions this module's own calls need (collected by tools.iam). The
# parameters are encrypted with the AWS-managed key aws/ssm: no kms:Decrypt.
AWS_CALLS = frozenset({"ssm:GetParameter"})

# What `make deploy` puts in a parameter it creates for the operator to fill.
PLACEHOLDER = "REPLACE_ME"

_lock = threading.Lock()
_cache: dict[str, str] = {}


class SecretNotSet(RuntimeError):
    """The parameter still holds the placeholder `make deploy` created."""


def read(parameter: str) -> str:
    """The parameter's decrypted value (cached); SecretNotSet for a placeholder."""
    with _lock:
        if parameter not in _cache:
            from chalicelib.platform import aws

            with aws.translate():
                response = aws.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
            _cache[parameter] = str(response["Parameter"]["Value"])
        value = _cache[parameter]
    if value == PLACEHOLDER:
        raise SecretNotSet(
            f"SSM parameter {parameter} holds the placeholder: put the real value in it "
            f"(aws ssm put-parameter --name {parameter} --type SecureString --overwrite "
            "--value ...)"
        )
    return value


def forget() -> None:
    """Drop the cache (tests)."""
    with _lock:
        _cache.clear()
