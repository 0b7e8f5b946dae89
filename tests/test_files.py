"""File writes and removals: atomic, with their modes, one directory fsync per directory, and
never through a symlink or outside the directory meshprov owns (issue 14, items 3 and 9)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from meshprov import files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _synced_dirs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The directories fsync'ed, in order (read back from the descriptor's /proc link)."""
    synced: list[Path] = []
    real = os.fsync

    def spy(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return synced


ZONE_FILES = [
    ("kuma-cp.env", b"KUMA_MODE=zone\n", 0o600),
    ("kumactl.sh", b"#!/bin/sh\n", 0o755),
    ("tls/tls.key", b"key", 0o600),
    ("tls/ca.crt", b"ca", 0o644),
]


def test_write_owned_files_writes_each_file_with_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out" / "zone.a"
    files.write_owned_files(out, ZONE_FILES)
    assert (out / "kuma-cp.env").read_bytes() == b"KUMA_MODE=zone\n"
    assert (out / "tls" / "tls.key").read_bytes() == b"key"
    assert _mode(out / "kuma-cp.env") == 0o600
    assert _mode(out / "kumactl.sh") == 0o755
    assert _mode(out / "tls" / "tls.key") == 0o600
    assert _mode(out / "tls" / "ca.crt") == 0o644
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_directories_get_explicit_modes_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        files.write_owned_files(tmp_path / "out" / "zone.a", ZONE_FILES)
        files.write_atomic(tmp_path / "state" / "deep" / "terraform.tfstate", b"{}", 0o600)
    finally:
        os.umask(old)
    for directory in ("out", "out/zone.a", "out/zone.a/tls"):
        assert _mode(tmp_path / directory) == 0o755, directory
    for directory in ("state", "state/deep"):
        assert _mode(tmp_path / directory) == 0o700, directory


def test_each_directory_is_synced_once_after_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "zone.a"
    names = ["kuma-cp.env", "kuma-dp.env", "tls/ca.crt", "tls/tls.crt", "tls/tls.key"]
    synced = _synced_dirs(monkeypatch)
    files.write_owned_files(out, [(name, name.encode(), 0o644) for name in names])
    assert synced == [out, out / "tls"]


def test_write_atomic_replaces_a_file_and_syncs_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    synced = _synced_dirs(monkeypatch)
    files.write_atomic(target, b"new", 0o600)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert synced == [tmp_path]


def test_a_failed_write_keeps_and_syncs_the_files_already_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "zone.a"
    out.mkdir()
    (out / "blocker").write_text("a file where a directory should be")
    synced = _synced_dirs(monkeypatch)
    with pytest.raises(files.UnsafePath):
        files.write_owned_files(
            out,
            [
                ("kuma-cp.env", b"first", 0o600),
                ("blocker/tls.crt", b"never written", 0o644),
                ("kuma-dp.env", b"never written", 0o644),
            ],
        )
    assert (out / "kuma-cp.env").read_bytes() == b"first"
    assert not (out / "kuma-dp.env").exists()
    assert synced == [out]
    assert sorted(p.name for p in out.iterdir()) == ["blocker", "kuma-cp.env"]


def test_a_symlink_at_the_file_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    (out / "tls").mkdir(parents=True)
    (out / "tls" / "tls.key").symlink_to(victim)
    files.write_owned_files(out, [("tls/tls.key", b"key", 0o600)])
    assert victim.read_text() == "precious"
    assert not (out / "tls" / "tls.key").is_symlink()
    assert (out / "tls" / "tls.key").read_bytes() == b"key"


def test_a_symlinked_directory_below_the_base_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "tls").symlink_to(elsewhere)
    with pytest.raises(files.UnsafePath, match="symlink"):
        files.write_owned_files(out, [("tls/tls.key", b"key", 0o600)])
    assert list(elsewhere.iterdir()) == []
    (elsewhere / "tls.key").write_text("theirs")
    with pytest.raises(files.UnsafePath):
        files.remove_owned_files(out, ["tls/tls.key"])
    assert (elsewhere / "tls.key").read_text() == "theirs"


def test_remove_deletes_the_link_itself_never_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    files.write_owned_files(out, ZONE_FILES)
    (out / "tls" / "tls.key").unlink()
    (out / "tls" / "tls.key").symlink_to(victim)
    files.remove_owned_files(out, [name for name, _, _ in ZONE_FILES])
    assert victim.read_text() == "precious"
    assert not out.exists()  # emptied, so removed


@pytest.mark.parametrize("bad", ["/etc/passwd", "../victim", "tls/../../victim", "", "a\0b"])
def test_paths_leaving_the_base_are_refused_before_anything_is_removed(
    tmp_path: Path, bad: str
) -> None:
    out = tmp_path / "out"
    files.write_owned_files(out, ZONE_FILES)
    (tmp_path / "victim").write_text("precious")
    with pytest.raises(files.UnsafePath):
        files.remove_owned_files(out, ["kuma-cp.env", bad])
    assert (out / "kuma-cp.env").exists()
    assert (tmp_path / "victim").read_text() == "precious"


def test_orphaned_temp_files_of_owned_files_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files.write_owned_files(out, ZONE_FILES)
    orphan = out / "tls" / ".tls.key.ab12cd_9.tmp"
    orphan.write_text("-----BEGIN PRIVATE KEY-----")
    unrelated = [out / "tls" / ".other.ab12cd_9.tmp", out / "tls" / "notes.tmp"]
    for path in unrelated:
        path.write_text("not ours")
    files.remove_orphaned_temps(out, [name for name, _, _ in ZONE_FILES])
    assert not orphan.exists()
    assert all(path.exists() for path in unrelated)
