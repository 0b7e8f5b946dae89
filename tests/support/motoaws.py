"""boto3 helpers for tests that run meshprov against the moto server (see tests/conftest.py).

``MotoAws`` is the test's own view of AWS: it creates VPCs and security groups, adds rules
behind meshprov's back and reads ingress rules back with DescribeSecurityGroupRules, all over
real HTTP to the moto server.
"""

from __future__ import annotations

import itertools
import urllib.request
from typing import Any

import boto3

REGION = "eu-west-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
_names = itertools.count(1)


class MotoAws:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.ec2 = boto3.client(
            "ec2",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    def vpc(self) -> str:
        return self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

    def security_group(self, vpc: str | None = None) -> str:
        name = f"meshprov-test-{next(_names)}"
        return self.ec2.create_security_group(
            GroupName=name, Description=name, VpcId=vpc or self.vpc()
        )["GroupId"]

    def security_groups(self, count: int) -> list[str]:
        vpc = self.vpc()
        return [self.security_group(vpc) for _ in range(count)]

    def add_ingress(
        self, group: str, cidr: str, port: int = 5685, description: str | None = None
    ) -> str:
        """A rule added by hand; returns its SecurityGroupRuleId."""
        key, rng = ("CidrIpv6", "Ipv6Ranges") if ":" in cidr else ("CidrIp", "IpRanges")
        entry: dict[str, Any] = {key: cidr}
        if description is not None:
            entry["Description"] = description
        response = self.ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, rng: [entry]}],
        )
        return response["SecurityGroupRules"][0]["SecurityGroupRuleId"]

    def ingress(self, *groups: str) -> list[dict[str, Any]]:
        """Every ingress rule of the groups, as DescribeSecurityGroupRules returns them."""
        rules = []
        paginator = self.ec2.get_paginator("describe_security_group_rules")
        for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": list(groups)}]):
            rules += [r for r in page["SecurityGroupRules"] if not r["IsEgress"]]
        return rules

    def owned(self, *groups: str, prefix: str = "meshprov:") -> list[dict[str, Any]]:
        return [r for r in self.ingress(*groups) if (r.get("Description") or "").startswith(prefix)]

    def foreign(self, *groups: str, prefix: str = "meshprov:") -> list[dict[str, Any]]:
        return [
            r for r in self.ingress(*groups) if not (r.get("Description") or "").startswith(prefix)
        ]


def cidr_of(rule: dict[str, Any]) -> str:
    return rule.get("CidrIpv4") or rule.get("CidrIpv6")
