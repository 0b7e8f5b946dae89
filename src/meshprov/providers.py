"""Provider configuration for a run: the evaluated ``provider`` blocks, ready for resources."""

from __future__ import annotations

from typing import Any

from meshprov.aws import AwsSettings, Clients
from meshprov.config import LoadedConfig
from meshprov.config.evaluation import evaluate_providers


def configure_providers(config: LoadedConfig) -> dict[str, Any]:
    """What resource operations receive in ``Context.providers``: ``{"aws": Clients}``."""
    values = evaluate_providers(config.root, config.inputs.values, config.directory)
    return {"aws": Clients(AwsSettings.from_values(values.get("aws")))}
