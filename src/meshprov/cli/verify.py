"""``meshprov verify``: read back what apply made and check it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshprov.cli.session import EXIT_ERROR, EXIT_OK, ConfigPath, Session, fail, moment
from meshprov.diagnostics import DiagnosticError

if TYPE_CHECKING:
    pass


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable rows and checks.")
@click.option(
    "--as-of",
    "as_of",
    metavar="RFC3339-TIME",
    help="Check expiry as of this moment instead of now.",
)
@click.option(
    "--var",
    "cli_vars",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a root variable (for the provider settings).",
)
@click.option(
    "--var-file",
    "var_files",
    multiple=True,
    type=ConfigPath(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Read variable values from a *.vars.hcl file.",
)
@click.pass_obj
def verify(
    session: Session,
    as_json: bool,
    as_of: str | None,
    cli_vars: tuple[str, ...],
    var_files: tuple[Path, ...],
) -> None:
    """Check the deployed certificates, keys and files of every secured channel.

    Certificate chains, SANs, expiry against renew_before, key files and their modes, the files
    env files point at, and a real TLS handshake on 127.0.0.1 for each zone → global KDS pair.
    Each firewall's security groups are read back from AWS: ingress on the port must be
    exactly the allowed CIDRs, nothing public. Prints one row per channel and control plane;
    exits 1 when a check fails. Insecure settings the configuration chose (plain HTTP on
    0.0.0.0, MADS without TLS) are only warnings.
    """
    from meshprov.backend import open_backend, read_state
    from meshprov.engine import configuration
    from meshprov.engine.providers import configure_providers
    from meshprov.render.verify import render_verify_json, render_verify_text
    from meshprov.resources.base import Context
    from meshprov.verify import verify_state

    now = moment(as_of)
    try:
        loaded = configuration.load(session.directory, var_files, cli_vars)
        state = read_state(open_backend(loaded.root, loaded.directory))
        context = Context(loaded.directory, now, configure_providers(loaded))
        report = verify_state(state, context)
    except DiagnosticError as exc:
        fail(session, exc)
    if as_json:
        click.echo(render_verify_json(report), nl=False)
    else:
        click.echo(render_verify_text(report, color=not session.no_color), nl=False)
    sys.exit(EXIT_OK if report.ok else EXIT_ERROR)
