"""``meshprov show`` (a saved plan, or the state) and ``meshprov output``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from meshprov.cli.session import ConfigPath, Session, fail
from meshprov.diagnostics import DiagnosticError


@click.command()
@click.argument(
    "planfile", required=False, type=ConfigPath(exists=True, dir_okay=False, path_type=Path)
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
@click.pass_obj
def show(session: Session, planfile: Path | None, as_json: bool, as_markdown: bool) -> None:
    """Show a saved plan, or the current state when no PLANFILE is given."""
    from meshprov.cli.views import echo_plan, markdown
    from meshprov.operations import current_state, plan_encryption
    from meshprov.plan.planfile import load_plan_document, plan_from_document
    from meshprov.render.human import render_outputs, render_resource_state
    from meshprov.render.json_plan import render_plan_json, render_state_json

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
            document = load_plan_document(planfile, lambda: plan_encryption(session.directory))
            the_plan = plan_from_document(document, None, planfile, session.directory)
            if as_json:
                click.echo(render_plan_json(the_plan), nl=False)
            elif as_markdown:
                click.echo(markdown(session, the_plan), nl=False)
            else:
                echo_plan(session, the_plan)
            return
        state = current_state(session.directory)
    except DiagnosticError as exc:
        fail(session, exc)
    if as_json:
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


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="All outputs (or NAME) as JSON.")
@click.option("--raw", is_flag=True, help="NAME's value as a raw string, for scripts.")
@click.option(
    "--show-sensitive",
    is_flag=True,
    help="Print sensitive values with --json or --raw (they are masked otherwise).",
)
@click.pass_obj
def output(
    session: Session, name: str | None, as_json: bool, raw: bool, show_sensitive: bool
) -> None:
    """Show the root module's output values from the state.

    Sensitive values (private keys) are masked everywhere unless --show-sensitive is given
    together with --json or --raw, so that a secret reaches stdout only when asked for.
    """
    from meshprov.lang.numbers import json_dumps
    from meshprov.lang.types import infer_type, to_string, type_json
    from meshprov.operations import current_state
    from meshprov.render.human import render_outputs

    try:
        outputs = current_state(session.directory).outputs
        if name is not None and name not in outputs:
            raise DiagnosticError.single(
                f'Output "{name}" not found',
                "The output variable requested could not be found in the state file. If you "
                "recently added this to your configuration, be sure to run `meshprov apply`.",
            )
    except DiagnosticError as exc:
        fail(session, exc)
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
            fail(
                session,
                DiagnosticError.single(
                    "Output name required", "--raw needs the NAME of one output."
                ),
            )
        value = outputs[name]["value"]
        if outputs[name].get("sensitive") and not show_sensitive:
            fail(
                session,
                DiagnosticError.single(
                    "Sensitive output",
                    f'Output "{name}" is sensitive; add --show-sensitive to print its value.',
                ),
            )
        if isinstance(value, dict | list) or value is None:
            fail(
                session,
                DiagnosticError.single(
                    "Unsupported value for raw output",
                    f'The value of output "{name}" is not a string, number or bool; use --json.',
                ),
            )
        click.echo(json.dumps(value) if isinstance(value, bool) else to_string(value), nl=False)
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
        click.echo(json_dumps(data, indent=2, sort_keys=True))
        return
    if name is not None:
        click.echo(render_outputs({name: outputs[name]}, bare=True), nl=False)
        return
    click.echo(render_outputs(outputs), nl=False)
