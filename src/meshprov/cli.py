"""The ``meshprov`` command line: options in, a call into the core, text and an exit code out."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

import click

from meshprov import __version__, config
from meshprov.diagnostics import (
    Diagnostic,
    DiagnosticError,
    SourceCache,
    render_text,
    warning,
)

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
        ctx.find_object(Session).no_color = True


no_color_option = click.option(
    "--no-color",
    is_flag=True,
    expose_value=False,
    callback=_set_no_color,
    help="Plain text output, without colours.",
)


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
@no_color_option
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
@click.option(
    "--plan",
    "planfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="PLANFILE",
    help="Colour each resource by what this saved plan does to it.",
)
@click.pass_obj
def graph(session: Session, fmt_: str, planfile: Path | None) -> None:
    """Print the dependency graph of the configuration's resources.

    With --plan, nodes are coloured by the planned action (create, update, replace, delete,
    no change); resources only the plan knows (being destroyed) are added.
    """
    from meshprov.plan.planfile import load_plan_document, plan_from_document
    from meshprov.render.graph import (
        plan_actions,
        render_dot,
        render_mermaid,
        resource_graph,
        with_plan,
    )

    try:
        loaded = config.load(session.directory)
        actions = None
        if planfile is not None:
            document = load_plan_document(planfile, lambda: _plan_encryption(session))
            actions = plan_actions(plan_from_document(document, None))
    except DiagnosticError as exc:
        _fail(session, exc)
    rgraph = resource_graph(loaded.graph)
    if actions is not None:
        rgraph = with_plan(rgraph, actions)
    render = render_dot if fmt_ == "dot" else render_mermaid
    click.echo(render(rgraph, actions), nl=False)


# --- plan, apply, destroy ------------------------------------------------------------------


def _plan_options(func):
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
        click.option(
            "--lock-timeout",
            default="0s",
            show_default=True,
            metavar="DURATION",
            help="How long to wait for the state lock.",
        ),
        click.option(
            "--parallelism",
            default=10,
            show_default=True,
            type=click.IntRange(1),
            help="How many resource operations run at once.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _seconds(text: str) -> float:
    from meshprov.resources.schema import parse_duration

    if text in ("0", "0s"):
        return 0.0
    try:
        return float(parse_duration(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--lock-timeout'") from None


def _now(as_of: str | None):
    from datetime import UTC, datetime

    if as_of is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{as_of!r} is not an RFC 3339 time such as 2027-01-31T12:00:00Z",
            param_hint="'--as-of'",
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter("the time needs a zone, e.g. Z or +02:00", param_hint="'--as-of'")
    return moment.astimezone(UTC)


def _make_plan(session: Session, loaded, state, mode, opts: dict):
    from meshprov.plan.planner import PlanOptions, plan

    if opts["refresh_only"] and not opts["refresh"]:
        raise DiagnosticError.single(
            "Incompatible refresh options",
            "It doesn't make sense to use --refresh-only at the same time as --no-refresh.",
        )
    if opts["replace"] and mode.value == "destroy":
        raise DiagnosticError.single(
            "Incompatible options", "--replace cannot be used when destroying."
        )
    options = PlanOptions(
        mode=mode,
        refresh=opts["refresh"],
        targets=tuple(opts["targets"]),
        replace=tuple(opts["replace"]),
        now=_now(opts["as_of"]),
        parallelism=opts["parallelism"],
    )
    return plan(loaded, state, options)


def _mode(destroy: bool, refresh_only: bool):
    from meshprov.plan.model import Mode

    if destroy and refresh_only:
        raise DiagnosticError.single(
            "Incompatible plan mode options",
            "The --destroy and --refresh-only options are mutually-exclusive.",
        )
    return Mode.DESTROY if destroy else Mode.REFRESH_ONLY if refresh_only else Mode.NORMAL


@cli.command()
@_plan_options
@click.option("--destroy", is_flag=True, help="Plan to destroy everything meshprov manages.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
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
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the plan as a pull-request comment (Markdown) to FILE.",
)
@no_color_option
@click.pass_obj
def plan(
    session: Session,
    destroy: bool,
    out: Path | None,
    detailed_exitcode: bool,
    as_json: bool,
    markdown: Path | None,
    **opts,
) -> None:
    """Show what apply would change, without changing anything."""
    from meshprov.backend import (
        backend_settings,
        check_backend_initialized,
        locked,
        open_backend,
        read_state,
        record_backend,
    )
    from meshprov.plan.planfile import write_plan

    try:
        mode = _mode(destroy, opts["refresh_only"])
        loaded = config.load(session.directory, opts["var_files"], opts["cli_vars"])
        backend = open_backend(loaded.root, loaded.directory)
        check_backend_initialized(loaded.root, loaded.directory)
        with locked(backend, "OperationTypePlan", _seconds(opts["lock_timeout"])):
            state = read_state(backend)
            the_plan = _make_plan(session, loaded, state, mode, opts)
        record_backend(loaded.directory, backend_settings(loaded.root))
    except DiagnosticError as exc:
        _fail(session, exc)
    session.print_diagnostics(the_plan.warnings)
    plain_text = None  # the plan as plain text, when printed so: the comment reuses it
    if as_json:
        from meshprov.render.json_plan import render_plan_json

        click.echo(render_plan_json(the_plan, _sensitive_variables(loaded)), nl=False)
    else:
        plain_text = _echo_plan(session, the_plan)
    if out is not None:
        write_plan(the_plan, out, _sensitive_variables(loaded), backend.encryption)
        if not as_json:
            click.echo(
                f"\nSaved the plan to: {out}\n\nTo perform exactly these actions, run the "
                f"following command to apply:\n    meshprov apply {out}"
            )
    if markdown is not None:
        _write_markdown(session, the_plan, markdown, plain_text)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _sensitive_variables(loaded) -> set[str]:
    return {name for name, var in loaded.root.variables.items() if var.sensitive}


def _echo_plan(session: Session, the_plan) -> str | None:
    """The plan as text, then its security impact (when there is anything to say).

    Returns the plan's text when it was printed without colours (for the Markdown comment).
    """
    from meshprov.render.human import render_plan, render_security_impact

    color = not session.no_color
    text = render_plan(the_plan, color=color)
    click.echo(text, nl=False)
    impact = render_security_impact(the_plan, color=color)
    if impact:
        click.echo("\n" + impact, nl=False)
    return None if color else text


def _markdown(session: Session, the_plan, plain_text: str | None = None) -> str:
    from meshprov.render.markdown import config_label, render_markdown

    return render_markdown(the_plan, config_label(session.directory), plan_text=plain_text)


def _write_markdown(session: Session, the_plan, path: Path, plain_text: str | None) -> None:
    from meshprov.files import write_atomic

    try:
        text = _markdown(session, the_plan, plain_text)
        write_atomic(path, text.encode("utf-8"), 0o644)
    except OSError as exc:
        _fail(
            session,
            DiagnosticError.single(
                "Failed to write the Markdown plan", f"{path}: {exc.strerror or exc}"
            ),
        )


@cli.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_plan_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option(
    "--input",
    "input_",
    type=bool,
    default=True,
    show_default=True,
    help="Ask for confirmation on stdin (false needs --auto-approve).",
)
@click.option("--destroy", is_flag=True, help="Destroy everything meshprov manages.")
@no_color_option
@click.pass_obj
def apply(
    session: Session, planfile: Path | None, auto_approve: bool, input_: bool, destroy: bool, **opts
) -> None:
    """Make the changes of a plan: a saved one (no prompt), or a fresh one after a yes."""
    _apply_command(session, planfile, auto_approve, input_, destroy, opts)


@cli.command()
@_plan_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@click.option(
    "--input",
    "input_",
    type=bool,
    default=True,
    show_default=True,
    help="Ask for confirmation on stdin (false needs --auto-approve).",
)
@no_color_option
@click.pass_obj
def destroy(session: Session, auto_approve: bool, input_: bool, **opts) -> None:
    """Destroy everything meshprov manages in this configuration (plan --destroy, then apply)."""
    _apply_command(session, None, auto_approve, input_, True, opts)


def _apply_command(
    session: Session,
    planfile: Path | None,
    auto_approve: bool,
    input_: bool,
    destroy: bool,
    opts: dict,
) -> None:
    from meshprov.backend import (
        backend_settings,
        check_backend_initialized,
        locked,
        open_backend,
        read_state,
        record_backend,
    )
    from meshprov.plan.planfile import load_plan_document, read_plan

    if planfile is None and not input_ and not auto_approve:
        _fail(
            session,
            DiagnosticError.single(
                "No confirmation possible",
                "--input=false without --auto-approve would wait for an answer it may not ask for; "
                "add --auto-approve, or apply a saved plan file.",
            ),
        )
    try:
        mode = _mode(destroy, opts["refresh_only"])
        saved_vars = None
        if planfile:
            document = load_plan_document(planfile, lambda: _plan_encryption(session))
            saved_vars = document["variables"]
        loaded = config.load(
            session.directory, opts["var_files"], opts["cli_vars"], saved=saved_vars
        )
        backend = open_backend(loaded.root, loaded.directory)
        check_backend_initialized(loaded.root, loaded.directory)
        operation = "OperationTypeApply" if not destroy else "OperationTypeDestroy"
        with locked(backend, operation, _seconds(opts["lock_timeout"])):
            state = read_state(backend)
            if planfile is not None:
                the_plan = read_plan(planfile, state, backend.encryption)
                if the_plan.config_digest != loaded.digest:
                    raise DiagnosticError.single(
                        "Configuration changed since the plan was made",
                        f"The configuration or variable values differ from those {planfile} "
                        "was made with. Run meshprov plan again.",
                    )
            else:
                the_plan = _make_plan(session, loaded, state, mode, opts)
                session.print_diagnostics(the_plan.warnings)
                _echo_plan(session, the_plan)
                record_backend(loaded.directory, backend_settings(loaded.root))
                if not the_plan.has_changes:
                    return
                if not auto_approve and not _confirm(the_plan, destroy):
                    click.echo("\nApply cancelled." if not destroy else "\nDestroy cancelled.")
                    sys.exit(EXIT_ERROR)
            _run_apply(session, loaded, the_plan, backend, opts["parallelism"])
    except DiagnosticError as exc:
        _fail(session, exc)


def _confirm(the_plan, destroy: bool) -> bool:
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


def _run_apply(session: Session, loaded, the_plan, backend, parallelism: int) -> None:
    from meshprov.apply import ApplyOptions, apply_plan
    from meshprov.backend import backend_settings, record_backend, save_applied_state
    from meshprov.render.human import render_apply_summary, render_outputs

    stop = threading.Event()
    printer = _EventPrinter(len(the_plan.resource_changes), sys.stdout.isatty())
    journal = backend.begin_journal(the_plan.prior_state)
    persister = backend.start_persisting()  # remote state: pushed every 20 s (none for local)

    def interrupt(signum, frame) -> None:
        if stop.is_set():
            click.echo(
                "\nTwo interrupts received. Exiting immediately. Every finished "
                "resource is in the state journal.",
                err=True,
            )
            os._exit(EXIT_ERROR)
        stop.set()
        persister.request()  # push what is done now; the final write follows
        click.echo(
            "\nInterrupt received.\nPlease wait for meshprov to exit or data loss may "
            "occur.\nGracefully shutting down...",
            err=True,
        )

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        result = apply_plan(
            loaded,
            the_plan,
            journal,
            ApplyOptions(
                parallelism=parallelism, stop=stop, on_event=printer.event, now=_now(None)
            ),
        )
    finally:
        persister.stop()  # waits for a push in progress: it never races the final write
        journal.close()
        signal.signal(signal.SIGINT, previous)
    printer.finish()
    warnings = save_applied_state(backend, result.state, loaded.directory, persister.errors)
    record_backend(loaded.directory, backend_settings(loaded.root))
    session.print_diagnostics(warnings)
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
            result.added, result.changed, result.destroyed, the_plan.mode.value == "destroy"
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

    def finish(self) -> None:
        if self.live:
            click.echo("\r\033[K", nl=False)


# --- reading state and plans -----------------------------------------------------------------


def _backend(session: Session, encryption: bool = True):
    """The backend of the configuration, loading only what choosing it needs."""
    from meshprov.backend import open_backend
    from meshprov.config.load import load_config

    return open_backend(
        load_config(session.directory), session.directory.resolve(), encryption=encryption
    )


def _plan_encryption(session: Session):
    """The configuration's state encryption (for an encrypted plan file), if any."""
    from meshprov.backend import state_encryption
    from meshprov.config.load import load_config

    return state_encryption(load_config(session.directory))


@cli.command()
@click.argument(
    "planfile", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Terraform's JSON plan (or, without PLANFILE, its JSON state representation).",
)
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="The saved plan as a pull-request comment (Markdown).",
)
@no_color_option
@click.pass_obj
def show(session: Session, planfile: Path | None, as_json: bool, as_markdown: bool) -> None:
    """Show a saved plan, or the current state when no PLANFILE is given."""
    from meshprov.backend import read_state
    from meshprov.plan.planfile import load_plan_document, plan_from_document
    from meshprov.render.human import render_outputs, render_resource_state

    try:
        if as_json and as_markdown:
            raise DiagnosticError.single(
                "Incompatible options", "--json and --markdown cannot be used together."
            )
        if as_markdown and planfile is None:
            raise DiagnosticError.single(
                "Plan file required",
                "--markdown renders a saved plan: give the PLANFILE made by "
                "`meshprov plan --out PLANFILE`.",
            )
        if planfile is not None:
            document = load_plan_document(planfile, lambda: _plan_encryption(session))
            the_plan = plan_from_document(document, None)
            if as_json:
                from meshprov.render.json_plan import render_plan_json

                click.echo(render_plan_json(the_plan), nl=False)
            elif as_markdown:
                click.echo(_markdown(session, the_plan), nl=False)
            else:
                _echo_plan(session, the_plan)
            return
        state = read_state(_backend(session))
    except DiagnosticError as exc:
        _fail(session, exc)
    if as_json:
        from meshprov.render.json_plan import render_state_json

        click.echo(render_state_json(state), nl=False)
        return
    if not state.resources and not state.outputs:
        click.echo("The state file is empty. No resources are represented.")
        return
    for rs in state.resources.values():
        click.echo(
            render_resource_state(rs.address, rs.type, rs.attributes, rs.sensitive_attributes)
        )
    if state.outputs:
        click.echo(render_outputs(state.outputs), nl=False)


@cli.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="All outputs (or NAME) as JSON.")
@click.option("--raw", is_flag=True, help="NAME's value as a raw string, for scripts.")
@click.option(
    "--show-sensitive",
    is_flag=True,
    help="Print sensitive values with --json or --raw (they are masked otherwise).",
)
@no_color_option
@click.pass_obj
def output(
    session: Session, name: str | None, as_json: bool, raw: bool, show_sensitive: bool
) -> None:
    """Show the root module's output values from the state.

    Sensitive values (private keys) are masked everywhere unless --show-sensitive is given
    together with --json or --raw, so that a secret reaches stdout only when asked for.
    """
    from meshprov.backend import read_state
    from meshprov.lang.types import infer_type, type_json
    from meshprov.render.human import render_outputs

    try:
        outputs = read_state(_backend(session)).outputs
        if name is not None and name not in outputs:
            raise DiagnosticError.single(
                f'Output "{name}" not found',
                "The output variable requested could not be found in the state file. If you "
                "recently added this to your configuration, be sure to run `meshprov apply`.",
            )
    except DiagnosticError as exc:
        _fail(session, exc)
    if not outputs and name is None and not as_json:
        click.echo(
            "Warning: No outputs found\n\nThe state file either has no outputs defined, or all "
            "the defined outputs are empty. Please define an output in your configuration with "
            "the `output` keyword and run `meshprov apply` for it to become available.",
            err=True,
        )
        return
    # states written before types were kept: the type of the JSON value
    types = {k: v.get("type") or type_json(infer_type(v["value"])) for k, v in outputs.items()}
    if not show_sensitive:
        outputs = {
            k: ({**v, "value": None} if v.get("sensitive") else v) for k, v in outputs.items()
        }
    if raw:
        if name is None:
            _fail(
                session,
                DiagnosticError.single(
                    "Output name required", "--raw needs the NAME of one output."
                ),
            )
        value = outputs[name]["value"]
        if outputs[name].get("sensitive") and not show_sensitive:
            _fail(
                session,
                DiagnosticError.single(
                    "Sensitive output",
                    f'Output "{name}" is sensitive; add --show-sensitive to print its value.',
                ),
            )
        if isinstance(value, dict | list) or value is None:
            _fail(
                session,
                DiagnosticError.single(
                    "Unsupported value for raw output",
                    f'The value of output "{name}" is not a string, number or bool; use --json.',
                ),
            )
        click.echo(json.dumps(value) if isinstance(value, bool) else value, nl=False)
        return
    if as_json:
        data = (
            outputs[name]["value"]
            if name
            else {
                k: {"sensitive": v.get("sensitive", False), "type": types[k], "value": v["value"]}
                for k, v in outputs.items()
            }
        )
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    if name is not None:
        click.echo(render_outputs({name: outputs[name]}, bare=True), nl=False)
        return
    click.echo(render_outputs(outputs), nl=False)


@cli.command()
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
    metavar="FILE",
    help="Read variable values from a *.vars.hcl file.",
)
@no_color_option
@click.pass_obj
def verify(
    session: Session,
    as_json: bool,
    as_of: str | None,
    cli_vars: tuple[str, ...],
    var_files: tuple[str, ...],
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
    from meshprov.providers import configure_providers
    from meshprov.render.verify import render_verify_json, render_verify_text
    from meshprov.resources.base import Context
    from meshprov.verify import verify_state

    now = _now(as_of)
    try:
        loaded = config.load(session.directory, var_files, cli_vars)
        state = read_state(open_backend(loaded.root, loaded.directory))
        context = None
        if any(rs.type == "firewall" for rs in state.resources.values()):
            context = Context(loaded.directory, now, configure_providers(loaded))
        report = verify_state(state, loaded.directory, now, context)
    except DiagnosticError as exc:
        _fail(session, exc)
    if as_json:
        click.echo(render_verify_json(report), nl=False)
    else:
        click.echo(render_verify_text(report, color=not session.no_color), nl=False)
    sys.exit(EXIT_OK if report.ok else EXIT_ERROR)


@cli.group()
def state() -> None:
    """Inspect and edit the state: list, show, rm, pull, push."""


@state.command("list")
@click.argument("addresses", nargs=-1)
@click.pass_obj
def state_list(session: Session, addresses: tuple[str, ...]) -> None:
    """List the resource instances in the state (those under ADDRESSES, if given)."""
    from meshprov.backend import read_state

    try:
        current = read_state(_backend(session))
    except DiagnosticError as exc:
        _fail(session, exc)
    for address in current.resources:
        if not addresses or any(_under(address, a) for a in addresses):
            click.echo(address)


def _under(address: str, prefix: str) -> bool:
    return address == prefix or address.startswith((prefix + ".", prefix + "["))


@state.command("show")
@click.argument("address")
@no_color_option
@click.pass_obj
def state_show(session: Session, address: str) -> None:
    """Show one resource instance's attributes (secrets masked)."""
    from meshprov.backend import read_state
    from meshprov.render.human import render_resource_state

    try:
        rs = read_state(_backend(session)).resources.get(address)
        if rs is None:
            raise DiagnosticError.single(
                "No instance found for the given address",
                f"{address} is not in the state. `meshprov state list` shows what is.",
            )
    except DiagnosticError as exc:
        _fail(session, exc)
    click.echo(
        render_resource_state(rs.address, rs.type, rs.attributes, rs.sensitive_attributes), nl=False
    )


@state.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--lock-timeout", default="0s", show_default=True, metavar="DURATION")
@click.pass_obj
def state_rm(session: Session, addresses: tuple[str, ...], lock_timeout: str) -> None:
    """Forget instances without destroying them: meshprov stops managing them."""
    from meshprov.backend import locked, read_state, write_state

    try:
        backend = _backend(session)
        with locked(backend, "state-rm", _seconds(lock_timeout)):
            current = read_state(backend)
            doomed = [a for a in current.resources if any(_under(a, given) for given in addresses)]
            if not doomed:
                raise DiagnosticError.single(
                    "Invalid target address",
                    f"No matching objects found for {', '.join(addresses)}.",
                )
            for address in doomed:
                del current.resources[address]
            write_state(backend, current)
    except DiagnosticError as exc:
        _fail(session, exc)
    for address in doomed:
        click.echo(f"Removed {address}")
    click.echo(f"Successfully removed {len(doomed)} resource instance(s).")


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

    try:
        backend = _backend(session)
        current = read_state(backend)
    except DiagnosticError as exc:
        _fail(session, exc)
    data = current.dumps()
    if backend.encryption is not None and not decrypt:
        from meshprov.state.encryption import CONTENT_STATE

        data = backend.encryption.seal(data, CONTENT_STATE)
    click.echo(data.decode(), nl=False)


@state.command("push")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Skip the lineage and serial checks.")
@click.option("--lock-timeout", default="0s", show_default=True, metavar="DURATION")
@click.pass_obj
def state_push(session: Session, file: Path, force: bool, lock_timeout: str) -> None:
    """Replace the state with FILE, refusing another lineage or an older serial."""
    from meshprov.backend import check_replace, locked, read_state, write_state
    from meshprov.state import StateError, loads_state
    from meshprov.state.encryption import CONTENT_STATE, decode

    try:
        backend = _backend(session)
        try:
            plain, _ = decode(file.read_bytes(), CONTENT_STATE, str(file), backend.encryption)
            incoming = loads_state(plain, str(file))
        except StateError as exc:
            raise DiagnosticError.single("Failed to load state", str(exc)) from None
        with locked(backend, "state-push", _seconds(lock_timeout)):
            current = read_state(backend)
            check_replace(incoming, current, force)
            write_state(backend, incoming, exact=True)
    except DiagnosticError as exc:
        _fail(session, exc)
    click.echo(f"State pushed (lineage {incoming.lineage}, serial {incoming.serial}).")


@cli.command("force-unlock")
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Don't ask for confirmation.")
@click.pass_obj
def force_unlock(session: Session, lock_id: str, force: bool) -> None:
    """Release a state lock left behind by a run that died, if LOCK_ID matches it."""
    from meshprov.state import LockError

    try:
        backend = _backend(session, encryption=False)  # no passphrase needed to unlock
    except DiagnosticError as exc:
        _fail(session, exc)
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
        _fail(session, DiagnosticError.single(exc.summary, exc.detail))
    click.echo("meshprov state has been successfully unlocked!")


@cli.command()
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

    try:
        if migrate_state and reconfigure:
            raise DiagnosticError.single(
                "Incompatible options", "--migrate-state and --reconfigure exclude each other."
            )
        loaded = config.load(session.directory)
        report = init_backend(
            loaded.root,
            loaded.directory,
            migrate=migrate_state,
            reconfigure=reconfigure,
            force=force,
            timeout=_seconds(lock_timeout),
        )
    except DiagnosticError as exc:
        _fail(session, exc)
    session.print_diagnostics(loaded.inputs.warnings)
    session.print_diagnostics(report.warnings)
    click.echo(
        "Initializing the backend...\n"
        + "".join(f"  {line}\n" for line in report.lines)
        + "\nmeshprov has been successfully initialized!\n\nYou may now begin working with "
        'meshprov. Try running "meshprov plan" to see any changes that are required.'
    )


_TERRAFORM_STYLE = re.compile(r"^-[a-z][a-z-]+(=.*)?$", re.DOTALL)


def terraform_spelling(args: list[str]) -> list[str]:
    """Accept Terraform's one-dash long options: ``-auto-approve``, ``-out=plan.bin``.

    Short options are one letter (``-C``, ``-h``, ``-v``), so a longer word after a single dash
    can only be a long option.
    """
    out = []
    for arg in args:
        if arg == "--":
            out.extend(args[len(out) :])
            break
        out.append("-" + arg if _TERRAFORM_STYLE.match(arg) else arg)
    return out


def main() -> None:
    # A run builds one large object graph (the configuration) that lives until the process
    # exits. With the default thresholds the cyclic collector re-traverses it again and again
    # (half the CPU time of validating 5,000 zones), then once more at exit: collect rarely,
    # and never what is still alive at the end.
    gc.set_threshold(100_000, 10, 10)
    try:
        cli(args=terraform_spelling(sys.argv[1:]), prog_name="meshprov")
    finally:
        gc.freeze()
