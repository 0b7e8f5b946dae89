"""What every command shares: the session (directory, colours, diagnostics), common options,
exit codes, and the parsing of durations and moments given on the command line."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from meshprov.diagnostics import (
    SECRETS,
    Diagnostic,
    DiagnosticError,
    SourceCache,
    consolidate_warnings,
    render_compact_warnings,
    render_text,
)

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_FORMAT = 0, 1, 2, 3
EARLIEST_MOMENT = datetime(1970, 1, 1, tzinfo=UTC)  # --as-of: nothing meshprov made is older


class Session:
    """What every command needs: the configuration directory and how to print diagnostics."""

    def __init__(self, chdir: str, no_color: bool):
        SECRETS.clear()  # a command's diagnostics hide this command's secrets, no others'
        self.directory = Path(chdir)
        # https://no-color.org: any non-empty NO_COLOR turns colours off
        self.no_color = no_color or bool(os.environ.get("NO_COLOR")) or not sys.stdout.isatty()
        self.input = True  # --input=false: never ask a question on stdin
        self.compact_warnings = False
        self.sources = SourceCache()

    def command(self, name: str, path: Path) -> str:
        """``meshprov [-C DIR] NAME PATH`` to run from here, PATH as ConfigPath rebased it."""
        words = ["meshprov"]
        if self.directory != Path("."):
            words += ["-C", str(self.directory)]
            if not path.is_absolute():
                path = path.relative_to(self.directory)
        return shlex.join([*words, name, str(path)])

    def print_diagnostics(self, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> None:
        diagnostics = list(diagnostics)
        compact = self.compact_warnings and not any(d.severity == "error" for d in diagnostics)
        if compact and diagnostics:
            # Terraform's -compact-warnings: one line per warning, as long as nothing failed
            click.echo(render_compact_warnings(diagnostics), err=True)
            return
        for diag in consolidate_warnings(diagnostics):
            click.echo(render_text(diag, self.sources), err=True)


class ConfigPath(click.Path):
    """A path given on the command line (``--out``, ``--markdown``, ``--var-file``, a plan or
    state FILE, ``fmt`` PATHS): relative to the configuration directory, as with Terraform's
    ``-chdir``, which switches directory before the command so that every relative path is
    relative to DIR. An absolute path stays as it is."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        session = ctx.find_object(Session) if ctx is not None else None
        if session is not None and isinstance(value, str | os.PathLike):
            value = session.directory / value
        return super().convert(value, param, ctx)


def _session_flag(
    attribute: str, value_when_set: bool
) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value == value_when_set:
            setattr(ctx.find_object(Session), attribute, value_when_set)

    return callback


no_color_option = click.option(
    "--no-color",
    is_flag=True,
    expose_value=False,
    callback=_session_flag("no_color", True),
    help="Plain text output, without colours (also with NO_COLOR set).",
)

input_option = click.option(
    "--input/--no-input",
    default=True,
    expose_value=False,
    callback=_session_flag("input", False),
    help="Ask for input when needed; --input=false never asks (CI).",
)

compact_warnings_option = click.option(
    "--compact-warnings",
    is_flag=True,
    expose_value=False,
    callback=_session_flag("compact_warnings", True),
    help="Show warnings as one line each (unless there are errors too).",
)

lock_options = (
    click.option(
        "--lock/--no-lock",
        default=True,
        show_default=True,
        help="Hold the state lock while working; --lock=false is dangerous with others around.",
    ),
    click.option(
        "--lock-timeout",
        default="0s",
        show_default=True,
        metavar="DURATION",
        help="How long to wait for the state lock.",
    ),
)


def with_lock_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(lock_options):
        func = option(func)
    return func


def add_common_options(command: click.Command) -> click.Command:
    """Give a command (and a group's commands) the options every command takes, once."""
    names = {p.name for p in command.params}
    for option in (input_option, no_color_option):
        probe = option(click.Command("probe"))
        param = probe.params[0]
        if param.name not in names:
            command.params.append(param)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_common_options(sub)
    return command


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
    from meshprov.resources.schema import LATEST_MOMENT

    if not EARLIEST_MOMENT <= when < LATEST_MOMENT:  # compared across zones: never converted
        raise click.BadParameter(
            f"{as_of!r} is out of range: give a time from {EARLIEST_MOMENT:%Y-%m-%d} and "
            f"before {LATEST_MOMENT:%Y-%m-%d}",
            param_hint="'--as-of'",
        )
    return when.astimezone(UTC)
