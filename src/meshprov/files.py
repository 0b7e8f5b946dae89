"""Writing files safely: atomically (temp file, fsync, rename) and with the right mode."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new file, never a partial one.

    The temporary file gets ``mode`` before any byte is written, so a secret is never readable
    by others, even for a moment.
    """
    write_files_atomic([(path, data, mode)])


def write_files_atomic(files: Iterable[tuple[Path, bytes, int]]) -> None:
    """Write several ``(path, data, mode)`` files, each as ``write_atomic`` does.

    Each file's data is fsync'ed before it is renamed over the old file, so a crash leaves the
    old file or the new one, never an empty or partial one. The directories are fsync'ed once
    each, after the last rename into them (also when a later write fails): when this returns or
    raises, every file that was renamed into place is durable, as with one ``write_atomic`` per
    file, for one directory fsync per directory instead of one per file.
    """
    created: set[Path] = set()
    renamed_into: dict[Path, None] = {}  # directories to sync, in order
    try:
        for path, data, mode in files:
            directory = path.parent
            if directory not in created:
                directory.mkdir(parents=True, exist_ok=True)
                created.add(directory)
            _replace(path, data, mode)
            renamed_into[directory] = None
    except BaseException:
        for directory in renamed_into:
            with contextlib.suppress(OSError):
                _fsync_dir(directory)
        raise
    for directory in renamed_into:
        _fsync_dir(directory)


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a temporary file next to ``path``, fsync it and rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
