"""A configuration directory to drive the real ``meshprov`` CLI in, for end-to-end tests.

``Workspace.run`` invokes the CLI in-process (click's CliRunner); ``Workspace.sub`` and
``Workspace.popen`` run it as a separate process (for signals, locks and real stdin). Every run
checks what must hold after any command: no Python traceback, no private key on stdout or
stderr (unless the test asks for one, e.g. ``state pull``), and a state file (and its backup)
that validates against ``state/schema.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import tests.support.testtype  # noqa: F401  (registers test_thing)
from click.testing import CliRunner

from meshprov.cli import cli

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "tests" / "support" / "meshprov_with_testtype.py"
SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((REPO / "state" / "schema.json").read_text(encoding="utf-8"))
)
PRIVATE_KEY = "PRIVATE KEY"
JWT_PREFIX = "eyJ"  # how every JWT (a Kong Mesh token) starts: base64url of '{"'
# A whole JWT: header and claims both JSON objects ("eyJ..."), three base64url parts joined by
# dots. "eyJ" alone occurs by chance in base64 (a certificate, ciphertext): never test for that.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")


def shows_a_token(text: str) -> bool:
    return JWT.search(text) is not None


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


_VALIDATED: set[bytes] = set()  # digests of contents already validated (big states are slow)


def validate_state_file(path: Path) -> dict:
    data = path.read_bytes()
    doc = json.loads(data)
    digest = hashlib.sha256(data).digest()
    if digest not in _VALIDATED:
        SCHEMA_VALIDATOR.validate(doc)
        _VALIDATED.add(digest)
    return doc


class Workspace:
    """A configuration directory (``main.hcl``) with its state under ``state/default.json``."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = directory / "state" / "default.json"
        self.backup_path = directory / "state" / "default.json.backup"
        self.lock_path = directory / "state" / "default.json.lock.info"
        self.journal_path = directory / "state" / "default.json.journal"
        self.states_seen: list[dict] = []

    # --- configuration and the test type's world ----------------------------------------

    def write(self, hcl: str, name: str = "main.hcl") -> None:
        (self.dir / name).write_text(textwrap.dedent(hcl).lstrip(), encoding="utf-8")

    def world_path(self, address: str) -> Path:
        safe = address.replace('"', "").replace("[", "_").replace("]", "")
        return self.dir / "world" / f"{safe}.json"

    def world(self, address: str) -> dict | None:
        path = self.world_path(address)
        return json.loads(path.read_text()) if path.exists() else None

    def edit_world(self, address: str, **changes: Any) -> None:
        path = self.world_path(address)
        data = json.loads(path.read_text())
        data.update(changes)
        path.write_text(json.dumps(data, sort_keys=True))

    def world_addresses(self) -> set[str]:
        return {p.stem for p in (self.dir / "world").glob("*.json")}

    # --- state ---------------------------------------------------------------------------

    def state(self) -> dict:
        """The state file, validated against the schema."""
        return validate_state_file(self.state_path)

    def resources(self) -> dict[str, dict]:
        return {r["address"]: r for r in self.state()["resources"]}

    def state_bytes(self) -> bytes | None:
        return self.state_path.read_bytes() if self.state_path.exists() else None

    def check_state_files(self) -> None:
        for path in (self.state_path, self.backup_path):
            if path.exists():
                doc = validate_state_file(path)
                assert mode_of(path) == 0o600, f"{path} has mode {oct(mode_of(path))}"
                if path == self.state_path:
                    self.states_seen.append(doc)

    # --- running the CLI -------------------------------------------------------------------

    def _check(self, result: Result, allow_secret: bool, valid_state: bool) -> Result:
        assert "Traceback" not in result.output, result.output
        if not allow_secret:
            assert PRIVATE_KEY not in result.output, result.output
            assert not shows_a_token(result.output), result.output
        if valid_state:
            self.check_state_files()
        return result

    def run(
        self,
        *args: str,
        input: str | None = None,
        code: int | None = 0,
        allow_secret: bool = False,
        valid_state: bool = True,
    ) -> Result:
        """The CLI in this process; ``code`` is the exit code expected (None: any)."""
        runner = CliRunner()
        invoked = runner.invoke(
            cli, ["-C", str(self.dir), *args], input=input, catch_exceptions=True
        )
        if invoked.exception is not None and not isinstance(invoked.exception, SystemExit):
            raise invoked.exception
        result = Result(invoked.exit_code, invoked.stdout, invoked.stderr)
        if code is not None:
            assert result.code == code, f"exit {result.code}, expected {code}:\n{result.output}"
        return self._check(result, allow_secret, valid_state)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(WRAPPER), "-C", str(self.dir), *args]

    def sub(
        self,
        *args: str,
        input: str | None = "",
        code: int | None = 0,
        allow_secret: bool = False,
        valid_state: bool = True,
        timeout: float = 120,
    ) -> Result:
        """The CLI as a separate process (stdin is a pipe, not a terminal)."""
        proc = subprocess.run(
            self.command(*args),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if code is not None:
            assert result.code == code, f"exit {result.code}, expected {code}:\n{result.output}"
        return self._check(result, allow_secret, valid_state)

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(
            self.command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
            **kwargs,
        )
