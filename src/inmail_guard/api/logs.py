"""Structured JSON log lines. Message bodies never appear: only their length and sha256.

``inmail_guard.api.access`` writes one line per request: method, route, status, duration,
request id, key name and, for a request that made a decision, the decision: id, outcome,
reason codes, policy version, sender, recipient, subject length, body length and sha256. One
line rather than two because at thousands of requests/s the logging is a real share of the
CPU time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; stay usable without it
    orjson = None  # type: ignore[assignment]

access_log = logging.getLogger("inmail_guard.api.access")

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "color_message"}


class JSONFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
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
        if orjson is not None:
            return orjson.dumps(out, default=str).decode()
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


def log_decision(decision: Any, message: Any, state: Any) -> None:
    """Attach the decision's log fields to the request; the access line carries them."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    state.decision_log = {
        "outcome": decision.outcome,
        "codes": list(decision.codes),
        "policy_version": decision.policy.version,
        "sender_id": message.sender_id,
        "recipient_id": message.recipient_id,
        "subject_len": len(message.subject),
        **body_fingerprint(message.body),
    }
