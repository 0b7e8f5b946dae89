"""``meshprov init``: check the configuration loads and prepare the state backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from meshprov.cli.session import Session, fail, seconds
from meshprov.diagnostics import DiagnosticError

if TYPE_CHECKING:
    pass


@click.command()
@click.option(
    "--migrate-state",
    is_flag=True,
    help="Move the state from the previous backend to the configured one.",
)
@click.option(
    "--reconfigure",
    is_flag=True,
    help="Use the configured backend as it is, moving no state.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --migrate-state: overwrite a state of another lineage or a newer serial.",
)
@click.option("--lock-timeout", default="0s", show_default=True, metavar="DURATION")
@click.pass_obj
def init(
    session: Session, migrate_state: bool, reconfigure: bool, force: bool, lock_timeout: str
) -> None:
    """Check that the configuration loads and prepare the state backend.

    Creates the local state directory; for S3, checks the bucket (it is never created) and
    warns when it has no versioning. The backend is recorded in .meshprov/backend.json; when
    the configuration names another backend than the recorded one, --migrate-state moves the
    state (both locked, lineage and serial checked) and --reconfigure switches without moving
    it. With encryption configured, a state stored in clear (or under the fallback
    passphrase) is rewritten encrypted with the passphrase.
    """
    from meshprov.backend import init_backend
    from meshprov.engine import configuration

    try:
        if migrate_state and reconfigure:
            raise DiagnosticError.single(
                "Incompatible options", "--migrate-state and --reconfigure exclude each other."
            )
        loaded = configuration.load(session.directory)
        report = init_backend(
            loaded.root,
            loaded.directory,
            migrate=migrate_state,
            reconfigure=reconfigure,
            force=force,
            timeout=seconds(lock_timeout),
        )
    except DiagnosticError as exc:
        fail(session, exc)
    session.print_diagnostics(loaded.inputs.warnings)
    session.print_diagnostics(report.warnings)
    click.echo(
        "Initializing the backend...\n"
        + "".join(f"  {line}\n" for line in report.lines)
        + "\nmeshprov has been successfully initialized!\n\nYou may now begin working with "
        'meshprov. Try running "meshprov plan" to see any changes that are required.'
    )
