"""A content-hashed cache of parsed configuration files.

Parsing is most of the cost of ``meshprov validate`` on a large configuration (1,000 zone
blocks: about 1.3 s CPU in python-hcl2's LALR parser and our syntax-tree build), and most runs
parse files that have not changed since the previous run. Unpickling the ``ast.File`` of an
unchanged file costs about an eighth of parsing it (0.16 s, from a 3 MB entry); writing an
entry after a parse costs about as much.

An entry's key is the SHA-256 of the file's text and display name, the versions of meshprov,
python-hcl2 and lark, the interpreter, and the source of the modules that shape the syntax tree
(so a development checkout never reads a tree built by older code). Entries live in
``$MESHPROV_CACHE_DIR``, else ``$XDG_CACHE_HOME/meshprov``, else ``~/.cache/meshprov``: created
with mode 0700; an existing directory is used only if it is the user's own and nobody else can
write to it. Entries are written atomically (a 0600 temporary file, then a rename) behind a
checksum; one that cannot be read, fails its checksum or does not unpickle is ignored, and the
parse rewrites it. Writing an entry removes the previous entries of the same file (under the
same display name), entries unused for 30 days, and the least recently used ones while all
together exceed 256 MiB. A file with a syntax error is not cached.
``MESHPROV_PARSE_CACHE=0`` turns the cache off.

Only configuration files go through here: variable files (``*.vars.hcl``), which may hold
secrets, are parsed directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import os
import pickle
import stat
import sys
import tempfile
import time
from pathlib import Path

import hcl2
import lark

import meshprov
from meshprov import diagnostics
from meshprov.lang import ast, parse, values
from meshprov.lang.parse import gc_paused, parse_file

_MAGIC = b"meshprov parsed file 1\n"
_MAX_AGE = 30 * 24 * 3600  # seconds
_MAX_BYTES = 256 * 1024 * 1024  # in all; configurations in temporary directories add up
_SUFFIX = ".ast"
_OFF = ("0", "false", "no", "off")


def parse_file_cached(path: Path, text: str, filename: str) -> ast.File:
    """``parse_file(text, filename)``, through the cache; ``path`` is where the file lives."""
    directory = cache_directory() if enabled() else None
    if directory is None:
        return parse_file(text, filename)
    where = os.fsencode(os.path.abspath(path)) + b"\0" + os.fsencode(filename)
    slot = hashlib.sha256(where).hexdigest()[:16]  # this file, as this name: one entry
    entry = directory / f"{slot}-{entry_key(text, filename)}{_SUFFIX}"
    cached = _read(entry)
    if cached is not None:
        with contextlib.suppress(OSError):
            os.utime(entry)  # recently used: pruned last
        return cached
    tree = parse_file(text, filename)
    _write(entry, tree)
    return tree


def enabled() -> bool:
    return os.environ.get("MESHPROV_PARSE_CACHE", "1").strip().lower() not in _OFF


def cache_directory() -> Path | None:
    """The cache directory, made if missing; None if it cannot be used safely."""
    try:
        configured = os.environ.get("MESHPROV_CACHE_DIR")
        xdg = os.environ.get("XDG_CACHE_HOME")
        if configured:
            directory = Path(configured)
        elif xdg and os.path.isabs(xdg):
            directory = Path(xdg) / "meshprov"
        else:
            directory = Path.home() / ".cache" / "meshprov"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        return None
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o022:
        return None  # another user could plant an entry, and unpickling one runs its code
    return directory


def entry_key(text: str, filename: str) -> str:
    digest = hashlib.sha256(_code_fingerprint())
    digest.update(b"\0" + filename.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> bytes:
    """What, besides the file, decides its syntax tree: versions, and the code building it."""
    digest = hashlib.sha256(_MAGIC)
    versions = (meshprov.__version__, hcl2.__version__, lark.__version__)
    digest.update("\0".join((*versions, sys.implementation.cache_tag or "")).encode())
    for module in (parse, ast, values, diagnostics, sys.modules[__name__]):
        if module.__file__:
            with contextlib.suppress(OSError):
                digest.update(Path(module.__file__).read_bytes())
    return digest.digest()


class _Unpickler(pickle.Unpickler):
    """Loads syntax trees only: their dataclasses, and the builtins pickle encodes directly."""

    _MODULES = frozenset({"meshprov.lang.ast", "meshprov.diagnostics"})

    def find_class(self, module: str, name: str) -> type:
        if module in self._MODULES:
            found = getattr(sys.modules[module], name, None)
            if isinstance(found, type) and dataclasses.is_dataclass(found):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a syntax tree")


def _read(entry: Path) -> ast.File | None:
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    body = len(_MAGIC) + hashlib.sha256().digest_size
    checksum = data[len(_MAGIC) : body]
    if not data.startswith(_MAGIC) or hashlib.sha256(data[body:]).digest() != checksum:
        return None
    try:
        with gc_paused():
            tree = _Unpickler(io.BytesIO(data[body:])).load()
    except Exception:  # a damaged or outdated entry of any kind is a miss, not an error
        return None
    return tree if isinstance(tree, ast.File) else None


def _write(entry: Path, tree: ast.File) -> None:
    try:
        with gc_paused():
            payload = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, RecursionError):  # e.g. a very deeply nested expression
        return
    data = _MAGIC + hashlib.sha256(payload).digest() + payload
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=entry.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, entry)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(entry, len(data))
    except OSError:
        pass  # a cache that cannot be written only costs time


def _prune(kept: Path, kept_size: int) -> None:
    """Remove the other entries of the same file, entries unused for 30 days, and then the
    least recently used ones while all of them together exceed 256 MiB."""
    slot = kept.name.split("-", 1)[0] + "-"
    cutoff = time.time() - _MAX_AGE
    others = []
    with os.scandir(kept.parent) as found:
        for item in found:
            if item.name == kept.name or not item.name.endswith(_SUFFIX):
                continue
            with contextlib.suppress(OSError):
                info = item.stat(follow_symlinks=False)
                if item.name.startswith(slot) or info.st_mtime < cutoff:
                    os.unlink(item.path)
                else:
                    others.append((info.st_mtime, info.st_size, item.path))
    total = kept_size + sum(entry_size for _, entry_size, _ in others)
    for _, entry_size, path in sorted(others):  # least recently used first
        if total <= _MAX_BYTES:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
        total -= entry_size
