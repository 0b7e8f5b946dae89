"""``meshprov validate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshprov.cli.session import EXIT_ERROR, EXIT_OK, ConfigPath, Session
from meshprov.diagnostics import Diagnostic, DiagnosticError

if TYPE_CHECKING:
    pass


@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (Terraform's shape)."
)
@click.option("--var", "cli_vars", multiple=True, metavar="NAME=VALUE", help="Set a root variable.")
@click.option(
    "--var-file",
    "var_files",
    multiple=True,
    type=ConfigPath(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Read variable values from a *.vars.hcl file.",
)
@click.pass_obj
def validate(
    session: Session, as_json: bool, cli_vars: tuple[str, ...], var_files: tuple[Path, ...]
) -> None:
    """Check the configuration: syntax, references, types, cycles and Kong Mesh rules.

    Needs no state and no network. Variables without a value are treated as unknown.
    """
    from meshprov.engine import configuration

    diagnostics: list[Diagnostic] = []
    try:
        loaded = configuration.load(session.directory, var_files, cli_vars)
        diagnostics.extend(loaded.inputs.warnings)
        evaluation = configuration.validate(loaded)
        diagnostics.extend(evaluation.warnings)
    except DiagnosticError as exc:
        diagnostics.extend(exc.diagnostics)
    errors = sum(d.severity == "error" for d in diagnostics)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "format_version": "1.0",
                    "valid": errors == 0,
                    "error_count": errors,
                    "warning_count": len(diagnostics) - errors,
                    "diagnostics": [d.to_json() for d in diagnostics],
                },
                indent=2,
            )
        )
    else:
        session.print_diagnostics(diagnostics)
        if not errors:
            click.echo("Success! The configuration is valid.")
    sys.exit(EXIT_ERROR if errors else EXIT_OK)
