"""Choosing the state backend from the configuration's ``meshprov { backend ... }`` block, and
what the CLI does with it: locking, reading and writing with diagnostics, the final write of an
apply (``errored.state.json`` when a remote backend cannot be written), recording which backend
a configuration uses, and moving the state between backends.

``<config dir>/.meshprov/`` (mode 0700, like Terraform's ``.terraform/``) holds, mode 0600:

- ``backend.json``: the backend the state was last used with, written by every successful
  ``init``, ``plan`` and ``apply`` (``{"format": "meshprov-backend", "version": 1,
  "backend": {"type": ..., "config": {...}}}``). When the configuration names another backend,
  ``plan`` and ``apply`` stop and ask for ``meshprov init --migrate-state`` (or
  ``--reconfigure``), so that nobody plans against an empty new backend by mistake;
- the apply journal of a remote (S3) state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshprov.config.load import constant
from meshprov.config.model import Module
from meshprov.diagnostics import Diagnostic, DiagnosticError, error, warning
from meshprov.files import PRIVATE_DIR_MODE, make_dirs, write_atomic
from meshprov.heap import frozen_heap
from meshprov.state import (
    EncryptionError,
    LocalBackend,
    LockError,
    State,
    StateBackend,
    StateEncryption,
    StateError,
    StateLockError,
)

DEFAULT_STATE_PATH = "state/default.json"
WORK_DIR = ".meshprov"
BACKEND_RECORD = "backend.json"
ERRORED_STATE = "errored.state.json"
_RECORD_FORMAT = "meshprov-backend"
_S3_STRINGS = ("bucket", "key", "region", "endpoint_url", "profile", "kms_key_id")


@dataclass(frozen=True)
class BackendSettings:
    """A backend's type and its evaluated settings (what ``backend.json`` records)."""

    type: str
    config: dict[str, Any] = field(default_factory=dict)

    def identity(self, directory: Path) -> tuple:
        """What makes two settings the same state: the file, or the endpoint, bucket and key."""
        if self.type == "local":
            return ("local", str((directory / self.config["path"]).resolve()))
        return (
            "s3",
            self.config.get("endpoint_url") or "",
            self.config["bucket"],
            self.config["key"],
        )

    def describe(self, directory: Path) -> str:
        if self.type == "local":
            return f"the local state {(directory / self.config['path']).resolve()}"
        return f"the S3 state s3://{self.config['bucket']}/{self.config['key']}"

    def to_json(self) -> dict:
        return {"type": self.type, "config": dict(sorted(self.config.items()))}


DEFAULT_BACKEND = BackendSettings("local", {"path": DEFAULT_STATE_PATH})


def backend_settings(root: Module) -> BackendSettings:
    """The configuration's backend settings, checked."""
    block = root.settings.backend
    if block is None:
        return DEFAULT_BACKEND
    values = {
        name: constant(attr.expr, "backend settings") for name, attr in block.attributes.items()
    }

    def bad(name: str, problem: str) -> DiagnosticError:
        attr = block.attributes.get(name)
        return DiagnosticError.single(
            f"Invalid backend {name}", problem, attr.range if attr else block.range
        )

    if block.type == "local":
        path = values.get("path", DEFAULT_STATE_PATH)
        if not isinstance(path, str) or not path:
            raise DiagnosticError.single(
                "Invalid backend path", "path must be a non-empty string.", block.range
            )
        if "\0" in path:
            raise bad("path", "path contains a NUL character, which no file name can hold.")
        return BackendSettings("local", {"path": path})
    if block.type != "s3":
        raise DiagnosticError.single(
            "Unsupported backend",
            f'The "{block.type}" backend is not available; use backend "local" or "s3".',
            block.range,
        )
    config: dict[str, Any] = {}
    for name in _S3_STRINGS:
        value = values.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise bad(name, f"{name} must be a non-empty string.")
        config[name] = value
    for name in ("bucket", "key"):
        if name not in config:
            raise bad(name, f'The s3 backend needs "{name}".')
    if config["key"].startswith("/") or config["key"].endswith("/"):
        raise bad(
            "key",
            'key is an object key such as "meshprov/prod.json": no leading or trailing slash.',
        )
    encrypt = values.get("encrypt", True)
    if not isinstance(encrypt, bool):
        raise bad("encrypt", "encrypt must be true or false.")
    config["encrypt"] = encrypt
    if "kms_key_id" in config and not encrypt:
        raise bad("kms_key_id", "kms_key_id needs encrypt = true (aws:kms encryption).")
    return BackendSettings("s3", config)


def state_encryption(root: Module) -> StateEncryption | None:
    """The ``meshprov { encryption { ... } }`` settings with their passphrases, if configured.

    A missing passphrase is an error here, before anything runs: an apply must never find
    out at its final write that it cannot encrypt the state.
    """
    block = root.settings.encryption
    if block is None:
        return None
    values = {
        name: constant(attr.expr, "encryption settings") for name, attr in block.attributes.items()
    }
    for name in ("passphrase_env", "fallback_passphrase_env"):
        value = values.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise DiagnosticError.single(
                f"Invalid encryption {name}",
                f"{name} names an environment variable: a non-empty string.",
                block.attributes[name].range,
            )
    try:
        return StateEncryption.from_environment(
            values["passphrase_env"], values.get("fallback_passphrase_env")
        )
    except EncryptionError as exc:
        raise DiagnosticError.single(
            "State encryption passphrase missing",
            str(exc),
            block.attributes["passphrase_env"].range,
        ) from None


def backend_from_settings(
    settings: BackendSettings, directory: Path, encryption: StateEncryption | None = None
) -> StateBackend:
    if settings.type == "local":
        path = settings.config["path"]
        if path == DEFAULT_STATE_PATH:
            return LocalBackend(directory / DEFAULT_STATE_PATH, encryption=encryption)
        return LocalBackend((directory / path).resolve(), encryption=encryption)
    # boto3 costs a quarter second to import: only an S3 backend pays for it
    from meshprov.aws import AwsSettings, Clients
    from meshprov.state.s3 import S3Backend

    config = settings.config
    clients = Clients(
        AwsSettings(
            region=config.get("region"),
            profile=config.get("profile"),
            endpoint_url=config.get("endpoint_url"),
        )
    )
    return S3Backend(
        config["bucket"],
        config["key"],
        clients=clients,
        work_dir=directory / WORK_DIR,
        encrypt=config.get("encrypt", True),
        kms_key_id=config.get("kms_key_id"),
        encryption=encryption,
    )


def open_backend(root: Module, directory: Path, *, encryption: bool = True) -> StateBackend:
    """The configured backend; ``encryption=False`` leaves the passphrase out (for what
    never reads or writes the state, such as ``force-unlock``)."""
    return backend_from_settings(
        backend_settings(root), directory, state_encryption(root) if encryption else None
    )


@contextmanager
def locked(
    backend: StateBackend, operation: str, timeout: float, *, enabled: bool = True
) -> Iterator[None]:
    """Hold the state lock for the block; lock problems become diagnostics.

    A lock that cannot be released (a remote lock, after a network failure) is reported
    after whatever the block reported. Not ``enabled`` (``--lock=false``): no lock at all.
    """
    if not enabled:
        yield
        return
    try:
        backend.lock(operation, timeout=timeout)
    except StateLockError as exc:
        raise DiagnosticError.single("Error acquiring the state lock", _detail(exc)) from None
    try:
        yield
    except DiagnosticError as exc:
        release = _unlock(backend)
        if release is None:
            raise
        raise DiagnosticError([*exc.diagnostics, release]) from None
    except SystemExit:
        release = _unlock(backend)
        if release is not None:
            raise DiagnosticError([release]) from None
        raise
    except BaseException:
        _unlock(backend)
        raise
    release = _unlock(backend)
    if release is not None:
        raise DiagnosticError([release])


def _unlock(backend: StateBackend) -> Diagnostic | None:
    try:
        backend.unlock()
    except LockError as exc:
        return error(exc.summary, exc.detail)
    return None


def read_state(backend: StateBackend):
    try:
        with frozen_heap():  # the loaded configuration need not be rescanned by the collector
            return backend.read()
    except StateError as exc:
        raise DiagnosticError.single("Failed to load state", str(exc)) from None


def write_state(backend: StateBackend, state: State, *, exact: bool = False) -> State:
    """``backend.write`` (or ``write_exact``), its failures as a diagnostic."""
    try:
        return backend.write_exact(state) if exact else backend.write(state)
    except (StateError, OSError) as exc:
        raise DiagnosticError.single("Failed to write state", str(exc)) from None


def check_replace(incoming: State, current: State, force: bool) -> None:
    """Terraform's rules for replacing a state (``state push``, migration), unless ``force``:
    refuse another lineage, an older serial, or other content under the same serial.
    Replacing an empty state is always allowed."""
    existing = bool(current.resources or current.serial)
    if not existing or force:
        return
    if incoming.lineage != current.lineage:
        raise DiagnosticError.single(
            "Failed to write state",
            f"cannot import state with lineage {incoming.lineage!r} over unrelated "
            f"state with lineage {current.lineage!r}. Use --force to overwrite it.",
        )
    if incoming.serial < current.serial:
        raise DiagnosticError.single(
            "Failed to write state",
            f"cannot import state with serial {incoming.serial} over newer state "
            f"with serial {current.serial}. Use --force to overwrite it.",
        )
    if incoming.serial == current.serial and not incoming.content_equal(current):
        raise DiagnosticError.single(
            "Failed to write state",
            f"cannot overwrite existing state with serial {current.serial} with a "
            "different state that has the same serial.",
        )


# --- the final write of an apply ----------------------------------------------------------------


def save_applied_state(
    backend: StateBackend, state: State, directory: Path, push_errors: list[str] | None = None
) -> list[Diagnostic]:
    """Write the state an apply produced, then drop its journal; returns warnings.

    A remote backend that cannot be written gets the state in ``errored.state.json`` (0600,
    encrypted when encryption is configured) in the configuration directory, and the error
    says how to push it.
    """
    try:
        with frozen_heap():  # nor the configuration, plan and state by the write's collections
            backend.write(state)
        backend.discard_journal()
    except (StateError, OSError) as exc:
        if not backend.remote:
            reason = (
                exc
                if isinstance(exc, StateError)
                else f"{exc.filename or backend.display}: {exc.strerror or exc}."
            )
            raise DiagnosticError.single(
                "Failed to save state",
                f"{reason}\nEvery finished resource is recorded in the journal next to the state "
                "file; the next meshprov run folds it into the state.",
            ) from None
        raise _errored(backend, state, directory, exc) from None
    if push_errors:
        return [
            warning(
                "Pushing the state during apply failed",
                f"{len(push_errors)} intermediate push(es) of the state to {backend.display} "
                f"failed (the local journal kept every result, and the final write "
                f"succeeded). The last error: {push_errors[-1]}",
            )
        ]
    return []


def _errored(
    backend: StateBackend, state: State, directory: Path, cause: Exception
) -> DiagnosticError:
    path = directory / ERRORED_STATE
    try:
        write_atomic(path, backend.encoded(state), 0o600)
    except (StateError, OSError) as exc:
        return DiagnosticError.single(
            "Failed to persist state to backend",
            f"{cause}\n\nWriting the state to {path} failed too ({exc}). Every finished "
            f"resource is recorded in the journal {backend.journal_path}: the next meshprov "
            "run folds it into the state.",
        )
    backend.discard_journal()  # errored.state.json has all of it
    if directory == Path.cwd().resolve():
        command = f"meshprov state push {ERRORED_STATE}"
    else:
        command = f"meshprov -C {directory} state push {path}"
    sealed = ", encrypted" if backend.encryption is not None else ""
    return DiagnosticError.single(
        "Failed to persist state to backend",
        f"{cause}\n\nThe state was written to {path} instead (mode 0600{sealed}; it holds "
        f"private keys). Once {backend.display} can be written again, store it there with:\n"
        f"    {command}\n\nRunning apply before that would start from the older state in the "
        "backend and fork it.",
    )


# --- which backend a configuration uses ---------------------------------------------------------


def work_dir(directory: Path) -> Path:
    """``<directory>/.meshprov``, created 0700."""
    path = directory / WORK_DIR
    if not path.is_dir():
        make_dirs(path, PRIVATE_DIR_MODE)
    return path


def recorded_backend(directory: Path) -> BackendSettings | None:
    """The backend ``backend.json`` says the state was last used with, if any."""
    path = directory / WORK_DIR / BACKEND_RECORD
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        raise DiagnosticError.single(
            "Invalid backend record",
            f"{path} cannot be read ({exc}); delete it and run meshprov init.",
        ) from None
    backend = doc.get("backend") if isinstance(doc, dict) else None
    if (
        not isinstance(backend, dict)
        or doc.get("format") != _RECORD_FORMAT
        or backend.get("type") not in ("local", "s3")
        or not isinstance(backend.get("config"), dict)
    ):
        raise DiagnosticError.single(
            "Invalid backend record",
            f"{path} is not a meshprov backend record; delete it and run meshprov init.",
        )
    return BackendSettings(backend["type"], dict(backend["config"]))


def record_backend(directory: Path, settings: BackendSettings, *, strict: bool = False) -> None:
    """Write ``backend.json`` if it changed; failures matter only when ``strict`` (init)."""
    doc = {"format": _RECORD_FORMAT, "version": 1, "backend": settings.to_json()}
    data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    path = directory / WORK_DIR / BACKEND_RECORD
    try:
        if path.exists() and path.read_bytes() == data:
            return
        write_atomic(work_dir(directory) / BACKEND_RECORD, data, 0o600)
    except OSError as exc:
        if strict:
            raise DiagnosticError.single(
                "Cannot record the backend", f"{path}: {exc.strerror or exc}"
            ) from None


def previous_backend(directory: Path, settings: BackendSettings) -> BackendSettings | None:
    """The backend the state was in before, if not the configured one.

    Without a record, a default local state file next to a configuration that names another
    backend counts as the previous backend (a configuration that started without a backend
    block).
    """
    previous = recorded_backend(directory)
    if previous is None:
        if (
            DEFAULT_BACKEND.identity(directory) != settings.identity(directory)
            and (directory / DEFAULT_STATE_PATH).exists()
        ):
            previous = DEFAULT_BACKEND
        else:
            return None
    if previous.identity(directory) == settings.identity(directory):
        return None
    return previous


def check_backend_initialized(root: Module, directory: Path) -> None:
    """Refuse to plan or apply when the state is recorded in another backend."""
    settings = backend_settings(root)
    previous = previous_backend(directory, settings)
    if previous is None:
        return
    raise DiagnosticError.single(
        "Backend initialization required",
        f"The backend configuration changed: the state was in {previous.describe(directory)}; "
        f"the configuration now names {settings.describe(directory)}.\n\nRun\n"
        "    meshprov init --migrate-state\nto move the state there (both states are locked; "
        "lineage and serial are checked), or\n    meshprov init --reconfigure\nto use the new "
        "backend as it is, without moving anything.",
    )


def migrate_state(source: StateBackend, dest: StateBackend, *, force: bool, timeout: float) -> str:
    """Copy the state from ``source`` to ``dest`` with both locks held; returns what happened.

    Refuses (unless ``force``) to overwrite a state of another lineage, a newer serial, or
    other content under the same serial in ``dest``. ``source`` is left as it was.
    """
    with locked(source, "migrate-state", timeout), locked(dest, "migrate-state", timeout):
        incoming = read_state(source)
        if not source.has_stored_state:
            return f"No state in {source.display}: nothing to migrate."
        current = read_state(dest)
        if dest.has_stored_state:
            check_replace(incoming, current, force)
            if (incoming.lineage, incoming.serial) == (current.lineage, current.serial) and (
                incoming.content_equal(current)
            ):
                write_state(dest, incoming, exact=True)  # only re-encrypts, if needed
                return f"{dest.display} already holds this state (serial {incoming.serial})."
        write_state(dest, incoming, exact=True)
        return (
            f"Migrated the state (lineage {incoming.lineage}, serial {incoming.serial}) from "
            f"{source.display} to {dest.display}."
        )


def _detail(exc: Exception) -> str:
    lines = str(exc).splitlines()
    if lines and lines[0].strip() == "Error acquiring the state lock":
        lines = lines[1:]
    return "\n".join(lines).strip()


@dataclass
class InitReport:
    lines: list[str] = field(default_factory=list)  # what init did, one line each
    warnings: list[Diagnostic] = field(default_factory=list)


def init_backend(
    root: Module,
    directory: Path,
    *,
    migrate: bool = False,
    reconfigure: bool = False,
    force: bool = False,
    timeout: float = 0.0,
) -> InitReport:
    """``meshprov init``: prepare the configured backend, move the state to it if asked,
    encrypt a clear state when encryption is configured, and record the backend."""
    settings = backend_settings(root)
    encryption = state_encryption(root)
    backend = backend_from_settings(settings, directory, encryption)
    report = InitReport()
    if isinstance(backend, LocalBackend):
        make_dirs(backend.path.parent, PRIVATE_DIR_MODE)
        report.lines.append(f"local state: {backend.path}")
    else:
        report.lines.append(f"S3 state: {backend.display}")
        report.warnings.extend(_check_bucket(backend))
    previous = previous_backend(directory, settings)
    if previous is not None:
        if migrate:
            old = backend_from_settings(previous, directory, encryption)
            report.lines.append(migrate_state(old, backend, force=force, timeout=timeout))
            report.lines.append(
                f"The previous state in {old.display} was left as it was: delete it once you "
                "have checked the new backend (it holds private keys)."
            )
        elif reconfigure:
            report.lines.append(
                f"Using {backend.display} as it is; {previous.describe(directory)} was not moved."
            )
        else:
            raise DiagnosticError.single(
                "Backend configuration changed",
                f"The state was in {previous.describe(directory)}; the configuration now "
                f"names {settings.describe(directory)}.\n\nRun\n    meshprov init "
                "--migrate-state\nto move the state there (both states are locked; lineage "
                "and serial are checked), or\n    meshprov init --reconfigure\nto use the new "
                "backend as it is, without moving anything.",
            )
    elif migrate:
        report.lines.append("The backend has not changed: nothing to migrate.")
    if encryption is not None:
        with locked(backend, "init", timeout):
            current = read_state(backend)
            before = backend.stored_as
            if before in ("plain", "fallback"):
                write_state(backend, current, exact=True)
                report.lines.append(
                    f"Encrypted the state with the passphrase in {encryption.primary.env} "
                    f"(it was {'in clear' if before == 'plain' else 'under the fallback one'})."
                )
    record_backend(directory, settings, strict=True)
    return report


def _check_bucket(backend: StateBackend) -> list[Diagnostic]:
    """The bucket must exist (init never creates it); no versioning is worth a warning."""
    from meshprov.state.s3 import S3Backend

    assert isinstance(backend, S3Backend)
    try:
        status = backend.versioning()
    except StateError as exc:
        raise DiagnosticError.single("Failed to initialize the S3 backend", str(exc)) from None
    if status == "Enabled":
        return []
    return [
        warning(
            "S3 bucket versioning is not enabled",
            f"The bucket {backend.bucket} does not keep previous versions of the state. "
            f"meshprov copies the state to s3://{backend.bucket}/{backend.backup_key} before "
            "each run's first change, but only versioning keeps the older ones. Enable it:\n"
            f"    aws s3api put-bucket-versioning --bucket {backend.bucket} "
            "--versioning-configuration Status=Enabled",
        )
    ]
