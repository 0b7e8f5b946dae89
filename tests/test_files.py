"""Atomic file writes: content, modes, and one directory fsync per directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from meshprov import files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _synced_dirs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    synced: list[Path] = []
    real = files._fsync_dir

    def spy(directory: Path) -> None:
        synced.append(directory)
        real(directory)

    monkeypatch.setattr(files, "_fsync_dir", spy)
    return synced


def test_write_files_atomic_writes_each_file_with_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out" / "zone.a"
    files.write_files_atomic(
        [
            (out / "kuma-cp.env", b"KUMA_MODE=zone\n", 0o600),
            (out / "kumactl.sh", b"#!/bin/sh\n", 0o755),
            (out / "tls" / "tls.key", b"key", 0o600),
            (out / "tls" / "ca.crt", b"ca", 0o644),
        ]
    )
    assert (out / "kuma-cp.env").read_bytes() == b"KUMA_MODE=zone\n"
    assert (out / "tls" / "tls.key").read_bytes() == b"key"
    assert _mode(out / "kuma-cp.env") == 0o600
    assert _mode(out / "kumactl.sh") == 0o755
    assert _mode(out / "tls" / "tls.key") == 0o600
    assert _mode(out / "tls" / "ca.crt") == 0o644
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_each_directory_is_synced_once_after_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _synced_dirs(monkeypatch)
    out = tmp_path / "zone.a"
    names = ["kuma-cp.env", "kuma-dp.env", "tls/ca.crt", "tls/tls.crt", "tls/tls.key"]
    files.write_files_atomic((out / name, name.encode(), 0o644) for name in names)
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
    synced = _synced_dirs(monkeypatch)
    out = tmp_path / "zone.a"
    (tmp_path / "blocker").write_text("a file where a directory should be")
    with pytest.raises(OSError):
        files.write_files_atomic(
            [
                (out / "kuma-cp.env", b"first", 0o600),
                (tmp_path / "blocker" / "tls.crt", b"never written", 0o644),
                (out / "kuma-dp.env", b"never written", 0o644),
            ]
        )
    assert (out / "kuma-cp.env").read_bytes() == b"first"
    assert not (out / "kuma-dp.env").exists()
    assert synced == [out]
    assert [p.name for p in out.iterdir()] == ["kuma-cp.env"]
