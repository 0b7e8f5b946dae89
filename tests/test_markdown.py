"""The pull-request comment (``plan --markdown``, ``show --markdown``) and ``graph --plan``.

Golden files (tests/fixtures/markdown/*.md) hold the comment for hand-built plans; each is also
rendered to HTML by a CommonMark renderer (markdown-it-py, with GFM tables) to check what GitHub
will show: the marker first, the summary outside the fold, the ``<details>`` fold holding a
``diff`` code block, the Mermaid block outside it. Regenerate the goldens after an intended
change with ``MESHPROV_UPDATE_GOLDEN=1 pytest tests/test_markdown.py``.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from tests.support import plans
from tests.support.engine import PRIVATE_KEY, Workspace

from meshprov.plan.model import Action, Mode
from meshprov.render.human import render_plan
from meshprov.render.markdown import (
    COMMENT_LIMIT,
    config_label,
    diff_lines,
    marker,
    render_markdown,
)

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "markdown"
UPDATE = os.environ.get("MESHPROV_UPDATE_GOLDEN") == "1"
SCENARIOS = {
    "quickstart_create": plans.quickstart_create,
    "ca_rotation": plans.ca_rotation,
    "drift_and_expiry": plans.drift_and_expiry,
    "no_changes": plans.no_changes,
}


# --- what GitHub would show ---------------------------------------------------------------------


class _Page(HTMLParser):
    """Where things sit in the rendered HTML: inside <details> or not, in which code block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0  # <details> nesting
        self.code: str | None = None  # class of the open <code>
        self.blocks: list[tuple[str, bool, str]] = []  # (language, in details, text)
        self.strong: list[tuple[bool, str]] = []  # (in details, text)
        self._strong: str | None = None
        self.summaries: list[str] = []
        self._summary: str | None = None
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "details":
            self.depth += 1
        elif tag == "code":
            self.code = dict(attrs).get("class") or ""
            self.blocks.append((self.code.removeprefix("language-"), self.depth > 0, ""))
        elif tag == "strong":
            self._strong = ""
        elif tag == "summary":
            self._summary = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.depth -= 1
        elif tag == "code":
            self.code = None
        elif tag == "strong" and self._strong is not None:
            self.strong.append((self.depth > 0, self._strong))
            self._strong = None
        elif tag == "summary" and self._summary is not None:
            self.summaries.append(self._summary)
            self._summary = None

    def handle_data(self, data: str) -> None:
        if self.code is not None:
            lang, inside, text = self.blocks[-1]
            self.blocks[-1] = (lang, inside, text + data)
        if self._strong is not None:
            self._strong += data
        if self._summary is not None:
            self._summary += data

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def github_view(markdown: str) -> _Page:
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    page = _Page()
    page.feed(html)
    page.close()
    assert page.depth == 0, "a <details> is left open"
    return page


def check_comment(text: str, label: str) -> _Page:
    """What every comment must satisfy."""
    assert text.splitlines()[0] == f"<!-- meshprov-plan: {label} -->"
    assert len(text) <= COMMENT_LIMIT
    assert PRIVATE_KEY not in text
    assert plans.KEY_BODY not in text
    page = github_view(text)
    assert page.comments and page.comments[0].strip() == f"meshprov-plan: {label}"
    summaries = [s for inside, s in page.strong if s.startswith(("Plan:", "No changes."))]
    assert summaries, "no summary line"
    assert all(not inside for inside, s in page.strong if s.startswith("Plan:"))
    diffs = [b for b in page.blocks if b[0] == "diff"]
    if "Plan:" in summaries[0]:
        (diff,) = diffs
        assert diff[1], "the plan body must be inside <details>"
        for line in diff[2].splitlines():
            assert line == "" or line[:2] in ("+ ", "- ", "! ", "  ", "@@"), line
        assert page.summaries and page.summaries[0].startswith("Show plan")
        for lang, inside, _ in page.blocks:
            if lang == "mermaid":
                assert not inside
    else:
        assert not diffs
    return page


# --- golden files -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden(name: str) -> None:
    text = render_markdown(SCENARIOS[name](), "examples/quickstart")
    path = GOLDEN / f"{name}.md"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    check_comment(text, "examples/quickstart")


def test_rotation_comment_sections() -> None:
    text = render_markdown(plans.ca_rotation(), "examples/quickstart")
    page = check_comment(text, "examples/quickstart")
    lines = text.splitlines()
    assert lines[2] == "### meshprov plan for `examples/quickstart`"
    assert lines[4].startswith("**Plan: 2 to add, 3 to change, 3 to destroy.**")
    # the banner, the security impact and the lists come before the fold
    fold = text.index("<details>")
    for part in (
        "> [!WARNING]",
        "**destroys 1 resource** and **replaces 2 resources**",
        "#### :shield: Security impact",
        "**stops allowing** 1 source: `192.0.2.30/32` (zone `ap-south`)",
        "**revokes** 1 rule meshprov does not own: "
        "`tcp/5685 from 0.0.0.0/0 in sg-0123456789abcdef0 (sgr-ffff)`",
        "`ca.cp` **replaced** because common_name changed, which reissues 2 certificates",
        "- **Destroy** (1): `zone.ap_south` (not in configuration)",
        "- **Replace** (2): `ca.cp` (common_name changed), `zone.us_east` (key_algorithm changed)",
        "```mermaid",
        "classDef replace",
        "classDef delete",
        "class n3 delete",
    ):
        assert 0 <= text.index(part) < fold, part
    (diff,) = [b for b in page.blocks if b[0] == "diff"]
    assert '-     resource "zone" "ap_south" {' in diff[2]
    assert '!     resource "ca" "cp" {' in diff[2]


def test_quickstart_security_and_diagram() -> None:
    text = render_markdown(plans.quickstart_create(), "examples/quickstart")
    check_comment(text, "examples/quickstart")
    assert "> [!WARNING]" not in text
    assert (
        "**allows** 2 new sources: `198.51.100.10/32` (zone `eu-west`), "
        "`203.0.113.20/32` (zone `us-east`)"
    ) in text
    assert "3 certificates **issued** (valid until about 2031-01-15)" in text
    assert "- **Outputs** (2): `kds_address` (create), `admin_key` (create)" in text
    assert '  n2[/"firewall.kds"\\]' in text
    assert "  n3 --> n2" in text  # zone.eu_west → firewall.kds


def test_no_changes_is_short() -> None:
    text = render_markdown(plans.no_changes(), "cfg")
    check_comment(text, "cfg")
    assert "<details>" not in text and "Security impact" not in text
    assert len(text.splitlines()) <= 8
    refresh = render_markdown(plans.make_plan(mode=Mode.REFRESH_ONLY), "cfg")
    assert "still matches the configuration" in refresh
    destroy = render_markdown(plans.make_plan(mode=Mode.DESTROY), "cfg")
    assert "No objects need to be destroyed" in destroy


def test_refresh_only_with_drift() -> None:
    drift = plans.drift_and_expiry().drift
    text = render_markdown(plans.make_plan(mode=Mode.REFRESH_ONLY, drift=drift), "cfg")
    page = check_comment(text, "cfg") if "Plan:" in text else github_view(text)
    assert "**Refresh-only plan: 1 object changed outside of meshprov.**" in text
    assert "`zone.eu_west` (tls/tls.key was deleted)" in text
    assert [b for b in page.blocks if b[0] == "diff"]


def test_destroy_plan_banner_and_targeting_note() -> None:
    cp = plans.cp_values("control_plane.global", "ca.cp", "global")
    the_plan = plans.make_plan(
        plans.change("control_plane.global", Action.DELETE, cp, None),
        mode=Mode.DESTROY,
        targets=("control_plane.global",),
    )
    text = render_markdown(the_plan, "cfg")
    check_comment(text, "cfg")
    assert "**destroys 1 resource**" in text
    assert "a **destroy** plan" in text
    assert "Resource targeting is in effect (`control_plane.global`)" in text
    assert "1 certificate **removed**: `control_plane.global`" in text


# --- size -----------------------------------------------------------------------------------------


def test_five_thousand_zones_fit_in_one_comment_with_summary_and_security_impact() -> None:
    the_plan = plans.many_zones(5000)
    text = render_markdown(the_plan, "examples/many-zones")
    assert len(text) <= COMMENT_LIMIT
    page = check_comment(text, "examples/many-zones")
    fold = text.index("<details>")
    summary = "**Plan: 5003 to add, 0 to change, 0 to destroy.**"
    assert 0 <= text.index(summary) < fold
    assert 0 <= text.index("#### :shield: Security impact") < fold
    assert "**allows** 5000 new sources: `10.0.0.0/32` (zone `zone-00000`)" in text
    assert "and 4,980 more" in text
    assert "5001 certificates **issued**" in text
    assert "- **Create** (5,003): " in text and "and 4,973 more" in text
    # the diagram groups the instances of one resource
    assert '("zone.z ×5,000")' in text
    (diff,) = [b for b in page.blocks if b[0] == "diff"]
    body = diff[2]
    assert "@@ " in body and "lines omitted here" in body
    # cut in the middle: the start and the end of the plan are both there
    full = render_plan(the_plan, color=False)
    assert body.splitlines()[0] == "  " + full.splitlines()[0]
    assert body.rstrip().endswith("Plan: 5003 to add, 0 to change, 0 to destroy.")
    assert "shortened:" in page.summaries[0]
    omitted = int(re.search(r"@@ ([\d,]+) lines omitted", body).group(1).replace(",", ""))
    assert omitted > len(full.splitlines()) / 2


def test_a_smaller_limit_drops_the_picture_before_cutting_more() -> None:
    the_plan = plans.many_zones(40)
    whole = render_markdown(the_plan, "cfg")
    small = render_markdown(the_plan, "cfg", limit=len(whole) // 2)
    assert len(small) <= len(whole) // 2
    check_comment(small, "cfg")
    assert "**Plan: 43 to add" in small
    assert "Security impact" in small
    tiny = render_markdown(the_plan, "cfg", limit=3000)
    assert len(tiny) <= 3000
    assert tiny.startswith("<!-- meshprov-plan: cfg -->")
    assert "**Plan: 43 to add" in tiny


# --- the diff transformation, the marker and the label ---------------------------------


def test_diff_lines_move_markers_to_column_zero() -> None:
    text = textwrap.dedent(
        """\
        Plan legend:
          + create
        -/+ destroy and then create replacement
          # zone.a will be updated in-place
          ~ resource "zone" "a" {
              ~ hostnames = [
                  + "b",
                  - "c",
                    "d",
                ]
              ~ cert_pem  = <<-EOT
                    -----BEGIN CERTIFICATE-----
                    # (12 lines hidden)
                EOT -> (known after apply)
            }
        +/- resource "zone" "b" {}
        """
    )
    assert diff_lines(text) == [
        "  Plan legend:",
        "+     create",
        "!     destroy and then create replacement",
        "    # zone.a will be updated in-place",
        '!     resource "zone" "a" {',
        "!         hostnames = [",
        '+             "b",',
        '-             "c",',
        '              "d",',
        "          ]",
        "!         cert_pem  = <<-EOT",
        "              -----BEGIN CERTIFICATE-----",
        "              # (12 lines hidden)",
        "          EOT -> (known after apply)",
        "      }",
        '!     resource "zone" "b" {}',
    ]


def test_marker_and_config_label(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "infra" / "mesh").mkdir(parents=True)
    assert config_label(repo / "infra" / "mesh") == "infra/mesh"
    assert config_label(repo) == "."
    plain = tmp_path / "plain" / "cfg"
    plain.mkdir(parents=True)
    assert config_label(plain, cwd=tmp_path / "plain") == "cfg"
    assert config_label(plain, cwd=tmp_path / "plain" / "cfg") == "."
    assert config_label(plain, cwd=repo) == plain.resolve().as_posix()
    assert marker("infra/mesh") == "<!-- meshprov-plan: infra/mesh -->"
    assert "--" not in marker("a--b")[4:-3]


# --- through the CLI -----------------------------------------------------------------------


MESH = """
ca "cp" {
  common_name = "CA"
}

control_plane "global" {
  ca        = ca.cp
  addresses = ["127.0.0.1"]
}

zone "eu" {
  ca         = ca.cp
  global     = control_plane.global
  addresses  = ["10.0.0.10"]
  egress_ips = ["198.51.100.10"]
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "config")


def test_cli_plan_markdown_and_show_markdown(ws: Workspace) -> None:
    ws.write(MESH)
    comment, planfile = ws.dir / "plan.md", ws.dir / "plan.bin"
    result = ws.run(
        "plan", "--out", str(planfile), "--markdown", str(comment), "--detailed-exitcode", code=2
    )
    # the terminal plan ends with the security impact, before the saved-plan note
    assert "\nSecurity impact:\n  2 certificates issued: control_plane.global, zone.eu" in (
        result.stdout
    )
    assert "  ca.cp: CA created" in result.stdout
    text = comment.read_text()
    label = config_label(ws.dir)
    check_comment(text, label)
    assert "**Plan: 3 to add, 0 to change, 0 to destroy.**" in text
    shown = ws.run("show", "--markdown", str(planfile)).stdout
    assert shown == text
    assert "Security impact:" in ws.run("show", str(planfile)).stdout
    # applied, the same configuration has nothing to say
    ws.run("apply", str(planfile))
    ws.run("plan", "--markdown", str(comment))
    assert "**No changes.**" in comment.read_text()
    assert "Security impact:" not in ws.run("plan").stdout
    # and a rotation is explained
    ws.write(MESH.replace('common_name = "CA"', 'common_name = "CA 2"'))
    out = ws.run("plan", "--markdown", str(comment)).stdout
    assert "ca.cp: CA replaced (common_name changed), reissuing 2 certificates" in out
    text = comment.read_text()
    check_comment(text, label)
    assert "which reissues 2 certificates it signed" in text
    assert "**replaces 1 resource**" in text


def test_cli_show_markdown_errors(ws: Workspace) -> None:
    ws.write(MESH)
    result = ws.run("show", "--markdown", code=1)
    assert "Plan file required" in result.stderr
    ws.run("plan", "--out", str(ws.dir / "p.bin"))
    result = ws.run("show", "--json", "--markdown", str(ws.dir / "p.bin"), code=1)
    assert "Incompatible options" in result.stderr


def test_cli_markdown_unwritable(ws: Workspace) -> None:
    ws.write(MESH)
    result = ws.run("plan", "--markdown", str(ws.dir / "main.hcl" / "x.md"), code=1)
    assert "Error: Failed to write the Markdown plan" in result.stderr


def test_cli_json_and_markdown_together(ws: Workspace) -> None:
    ws.write(MESH)
    comment = ws.dir / "plan.md"
    result = ws.run("plan", "--json", "--markdown", str(comment))
    assert json.loads(result.stdout)["format_version"] == "1.2"
    assert comment.read_text().startswith("<!-- meshprov-plan: ")


def test_graph_coloured_by_a_saved_plan(ws: Workspace) -> None:
    ws.write(
        MESH + '\nzone "us" {\n  ca = ca.cp\n  global = control_plane.global\n'
        '  addresses = ["10.0.0.20"]\n}\n'
    )
    ws.run("apply", "--auto-approve")
    ws.write(MESH.replace('addresses  = ["10.0.0.10"]', 'addresses  = ["10.0.0.11"]'))
    planfile = ws.dir / "plan.bin"
    ws.run("plan", "--out", str(planfile))
    dot = ws.run("graph", "--plan", str(planfile)).stdout
    assert '"zone.eu" [fillcolor = "#fff8c5"' in dot  # update
    assert '"zone.us" [fillcolor = "#ffebe9"' in dot  # destroyed: only the plan knows it
    assert '"ca.cp" [fillcolor = "#f6f8fa"' in dot  # no change
    mermaid = ws.run("graph", "--format", "mermaid", "--plan", str(planfile)).stdout
    ids = dict(re.findall(r'  (n\d+)\["([^"]+)"\]', mermaid))
    by_name = {v: k for k, v in ids.items()}
    assert f"class {by_name['zone.eu']} update" in mermaid
    assert f"class {by_name['zone.us']} delete" in mermaid
    assert "classDef update fill:#fff8c5" in mermaid
    plain = ws.run("graph").stdout
    assert "fillcolor" not in plain and '"zone.us"' not in plain


def test_quickstart_example_against_moto(moto_aws, tmp_path: Path) -> None:
    """examples/quickstart as it is, its firewall planned against the moto server."""
    ws = Workspace(tmp_path / "quickstart")
    ws.write((Path(__file__).resolve().parents[1] / "examples/quickstart/main.hcl").read_text())
    group = moto_aws.security_group()
    variables = (
        "--var",
        "firewall=true",
        "--var",
        f"aws_endpoint_url={moto_aws.endpoint}",
        "--var",
        f"global_security_group_id={group}",
    )
    comment = ws.dir / "plan.md"
    result = ws.run("plan", *variables, "--markdown", str(comment), "--detailed-exitcode", code=2)
    assert (
        "firewall.kds[0] (port 5685): + allows 2 sources: 198.51.100.10/32 (zone eu-west), "
        "203.0.113.20/32 (zone us-east)"
    ) in result.stdout
    text = comment.read_text()
    check_comment(text, config_label(ws.dir))
    assert (
        "**allows** 2 new sources: `198.51.100.10/32` (zone `eu-west`), "
        "`203.0.113.20/32` (zone `us-east`)"
    ) in text
    assert "**Plan: 9 to add, 0 to change, 0 to destroy.**" in text
    doc = json.loads(ws.run("plan", *variables, "--json").stdout)
    (fw,) = [rc for rc in doc["resource_changes"] if rc["type"] == "firewall"]
    assert fw["change"]["actions"] == ["create"]
    assert fw["change"]["after"]["sources"] == {
        "198.51.100.10/32": "eu-west",
        "203.0.113.20/32": "us-east",
    }
    # applied, then a zone leaves: the comment says who loses access
    ws.run("apply", "--auto-approve", *variables)
    hcl = (ws.dir / "main.hcl").read_text()
    ws.write(
        hcl.replace(
            "allow_zones        = [zone.eu_west, zone.us_east]",
            "allow_zones        = [zone.eu_west]",
        )
    )
    ws.run("plan", *variables, "--markdown", str(comment))
    text = comment.read_text()
    check_comment(text, config_label(ws.dir))
    assert "**stops allowing** 1 source: `203.0.113.20/32` (zone `us-east`)" in text
    assert "- **Update in-place** (1): `firewall.kds[0]`" in text
