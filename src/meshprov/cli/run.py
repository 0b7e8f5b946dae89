"""``meshprov plan``, ``apply`` and ``destroy``: one sequence (``operations.run``), three views."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from meshprov.cli.session import (
    EXIT_CHANGES,
    EXIT_ERROR,
    ConfigPath,
    Session,
    compact_warnings_option,
    fail,
    lock_options,
    moment,
    seconds,
)
from meshprov.diagnostics import Diagnostic, DiagnosticError, error, warning

if TYPE_CHECKING:
    from meshprov import operations
    from meshprov.engine.configuration import LoadedConfig
    from meshprov.plan.model import Plan


def _plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by plan, apply and destroy."""
    options = [
        click.option(
            "--var",
            "cli_vars",
            multiple=True,
            metavar="NAME=VALUE",
            help="Set a root variable (repeatable).",
        ),
        click.option(
            "--var-file",
            "var_files",
            multiple=True,
            type=ConfigPath(dir_okay=False, path_type=Path),
            metavar="FILE",
            help="Read variable values from a *.vars.hcl file (repeatable).",
        ),
        click.option(
            "--target",
            "targets",
            multiple=True,
            metavar="ADDR",
            help="Limit the run to ADDR and what it depends on (repeatable).",
        ),
        click.option(
            "--replace",
            "replace",
            multiple=True,
            metavar="ADDR",
            help="Replace ADDR even if nothing changed (repeatable).",
        ),
        click.option(
            "--refresh/--no-refresh",
            default=True,
            show_default=True,
            help="Read the real world before planning.",
        ),
        click.option(
            "--refresh-only",
            is_flag=True,
            help="Only record changes made outside meshprov; change nothing else.",
        ),
        click.option(
            "--as-of",
            "as_of",
            metavar="RFC3339-TIME",
            help="Plan as of this moment (to see what will need renewing).",
        ),
        *lock_options,
        click.option(
            "--parallelism",
            default=10,
            show_default=True,
            type=click.IntRange(1),
            help="How many resource operations run at once.",
        ),
        compact_warnings_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_options(opts: dict[str, Any], destroy: bool) -> operations.RunOptions:
    # --as-of and --lock-timeout are read when the run needs them (after loading), as before
    from meshprov import operations

    return operations.RunOptions(
        var_files=opts["var_files"],
        cli_vars=opts["cli_vars"],
        targets=opts["targets"],
        replace=opts["replace"],
        refresh=opts["refresh"],
        refresh_only=opts["refresh_only"],
        destroy=destroy,
        now=lambda: moment(opts["as_of"]),
        lock=opts["lock"],
        lock_timeout=lambda: seconds(opts["lock_timeout"]),
        parallelism=opts["parallelism"],
    )


@click.command()
@_plan_options
@click.option("--destroy", is_flag=True, help="Plan to destroy everything meshprov manages.")
@click.option(
    "--out",
    "out",
    type=ConfigPath(dir_okay=False, path_type=Path),
    help="Save the plan to FILE for `meshprov apply FILE`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 with no changes, 1 on error, 2 when there are changes.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the plan as Terraform's JSON plan (format 1.2) instead of text.",
)
@click.option(
    "--markdown",
    "markdown",
    type=ConfigPath(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the plan as a pull-request comment (Markdown) to FILE.",
)
@click.pass_obj
def plan(
    session: Session,
    destroy: bool,
    out: Path | None,
    detailed_exitcode: bool,
    as_json: bool,
    markdown: Path | None,
    **opts: Any,
) -> None:
    """Show what apply would change, without changing anything."""
    from meshprov import operations
    from meshprov.cli.views import echo_plan, write_markdown
    from meshprov.plan.planfile import write_plan

    try:
        with operations.run(
            session.directory, _run_options(opts, destroy), operations.LOCK_PLAN
        ) as the_run:
            pass
    except DiagnosticError as exc:
        fail(session, exc)
    the_plan, loaded = the_run.plan, the_run.loaded
    session.print_diagnostics(the_plan.warnings)
    plain_text = None  # the plan as plain text, when printed so: the comment reuses it
    if as_json:
        from meshprov.render.json_plan import render_plan_json

        click.echo(render_plan_json(the_plan, _sensitive_variables(loaded)), nl=False)
    else:
        plain_text = echo_plan(session, the_plan)
    if out is not None:
        try:
            write_plan(the_plan, out, _sensitive_variables(loaded), the_run.backend.encryption)
        except DiagnosticError as exc:
            fail(session, exc)
        if not as_json:
            click.echo(
                f"\nSaved the plan to: {out}\n\nTo perform exactly these actions, run the "
                f"following command to apply:\n    {session.command('apply', out)}"
            )
    if markdown is not None:
        write_markdown(session, the_plan, markdown, plain_text)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _sensitive_variables(loaded: LoadedConfig) -> set[str]:
    return {name for name, var in loaded.root.variables.items() if var.sensitive}


@click.command()
@click.argument("planfile", required=False, type=ConfigPath(dir_okay=False, path_type=Path))
@_plan_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--destroy", is_flag=True, help="Destroy everything meshprov manages.")
@click.pass_obj
def apply(
    session: Session,
    planfile: Path | None,
    auto_approve: bool,
    destroy: bool,
    **opts: Any,
) -> None:
    """Make the changes of a plan: a saved one (no prompt), or a fresh one after a yes."""
    _apply_command(session, planfile, auto_approve, destroy, opts)


@click.command()
@_plan_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@click.pass_obj
def destroy(session: Session, auto_approve: bool, **opts: Any) -> None:
    """Destroy everything meshprov manages in this configuration (plan --destroy, then apply)."""
    _apply_command(session, None, auto_approve, True, opts)


def _apply_command(
    session: Session,
    planfile: Path | None,
    auto_approve: bool,
    destroy: bool,
    opts: dict[str, Any],
) -> None:
    from meshprov import operations
    from meshprov.cli.views import echo_plan

    if planfile is None and not session.input and not auto_approve:
        fail(
            session,
            DiagnosticError.single(
                "No confirmation possible",
                "--input=false without --auto-approve would wait for an answer it may not ask for; "
                "add --auto-approve, or apply a saved plan file.",
            ),
        )
    if planfile is not None:
        refused = _options_a_saved_plan_refuses(session, planfile, destroy, opts)
        if refused:
            fail(session, DiagnosticError(refused))
    lock = operations.LOCK_DESTROY if destroy else operations.LOCK_APPLY
    try:
        with operations.run(
            session.directory, _run_options(opts, destroy), lock, planfile
        ) as the_run:
            the_plan = the_run.plan
            if planfile is None:
                session.print_diagnostics(the_plan.warnings)
                echo_plan(session, the_plan)
                if not the_plan.has_changes:
                    return
                if not auto_approve and not _confirm(destroy):
                    click.echo("\nApply cancelled." if not destroy else "\nDestroy cancelled.")
                    sys.exit(EXIT_ERROR)
            printer = _EventPrinter(len(the_plan.resource_changes), sys.stdout.isatty())
            applied = operations.apply_run(the_run, opts["parallelism"], printer)
            _report(session, the_plan, applied)
    except DiagnosticError as exc:
        fail(session, exc)


def _options_a_saved_plan_refuses(
    session: Session, planfile: Path, destroy: bool, opts: dict[str, Any]
) -> list[Diagnostic]:
    """Options that would shape a new plan, given with a saved one: refused, as Terraform
    does, rather than apply something other than what they ask (the whole plan, not the
    --target). Variables stay allowed: a saved plan holds no sensitive value, so they are given
    again, and the configuration digest refuses any that differ from the plan's."""
    refused = []
    if destroy:
        refused.append(
            error(
                "Destroy can't be called with a plan file",
                "If this plan was created using plan --destroy, apply it using:\n  "
                + session.command("apply", planfile),
            )
        )
    shaping = [
        option
        for option, given in (
            ("--target", opts["targets"]),
            ("--replace", opts["replace"]),
            ("--refresh-only", opts["refresh_only"]),
            ("--refresh=false", not opts["refresh"]),
            ("--as-of", opts["as_of"] is not None),
        )
        if given
    ]
    if shaping:
        refused.append(
            error(
                "Can't change a saved plan",
                f"A saved plan is applied exactly as it was made, so {', '.join(shaping)} cannot "
                "be used with one: give them to meshprov plan (with --out FILE) instead.",
            )
        )
    return refused


def _confirm(destroy: bool) -> bool:
    if destroy:
        question = (
            "Do you really want to destroy all resources?\n  meshprov will destroy all "
            "your managed infrastructure, as shown above.\n  There is no undo. Only "
            "'yes' will be accepted to confirm."
        )
    else:
        question = (
            "Do you want to perform these actions?\n  meshprov will perform the actions "
            "described above.\n  Only 'yes' will be accepted to approve."
        )
    click.echo(f"\n{question}\n")
    click.echo("  Enter a value: ", nl=False)
    answer = sys.stdin.readline()
    click.echo("")
    return answer.strip() == "yes"


def _report(session: Session, the_plan: Plan, applied: operations.Applied) -> None:
    from meshprov.plan.model import Mode
    from meshprov.render.human import render_apply_summary, render_notices, render_outputs

    result = applied.result
    session.print_diagnostics(applied.warnings)
    session.print_diagnostics(result.diagnostics)
    if result.interrupted:
        click.echo(
            "Apply interrupted: no new operations were started after the interrupt; the "
            "state records everything that finished.",
            err=True,
        )
    if result.failed:
        sys.exit(EXIT_ERROR)
    click.echo(
        "\n"
        + render_apply_summary(
            result.added, result.changed, result.destroyed, the_plan.mode is Mode.DESTROY
        )
    )
    if the_plan.targets:
        session.print_diagnostics(
            [
                warning(
                    "Applied changes may be incomplete",
                    "The plan was created with the --target option, so it may not include all "
                    "of the changes requested by the current configuration. Run meshprov plan "
                    "without --target to check for remaining changes.",
                )
            ]
        )
    if result.state.outputs:
        click.echo("\n" + render_outputs(result.state.outputs), nl=False)
    notices = render_notices(the_plan, color=not session.no_color)
    if notices:
        click.echo("\n" + notices, nl=False)


class _EventPrinter:
    """One line per resource event; on a terminal, a live progress line below them."""

    def __init__(self, total: int, tty: bool):
        self.total = total
        self.done = 0
        self.live = tty and total > 5
        self.lock = threading.Lock()

    def event(self, address: str, phase: str, message: str) -> None:
        with self.lock:
            if phase in ("done", "error"):
                self.done += 1
            line = f"{address}: {message}"
            if self.live:
                click.echo(f"\r\033[K{line}")
                click.echo(f"[{self.done}/{self.total}] applying...", nl=False)
            else:
                click.echo(line)

    def interrupted(self, again: bool) -> None:
        if again:
            click.echo(
                "\nTwo interrupts received. Exiting immediately. Every finished "
                "resource is in the state journal.",
                err=True,
            )
        else:
            click.echo(
                "\nInterrupt received.\nPlease wait for meshprov to exit or data loss may "
                "occur.\nGracefully shutting down...",
                err=True,
            )

    def finished(self) -> None:
        if self.live:
            click.echo("\r\033[K", nl=False)
