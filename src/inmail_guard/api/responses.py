"""A JSON response rendered with orjson when it is installed (it is a dependency), else json.

FastAPI's ``ORJSONResponse`` is deprecated; this is the few lines we need of it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from inmail_guard import jsontext
from inmail_guard.jsontext import check_unique_keys

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; keep working without it
    orjson = None  # type: ignore[assignment]


def dumps(content: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def loads(data: bytes) -> Any:
    """Strict JSON: orjson rejects lone surrogates and NaN; a key given twice in an object is
    refused too (:mod:`inmail_guard.jsontext`). Every error is a JSONDecodeError."""
    if orjson is not None:
        value = orjson.loads(data)
        check_unique_keys(data, value)
        return value
    return jsontext.loads(data.decode("utf-8"))


class JSONBytesResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
