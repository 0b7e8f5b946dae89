"""Terraform's hash, file-hash, file-listing and decryption functions.

Registered into ``functions.FUNCTIONS`` when ``lang.functions`` imports this module. File
paths resolve against the module directory, as ``file`` does.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

from meshprov.lang.functions import (
    CallContext,
    _arg_error,
    _CallFailed,
    _quote,
    _register,
    _str,
    file_path,
    from_file,
    read_file,
)
from meshprov.lang.values import HclSet

_HASHES: dict[str, Callable[[bytes], Any]] = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


def _register_string_hash(name: str, algorithm: str, encode: Callable[[Any], str]) -> None:
    def impl(string: Any) -> str:
        return encode(_HASHES[algorithm](_str(string, "str").encode("utf-8")))

    _register(name, 1, 1)(impl)


def _register_file_hash(name: str, algorithm: str, encode: Callable[[Any], str]) -> None:
    def impl(ctx: CallContext, path: Any) -> str:
        return encode(_HASHES[algorithm](read_file(ctx, path)[0]))

    _register(name, 1, 1, needs_context=True)(impl)


def _hex(digest: Any) -> str:
    return digest.hexdigest()


def _b64(digest: Any) -> str:
    return base64.b64encode(digest.digest()).decode("ascii")


for _name in ("md5", "sha1", "sha512"):  # sha256 is in lang.functions
    _register_string_hash(_name, _name, _hex)
for _name in ("sha256", "sha512"):
    _register_string_hash(f"base64{_name}", _name, _b64)
    _register_file_hash(f"filebase64{_name}", _name, _b64)
for _name in ("md5", "sha1", "sha256", "sha512"):
    _register_file_hash(f"file{_name}", _name, _hex)


@_register("filebase64", 1, 1, needs_context=True)
def _filebase64(ctx: CallContext, path: Any) -> Any:
    data = read_file(ctx, path)[0]
    return from_file(base64.b64encode(data).decode("ascii"), data)


@_register("fileset", 2, 2, needs_context=True)
def _fileset(ctx: CallContext, path: Any, pattern: Any) -> HclSet:
    root = file_path(ctx, _str(path, "path"), expand_home=False)
    glob = _str(pattern, "pattern")
    try:
        matcher = re.compile(_glob_regex(glob))
    except ValueError as e:
        raise _CallFailed(f"failed to glob pattern {_quote(glob)}: {e}") from None
    found = []
    try:  # a name too long, a directory that cannot be read: the operating system's error
        if not root.is_dir():
            return HclSet()
        for candidate in sorted(root.rglob("*")):
            relative = candidate.relative_to(root).as_posix()
            if matcher.fullmatch(relative) and candidate.is_file():
                found.append(relative)
    except OSError as e:
        raise _CallFailed(f"failed to glob pattern {_quote(glob)}: {e.strerror or e}") from None
    return HclSet(found)


def _glob_regex(pattern: str) -> str:
    """doublestar's glob: ``*`` and ``?`` within one path segment, ``**`` across segments,
    ``[...]`` classes and ``{a,b}`` alternatives."""
    out: list[str] = []
    i = 0
    depth = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError("syntax error in pattern")
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]")
            i = end + 1
        elif ch == "{":
            out.append("(?:")
            depth += 1
            i += 1
        elif ch == "}" and depth:
            out.append(")")
            depth -= 1
            i += 1
        elif ch == "," and depth:
            out.append("|")
            i += 1
        elif ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    if depth:
        raise ValueError("syntax error in pattern")
    return "".join(out)


@_register("rsadecrypt", 2, 2)
def _rsadecrypt(ciphertext: Any, privatekey: Any) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    text = _str(ciphertext, "ciphertext")
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        raise _arg_error(
            "ciphertext",
            f"failed to decode input {_quote(text)}: cipher text must be base64-encoded",
        ) from None
    pem = _str(privatekey, "privatekey").encode("utf-8")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        reason = "failed to parse key: no key found" if b"-----BEGIN" not in pem else str(e)
        raise _arg_error("privatekey", reason) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _arg_error("privatekey", f"invalid private key type {type(key).__name__}")
    try:
        plain = key.decrypt(data, padding.PKCS1v15())
    except ValueError as e:
        raise _CallFailed(f"failed to decrypt: {e or 'crypto/rsa: decryption error'}") from None
    return plain.decode("utf-8", "replace")
