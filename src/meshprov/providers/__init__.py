"""Providers are plug-ins: each registers its name, the arguments its ``provider`` block takes,
and how to turn their evaluated values into what resources receive in ``Context.providers``.

The configuration loader checks ``provider`` blocks against this registry and the engine
configures every registered provider for a run; neither names one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Provider:
    name: str
    arguments: tuple[str, ...]  # what a `provider "NAME"` block may set
    # evaluated block values (None when the block is absent) → the run's client object
    configure: Callable[[Mapping[str, Any] | None], Any]


PROVIDERS: dict[str, Provider] = {}


def register(provider: Provider) -> None:
    PROVIDERS[provider.name] = provider


# the built-in providers register themselves on import
from meshprov.providers import aws  # noqa: E402, F401
