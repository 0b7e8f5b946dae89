"""The engine under faults, through the real CLI: the state lock held by another process,
SIGINT or SIGTERM during an apply, and SIGKILL at random moments of applies of 200 resources.

Processes that receive signals are real ones: the CLI in a subprocess, or (for the many SIGKILL
trials, to keep them fast) a forked child running the CLI's ``main``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from tests.support.engine import REPO, Workspace, validate_state_file

from meshprov.state import loads_state

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from meshprov.state import LocalBackend

    backend = LocalBackend(Path(sys.argv[1]))
    info = backend.lock("OperationTypeApply", info="held by a test")
    print(info.ID, flush=True)
    sys.stdin.readline()
    backend.unlock()
    """
)

SIMPLE = """
test_thing "a" {
  value = "one"
}

test_thing "b" {
  value  = "two"
  parent = test_thing.a
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """An empty configuration directory in tmp_path."""
    return Workspace(tmp_path / "config")


class Holder:
    """Another process holding the state lock until released (or killed)."""

    def __init__(self, ws: Workspace):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(ws.state_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        self.lock_id = self.proc.stdout.readline().strip()
        assert self.lock_id, "the holder did not take the lock"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@pytest.fixture
def holder_of(ws: Workspace):
    holders: list[Holder] = []

    def start() -> Holder:
        holders.append(Holder(ws))
        return holders[-1]

    yield start
    for holder in holders:
        holder.close()


def wait_for(predicate, timeout: float = 60, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class LineReader:
    """Collects a process's stdout lines in a thread, so tests can wait for one."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def join(self) -> str:
        self._thread.join(timeout=60)
        return "\n".join(self.lines)


# --- the state lock --------------------------------------------------------------------------


def test_lock_held_by_a_running_apply_is_refused_at_once(ws: Workspace) -> None:
    ws.write(SIMPLE.replace('value = "one"', 'value = "one"\n  delay = 4'))
    proc = ws.popen("apply", "--auto-approve")
    try:
        reader = LineReader(proc.stdout)
        wait_for(lambda: reader.count("test_thing.a: Creating...") == 1, what="the apply")
        holder = json.loads(ws.lock_path.read_text())
        assert holder["Operation"] == "OperationTypeApply"
        started = time.monotonic()
        result = ws.run("plan", code=1)
        assert time.monotonic() - started < 2.5, "refused only after waiting"
        assert "Error: Error acquiring the state lock" in result.stderr
        assert f"ID:        {holder['ID']}" in result.stderr
        assert "Operation: OperationTypeApply" in result.stderr
        assert f"Who:       {holder['Who']}" in result.stderr
        assert f"meshprov force-unlock {holder['ID']}" in result.stderr
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Apply complete! Resources: 2 added" in reader.join()
    assert not ws.lock_path.exists()
    assert ws.run("plan", "--detailed-exitcode").code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("apply", "--auto-approve"),
        ("destroy", "--auto-approve"),
        ("plan", "--refresh-only"),
        ("state", "rm", "test_thing.a"),
        ("state", "push", "--force", "pushed.json"),
    ],
)
def test_every_writer_is_refused_while_another_process_holds_the_lock(
    ws: Workspace, holder_of, args: tuple[str, ...]
) -> None:
    ws.write(SIMPLE)
    ws.run("apply", "--auto-approve")
    (ws.dir / "pushed.json").write_bytes(ws.state_path.read_bytes())
    args = tuple(str(ws.dir / a) if a == "pushed.json" else a for a in args)
    before = ws.state_bytes()
    holder = holder_of()
    started = time.monotonic()
    result = ws.run(*args, code=1)
    assert time.monotonic() - started < 2.5
    assert "Error: Error acquiring the state lock" in result.stderr
    assert f"ID:        {holder.lock_id}" in result.stderr
    assert "Operation: OperationTypeApply" in result.stderr
    assert "Info:      held by a test" in result.stderr
    assert ws.state_bytes() == before
    holder.release()
    assert not ws.lock_path.exists()


def test_lock_timeout_waits_until_the_lock_is_released(ws: Workspace, holder_of) -> None:
    ws.write(SIMPLE)
    holder = holder_of()
    started = time.monotonic()
    too_short = ws.run("plan", "--lock-timeout", "1s", code=1)
    assert time.monotonic() - started >= 1.0
    assert "Error: Error acquiring the state lock" in too_short.stderr
    assert holder.lock_id in too_short.stderr

    waiting = ws.popen("apply", "--auto-approve", "--lock-timeout", "60s")
    try:
        time.sleep(2.5)
        assert waiting.poll() is None, "did not wait for the lock"
        assert not ws.state_path.exists(), "applied while another process held the lock"
        released = time.monotonic()
        holder.release()
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert time.monotonic() - released < 30
    assert "Apply complete! Resources: 2 added" in out
    assert "Traceback" not in err
    assert len(ws.resources()) == 2


def test_force_unlock(ws: Workspace, holder_of) -> None:
    ws.write(SIMPLE)
    ws.run("apply", "--auto-approve")
    holder = holder_of()
    live = ws.run("force-unlock", "--force", holder.lock_id, code=1)
    assert "Error: Failed to unlock state" in live.stderr
    assert "Local state cannot be unlocked by another process" in live.stderr

    holder.kill()  # dies holding the lock: its lock info stays behind
    assert json.loads(ws.lock_path.read_text())["ID"] == holder.lock_id
    wrong = ws.run("force-unlock", "--force", "not-the-id", code=1)
    assert f'does not match the existing lock ID "{holder.lock_id}"' in wrong.stderr
    no = ws.sub("force-unlock", holder.lock_id, input="no\n", code=1)
    assert "Do you really want to force-unlock?" in no.stdout
    assert "force-unlock cancelled." in no.stdout
    assert ws.lock_path.exists()
    yes = ws.sub("force-unlock", holder.lock_id, input="yes\n")
    assert "meshprov state has been successfully unlocked!" in yes.stdout
    assert not ws.lock_path.exists()
    again = ws.run("force-unlock", "--force", holder.lock_id, code=1)
    assert "No lock to unlock" in again.stderr
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(ws: Workspace, holder_of) -> None:
    ws.write(SIMPLE)
    holder_of().kill()
    assert ws.lock_path.exists()
    ws.run("apply", "--auto-approve")
    assert not ws.lock_path.exists()


# --- SIGINT and SIGTERM ----------------------------------------------------------------------

INTERRUPTIBLE = """
test_thing "slow" {
  count = 4
  value = "VALUE-${count.index}"
  delay = DELAY
}

test_thing "after" {
  count  = 4
  value  = "after ${test_thing.slow[count.index].value}"
  parent = test_thing.slow[count.index]
}

output "slow_values" {
  value = test_thing.slow[*].value
}

output "after_values" {
  value = test_thing.after[*].value
}
"""


def interruptible(value: str, delay: float) -> str:
    return INTERRUPTIBLE.replace("VALUE", value).replace("DELAY", str(delay))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_first_interrupt_lets_running_work_finish_and_saves_state(
    ws: Workspace, sig: signal.Signals
) -> None:
    ws.write(interruptible("v1", 0))
    ws.run("apply", "--auto-approve")
    outputs_before = ws.state()["outputs"]

    ws.write(interruptible("v2", 1.5))
    proc = ws.popen("apply", "--auto-approve", "--parallelism", "2")
    try:
        reader = LineReader(proc.stdout)
        wait_for(lambda: reader.count(": Modifying...") == 2, what="two running updates")
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout = reader.join()
    assert code == 1
    assert "Traceback" not in stdout + stderr
    assert "Interrupt received." in stderr
    assert "Apply interrupted" in stderr
    started = [line.split(":")[0] for line in stdout.splitlines() if "Modifying..." in line]
    finished = [line.split(":")[0] for line in stdout.splitlines() if "complete after" in line]
    assert len(started) == 2, stdout  # nothing queued started after the interrupt
    assert sorted(finished) == sorted(started)  # the running ones were let finish
    assert "Apply complete!" not in stdout

    # the state is saved, holds what finished, and keeps outputs as they were
    state = ws.state()
    assert not ws.journal_path.exists()
    assert not ws.lock_path.exists()
    values = {r["address"]: r["attributes"]["value"] for r in state["resources"]}
    for address in started:
        assert values[address] == f"v2-{address[-2]}"
    untouched = [a for a in values if a.startswith("test_thing.slow") and a not in started]
    assert len(untouched) == 2
    assert all(values[a].startswith("v1-") for a in untouched)
    assert state["outputs"] == outputs_before

    result = ws.run("apply", "--auto-approve")
    assert "Resources: 0 added, 6 changed, 0 destroyed." in result.stdout
    assert ws.run("plan", "--detailed-exitcode").code == 0
    assert ws.state()["outputs"]["after_values"]["value"] == [f"after v2-{i}" for i in range(4)]


def test_sigint_while_creating_keeps_finished_creates(ws: Workspace) -> None:
    ws.write(interruptible("v", 1.5))
    proc = ws.popen("apply", "--auto-approve", "--parallelism", "1")
    try:
        reader = LineReader(proc.stdout)
        wait_for(lambda: reader.count("Creating...") == 1, what="the first create")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout = reader.join()
    assert code == 1
    assert stdout.count("Creating...") == 1
    assert sorted(ws.resources()) == ["test_thing.slow[0]"]
    assert ws.world_addresses() == {"test_thing.slow_0"}
    ws.run("apply", "--auto-approve")
    assert len(ws.resources()) == 8
    assert ws.run("plan", "--detailed-exitcode").code == 0


# --- SIGKILL ---------------------------------------------------------------------------------

LEVELS, WIDTH = 10, 20  # 200 test resources


def chains_and_fan_outs() -> str:
    """Ten levels of 20: each level's instances depend on the level above, two on one."""
    blocks = ['variable "v" {\n  type = string\n}\n', 'variable "k" {\n  type = string\n}\n']
    for level in range(LEVELS):
        parent = f"  parent = test_thing.l{level - 1}[floor(count.index / 2)]\n" if level else ""
        blocks.append(
            f'test_thing "l{level}" {{\n'
            f"  count = {WIDTH}\n"
            f'  value = "${{var.v}}-{level}-${{count.index}}"\n'
            f'  key   = "${{var.k}}"\n'
            f"  delay = 0.003\n"
            f"{parent}}}\n"
        )
    blocks.append('output "last" {\n  value = test_thing.l9[*].id\n}\n')
    return "\n".join(blocks)


def _cli_child(directory: str, args: list[str], log: str) -> None:
    """The CLI in a forked child, stdout and stderr to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stdin = open(os.devnull)  # noqa: SIM115
    from meshprov.cli import cli

    cli.main(["-C", directory, *args], prog_name="meshprov")


def journal_entries(ws: Workspace) -> int:
    try:
        return max(0, ws.journal_path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def test_sigkill_at_random_moments_of_big_applies_always_converges(ws: Workspace) -> None:
    ws.write(chains_and_fan_outs())
    ctx = multiprocessing.get_context("fork")
    rnd = random.Random(20240613)
    log = ws.dir.parent / "child.log"
    trials, mid_apply, budget = 0, 0, time.monotonic() + 40
    while trials < 20 or (time.monotonic() < budget and trials < 24):
        trials += 1
        variables = ["--var", f"v=t{trials}", "--var", f"k={trials // 3}"]
        destroy = trials % 6 == 5
        args = ["destroy" if destroy else "apply", "--auto-approve", *variables]
        if not ws.state_path.exists() or not ws.resources():
            destroy, args[0] = False, "apply"
        # kill after a random number of finished resources (0: while planning)
        target = rnd.choice([0, *range(1, 200)])
        child = ctx.Process(target=_cli_child, args=(str(ws.dir), args, str(log)))
        child.start()
        if target == 0:
            time.sleep(rnd.uniform(0, 0.3))
        else:
            deadline = time.monotonic() + 60
            while child.is_alive() and journal_entries(ws) < target and time.monotonic() < deadline:
                time.sleep(0.002)
        was_applying = child.is_alive() and ws.journal_path.exists()
        child.kill()
        child.join(timeout=30)
        text = log.read_text()
        assert "Traceback" not in text, text
        if child.exitcode == -signal.SIGKILL:
            mid_apply += was_applying
        else:
            assert child.exitcode == 0, text

        # the state file always loads and validates, whatever moment the kill came
        if ws.state_path.exists():
            loads_state(ws.state_path.read_bytes(), str(ws.state_path))
            validate_state_file(ws.state_path)

        # and plan + apply converge
        if destroy:
            ws.run("destroy", "--auto-approve", *variables)
            done = ws.run("plan", "--destroy", "--detailed-exitcode", *variables)
            assert "No changes. No objects need to be destroyed." in done.stdout
            assert ws.resources() == {} and ws.world_addresses() == set()
            continue
        ws.run("apply", "--auto-approve", *variables)
        done = ws.run("plan", "--detailed-exitcode", *variables)
        assert "No changes. Your infrastructure matches the configuration." in done.stdout
        resources = ws.resources()
        assert len(resources) == LEVELS * WIDTH
        assert ws.world_addresses() == {p.stem for p in map(ws.world_path, resources)}
        for address, resource in resources.items():
            assert ws.world(address) == resource["attributes"]
            assert resource["attributes"]["value"].startswith(f"t{trials}-")
        assert not ws.journal_path.exists()
    assert trials >= 20
    assert mid_apply >= 10, f"only {mid_apply} of {trials} kills landed mid-apply"
