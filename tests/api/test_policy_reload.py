from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main

from .conftest import ADMIN, SVC, evaluate_body

DEFAULT = resources.files("inmail_guard.policies").joinpath("default.yaml").read_text("utf-8")


def write_policy(path: Path, name: str, premium_credits: int = 10, extra: str = "") -> Path:
    text = DEFAULT.replace("name: inmail-default", f"name: {name}")
    text = text.replace("premium_business:              {monthly_credits: 10}",
                        f"premium_business:              {{monthly_credits: {premium_credits}}}")
    path.write_text(text + extra, encoding="utf-8")
    return path


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "policy.yaml", "test-a")


def test_get_policy_shows_the_active_one(make_client, policy_file):
    client = make_client(policy=str(policy_file))
    info = client.get("/v1/policy", headers=SVC).json()
    assert info["name"] == "test-a"
    assert info["source"] == str(policy_file)
    assert info["version"].startswith("sha256:")
    assert info["loaded_at"].endswith("Z")


def test_a_reload_with_a_body_is_refused_and_changes_nothing(make_client, policy_file,
                                                              tmp_path: Path):
    # A body names nothing this operation reads: a {"path": ...} would have reloaded the
    # server's own file, silently, whatever it asked for.
    client = make_client(policy=str(policy_file))
    before = client.get("/v1/policy", headers=SVC).json()
    other = write_policy(tmp_path / "other.yaml", "test-other")
    write_policy(policy_file, "test-b")  # what a reload would pick up
    r = client.post("/v1/policy/reload", json={"path": str(other)}, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "validation_error", "field": "body",
        "message": "body: this operation takes no body; it reloads the policy from the"
                   " server's own source (serve --policy): edit that file, then reload"}
    assert client.get("/v1/policy", headers=SVC).json() == before
    assert client.post("/v1/policy/reload", content=b" \n", headers=ADMIN).status_code == 200


def test_default_policy_without_flags(client):
    assert client.get("/v1/policy", headers=SVC).json()["source"] == "builtin:default"


def test_good_reload_swaps_and_decisions_carry_the_new_version(make_client, policy_file):
    client = make_client(policy=str(policy_file))
    before = client.post("/v1/evaluate", json=evaluate_body(), headers=SVC).json()
    assert before["credits"]["limit"] == 10
    write_policy(policy_file, "test-b", premium_credits=3)
    r = client.post("/v1/policy/reload", headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["changed"] is True
    assert body["previous"]["name"] == "test-a" and body["active"]["name"] == "test-b"
    after = client.post("/v1/evaluate", json=evaluate_body(), headers=SVC).json()
    assert after["policy"]["name"] == "test-b"
    assert after["policy"]["version"] == body["active"]["version"] != before["policy"]["version"]
    assert after["credits"]["limit"] == 3
    assert client.get("/v1/policy", headers=SVC).json()["name"] == "test-b"


def test_reload_of_unchanged_policy_says_so(make_client, policy_file):
    client = make_client(policy=str(policy_file))
    assert client.post("/v1/policy/reload", headers=ADMIN).json()["changed"] is False


@pytest.mark.parametrize("breakage", [
    "\nbogus_key: 1\n",                              # unknown key
    "\nspam:\n  reject_at: [oops\n",                 # not YAML
    "\nrules_mode: {no_such_rule: shadow}\n",        # validates, does not compile
])
def test_broken_reload_keeps_the_old_policy_and_returns_issues(make_client, policy_file,
                                                               breakage):
    client = make_client(policy=str(policy_file))
    old = client.get("/v1/policy", headers=SVC).json()
    write_policy(policy_file, "test-broken", extra=breakage)
    r = client.post("/v1/policy/reload", headers=ADMIN)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "policy_invalid"
    assert error["issues"], error
    assert error["active_version"] == old["version"]
    assert client.get("/v1/policy", headers=SVC).json() == old
    decision = client.post("/v1/evaluate", json=evaluate_body(), headers=SVC).json()
    assert decision["policy"]["version"] == old["version"]


OVERLAY = "name: t\nextends: builtin:default\n"


@pytest.mark.parametrize("text", [
    DEFAULT + "\nbogus_key: 1\n",                                   # unknown key
    DEFAULT + "\nspam:\n  reject_at: [oops\n",                      # not YAML
    OVERLAY + "rules_mode: {no_such_rule: shadow}\n",               # validates, won't compile
    OVERLAY + "spam:\n  detectors:\n    nope: {}\n",                # unknown detector
    OVERLAY + "spam:\n  detectors:\n    volume: {per_hour: ten}\n",  # a detector's setting
    OVERLAY + "spam:\n  detectors:\n    classifier: {model: /no/such.joblib}\n",  # no model
], ids=["unknown-key", "not-yaml", "rules-mode", "unknown-detector", "detector-setting",
        "missing-model"])
def test_reload_issues_are_policy_validates_with_integer_positions(make_client, policy_file,
                                                                   text):
    client = make_client(policy=str(policy_file))
    policy_file.write_text(text, encoding="utf-8")
    r = client.post("/v1/policy/reload", headers=ADMIN)
    assert r.status_code == 422, r.text
    issues = r.json()["error"]["issues"]
    validated = CliRunner().invoke(main, ["policy", "validate", "--format", "json",
                                          str(policy_file)])
    assert validated.exit_code == 1, validated.output
    assert issues == json.loads(validated.output)["files"][0]["issues"]
    for issue in issues:
        assert list(issue) == ["file", "line", "column", "path", "expected", "found", "message"]
        assert type(issue["line"]) is int and type(issue["column"]) is int
        assert all(type(issue[k]) is str for k in ("file", "path", "expected", "found",
                                                   "message"))


def test_reload_issue_is_documented_with_integer_positions(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    issue = schemas["PolicyIssueOut"]["properties"]
    assert issue["line"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert issue["column"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert list(issue) == ["file", "line", "column", "path", "expected", "found", "message"]
    answer = spec["paths"]["/v1/policy/reload"]["post"]["responses"]["422"]
    documented = json.dumps(answer["content"]["application/json"]["schema"])
    assert "PolicyInvalidOut" in documented


def test_a_reload_the_inmail_routes_could_not_run_is_refused(make_client, policy_file):
    client = make_client(policy=str(policy_file))
    policy_file.write_text("name: t\nextends: builtin:default\nrules_mode: {credits: shadow}\n")
    r = client.post("/v1/policy/reload", headers=ADMIN)
    assert r.status_code == 422
    assert "rules_mode.credits: expected enforce for the InMail service" in r.text
    found = ("shadow: every accepted send spends a credit. Shadow the credit rule in replay or"
             " policy test instead")
    # `policy validate` passes this file (the engine runs it); the issue has its keys and types.
    assert r.json()["error"]["issues"] == [{
        "file": str(policy_file), "line": 3, "column": 14, "path": "rules_mode.credits",
        "expected": "enforce for the InMail service", "found": found,
        "message": f"expected enforce for the InMail service, found {found}"}]
    assert client.get("/v1/policy", headers=SVC).json()["name"] == "test-a"


def test_missing_file_on_reload_keeps_old(make_client, policy_file):
    client = make_client(policy=str(policy_file))
    policy_file.unlink()
    r = client.post("/v1/policy/reload", headers=ADMIN)
    assert r.status_code == 422
    assert client.get("/v1/policy", headers=SVC).json()["name"] == "test-a"


def test_watcher_reloads_a_changed_file(make_client, policy_file):
    client = make_client(policy=str(policy_file), watch_policy=0.05)
    write_policy(policy_file, "test-watched")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if client.get("/v1/policy", headers=SVC).json()["name"] == "test-watched":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the watcher did not reload the policy")


def test_watcher_ignores_a_broken_file(make_client, policy_file):
    client = make_client(policy=str(policy_file), watch_policy=0.05)
    write_policy(policy_file, "x", extra="\nbogus: 1\n")
    time.sleep(0.4)
    assert client.get("/v1/policy", headers=SVC).json()["name"] == "test-a"
    metrics = client.get("/metrics").text
    assert 'inmail_guard_policy_reloads_total{result="failed"}' in metrics


def test_reload_marker_tells_other_workers(policy_file, tmp_path):
    from inmail_guard.api.policy_state import PolicyHolder
    from inmail_guard.engine.evaluator import Engine

    marker = tmp_path / "marker"
    marker.touch()
    one, two = PolicyHolder(str(policy_file), Engine), PolicyHolder(str(policy_file), Engine)
    for holder in (one, two):
        holder.marker = str(marker)
        holder._stat = holder._file_stat()
    assert not two.changed_on_disk()
    one.reload()
    one.touch_marker()
    assert two.changed_on_disk() and not one.changed_on_disk()


# --- the watcher applies only a file that holds still -------------------------------------

FULL = ("name: written\nextends: builtin:default\n"
        "lifecycle: {preview_chars: 120}\n"
        "spam:\n  reject_at: 12\n  restrict_at: 18\n")
CUT = FULL.index("lifecycle:")  # the first two lines alone are a valid, different policy


def watched(policy_file: Path, interval: float, settle: float):
    from inmail_guard.api.policy_state import PolicyHolder
    from inmail_guard.engine.evaluator import Engine

    holder = PolicyHolder(str(policy_file), Engine)
    results: list[tuple[str | None, str | None]] = []
    stop = holder.watch(interval, lambda active, exc: results.append(
        (active.policy.version if active else None, str(exc) if exc else None)), settle)
    return holder, results, stop


def write_in_place(path: Path, text: str, cut: int, pause: float) -> None:
    """What an editor or `cat > policy.yaml` does: truncate, write part, pause, write the rest."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text[:cut])
        fh.flush()
        time.sleep(pause)
        fh.write(text[cut:])


@pytest.mark.slow
def test_the_watcher_never_applies_a_half_written_file(policy_file, tmp_path):
    from inmail_guard.policies.loader import load_policy, load_policy_text

    final = load_policy_text(FULL, str(tmp_path / "x.yaml")).version
    truncated = load_policy_text(FULL[:CUT], str(tmp_path / "x.yaml")).version
    assert truncated != final
    # Polling every 20 ms, each write pauses 150 ms half-way: the old watcher applied the
    # truncated policy; it must wait until the file held still for 300 ms.
    holder, results, stop = watched(policy_file, interval=0.02, settle=0.3)
    original = holder.active.policy.version
    try:
        for round_ in range(3):
            text = FULL.replace("preview_chars: 120", f"preview_chars: {120 + round_}")
            expected = load_policy_text(text, str(policy_file)).version
            write_in_place(policy_file, text, CUT, pause=0.15)
            deadline = time.monotonic() + 5
            while holder.active.policy.version != expected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert holder.active.policy.version == expected
    finally:
        stop.set()
    seen = {version for version, _ in results}
    assert truncated not in seen and original not in seen
    assert [error for _, error in results if error] == []  # not even an empty file was tried
    assert load_policy(str(policy_file)).version == holder.active.policy.version


def test_a_file_changed_while_its_engine_was_built_is_not_swapped_in(policy_file):
    from inmail_guard.api.policy_state import PolicyHolder
    from inmail_guard.engine.evaluator import Engine

    builds: list[str] = []

    def slow_engine(policy):
        builds.append(policy.name)
        if policy.name == "first":  # another write begins while this one compiles
            write_policy(policy_file, "second")
        return Engine(policy)

    holder = PolicyHolder(str(policy_file), slow_engine)
    results: list[str] = []
    stop = holder.watch(0.02, lambda active, exc: results.append(
        active.policy.name if active else f"error: {exc}"), settle=0.05)
    try:
        write_policy(policy_file, "first")
        deadline = time.monotonic() + 5
        while holder.active.policy.name != "second" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
    assert holder.active.policy.name == "second"
    assert "first" in builds and results == ["second"]  # "first" was built, never swapped in
