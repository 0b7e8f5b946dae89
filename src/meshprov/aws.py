"""The one place that builds boto3 (botocore) clients: credentials, retries, endpoints, pagination.

Credentials come from boto3's usual chain (environment, profile, instance role). Retries use
botocore's standard mode by default (adaptive when asked), so throttling is retried with
backoff before anything reaches the user; what still fails becomes an ``AwsError`` with a
message that names the operation and AWS's own code.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshprov.log import log_aws_calls

if TYPE_CHECKING:  # botocore is imported on first use: commands without AWS start faster
    import botocore.loaders
    import botocore.session
    from botocore.exceptions import ClientError

DEFAULT_MAX_ATTEMPTS = 5
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)


@dataclass(frozen=True)
class AwsSettings:
    """The ``provider "aws"`` block, evaluated."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_mode: str = "standard"

    @classmethod
    def from_values(cls, values: Mapping[str, Any] | None) -> AwsSettings:
        values = values or {}
        attempts = values.get("max_attempts")
        return cls(
            region=values.get("region"),
            profile=values.get("profile"),
            endpoint_url=values.get("endpoint_url"),
            max_attempts=int(attempts) if attempts is not None else DEFAULT_MAX_ATTEMPTS,
            retry_mode=values.get("retry_mode") or "standard",
        )


# AWS's region names: partition-style lowercase words and a number (eu-west-1,
# us-gov-east-1, cn-northwest-1); botocore refuses anything else when making a client
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_RETRY_MODES = ("standard", "adaptive", "legacy")


def argument_problem(name: str, value: Any) -> str | None:
    """Why a ``provider "aws"`` argument's value is unusable, or None (also for null)."""
    if value is None:
        return None
    if name == "max_attempts":
        if isinstance(value, bool) or not isinstance(value, int):  # a whole number is an int
            return "max_attempts must be a whole number."
        return None if 1 <= value <= 100 else "max_attempts must be between 1 and 100."
    if not isinstance(value, str):
        return f"{name} must be a string."
    if name == "region" and not _REGION_RE.match(value):
        return f'"{value}" is not an AWS region name (such as "eu-west-1").'
    if name == "retry_mode" and value not in _RETRY_MODES:
        return f"retry_mode must be one of {', '.join(_RETRY_MODES)}."
    if name == "endpoint_url" and not re.match(r"^https?://[^\s/]+", value):
        return "endpoint_url must be an http:// or https:// URL."
    return None


class AwsError(Exception):
    """An AWS call failed after retries; ``code`` is AWS's error code when there is one."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class Clients:
    """Cached clients per (service, region) for one run; safe to share between threads."""

    def __init__(self, settings: AwsSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._session: botocore.session.Session | None = None
        self._hooks: list[tuple[str, Callable[..., Any]]] = []

    def register(self, event_name: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler (e.g. ``before-call.s3.*`` to count calls) on
        every client, those already made and those made later."""
        with self._lock:
            self._hooks.append((event_name, handler))
            for existing in self._clients.values():
                existing.meta.events.register(event_name, handler)

    def session(self) -> botocore.session.Session:
        """A fresh session per run (credentials and config read anew), sharing the model loader."""
        import botocore.session

        if self._session is None:
            session = botocore.session.Session(profile=self.settings.profile)
            session.register_component("data_loader", _shared_loader())
            self._session = session
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        from botocore.config import Config

        region = region or self.settings.region
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                config = Config(
                    region_name=region,
                    retries={
                        "mode": self.settings.retry_mode,
                        # attempts in all, the first included, as AWS_MAX_ATTEMPTS counts
                        # them (botocore's "max_attempts" would count retries only)
                        "total_max_attempts": self.settings.max_attempts,
                    },
                    connect_timeout=10,
                    read_timeout=30,
                )
                try:
                    with translated_errors(f"cannot create the {service} client"):
                        self._clients[key] = self.session().create_client(
                            service, config=config, endpoint_url=self.settings.endpoint_url
                        )
                except ValueError as exc:  # e.g. an endpoint_url that is not a URL
                    raise AwsError(f"cannot create the {service} client: {exc}") from None
                log_aws_calls(self._clients[key].meta.events)
                for event_name, handler in self._hooks:
                    self._clients[key].meta.events.register(event_name, handler)
            return self._clients[key]


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """botocore's service-model loader, one per process: parsing the EC2 model takes about a
    second, and a plan and its apply (or a test's many runs) would otherwise each pay it."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def call(client: Any, operation: str, **kwargs: Any) -> dict:
    """One API call, with AWS failures turned into ``AwsError``."""
    with translated_errors(operation):
        return getattr(client, operation)(**kwargs)


def paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> Iterator[dict]:
    """Every item of a paginated API, page by page."""
    with translated_errors(operation):
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page.get(result_key, [])


@contextlib.contextmanager
def translated_errors(operation: str) -> Iterator[None]:
    """botocore's exceptions as ``AwsError`` with a message a user can act on."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except ClientError as exc:
        raise _error(operation, exc) from None
    except NoRegionError:
        raise AwsError(
            f'{operation}: no AWS region is configured; set region in the provider "aws" '
            "block (or the resource's region), or AWS_REGION."
        ) from None
    except NoCredentialsError:
        raise AwsError(
            f"{operation}: no AWS credentials were found (environment, profile or instance role)."
        ) from None
    except ResponseParserError:
        # not the reply's text: an endpoint that is not AWS may echo what we sent
        raise AwsError(
            f"{operation}: the endpoint's reply is not an AWS API response (is endpoint_url "
            "an AWS endpoint, or a proxy in the way?)."
        ) from None
    except BotoCoreError as exc:
        raise AwsError(f"{operation}: {exc}") from None


def _error(operation: str, exc: ClientError) -> AwsError:
    info = exc.response.get("Error", {})
    code = info.get("Code")
    message = info.get("Message") or str(exc)
    if code in THROTTLING_CODES:
        message = f"throttled by AWS even after retries ({message})"
    elif code == "UnauthorizedOperation" or code == "AccessDenied":
        message = f"the credentials in use are not allowed to call {operation} ({message})"
    return AwsError(f"{operation} failed: {code}: {message}", code)
