"""Request and response models of the HTTP API, with the examples /docs shows.

Requests reuse the engine's own dataclasses (:class:`~inmail_guard.Message`,
:class:`~inmail_guard.Facts`, ...): they carry ``extra="forbid"`` and pydantic validates them
directly, so there is one definition of every field. Responses are documented here but the
hot paths return ``Decision.to_dict()`` as-is (no second validation per request); the tests
check that the two agree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inmail_guard.engine.types import Facts, Flag, Message, PhotoUrl
from inmail_guard.engine.wire import EvaluateRequest
from inmail_guard.memberids import ONE_LINE_PATTERN
from inmail_guard.store.tables import abuse_reports, members, restrictions

#: Text without a NUL character (U+0000): PostgreSQL's text types cannot hold one, and the
#: service refuses it (422 ``invalid_request``) in whatever it stores.
NO_NUL = "^[^\\x00]*$"

NOW = "2026-11-27T09:00:00Z"

MESSAGE_EXAMPLE: dict[str, Any] = {
    "sender_id": "m-alice",
    "recipient_id": "m-bob",
    "subject": "Platform engineering role at Acme",
    "body": "Hi Bob,\n\nI enjoyed your talk on **pluggy**. Would you be open to a chat?",
    "tags": ["q4-hiring"],
    "crm": {"lead_id": "L-1001"},
    "idempotency_key": "send-7f3a",
}

FACTS_EXAMPLE: dict[str, Any] = {
    "sender": {"id": "m-alice", "plan": "recruiter_lite"},
    "recipient": {"id": "m-bob", "plan": "basic"},
    "now": NOW,
    "connection_degree": 3,
    "credits_used": 4,
}

DECISION_EXAMPLE: dict[str, Any] = {
    "decision_id": "5b0e3c1f9d2a4c6e8b7a1f0e2d3c4b5a",
    "outcome": "accepted",
    "reasons": [],
    "spam": {"score": 0.0, "reject_at": 10.0, "restrict_at": 15.0, "signals": []},
    "credits": {"plan": "recruiter_lite", "limit": 25, "used": 4, "remaining": 21,
                "window_end": "2026-12-01T00:00:00Z"},
    "shadow": [],
    "restrict_sender_until": None,
    "restricted_until": None,
    "advice": [],
    "policy": {"name": "inmail-default", "version": "sha256:f59418f2f6bc..."},
    "evaluated_at": NOW,
    "duration_ms": 0.081,
}

REJECTED_EXAMPLE: dict[str, Any] = {
    **DECISION_EXAMPLE,
    "outcome": "rejected",
    "reasons": [{"code": "recipient_opted_out", "rule": "eligibility.honor_opt_out",
                 "detail": "recipient m-bob does not accept InMail",
                 "sender_message": "This member isn't accepting InMail right now."}],
}


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ReasonOut(_Out):
    code: str = Field(description="Stable reason code, e.g. recipient_opted_out.")
    rule: str = Field(description="The policy path of the rule that decided.")
    detail: str = Field(description="Internal explanation; not for the sender.")
    sender_message: str = Field(description="Text safe to show the sender.")


class SignalOut(_Out):
    detector: str
    score: float
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = Field(None, description="Present when the detector raised.")
    shadow: bool | None = Field(None, description="Present (true) for shadow-mode detectors.")


class SpamOut(_Out):
    score: float
    reject_at: float
    restrict_at: float
    signals: list[SignalOut]
    skipped: list[str] | None = None
    skipped_reason: str | None = None


class CreditsOut(_Out):
    plan: str
    limit: int
    used: int
    remaining: int
    window_end: str = Field(description="End of the credit window (UTC, ISO 8601).")


class ShadowOut(_Out):
    code: str
    rule: str
    detail: str = ""


class AdviceOut(_Out):
    code: str
    message: str


class PolicyRefOut(_Out):
    name: str
    version: str = Field(description="sha256 of the normalised policy that made the decision.")


class DecisionOut(_Out):
    """The Decision JSON (docs/decisions.md)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [DECISION_EXAMPLE, REJECTED_EXAMPLE]})

    decision_id: str
    outcome: Literal["accepted", "rejected"]
    reasons: list[ReasonOut]
    spam: SpamOut
    credits: CreditsOut | None
    shadow: list[ShadowOut]
    restrict_sender_until: str | None
    restricted_until: str | None = None
    advice: list[AdviceOut]
    policy: PolicyRefOut
    evaluated_at: str
    duration_ms: float


EVALUATE_EXAMPLES: dict[str, Any] = {
    "accepted": {"summary": "An out-of-network recruiter with credits left",
                 "value": {"message": MESSAGE_EXAMPLE, "facts": FACTS_EXAMPLE}},
    "opted_out": {"summary": "The recipient does not accept InMail (rejected, still HTTP 200)",
                  "value": {"message": MESSAGE_EXAMPLE,
                            "facts": {**FACTS_EXAMPLE, "recipient": {
                                "id": "m-bob", "accepts_inmail": False}}}},
}


class ErrorDetail(_Out):
    code: str = Field(description="Stable error code, e.g. not_found, validation_error.")
    message: str = Field(description="What went wrong, for people.")
    field: str | None = Field(None, description="Dotted path of the offending request field.")
    issues: list[dict[str, str]] | None = Field(
        None, description="Every problem found, each `{field, message}` (validation errors;"
        " a policy reload's `policy_invalid` has its own shape, PolicyInvalidOut).")


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "validation_error", "message": "message.sender_id: is required",
                   "field": "message.sender_id",
                   "issues": [{"field": "message.sender_id", "message": "is required"}]}},
        {"error": {"code": "not_found", "message": "no InMail 'im-404'"}},
    ]})

    error: ErrorDetail


class PolicyIssueOut(BaseModel):
    """One problem in a policy file: an issue of `inmail-guard policy validate --format json`,
    with the same keys and types."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "file": "policy.yaml", "line": 6, "column": 28, "path": "plans.basic.monthly_credits",
        "expected": "an integer", "found": "'ten' (string)",
        "message": "expected an integer, found 'ten' (string)"}]})

    file: str | None = Field(description="The policy file, or the file it extends that has"
                                         " the problem.")
    line: int | None = Field(description="1-based line; null when no position is known (a"
                                         " check only the service makes).")
    column: int | None = Field(description="1-based column; null when no position is known.")
    path: str = Field(description="Dotted key path, e.g. `spam.detectors.volume.per_hour`;"
                                  " empty for the whole document.")
    expected: str = Field(description="What was expected there (may be empty).")
    found: str = Field(description="What was found there (may be empty).")
    message: str = Field(description="The whole problem, for people.")


class PolicyInvalidDetail(_Out):
    code: Literal["policy_invalid"]
    message: str = Field(description="What went wrong, for people.")
    issues: list[PolicyIssueOut] = Field(description="Every problem found, in file order.")
    active_version: str = Field(description="The version of the policy that stays active.")


class PolicyInvalidOut(BaseModel):
    """A reload refused: the old policy stays active."""

    error: PolicyInvalidDetail


class PolicyInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "inmail-default", "version": "sha256:f59418f2f6bc...",
        "source": "builtin:default", "loaded_at": NOW, "detectors": ["test_string"],
        "shadow": []}]})

    name: str
    version: str
    source: str = Field(description="The file it was loaded from, or builtin:default.")
    loaded_at: str
    detectors: list[str] = Field(description="Enabled detectors, in evaluation order.")
    shadow: list[str] = Field(description="Rules and detectors in shadow mode.")


class PolicyReloadOut(BaseModel):
    changed: bool = Field(description="False when the reloaded policy has the same version.")
    previous: PolicyInfo
    active: PolicyInfo


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="Each check: ok, or what is wrong.")


__all__ = [
    "DecisionOut",
    "ErrorOut",
    "EvaluateRequest",
    "Facts",
    "HealthOut",
    "Message",
    "PolicyInfo",
    "PolicyInvalidOut",
    "PolicyIssueOut",
    "PolicyReloadOut",
    "ReadyOut",
]


# --- the stateful API (InMailService) ----------------------------------------------------------

INMAIL_EXAMPLE: dict[str, Any] = {
    "id": "im-9c1d2e", "sender_id": "m-alice", "recipient_id": "m-bob",
    "subject": "Platform engineering role at Acme", "status": "delivered",
    "tags": ["q4-hiring"], "crm": {"lead_id": "L-1001"},
    "decision_id": "5b0e3c1f9d2a4c6e8b7a1f0e2d3c4b5a", "sent_at": NOW,
    "expires_at": "2026-12-04T09:00:00Z", "retract_until": "2026-12-04T09:00:00Z",
    "opened_at": None, "replied_at": None, "retracted_at": None, "reported_at": None,
    "conversation_id": None,
}

InMailStatus = Literal["delivered", "opened", "replied", "expired", "retracted", "reported"]


class SendRequest(BaseModel):
    """Compose and send in one call (there are no drafts)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"message": MESSAGE_EXAMPLE}]})

    message: Message


class InMailOut(_Out):
    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [{**INMAIL_EXAMPLE, "body": MESSAGE_EXAMPLE["body"]}]})

    id: str
    sender_id: str
    recipient_id: str
    subject: str
    status: InMailStatus
    tags: list[str]
    crm: dict[str, str]
    decision_id: str | None
    sent_at: str
    expires_at: str
    retract_until: str
    opened_at: str | None
    replied_at: str | None
    retracted_at: str | None
    reported_at: str | None
    conversation_id: str | None
    body: str | None = Field(None, description="Markdown source; only in open and GET (the"
                             " sender's, and the recipient's once they opened it).")


class SendOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": DECISION_EXAMPLE, "inmail": INMAIL_EXAMPLE, "replayed": False}]})

    decision: DecisionOut
    inmail: InMailOut | None = Field(description="The stored InMail (no body); null if rejected.")
    replayed: bool = Field(False, description="True when the idempotency key was seen before:"
                           " this is the first answer again and nothing was spent.")


class ActingMember(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"member_id": "m-bob"}]})

    member_id: str = Field(min_length=1, description="The member doing this (acting member).")


#: Python's ``str.isspace`` characters, which the service strips to find an empty message (a
#: JSON-schema ``\\s`` is another set: it has U+FEFF and lacks U+001C-U+001F and U+0085).
_SPACES = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
#: A message: something besides spaces, and no NUL character (the store cannot hold one).
MESSAGE_TEXT = f"^[^\\x00]*[^\\x00{_SPACES}][^\\x00]*$"


class ReplyRequest(ActingMember):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"member_id": "m-bob", "body": "Thanks Alice, happy to talk on Friday."}]})

    body: str = Field(
        description="The reply (Markdown subset), a regular message: not blank, and within the"
        " policy's `content.body.max_chars` once rendered (422 `invalid_request` otherwise).",
        json_schema_extra={"pattern": MESSAGE_TEXT})


class ReportRequest(ActingMember):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"member_id": "m-bob", "reason": "unsolicited sales pitch"}]})

    reason: str = Field("", max_length=abuse_reports.c.reason.type.length,
                        json_schema_extra={"pattern": NO_NUL})


class PostRequest(ReplyRequest):
    pass


class ConversationMessageOut(_Out):
    id: str
    conversation_id: str
    author_id: str
    body: str
    sent_at: str


class ConversationOut(_Out):
    id: str
    inmail_id: str
    participants: list[str]
    created_at: str
    messages: list[ConversationMessageOut]


class RetractOut(_Out):
    inmail_id: str
    retracted_at: str
    was_opened: bool


class RestrictionOut(_Out):
    id: str
    member_id: str
    starts_at: str
    until: str
    cause: str
    lifted_at: str | None
    lifted_by: str | None


class ReportOut(_Out):
    report_id: str
    inmail_id: str
    sender_reports_in_window: int
    restriction: RestrictionOut | None


class SenderCardOut(_Out):
    id: str
    name: str | None
    photo_url: str | None


class InboxItemOut(_Out):
    inmail_id: str
    sender: SenderCardOut
    subject: str
    preview: str
    status: InMailStatus
    sent_at: str
    expires_at: str
    opened_at: str | None
    conversation_id: str | None


class InboxOut(BaseModel):
    member_id: str
    items: list[InboxItemOut]


class LastMessageOut(_Out):
    author_id: str | None
    preview: str = Field(description="The latest message's rendered text, cut like an inbox"
                         " preview.")


class ConversationSummaryOut(_Out):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    inmail_id: str
    subject: str = Field(description="The subject of the InMail the conversation began as.")
    with_member: SenderCardOut = Field(alias="with", description="The other participant.")
    created_at: str
    last_message_at: str
    last_message: LastMessageOut
    unread: int = Field(ge=0, description="Messages from the other participant that this"
                        " member has not marked read.")


class ConversationsOut(BaseModel):
    member_id: str
    items: list[ConversationSummaryOut]


class ReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"member_id": "m-alice"}]})

    member_id: str = Field(min_length=1, max_length=200, description="The acting participant.")


class SentOut(BaseModel):
    member_id: str
    items: list[InMailOut]


#: What the store keeps of a member's name (the service refuses more with 422
#: ``invalid_request``); for the OpenAPI document (the service's message is the one returned).
#: No control character or bidi embedding, override or isolate either (the service names one).
_DISPLAYED = ONE_LINE_PATTERN
_NAME: dict[str, Any] = {"anyOf": [
    {"type": "string", "maxLength": members.c.name.type.length, "pattern": _DISPLAYED},
    {"type": "null"}]}


#: The same for the profile details (headline, company, role).
_PROFILE: dict[str, Any] = {"anyOf": [
    {"type": "string", "maxLength": members.c.headline.type.length, "pattern": _DISPLAYED},
    {"type": "null"}]}


class MemberIn(BaseModel):
    """A member's attributes for ``PUT`` (the id is in the path): every one is required, so a
    ``PUT`` never resets an attribute by leaving it out. ``PATCH`` changes only what it names
    (:class:`MemberPatch`). Mirrors :class:`~inmail_guard.Member`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"plan": "recruiter_lite", "profile_public": True, "accepts_inmail": True,
         "is_employee": False, "name": "Alice Example", "photo_url": None,
         "headline": "Hiring data engineers at Acme", "company": "Acme", "role": "Recruiter"}]})

    plan: str = Field(min_length=1)
    profile_public: Flag
    accepts_inmail: Flag = Field(description="false is the InMail opt-out.")
    is_employee: Flag
    name: str | None = Field(description="null when unknown.", json_schema_extra=_NAME)
    photo_url: PhotoUrl | None = Field(
        description="An http:// or https:// URL, at most 2,000 characters; null for none.")
    headline: str | None = Field(description="Profile headline; null when unknown.",
                                 json_schema_extra=_PROFILE)
    company: str | None = Field(description="Current company; null when unknown.",
                                json_schema_extra=_PROFILE)
    role: str | None = Field(description="Current role or job title; null when unknown.",
                             json_schema_extra=_PROFILE)


class MemberPatch(BaseModel):
    """``PATCH /v1/members/{id}``: a JSON merge patch (RFC 7396). Only the attributes named
    change; ``null`` clears ``name``, ``photo_url``, ``headline``, ``company`` or ``role``
    (the other attributes cannot be null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"plan": "recruiter_corporate"}, {"accepts_inmail": False}, {"photo_url": None}]})

    # A default of None that is never validated marks "not given"; an explicit null for these
    # is refused by their non-null types.
    plan: str = Field(None, min_length=1)  # type: ignore[assignment]
    profile_public: Flag = None  # type: ignore[assignment]
    accepts_inmail: Flag = Field(None, description="false is the InMail opt-out.")  # type: ignore[assignment]
    is_employee: Flag = None  # type: ignore[assignment]
    name: str | None = Field(None, json_schema_extra=_NAME)
    photo_url: PhotoUrl | None = Field(
        None, description="An http:// or https:// URL, at most 2,000 characters.")
    headline: str | None = Field(None, json_schema_extra=_PROFILE)
    company: str | None = Field(None, json_schema_extra=_PROFILE)
    role: str | None = Field(None, json_schema_extra=_PROFILE)

    def changes(self) -> dict[str, object]:
        """The attributes the patch names, with their new values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class MemberOut(_Out):
    id: str
    plan: str
    profile_public: bool
    accepts_inmail: bool
    is_employee: bool
    name: str | None = None
    photo_url: str | None = None
    headline: str | None = None
    company: str | None = None
    role: str | None = None


class RestrictionStateOut(BaseModel):
    member_id: str
    restriction: RestrictionOut | None


class LiftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"note": "false positive, ticket OPS-123"}]})

    note: str = Field("", max_length=restrictions.c.note.type.length,
                      json_schema_extra={"pattern": NO_NUL})


class LiftOut(BaseModel):
    member_id: str
    lifted: int = Field(description="How many restrictions in force were lifted (0 if none).")


class CountsOut(_Out):
    sent: int
    delivered: int = Field(description="Delivery is synchronous: equal to sent.")
    opened: int
    replied: int
    expired: int = Field(description="Unopened after lifecycle.expire_unopened_after (and"
                                     " neither retracted nor reported).")
    retracted: int
    open_rate: float = Field(description="opened / delivered (0 when none was delivered).")
    response_rate: float = Field(description="replied / delivered.")
    expiry_rate: float = Field(description="expired / delivered.")
    retraction_rate: float = Field(description="retracted / delivered.")


class GroupCountsOut(CountsOut):
    key: str | None = Field(description="The group: a sender id, CRM account or lead id (null"
                                        " for InMail without one), tag, or period.")


class AnalyticsFiltersOut(_Out):
    sender_id: str | None
    tag: str | None
    since: str | None
    until: str | None


_COUNTS_EXAMPLE = {"sent": 40, "delivered": 40, "opened": 22, "replied": 9, "expired": 6,
                   "retracted": 2, "open_rate": 0.55, "response_rate": 0.225,
                   "expiry_rate": 0.15, "retraction_rate": 0.05}
ANALYTICS_EXAMPLE = {
    "filters": {"sender_id": None, "tag": "q4-outreach", "since": "2026-11-01T00:00:00Z",
                "until": "2026-12-01T00:00:00Z"},
    "total": _COUNTS_EXAMPLE,
    "group_by": "account",
    "groups": [{"key": "001Dn00000AcmeX", **_COUNTS_EXAMPLE}],
}
ANALYTICS_CSV_EXAMPLE = (
    "row,key,sent,delivered,opened,replied,expired,retracted,open_rate,response_rate,"
    "expiry_rate,retraction_rate\r\n"
    "group,001Dn00000AcmeX,40,40,22,9,6,2,0.55,0.225,0.15,0.05\r\n"
    "total,,40,40,22,9,6,2,0.55,0.225,0.15,0.05\r\n")


class AnalyticsOut(_Out):
    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [ANALYTICS_EXAMPLE]})

    filters: AnalyticsFiltersOut
    total: CountsOut
    group_by: str | None
    groups: list[GroupCountsOut]
