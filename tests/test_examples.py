"""The shipped examples as a new user meets them: the quickstart README's commands with no AWS
at all, many-zones with its own provider block, and ``make demo``'s walk-through."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.engine import shows_a_token

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart"


def no_aws_env(**extra: str) -> dict[str, str]:
    """The environment of a machine that has never seen AWS: no credentials, region or config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE="/nonexistent/aws/config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws/credentials",
        AWS_EC2_METADATA_DISABLED="true",  # no instance-metadata credentials either
        **extra,
    )
    return env


def readme_commands(readme: Path, section: str) -> list[list[str]]:
    """The ``meshprov ...`` lines of the first ```sh block under ``## section``."""
    text = readme.read_text()
    block = re.search(rf"^## {section}\n.*?```sh\n(.*?)```", text, re.S | re.M)
    assert block, f"no sh block under ## {section} in {readme}"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("meshprov ")]


def test_quickstart_readme_commands_work_without_aws(tmp_path: Path) -> None:
    work = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, work)
    commands = readme_commands(QUICKSTART / "README.md", "Commands")
    assert [c[1] for c in commands] == ["validate", "plan", "apply", "plan", "output"]
    outputs = []
    for command in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "meshprov", *command[1:]],
            input="yes\n",  # apply asks, as the README says
            capture_output=True,
            text=True,
            cwd=work,
            env=no_aws_env(),
            timeout=120,
        )
        assert proc.returncode == 0, f"{shlex.join(command)}:\n{proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr and "PRIVATE KEY" not in proc.stdout
        assert not shows_a_token(proc.stdout + proc.stderr)  # no token either
        outputs.append(proc.stdout)
    # CA, global, two zones, the user and dataplane keys, the admin and web-01 tokens
    assert "Plan: 8 to add, 0 to change, 0 to destroy." in outputs[1]
    assert "firewall" not in outputs[1]  # off unless asked for
    assert "Apply complete! Resources: 8 added" in outputs[2]
    assert "No changes." in outputs[3]
    assert 'kds_address = "grpcs://global.mesh.example.com:5685"' in outputs[4]
    assert (work / "out" / "zone.eu_west" / "tls" / "tls.key").stat().st_mode & 0o077 == 0


def test_many_zones_takes_its_region_from_its_provider_block(tmp_path: Path, moto_aws) -> None:
    shutil.copytree(REPO / "modules", tmp_path / "modules")
    shutil.copytree(REPO / "examples" / "many-zones", tmp_path / "examples" / "many-zones")
    group = moto_aws.security_group()
    env = no_aws_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    command = [sys.executable, "-m", "meshprov", "-C", str(tmp_path / "examples" / "many-zones")]

    without = subprocess.run(
        [*command, "plan"], capture_output=True, text=True, env=no_aws_env(), timeout=120
    )
    assert without.returncode == 0, without.stderr
    assert "Plan: 5 to add" in without.stdout

    firewall = [
        "--var",
        "firewall=true",
        "--var",
        f"aws_endpoint_url={moto_aws.endpoint}",
        "--var",
        f'global_security_group_ids=["{group}"]',
    ]
    proc = subprocess.run(
        [*command, "apply", "--auto-approve", *firewall],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    sources = {(rule.get("CidrIpv4"), rule.get("Description")) for rule in moto_aws.ingress(group)}
    assert sources == {
        ("198.51.100.10/32", "meshprov:firewall.kds[0]:eu-west"),
        ("203.0.113.20/32", "meshprov:firewall.kds[0]:us-east"),
        ("192.0.2.30/32", "meshprov:firewall.kds[0]:ap-south"),
    }


@pytest.mark.skipif(shutil.which("openssl") is None, reason="verify's handshake needs openssl")
def test_make_demo_ends_with_what_next_and_leaves_no_keys_behind(tmp_path: Path) -> None:
    env = no_aws_env(TMPDIR=str(tmp_path), NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, str(QUICKSTART / "demo.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "PRIVATE KEY" not in proc.stdout
    assert not shows_a_token(proc.stdout + proc.stderr)  # kumactl.sh shows the token's length
    assert "--auth-type=tokens --auth-conf token=<" in proc.stdout
    removed = re.search(r"^Removed (\S+) \(its state and out/ held private keys", proc.stdout, re.M)
    assert removed, proc.stdout[-2000:]
    assert Path(removed.group(1)).parent == tmp_path
    assert list(tmp_path.iterdir()) == []  # nothing left behind, keys included
    tail = proc.stdout[proc.stdout.index("What next:") :]
    assert "meshprov validate && meshprov plan && meshprov apply" in tail
    assert "--var firewall=true" in tail
    assert "examples/github-actions/README.md" in tail
