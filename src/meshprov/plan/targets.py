"""Checking ``--target`` and ``--replace`` addresses against what the run knows.

A mistyped address must not turn into "No changes." (a rotation that silently does nothing):
an address that matches nothing is an error naming the closest known addresses, and one that
names a resource with several instances without a key is a warning listing them.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from meshprov.addrs import address_under, parse_instance_address
from meshprov.diagnostics import TARGETING, Diagnostic, error, warning

_CLOSEST = 3


def check_addresses(
    targets: Iterable[str], replace: Iterable[str], instances: Iterable[str], resources: set[str]
) -> list[Diagnostic]:
    """Diagnostics for targets and replace addresses.

    ``instances``: every instance address in the configuration and the state;
    ``resources``: the configuration's resource addresses without keys (a resource whose
    ``count`` is 0 has no instance but may still be targeted).
    """
    known = sorted(set(instances))
    found: list[Diagnostic] = []
    for target in targets:
        matched = [a for a in known if address_under(a, target)]
        if not matched and not any(address_under(r, target) for r in resources):
            found.append(_unmatched("--target", target, known, resources))
        elif _is_resource(target) and len(matched) > 1:
            found.append(
                warning(
                    "Target matches several instances",
                    f"--target {target} names a resource with {len(matched)} instances and "
                    f"targets all of them:\n{_listing(matched)}To target one, give its key.",
                    code=TARGETING,
                )
            )
    for address in replace:
        if address in known:
            continue
        matched = [a for a in known if address_under(a, address)]
        if matched:
            found.append(
                warning(
                    "Incompletely-matched force-replace resource instance",
                    f"--replace {address} replaces nothing: it names no single instance. To "
                    f"replace particular instances, use one of these full instance addresses:\n"
                    f"{_listing(matched)}",
                    code=TARGETING,
                )
            )
        else:
            found.append(_unmatched("--replace", address, known, resources))
    return found


def _is_resource(address: str) -> bool:
    """An address that names a resource (not a module, not an instance)."""
    try:
        parsed = parse_instance_address(address)
    except ValueError:
        return False
    return parsed.type != "module" and parsed.key is None


def _unmatched(option: str, address: str, known: list[str], resources: set[str]) -> Diagnostic:
    candidates = sorted({*known, *resources})
    closest = get_close_matches(address, candidates, n=_CLOSEST, cutoff=0.0)
    detail = f"{option} {address} matches no resource instance in the configuration or the state."
    if closest:
        detail += f" The closest addresses:\n{_listing(closest)}"
    return error("No such resource instance", detail.rstrip("\n"))


def _listing(addresses: list[str]) -> str:
    return "".join(f"  {a}\n" for a in addresses)
