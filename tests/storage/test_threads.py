"""Thread reads: nesting, visibility, and cost that does not grow with the thread."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, text, update
from tests.factories import NOW, make_reader, make_site

from rostra.domain.comments import SortOrder
from rostra.storage.database import transaction
from rostra.storage.stories import StoryStore
from rostra.storage.tables import authors, comments, stories
from rostra.storage.threads import ThreadStore, nest


def seed(db, site, author_id, url, n, reply_share=0.2):
    """``n`` published comments, ``reply_share`` of them replies, inserted in bulk."""
    with transaction(db) as conn:
        story = StoryStore.get_or_create(conn, site.id, url, "Seeded", now=NOW)
        n_top = n - int(n * reply_share)
        rows = [
            dict(site_id=site.id, story_id=story.id, parent_id=None, root_id=None, depth=0,
                 author_id=author_id, body=f"comment {i}", html=f"<p>comment {i}</p>",
                 status="published", created_at=NOW + timedelta(seconds=i))
            for i in range(n_top)
        ]
        conn.execute(insert(comments), rows)
        first = conn.execute(text("SELECT min(id) FROM comments WHERE story_id = :s"),
                             {"s": story.id}).scalar_one()
        replies = [
            dict(site_id=site.id, story_id=story.id, parent_id=first + i % n_top,
                 root_id=first + i % n_top, depth=1, author_id=author_id,
                 body=f"reply {i}", html=f"<p>reply {i}</p>", status="published",
                 created_at=NOW + timedelta(seconds=n + i))
            for i in range(n - n_top)
        ]
        if replies:
            conn.execute(insert(comments), replies)
        conn.execute(update(stories).where(stories.c.id == story.id)
                     .values(comment_count=n, top_level_count=n_top))
    return story


@contextmanager
def counting(db):
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db, "before_cursor_execute", record)


def test_page_costs_the_same_queries_for_50_and_5000_comments(db):
    site = make_site(db)
    alice = make_reader(db, site)
    small = seed(db, site, alice.author_id, "https://news.example/small", 50)
    big = seed(db, site, alice.author_id, "https://news.example/big", 5000)
    counts = {}
    for name, story in (("small", small), ("big", big)):
        for sort in SortOrder:
            with db.connect() as conn, counting(db) as statements:
                page = ThreadStore.page(conn, story.id, sort=sort, limit=20,
                                        reader_id=alice.author_id)
            counts[(name, sort)] = len(statements)
            assert len(page.comments) == 20
    assert counts[("small", SortOrder.OLDEST)] == counts[("big", SortOrder.OLDEST)]
    assert len(set(counts.values())) == 1
    # A page deep in the big thread costs what the first one costs.
    with db.connect() as conn:
        cursor = None
        for _ in range(100):
            page = ThreadStore.page(conn, big.id, cursor=cursor, limit=20)
            cursor = page.next_cursor
        with counting(db) as statements:
            deep = ThreadStore.page(conn, big.id, cursor=cursor, limit=20,
                                    reader_id=alice.author_id)
    assert len(statements) == counts[("big", SortOrder.OLDEST)] - 1  # no featured on page>1
    assert deep.comments[0]["html"] == "<p>comment 2000</p>"  # after 100 pages of 20


@pytest.mark.parametrize("sort", list(SortOrder))
def test_top_level_page_query_is_an_index_range_scan(db, sort):
    site = make_site(db)
    alice = make_reader(db, site)
    story = seed(db, site, alice.author_id, "https://news.example/big", 2000)
    with db.connect() as conn:
        cursor = ThreadStore.page(conn, story.id, sort=sort, limit=5).next_cursor
    with db.connect() as conn, counting(db) as statements:
        ThreadStore.page(conn, story.id, sort=sort, cursor=cursor, limit=5)
    top_level = statements[0]
    assert "parent_id IS NULL" in top_level
    compiled_params = []

    def keep(conn, cursor_, statement, parameters, context, executemany):
        if statement == top_level:
            compiled_params.append(parameters)

    event.listen(db, "before_cursor_execute", keep)
    with db.connect() as conn:
        ThreadStore.page(conn, story.id, sort=sort, cursor=cursor, limit=5)
        if db.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE comments")
        explain = "EXPLAIN QUERY PLAN " if db.dialect.name == "sqlite" else "EXPLAIN "
        plan = conn.exec_driver_sql(explain + top_level, compiled_params[0]).all()
    event.remove(db, "before_cursor_execute", keep)
    details = " | ".join(str(row[-1]) for row in plan)
    if db.dialect.name == "sqlite":
        assert "USING INDEX" in details or "USING COVERING INDEX" in details, details
        assert "TEMP B-TREE" not in details, details
    else:
        assert "Index" in details and "ix_comments_" in details, details
        assert "Sort" not in details, details


def test_whole_thread_nests_and_hides_non_published(db):
    site = make_site(db)
    alice = make_reader(db, site)
    story = seed(db, site, alice.author_id, "https://news.example/s", 10, reply_share=0.3)
    with transaction(db) as conn:
        conn.execute(update(comments).where(comments.c.body == "comment 0")
                     .values(status="rejected"))
    with db.connect() as conn:
        whole = ThreadStore.whole(conn, story.id)
    assert [c["html"] for c in whole] == [f"<p>comment {i}</p>" for i in range(1, 7)]
    # comment 0's reply went with it (its root is not shown); comments 1 and 2 keep theirs
    assert [len(c["replies"]) for c in whole[:3]] == [1, 1, 0]


def test_whole_thread_read_in_parts_is_the_same_thread(db, monkeypatch):
    site = make_site(db)
    alice = make_reader(db, site)
    story = seed(db, site, alice.author_id, "https://news.example/parts", 60, reply_share=0.4)
    with db.connect() as conn:
        at_once = ThreadStore.whole(conn, story.id)
        monkeypatch.setattr("rostra.storage.threads.WHOLE_CHUNK", 7)
        with counting(db) as statements:
            in_parts = ThreadStore.whole(conn, story.id)
    assert in_parts == at_once
    assert sum(len(c["replies"]) for c in in_parts) == 24 and len(in_parts) == 36
    assert len(statements) == 1 + 2 * 6  # the root ids, then roots and replies per part


def test_whole_thread_parts_read_by_key_not_by_scanning_the_story(db):
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite's planner is the one that picked the story range scan")
    site = make_site(db)
    alice = make_reader(db, site)
    story = seed(db, site, alice.author_id, "https://news.example/plan", 300)
    with db.connect() as conn:
        ids = ThreadStore.whole_root_ids(conn, story.id)[:10]
    sql: list[tuple[str, object]] = []

    def keep(conn, cursor_, statement, parameters, context, executemany):
        sql.append((statement, parameters))

    event.listen(db, "before_cursor_execute", keep)
    with db.connect() as conn:
        ThreadStore.whole_part(conn, ids)
    event.remove(db, "before_cursor_execute", keep)
    with db.connect() as conn:
        plans = [" | ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters).all()) for statement, parameters in sql]
    assert "comments USING INTEGER PRIMARY KEY" in plans[0], plans[0]
    assert "ix_comments_root" in plans[1], plans[1]


def test_nest_keeps_deleted_parents_only_as_placeholders():
    def node(id_, parent, depth, status="published"):
        return {"id": id_, "parent_id": parent, "root_id": 1 if parent else None,
                "depth": depth, "status": status, "author": {"id": 1, "name": "a"},
                "replies": []}

    root = node(1, None, 0)
    gone = node(2, 1, 1, "deleted")
    gone_with_reply = node(3, 1, 1, "deleted")
    reply = node(4, 3, 2)
    roots = [root]
    nest(roots, [gone, gone_with_reply, reply], max_depth=6)
    assert [c["id"] for c in root["replies"]] == [3]
    assert root["replies"][0]["replies"][0]["id"] == 4


def test_authors_count_in_the_own_pending_window(db):
    site = make_site(db)
    alice = make_reader(db, site)
    story = seed(db, site, alice.author_id, "https://news.example/s", 30, reply_share=0)
    with transaction(db) as conn:
        conn.execute(insert(comments).values(
            site_id=site.id, story_id=story.id, depth=0, author_id=alice.author_id,
            body="mine", html="<p>mine</p>", status="pending",
            created_at=NOW + timedelta(seconds=5, milliseconds=500)))
        conn.execute(update(authors).values(approved_count=1))
    with db.connect() as conn:
        first = ThreadStore.page(conn, story.id, limit=10, reader_id=alice.author_id)
        second = ThreadStore.page(conn, story.id, limit=10, reader_id=alice.author_id,
                                  cursor=first.next_cursor)
        other = ThreadStore.page(conn, story.id, limit=10)
    assert [c["html"] for c in first.comments][5:8] == [
        "<p>comment 5</p>", "<p>mine</p>", "<p>comment 6</p>"]
    assert len(first.comments) == 11 and "<p>mine</p>" not in str(second.comments)
    assert "<p>mine</p>" not in str(other.comments)


@pytest.mark.parametrize("status", ["rejected", "spam"])
def test_a_removed_top_level_comment_keeps_its_published_replies_in_place(db, status):
    site = make_site(db)
    alice = make_reader(db, site)
    bob = make_reader(db, site, name="bob")
    story = seed(db, site, bob.author_id, "https://news.example/removed", 4, reply_share=0)
    with transaction(db) as conn:
        first, lonely = conn.execute(
            text("SELECT id FROM comments WHERE story_id = :s ORDER BY id LIMIT 2"),
            {"s": story.id}).scalars().all()
        conn.execute(update(comments).where(comments.c.id == first)
                     .values(author_id=alice.author_id, status=status, reply_count=1))
        conn.execute(update(comments).where(comments.c.id == lonely)
                     .values(status=status, reply_count=1))  # its only reply is held
        conn.execute(insert(comments), [
            dict(site_id=site.id, story_id=story.id, parent_id=first, root_id=first, depth=1,
                 author_id=bob.author_id, body="an answer", html="<p>an answer</p>",
                 status="published", created_at=NOW + timedelta(minutes=5)),
            dict(site_id=site.id, story_id=story.id, parent_id=lonely, root_id=lonely, depth=1,
                 author_id=bob.author_id, body="held", html="<p>held</p>", status="pending",
                 created_at=NOW + timedelta(minutes=6)),
        ])
    with db.connect() as conn:
        whole = ThreadStore.whole(conn, story.id)
        page = ThreadStore.page(conn, story.id, sort=SortOrder.OLDEST, limit=10)
        own = ThreadStore.page(conn, story.id, sort=SortOrder.OLDEST, limit=10,
                               reader_id=alice.author_id)
    for roots in (whole, page.comments):
        placeholder = next(c for c in roots if c["id"] == first)
        assert placeholder["status"] == "removed"
        assert placeholder["author"] is None and placeholder["html"] == ""
        assert [r["html"] for r in placeholder["replies"]] == ["<p>an answer</p>"]
        assert lonely not in [c["id"] for c in roots]  # nothing of it is shown: no placeholder
        assert len(roots) == 3
    mine = next(c for c in own.comments if c["id"] == first)
    if status == "rejected":  # its author sees it as held, never why
        assert mine["status"] == "pending" and mine["html"] == "<p>comment 0</p>"
    else:  # nobody, its author included, sees a comment marked as spam
        assert mine["status"] == "removed" and mine["html"] == ""
    assert [r["html"] for r in mine["replies"]] == ["<p>an answer</p>"]
