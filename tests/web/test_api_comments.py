from datetime import timedelta

from tests.web.conftest import URL, post

from rostra.actions.comments import utcnow


def test_post_clean_comment_is_published(client, alice):
    response = post(client, alice, "The **budget** adds up")
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "published"
    assert data["html"] == "<p>The <strong>budget</strong> adds up</p>"
    assert data["reader_token"] is None


def test_post_toxic_comment_is_pending_without_reasons(client, alice):
    data = post(client, alice, "what a stupid plan").json()
    assert data["status"] == "pending"
    assert data["message"] == "Your comment is awaiting moderation."
    assert "insult" not in str(data) and "score" not in str(data)


def test_rejected_comment_looks_pending_to_its_author(client, alice):
    assert post(client, alice, "you idiot").json()["status"] == "pending"


def test_guest_post_gets_a_token_that_shows_their_pending_comment(client, site):
    data = post(client, None, "stupid idea", name="Gus").json()
    assert data["status"] == "pending" and data["reader_token"].startswith("rdr_")
    own = {"Authorization": f"Bearer {data['reader_token']}"}
    thread = client.get("/api/v1/sites/news/thread", params={"url": URL}, headers=own).json()
    assert [c["id"] for c in thread["comments"]] == [data["id"]]
    assert thread["comments"][0]["mine"] is True
    anonymous = client.get("/api/v1/sites/news/thread", params={"url": URL}).json()
    assert anonymous["comments"] == []


def test_guest_needs_a_name_and_a_site_that_allows_guests(client, db, site):
    from tests.factories import make_site

    make_site(db, "closed", guests_allowed=False)
    assert post(client, None, "hi").json()["code"] == "invalid_input"
    response = post(client, None, "hi", name="Gus", site="closed")
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_honeypot_refuses_guest_post(client, site):
    response = post(client, None, "hi", name="Bot", website="http://spam.example")
    assert response.status_code == 400 and response.json()["field"] == "website"


def test_reply_and_reply_to_other_story_is_refused(client, alice, bob):
    top = post(client, alice).json()
    reply = post(client, bob, "no", parent_id=top["id"]).json()
    assert reply["parent_id"] == top["id"]
    response = post(client, bob, "x", parent_id=top["id"], url="https://news.example/other")
    assert response.status_code == 404


def test_edit_within_window_is_rescored_and_kept_in_history(client, alice, maria):
    posted = post(client, alice, "fine plan").json()
    response = client.patch(f"/api/v1/sites/news/comments/{posted['id']}",
                            json={"body": "stupid plan"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["version"] == posted["version"] + 1
    detail = client.get(f"/api/v1/sites/news/moderation/comments/{posted['id']}",
                        headers=maria.headers).json()
    assert [e["body"] for e in detail["edits"]] == ["fine plan"]
    assert len(detail["signals"]) == 2


def test_edit_after_window_is_refused(client, alice, db):
    from sqlalchemy import update

    from rostra.storage.tables import comments

    posted = post(client, alice).json()
    with db.begin() as conn:
        conn.execute(update(comments).values(created_at=utcnow() - timedelta(hours=1)))
    response = client.patch(f"/api/v1/sites/news/comments/{posted['id']}",
                            json={"body": "changed"}, headers=alice.headers)
    assert response.status_code == 403 and response.json()["code"] == "edit_window_expired"


def test_cannot_edit_or_delete_someone_elses_comment(client, alice, bob):
    posted = post(client, alice).json()
    url = f"/api/v1/sites/news/comments/{posted['id']}"
    assert client.patch(url, json={"body": "mine now"}, headers=bob.headers).status_code == 403
    assert client.delete(url, headers=bob.headers).status_code == 403
    assert client.delete(url).status_code == 401


def test_delete_own_comment_hides_its_text(client, alice, bob):
    top = post(client, alice, "secret words").json()
    post(client, bob, "a reply", parent_id=top["id"])
    assert client.delete(f"/api/v1/sites/news/comments/{top['id']}",
                         headers=alice.headers).status_code == 204
    thread = client.get(f"/api/v1/sites/news/stories/{top['story_id']}/comments").json()
    assert "secret words" not in str(thread)
    assert thread["count"] == 1  # only the reply is still published
    [placeholder] = thread["comments"]  # kept so that the reply keeps its place
    assert (placeholder["status"], placeholder["author"], placeholder["html"]) == (
        "deleted", None, "")
    assert placeholder["replies"][0]["html"] == "<p>a reply</p>"
    whole = client.get(f"/api/v1/sites/news/stories/{top['story_id']}/comments/all").json()
    assert "secret words" not in str(whole)
    assert whole["comments"][0]["replies"][0]["html"] == "<p>a reply</p>"


def test_deleted_comment_without_replies_disappears(client, alice):
    top = post(client, alice, "gone soon").json()
    client.delete(f"/api/v1/sites/news/comments/{top['id']}", headers=alice.headers)
    thread = client.get(f"/api/v1/sites/news/stories/{top['story_id']}/comments").json()
    assert thread["comments"] == []


def test_reaction_toggles_and_counts_once_per_reader(client, alice, bob):
    posted = post(client, alice).json()
    url = f"/api/v1/sites/news/comments/{posted['id']}/reactions"
    assert client.post(url, headers=bob.headers).json() == {"reacted": True, "reactions": 1}
    assert client.post(url, headers=alice.headers).json() == {"reacted": True, "reactions": 2}
    assert client.post(url, headers=bob.headers).json() == {"reacted": False, "reactions": 1}
    page = client.get(f"/api/v1/sites/news/stories/{posted['story_id']}/comments",
                      headers=alice.headers).json()
    assert page["comments"][0]["reacted"] is True and page["comments"][0]["reactions"] == 1
    assert client.post(url).status_code == 401


def test_report_puts_a_published_comment_in_the_reported_queue(client, alice, bob, maria):
    posted = post(client, alice).json()
    url = f"/api/v1/sites/news/comments/{posted['id']}/reports"
    response = client.post(url, json={"reason": "abuse", "note": "rude"}, headers=bob.headers)
    assert response.status_code == 201 and response.json()["reported"] is True
    again = client.post(url, json={"reason": "abuse"}, headers=bob.headers)
    assert again.json()["already_reported"] is True
    queue = client.get("/api/v1/sites/news/moderation/queue", params={"queue": "reported"},
                       headers=maria.headers).json()
    assert [i["id"] for i in queue["items"]] == [posted["id"]]
    assert queue["items"][0]["reports"][0]["reason"] == "abuse"
    assert queue["items"][0]["report_count"] == 1


def test_report_needs_a_known_reason_and_cannot_target_own(client, alice, bob):
    posted = post(client, alice).json()
    url = f"/api/v1/sites/news/comments/{posted['id']}/reports"
    assert client.post(url, json={"reason": "because"}, headers=bob.headers).status_code == 400
    assert client.post(url, json={"reason": "spam"}, headers=alice.headers).status_code == 403


def test_get_one_comment_shows_published_or_own_pending_only(client, alice, bob):
    held = post(client, alice, "stupid").json()
    url = f"/api/v1/sites/news/comments/{held['id']}"
    assert client.get(url, headers=alice.headers).json()["status"] == "pending"
    assert client.get(url, headers=bob.headers).status_code == 404
    assert client.get(url).status_code == 404


def test_banned_reader_gets_a_clear_refusal(client, alice, maria):
    client.post(f"/api/v1/sites/news/moderation/authors/{alice.reader.author_id}/ban",
                json={"days": 3, "reason": "abuse"}, headers=maria.headers)
    response = post(client, alice)
    assert response.status_code == 403 and response.json()["code"] == "author_banned"


def test_post_rate_limit_answers_429_with_retry_after(db, settings, word_engine, alice):
    from fastapi.testclient import TestClient

    from rostra.web.app import create_app

    limited = settings.model_copy(update={"rate_limits_enabled": True,
                                          "rate_limit_posts_per_minute": 2})
    with TestClient(create_app(limited, engine=db, moderation_engine=word_engine)) as client:
        codes = [post(client, alice, f"comment {i}").status_code for i in range(3)]
        last = post(client, alice, "one more")
    assert codes[:2] == [201, 201]
    assert last.status_code == 429 and int(last.headers["retry-after"]) > 0
    assert last.json()["code"] == "rate_limited"
