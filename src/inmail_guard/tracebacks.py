"""Tracebacks for logs that must not quote a request: every frame, each exception's type, and
no exception message.

The message of an arbitrary exception raised while handling a send may quote its input: ``int(
message.body)`` fails with ``invalid literal for int() with base 10: '<the body>'``, a plugin
may raise ``ValueError(f"cannot score {message.body}")``. ``logging``'s own ``exc_info``
prints that message (and the message of every exception in the chain), so where the exception
comes from handling a request the log gets :func:`redacted` instead: where it failed (file,
line, function and the source line, never a value) and what type of exception it was.

A leaf module: every layer may import it, and it imports nothing from the package.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

__all__ = ["HIDDEN", "redacted"]

HIDDEN = "(message not logged: it may quote the request)"


def redacted(exc: BaseException) -> str:
    """``exc``'s traceback as ``logging`` prints it, each exception's message replaced by
    :data:`HIDDEN`."""
    return "".join(_lines(traceback.TracebackException.from_exception(exc), set()))


def _lines(te: traceback.TracebackException, seen: set[int]) -> Iterator[str]:
    seen.add(id(te))
    cause, context = te.__cause__, te.__context__
    if cause is not None and id(cause) not in seen:
        yield from _lines(cause, seen)
        yield "\nThe above exception was the direct cause of the following exception:\n\n"
    elif context is not None and not te.__suppress_context__ and id(context) not in seen:
        yield from _lines(context, seen)
        yield "\nDuring handling of the above exception, another exception occurred:\n\n"
    if te.stack:
        yield "Traceback (most recent call last):\n"
        yield from te.stack.format()
    yield f"{_type_name(te)}: {HIDDEN}\n"


def _type_name(te: traceback.TracebackException) -> str:
    name = getattr(te, "exc_type_str", None)  # Python 3.13+
    if name:
        return str(name)
    cls = te.exc_type
    if cls is None:
        return "Exception"
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
