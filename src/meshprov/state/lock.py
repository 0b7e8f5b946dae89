"""State lock information (Terraform's ``LockInfo``) and the errors a lock conflict raises."""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from meshprov import __version__

_FIELDS = ("ID", "Operation", "Info", "Who", "Version", "Created", "Path")


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (containers)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state lock, serialised with Go field names like Terraform's LockInfo."""

    ID: str
    Operation: str
    Info: str
    Who: str
    Version: str
    Created: str
    Path: str

    @classmethod
    def new(cls, operation: str, path: str, info: str = "") -> LockInfo:
        """Lock info for this process: a uuid4 ID, ``user@hostname`` and the time now (UTC)."""
        return cls(
            ID=str(uuid.uuid4()),
            Operation=operation,
            Info=info,
            Who=_who(),
            Version=__version__,
            Created=_now_rfc3339(),
            Path=str(path),
        )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> LockInfo:
        """Parse lock info; missing fields become "". Raises ValueError if it is not an object."""
        if not isinstance(data, dict):
            raise ValueError("lock info must be a JSON object")
        values = {}
        for name in _FIELDS:
            value = data.get(name)
            values[name] = "" if value is None else str(value)
        return cls(**values)

    def dumps(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2) + "\n").encode("utf-8")

    @classmethod
    def loads(cls, data: bytes) -> LockInfo | None:
        """Parse lock info bytes; None if they are empty or not lock info (a torn write)."""
        try:
            info = cls.from_json(json.loads(data.decode("utf-8")))
        except (ValueError, RecursionError):
            return None
        return info if info.ID else None

    def describe(self) -> str:
        """Terraform's human block: ``Lock Info:`` then one aligned line a field."""
        return (
            "Lock Info:\n"
            f"  ID:        {self.ID}\n"
            f"  Path:      {self.Path}\n"
            f"  Operation: {self.Operation}\n"
            f"  Who:       {self.Who}\n"
            f"  Version:   {self.Version}\n"
            f"  Created:   {self.Created}\n"
            f"  Info:      {self.Info}\n"
        )


class LockError(Exception):
    """Base of the lock errors: ``summary`` (first line), ``detail`` and the ``holder``."""

    def __init__(self, summary: str, detail: str = "", holder: LockInfo | None = None):
        self.summary = summary
        self.detail = detail
        self.holder = holder
        super().__init__(f"{summary}\n\n{detail}" if detail else summary)


class StateLockError(LockError):
    """The state lock could not be acquired (held by another run, or the wait timed out)."""

    def __init__(self, detail: str, holder: LockInfo | None = None):
        super().__init__("Error acquiring the state lock", detail, holder)

    @classmethod
    def held(cls, path: str, holder: LockInfo | None, waited: float = 0.0) -> StateLockError:
        """The standard conflict error: who holds the lock, and what the user can do."""
        if waited > 0:
            first = f"The state {path} is still locked after waiting {waited:g}s."
        else:
            first = f"The state {path} is locked by another meshprov run."
        if holder is not None:
            block = holder.describe()
            unlock = f"meshprov force-unlock {holder.ID}"
        else:
            block = "Lock Info: unavailable (the holder has not written it yet)\n"
            unlock = "meshprov force-unlock LOCK_ID"
        detail = (
            f"{first}\n\n{block}\n"
            "meshprov locks the state so that two runs never write it at the same time.\n"
            "Wait for the other run to finish, or retry with --lock-timeout=DURATION\n"
            "(e.g. --lock-timeout=5m) to wait for it. If you are sure no run holds the\n"
            f"lock any more, release it with:\n  {unlock}"
        )
        return cls(detail, holder)


class StateUnlockError(LockError):
    """``force-unlock`` refused: nothing to unlock, a wrong ID, or a live local holder."""

    def __init__(self, detail: str, holder: LockInfo | None = None):
        super().__init__("Failed to unlock state", detail, holder)


class StateReleaseError(LockError):
    """The lock could not be released (a remote lock that vanished, changed hands, or that the
    network would not let us delete); the detail says how to release it by hand."""

    def __init__(self, detail: str, holder: LockInfo | None = None):
        super().__init__("Error releasing the state lock", detail, holder)
