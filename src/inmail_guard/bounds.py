"""Bounds every edge validates against: counts (the engine's facts, the policy's plans and
credits, a model card's row counts) and the years of the times a request may give. A leaf
module, so that each of them reads one definition without importing another layer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, Strict

#: The largest count a fact or a policy may hold: the store's integer columns (32-bit on
#: PostgreSQL) hold no more, and every sum of two stays within JSON's 64-bit integers.
MAX_COUNT = 2**31 - 1
#: A JSON integer (never a bool, float or string) from 0 to :data:`MAX_COUNT`.
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]


#: Years the engine's calendar arithmetic (credit windows, restrictions) can handle: a
#: restriction starting late in year 9999 would end past :class:`datetime`'s last year.
MIN_YEAR, MAX_YEAR = 1900, 9998


def year_problem(value: datetime | None) -> str | None:
    """What is wrong with ``value``'s year (outside :data:`MIN_YEAR`..:data:`MAX_YEAR`), for
    an error naming its field; None when nothing is. HTTP and ``inmail-guard evaluate`` refuse
    such a time alike."""
    if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
        return f"expected a year between {MIN_YEAR} and {MAX_YEAR}"
    return None
