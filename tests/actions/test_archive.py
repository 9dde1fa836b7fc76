import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.factories import NOW, WordEngine, make_reader, make_site, make_staff

from rostra.actions.archive import (
    export_author,
    export_site,
    forget_author,
    import_archive,
    rescore,
)
from rostra.actions.comments import edit_comment, post_comment, report_comment
from rostra.actions.moderation import moderate
from rostra.archive.disqus import read_disqus
from rostra.archive.records import ArchiveError
from rostra.archive.rostra_jsonl import read_rostra
from rostra.domain.errors import AuthorNotFound, InvalidInput
from rostra.domain.moderation import ModerationAction
from rostra.moderation.engine import ModerationEngine
from rostra.storage.tables import (
    authors,
    comments,
    moderation_log,
    outbox,
    reports,
    signals,
    stories,
)
from rostra.storage.tables import events as live_events
from rostra.storage.webhooks import WebhookStore
from rostra.testing import FakeScorer

ARCHIVES = Path(__file__).parent.parent / "fixtures" / "archives"
URL = "https://herald.example/2024/elections-résultats"
IDS = ("id", "story_id", "parent_id", "root_id", "author_id")


def _disqus():
    with (ARCHIVES / "disqus.xml").open("rb") as stream:
        return list(read_disqus(stream))


def _export(db, site):
    out = io.BytesIO()
    export_site(db, site=site, out=out, now=NOW)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _populated(db):
    """A site with an imported archive and native comments, a reply, an edit and a guest."""
    site = make_site(db)
    import_archive(db, site=site, records=_disqus(), now=NOW)
    alice = make_reader(db, site, "alice")
    first = post_comment(db, WordEngine(), site=site, author_id=alice.author_id, url=URL,
                         body="Native *comment* 🌍", now=NOW)  # fmt: skip
    post_comment(db, WordEngine(), site=site, author_id=None, guest=("Gus", "gus@example.org"),
                 url=URL, parent_id=first.comment.id, body="Guest reply", now=NOW)  # fmt: skip
    edit_comment(db, WordEngine(), site=site, reader=alice, comment_id=first.comment.id,
                 body="Native *comment*, edited", now=NOW)  # fmt: skip
    return site


def _normalised(records, slug):
    """Drop our ids; a record without an external id gets the one the import gives it."""
    out = []
    for record in records[1:]:
        record = dict(record)
        if record["type"] in ("author", "comment") and record["external_id"] is None:
            record["external_id"] = f"{slug}:{record['id']}"
        parent_id = record.get("parent_id")
        if record["type"] == "comment" and parent_id and record["parent_external_id"] is None:
            record["parent_external_id"] = f"{slug}:{record['parent_id']}"
        out.append({k: v for k, v in record.items() if k not in IDS})
    return out


def test_export_then_import_into_a_fresh_site_round_trips(db):
    site = _populated(db)
    first = _export(db, site)
    assert first[0]["type"] == "rostra-export" and first[0]["site"]["slug"] == "news"
    kinds = [r["type"] for r in first[1:]]
    assert kinds == sorted(kinds, key=["story", "author", "comment"].index)
    edited = next(r for r in first if r.get("body") == "Native *comment*, edited")
    assert [e["body"] for e in edited["edits"]] == ["Native *comment* 🌍"]

    copy = make_site(db, "copy")
    stats, _ = import_archive(db, site=copy, records=read_rostra(io.BytesIO(
        b"\n".join(json.dumps(r).encode() for r in first))), now=NOW)  # fmt: skip
    assert not stats.skipped
    second = _export(db, copy)
    assert _normalised(second, "copy") == _normalised(first, "news")


def test_records_a_database_cannot_store_are_skipped_with_reasons_and_the_rest_imported(db):
    site = _populated(db)
    records = _export(db, site)
    texts = [r for r in records if r["type"] == "comment"]
    texts[0]["body"] = "a NUL \u0000 here"  # PostgreSQL refuses NUL in text
    texts[1]["body"] = "half a pair \ud800"  # not UTF-8 at all
    named = next(r for r in records if r["type"] == "author" and r.get("name"))
    named["name"] = "Nul\u0000Name"
    data = b"\n".join(json.dumps(r).encode() for r in records)
    copy = make_site(db, "copy")
    stats, _ = import_archive(db, site=copy, records=read_rostra(io.BytesIO(data)), now=NOW)
    # The two comments are skipped, with their reasons; the author's name loses its NUL.
    assert dict(stats.skipped) == {"NUL character in comment": 1,
                                   "lone surrogate (not UTF-8) in comment": 1}
    assert stats.comments_created == len(texts) - 2
    with db.connect() as conn:
        bodies = conn.execute(select(comments.c.body).where(comments.c.site_id == copy.id)
                              ).scalars().all()  # fmt: skip
        names = conn.execute(select(authors.c.name).where(authors.c.site_id == copy.id)
                             ).scalars().all()  # fmt: skip
    assert "a NUL \x00 here" not in bodies and "NulName" in names


def test_importing_an_export_twice_adds_nothing(db):
    site = _populated(db)
    data = b"\n".join(json.dumps(r).encode() for r in _export(db, site))
    copy = make_site(db, "copy")
    import_archive(db, site=copy, records=read_rostra(io.BytesIO(data)), now=NOW)
    again, _ = import_archive(db, site=copy, records=read_rostra(io.BytesIO(data)), now=NOW)
    assert (again.comments_created, again.authors_created, again.stories_created) == (0, 0, 0)


def _lines(records):
    return b"\n".join(json.dumps(r).encode() for r in records)


def test_restoring_an_export_into_its_own_site_adds_nothing(db):
    site = _populated(db)
    forget_author(db, site=site, ref="alice@example.org", remove_comments=False, now=NOW)
    first = _export(db, site)
    native = [r["type"] for r in first if r["type"] in ("author", "comment")
              and r["external_id"] is None]  # fmt: skip
    # the guest, the forgotten Disqus author and the two comments written here
    assert sorted(native) == ["author", "author", "comment", "comment"]
    stats, _ = import_archive(db, site=site, records=read_rostra(io.BytesIO(_lines(first))),
                              batch_size=3, now=NOW)  # fmt: skip
    assert (stats.stories_created, stats.authors_created, stats.comments_created) == (0, 0, 0)
    assert stats.comments_existing == 15 and not stats.skipped and not stats.notes
    assert _export(db, site) == first


def test_a_copys_export_goes_back_into_the_original_site_adding_nothing(db):
    site = _populated(db)
    copy = make_site(db, "copy")
    import_archive(db, site=copy, records=read_rostra(io.BytesIO(_lines(_export(db, site)))),
                   now=NOW)  # fmt: skip
    back, _ = import_archive(
        db, site=site, records=read_rostra(io.BytesIO(_lines(_export(db, copy)))), now=NOW
    )
    assert (back.authors_created, back.comments_created, back.comments_existing) == (0, 0, 15)


def test_a_native_id_created_at_another_time_is_another_comment(db):
    site = _populated(db)
    records = _export(db, site)
    [native] = [r for r in records if r["type"] == "comment" and r["body"] == "Guest reply"]
    native["created_at"] = "2020-01-01T00:00:00+00:00"  # the same id on another installation
    stats, _ = import_archive(db, site=site, records=read_rostra(io.BytesIO(_lines(records))),
                              now=NOW)  # fmt: skip
    assert (stats.comments_created, stats.comments_existing) == (1, 14)
    with db.connect() as conn:
        copy = conn.execute(select(comments).where(comments.c.external_id.like("news:%"))).one()
    assert copy.external_id == f"news:{native['id']}" and copy.parent_id == native["parent_id"]


def test_author_export_holds_their_comments_and_nobody_elses(db):
    site = _populated(db)
    out = io.BytesIO()
    counts = export_author(db, site=site, ref="alice@example.org", out=out, now=NOW)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["scope"] == "author"
    assert counts == {"author": 1, "comment": 4}
    assert {r["author_id"] for r in records if r["type"] == "comment"} == {records[1]["id"]}
    with pytest.raises(AuthorNotFound):
        export_author(db, site=site, ref="nobody@example.org", out=io.BytesIO(), now=NOW)


def test_author_export_has_the_engines_signals_and_the_learning_examples(db):
    site = make_site(db)
    alice = make_reader(db, site, "alice")
    posted = post_comment(db, WordEngine(), site=site, author_id=alice.author_id, url=URL,
                          body="What a stupid plan.", now=NOW)  # fmt: skip
    moderate(db, site=site, staff=make_staff(db, site), comment_id=posted.comment.id,
             action=ModerationAction.REJECT, version=posted.comment.version, now=NOW)
    post_comment(db, WordEngine(), site=site, author_id=make_reader(db, site, "bob").author_id,
                 url=URL, body="Someone else's stupid plan.", now=NOW)  # fmt: skip
    out = io.BytesIO()
    counts = export_author(db, site=site, ref=str(alice.author_id), out=out, now=NOW)
    records = [json.loads(line) for line in out.getvalue().splitlines()[1:]]
    assert (counts["signal"], counts["example"]) == (1, 1)
    [signal] = [r for r in records if r["type"] == "signal"]
    assert signal["comment_id"] == posted.comment.id and signal["scores"]["insult"] == 0.7
    assert signal["decision"] == "review" and signal["reasons"][0]["text"] == "stupid"
    [example] = [r for r in records if r["type"] == "example"]
    assert (example["text"], example["decision"]) == ("What a stupid plan.", "reject")
    assert example["author_id"] == alice.author_id


def test_forget_keeps_comments_under_deleted_user_and_erases_ips(db):
    site = _populated(db)
    done = forget_author(db, site=site, ref="alice@example.org", remove_comments=False, now=NOW)
    assert done == {"authors": 1, "comments": 4, "removed": 0}
    with db.connect() as conn:
        author = conn.execute(select(authors).where(authors.c.name == "Deleted user")).one()
        mine = conn.execute(select(comments).where(comments.c.author_id == author.id)).all()
        log = conn.execute(
            select(moderation_log).where(moderation_log.c.action == "author.forget")
        ).one()
    assert (author.email, author.external_id, author.forgotten_at) == (None, None, NOW)
    assert len(mine) == 4 and all(c.ip is None and c.body for c in mine)
    assert log.author_id == author.id and "alice" not in json.dumps([log.before, log.after])


def test_forget_erases_the_notes_of_the_reports_they_filed(db):
    site = _populated(db)
    bob = make_reader(db, site, "bob")
    with db.connect() as conn:
        target = conn.execute(select(comments.c.id).where(comments.c.external_id == "5001"))
        target_id = target.scalar_one()
    assert report_comment(db, site=site, reader=bob, comment_id=target_id, reason="abuse",
                          note="I am Bob Smith, her neighbour", now=NOW)  # fmt: skip
    forget_author(db, site=site, ref=str(bob.author_id), remove_comments=False, now=NOW)
    with db.connect() as conn:
        report = conn.execute(select(reports)).one()
        log = conn.execute(
            select(moderation_log.c.after).where(moderation_log.c.action == "author.forget")
        ).scalar_one()
    assert (report.reason, report.note, report.author_id) == ("abuse", None, bob.author_id)
    assert log["report_notes"] == 1 and "Bob Smith" not in json.dumps(log)


def test_forget_with_removal_deletes_the_text_and_recounts(db):
    site = _populated(db)
    with db.connect() as conn:
        before = conn.execute(select(stories.c.comment_count).where(stories.c.url == URL)).scalar()
    forget_author(db, site=site, ref="alice@example.org", remove_comments=True, now=NOW)
    with db.connect() as conn:
        gone = conn.execute(
            select(comments.c.status, comments.c.body).where(
                comments.c.external_id.in_(["5001", "5003", "5005"])
            )
        ).all()
        after = conn.execute(select(stories.c.comment_count).where(stories.c.url == URL)).scalar()
    assert set(gone) == {("deleted", "")}
    assert after == before - 3


def test_import_with_scoring_records_signals_but_keeps_statuses(db):
    site = make_site(db)
    _, scoring = import_archive(db, site=site, records=_disqus(), engine=WordEngine(), now=NOW)
    with db.connect() as conn:
        signal_count = conn.execute(select(func.count()).select_from(signals)).scalar_one()
        statuses = dict(conn.execute(select(comments.c.external_id, comments.c.status)).all())
    assert scoring.scored == signal_count == 12  # every new comment but the deleted one
    assert scoring.changed == 0
    assert statuses["5001"] == "published" and statuses["5008"] == "spam"


def test_apply_policy_changes_statuses_logs_them_and_counts_them(db):
    site = make_site(db)
    records = _disqus()
    engine = ModerationEngine(fast=FakeScorer(lambda t: {"insult": 0.99} if "source" in t else {}))
    engine.load()
    _, scoring = import_archive(db, site=site, records=records, engine=engine,
                                apply_policy=True, now=NOW)  # fmt: skip
    with db.connect() as conn:
        row = conn.execute(select(comments).where(comments.c.external_id == "5004")).one()
        logged = conn.execute(
            select(moderation_log.c.after).where(moderation_log.c.comment_id == row.id)
        ).scalar_one()
        count = conn.execute(select(stories.c.comment_count).where(stories.c.url == URL)).scalar()
    assert scoring.changed == 1 and row.status == "rejected" and row.decision == "reject"
    assert logged == {"status": "rejected", "decision": "reject"}
    assert count == 7


def test_apply_policy_without_an_engine_is_refused(db):
    site = make_site(db)
    with pytest.raises(InvalidInput):
        import_archive(db, site=site, records=[], apply_policy=True)


class FailingEngine(WordEngine):
    """Breaks on its n-th batch, as a killed process would stop."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on = fail_on

    def moderate(self, texts, **kw):
        if len(self.calls) + 1 == self.fail_on:
            raise KeyboardInterrupt
        return super().moderate(texts, **kw)


def test_rescore_resumes_after_an_interruption_and_scores_each_comment_once(db):
    site = make_site(db)
    import_archive(db, site=site, records=_disqus(), now=NOW)
    with pytest.raises(KeyboardInterrupt):
        rescore(db, FailingEngine(fail_on=3), site=site, batch_size=4, now=NOW)
    report = rescore(db, WordEngine(), site=site, batch_size=4, now=NOW)
    assert report.resumed_from > 0
    assert report.total_done == 12 and report.scored == 4
    with db.connect() as conn:
        per_comment = conn.execute(
            select(signals.c.comment_id, func.count()).group_by(signals.c.comment_id)
        ).all()
    assert len(per_comment) == 12 and {n for _, n in per_comment} == {1}
    fresh = rescore(db, WordEngine(), site=site, batch_size=4, now=NOW)
    assert (fresh.resumed_from, fresh.scored) == (0, 12)  # a finished run is not resumed


def _by_text_engine(scores):
    """A real engine whose fast tier gives ``scores[word]`` to a text containing ``word``
    (texts reach the scorer normalised: lower case)."""
    engine = ModerationEngine(fast=FakeScorer(
        lambda text: next((s for word, s in scores.items() if word in text), {})))  # fmt: skip
    engine.load()
    return engine


def _states(db):
    with db.connect() as conn:
        rows = conn.execute(select(comments.c.external_id, comments.c.status,
                                   comments.c.decision, comments.c.version))  # fmt: skip
        return {ext: tuple(rest) for ext, *rest in rows}


def test_rescore_without_apply_policy_records_signals_and_keeps_every_status(db):
    site = make_site(db)
    import_archive(db, site=site, records=_disqus(), now=NOW)
    before = _states(db)
    report = rescore(db, _by_text_engine({"": {"insult": 0.99}}), site=site, now=NOW)
    assert (report.scored, report.changed) == (12, 0)
    assert _states(db) == before
    with db.connect() as conn:
        decisions = conn.execute(select(signals.c.decision)).scalars().all()
        severities = set(conn.execute(select(comments.c.severity).where(
            comments.c.status != "deleted")).scalars())  # fmt: skip
    assert decisions == ["reject"] * 12 and severities == {0.99}


def test_rescore_with_apply_policy_sets_statuses_as_the_policy_decides(db):
    site = make_site(db)
    import_archive(db, site=site, records=_disqus(), now=NOW)
    rows = _states(db)
    with db.connect() as conn:
        first = conn.execute(select(comments.c.id).where(comments.c.external_id == "5001"))
        first_id = first.scalar_one()
    moderate(db, site=site, staff=make_staff(db, site), comment_id=first_id,
             action=ModerationAction.APPROVE, version=rows["5001"][2], now=NOW)  # fmt: skip
    engine = _by_text_engine({"turnout": {"insult": 0.99}, "source": {"insult": 0.99},
                              "higher than": {"insult": 0.7}, "cheap": {"insult": 0.99}})
    report = rescore(db, engine, site=site, apply_policy=True, batch_size=5, now=NOW)
    after = _states(db)
    assert report.changed == 2
    assert after["5004"][:2] == ("rejected", "reject")  # over the reject threshold
    assert after["5002"][:2] == ("pending", "review")  # held for review
    assert after["5001"][0] == "published"  # a moderator approved it: the policy keeps off
    assert (after["5008"][0], after["5006"][0]) == ("spam", "deleted")  # never changed
    assert {k: v for k, v in after.items() if k not in ("5001", "5002", "5004")} == {
        k: v for k, v in rows.items() if k not in ("5001", "5002", "5004")
    }
    with db.connect() as conn:
        logged = conn.execute(select(func.count()).where(moderation_log.c.action == "policy"))
        count = conn.execute(select(stories.c.comment_count).where(stories.c.url == URL))
        assert (logged.scalar_one(), count.scalar_one()) == (2, 8 - 2)


def _hooked(db, site):
    with db.begin() as conn:
        WebhookStore.create(conn, site_id=site.id, url="https://hooks.example/in", secret="s",
                            events=["comment.moderated"], now=NOW)  # fmt: skip


def _moderated_events(db):
    with db.connect() as conn:
        payloads = conn.execute(select(outbox.c.payload).order_by(outbox.c.id)).scalars()
        return [p["body"]["data"] for p in payloads if p["event"] == "comment.moderated"]


def test_policy_changes_of_a_rescore_are_announced_as_a_decision_would_be(db):
    site = make_site(db)
    import_archive(db, site=site, records=_disqus(), now=NOW)
    _hooked(db, site)
    engine = _by_text_engine({"source": {"insult": 0.99}, "cheap": {"insult": 0.99}})
    rescore(db, engine, site=site, apply_policy=True, now=NOW)
    [event] = _moderated_events(db)
    assert (event["action"], event["moderator"], event["reason"]) == (
        "policy", None, "scored again; the site's policy applied")  # fmt: skip
    assert event["comment"]["body"] == "Source?" and event["comment"]["status"] == "rejected"
    assert (event["before"]["status"], event["after"]["status"]) == ("published", "rejected")
    assert event["after"]["version"] == event["before"]["version"] + 1
    with db.connect() as conn:
        live = conn.execute(select(live_events.c.comment_id, live_events.c.kind)).all()
    assert live == [(event["comment"]["id"], "comment.removed")]


def test_policy_decisions_during_an_import_announce_nothing(db):
    site = make_site(db)
    _hooked(db, site)
    engine = _by_text_engine({"source": {"insult": 0.99}})
    _, scoring = import_archive(db, site=site, records=_disqus(), engine=engine,
                                apply_policy=True, now=NOW)  # fmt: skip
    assert scoring.changed == 1 and _moderated_events(db) == []


def test_rescore_since_a_date_scores_only_newer_comments(db):
    site = make_site(db)
    import_archive(db, site=site, records=_disqus(), now=NOW)
    since = NOW.replace(year=2024, month=6, day=10, hour=0)
    report = rescore(db, WordEngine(), site=site, since=since, now=NOW)
    assert report.scored == 3  # 5009, 5010 and 5011


def test_a_broken_file_keeps_what_was_read_consistent_and_a_rerun_completes(db):
    site = make_site(db)
    data = (ARCHIVES / "disqus.xml").read_bytes()
    cut = data.index(b'<post dsq:id="5009">')
    with pytest.raises(ArchiveError):
        import_archive(db, site=site, records=read_disqus(io.BytesIO(data[:cut] + b"<post>")),
                       batch_size=3, now=NOW)  # fmt: skip
    with db.connect() as conn:
        first = conn.execute(select(stories.c.comment_count).where(stories.c.url == URL)).scalar()
    assert first == 6  # 5001-5005 and 5007, counted though the import stopped
    stats, _ = import_archive(db, site=site, records=_disqus(), now=NOW)
    assert stats.comments_created == 13 - 8
