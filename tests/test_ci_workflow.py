"""examples/github-actions/meshprov.yml: its shape, and its scripts run for real.

The plan step's shell script runs with bash against a configuration (``--detailed-exitcode``'s
2 must not fail the step); the comment step's github-script runs under node with a stand-in
``github`` client, to show it updates the comment carrying the marker instead of adding one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "examples" / "github-actions" / "meshprov.yml"

MESH = """
ca "cp" {
  common_name = "CA"
}

control_plane "global" {
  ca        = ca.cp
  addresses = ["127.0.0.1"]
}
"""


def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def step(job: str, name: str) -> dict:
    return next(s for s in workflow()["jobs"][job]["steps"] if s.get("name") == name)


def test_triggers_jobs_and_permissions() -> None:
    doc = workflow()
    assert set(doc["on"]) == {"pull_request", "push"}
    assert doc["on"]["push"]["branches"] == ["main"]
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    assert "pull_request" in plan["if"] and "push" in apply["if"]
    assert plan["permissions"]["pull-requests"] == "write"
    assert apply["concurrency"] == {"group": "meshprov-apply", "cancel-in-progress": False}
    for job in (plan, apply):
        uses = [s.get("uses", "") for s in job["steps"]]
        assert any(u.startswith("actions/setup-python@") for u in uses)
        install = next(s for s in job["steps"] if s.get("name") == "Install meshprov")
        assert install["run"].strip() == "python -m pip install ."
    assert any(
        s.get("uses", "").startswith("actions/upload-artifact@") and s["with"]["path"] == "plan.bin"
        for s in plan["steps"]
    )
    assert "--out plan.bin" in step("apply", "meshprov plan")["run"]
    assert "apply --no-color --lock-timeout 5m plan.bin" in step("apply", "meshprov apply")["run"]


def run_plan_step(tmp_path: Path, config: Path) -> tuple[subprocess.CompletedProcess, dict]:
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    output.write_text("")
    env = {
        **os.environ,
        "MESHPROV_DIR": str(config),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    script = step("plan", "meshprov plan")["run"]
    proc = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
    return proc, outputs


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_plan_step_treats_changes_as_success_and_errors_as_failure(tmp_path: Path) -> None:
    if shutil.which("meshprov", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the meshprov script is not installed next to this Python")
    config = tmp_path / "config"
    config.mkdir()
    (config / "main.hcl").write_text(MESH)
    proc, outputs = run_plan_step(tmp_path, config)
    assert proc.returncode == 0, proc.stderr
    assert outputs["exitcode"] == "2"
    assert (tmp_path / "plan.bin").exists()
    comment = (tmp_path / "plan.md").read_text()
    assert comment.startswith("<!-- meshprov-plan: ")
    assert (tmp_path / "summary.md").read_text() == comment
    (config / "main.hcl").write_text(MESH + "\nnonsense {\n")
    proc, outputs = run_plan_step(tmp_path, config)
    assert proc.returncode == 1
    assert outputs["exitcode"] == "1"


HARNESS = """
const fs = require('fs');
const script = fs.readFileSync(process.argv[2], 'utf8');
const comments = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const calls = [];
const github = {
  paginate: async (method, args) => { calls.push(['list', args]); return comments; },
  rest: { issues: {
    listComments: 'listComments',
    updateComment: async (args) => { calls.push(['update', args]); },
    createComment: async (args) => { calls.push(['create', args]); },
  } },
};
const context = { repo: { owner: 'acme', repo: 'mesh' }, issue: { number: 7 } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', script)(require, github, context)
  .then(() => console.log(JSON.stringify(calls)))
  .catch((err) => { console.error(err); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_comment_script_updates_the_comment_with_the_marker(tmp_path: Path) -> None:
    script = tmp_path / "script.js"
    script.write_text(step("plan", "Post or update the plan comment")["with"]["script"])
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    body = "<!-- meshprov-plan: infra/mesh -->\n\n### meshprov plan\n"
    (tmp_path / "plan.md").write_text(body)

    def run(comments: list[dict]) -> list:
        listed = tmp_path / "comments.json"
        listed.write_text(json.dumps(comments))
        proc = subprocess.run(
            ["node", str(harness), str(script), str(listed)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    bot = {"type": "Bot"}
    calls = run(
        [
            {"id": 1, "user": {"type": "User"}, "body": "<!-- meshprov-plan: infra/mesh -->"},
            {"id": 2, "user": bot, "body": "<!-- meshprov-plan: other -->\nold"},
            {"id": 3, "user": bot, "body": "<!-- meshprov-plan: infra/mesh -->\nold"},
            {"id": 4, "user": bot, "body": None},
        ]
    )
    assert calls[-1] == ["update", {"owner": "acme", "repo": "mesh", "comment_id": 3, "body": body}]
    calls = run([{"id": 2, "user": bot, "body": "<!-- meshprov-plan: other -->\nold"}])
    assert calls[-1] == [
        "create",
        {"owner": "acme", "repo": "mesh", "issue_number": 7, "body": body},
    ]
