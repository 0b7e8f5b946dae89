"""The ``meshprov`` command line: options in, a call into the operations, text and an exit code out.

One module per command or family (``validate``, ``fmt``, ``graph``, ``run``: plan/apply/destroy,
``show``: show/output, ``verify``, ``state``: state */force-unlock, ``init``), imported only when
its command runs, so ``meshprov --version`` loads neither the engine nor a resource type. Each
command module imports the engine, state and renderers inside its command functions, so
``meshprov --help`` (which reads every command's help) loads none of them either.
"""

from __future__ import annotations

import gc
import importlib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from meshprov import __version__, log
from meshprov.cli.session import EXIT_ERROR, Session, add_common_options

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


class _UsageError(click.UsageError):
    exit_code = EXIT_ERROR


@contextmanager
def _usage_errors_exit_1() -> Iterator[None]:
    """A usage error (unknown option, bad value) exits 1: click's 2 is, for
    ``plan --detailed-exitcode``, "there are changes", which a typo must never mean."""
    try:
        yield
    except _UsageError:
        raise
    except click.UsageError as exc:
        raise _UsageError(exc.format_message(), exc.ctx) from None


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, attr = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"meshprov.cli.{module}"), attr)
        return add_common_options(command)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _usage_errors_exit_1():
            return super().parse_args(ctx, terraform_spelling(args))

    def invoke(self, ctx: click.Context) -> object:
        with _usage_errors_exit_1():
            return super().invoke(ctx)


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
# switches Terraform spells -NAME=true|false; click spells them --NAME / --no-NAME
_SWITCH = re.compile(r"^--(refresh|lock|input)=(true|false)$")


def terraform_spelling(args: list[str]) -> list[str]:
    """Accept Terraform's spellings: one-dash long options (``-auto-approve``,
    ``-out=plan.bin``) and switches with a value (``-refresh=false``, ``-lock=false``).

    Short options are one letter (``-C``, ``-h``, ``-v``), so a longer word after a single dash
    can only be a long option.
    """
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            out.extend(args[index:])
            break
        if _TERRAFORM_STYLE.match(arg):
            arg = "-" + arg
        switch = _SWITCH.match(arg)
        if switch:
            arg = f"--{switch[1]}" if switch[2] == "true" else f"--no-{switch[1]}"
        out.append(arg)
    return out


def main() -> None:
    # A run builds one large object graph (the configuration) that lives until the process
    # exits. With the default thresholds the cyclic collector re-traverses it again and again
    # (half the CPU time of validating 5,000 zones), then once more at exit: collect rarely,
    # and never what is still alive at the end.
    gc.set_threshold(100_000, 10, 10)
    log.configure()
    try:
        cli(args=sys.argv[1:], prog_name="meshprov")
    except Exception as exc:  # the last resort: a bug, never a user's mistake
        path = log.write_crash_log(exc, sys.argv[1:])
        click.echo(
            f"meshprov crashed: an internal error ({type(exc).__name__}), a bug in meshprov. "
            f"The traceback is in {path}: please attach it to an issue.",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    finally:
        gc.freeze()
