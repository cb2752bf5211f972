"""Replay benchmark: lines/s and peak memory replaying a 1,000,000-line decision log.

    .venv/bin/python benchmarks/bench_replay.py [LINES]

Generates LINES (default 1,000,000) synthetic records to a temporary file: a mix of plans,
credit use, recipients who opted out, 1st-degree connections, long bodies and records whose
body is stored only as a hash (one in ten), each with a recorded decision. Then replays them
through the shipped policy with one plan's credits changed (so some decisions flip), with the
recorded decisions as baseline, writing the flips to a file, exactly as
``inmail-guard replay TRAFFIC --policy NEW --flips FILE`` does. Peak RSS comes from
``resource.getrusage``: it is measured after generating (the baseline: interpreter, engine,
plugins) and after the replay; bounded memory means the two stay close whatever LINES is.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _harness import machine

from inmail_guard import default_policy, load_policy
from inmail_guard.workflow.replay import replay

PLANS = ("premium_business", "job_seeker", "recruiter_lite", "sales_navigator_team", "basic")
BODY = ("Hi Dana, I lead platform hiring at Acme. Your work on distributed queues caught my eye "
        "and I think our staff engineer opening could be a great fit. Would you be open to a "
        "short call next week? Happy to share details on the team, the scope and the package.")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate(path: Path, lines: int) -> None:
    decided = {}
    with path.open("w") as f:
        for i in range(lines):
            plan = PLANS[i % len(PLANS)]
            used = i % 13
            opted_out = i % 17 == 0
            degree = 1 if i % 29 == 0 else 2
            body = BODY * 20 if i % 97 == 0 else BODY
            message: dict = {"sender_id": f"s{i % 50_000}", "recipient_id": f"r{i}",
                             "subject": "Staff engineer role at Acme"}
            if i % 10 == 0:
                message["body_sha256"] = hashlib.sha256(body.encode()).hexdigest()
                message["body_length"] = len(body)
            else:
                message["body"] = body
            key = (plan, used, opted_out, degree, len(body))
            if key not in decided:
                decided[key] = _decide(plan, used, opted_out, degree, len(body))
            f.write(json.dumps({
                "message": message,
                "facts": {"sender": {"id": message["sender_id"], "plan": plan},
                          "recipient": {"id": message["recipient_id"],
                                        "accepts_inmail": not opted_out},
                          "connection_degree": degree, "credits_used": used,
                          "now": "2026-11-27T09:00:00Z"},
                "decision": decided[key],
            }) + "\n")


def _decide(plan: str, used: int, opted_out: bool, degree: int, length: int) -> dict:
    limits = {p: q.monthly_credits for p, q in default_policy().plans.items()}
    codes = []
    if limits[plan] == 0:
        codes.append(("plan_has_no_credits", "credits"))
    elif used >= limits[plan]:
        codes.append(("credits_exhausted", "credits"))
    if degree == 1:
        codes.append(("recipient_is_connection", "eligibility.out_of_network_only"))
    if opted_out:
        codes.append(("recipient_opted_out", "eligibility.honor_opt_out"))
    if length > 3000:
        codes.append(("body_too_long", "content.body"))
    return {"outcome": "rejected" if codes else "accepted",
            "reasons": [{"code": c, "rule": r} for c, r in codes],
            "spam": {"score": 0, "reject_at": 10, "signals": []}}


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        traffic = Path(tmp) / "traffic.jsonl"
        began = time.perf_counter()
        generate(traffic, lines)
        generated = time.perf_counter() - began
        data = yaml.safe_load(
            (Path(__file__).parents[1] / "src/inmail_guard/policies/default.yaml").read_text())
        data["plans"]["premium_business"]["monthly_credits"] = 8
        (Path(tmp) / "new.yaml").write_text(yaml.safe_dump(data))
        new = load_policy(Path(tmp) / "new.yaml")
        rss_before = peak_rss_mb()
        with traffic.open("rb") as stream, (Path(tmp) / "flips.jsonl").open("w") as flips:
            report = replay(stream, new, flips=flips)
        rss_after = peak_rss_mb()
        size_mb = traffic.stat().st_size / 1e6
    assert report.invalid == 0, report.invalid_shown
    print("### Replay: recorded decisions vs the default policy with premium_business 10 → 8")
    print()
    print("| lines | file MB | hashed bodies | flipped | seconds | lines/s |"
          " peak RSS before replay MB | peak RSS after replay MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {report.lines:,} | {size_mb:,.0f} | {report.hashed:,} | {report.flipped:,}"
          f" | {report.seconds:,.1f} | {report.lines_per_second:,.0f} | {rss_before:,.0f}"
          f" | {rss_after:,.0f} |")
    print(f"\n(generating the file took {generated:.1f} s.) Machine: {machine()}")


if __name__ == "__main__":
    main()
