"""``meshprov fmt``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshprov.cli.session import EXIT_FORMAT, EXIT_OK, ConfigPath, Session, fail
from meshprov.diagnostics import DiagnosticError

if TYPE_CHECKING:
    pass


@click.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 3 if any file needs formatting.")
@click.option("--diff", is_flag=True, help="Show the formatting changes as a unified diff.")
@click.option(
    "--recursive", is_flag=True, help="Also format the *.hcl files of subdirectories (modules)."
)
@click.argument("paths", nargs=-1, type=ConfigPath(exists=True, path_type=Path))
@click.pass_obj
def fmt(
    session: Session, check: bool, diff: bool, recursive: bool, paths: tuple[Path, ...]
) -> None:
    """Rewrite *.hcl files in the canonical format, keeping comments.

    With no PATHS, formats the configuration directory's *.hcl and *.vars.hcl files.
    """
    from meshprov.files import write_atomic
    from meshprov.hclfmt import format_paths, unified_diff

    files: list[Path] = []
    for path in paths or (session.directory,):
        files.extend(_hcl_files(path, recursive) if path.is_dir() else [path])
    try:
        results = format_paths(files)
    except DiagnosticError as exc:
        fail(session, exc)
    changed = [r for r in results if r.changed]
    for result in changed:
        click.echo(str(result.path))
        if diff:
            click.echo(unified_diff(result), nl=False)
        if not check:
            try:
                write_atomic(
                    result.path,
                    result.formatted.encode("utf-8"),
                    result.path.stat().st_mode & 0o777,
                )
            except OSError as exc:
                fail(
                    session,
                    DiagnosticError.single(
                        "Failed to write file", f"{result.path}: {exc.strerror or exc}."
                    ),
                )
    sys.exit(EXIT_FORMAT if check and changed else EXIT_OK)


def _hcl_files(directory: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(directory.glob("*.hcl"))
    # hidden directories (.git, .meshprov, .venv) hold no configuration of the user's
    return sorted(
        path
        for path in directory.rglob("*.hcl")
        if not any(part.startswith(".") for part in path.relative_to(directory).parts[:-1])
    )
