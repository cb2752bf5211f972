"""Bounds every edge validates counts against: the engine's facts, the policy's plans and
credits, a model card's row counts. A leaf module, so that each of them reads one definition
without importing another layer."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

#: The largest count a fact or a policy may hold: the store's integer columns (32-bit on
#: PostgreSQL) hold no more, and every sum of two stays within JSON's 64-bit integers.
MAX_COUNT = 2**31 - 1
#: A JSON integer (never a bool, float or string) from 0 to :data:`MAX_COUNT`.
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
