"""pydantic models of a policy (docs/policies.md, "Every key"). Strict: an unknown key is an error.

These models validate the YAML once, at the edge; the engine compiles the result into plain
lookups (sets, ints) so evaluation never touches pydantic.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from inmail_guard.bounds import MAX_COUNT
from inmail_guard.memberids import ONE_LINE_PATTERN, id_problem
from inmail_guard.reasons import BLOCKLIST_CODES

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FORMATTING = ("bold", "italic", "strikethrough", "bullet_list", "numbered_list", "link")
MEMBER_ATTRIBUTES = ("plan", "profile_public", "accepts_inmail", "is_employee")


def parse_duration(value: Any) -> timedelta:
    """``7d``, ``24h``, ``30m``, ``5s``, ``2w`` -> timedelta. Plain numbers are not accepted."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(
        f"expected a duration such as 7d, 24h, 30m or 5s (a whole number and one of s, m, h, d, w),"
        f" found {value!r}"
    )


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+[smhdw]$", "examples": ["7d", "24h", "5s"]}),
]


class _Strict(BaseModel):
    # Unknown keys are errors, and so is a value of another YAML type: pydantic's lax mode
    # read monthly_credits: "10" or true as 10 or 1, honor_opt_out: "yes" or 1 as true.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Plan(_Strict):
    monthly_credits: int = Field(
        ge=0, le=MAX_COUNT, description="InMail credits granted each window."
    )


class CreditsPolicy(_Strict):
    window: Literal["calendar_month"] = "calendar_month"
    timezone: str = Field("UTC", description="IANA time zone in which the monthly window turns.")
    rollover_cap: int = Field(
        0, ge=0, le=MAX_COUNT,
        description="Unused credits carried into the next month, at most this many.",
    )
    refund_on_response_within: Duration | None = Field(
        None, description="A credit comes back when the recipient responds within this time."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone such as UTC or Europe/Dublin, found {value!r}"
            ) from None
        return value


class Eligibility(_Strict):
    out_of_network_only: bool = True
    require_public_profile: bool = True
    honor_opt_out: bool = True
    honor_blocks: bool = True
    one_pending_per_recipient: bool = Field(
        False, description="At most one unanswered InMail from a sender to a recipient."
    )


def _member_id(value: str) -> str:
    """A blocklisted id the service could store: one with an invisible character (a zero-width
    space pasted with it) could never match a member, and the list would miss it silently."""
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"expected a member id without invisible or control characters, found"
                         f" {value!r}, which {problem}")
    return value


class Blocklist(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    applies_to: Literal["sender", "recipient"]
    ids: list[Annotated[str, AfterValidator(_member_id)]] = Field(
        default_factory=list, description="Member ids, inline.")
    file: str | None = Field(
        None, description="A text file of member ids, one per line, relative to the policy."
    )
    match: dict[str, bool | str] | None = Field(
        None, description="Member attributes that all must equal, e.g. {is_employee: true}."
    )
    code: Literal[BLOCKLIST_CODES] = "recipient_protected"  # type: ignore[valid-type]

    @field_validator("match")
    @classmethod
    def _known_attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in value or {}:
            if key not in MEMBER_ATTRIBUTES:
                raise ValueError(
                    f"expected member attributes among {', '.join(MEMBER_ATTRIBUTES)},"
                    f" found {key!r}"
                )
        return value

    @model_validator(mode="after")
    def _something_to_match(self) -> Blocklist:
        # An empty inline list is allowed (a list to fill later), so only a list without any of
        # the three keys is an error.
        if "ids" not in self.model_fields_set and self.file is None and not self.match:
            raise ValueError("expected at least one of ids, file or match")
        return self


class TextLimit(_Strict):
    required: bool = True
    max_chars: int = Field(gt=0)


class ContentPolicy(_Strict):
    subject: TextLimit = TextLimit(required=True, max_chars=200)
    body: TextLimit = TextLimit(required=True, max_chars=3000)
    formatting: list[Literal[FORMATTING]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(FORMATTING)
    )
    raw_html: Literal["text", "reject"] = Field(
        "text",
        description="HTML tags typed in a body: shown as the text typed (text), or rejected with"
        " formatting_not_allowed (reject). Only real tags count: `Alice <Head of Data>` and"
        " `<first name>` are never HTML.",
    )
    images: bool = False
    attachments: bool = False


class LifecyclePolicy(_Strict):
    expire_unopened_after: Duration = timedelta(days=7)
    retract_within: Duration = timedelta(days=7)
    preview_chars: int = Field(160, gt=0)


class RestrictionPolicy(_Strict):
    durations: list[Duration] = Field(
        default_factory=lambda: [timedelta(hours=24), timedelta(hours=72), timedelta(days=30)],
        min_length=1,
        description="First restriction, then each repeat; the last one repeats.",
    )
    on_abuse_report: bool = Field(
        True, description="Restrict the sender when their abuse reports reach the threshold."
    )


class Spam(_Strict):
    reject_at: float = Field(10.0, gt=0)
    restrict_at: float = Field(15.0, gt=0)
    restriction: RestrictionPolicy = RestrictionPolicy()
    detectors: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Detector name -> its settings (checked against the detector's Config).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Spam:
        if self.restrict_at < self.reject_at:
            raise ValueError(
                f"expected restrict_at >= reject_at, found restrict_at {self.restrict_at}"
                f" < reject_at {self.reject_at}"
            )
        return self


class Policy(_Strict):
    """A whole policy after ``extends:`` has been merged."""

    # In every decision, the decision log and a /metrics label: a line of text, not a 1 MB
    # scalar, and no control character (a newline or a bidi override in a label or a log).
    name: str = Field(min_length=1, max_length=200, pattern=ONE_LINE_PATTERN)
    description: str = ""
    extends: str | None = None
    plans: dict[str, Plan] = Field(min_length=1)
    credits: CreditsPolicy = CreditsPolicy()
    eligibility: Eligibility = Eligibility()
    blocklists: list[Blocklist] = Field(default_factory=list)
    content: ContentPolicy = ContentPolicy()
    lifecycle: LifecyclePolicy = LifecyclePolicy()
    spam: Spam = Spam()
    rules_mode: dict[str, Literal["enforce", "shadow"]] = Field(default_factory=dict)

    # Set by the loader: not part of the YAML.
    _version: str = PrivateAttr(default="sha256:unversioned")
    _source: str | None = PrivateAttr(default=None)
    _file_ids: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)

    @property
    def version(self) -> str:
        """``sha256:`` of the normalised policy (blocklist files included)."""
        return self._version

    @property
    def source(self) -> str | None:
        """The file this policy was loaded from, if any."""
        return self._source

    def blocklist_ids(self, name: str) -> frozenset[str]:
        """All ids of a blocklist: inline ``ids`` plus those of its ``file``."""
        for item in self.blocklists:
            if item.name == name:
                return frozenset(item.ids) | self._file_ids.get(name, frozenset())
        raise KeyError(name)

    @field_validator("blocklists")
    @classmethod
    def _unique_names(cls, value: list[Blocklist]) -> list[Blocklist]:
        seen: set[str] = set()
        for item in value:
            if item.name in seen:
                raise ValueError(f"expected unique blocklist names, found {item.name!r} twice")
            seen.add(item.name)
        return value


def policy_json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema()
    # An overlay (extends:) may leave name and plans to its parent, so editors must not flag
    # them as missing; the loader still requires them after merging.
    schema.pop("required", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "inmail-guard policy"
    return schema
