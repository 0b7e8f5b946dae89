"""Writing and removing files safely.

Writes are atomic (temp file, fsync, rename) and get their mode before any byte is written.
Directories are created with an explicit mode, whatever the umask.

Files meshprov *owns* (a control plane's artifacts) are named by a path relative to the
directory they were written into. Every component below that directory is opened with
``O_NOFOLLOW``, relative to its parent's descriptor: a symlink planted there (at the file, or
at ``tls/``) is never followed, so meshprov only ever replaces or removes the entries it
created, never the file a link points to. A relative path that is absolute or climbs out
(``..``) is refused (``UnsafePath``) before anything is touched. Where the caller knows what it
wrote (a digest in state), a file is removed only while it still holds that: state names the
directory, and a state edited to name someone else's must remove nothing there.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import secrets
import stat
import string
from collections.abc import Callable, Iterable
from pathlib import Path

DIR_MODE = 0o755  # output directories
PRIVATE_DIR_MODE = 0o700  # state and work directories

# ".<name>.<8 letters, digits or _>.tmp": the temp files this module writes next to <name>
_TEMP_ALPHABET = string.ascii_lowercase + string.digits + "_"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class UnsafePath(ValueError):
    """An owned path that is not a plain relative path, or that crosses a symlink."""


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new file, never a partial one.

    The temporary file gets ``mode`` before any byte is written, so a secret is never readable
    by others, even for a moment. A missing directory is created 0700.
    """
    path = Path(path)
    make_dirs(path.parent, PRIVATE_DIR_MODE)
    dfd = os.open(path.parent, _DIR_FLAGS)
    try:
        _replace_at(dfd, path.name, data, mode)
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_owned_files(
    base: Path, files: Iterable[tuple[str, bytes, int]], dir_mode: int = DIR_MODE
) -> None:
    """Write ``(relative path, data, mode)`` files under ``base``, each atomically.

    ``base`` and the directories below it are created with ``dir_mode``; no symlink below
    ``base`` is followed (``UnsafePath``). Each file's data is fsync'ed before it is renamed
    over the old file; each directory is fsync'ed once, after the last rename into it (also
    when a later write fails), so every file renamed into place is durable when this returns
    or raises.
    """
    make_dirs(base, dir_mode)
    opened: dict[tuple[str, ...], int] = {}
    renamed_into: dict[int, None] = {}
    try:
        for relative, data, mode in files:
            parts = owned_parts(relative)
            dfd = _open_owned_dir(base, parts[:-1], opened, dir_mode)
            _replace_at(dfd, parts[-1], data, mode)
            renamed_into[dfd] = None
    finally:
        try:
            for dfd in renamed_into:
                os.fsync(dfd)
        finally:
            for dfd in opened.values():
                os.close(dfd)


def remove_owned_files(
    base: Path,
    relatives: Iterable[str],
    written: Callable[[str, bytes], bool] | None = None,
) -> list[str]:
    """Remove the files at ``relatives`` under ``base`` (the links themselves if they are
    symlinks), the temp files of killed writes next to them, then their directories below
    ``base`` and ``base`` itself if that left them empty. Missing files are fine.

    With ``written``, a file is removed only if ``written(relative, content)`` says its
    content is what meshprov wrote there: where it is not (changed since, or a state naming a
    file meshprov never wrote: ``output_dir = "/home/me/.ssh"``), the file stays, and the
    relative paths left are returned."""
    targets = [(r, owned_parts(r)) for r in relatives]  # refuse before removing anything
    left: list[str] = []
    opened: dict[tuple[str, ...], int] = {}
    try:
        for relative, parts in targets:
            try:
                dfd = _open_owned_dir(base, parts[:-1], opened, None)
            except FileNotFoundError:
                continue
            if written is not None and not _holds_written(
                dfd, parts[-1], functools.partial(written, relative)
            ):
                left.append(relative)
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(parts[-1], dir_fd=dfd)
            _remove_temps_at(dfd, {parts[-1]})
    finally:
        for dfd in opened.values():
            os.close(dfd)
    directories = {parts[:i] for _, parts in targets for i in range(len(parts))}
    for parts in sorted(directories, key=len, reverse=True):
        # only when empty: never remove what meshprov did not write
        with contextlib.suppress(OSError):
            _rmdir_owned(base, parts)
    return left


# larger than any file meshprov writes: not worth reading to compare
_LARGEST_WRITTEN = 16 << 20


def remove_written_file(path: Path, written: Callable[[bytes], bool]) -> bool:
    """Remove the file at ``path`` (a symlink itself, never its target) if ``written`` says
    its content is what meshprov wrote there; False when a file is left for that reason."""
    path = Path(path)
    try:
        dfd = os.open(path.parent, _DIR_FLAGS)
    except FileNotFoundError:
        return True
    try:
        if not _holds_written(dfd, path.name, written):
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.name, dir_fd=dfd)
        return True
    finally:
        os.close(dfd)


def _holds_written(dfd: int, name: str, written: Callable[[bytes], bool]) -> bool:
    """Whether removing ``name`` removes only what meshprov wrote: a symlink (the link goes,
    never its target), nothing at all, or a regular file whose content ``written`` accepts."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return True
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _LARGEST_WRITTEN:
            return False
        return written(_read_to_end(fd, info.st_size))
    finally:
        os.close(fd)


def remove_orphaned_temps(base: Path, relatives: Iterable[str]) -> None:
    """Remove the temp files that a killed write of one of ``relatives`` left under ``base``
    (they may hold a private key). Only this module's temp names next to those files."""
    by_dir: dict[tuple[str, ...], set[str]] = {}
    for relative in relatives:
        parts = owned_parts(relative)
        by_dir.setdefault(parts[:-1], set()).add(parts[-1])
    opened: dict[tuple[str, ...], int] = {}
    try:
        for directory, names in by_dir.items():
            try:  # best effort: a directory we cannot read holds nothing we could remove
                dfd = _open_owned_dir(base, directory, opened, None)
                _remove_temps_at(dfd, names)
            except (OSError, UnsafePath):
                continue
    finally:
        for dfd in opened.values():
            os.close(dfd)


class IsSymlink(OSError):
    """A symbolic link where a file meshprov wrote should be."""


def read_file_and_mode(path: str | Path) -> tuple[bytes, int]:
    """A file's content and permission bits, never through a symbolic link at ``path``
    itself (``IsSymlink``); a missing file raises ``FileNotFoundError``. One open, one
    ``fstat``, no buffered file object: a no-op plan reads every file of every control
    plane."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IsSymlink(errno.ELOOP, "a symbolic link", str(path)) from None
        raise
    try:
        status = os.fstat(fd)
        return _read_to_end(fd, status.st_size), status.st_mode & 0o777
    finally:
        os.close(fd)


class NotRegularFile(OSError):
    """A named pipe, device, directory or socket where a file to read should be."""


_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
}


def read_regular_file(path: str | Path) -> bytes:
    """The content of a regular file (symbolic links followed); anything else raises
    ``NotRegularFile`` before a byte is read. Opened non-blocking, so a named pipe that no one
    writes to is refused at once instead of hanging the read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            kind = _KINDS.get(stat.S_IFMT(status.st_mode), "a special file")
            raise NotRegularFile(errno.EINVAL, f"{kind}, not a regular file", str(path))
        return _read_to_end(fd, status.st_size)
    finally:
        os.close(fd)


def _read_to_end(fd: int, size: int) -> bytes:
    """One read for a file as large as fstat says, then on until EOF if it grew."""
    chunks = []
    chunk = os.read(fd, size + 1)
    while chunk:
        chunks.append(chunk)
        chunk = os.read(fd, 1 << 16)
    return b"".join(chunks)


def file_digest(content: bytes, mode: int) -> str:
    """How state records a file meshprov wrote: its mode and content digest, e.g.
    ``0600 sha256:1f2e…``."""
    return f"{mode:04o} {_content_digest(content)}"


def written_as(recorded: object, content: bytes) -> bool:
    """Whether ``content`` is what the file ``recorded`` (a ``file_digest``) held when meshprov
    wrote it, its mode aside: only then is the file meshprov's to remove."""
    return isinstance(recorded, str) and recorded.split(" ")[1:] == [_content_digest(content)]


def _content_digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()[:16]}"


SYMLINK_DIGEST = "symlink"  # what state records for a file replaced by a symbolic link
CHANGED = "changed"  # what it records before the digest of a file someone changed


def drift_of(path: str | Path, recorded: str, name: str) -> tuple[str | None, str]:
    """A file meshprov wrote, as it is now, against ``recorded`` (its digest in state): its
    digest now (None when it is gone) and what differs ("" when nothing does), naming it
    ``name``. A symbolic link in its place is never read through, whatever it points at: its
    digest is ``SYMLINK_DIGEST``, so apply writes the file again and destroy unlinks the link
    (never its target). A file whose content changed is recorded as ``changed <digest>``, which
    ``written_as`` refuses: no removal takes it for what meshprov wrote (state names the path,
    and a state edited to name someone else's file must not have it removed). Other
    ``OSError``s (no permission) are the caller's to report."""
    try:
        content, mode = read_file_and_mode(path)
    except IsSymlink:
        return SYMLINK_DIGEST, f"{name} was replaced by a symlink"
    except FileNotFoundError:
        return None, f"{name} was deleted"
    actual = file_digest(content, mode)
    if actual == recorded:
        return actual, ""
    if not written_as(recorded, content):
        return f"{CHANGED} {actual}", f"{name} was modified"
    return actual, f"{name} has mode {mode:04o}, want {str(recorded).split(' ', 1)[0]}"


def owned_parts(relative: str) -> tuple[str, ...]:
    """The components of an owned relative path; ``UnsafePath`` if it could leave its base."""
    if not isinstance(relative, str) or not relative or "\0" in relative:
        raise UnsafePath(f"{relative!r} is not a file path")
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("..", ".") for part in parts):
        raise UnsafePath(f'"{relative}" is not a path inside the output directory')
    return tuple(part for part in parts if part)  # "a//b/" is a/b, as a path reads it


def leaves_dir(base: Path, path: str) -> bool:
    """Whether ``path`` (relative to ``base``, or absolute) names a place outside ``base``:
    absolute or climbing out with ``..`` as written, or reaching out through a symlink (a
    committed ``out -> /srv/shared`` link)."""
    if os.path.isabs(path) or os.path.normpath(path).split(os.sep)[0] == os.pardir:
        return True
    real_base = os.path.realpath(base)
    target = os.path.realpath(os.path.join(real_base, path))
    return os.path.commonpath([real_base, target]) != real_base


def make_dirs(path: Path, mode: int) -> None:
    """Create ``path`` and its missing parents with exactly ``mode`` (the umask is ignored)."""
    path = Path(path)
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to chmod
        os.chmod(directory, mode)


def _open_owned_dir(
    base: Path, parts: tuple[str, ...], opened: dict[tuple[str, ...], int], mode: int | None
) -> int:
    """A descriptor of ``base/parts``, each component opened with ``O_NOFOLLOW`` below
    ``base`` (and created with ``mode`` if missing and ``mode`` is given)."""
    if parts in opened:
        return opened[parts]
    if not parts:
        fd = os.open(base, _DIR_FLAGS)
    else:
        parent = _open_owned_dir(base, parts[:-1], opened, mode)
        name = parts[-1]
        created = False
        if mode is not None:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, mode, dir_fd=parent)
                created = True
        try:
            fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a symlink, or a file
                raise UnsafePath(
                    f"{base / os.path.join(*parts)} is a symlink or not a directory; meshprov "
                    "does not follow links inside an output directory"
                ) from None
            raise
        if created and mode is not None:
            os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
    opened[parts] = fd
    return fd


def _replace_at(dfd: int, name: str, data: bytes, mode: int) -> None:
    """Write ``data`` to a new temp file in ``dfd``, fsync it and rename it over ``name``.

    The rename replaces a symlink at ``name`` by the file; the link's target is untouched.
    """
    while True:
        tmp = f".{name}.{''.join(secrets.choice(_TEMP_ALPHABET) for _ in range(8))}.tmp"
        try:
            fd = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dfd,
            )
            break
        except FileExistsError:
            continue
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        raise


def _remove_temps_at(dfd: int, names: set[str]) -> None:
    for entry in os.listdir(dfd):
        match = _TEMP_NAME.match(entry)
        if match and match["name"] in names:
            with contextlib.suppress(OSError):
                os.unlink(entry, dir_fd=dfd)


def _rmdir_owned(base: Path, parts: tuple[str, ...]) -> None:
    if not parts:
        os.rmdir(base)
        return
    opened: dict[tuple[str, ...], int] = {}
    try:
        parent = _open_owned_dir(base, parts[:-1], opened, None)
        os.rmdir(parts[-1], dir_fd=parent)
    finally:
        for dfd in opened.values():
            os.close(dfd)
