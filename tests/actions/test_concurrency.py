"""Counters stay right when many writers hit one story at once (UPDATE ... SET n = n + 1)."""

import threading

from sqlalchemy import func, select
from tests.factories import WordEngine, make_reader, make_site

from rostra.actions.comments import post_comment, react
from rostra.storage.comments import CommentStore
from rostra.storage.stories import StoryStore
from rostra.storage.tables import comments

URL = "https://news.example/busy"
WORDS = ["budget", "transit", "housing", "levy", "library", "council", "schools", "parks"]


def run_all(workers):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(w)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_concurrent_posts_and_reactions_keep_counts_exact(db):
    site = make_site(db)
    engine = WordEngine()
    readers = [make_reader(db, site, f"reader{i}") for i in range(6)]
    top = post_comment(db, engine, site=site, author_id=readers[0].author_id,
                       body="Opening remark", url=URL, title="Busy").comment

    def writer(reader, n):
        def run():
            for k in range(4):
                post_comment(db, engine, site=site, author_id=reader.author_id,
                             body=f"{WORDS[(n + k) % 8]} point {n}-{k} from {reader.name}",
                             story_id=top.story_id, parent_id=top.id if k % 2 else None)
        return run

    def reactor(reader):
        def run():
            for _ in range(3):  # on, off, on
                react(db, site=site, reader=reader, comment_id=top.id)
        return run

    run_all([writer(r, i) for i, r in enumerate(readers)] + [reactor(r) for r in readers])
    with db.connect() as conn:
        story = StoryStore.get(conn, top.story_id)
        published = conn.execute(
            select(func.count()).select_from(comments).where(comments.c.status == "published")
        ).scalar_one()
        direct = conn.execute(
            select(func.count()).select_from(comments).where(
                comments.c.parent_id == top.id, comments.c.status == "published")
        ).scalar_one()
        root = CommentStore.get(conn, top.id)
    assert story.comment_count == published
    assert published > 1
    assert root.reply_count == direct
    assert root.reaction_count == len(readers)
