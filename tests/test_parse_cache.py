"""The content-hashed parse cache: hits, misses, damaged entries, switching off, permissions."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import time
from pathlib import Path

import pytest

from meshprov.diagnostics import DiagnosticError
from meshprov.engine import configuration as config
from meshprov.lang import parse_cache
from meshprov.lang.parse import parse_file

TEXT = """\
ca "root" {
  common_name = "Mesh CA"
}

zone "eu" {
  ca        = ca.root
  hostnames = ["cp.eu.example.com", "${ca.root.id}.internal"]
}
"""


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("MESHPROV_CACHE_DIR", str(directory))
    monkeypatch.delenv("MESHPROV_PARSE_CACHE", raising=False)
    return directory


@pytest.fixture
def parses(monkeypatch):
    """The (text, filename) of every real parse the cache makes."""
    calls: list[tuple[str, str]] = []

    def counting(text: str, filename: str):
        calls.append((text, filename))
        return parse_file(text, filename)

    monkeypatch.setattr(parse_cache, "parse_file", counting)
    return calls


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.ast")) if directory.exists() else []


def test_second_parse_of_the_same_file_is_a_hit(cache_dir, parses, tmp_path):
    path = tmp_path / "main.hcl"
    first = parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    second = parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    assert len(parses) == 1
    assert first == second == parse_file(TEXT, "main.hcl")
    assert second.body.blocks[1].body.attributes["ca"].expr.range.start.line == 6
    assert len(entries(cache_dir)) == 1


def test_changed_text_or_name_is_a_miss_and_replaces_the_old_entry(cache_dir, parses, tmp_path):
    path = tmp_path / "main.hcl"
    parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    changed = TEXT.replace("Mesh CA", "Other CA")
    tree = parse_cache.parse_file_cached(path, changed, "main.hcl")
    assert tree.body.blocks[0].body.attributes["common_name"].expr.value == "Other CA"
    assert len(entries(cache_dir)) == 1  # only the newest entry of a file is kept
    renamed = parse_cache.parse_file_cached(path, changed, "sub/main.hcl")
    assert renamed.filename == "sub/main.hcl"
    assert renamed.body.range.filename == "sub/main.hcl"
    assert len(parses) == 3
    other = parse_cache.parse_file_cached(tmp_path / "other.hcl", TEXT, "other.hcl")
    assert other.filename == "other.hcl"
    assert len(entries(cache_dir)) == 3


def test_entries_not_written_for_30_days_are_removed(cache_dir, tmp_path):
    parse_cache.parse_file_cached(tmp_path / "old.hcl", TEXT, "old.hcl")
    (old,) = entries(cache_dir)
    parse_cache.parse_file_cached(tmp_path / "recent.hcl", TEXT, "recent.hcl")
    (recent,) = set(entries(cache_dir)) - {old}
    month_ago = time.time() - 31 * 24 * 3600
    os.utime(old, (month_ago, month_ago))
    parse_cache.parse_file_cached(tmp_path / "new.hcl", TEXT, "new.hcl")
    assert not old.exists()
    assert recent.exists()
    assert len(entries(cache_dir)) == 2


def test_least_recently_used_entries_go_beyond_the_size_limit(cache_dir, tmp_path, monkeypatch):
    written = []
    hour_ago = time.time() - 3600
    for age, name in enumerate(("a.hcl", "b.hcl", "c.hcl")):
        parse_cache.parse_file_cached(tmp_path / name, TEXT, name)
        (entry,) = set(entries(cache_dir)) - set(written)
        os.utime(entry, (hour_ago + age, hour_ago + age))
        written.append(entry)
    a, b, c = written
    parse_cache.parse_file_cached(tmp_path / "a.hcl", TEXT, "a.hcl")  # a hit: a is used again
    assert a.stat().st_mtime > c.stat().st_mtime
    monkeypatch.setattr(parse_cache, "_MAX_BYTES", 3 * a.stat().st_size)
    parse_cache.parse_file_cached(tmp_path / "d.hcl", TEXT, "d.hcl")
    assert a.exists() and c.exists()
    assert not b.exists()
    assert len(entries(cache_dir)) == 3


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: b"not a cache entry",
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
    ],
)
def test_damaged_entry_is_ignored_and_rewritten(cache_dir, parses, tmp_path, damage):
    path = tmp_path / "main.hcl"
    parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    (entry,) = entries(cache_dir)
    good = entry.read_bytes()
    entry.write_bytes(damage(good))
    assert parse_cache.parse_file_cached(path, TEXT, "main.hcl") == parse_file(TEXT, "main.hcl")
    assert len(parses) == 2
    assert entry.read_bytes() == good
    parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    assert len(parses) == 2


def test_entry_with_a_foreign_class_is_never_unpickled(cache_dir, parses, tmp_path):
    """Even with a valid checksum, an entry may only hold syntax-tree classes."""
    path = tmp_path / "main.hcl"
    parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    (entry,) = entries(cache_dir)
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Planted(str(marker)))
    magic = parse_cache._MAGIC
    entry.write_bytes(magic + hashlib.sha256(payload).digest() + payload)
    assert parse_cache.parse_file_cached(path, TEXT, "main.hcl") == parse_file(TEXT, "main.hcl")
    assert not marker.exists()
    assert len(parses) == 2


class _Planted:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_unreadable_entry_is_a_miss(cache_dir, parses, tmp_path):
    path = tmp_path / "main.hcl"
    parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    (entry,) = entries(cache_dir)
    entry.unlink()
    entry.mkdir()  # reading it fails, and so does replacing it
    assert parse_cache.parse_file_cached(path, TEXT, "main.hcl") == parse_file(TEXT, "main.hcl")
    assert len(parses) == 2


def test_syntax_errors_are_not_cached(cache_dir, parses, tmp_path):
    path = tmp_path / "main.hcl"
    for _ in range(2):
        with pytest.raises(DiagnosticError):
            parse_cache.parse_file_cached(path, 'zone "eu" {\n', "main.hcl")
    assert len(parses) == 2
    assert entries(cache_dir) == []


@pytest.mark.parametrize("value", ["0", "false", "off", "no"])
def test_disabled(cache_dir, parses, tmp_path, monkeypatch, value):
    monkeypatch.setenv("MESHPROV_PARSE_CACHE", value)
    path = tmp_path / "main.hcl"
    for _ in range(2):
        parse_cache.parse_file_cached(path, TEXT, "main.hcl")
    assert len(parses) == 2
    assert not cache_dir.exists()


def test_directory_and_entries_are_private(cache_dir, tmp_path):
    parse_cache.parse_file_cached(tmp_path / "main.hcl", TEXT, "main.hcl")
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    (entry,) = entries(cache_dir)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert [p.name for p in cache_dir.iterdir()] == [entry.name]  # no temporary file left


def test_directory_others_can_write_to_is_not_used(cache_dir, parses, tmp_path):
    cache_dir.mkdir()
    os.chmod(cache_dir, 0o777)
    for _ in range(2):
        parse_cache.parse_file_cached(tmp_path / "main.hcl", TEXT, "main.hcl")
    assert len(parses) == 2
    assert entries(cache_dir) == []
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o777  # not changed behind the user's back


def test_location(tmp_path, monkeypatch):
    monkeypatch.delenv("MESHPROV_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert parse_cache.cache_directory() == tmp_path / "xdg" / "meshprov"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parse_cache.cache_directory() == tmp_path / "home" / ".cache" / "meshprov"
    monkeypatch.setenv("MESHPROV_CACHE_DIR", str(tmp_path / "mine"))
    assert parse_cache.cache_directory() == tmp_path / "mine"


def test_loading_caches_configuration_files_only(cache_dir, tmp_path, monkeypatch):
    root = tmp_path / "conf"
    root.mkdir()
    (root / "main.hcl").write_text('variable "token" {\n  type = string\n}\n' + TEXT)
    (root / "zones.hcl").write_text('zone "us" {\n  ca = ca.root\n}\n')
    (root / "secret.auto.vars.hcl").write_text('token = "s3cr3t"\n')
    monkeypatch.chdir(root)
    for _ in range(2):
        loaded = config.load(root)
        assert loaded.inputs.values["token"].value == "s3cr3t"
        assert set(loaded.root.resources) == {"ca.root", "zone.eu", "zone.us"}
    assert len(entries(cache_dir)) == 2
    assert all(b"s3cr3t" not in entry.read_bytes() for entry in entries(cache_dir))
