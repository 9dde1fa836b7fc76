import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from tests.factories import NOW, make_site

from rostra.archive.disqus import read_disqus
from rostra.archive.isso import read_isso
from rostra.archive.records import ImportedComment, ImportedStory
from rostra.archive.wordpress import read_wordpress
from rostra.domain.comments import CommentStatus
from rostra.storage.imports import ArchiveImporter, _Recent, recount
from rostra.storage.tables import authors, comments, stories

ARCHIVES = Path(__file__).parent.parent / "fixtures" / "archives"
T = datetime(2024, 1, 1, tzinfo=UTC)


def _import(db, site, records, batch_size=1000):
    importer = ArchiveImporter(db, site.id, now=NOW, batch_size=batch_size)
    for record in records:
        importer.add(record)
    return importer.finish()


def _disqus():
    with (ARCHIVES / "disqus.xml").open("rb") as stream:
        return list(read_disqus(stream))


def _by_external_id(db):
    with db.connect() as conn:
        rows = conn.execute(select(comments).order_by(comments.c.id)).all()
    return {row.external_id: row for row in rows}


def test_disqus_archive_lands_with_threads_statuses_and_counts(db):
    site = make_site(db)
    stats = _import(db, site, _disqus())
    assert (stats.stories_created, stats.comments_created) == (2, 13)
    assert stats.skipped["story not in the archive"] == 1
    assert stats.notes["parent not in the archive; imported as top-level"] == 1
    rows = _by_external_id(db)
    chain = [rows[i] for i in ("5001", "5002", "5003", "5004", "5005")]
    assert [r.depth for r in chain] == [0, 1, 2, 3, 4]
    assert {r.root_id for r in chain[1:]} == {chain[0].id}
    assert rows["5007"].parent_id == rows["5006"].id and rows["5006"].status == "deleted"
    assert rows["5009"].parent_id == rows["5010"].id  # the reply came first in the file
    assert rows["5012"].story_id == rows["5001"].story_id  # duplicate thread, same URL
    assert rows["5001"].ip == "192.0.2.10"
    with db.connect() as conn:
        counts = dict(conn.execute(select(stories.c.url, stories.c.comment_count)).all())
    # 1001: 5001-5005, 5007, 5012, 5013 published (5006 deleted); 1002: 5009-5011 (5008 spam)
    assert counts == {"https://herald.example/2024/elections-résultats": 8,
                      "https://herald.example/2024/budget": 3}  # fmt: skip
    assert rows["5001"].reply_count == 1 and rows["5006"].reply_count == 1


def test_a_deleted_disqus_thread_lands_closed_with_its_comments_as_they_were(db):
    site = make_site(db)
    data = (ARCHIVES / "disqus.xml").read_bytes()
    thread = data.index(b'<thread dsq:id="1001">')
    flag = data.index(b"<isDeleted>false</isDeleted>", thread)
    deleted = data[:flag] + b"<isDeleted>true</isDeleted>" + data[flag + 28 :]
    stats = _import(db, site, read_disqus(io.BytesIO(deleted)))
    assert (stats.stories_created, stats.comments_created) == (2, 13)
    with db.connect() as conn:
        closed = dict(conn.execute(select(stories.c.url, stories.c.closed)).all())
        count = conn.execute(
            select(stories.c.comment_count).where(stories.c.url.like("%elections%"))
        ).scalar_one()
    assert closed == {"https://herald.example/2024/elections-résultats": True,
                      "https://herald.example/2024/budget": True}  # fmt: skip
    assert count == 8  # its published comments stay published
    assert _by_external_id(db)["5001"].status == "published"


def test_a_second_run_adds_nothing(db):
    site = make_site(db)
    _import(db, site, _disqus())
    before = _by_external_id(db)
    again = _import(db, site, _disqus(), batch_size=3)
    assert (again.stories_created, again.authors_created, again.comments_created) == (0, 0, 0)
    assert again.comments_existing == 13
    assert _by_external_id(db).keys() == before.keys()


def test_batch_size_does_not_change_the_result(db):
    one, many = make_site(db, "one"), make_site(db, "many")
    _import(db, one, _disqus(), batch_size=1)
    _import(db, many, _disqus(), batch_size=1000)
    with db.connect() as conn:
        shape = {}
        for site in (one, many):
            rows = conn.execute(
                select(comments.c.external_id, comments.c.depth, comments.c.reply_count,
                       comments.c.status).where(comments.c.site_id == site.id)
            ).all()  # fmt: skip
            shape[site.slug] = sorted(map(tuple, rows))
    assert shape["one"] == shape["many"]


def test_authors_are_deduplicated_and_counted(db):
    site = make_site(db)
    _import(db, site, _disqus())
    with db.connect() as conn:
        alice = conn.execute(
            select(authors).where(authors.c.external_id == "disqus:user:alice_w")
        ).one()
        anonymous = conn.execute(
            select(func.count()).where(comments.c.author_id.is_(None))
        ).scalar_one()
    assert alice.name == "Alice" and alice.email == "alice@example.org"
    assert (alice.comment_count, alice.approved_count) == (4, 4)
    assert alice.created_at == datetime(2024, 6, 9, 20, 5, tzinfo=UTC)  # her first comment
    assert anonymous == 1


def test_an_interrupted_import_is_completed_by_running_it_again(db):
    site = make_site(db)
    records = _disqus()
    importer = ArchiveImporter(db, site.id, now=NOW, batch_size=2)
    for record in records[:12]:  # stops mid-file, without finish(): as if killed
        importer.add(record)
    importer.flush()
    stats = _import(db, site, records, batch_size=2)
    assert stats.comments_existing > 0
    rows = _by_external_id(db)
    assert len(rows) == 13
    assert rows["5001"].reply_count == 1
    with db.connect() as conn:
        assert (
            conn.execute(
                select(stories.c.comment_count).where(stories.c.url.like("%budget"))
            ).scalar_one()
            == 3
        )


def test_wordpress_and_isso_archives_import(db):
    site = make_site(db)
    with (ARCHIVES / "wordpress.xml").open("rb") as stream:
        wp = _import(db, site, read_wordpress(stream))
    isso = _import(db, site, read_isso(ARCHIVES / "isso.db", base_url="https://h.example"))
    assert (wp.stories_created, wp.comments_created) == (2, 9)
    assert (isso.stories_created, isso.comments_created) == (3, 9)
    assert isso.skipped["story not in the archive"] == 1
    rows = _by_external_id(db)
    assert rows["108"].parent_id == rows["107"].id
    assert rows["102"].status == CommentStatus.PENDING.value


def _wordpress():
    with (ARCHIVES / "wordpress.xml").open("rb") as stream:
        return list(read_wordpress(stream))


def _isso():
    return list(read_isso(ARCHIVES / "isso.db", base_url="https://h.example"))


@pytest.mark.parametrize("read", [_wordpress, _isso], ids=["wordpress", "isso"])
def test_a_second_wordpress_or_isso_run_adds_nothing(db, read):
    site = make_site(db)
    first = _import(db, site, read())
    before = _by_external_id(db)
    again = _import(db, site, read(), batch_size=2)
    assert first.comments_created == 9
    assert (again.stories_created, again.authors_created, again.comments_created) == (0, 0, 0)
    assert again.comments_existing == 9
    after = _by_external_id(db)
    assert after.keys() == before.keys()
    assert {k: (r.parent_id, r.reply_count) for k, r in after.items()} == {
        k: (r.parent_id, r.reply_count) for k, r in before.items()
    }


def _comment(ext, parent=None, story="s"):
    return ImportedComment(
        external_id=ext, story_external_id=story, parent_external_id=parent, author=None,
        body=ext, html=ext, status=CommentStatus.PUBLISHED, created_at=T, source="test",
    )  # fmt: skip


def test_replies_stored_before_their_parents_get_depth_and_root_when_linked(db):
    site = make_site(db)
    story = ImportedStory("s", "https://n.example/s", "S")
    _import(db, site, [story, _comment("d", "c"), _comment("c", "b"), _comment("b", "a"),
                       _comment("a")], batch_size=1)  # fmt: skip
    rows = _by_external_id(db)
    assert [rows[x].depth for x in "abcd"] == [0, 1, 2, 3]
    assert {rows[x].root_id for x in "bcd"} == {rows["a"].id}
    assert rows["a"].reply_count == 1


def test_a_reply_cycle_is_cut_and_said(db):
    site = make_site(db)
    story = ImportedStory("s", "https://n.example/s", "S")
    stats = _import(db, site, [story, _comment("x", "y"), _comment("y", "x")], batch_size=1)
    assert stats.notes["reply cycle in the archive; imported as top-level"] == 1
    rows = _by_external_id(db)
    assert sorted(r.depth for r in rows.values()) == [0, 1]


def test_a_comment_whose_story_comes_later_still_lands(db):
    site = make_site(db)
    late = ImportedStory("late", "https://n.example/late", "Late")
    stats = _import(db, site, [_comment("a", story="late"), late])
    assert stats.comments_created == 1 and not stats.skipped


def _thread_shape(db, site):
    with db.connect() as conn:
        rows = conn.execute(
            select(comments.c.id, comments.c.external_id, comments.c.parent_id,
                   comments.c.root_id, comments.c.depth, comments.c.reply_count)
            .where(comments.c.site_id == site.id)
        ).all()  # fmt: skip
    ext = {r.id: r.external_id for r in rows}
    return {
        r.external_id: (ext.get(r.parent_id), ext.get(r.root_id), r.depth, r.reply_count)
        for r in rows
    }


def _forest(n_stories, per_story):
    """Stories with chains and fans of replies spread through the file, a few parents after
    their replies: one record list in file order, and the expected (parent, root, depth)."""
    records = [ImportedStory(f"s{s}", f"https://n.example/{s}", f"S{s}") for s in range(n_stories)]
    expected = {}
    for i in range(per_story):
        for s in range(n_stories):
            ext = f"{s}-{i}"
            parent = None if i == 0 else f"{s}-{(i - 1) // 2}"  # a binary tree per story
            records.append(_comment(ext, parent, story=f"s{s}"))
            expected[ext] = parent
    late = _comment(f"{n_stories - 1}-late-parent", None, story=f"s{n_stories - 1}")
    early = _comment("child-first", late.external_id, story=f"s{n_stories - 1}")
    records.insert(n_stories + 1, early)  # the reply long before its parent
    records.append(late)
    expected[early.external_id] = late.external_id
    expected[late.external_id] = None
    return records, expected


def test_replies_link_across_batches_and_cache_generations(db, monkeypatch):
    monkeypatch.setattr("rostra.storage.imports.CACHE_LIMIT", 7)  # parents fall out of the cache
    site = make_site(db)
    records, expected = _forest(n_stories=4, per_story=15)
    stats = _import(db, site, records, batch_size=5)
    assert stats.comments_created == len(expected)
    assert not stats.notes and not stats.skipped
    shape = _thread_shape(db, site)
    assert {ext: parent for ext, (parent, *_) in shape.items()} == expected

    def depth(ext):
        return 0 if expected[ext] is None else 1 + depth(expected[ext])

    def root(ext):
        return ext if expected[ext] is None else root(expected[ext])

    assert {ext: d for ext, (_, _, d, _) in shape.items()} == {e: depth(e) for e in expected}
    assert {ext: r for ext, (_, r, _, _) in shape.items()} == {
        e: (None if expected[e] is None else root(e)) for e in expected
    }
    children = Counter(p for p in expected.values() if p is not None)
    assert {ext: n for ext, (*_, n) in shape.items()} == {e: children[e] for e in expected}


def test_one_big_batch_and_many_small_ones_store_the_same_threads(db):
    one, many = make_site(db, "one"), make_site(db, "many")
    records, _ = _forest(n_stories=3, per_story=9)
    _import(db, one, records, batch_size=10_000)
    _import(db, many, records, batch_size=4)
    assert _thread_shape(db, one) == _thread_shape(db, many)


def test_counters_are_the_same_counted_per_chunk_or_over_the_whole_site(db, monkeypatch):
    site = make_site(db)
    _import(db, site, _disqus())
    with db.connect() as conn:
        story_ids = conn.execute(select(stories.c.id)).scalars().all()
        author_ids = conn.execute(select(authors.c.id)).scalars().all()

    def counters():
        with db.connect() as conn:
            return (
                sorted(conn.execute(select(stories.c.id, stories.c.comment_count,
                                           stories.c.top_level_count)).all()),
                sorted(conn.execute(select(authors.c.id, authors.c.comment_count,
                                           authors.c.approved_count,
                                           authors.c.rejected_count)).all()),
                sorted(conn.execute(select(comments.c.id, comments.c.reply_count)).all()),
            )  # fmt: skip

    right = counters()
    for whole_site in (False, True):
        with db.begin() as conn:  # wrong counters everywhere
            conn.execute(update(stories).values(comment_count=99, top_level_count=99))
            conn.execute(update(authors).values(comment_count=9, approved_count=9,
                                                rejected_count=9))  # fmt: skip
            conn.execute(update(comments).values(reply_count=5))
        monkeypatch.setattr("rostra.storage.imports._WHOLE_SITE", 0 if whole_site else 10**9)
        recount(db, story_ids, author_ids, site_id=site.id)
        assert counters() == right


def test_recent_map_keeps_the_newest_entries_within_two_generations():
    recent = _Recent(3)
    for i in range(10):
        recent[i] = str(i)
    assert all(i in recent and recent[i] == str(i) for i in range(6, 10))
    assert 0 not in recent and recent.get(0) is None and len(recent) <= 6
    assert 5 not in recent and len(recent.newer) == 1  # the full generation moved, not copied
    with pytest.raises(KeyError):
        recent[0]
