"""A Terraform user's habits through the real CLI: exit codes of usage errors, Terraform's flag
spellings, mistyped --target/--replace, multi-instance addresses, module diagnostics and
broken plan files (issue 13, item 3)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.engine import REPO, WRAPPER, Workspace

from meshprov.cli import _COMMANDS, cli
from meshprov.state import LocalBackend

ZONES = """
test_thing "c" {
  for_each = toset(["eu-west", "us-east"])
  value    = each.key
}

test_thing "solo" {
  value = "s"
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "config")


def applied(ws: Workspace, hcl: str = ZONES) -> Workspace:
    ws.write(hcl)
    ws.run("apply", "--auto-approve")
    return ws


# --- exit codes ------------------------------------------------------------------------------


def test_usage_errors_exit_1_never_the_changes_code(ws: Workspace) -> None:
    applied(ws)
    bogus = ws.sub("plan", "-detailed-exitcode", "--bogus", code=1)
    assert "No such option '--bogus'" in bogus.stderr
    assert ws.run("plan", "--parallelism", "0", code=1).stderr.count("Invalid value") == 1
    assert ws.run("state", "list", "--bogus", code=1).stderr  # a nested group's command
    assert ws.run("bogus-command", code=1).stderr
    assert ws.run("plan", "--as-of", "yesterday", code=1).stderr
    # the changes code is still what --detailed-exitcode says with changes
    ws.write(ZONES.replace('"s"', '"t"'))
    ws.run("plan", "-detailed-exitcode", code=2)


# --- Terraform's flags -----------------------------------------------------------------------


def test_refresh_false_skips_reading_the_world(ws: Workspace) -> None:
    applied(ws)
    ws.edit_world("test_thing.solo", value="changed behind meshprov's back")
    assert "changed outside of meshprov" in ws.sub("plan").stdout
    quiet = ws.sub("plan", "-refresh=false", "-input=false", "-no-color")
    assert "changed outside" not in quiet.stdout and "No changes." in quiet.stdout
    assert "changed outside" in ws.sub("plan", "-refresh=true").stdout


def test_lock_false_works_beside_a_held_lock(ws: Workspace) -> None:
    applied(ws)
    holder = LocalBackend(ws.state_path)
    holder.lock("apply", info="held by the test")
    try:
        held = ws.run("plan", "-lock-timeout=0s", code=1)
        assert "Error acquiring the state lock" in held.stderr
        assert "No changes." in ws.run("plan", "-lock=false").stdout
        ws.run("state", "rm", "-lock=false", "test_thing.solo")
        assert "test_thing.solo" not in ws.resources()
    finally:
        holder.unlock()


def test_input_false_and_no_color_are_accepted_by_every_command() -> None:
    def commands(group, prefix):  # type: ignore[no-untyped-def]
        for name in group.list_commands(None):
            command = group.get_command(None, name)
            yield f"{prefix}{name}", command
            if hasattr(command, "list_commands"):
                yield from commands(command, f"{prefix}{name} ")

    seen = 0
    for name, command in commands(cli, ""):
        options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        assert {"--input", "--no-input", "--no-color"} <= options, name
        seen += 1
    assert seen > len(_COMMANDS)  # the state subcommands too


def test_input_false_on_commands_that_ask_nothing(ws: Workspace) -> None:
    applied(ws)
    ws.sub("validate", "-input=false")
    ws.sub("state", "list", "-input=false")
    ws.sub("output", "-input=false")
    refused = ws.sub("apply", "-input=false", code=1)
    assert "No confirmation possible" in refused.stderr
    unlock = ws.sub("force-unlock", "-input=false", "some-id", code=1)
    assert "No confirmation possible" in unlock.stderr


def test_compact_warnings(ws: Workspace) -> None:
    applied(ws)
    full = ws.run("plan", "--target", "test_thing.solo")
    assert "not for routine use" in full.stderr
    compact = ws.sub("plan", "-target=test_thing.solo", "-compact-warnings")
    assert compact.stderr.startswith("Warnings:\n\n- Resource targeting is in effect\n")
    assert "not for routine use" not in compact.stderr
    assert "without --compact-warnings" in compact.stderr


def _in_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run meshprov with stdout on a pseudo-terminal (colours are for terminals only)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(WRAPPER), *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode()


def test_no_color_environment_variable(ws: Workspace) -> None:
    ws.write(ZONES)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _in_terminal(["-C", str(ws.dir), "plan"], env)
    assert "\x1b[" in coloured and "will be created" in coloured
    plain = _in_terminal(["-C", str(ws.dir), "plan"], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain and "will be created" in plain
    flag = _in_terminal(["-C", str(ws.dir), "plan", "-no-color"], env)
    assert "\x1b[" not in flag


def test_fmt_recursive_formats_modules_too(ws: Workspace) -> None:
    ws.write('test_thing "a" {\n  value = "x"\n}\n')
    module = ws.dir / "modules" / "m"
    module.mkdir(parents=True)
    (module / "main.hcl").write_text('test_thing "b" {\nvalue="y"\n}\n')
    hidden = ws.dir / ".meshprov"
    hidden.mkdir()
    (hidden / "junk.hcl").write_text("x=1\n")
    assert ws.sub("fmt", "-check").code == 0
    found = ws.sub("fmt", "-check", "-recursive", code=3)
    assert found.stdout.splitlines() == [str(module / "main.hcl")]
    ws.sub("fmt", "-recursive")
    assert (module / "main.hcl").read_text() == 'test_thing "b" {\n  value = "y"\n}\n'
    assert (hidden / "junk.hcl").read_text() == "x=1\n"


# --- --target and --replace ------------------------------------------------------------------


def test_mistyped_replace_is_an_error_naming_the_closest_addresses(ws: Workspace) -> None:
    applied(ws)
    bad = ws.run("plan", '-replace=test_thing.c["eu-wst"]', code=1)
    assert "Error: No such resource instance" in bad.stderr
    assert '  test_thing.c["eu-west"]\n' in bad.stderr
    assert "No changes" not in bad.stdout
    typo = ws.run("apply", "--auto-approve", "--target", "test_thing.sol", code=1)
    assert "Error: No such resource instance" in typo.stderr
    assert "  test_thing.solo\n" in typo.stderr
    assert ws.run("plan", "--target", 'module.nope.test_thing.c["x"]', code=1).stderr


def test_replace_without_a_key_warns_and_lists_the_instances(ws: Workspace) -> None:
    applied(ws)
    result = ws.run("plan", "--replace", "test_thing.c")
    assert "Warning: Incompletely-matched force-replace resource instance" in result.stderr
    assert '  test_thing.c["eu-west"]\n  test_thing.c["us-east"]\n' in result.stderr
    assert "No changes." in result.stdout
    one = ws.run("plan", "--replace", 'test_thing.c["us-east"]')
    assert "Warning" not in one.stderr
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in one.stdout


def test_target_of_a_multi_instance_resource_warns_listing_them(ws: Workspace) -> None:
    applied(ws)
    ws.write(ZONES.replace("each.key", '"${each.key}-2"'))
    result = ws.run("plan", "--target", "test_thing.c")
    assert "Warning: Target matches several instances" in result.stderr
    assert '  test_thing.c["eu-west"]\n  test_thing.c["us-east"]\n' in result.stderr
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in result.stdout


def test_target_of_a_resource_with_count_zero_is_not_an_error(ws: Workspace) -> None:
    ws.write('test_thing "none" {\n  count = 0\n}\ntest_thing "one" {}\n')
    assert "No changes." in ws.run("plan", "--target", "test_thing.none").stdout


# --- state show ------------------------------------------------------------------------------


def test_state_show_on_a_multi_instance_address_lists_them(ws: Workspace) -> None:
    applied(ws)
    result = ws.run("state", "show", "test_thing.c", code=1)
    assert "Error: Multiple instances found for the given address" in result.stderr
    assert '  test_thing.c["eu-west"]\n  test_thing.c["us-east"]\n' in result.stderr
    assert "eu-west" in ws.run("state", "show", 'test_thing.c["eu-west"]').stdout
    assert "not in the state" in ws.run("state", "show", "test_thing.d", code=1).stderr


# --- module diagnostics ----------------------------------------------------------------------


def _module_config(ws: Workspace, inner: str) -> None:
    ws.write(
        """
        module "z" {
          source   = "./m"
          for_each = toset(["ab", "cd"])
          name     = each.key
        }
        """
    )
    (ws.dir / "m").mkdir(exist_ok=True)
    ws.write(inner, name="m/main.hcl")


def test_same_error_in_every_module_instance_is_reported_once_naming_them(
    ws: Workspace,
) -> None:
    _module_config(
        ws,
        """
        variable "name" {
          validation {
            condition     = length(var.name) > 3
            error_message = "The name is too short."
          }
        }
        test_thing "t" {
          value = var.name
        }
        """,
    )
    for command in ("validate", "plan"):
        result = ws.run(command, code=1)
        assert result.stderr.count("Error: Invalid value for variable") == 1, result.stderr
        call = f"the module call at {ws.dir / 'main.hcl'} line 1."
        assert f'In module.z["ab"], module.z["cd"]: {call}' in result.stderr


def test_an_error_that_differs_per_module_instance_names_each(ws: Workspace) -> None:
    _module_config(
        ws,
        """
        variable "name" {
          validation {
            condition     = length(var.name) > 3
            error_message = "The name ${var.name} is too short."
          }
        }
        """,
    )
    result = ws.run("plan", code=1)
    assert result.stderr.count("Error: ") == 2, result.stderr
    assert "ab is too short." in result.stderr and "cd is too short" in result.stderr
    call = f"the module call at {ws.dir / 'main.hcl'} line 1."
    assert f'In module.z["ab"]: {call}' in result.stderr
    assert f'In module.z["cd"]: {call}' in result.stderr


# --- firewall validation, plan files ---------------------------------------------------------


def test_validate_public_cidr_with_a_port_not_known_yet(ws: Workspace) -> None:
    ws.write(
        """
        variable "port" {
          type = number
        }
        firewall "kds" {
          security_group_ids = ["sg-1"]
          port               = var.port
          allow_cidrs        = ["0.0.0.0/0"]
        }
        """
    )
    result = ws.run("validate", code=1)
    assert "Error: Public source not allowed" in result.stderr
    assert "0.0.0.0/0 (from allow_cidrs) would open the firewall's port to" in result.stderr
    assert "UNKNOWN" not in result.stderr


@pytest.mark.parametrize("content", [b'{"format": "meshprov-plan", trunc', b"\x00\xff\xfe\x00"])
def test_a_corrupt_plan_file_is_a_clean_diagnostic(ws: Workspace, content: bytes) -> None:
    applied(ws)
    path = ws.dir / "plan.bin"
    path.write_bytes(content)
    for command in ("apply", "show"):
        result = ws.run(command, str(path), code=1)
        assert result.stderr == (
            "Error: Failed to read plan file\n\n"
            f"{path} is not a meshprov plan file (one that `meshprov plan --out` wrote); it may "
            "be truncated or another file.\n\n"
        )


def test_a_directory_or_missing_file_as_plan(ws: Workspace) -> None:
    applied(ws)
    for command in ("apply", "show"):
        result = ws.run(command, str(ws.dir), code=1)
        assert "is a directory" in result.stderr and "Errno" not in result.stderr
    missing = ws.run("apply", str(ws.dir / "nope.bin"), code=1)
    assert missing.stderr.endswith("nope.bin: No such file or directory.\n\n")


# --- the README's command table --------------------------------------------------------------

_COMMON = {"--input", "--no-input", "--no-color", "--help", "-h"}


def _readme_commands() -> dict[str, set[str]]:
    """Each command line of the README's Commands block: command → options it names."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Commands\n\n```\n", 1)[1].split("```", 1)[0]
    found: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        if line.startswith("meshprov [-C DIR] "):
            words = line.removeprefix("meshprov [-C DIR] ").split()
            current = " ".join(words[:2]) if words[0] == "state" else words[0]
            found[current] = line
        elif line.strip().startswith("RUN OPTIONS:"):
            current = "RUN OPTIONS"
            found[current] = line
        elif line.startswith(" ") and current:
            found[current] += " " + line
    run_options = found.pop("RUN OPTIONS")
    for name, text in found.items():
        if "[RUN OPTIONS]" in text:
            found[name] = text + " " + run_options
    return {c: set(re.findall(r"(--[a-z][a-z-]*)", text)) for c, text in found.items()}


def _cli_commands() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name in cli.list_commands(None):
        command = cli.get_command(None, name)
        subs = getattr(command, "commands", None)
        for sub_name, sub in (subs or {name: command}).items():
            key = f"{name} {sub_name}" if subs else name
            out[key] = {o for p in sub.params for o in p.opts if o.startswith("--")}
    return out


def test_readme_command_table_matches_the_cli() -> None:
    readme, actual = _readme_commands(), _cli_commands()
    assert set(readme) == set(actual)
    for name, options in actual.items():
        assert readme[name] <= options | _COMMON, (name, readme[name] - options)
        assert options - _COMMON <= readme[name], (name, options - _COMMON - readme[name])
