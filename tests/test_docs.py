"""Meta-tests that keep the docs honest (datasette's test_plugin_hooks_are_documented).

They fail when a hook, a reason code or a CLI verb is added without being documented, and
when a code block in README.md or docs/*.md stops working.

Code blocks in the docs (how to write them so these tests pass)
---------------------------------------------------------------
* Every ```` ```python ```` block runs: the blocks of one page in order, in one namespace, in
  a fresh temporary directory that is the current directory and on ``sys.path`` (with its
  ``src/``). So a page's later blocks may use what its earlier blocks defined, and may read
  ``acme.yaml`` (README.md's example policy) and ``banned-senders.txt`` (empty), which
  :data:`DOC_FILES` creates there.
* A block whose first line is a comment naming a file (``# src/inmail_guard_shouting/__init__.py``,
  ``# tests/test_shouting.py``) is also written to that path, so later blocks can import it;
  a ``tests/test_*.py`` written so is then run with pytest and must pass.
* A block that cannot run on its own (a signature, an excerpt) is marked as a fragment: an
  HTML comment ``<!-- fragment -->`` (optionally ``<!-- fragment: why -->``) on the line right
  before the opening fence. It is not run.
* Every ```` ```bash ```` block's ``inmail-guard`` commands must name verbs and options that
  exist (they are parsed, not run: their files need not exist).
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import inmail_guard.plugins.hookspecs as hookspecs
from inmail_guard.cli import COMMANDS
from inmail_guard.reasons import REASON_CODES

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


# --- code blocks ----------------------------------------------------------------------------

FENCE = re.compile(r"^(?P<marker><!-- fragment(?::[^>]*)? -->\n)?```(?P<lang>python|bash)\n"
                   r"(?P<code>.*?)^```$", re.M | re.S)
PAGES = [ROOT / "README.md", *DOCS]


def _readme_policy() -> str:
    (policy,) = [m.group(1) for m in re.finditer(r"^```yaml\n(.*?)^```$", README, re.M | re.S)
                 if "name: acme-recruiting" in m.group(1)]
    return policy


#: Files every page's blocks find in their directory.
DOC_FILES = {"acme.yaml": _readme_policy, "banned-senders.txt": lambda: ""}


def code_blocks(lang: str) -> list[tuple[Path, int, str, bool]]:
    """(page, line, code, is_fragment) of every ```lang block."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group("lang") == lang:
                line = text[:m.start("code")].count("\n") + 1
                out.append((page, line, m.group("code"), m.group("marker") is not None))
    return out


def test_there_are_code_blocks_to_run_and_fragments_are_few() -> None:
    blocks = code_blocks("python")
    runnable = [b for b in blocks if not b[3]]
    assert len(runnable) >= 8 and len(blocks) - len(runnable) <= 8


def _pages_with_python() -> list[Path]:
    return sorted({page for page, _, _, fragment in code_blocks("python") if not fragment})


@pytest.mark.parametrize("page", _pages_with_python(), ids=lambda p: p.name)
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, make in DOC_FILES.items():
        (tmp_path / name).write_text(make(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    namespace: dict[str, object] = {"__name__": f"doc_{page.stem}"}
    tests: list[Path] = []
    for block_page, line, code, fragment in code_blocks("python"):
        if block_page != page or fragment:
            continue
        first = code.splitlines()[0]
        target = re.fullmatch(r"# ([\w./-]+\.py)", first.strip())
        if target:
            path = tmp_path / target.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code, encoding="utf-8")
            if path.name.startswith("test_"):
                tests.append(path)
                continue
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{page.relative_to(ROOT)}:{line}: the block raised"
                        f" {type(exc).__name__}: {exc}")
    for test in tests:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(tmp_path / "src"), str(tmp_path), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(test)], capture_output=True, text=True, cwd=tmp_path,
                              env=env)
        assert done.returncode == 0, f"{page.name}: {test.name}:\n{done.stdout[-3000:]}"


def _commands(code: str) -> list[list[str]]:
    """The argument lists of every ``inmail-guard`` command in a shell block."""
    commands = []
    for statement in re.split(r"&&|\|\||;|\||\n", code.replace("\\\n", " ")):
        try:
            words = shlex.split(statement, comments=True)
        except ValueError:  # a quote spanning lines: not a command line
            continue
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes
            words = words[1:]
        if words and words[0].endswith("inmail-guard"):
            commands.append(words[1:])
    return commands


def _bash_commands() -> list[tuple[str, list[str]]]:
    return [(f"{page.name}:{line}", args) for page, line, code, fragment in code_blocks("bash")
            if not fragment for args in _commands(code)]


def test_there_are_shell_commands_to_check() -> None:
    assert len(_bash_commands()) >= 10


@pytest.mark.parametrize(("where", "args"), _bash_commands(), ids=lambda v: str(v))
def test_shell_blocks_use_real_verbs_and_options(where: str, args: list[str]) -> None:
    import click

    from inmail_guard.cli import main

    command: click.Command = main
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"{where}: no command {rest[0]!r} in `inmail-guard {args}`"
        command, rest = sub, rest[1:]
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    known |= {"-h", "--help"}
    for word in rest:
        if word.startswith("-") and word != "-":
            assert word.split("=", 1)[0] in known, (
                f"{where}: `{command.name}` has no option {word}")
