"""Showing a plan: as text with its security impact, or as a pull-request comment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshprov.cli.session import Session, fail
from meshprov.diagnostics import DiagnosticError

if TYPE_CHECKING:
    from meshprov.plan.model import Plan


def echo_plan(session: Session, the_plan: Plan) -> str | None:
    """The plan as text, then its security impact and the after-apply notices (when there is
    anything to say).

    Returns the plan's text when it was printed without colours (for the Markdown comment).
    """
    from meshprov.render.human import render_notices, render_plan, render_security_impact

    color = not session.no_color
    text = render_plan(the_plan, color=color)
    click.echo(text, nl=False)
    for block in (
        render_security_impact(the_plan, color=color),
        render_notices(the_plan, color=color),
    ):
        if block:
            click.echo("\n" + block, nl=False)
    return None if color else text


def markdown(session: Session, the_plan: Plan, plain_text: str | None = None) -> str:
    from meshprov.render.markdown import config_label, render_markdown

    return render_markdown(the_plan, config_label(session.directory), plan_text=plain_text)


def write_markdown(session: Session, the_plan: Plan, path: Path, plain_text: str | None) -> None:
    from meshprov.files import write_atomic

    try:
        text = markdown(session, the_plan, plain_text)
        write_atomic(path, text.encode("utf-8"), 0o644)
    except OSError as exc:
        fail(
            session,
            DiagnosticError.single(
                "Failed to write the Markdown plan", f"{path}: {exc.strerror or exc}"
            ),
        )
