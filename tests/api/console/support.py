"""A real ``inmail-guard serve`` for the console tests, and demo data put in through the HTTP API
(members, InMail sent, opened, replied, retracted and reported until a sender is restricted,
and a few stateless evaluations for the Traffic page)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_KEY = "svc-console-key-0123456789"
ADMIN_KEY = "adm-console-key-9876543210"
KEYS_ENV = f"svc:service:{SERVICE_KEY},ops:admin:{ADMIN_KEY}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    log_path: Path
    policy_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(tmp: Path, *args: str, env: dict[str, str] | None = None,
          policy: str | None = None) -> Server:
    """``serve`` on a free loopback port with a service and an admin key; stderr (the access
    log) goes to ``tmp/serve.log``."""
    port = free_port()
    log_path = tmp / "serve.log"
    policy_path = None
    cmd = [sys.executable, "-c", "from inmail_guard.cli import main; main()", "serve",
           "--db", str(tmp / "console.db"), "--port", str(port), *args]
    if policy is not None:
        policy_path = tmp / "policy.yaml"
        policy_path.write_text(policy, encoding="utf-8")
        cmd += ["--policy", str(policy_path)]
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=tmp,
                            env={**os.environ, "INMAIL_GUARD_API_KEYS": KEYS_ENV,
                                 **(env or {})})
    log.close()
    server = Server(proc, port, log_path, policy_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {server.log_text()[-2000:]}")
        try:
            if call(server.base, "GET", "/readyz")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("serve did not become ready within 60 s")


def call(base: str, method: str, path: str, body: Any = None,
         key: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def _member(plan: str, name: str, **attrs: Any) -> dict[str, Any]:
    return {"plan": plan, "profile_public": True, "accepts_inmail": True,
            "is_employee": False, "name": name, "photo_url": None, "headline": None,
            "company": None, "role": None, **attrs}


SENDERS = {"rita": ("recruiter_corporate", "Rita Recruiter"),
           "sam": ("sales_navigator_team_advanced", "Sam Sales"),
           "spammy": ("recruiter_lite", "Spammy Sender")}
RECIPIENTS = [f"m{i:02d}" for i in range(1, 13)]
BODY = ("Hi {name}, I lead the data platform team at Acme. Your work on **stream processing**"
        " caught my eye: would you be open to a short call about a staff engineer role?")


def seed(base: str, key: str = ADMIN_KEY) -> dict[str, Any]:
    """Demo data through the API. Returns what the tests look for: the restricted sender."""
    def ok(status_body: tuple[int, Any], *expected: int) -> Any:
        status, body = status_body
        assert status in expected, (status, body)
        return body

    for mid, (plan, name) in SENDERS.items():
        ok(call(base, "PUT", f"/v1/members/{mid}", _member(plan, name), key), 200)
    for mid in RECIPIENTS:
        ok(call(base, "PUT", f"/v1/members/{mid}", _member("basic", f"Member {mid}"), key), 200)

    def send(sender: str, recipient: str, tag: str, subject: str) -> dict[str, Any]:
        return ok(call(base, "POST", "/v1/inmails", {"message": {
            "sender_id": sender, "recipient_id": recipient, "subject": subject,
            "body": BODY.format(name=recipient), "tags": [tag],
            "crm": {"account_id": f"acct-{recipient[-1]}"}}}, key), 201, 403)

    sent: list[tuple[str, str, str]] = []
    for i, recipient in enumerate(RECIPIENTS[:8]):
        out = send("rita", recipient, "q4-hiring" if i % 2 else "platform-team",
                   f"Staff engineer role {i}")
        if out.get("inmail"):
            sent.append((out["inmail"]["id"], "rita", recipient))
    for recipient in RECIPIENTS[:5]:
        out = send("sam", recipient, "enterprise-pilot", "Pilot for your data team")
        if out.get("inmail"):
            sent.append((out["inmail"]["id"], "sam", recipient))
    for n, (inmail_id, _sender, recipient) in enumerate(sent):
        if n % 3 != 2:
            ok(call(base, "POST", f"/v1/inmails/{inmail_id}/open", {"member_id": recipient},
                    key), 200)
        if n % 3 == 0:
            ok(call(base, "POST", f"/v1/inmails/{inmail_id}/reply",
                    {"member_id": recipient, "body": "Happy to talk, thanks."}, key), 201)
    ok(call(base, "POST", f"/v1/inmails/{sent[-2][0]}/retract", {"member_id": sent[-2][1]},
            key), 200)

    spam_ids = []
    for recipient in RECIPIENTS[8:12]:
        out = send("spammy", recipient, "blast", "Quick question")
        spam_ids.append((out["inmail"]["id"], recipient))
    restricted = None
    for inmail_id, recipient in spam_ids[:3]:
        body = ok(call(base, "POST", f"/v1/inmails/{inmail_id}/report",
                       {"member_id": recipient, "reason": "unsolicited sales pitch"}, key),
                  201)
        restricted = body.get("restriction") or restricted
    assert restricted is not None, "three reports should restrict the sender"

    for facts_plan, subject in (("basic", "Hello"), ("recruiter_lite", "Hi"),
                                ("recruiter_lite", "URGENT guaranteed income, act now")):
        ok(call(base, "POST", "/v1/evaluate", {
            "message": {"sender_id": "x1", "recipient_id": "x2", "subject": subject,
                        "body": "Make money fast, 100% guaranteed, click here now!"
                        if "URGENT" in subject else "Would you be open to a chat?"},
            "facts": {"sender": {"id": "x1", "plan": facts_plan}, "recipient": {"id": "x2"},
                      "now": "2026-11-27T09:00:00Z", "connection_degree": 2}}, key), 200)
    return {"restricted": "spammy", "senders": list(SENDERS), "sent": len(sent)}
