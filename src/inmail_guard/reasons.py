"""Reason codes (a public contract) and the sender-safe message for each.

A sender message never reveals that the recipient blocked the sender or opted out, nor that the
sender is on a ban list or that a spam detector fired in detail.
"""

from __future__ import annotations

NOT_ACCEPTING = "This member isn't accepting InMail right now."

SENDER_MESSAGES: dict[str, str] = {
    "plan_has_no_credits": "Your plan doesn't include InMail credits. Upgrade to send InMail.",
    "credits_exhausted": "You've used all your InMail credits for this month.",
    "recipient_is_connection": "You're already connected. Send a regular message instead.",
    "recipient_profile_not_public": NOT_ACCEPTING,
    "recipient_opted_out": NOT_ACCEPTING,
    "sender_blocked_by_recipient": NOT_ACCEPTING,
    "recipient_protected": NOT_ACCEPTING,
    "recipient_has_pending_inmail": (
        "You already have an InMail waiting for this member. You can send another after they reply."
    ),
    "sender_banned": "Your account can't send InMail.",
    "sender_restricted": "Your ability to send InMail is temporarily limited.",
    "self_message": "You can't send an InMail to yourself.",
    "subject_missing": "Add a subject line.",
    "subject_too_long": "Shorten the subject line.",
    "body_missing": "Write a message.",
    "body_too_long": "Shorten your message.",
    "attachment_not_allowed": "Attachments can't be sent with InMail.",
    "image_not_allowed": "Images can't be sent with InMail.",
    "formatting_not_allowed": "Your message uses formatting that InMail doesn't support.",
    "spam_detected": "This message looks like spam and wasn't sent.",
    "detector_failed": "We couldn't check this message right now. Please try again later.",
}

REASON_CODES: frozenset[str] = frozenset(SENDER_MESSAGES)

# Codes a policy may give a blocklist (what the rejection says when the list matches).
BLOCKLIST_CODES = ("recipient_protected", "sender_banned", "recipient_opted_out")
