"""meshprov.aws: client settings, the shared model loader, and errors after retries (over HTTP)."""

from __future__ import annotations

import pytest

from meshprov.aws import AwsError, AwsSettings, Clients, call, paginate


def test_each_run_gets_its_own_session_but_the_model_loader_is_shared():
    first = Clients(AwsSettings(region="eu-west-1"))
    second = Clients(AwsSettings(region="eu-west-1"))
    assert first.session() is not second.session()
    assert first.session().get_component("data_loader") is second.session().get_component(
        "data_loader"
    )


def test_max_attempts_counts_every_attempt_and_retry_mode_is_passed_on(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients = Clients(AwsSettings(region="eu-west-1", max_attempts=2, retry_mode="adaptive"))
    ec2 = clients.client("ec2")
    assert ec2.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 2}
    assert ec2.meta.region_name == "eu-west-1"
    assert clients.client("ec2") is ec2
    assert clients.client("ec2", "us-east-1") is not ec2


def test_unknown_profile_is_an_aws_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(AwsError, match="cannot create the ec2 client"):
        Clients(AwsSettings(region="eu-west-1", profile="meshprov-no-such-profile")).client("ec2")


def _always(decision: str):
    return lambda _action, _n: decision


def test_throttling_that_outlasts_the_retries_is_reported_as_such(aws_proxy):
    aws_proxy.reset(_always("throttle"))
    ec2 = Clients(AwsSettings(region="eu-west-1", endpoint_url=aws_proxy.url, max_attempts=2))
    with pytest.raises(AwsError) as caught:
        call(ec2.client("ec2"), "describe_security_groups")
    assert caught.value.code == "RequestLimitExceeded"
    assert "throttled by AWS even after retries (slow down)" in str(caught.value)
    assert aws_proxy.calls == ["DescribeSecurityGroups"] * 2


def test_unavailable_then_success_is_retried_transparently(aws_proxy, moto_aws):
    group = moto_aws.security_group()
    aws_proxy.reset(lambda _action, n: "unavailable" if n == 1 else "pass")
    ec2 = Clients(AwsSettings(region="eu-west-1", endpoint_url=aws_proxy.url, max_attempts=2))
    rules = list(
        paginate(
            ec2.client("ec2"),
            "describe_security_group_rules",
            "SecurityGroupRules",
            Filters=[{"Name": "group-id", "Values": [group]}],
        )
    )
    assert [r["GroupId"] for r in rules] == [group]  # the default egress rule
    assert aws_proxy.outcomes == [
        ("DescribeSecurityGroupRules", "unavailable"),
        ("DescribeSecurityGroupRules", "pass"),
    ]


def test_missing_group_error_carries_the_aws_code(moto_aws):
    ec2 = Clients(AwsSettings(region="eu-west-1", endpoint_url=moto_aws.endpoint)).client("ec2")
    with pytest.raises(AwsError) as caught:
        call(ec2, "describe_security_groups", GroupIds=["sg-0123456789abcdef0"])
    assert caught.value.code == "InvalidGroup.NotFound"
    assert str(caught.value).startswith("describe_security_groups failed: InvalidGroup.NotFound:")
