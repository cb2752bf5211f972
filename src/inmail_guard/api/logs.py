"""Structured JSON log lines. Message bodies never appear: only their length and sha256.

Loggers: ``inmail_guard.api.access`` (one line per request: method, route, status, duration,
request id, decision id when there is one) and ``inmail_guard.api.decision`` (one line per
decision: id, outcome, reason codes, policy version, sender, recipient, body length and
sha256).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

access_log = logging.getLogger("inmail_guard.api.access")
decision_log = logging.getLogger("inmail_guard.api.decision")

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "color_message"}


class JSONFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stderr for inmail_guard and uvicorn loggers (server processes only)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    for name in ("inmail_guard", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # Our access log replaces uvicorn's (which has no decision id).
    logging.getLogger("uvicorn.access").disabled = True


def body_fingerprint(body: str) -> dict[str, Any]:
    """What may be logged about a message body."""
    return {"body_len": len(body),
            "body_sha256": hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()}


def log_decision(decision: Any, message: Any, *, route: str, request_id: str) -> None:
    if not decision_log.isEnabledFor(logging.INFO):
        return
    decision_log.info(
        "decision",
        extra={
            "decision_id": decision.decision_id,
            "outcome": decision.outcome,
            "codes": list(decision.codes),
            "policy_version": decision.policy.version,
            "sender_id": message.sender_id,
            "recipient_id": message.recipient_id,
            "subject_len": len(message.subject),
            "route": route,
            "request_id": request_id,
            **body_fingerprint(message.body),
        },
    )
