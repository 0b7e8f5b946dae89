"""The `make demo` walk-through: meshprov on examples/quickstart against a local AWS emulator.

It starts a moto server on 127.0.0.1 (a free port), creates a VPC and the global control
plane's security group through boto3, then runs validate, plan, apply and verify on a copy of
the quickstart with the emulator's endpoint and the group's id as variables. Then someone opens
KDS to 0.0.0.0/0 by hand: verify fails, plan shows the drift, apply revokes the rule, verify
passes again. On the way, a stand-in ``kumactl`` shows how ``kumactl.sh`` registers a control
plane with the admin token meshprov issued (the token itself is never printed). Finally it
stops the server, says what to try next, and removes the copy: its state and out/ hold private
keys and tokens. ``--keep`` keeps the copy to look at (and says so). Against a real AWS account
you would run the same commands without the emulator's --var options (see README.md next to
this file).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import boto3
import jwt
from moto.server import ThreadedMotoServer

HERE = Path(__file__).resolve().parent
REGION = "eu-west-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def banner(text: str) -> None:
    bold, plain = ("", "") if os.environ.get("NO_COLOR") else ("\033[1m", "\033[0m")
    print(f"\n{bold}== {text}{plain}", flush=True)


def meshprov(workdir: Path, *args: str, ok: tuple[int, ...] = (0,)) -> None:
    command = [sys.executable, "-m", "meshprov", "-C", str(workdir), *args]
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"\n$ meshprov {shown}", flush=True)
    result = subprocess.run(command, check=False)
    if result.returncode not in ok:
        sys.exit(f"meshprov {args[0]} failed with exit code {result.returncode}")


# What kumactl.sh runs, printed instead of run; the token's value is replaced by its length.
FAKE_KUMACTL = """#!/bin/sh
printf 'kumactl'
for arg in "$@"; do
  case "$arg" in
    token=*) printf ' token=<%s-character JWT from kumactl.token>' "$((${#arg} - 6))" ;;
    *) printf ' %s' "$arg" ;;
  esac
done
printf '\\n'
"""


def show_kumactl(workdir: Path) -> None:
    """Run a zone's kumactl.sh against a stand-in kumactl, and show the token's claims."""
    out = workdir / "out" / "zone.eu_west"
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "kumactl").write_text(FAKE_KUMACTL)
    (bin_dir / "kumactl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    print(f"\n$ {out / 'kumactl.sh'}", flush=True)
    subprocess.run([str(out / "kumactl.sh")], env=env, check=True)
    token = (out / "kumactl.token").read_text().strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    print(
        f"kumactl.token (mode {(out / 'kumactl.token').stat().st_mode & 0o777:04o}): "
        f"user {claims['Name']!r}, groups {claims['Groups']}, key {header['kid']}, "
        f"expires {datetime.fromtimestamp(claims['exp'], UTC):%Y-%m-%d %H:%M} UTC"
    )


WHAT_NEXT = """
What next:
  - Run the quickstart yourself, no AWS account needed (the firewall is off by default):
      cd examples/quickstart && meshprov validate && meshprov plan && meshprov apply
  - Turn the firewall on against your AWS account (examples/quickstart/README.md, "Firewall"):
      meshprov plan --var firewall=true --var global_security_group_id=sg-... --out review.plan
  - Review plans in pull requests: examples/github-actions/README.md
  - Many zones from one map through modules/zone: examples/many-zones
  - Renewals: meshprov plan --as-of 2027-11-01T00:00:00Z shows what needs reissuing by then."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary copy (state, out/ and private keys) instead of removing it",
    )
    keep = parser.parse_args().keep
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION=REGION
    )
    banner(f"Starting a local AWS emulator (moto) on {endpoint}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    workdir = Path(tempfile.mkdtemp(prefix="meshprov-demo-"))
    try:
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(
            GroupName="kong-mesh-global-cp", Description="global control plane", VpcId=vpc
        )["GroupId"]
        print(f"Created {vpc} and the global control plane's security group {group}")
        shutil.copy(HERE / "main.hcl", workdir / "main.hcl")
        variables = [
            "--var",
            "firewall=true",
            "--var",
            f"aws_endpoint_url={endpoint}",
            "--var",
            f"global_security_group_id={group}",
        ]
        banner(f"The quickstart, copied to {workdir}")
        meshprov(workdir, "validate")
        banner("What would change")
        plan_file = str(workdir / "quickstart.plan")
        meshprov(workdir, "plan", *variables, "--out", plan_file)
        banner("Apply exactly that plan")
        meshprov(workdir, "apply", plan_file)
        banner("Check every channel: certificates, files, a real TLS handshake, the firewall")
        meshprov(workdir, "verify", *variables)
        banner("kumactl.sh registers a zone with the admin token (a stand-in kumactl echoes it)")
        show_kumactl(workdir)

        banner("Someone opens KDS (5685) to the whole internet by hand")
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 5685,
                    "ToPort": 5685,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "quick fix, remove later"}],
                }
            ],
        )
        meshprov(workdir, "verify", *variables, ok=(1,))
        banner("meshprov sees the drift and plans to revoke the foreign rule")
        meshprov(workdir, "plan", *variables, "--detailed-exitcode", ok=(2,))
        meshprov(workdir, "apply", *variables, "--auto-approve")
        meshprov(workdir, "verify", *variables)
        banner("Security group ingress on 5685, read back from AWS")
        for rule in ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group]}]
        )["SecurityGroupRules"]:
            if not rule["IsEgress"]:
                source = rule.get("CidrIpv4") or rule.get("CidrIpv6")
                print(f"  {source:<20} {rule.get('Description', '')}")
    finally:
        server.stop()
        print("\nStopped the emulator.")
        if keep:
            print(
                f"Kept {workdir}: the files for each control plane are in out/, the state in "
                "state/. Both hold private keys: remove the directory when you are done."
            )
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"Removed {workdir} (its state and out/ held private keys); --keep keeps it.")
    banner("Done")
    print(WHAT_NEXT)


if __name__ == "__main__":
    main()
