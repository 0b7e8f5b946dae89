"""The ``aws`` provider: a ``provider "aws"`` block configures boto3 clients for the run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshprov.aws import AwsSettings, Clients
from meshprov.providers import Provider, register


def configure(values: Mapping[str, Any] | None) -> Clients:
    return Clients(AwsSettings.from_values(values))


register(
    Provider(
        "aws",
        ("region", "profile", "endpoint_url", "max_attempts", "retry_mode"),
        configure,
    )
)
