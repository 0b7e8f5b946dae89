"""Provider configuration for a run: the evaluated ``provider`` blocks, ready for resources."""

from __future__ import annotations

from typing import Any

from meshprov.engine.configuration import LoadedConfig
from meshprov.engine.walk import evaluate_providers
from meshprov.providers import PROVIDERS


def configure_providers(config: LoadedConfig) -> dict[str, Any]:
    """What resource operations receive in ``Context.providers``: one entry per registered
    provider (e.g. ``{"aws": meshprov.aws.Clients}``), configured even without a block."""
    values = evaluate_providers(config.root, config.inputs.values, config.directory)
    return {name: p.configure(values.get(name)) for name, p in PROVIDERS.items()}
