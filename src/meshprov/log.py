"""The debug log (``MESHPROV_LOG``, ``MESHPROV_LOG_PATH``) and the last-resort crash log.

Modules log through ``logging.getLogger(__name__)`` what the engine does (the walk, state reads
and writes, every AWS call with its duration) by address, operation and count, never a value.
As a second line of defence every record, and every crash log, passes through ``redact``,
which removes what a secret looks like (PEM private keys, JWTs), whatever reached the text.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from typing import IO, Any

from meshprov import __version__

LOGGER = "meshprov"
_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_SECRETS = re.compile(
    # a PEM private key, through its END line (or, cut short, the rest of the word)
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|\S*)"
    # a JWT (Kong Mesh tokens): three base64url parts, the first a JSON header
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
    re.DOTALL,
)
REDACTED = "(sensitive value)"
_FORMAT = "%(asctime)s.%(msecs)03dZ [%(levelname)s] %(name)s: %(message)s"


def redact(text: str) -> str:
    return _SECRETS.sub(REDACTED, text)


def holds_secret(text: str) -> bool:
    """Whether ``text`` holds what a secret looks like: a PEM private key or a JWT."""
    return _SECRETS.search(text) is not None


class _Redacting(logging.Formatter):
    def __init__(self, fmt: str, datefmt: str):
        super().__init__(fmt, datefmt)
        self.converter = time.gmtime  # timestamps in UTC, as the Z says

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(environ: Mapping[str, str] = os.environ) -> None:
    """Log to stderr (or ``MESHPROV_LOG_PATH``, appended, 0600) at ``MESHPROV_LOG``'s level.

    As Terraform's TF_LOG: unset means no log; a level name that is not known logs everything.
    """
    name = environ.get("MESHPROV_LOG", "").strip().lower()
    if not name or name == "off":
        return
    logger = logging.getLogger(LOGGER)
    path = environ.get("MESHPROV_LOG_PATH")
    stream: IO[str] = sys.stderr
    if path:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:  # as Terraform with TF_LOG_PATH: say so, log to stderr instead
            sys.stderr.write(
                f"Error opening the log file {path} (MESHPROV_LOG_PATH): "
                f"{exc.strerror or exc}; logging to stderr instead.\n"
            )
        else:
            stream = os.fdopen(fd, "a", encoding="utf-8")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Redacting(_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(_LEVELS.get(name, logging.DEBUG))
    logger.propagate = False
    logger.info("meshprov %s, Python %s, %s", __version__, platform.python_version(), sys.argv[1:2])


def log_aws_calls(events: Any) -> None:
    """Log every AWS call on a botocore client's event system: service, operation, HTTP status,
    retries and duration. Parameters and bodies are never logged (a state upload is a secret)."""
    logger = logging.getLogger(f"{LOGGER}.aws")
    if not logger.isEnabledFor(logging.INFO):
        return

    def before(context: dict, **_: Any) -> None:
        context["meshprov_started"] = time.monotonic()

    def after(model: Any, context: dict, parsed: dict | None = None, **extra: Any) -> None:
        started = context.get("meshprov_started", time.monotonic())
        meta = (parsed or {}).get("ResponseMetadata", {})
        error = extra.get("exception")
        outcome = (
            f"failed ({type(error).__name__})" if error else f"HTTP {meta.get('HTTPStatusCode')}"
        )
        logger.info(
            "%s %s: %s in %.3f s, %s retries",
            model.service_model.service_name,
            model.name,
            outcome,
            time.monotonic() - started,
            meta.get("RetryAttempts", 0),
        )

    events.register("before-call.*.*", before)
    events.register("after-call.*.*", after)
    events.register("after-call-error.*.*", after)


def write_crash_log(error: BaseException, argv: list[str]) -> str:
    """Write the traceback of an internal error to a new 0600 file; returns its path.

    Command-line values that may be secret (``--var NAME=VALUE``) are left out, and the text
    passes through ``redact`` and then ``diagnostics.SECRETS``: an exception's message may
    quote any value (a sensitive variable, a store password), not only a key or a token.
    """
    from meshprov.diagnostics import SECRETS

    lines = [
        f"meshprov {__version__} crashed (Python {platform.python_version()}, "
        f"{platform.platform()})",
        "command: meshprov " + " ".join(_safe_args(argv)),
        "",
        *traceback.format_exception(error),
    ]
    fd, path = tempfile.mkstemp(prefix="meshprov-crash-", suffix=".log")  # 0600
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        text = "\n".join(line.rstrip("\n") for line in lines)
        out.write(SECRETS.redact(redact(text)) + "\n")
    return path


def _safe_args(argv: list[str]) -> list[str]:
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(arg.split("=", 1)[0] + "=...")
            hide_next = False
        elif re.match(r"^--?var=", arg):
            out.append(arg.split("=", 2)[0] + "=" + arg.split("=", 2)[1] + "=...")
        else:
            out.append(arg)
            hide_next = arg in ("--var", "-var")
    return out
