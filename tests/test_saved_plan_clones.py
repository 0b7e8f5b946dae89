"""A saved plan is independent of where the checkout lives (SPEC §4).

CI makes ``plan --out plan.bin`` in one job and applies that file in another, on another runner
or in another workspace path. These tests do exactly that through the CLI: two copies of one
repository (a configuration calling a module outside its directory, a var file, an encrypted S3
state shared through the moto server), the plan made in the first and applied in the second.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.support.engine import Workspace
from tests.support.s3state import S3, backend_block, encryption_block

PASSPHRASE_ENV = "MESHPROV_STATE_PASSPHRASE"

MODULE = """
variable "ca" {}

variable "name" {
  type = string
}

zone "this" {
  name       = var.name
  ca         = var.ca
  addresses  = ["10.0.0.1"]
  hostnames  = [trimspace(file("${path.module}/hostname.txt"))]
  output_dir = "${path.module}/../../out/${var.name}"
}

output "where" {
  value = path.module
}
"""

ROOT = """
variable "zone_name" {
  type = string
}

ca "cp" {
  common_name = "CA"
}

module "eu" {
  source = "../modules/zone"
  ca     = ca.cp
  name   = var.zone_name
}

output "module_path" {
  value = module.eu.where
}

output "root_path" {
  value = path.root
}
"""


@pytest.fixture
def s3(moto_aws, monkeypatch) -> S3:
    monkeypatch.setenv(PASSPHRASE_ENV, "a passphrase both jobs get from a CI secret")
    return S3(moto_aws.endpoint)


def clone(repo: Path, where: Path) -> Workspace:
    """A second checkout of the same commit, as another CI job would have."""
    shutil.copytree(repo, where)
    return Workspace(where / "infra")


def make_repo(root: Path, s3: S3) -> Workspace:
    bucket = s3.bucket()
    (root / "modules" / "zone").mkdir(parents=True)
    (root / "modules" / "zone" / "main.hcl").write_text(MODULE)
    (root / "modules" / "zone" / "hostname.txt").write_text("cp.eu.mesh.example.com\n")
    ws = Workspace(root / "infra")
    ws.write(backend_block(bucket, s3.endpoint, encryption=encryption_block()) + ROOT)
    ws.write('zone_name = "eu-west"\n', name="prod.vars.hcl")
    return ws


def test_a_plan_made_in_one_clone_applies_in_another(tmp_path: Path, s3: S3) -> None:
    plan_job = make_repo(tmp_path / "runner-1" / "work" / "repo", s3)
    apply_job = clone(plan_job.dir.parent, tmp_path / "runner-2" / "_work" / "repo" / "repo")
    planfile = tmp_path / "artifact" / "plan.bin"
    planfile.parent.mkdir()

    plan_job.run("init")
    plan_job.run("plan", "--var-file", str(plan_job.dir / "prod.vars.hcl"), "--out", str(planfile))
    shown = plan_job.run("show", "--json", str(planfile)).stdout
    assert str(tmp_path) not in shown
    assert '"module_path"' in shown and "../modules/zone" in shown

    apply_job.run("init")
    applied = apply_job.run("apply", str(planfile))
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in applied.stdout
    assert 'module_path = "../modules/zone"' in applied.stdout
    assert 'root_path = "."' in applied.stdout
    # the files land in the applying checkout, where path.module points there
    cert = apply_job.dir.parent / "out" / "eu-west" / "tls" / "tls.crt"
    assert cert.exists() and not (plan_job.dir.parent / "out").exists()
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:cp.eu.mesh.example.com" in text

    # The next commit reaches both checkouts: again planned in one, applied in the other.
    for ws in (plan_job, apply_job):
        ws.write('zone_name = "eu-central"\n', name="prod.vars.hcl")
    plan_job.run("plan", "--var-file", str(plan_job.dir / "prod.vars.hcl"), "--out", str(planfile))
    applied = apply_job.run("apply", str(planfile))
    assert "Resources: 0 added, 1 changed, 0 destroyed." in applied.stdout
    assert (apply_job.dir.parent / "out" / "eu-central" / "tls" / "tls.crt").exists()
    assert apply_job.run("plan", "--var-file", "prod.vars.hcl", "--detailed-exitcode").code == 0


def test_a_clone_whose_files_differ_refuses_the_plan(tmp_path: Path, s3: S3) -> None:
    plan_job = make_repo(tmp_path / "a" / "repo", s3)
    planfile = tmp_path / "plan.bin"
    plan_job.run("init")
    plan_job.run("plan", "--var", "zone_name=eu", "--out", str(planfile))

    # a module file differs in the second checkout
    edited = clone(plan_job.dir.parent, tmp_path / "b" / "repo")
    (edited.dir.parent / "modules" / "zone" / "main.hcl").write_text(MODULE + "\n# edited\n")
    edited.run("init")
    refused = edited.run("apply", str(planfile), code=1)
    assert "Error: Configuration changed since the plan was made" in refused.stderr

    # the same files under another name are another configuration too
    renamed = clone(plan_job.dir.parent, tmp_path / "c" / "repo")
    (renamed.dir / "main.hcl").rename(renamed.dir / "root.hcl")
    renamed.run("init")
    refused = renamed.run("apply", str(planfile), code=1)
    assert "Error: Configuration changed since the plan was made" in refused.stderr
