from datetime import timedelta

from tests.factories import NOW, make_reader, make_site, make_staff

from rostra.storage.authors import PERMANENT, AuthorStore
from rostra.storage.database import transaction


def test_suspension_then_permanent_ban_then_lift(db):
    site = make_site(db)
    alice = make_reader(db, site)
    maria = make_staff(db, site)
    with transaction(db) as conn:
        author = AuthorStore.get(conn, alice.author_id)
        assert not author.is_banned(NOW)
        AuthorStore.ban(conn, author, until=NOW + timedelta(days=1), reason="rude",
                        user_id=maria.user_id, now=NOW)
        author = AuthorStore.get(conn, alice.author_id)
        assert author.is_banned(NOW) and not author.is_banned(NOW + timedelta(days=2))
        ban = AuthorStore.ban(conn, author, until=None, reason="again",
                              user_id=maria.user_id, now=NOW)
        assert ban.until is None and ban.is_active(NOW + timedelta(days=9999))
        author = AuthorStore.get(conn, alice.author_id)
        assert author.banned_until == PERMANENT
        bans = AuthorStore.bans(conn, author.id)
        assert [b.is_active(NOW) for b in bans] == [True, False]  # the newer replaced the older
        assert AuthorStore.lift_ban(conn, author, user_id=maria.user_id, now=NOW) == 1
        assert not AuthorStore.get(conn, alice.author_id).is_banned(NOW)


def test_ban_histories_of_several_authors_at_once(db):
    site = make_site(db)
    alice, bob, carol = (make_reader(db, site, n) for n in ("alice", "bob", "carol"))
    with transaction(db) as conn:
        for days, reason in ((1, "rude"), (7, "again"), (30, "still")):
            AuthorStore.ban(conn, AuthorStore.get(conn, alice.author_id), reason=reason,
                            until=NOW + timedelta(days=days), user_id=None, now=NOW)
        AuthorStore.ban(conn, AuthorStore.get(conn, bob.author_id), until=None, reason=None,
                        user_id=None, now=NOW)
        AuthorStore.lift_ban(conn, AuthorStore.get(conn, bob.author_id), user_id=None,
                             now=NOW + timedelta(hours=1))
        found = AuthorStore.ban_histories(conn, [alice.author_id, bob.author_id,
                                                 carol.author_id, alice.author_id])
        assert AuthorStore.ban_histories(conn, []) == {}
    assert set(found) == {alice.author_id, bob.author_id}  # carol was never banned
    assert found[alice.author_id].count == 3
    assert found[alice.author_id].latest.reason == "still"
    assert found[alice.author_id].latest.is_active(NOW)
    assert found[bob.author_id].count == 1
    assert found[bob.author_id].latest.until is None
    assert found[bob.author_id].latest.lifted_at == NOW + timedelta(hours=1)
    assert not found[bob.author_id].latest.is_active(NOW + timedelta(hours=2))


def test_context_counts_the_last_hour(db):
    from tests.factories import WordEngine

    from rostra.actions.comments import post_comment

    site = make_site(db)
    alice = make_reader(db, site)
    for minutes, text in ((90, "old news"), (30, "recent one"), (5, "very recent")):
        post_comment(db, WordEngine(), site=site, author_id=alice.author_id, body=text,
                     url="https://n.example/a", title="A", now=NOW - timedelta(minutes=minutes))
    with db.connect() as conn:
        author = AuthorStore.get(conn, alice.author_id)
        context = AuthorStore.context(conn, author, now=NOW)
        history = AuthorStore.comments(conn, author.id, limit=2)
    assert context.comments_last_hour == 2
    assert context.recent_texts == ("very recent", "recent one")
    assert context.approved_count == 3
    assert [r.body for r in history] == ["very recent", "recent one"]
