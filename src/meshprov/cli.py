"""The ``meshprov`` command line: options in, a call into the core, text and an exit code out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from meshprov import __version__, config
from meshprov.diagnostics import Diagnostic, DiagnosticError, SourceCache, render_text

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_FORMAT = 0, 1, 2, 3


class Session:
    """What every command needs: the configuration directory and how to print diagnostics."""

    def __init__(self, chdir: str, no_color: bool):
        self.directory = Path(chdir)
        self.no_color = no_color or not sys.stdout.isatty()
        self.sources = SourceCache()

    def print_diagnostics(self, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> None:
        for diag in diagnostics:
            click.echo(render_text(diag, self.sources), err=True)


def _fail(session: Session, exc: DiagnosticError) -> None:
    session.print_diagnostics(exc.diagnostics)
    sys.exit(EXIT_ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", "-v", prog_name="meshprov", message="meshprov v%(version)s"
)
@click.option(
    "-C",
    "--chdir",
    default=".",
    metavar="DIR",
    show_default=True,
    help="The configuration directory to work in.",
)
@click.option("--no-color", is_flag=True, help="Plain text output, without colours.")
@click.pass_context
def cli(ctx: click.Context, chdir: str, no_color: bool) -> None:
    """Declarative provisioning of Kong Mesh control-plane security.

    Describe the global control plane, zones, certificate authorities and firewalls in HCL;
    plan shows what would change, apply makes it so.
    """
    if not Path(chdir).is_dir():
        raise click.BadParameter(f"{chdir} is not a directory", param_hint="'-C' / '--chdir'")
    ctx.obj = Session(chdir, no_color)


@cli.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (Terraform's shape)."
)
@click.option("--var", "cli_vars", multiple=True, metavar="NAME=VALUE", help="Set a root variable.")
@click.option(
    "--var-file",
    "var_files",
    multiple=True,
    metavar="FILE",
    help="Read variable values from a *.vars.hcl file.",
)
@click.pass_obj
def validate(
    session: Session, as_json: bool, cli_vars: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Check the configuration: syntax, references, types, cycles and Kong Mesh rules.

    Needs no state and no network. Variables without a value are treated as unknown.
    """
    diagnostics: list[Diagnostic] = []
    try:
        loaded = config.load(session.directory, var_files, cli_vars)
        diagnostics.extend(loaded.inputs.warnings)
        evaluation = config.validate(loaded)
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


@cli.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 3 if any file needs formatting.")
@click.option("--diff", is_flag=True, help="Show the formatting changes as a unified diff.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def fmt(session: Session, check: bool, diff: bool, paths: tuple[Path, ...]) -> None:
    """Rewrite *.hcl files in the canonical format, keeping comments.

    With no PATHS, formats the configuration directory's *.hcl and *.vars.hcl files.
    """
    from meshprov.hclfmt import format_paths, unified_diff

    files: list[Path] = []
    for path in paths or (session.directory,):
        files.extend(sorted(path.glob("*.hcl")) if path.is_dir() else [path])
    try:
        results = format_paths(files)
    except DiagnosticError as exc:
        _fail(session, exc)
    changed = [r for r in results if r.changed]
    for result in changed:
        click.echo(str(result.path))
        if diff:
            click.echo(unified_diff(result), nl=False)
        if not check:
            _write_formatted(result.path, result.formatted)
    sys.exit(EXIT_FORMAT if check and changed else EXIT_OK)


def _write_formatted(path: Path, text: str) -> None:
    from meshprov.files import write_atomic

    write_atomic(path, text.encode("utf-8"), path.stat().st_mode & 0o777)


@cli.command()
@click.option(
    "--format",
    "fmt_",
    type=click.Choice(["dot", "mermaid"]),
    default="dot",
    show_default=True,
    help="Graphviz DOT or a Mermaid flowchart.",
)
@click.pass_obj
def graph(session: Session, fmt_: str) -> None:
    """Print the dependency graph of the configuration's resources."""
    from meshprov.render.graph import render_dot, render_mermaid, resource_graph

    try:
        loaded = config.load(session.directory)
    except DiagnosticError as exc:
        _fail(session, exc)
    rgraph = resource_graph(loaded.graph)
    click.echo(render_dot(rgraph) if fmt_ == "dot" else render_mermaid(rgraph), nl=False)


def main() -> None:
    cli(prog_name="meshprov")
