"""Meta-tests that keep the docs honest (datasette's test_plugin_hooks_are_documented).

They fail when a hook, a reason code or a CLI verb is added without being documented.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import inmail_guard.plugins.hookspecs as hookspecs
from inmail_guard.cli import COMMANDS
from inmail_guard.engine.reasons import REASON_CODES

ROOT = Path(__file__).parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
ALL_DOCS = "\n".join(p.read_text(encoding="utf-8") for p in DOCS)
README = (ROOT / "README.md").read_text(encoding="utf-8")


def hook_signatures() -> dict[str, str]:
    """``name -> "def name(params) -> returns"`` exactly as written in hookspecs.py."""
    tree = ast.parse(Path(hookspecs.__file__).read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("inmail_guard_"):
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            out[node.name] = f"def {node.name}({ast.unparse(node.args)}){returns}"
    return out


def test_there_are_hooks_to_check() -> None:
    assert len(hook_signatures()) >= 5


@pytest.mark.parametrize("hook", sorted(hook_signatures()))
def test_every_hook_is_documented_with_its_exact_signature(hook: str) -> None:
    signature = hook_signatures()[hook]
    assert signature in ALL_DOCS, f"docs/*.md must show `{signature}` (copy it from hookspecs.py)"


@pytest.mark.parametrize("code", sorted(REASON_CODES))
def test_every_reason_code_is_documented(code: str) -> None:
    assert re.search(rf"\b{re.escape(code)}\b", ALL_DOCS), f"reason code {code} is in no docs/*.md"


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_every_cli_verb_is_documented(verb: str) -> None:
    assert f"inmail-guard {verb}" in README + ALL_DOCS, (
        f"`inmail-guard {verb}` is mentioned in neither README.md nor docs/*.md")


@pytest.mark.parametrize("verb", ["test", "explain", "diff", "qa"])
def test_every_policy_workflow_verb_is_documented(verb: str) -> None:
    assert f"inmail-guard policy {verb}" in ALL_DOCS


def test_plugin_docs_name_the_controls() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    for needle in ("[project.entry-points.inmail_guard]", "INMAIL_GUARD_PLUGINS",
                   "INMAIL_GUARD_DISABLE_PLUGINS", "on_error", "fail_closed", "shadow",
                   "DetectorConfig", "examples/plugin-example"):
        assert needle in text, needle


def test_the_shipped_suite_is_referenced_and_exists() -> None:
    path = "src/inmail_guard/policies/tests/default.yaml"
    assert (ROOT / path).is_file()
    assert path in (ROOT / "docs" / "workflow.md").read_text(encoding="utf-8")


def test_relative_links_in_workflow_and_plugin_docs_resolve() -> None:
    broken = []
    for page in (ROOT / "docs" / "workflow.md", ROOT / "docs" / "plugins.md"):
        for target in re.findall(r"\]\((\.\./[^)#\s]+|[\w-]+\.md)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert not broken
