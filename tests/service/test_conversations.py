"""A member's conversations: the list by activity, previews, unread counts, mark-as-read (#19)."""

from __future__ import annotations

from datetime import timedelta

from .cast import error, msg


def test_a_reply_appears_in_both_participants_conversation_lists(svc, clock):
    inmail = svc.send(msg()).inmail
    assert svc.conversations("alice") == [] and svc.conversations("bob") == []
    clock.advance(timedelta(minutes=5))
    conv = svc.reply(inmail.id, "bob", "**Sounds good**, tell me more about the team.")
    (mine,) = svc.conversations("alice")
    assert (mine.id, mine.inmail_id, mine.subject) == (conv.id, inmail.id, "An opportunity")
    assert (mine.with_member.id, mine.with_member.name) == ("bob", "Bob Brown")
    assert mine.last_message_author_id == "bob"
    assert mine.last_message_preview == "Sounds good, tell me more about the team."
    assert mine.unread == 1  # the sender has not read the reply yet
    (theirs,) = svc.conversations("bob")
    assert theirs.with_member.id == "alice" and theirs.unread == 0  # one's own message


def test_unread_counts_what_the_other_wrote_since_the_last_read(svc, clock):
    conv = svc.reply(svc.send(msg()).inmail.id, "bob", "Hi Alice")
    svc.post(conv.id, "bob", "Are you there?")
    assert svc.conversations("alice")[0].unread == 2
    read = svc.mark_read(conv.id, "alice")
    assert read.unread == 0 and read.id == conv.id
    svc.post(conv.id, "alice", "Yes, sorry!")
    svc.post(conv.id, "bob", "Great")
    (alice,), (bob,) = svc.conversations("alice"), svc.conversations("bob")
    assert (alice.unread, bob.unread) == (1, 0)  # alice's own reply marked bob's earlier ones
    assert alice.last_message_preview == "Great" and alice.last_message_author_id == "bob"


def test_the_list_is_newest_activity_first_and_limited(svc, clock):
    first = svc.reply(svc.send(msg(subject="One")).inmail.id, "bob", "one")
    clock.advance(timedelta(minutes=1))
    second = svc.reply(svc.send(msg("rita", subject="Two")).inmail.id, "bob", "two")
    assert [c.id for c in svc.conversations("bob")] == [second.id, first.id]
    clock.advance(timedelta(minutes=1))
    svc.post(first.id, "alice", "bumping this")
    assert [c.id for c in svc.conversations("bob")] == [first.id, second.id]
    assert [c.id for c in svc.conversations("bob", limit=1)] == [first.id]


def test_only_a_participant_marks_read_and_lists_need_a_member(svc):
    conv = svc.reply(svc.send(msg()).inmail.id, "bob", "Hello")
    assert error(svc.mark_read, conv.id, "carol") == "not_allowed"
    assert error(svc.mark_read, "cv_nope", "alice") == "conversation_not_found"
    assert error(svc.conversations, "nobody") == "member_not_found"
    assert svc.conversations("carol") == []
    assert svc.conversations("alice")[0].unread == 1  # carol's attempt changed nothing


def test_the_service_tells_the_engine_of_shared_connections(svc):
    body = "Hi Bob, I lead the data team at Acme. Would you be open to a short call?"
    assert "mention_shared_connections" not in [a.code for a in
                                                svc.send(msg(body=body)).decision.advice]
    svc.connect("carol", "bob")  # alice - carol - bob
    svc.connect("rita", "alice")
    svc.connect("rita", "bob")  # and alice - rita - bob
    decision = svc.send(msg(subject="Another role", body=body)).decision
    assert decision.outcome == "accepted"
    assert ("mention_shared_connections", "You have 2 connections in common: mentioning one"
            " gets more replies.") in [(a.code, a.message) for a in decision.advice]


def test_a_meeting_hint_only_without_a_prior_conversation(svc, clock):
    body = "Hi Bob, great meeting you! Would you be open to a short call about the role?"
    first = svc.send(msg(body=body))
    assert "follow_up_after_meeting" in [a.code for a in first.decision.advice]
    svc.reply(first.inmail.id, "bob", "Likewise!")
    clock.advance(timedelta(days=1))
    again = svc.send(msg(subject="Following our chat", body=body)).decision
    assert again.outcome == "accepted"
    assert "follow_up_after_meeting" not in [a.code for a in again.advice]


def test_profile_details_are_stored_patched_and_reach_the_advice(svc):
    from inmail_guard import Member

    svc.put_member(Member("bob", name="Bob Brown", company="Northwind", role="Data Lead"))
    assert svc.get_member("bob").company == "Northwind"
    body = "Hi Bob, I lead the data team at Acme. Would you be open to a short call?"
    advice = {a.code: a.message for a in svc.send(msg(body=body)).decision.advice}
    assert advice["profile_specifics"] == ("Mention something specific from their profile"
                                           " (Data Lead at Northwind): specific messages get"
                                           " more replies.")
    patched = svc.patch_member("bob", {"role": None, "headline": "Ex-Northwind"})
    assert (patched.company, patched.role, patched.headline) == (
        "Northwind", None, "Ex-Northwind")
