"""What a reviewer reads is what is applied: a pull request's values cannot hide characters in
the plan or the Markdown comment, nor make the comment notify anyone.

The configuration refuses control characters, but a zero-width space or a right-to-left
override is an ordinary character to it: ``"al\\u200bice"`` is not ``"alice"``, yet both look
the same, and an override reverses the rest of a line. The plan shows them escaped, as
Terraform's does. An ``@org/team`` in a token's user name, outside code, would have GitHub
notify that team when the comment is posted.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from tests.support.engine import Workspace

CONFIG = r"""
ca "cp" {
  common_name  = "Mesh CA"
  organization = "Example \u202eCorp"
}

signing_key "admin" {
  kind = "user"
}

token "admin" {
  signing_key = signing_key.admin
  user_name   = "al\u200bice @acme/security-team"
  groups      = ["mesh-system:admin\u2066"]
}

output "motd" {
  value = "first line\n\u202esecond line"
}
"""

INVISIBLE = ("\u202e", "\u200b", "\u2066")


def _plan(tmp_path) -> tuple[str, str]:
    ws = Workspace(tmp_path / "config")
    ws.write(CONFIG)
    markdown = tmp_path / "plan.md"
    text = ws.run("plan", "--no-color", "--markdown", str(markdown)).stdout
    return text, markdown.read_text(encoding="utf-8")


def test_invisible_characters_are_shown_as_escapes(tmp_path):
    text, markdown = _plan(tmp_path)
    for shown, what in ((text, "plan"), (markdown, "the Markdown comment")):
        hidden = [f"U+{ord(c):04X}" for c in INVISIBLE if c in shown]
        assert not hidden, f"{what} holds {hidden}"
    # in the plan body (attributes, a heredoc) and in the security impact alike
    assert r'+ organization    = "Example \u202eCorp"' in text
    assert r'+ user_name    = "al\u200bice @acme/security-team"' in text
    assert r'+ "mesh-system:admin\u2066",' in text
    assert r"\u202esecond line" in text
    assert r'token.admin: user "al\u200bice @acme/security-team"' in text
    assert r'+         organization    = "Example \u202eCorp"' in markdown


def test_the_comment_mentions_nobody(tmp_path):
    _, markdown = _plan(tmp_path)
    tokens = MarkdownIt("commonmark", {"html": True}).parse(markdown)
    texts = [
        child.content
        for token in tokens
        if token.type == "inline"
        for child in token.children or []
        if child.type == "text"
    ]
    assert texts, markdown
    assert not [t for t in texts if "@" in t], "an @mention outside code"
    # still there for the reviewer to read, as code
    assert "`@acme/security-team`" in markdown
