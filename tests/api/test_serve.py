"""``inmail-guard serve`` as a real process: banner with a generated key, SIGHUP reload, a
broken policy refused at start, graceful shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import pytest

from inmail_guard.cli import supervise

DEFAULT = resources.files("inmail_guard.policies").joinpath("default.yaml").read_text("utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    cmd = [sys.executable, "-c", "from inmail_guard.cli import main; main()", "serve",
           "--db", str(tmp_path / "serve.db"), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=tmp_path)


def get(url: str, key: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_up(port: int, proc: subprocess.Popen) -> None:
    # 60 s: two workers each loading the model took over 30 s on a machine loaded by other
    # test suites (load average ~10); an idle machine starts in 2-3 s.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                # With --workers, the supervisor answers 503 while no worker is ready and
                # stops within supervise.POLL of one being ready: until then it may still
                # take the next connection (cli/supervise.py).
                time.sleep(3 * supervise.POLL)
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail("server did not start")


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@pytest.mark.slow
def test_no_flags_generates_a_key_prints_it_and_sighup_reloads(tmp_path: Path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(DEFAULT.replace("name: inmail-default", "name: first"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INMAIL_GUARD_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from inmail_guard.cli import main; main()", "serve",
         "--db", str(tmp_path / "serve.db"), "--port", str(port), "--policy", str(policy)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        wait_up(port, proc)
        base = f"http://127.0.0.1:{port}"
        # the banner is on stderr before the server starts
        os.set_blocking(proc.stderr.fileno(), False)
        time.sleep(0.2)
        banner = proc.stderr.read() or ""
        key = re.search(r"^\s+(igk_\S+)$", banner, flags=re.M).group(1)
        assert f"listening on {base}" in banner and "curl" in banner
        assert get(f"{base}/v1/policy")[0] == 401
        status, info = get(f"{base}/v1/policy", key)
        assert status == 200 and info["name"] == "first"
        policy.write_text(DEFAULT.replace("name: inmail-default", "name: second"))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while get(f"{base}/v1/policy", key)[1]["name"] != "second":
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)
        policy.write_text("name: [broken")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert get(f"{base}/v1/policy", key)[1]["name"] == "second"
        assert proc.poll() is None
    finally:
        _, err = stop(proc)
    # uvicorn finishes in-flight requests, then re-raises SIGTERM (exit -15) on purpose.
    assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Application shutdown complete" in err


@pytest.mark.parametrize(("env", "flags", "message"), [
    ({"INMAIL_GUARD_EVENTS_RETENTION": "soon"}, [],
     "Error: INMAIL_GUARD_EVENTS_RETENTION: expected a duration"),
    ({"INMAIL_GUARD_WEBHOOK_URL": "http://127.0.0.1:1/", "INMAIL_GUARD_WEBHOOK_SECRET": "s",
      "INMAIL_GUARD_WEBHOOK_TIMEOUT": "abc"}, ["--dispatch-events"],
     "Error: INMAIL_GUARD_WEBHOOK_TIMEOUT: expected a number of seconds above 0"),
])
def test_a_bad_events_variable_is_refused_before_serving(tmp_path: Path, env, flags, message):
    from click.testing import CliRunner

    from inmail_guard.cli.serve import serve as serve_command

    result = CliRunner().invoke(serve_command, ["--db", str(tmp_path / "x.db"), *flags],
                                env={**env, "INMAIL_GUARD_API_KEYS": "t:service:k-test"})
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(("db", "message"), [
    ("bogus://x", "Error: --db bogus://x: unsupported database 'bogus': use sqlite or"
                  " postgresql\n"),
    ("sqlite:///:memory:", "Error: --db sqlite:///:memory:: use a SQLite file, not an in-memory"
                           " database: the service, its dispatcher and other processes share"
                           " the file\n"),
])
def test_a_database_it_cannot_use_is_refused_before_serving(db, message):
    from click.testing import CliRunner

    from inmail_guard.cli.serve import serve as serve_command

    result = CliRunner().invoke(serve_command, ["--db", db],
                                env={"INMAIL_GUARD_API_KEYS": "t:service:k-test"})
    assert (result.exit_code, result.output) == (1, message)


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_huge_header_is_431_not_held_in_memory(tmp_path: Path, workers: str):
    # httptools had no bound: a 50 MB header was read whole and the request served.
    port = free_port()
    proc = serve(tmp_path, "--port", str(port), "--workers", workers,
                 env={"INMAIL_GUARD_API_KEYS": "t:service:k-test"})
    try:
        wait_up(port, proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\nX-Big: " + b"x" * 100_000
                      + b"\r\n\r\n")
            answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b'"code": "headers_too_large"' in answer
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        stop(proc)


@pytest.mark.slow
def test_broken_policy_is_refused_at_start(tmp_path: Path):
    policy = tmp_path / "bad.yaml"
    policy.write_text(DEFAULT + "\nbogus_key: 1\n")
    proc = serve(tmp_path, "--policy", str(policy), "--port", str(free_port()))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "bogus_key" in err


@pytest.mark.slow
def test_two_workers_with_keys_from_env(tmp_path: Path):
    port = free_port()
    proc = serve(tmp_path, "--port", str(port), "--workers", "2",
                 env={"INMAIL_GUARD_API_KEYS": "t:service:k-test"})
    try:
        wait_up(port, proc)
        base = f"http://127.0.0.1:{port}"
        for _ in range(6):
            assert get(f"{base}/v1/policy", "k-test")[0] == 200
        assert get(f"{base}/readyz")[0] == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            text = r.read().decode()
        # multiprocess mode adds the workers up
        total = sum(float(m) for m in re.findall(
            r'inmail_guard_http_requests_total\{method="GET",route="/v1/policy",'
            r'status="200"\} ([\d.]+)', text))
        assert total == 6
    finally:
        _, err = stop(proc)
    assert "igk_" not in err  # keys were configured: nothing generated


@pytest.mark.slow
def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path):
    port = free_port()
    proc = serve(tmp_path, "--port", str(port), env={"INMAIL_GUARD_API_KEYS": "t:service:k-t"})
    try:
        wait_up(port, proc)
        body = json.dumps({
            "message": {"sender_id": "a", "recipient_id": "b", "subject": "Hi", "body": "Hello"},
            "facts": {"sender": {"id": "a", "plan": "premium_business"},
                      "recipient": {"id": "b"}, "now": "2026-11-27T09:00:00Z"}}).encode()
        head = (f"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k-t\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(head + body[:20])           # the request is now in flight
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)      # shutdown starts while we are mid-body
            time.sleep(0.5)
            assert proc.poll() is None            # still waiting for us
            s.sendall(body[20:])
            response = b""
            while b"\r\n\r\n" not in response:
                chunk = s.recv(4096)
                if not chunk:
                    break
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        proc.wait(timeout=30)
    finally:
        stop(proc)


def test_a_policy_the_inmail_service_cannot_run_is_refused_before_serving(tmp_path: Path):
    from click.testing import CliRunner

    from inmail_guard.cli.serve import serve as serve_command

    policy = tmp_path / "p.yaml"
    policy.write_text("name: t\nextends: builtin:default\nrules_mode: {credits: shadow}\n")
    result = CliRunner().invoke(serve_command, ["--policy", str(policy), "--db",
                                                str(tmp_path / "x.db")],
                                env={"INMAIL_GUARD_API_KEYS": "t:service:k-test"})
    assert result.exit_code == 1
    assert "rules_mode.credits: expected enforce for the InMail service" in result.output


def _workers_of(parent: int) -> list[int]:
    """The worker processes of a ``serve --workers N`` supervisor (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers through /proc")
def test_with_every_worker_dead_requests_get_503_at_once_not_a_hang(tmp_path: Path):
    port = free_port()
    proc = serve(tmp_path, "--port", str(port), "--workers", "2", "--no-access-log",
                 env={"INMAIL_GUARD_API_KEYS": "t:service:k-t"})
    try:
        wait_up(port, proc)
        workers = _workers_of(proc.pid)
        assert len(workers) == 2
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        # The supervisor restarts them, which takes seconds (policy, model, database); until
        # one is ready, every request is answered at once by the supervisor.
        answers, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            started = time.monotonic()
            status, body = get(f"http://127.0.0.1:{port}/v1/policy", "k-t")  # 5 s timeout
            answers.append((status, round(time.monotonic() - started, 1)))
            if status == 200:
                break
            assert (status, body) == (503, {"error": {
                "code": "server_unavailable",
                "message": "no worker process can serve requests right now; retry shortly"}})
            assert time.monotonic() - started < 1.0, answers
            time.sleep(0.2)
        assert answers[-1][0] == 200, answers
        assert answers[0][0] == 503  # the workers were still restarting
        assert len(_workers_of(proc.pid)) == 2
    finally:
        stop(proc)
