"""The shipped model through the default policy, as a send: a few InMails of each kind the
model card measures (issue #15), each checked for its decision AND its reason codes.

The messages are written for this test (not taken from ``corpus/inmail``): legitimate outreach
of each kind is accepted with no reason, and a scam of each kind is rejected as
``spam_detected`` with the classifier among the detectors that scored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import inmail_guard as ig

FACTS = ig.Facts(ig.Member("cat-s", "premium_business"), ig.Member("cat-r"),
                 datetime(2026, 12, 1, 12, 0, tzinfo=UTC), connection_degree=2)

HAM = {
    "recruiter": ("Backend engineer role at Corvid Health",
                  "Hi Maya,\n\nI lead engineering hiring at Corvid Health (120 people, remote in "
                  "the EU). Your work on FHIR integrations stood out. We're hiring a senior "
                  "backend engineer, salary 80-95k EUR.\n\nWould you be open to a 20-minute "
                  "call next week?\n\nThanks,\nIvo"),
    "sales": ("Expense reports for your field team",
              "Hi Carl, I noticed Ostrava Tools has grown its field sales team this year. We "
              "make an expense app that reads receipts from a photo. There's a 14-day free "
              "trial, no card needed. Worth a short demo? If not, no worries."),
    "partnership": ("Joint webinar on warehouse safety",
                    "Hello Dana,\nour training company and your sensor startup serve the same "
                    "warehouse managers. Would you like to co-host a webinar in April? We'd "
                    "share the sign-ups and the recording.\nBest, Paul"),
    "speaking": ("Talk at PyCon Ireland?",
                 "Hi Sean, I'm on the PyCon Ireland programme committee. We'd love a 30-minute "
                 "talk on your packaging work. We cover travel for speakers. Interested?"),
    "research": ("Interview for a study on remote teams",
                 "Dear Ms. Okoro, I'm a doctoral researcher at the University of Leeds studying "
                 "how remote teams onboard new staff. Would you take part in a 40-minute "
                 "anonymous interview? Participants receive a $25 voucher. The study has "
                 "ethics approval."),
    "alumni": ("Fellow Bocconi alum",
               "Hi Luca, fellow Bocconi alum here (2014). I just moved to Zurich for a role in "
               "asset management. Would you be up for a coffee some time?"),
    "investor": ("Intro from Mia",
                 "Hi Ravi, Mia from the accelerator said you're raising a seed round. I'm a "
                 "partner at Larch Ventures; we invest in B2B software in the Nordics. Would "
                 "you share your deck or have a call next week?"),
    "customer success": ("Your renewal next month",
                         "Hi Agnes, I'm your new customer success manager. Your plan renews "
                         "next month and I'd like to make sure the team gets value from it. "
                         "Could we book a 30-minute check-in? I'll bring a usage summary."),
}
SPAM = {
    "advance-fee job": ("Job offer: remote data entry",
                        "Dear Candidate, you have been selected for a remote data entry job, "
                        "$45/hour, no interview needed. Pay the refundable training fee of $120 "
                        "to start. Reply with your full name and phone number."),
    "equipment cheque": ("Your home office equipment",
                         "Welcome aboard! We will mail you a check for $3,200. Deposit it, "
                         "keep $250 and send the rest to our equipment vendor by Zelle or "
                         "Bitcoin so they can ship your laptop."),
    "payment agent": ("Part-time payment coordinator",
                      "Hello, our company needs a payment coordinator to receive customer "
                      "payments into your personal bank account and forward them to us. You "
                      "keep 10% commission. Send your name, address and bank name."),
    "crypto": ("A private trading group",
               "Hi, my uncle is an analyst who shares crypto signals with a private group. "
               "Members made 40% returns last month. Deposit $500 on the platform he uses and "
               "withdraw profits any time. Add me on WhatsApp."),
    "gift cards": ("Quick favour",
                   "Hi, it's your CEO. I'm in a meeting and need you to buy 5 Apple gift cards "
                   "of $200 each for a client. Scratch the backs and send me the codes. I'll "
                   "reimburse you today."),
    "credential phishing": ("Your account has been restricted",
                            "We detected unusual activity and restricted your account. Verify "
                            "your identity within 24 hours at https://member-verify-login."
                            "example or your account will be permanently deleted."),
    "fake invoice": ("Overdue invoice",
                     "Hello, the invoice for last month's services is overdue. Pay the $3,400 "
                     "balance today to our new bank account to avoid late fees and suspension: "
                     "https://invoice-pay-secure.example"),
    "identity harvesting": ("Next steps for your hiring",
                            "Congratulations, you are approved for the remote claims role. To "
                            "set up payroll, reply with a photo of your driver's license, your "
                            "Social Security number and your online banking login."),
    "romance": ("Hello dear",
                "Hello dear, I saw your profile and your smile caught my attention. I'm a "
                "widowed engineer on an offshore oil rig and would love to know you better. "
                "Can we talk on WhatsApp?"),
    "fake grant": ("You qualify for a grant",
                   "Congratulations! You have been approved for a $15,000 grant that does not "
                   "need to be repaid. To release the funds, pay the processing fee of $400 to "
                   "our grant officer and send a copy of your ID."),
}


@pytest.fixture(scope="module")
def engine() -> ig.Engine:
    return ig.Engine(ig.default_policy())


@pytest.mark.parametrize("kind", sorted(HAM))
def test_legitimate_outreach_is_accepted_with_no_reason(engine: ig.Engine, kind: str) -> None:
    subject, body = HAM[kind]
    decision = engine.evaluate(ig.Message("cat-s", "cat-r", subject, body), FACTS)
    assert decision.outcome == "accepted", (kind, decision.spam.signals)
    assert [r.code for r in decision.reasons] == []


@pytest.mark.parametrize("kind", sorted(SPAM))
def test_a_scam_is_rejected_as_spam_with_the_classifiers_evidence(engine: ig.Engine,
                                                                   kind: str) -> None:
    subject, body = SPAM[kind]
    decision = engine.evaluate(ig.Message("cat-s", "cat-r", subject, body), FACTS)
    assert decision.outcome == "rejected", (kind, decision.spam.signals)
    assert [r.code for r in decision.reasons] == ["spam_detected"]
    assert "classifier" in {s.detector for s in decision.spam.signals if s.score > 0}
