"""meshprov state: the state model and file format, lock info, and the local backend."""

from meshprov.state.local import Journal, LocalBackend
from meshprov.state.lock import LockError, LockInfo, StateLockError, StateUnlockError
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
    "Journal",
    "LocalBackend",
    "LockError",
    "LockInfo",
    "ResourceState",
    "State",
    "StateError",
    "StateLockError",
    "StateUnlockError",
    "loads_state",
]
