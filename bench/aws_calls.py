"""How many AWS calls the firewall makes, by operation, as the number of sources grows.

For 50, 500 and 2,000 source CIDRs (spread over enough security groups at 60 rules each), in a
fresh configuration against a moto server on 127.0.0.1, the phases the CLI runs: plan from an
empty state, apply, and a no-op plan. EC2 calls are counted with a botocore ``before-call``
hook registered on every client meshprov builds, and timed. Alongside, the calls a
one-rule-per-call approach makes (Terraform's ``aws_vpc_security_group_ingress_rule``: one
AuthorizeSecurityGroupIngress per rule, one read per rule on refresh).

Goals: mutating calls grow with the number of security groups, not with the number of sources;
a no-op plan makes only Describe calls.

    .venv/bin/python bench/aws_calls.py [50 500 2000]
"""

from __future__ import annotations

import collections
import logging
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import boto3
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from meshprov import aws
from meshprov.cli import cli

RULES_PER_GROUP = 60  # moto's (and AWS's default) inbound rules per VPC security group
REGION = "eu-west-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CallCounter:
    """Counts EC2 operations on every client meshprov's ``aws.Clients`` builds."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        original = aws.Clients.__init__
        counter = self

        def init(clients: aws.Clients, settings: aws.AwsSettings) -> None:
            original(clients, settings)
            clients.register("before-call.ec2.*", counter.count)

        aws.Clients.__init__ = init  # type: ignore[method-assign]

    def count(self, event_name: str, **_: object) -> None:
        self.calls[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> collections.Counter[str]:
        taken, self.calls = self.calls, collections.Counter()
        return taken


def config_text(cidrs: list[str], groups: list[str], endpoint: str) -> str:
    quoted = ",\n    ".join(f'"{c}"' for c in cidrs)
    group_list = ", ".join(f'"{g}"' for g in groups)
    return f"""
provider "aws" {{
  region       = "{REGION}"
  endpoint_url = "{endpoint}"
}}

firewall "kds" {{
  security_group_ids = [{group_list}]
  rules_per_group    = {RULES_PER_GROUP}
  allow_cidrs = [
    {quoted},
  ]
}}
"""


def run(args: list[str]) -> float:
    started = time.perf_counter()
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    if result.exit_code not in (0, 2):
        sys.exit(f"meshprov {' '.join(args)} failed:\n{result.output}")
    return time.perf_counter() - started


def main(sizes: list[int]) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    counter = CallCounter()
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    rows = []
    try:
        for n in sizes:
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            group_count = math.ceil(n / RULES_PER_GROUP)
            groups = [
                ec2.create_security_group(GroupName=f"g{n}-{i}", Description="bench", VpcId=vpc)[
                    "GroupId"
                ]
                for i in range(group_count)
            ]
            cidrs = [f"100.{64 + i // 65536}.{(i // 256) % 256}.{i % 256}/32" for i in range(n)]
            workdir = Path(tempfile.mkdtemp(prefix=f"meshprov-aws-{n}-"))
            (workdir / "main.hcl").write_text(config_text(cidrs, groups, endpoint))
            base = ["-C", str(workdir)]
            counter.take()
            phases = {}
            for phase, args in (
                ("plan", [*base, "plan", "--no-color"]),
                ("apply", [*base, "apply", "--auto-approve", "--no-color"]),
                ("no-op plan", [*base, "plan", "--no-color", "--detailed-exitcode"]),
            ):
                seconds = run(args)
                phases[phase] = (seconds, counter.take())
            rows.append((n, group_count, phases))
    finally:
        server.stop()
    report(rows)


def report(rows: list) -> None:
    print("EC2 API calls by meshprov's firewall (moto on 127.0.0.1), by phase and operation\n")
    ok = True
    for n, groups, phases in rows:
        print(f"{n} source CIDRs in {groups} security group(s):")
        for phase, (seconds, calls) in phases.items():
            detail = ", ".join(f"{op} {count}" for op, count in sorted(calls.items()))
            print(f"  {phase:<11} {seconds:6.2f} s  {sum(calls.values()):4d} calls: {detail}")
        apply_calls = phases["apply"][1]
        mutating = sum(c for op, c in apply_calls.items() if not op.startswith("Describe"))
        noop_mutating = sum(
            c for op, c in phases["no-op plan"][1].items() if not op.startswith("Describe")
        )
        one_per_rule = n + n  # one Authorize per rule, then one read per rule on refresh
        print(
            f"  mutating calls in apply: {mutating} (groups: {groups}); a one-rule-per-call "
            f"approach: {n} creates + {n} reads per refresh = {one_per_rule}\n"
        )
        ok &= mutating <= 2 * groups and noop_mutating == 0
    print(
        "Goal: mutating calls grow with security groups, not sources; a no-op plan only "
        f"describes: {'PASS' if ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50, 500, 2000])
