"""``meshprov state list|show|rm|pull|push`` and ``meshprov force-unlock``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshprov.cli.session import (
    EXIT_ERROR,
    ConfigPath,
    Session,
    fail,
    seconds,
    with_lock_options,
)
from meshprov.diagnostics import DiagnosticError

if TYPE_CHECKING:
    from meshprov.state import State


@click.group()
def state() -> None:
    """Inspect and edit the state: list, show, mv, rm, pull, push."""


@state.command("list")
@click.argument("addresses", nargs=-1)
@click.pass_obj
def state_list(session: Session, addresses: tuple[str, ...]) -> None:
    """List the resource instances in the state (those under ADDRESSES, if given)."""
    from meshprov.addrs import address_under, parse_instance_address
    from meshprov.operations import current_state

    try:
        for given in addresses:  # a typo must not read as "nothing there" (Terraform's too)
            try:
                parse_instance_address(given)
            except ValueError as exc:
                raise DiagnosticError.single("Invalid resource address", str(exc)) from None
        current = current_state(session.directory)
    except DiagnosticError as exc:
        fail(session, exc)
    for address in current.resources:
        if not addresses or any(address_under(address, a) for a in addresses):
            click.echo(address)


@state.command("show")
@click.argument("address")
@click.pass_obj
def state_show(session: Session, address: str) -> None:
    """Show one resource instance's attributes (secrets masked)."""
    from meshprov.addrs import address_under
    from meshprov.operations import current_state
    from meshprov.render.human import render_resource_state

    try:
        resources = current_state(session.directory).resources
        rs = resources.get(address)
        if rs is None:
            under = [a for a in resources if address_under(a, address)]
            if under:
                raise DiagnosticError.single(
                    "Multiple instances found for the given address",
                    f"{address} has {len(under)} instances; `state show` shows one of them:\n"
                    + "".join(f"  {a}\n" for a in under),
                )
            raise DiagnosticError.single(
                "No instance found for the given address",
                f"{address} is not in the state. `meshprov state list` shows what is.",
            )
    except DiagnosticError as exc:
        fail(session, exc)
    click.echo(
        render_resource_state(rs.address, rs.type, rs.attributes, rs.sensitive_attributes), nl=False
    )


@state.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@with_lock_options
@click.pass_obj
def state_rm(session: Session, addresses: tuple[str, ...], lock: bool, lock_timeout: str) -> None:
    """Forget instances without destroying them: meshprov stops managing them."""
    from meshprov.addrs import address_under
    from meshprov.operations import backend_of, edit_state

    doomed: list[str] = []

    def forget(current: State) -> State:
        doomed.extend(
            a for a in current.resources if any(address_under(a, given) for given in addresses)
        )
        if not doomed:
            raise DiagnosticError.single(
                "Invalid target address",
                f"No matching objects found for {', '.join(addresses)}.",
            )
        for address in doomed:
            del current.resources[address]
        return current

    try:
        backend = backend_of(session.directory)
        edit_state(backend, "state-rm", seconds(lock_timeout), forget, enabled=lock)
    except DiagnosticError as exc:
        fail(session, exc)
    for address in doomed:
        click.echo(f"Removed {address}")
    click.echo(f"Successfully removed {len(doomed)} resource instance(s).")


@state.command("mv")
@click.argument("source")
@click.argument("destination")
@click.option("--dry-run", is_flag=True, help="Show what would move; change nothing.")
@with_lock_options
@click.pass_obj
def state_mv(
    session: Session, source: str, destination: str, dry_run: bool, lock: bool, lock_timeout: str
) -> None:
    """Move SOURCE (a resource, instance or module call) to DESTINATION in the state, keeping
    its keys and certificates: a rename without reissuing anything."""
    from meshprov.operations import backend_of, edit_state
    from meshprov.plan.moves import Move, apply_moves

    moved: dict[str, str] = {}

    def move(current: State) -> State:
        done = apply_moves([Move(source, destination)], current)
        if not done.previous:
            raise DiagnosticError.single(
                "Invalid source address",
                f"No matching objects found for {source}. `meshprov state list` shows what is "
                "in the state.",
            )
        moved.update(done.previous)
        if dry_run:
            raise _DryRun
        return done.state

    try:
        backend = backend_of(session.directory)
        edit_state(backend, "state-mv", seconds(lock_timeout), move, enabled=lock)
    except _DryRun:
        pass
    except DiagnosticError as exc:
        fail(session, exc)
    prefix = "Would move" if dry_run else "Move"
    for new, old in sorted(moved.items(), key=lambda kv: kv[1]):
        click.echo(f'{prefix} "{old}" to "{new}"')
    if not dry_run:
        click.echo(f"Successfully moved {len(moved)} object(s).")


class _DryRun(Exception):
    """Leaves ``edit_state`` before it writes: ``state mv --dry-run``."""


@state.command("pull")
@click.option(
    "--decrypt",
    is_flag=True,
    help="With state encryption: print the state in clear, not encrypted.",
)
@click.pass_obj
def state_pull(session: Session, decrypt: bool) -> None:
    """Print the state as JSON (it holds private keys: keep the output secret).

    With state encryption configured, the state is printed encrypted (an envelope that
    `state push` reads back) unless --decrypt is given.
    """
    from meshprov.backend import read_state
    from meshprov.operations import backend_of
    from meshprov.state.encryption import CONTENT_STATE

    try:
        backend = backend_of(session.directory)
        current = read_state(backend)
    except DiagnosticError as exc:
        fail(session, exc)
    if not backend.has_stored_state and not current.resources:
        return  # as Terraform: nothing to pull, rather than a new lineage made up each time
    data = current.dumps()
    if backend.encryption is not None and not decrypt:
        data = backend.encryption.seal(data, CONTENT_STATE)
    click.echo(data.decode(), nl=False)


@state.command("push")
@click.argument("file", type=ConfigPath(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Skip the lineage and serial checks.")
@with_lock_options
@click.pass_obj
def state_push(session: Session, file: Path, force: bool, lock: bool, lock_timeout: str) -> None:
    """Replace the state with FILE, refusing another lineage or an older serial."""
    from meshprov.backend import check_replace
    from meshprov.operations import backend_of, edit_state
    from meshprov.state import StateError, loads_state
    from meshprov.state.encryption import CONTENT_STATE, decode

    try:
        backend = backend_of(session.directory)
        try:
            plain, _ = decode(file.read_bytes(), CONTENT_STATE, str(file), backend.encryption)
            incoming = loads_state(plain, str(file))
        except StateError as exc:
            raise DiagnosticError.single("Failed to load state", str(exc)) from None

        def replace(current: State) -> State:
            check_replace(incoming, current, force)
            return incoming

        edit_state(backend, "state-push", seconds(lock_timeout), replace, exact=True, enabled=lock)
    except DiagnosticError as exc:
        fail(session, exc)
    click.echo(f"State pushed (lineage {incoming.lineage}, serial {incoming.serial}).")


@click.command("force-unlock")
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Don't ask for confirmation.")
@click.pass_obj
def force_unlock(session: Session, lock_id: str, force: bool) -> None:
    """Release a state lock left behind by a run that died, if LOCK_ID matches it."""
    from meshprov.operations import backend_of
    from meshprov.state import LockError

    try:
        backend = backend_of(session.directory, encryption=False)  # no passphrase needed to unlock
    except DiagnosticError as exc:
        fail(session, exc)
    if not force and not session.input:
        fail(
            session,
            DiagnosticError.single(
                "No confirmation possible",
                "--input=false without --force would wait for an answer it may not ask for.",
            ),
        )
    if not force:
        click.echo(
            "Do you really want to force-unlock?\n  meshprov will remove the lock on the "
            "state.\n  This will allow local meshprov commands to modify this state, even "
            "though it may still be in use. Only 'yes' will be accepted to confirm.\n"
        )
        click.echo("  Enter a value: ", nl=False)
        if sys.stdin.readline().strip() != "yes":
            click.echo("\nforce-unlock cancelled.")
            sys.exit(EXIT_ERROR)
    try:
        backend.force_unlock(lock_id)
    except LockError as exc:
        fail(session, DiagnosticError.single(exc.summary, exc.detail))
    click.echo("meshprov state has been successfully unlocked!")
