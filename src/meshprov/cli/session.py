"""What every command shares: the session (directory, colours, diagnostics), common options,
exit codes, and the parsing of durations and moments given on the command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click

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


def _set_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_object(Session).no_color = True  # type: ignore[union-attr]


no_color_option = click.option(
    "--no-color",
    is_flag=True,
    expose_value=False,
    callback=_set_no_color,
    help="Plain text output, without colours.",
)


def fail(session: Session, exc: DiagnosticError) -> NoReturn:
    session.print_diagnostics(exc.diagnostics)
    sys.exit(EXIT_ERROR)


def seconds(text: str) -> float:
    """A --lock-timeout value: ``0s``, ``30s``, ``5m``..."""
    # imported here: the resource package is not for `meshprov --version` or `--help`
    from meshprov.resources.schema import parse_duration

    if text in ("0", "0s"):
        return 0.0
    try:
        return float(parse_duration(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--lock-timeout'") from None


def moment(as_of: str | None) -> datetime:
    """An --as-of value (RFC 3339), or now."""
    if as_of is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{as_of!r} is not an RFC 3339 time such as 2027-01-31T12:00:00Z",
            param_hint="'--as-of'",
        ) from None
    if when.tzinfo is None:
        raise click.BadParameter("the time needs a zone, e.g. Z or +02:00", param_hint="'--as-of'")
    return when.astimezone(UTC)
