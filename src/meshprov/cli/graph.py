"""``meshprov graph``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshprov.cli.session import ConfigPath, Session, fail
from meshprov.diagnostics import DiagnosticError

if TYPE_CHECKING:
    pass


@click.command()
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
    type=ConfigPath(exists=True, dir_okay=False, path_type=Path),
    metavar="PLANFILE",
    help="Colour each resource by what this saved plan does to it.",
)
@click.pass_obj
def graph(session: Session, fmt_: str, planfile: Path | None) -> None:
    """Print the dependency graph of the configuration's resources.

    With --plan, nodes are coloured by the planned action (create, update, replace, delete,
    no change); resources only the plan knows (being destroyed) are added.
    """
    from meshprov.engine import configuration
    from meshprov.operations import plan_encryption
    from meshprov.plan.planfile import load_plan_document, plan_from_document
    from meshprov.render.graph import (
        plan_actions,
        render_dot,
        render_mermaid,
        resource_graph,
        with_plan,
    )

    try:
        loaded = configuration.load(session.directory)
        actions = None
        if planfile is not None:
            document = load_plan_document(planfile, lambda: plan_encryption(session.directory))
            actions = plan_actions(plan_from_document(document, None, planfile, session.directory))
    except DiagnosticError as exc:
        fail(session, exc)
    rgraph = resource_graph(loaded.graph)
    if actions is not None:
        rgraph = with_plan(rgraph, actions)
    render = render_dot if fmt_ == "dot" else render_mermaid
    click.echo(render(rgraph, actions), nl=False)
