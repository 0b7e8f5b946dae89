"""meshprov state: the state model and file format, lock info, the backend core and its local
and S3 backends, and client-side encryption."""

from meshprov.state.core import Journal, StateBackend, StatePersister
from meshprov.state.encryption import EncryptionError, StateEncryption
from meshprov.state.local import LocalBackend
from meshprov.state.lock import (
    LockError,
    LockInfo,
    StateLockError,
    StateReleaseError,
    StateUnlockError,
)
from meshprov.state.model import (
    STATE_FORMAT,
    STATE_VERSION,
    ResourceState,
    State,
    StateError,
    loads_state,
)

__all__ = [
    "STATE_FORMAT",
    "STATE_VERSION",
    "EncryptionError",
    "Journal",
    "LocalBackend",
    "LockError",
    "LockInfo",
    "ResourceState",
    "State",
    "StateBackend",
    "StateEncryption",
    "StateError",
    "StateLockError",
    "StatePersister",
    "StateReleaseError",
    "StateUnlockError",
    "loads_state",
]
