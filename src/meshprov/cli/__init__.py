"""The ``meshprov`` command line: options in, a call into the operations, text and an exit code out.

One module per command or family (``validate``, ``fmt``, ``graph``, ``run``: plan/apply/destroy,
``show``: show/output, ``verify``, ``state``: state */force-unlock, ``init``), imported only when
its command runs, so ``meshprov --version`` loads neither the engine nor a resource type.
"""

from __future__ import annotations

import gc
import importlib
import re
import sys
from pathlib import Path

import click

from meshprov import __version__
from meshprov.cli.session import Session

# command name → (module under meshprov.cli, attribute)
_COMMANDS = {
    "apply": ("run", "apply"),
    "destroy": ("run", "destroy"),
    "fmt": ("fmt", "fmt"),
    "force-unlock": ("state", "force_unlock"),
    "graph": ("graph", "graph"),
    "init": ("init", "init"),
    "output": ("show", "output"),
    "plan": ("run", "plan"),
    "show": ("show", "show"),
    "state": ("state", "state"),
    "validate": ("validate", "validate"),
    "verify": ("verify", "verify"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, attr = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"meshprov.cli.{module}"), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


_TERRAFORM_STYLE = re.compile(r"^-[a-z][a-z-]+(=.*)?$", re.DOTALL)


def terraform_spelling(args: list[str]) -> list[str]:
    """Accept Terraform's one-dash long options: ``-auto-approve``, ``-out=plan.bin``.

    Short options are one letter (``-C``, ``-h``, ``-v``), so a longer word after a single dash
    can only be a long option.
    """
    out: list[str] = []
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
