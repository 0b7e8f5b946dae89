"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _parse_cache_dir(tmp_path_factory):
    """The parse cache of every meshprov the tests run, in-process or not: not the user's."""
    saved = os.environ.get("MESHPROV_CACHE_DIR")
    os.environ["MESHPROV_CACHE_DIR"] = str(tmp_path_factory.mktemp("parse-cache"))
    yield
    if saved is None:
        os.environ.pop("MESHPROV_CACHE_DIR", None)
    else:
        os.environ["MESHPROV_CACHE_DIR"] = saved


@pytest.fixture(autouse=True)
def _nothing_left_in_the_checkout():
    """A test writes only below its tmp_path: a relative output path (``--out review.plan``)
    lands in the repository root, where it was once committed by mistake."""
    before = set(os.listdir(REPO))
    yield
    left = sorted(set(os.listdir(REPO)) - before - {".pytest_cache"})
    assert not left, f"the test left {left} in {REPO}: write below tmp_path instead"


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on 127.0.0.1 (a free port) for the whole session: real HTTP, real boto3."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_aws(moto_endpoint, monkeypatch):
    """The moto server with fake credentials and region in the environment.

    The environment reaches meshprov run in-process (CliRunner) and in subprocesses alike.
    The server is not reset between tests (a reset costs a second): each test makes its own
    VPC and security groups. ``MotoAws.reset()`` is there for a test that needs a clean slate.
    """
    from tests.support.motoaws import CREDENTIALS, MotoAws

    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/meshprov-tests/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/meshprov-tests/credentials")
    return MotoAws(moto_endpoint)


@pytest.fixture
def aws_proxy(moto_aws):
    """A FaultProxy in front of the moto server (pass-through until a test sets a policy)."""
    from tests.support.awsproxy import FaultProxy

    proxy = FaultProxy(moto_aws.endpoint)
    yield proxy
    proxy.close()
