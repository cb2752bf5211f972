"""The *InMail form* of a labelled text: how a training or evaluation row becomes an InMail.

Training data comes as texts (an SMS, an e-mail starting with a ``Subject:`` line, a message
exported from the store); the ``classifier`` detector scores InMails, shown to the model as
:func:`~inmail_guard.models.features.inmail_text` of the subject and the *rendered* body. A
model is right on InMail text only if it is trained on text in that same form, so training
(``TrainParams.inmail_form``) and end-to-end evaluation (``workflow/endtoend.py``) both turn
each row into an InMail here, the same way.
"""

from __future__ import annotations

from inmail_guard.body import parse_body
from inmail_guard.models.features import INMAIL_HEADER, inmail_text

#: The subject an InMail-form row gets when its text has no ``Subject:`` line (SMS-like rows).
NEUTRAL_SUBJECT = "Hello"
#: The shipped policy's body limit (``content.body.max_chars``): the most an InMail carries.
BODY_CHARS = 3000


def inmail_form(text: str, max_body_chars: int | None = None) -> tuple[str, str, bool]:
    """``(subject, body, cut)``: how a labelled text is sent as an InMail.

    * A first line ``Subject: ...`` (any case: e-mail rows) gives the subject; the rest of the
      text, leading blank lines dropped, is the body. An empty subject becomes
      :data:`NEUTRAL_SUBJECT`; an empty body becomes the subject (an InMail needs both).
    * Any other text (SMS-like rows) is the body, under :data:`NEUTRAL_SUBJECT`.
    * A body longer than ``max_body_chars`` (the policy's body limit) is cut at the last
      whitespace before the limit (or at the limit when there is none): an InMail cannot
      carry more, so a sender would have had to shorten it. ``cut`` says it was.
    """
    first, newline, rest = text.partition("\n")
    if first.lstrip().lower().startswith("subject:"):
        subject = first.lstrip()[len("subject:"):].strip() or NEUTRAL_SUBJECT
        body = rest.lstrip("\r\n") if newline else ""
        if not body.strip():
            body = subject
    else:
        subject, body = NEUTRAL_SUBJECT, text
    cut = max_body_chars is not None and len(body) > max_body_chars
    if cut:
        assert max_body_chars is not None
        head = body[:max_body_chars + 1]
        space = max(head.rfind(" "), head.rfind("\n"))
        body = body[:space].rstrip() if space > 0 else body[:max_body_chars]
    return subject, body, cut


def model_input(text: str, max_body_chars: int = BODY_CHARS) -> str:
    """What the ``classifier`` detector would show the model if ``text`` were sent as an
    InMail: :func:`inmail_form`, the body rendered as the engine renders it. A text already in
    that form (it starts with the ``InMail-Subject:`` header) is returned as it is."""
    if text.startswith(INMAIL_HEADER):
        return text
    subject, body, _ = inmail_form(text, max_body_chars)
    return inmail_text(subject, parse_body(body, max_source_chars=max_body_chars).text)
