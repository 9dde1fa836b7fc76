import json
import threading

import pytest
from tests.web.conftest import post, reader_actor, staff_actor

MOD = "/api/v1/sites/news/moderation"


def decide(client, actor, comment, action, version=None, reason=None, site="news"):
    return client.post(
        f"/api/v1/sites/{site}/moderation/comments/{comment['id']}/decision",
        json={"action": action, "version": version or comment["version"], "reason": reason},
        headers=actor.headers,
    )


def test_pending_queue_sorted_by_severity_with_reasons(client, alice, maria):
    mild = post(client, alice, "stupid plan").json()
    worse = post(client, alice, "stupid, I will kill it").json()
    post(client, alice, "fine plan")
    queue = client.get(f"{MOD}/queue", headers=maria.headers).json()
    assert [i["id"] for i in queue["items"]] == [worse["id"], mild["id"]]
    item = queue["items"][0]
    assert item["severity"] == pytest.approx(0.8) and "threat" in item["labels"]
    assert {"label": "threat", "text": "kill"}.items() <= item["reasons"][0].items() or any(
        r["text"] == "kill" for r in item["reasons"]
    )
    assert item["author"]["name"] == "alice" and item["story"]["title"] == "City budget"
    oldest = client.get(f"{MOD}/queue", params={"sort": "oldest"}, headers=maria.headers)
    assert [i["id"] for i in oldest.json()["items"]] == [mild["id"], worse["id"]]


def test_queue_filters(client, alice, bob, maria):
    insult = post(client, alice, "stupid plan").json()
    threat = post(client, bob, "I will kill the budget").json()
    def ids(**params):
        response = client.get(f"{MOD}/queue", params=params, headers=maria.headers)
        return [i["id"] for i in response.json()["items"]]
    assert ids(label="threat") == [threat["id"]]
    assert ids(author_id=alice.reader.author_id) == [insult["id"]]
    assert ids(min_score=0.75) == [threat["id"]]
    assert ids(max_score=0.75) == [insult["id"]]
    assert ids(q="BUDGET") == [threat["id"]]
    assert ids(q="%") == []
    assert ids(story_id=insult["story_id"], sort="oldest") == [insult["id"], threat["id"]]
    assert ids(queue="unmoderated") == []


def test_queue_cursor(client, alice, maria):
    ids = {post(client, alice, f"stupid {i}").json()["id"] for i in range(5)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{MOD}/queue", params=params, headers=maria.headers).json()
        seen += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def test_approve_publishes_counts_and_logs(client, alice, maria):
    held = post(client, alice, "stupid plan").json()
    response = decide(client, maria, held, "approve", reason="fair criticism")
    assert response.status_code == 200
    assert response.json() == {"id": held["id"], "status": "published", "featured": False,
                               "reviewed": True, "version": held["version"] + 1}
    thread = client.get(f"/api/v1/sites/news/stories/{held['story_id']}/comments").json()
    assert thread["count"] == 1 and thread["comments"][0]["id"] == held["id"]
    log = client.get(f"{MOD}/log", params={"comment_id": held["id"]},
                     headers=maria.headers).json()["entries"]
    assert log[0]["action"] == "approve" and log[0]["username"] == "maria"
    assert log[0]["reason"] == "fair criticism"
    assert (log[0]["before"]["status"], log[0]["after"]["status"]) == ("pending", "published")
    assert log[1]["actor"] == "system" and log[1]["action"] == "hold"
    counts = client.get(f"{MOD}/counts", headers=maria.headers).json()
    assert counts["pending"] == 0 and counts["approved"] == 1


@pytest.mark.parametrize("reason", ["spam\x00", "half a pair \ud800"])
def test_a_reason_no_database_can_store_is_refused_and_changes_nothing(client, alice, maria,
                                                                       reason):
    held = post(client, alice, "stupid plan").json()
    body = json.dumps({"action": "reject", "version": held["version"], "reason": reason})
    response = client.post(f"{MOD}/comments/{held['id']}/decision", content=body,
                           headers={**maria.headers, "content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_input"
    queue = client.get(f"{MOD}/queue", headers=maria.headers).json()
    assert [i["id"] for i in queue["items"]] == [held["id"]]  # still held, same version
    assert decide(client, maria, held, "reject", reason="spam").status_code == 200


def test_reject_removes_a_published_comment_and_resolves_reports(client, alice, bob, maria):
    posted = post(client, alice, "fine words").json()
    client.post(f"/api/v1/sites/news/comments/{posted['id']}/reports",
                json={"reason": "spam"}, headers=bob.headers)
    assert decide(client, maria, posted, "spam").json()["status"] == "spam"
    thread = client.get(f"/api/v1/sites/news/stories/{posted['story_id']}/comments").json()
    assert thread["count"] == 0 and thread["comments"] == []
    reported = client.get(f"{MOD}/queue", params={"queue": "reported"}, headers=maria.headers)
    assert reported.json()["items"] == []
    rejected = client.get(f"{MOD}/queue", params={"queue": "rejected"}, headers=maria.headers)
    assert [i["id"] for i in rejected.json()["items"]] == [posted["id"]]


def test_stale_version_is_409_with_current_state(client, alice, maria, db, site):
    held = post(client, alice, "stupid plan").json()
    assert decide(client, maria, held, "approve").status_code == 200
    response = decide(client, maria, held, "reject")
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "conflict"
    assert problem["current"] == {"status": "published", "featured": False, "reviewed": True,
                                  "version": held["version"] + 1}


def test_two_moderators_deciding_at_once_get_exactly_one_409(client, alice, maria, db, site):
    second = staff_actor(db, site, name="mo")
    held = post(client, alice, "stupid plan").json()
    barrier = threading.Barrier(2)
    codes = []

    def run(actor, action):
        barrier.wait()
        codes.append(decide(client, actor, held, action).status_code)

    threads = [threading.Thread(target=run, args=(maria, "approve")),
               threading.Thread(target=run, args=(second, "reject"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
    detail = client.get(f"{MOD}/comments/{held['id']}", headers=maria.headers).json()
    assert detail["version"] == held["version"] + 1
    assert len([e for e in detail["log"] if e["actor"] == "moderator"]) == 1


def test_bulk_decision_reports_each_item(client, alice, maria):
    held = [post(client, alice, f"stupid {i}").json() for i in range(3)]
    items = [{"id": c["id"], "version": c["version"]} for c in held]
    items[1]["version"] = 99
    response = client.post(f"{MOD}/decisions", json={"action": "reject", "comments": items,
                                                      "reason": "insults"},
                           headers=maria.headers)
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, True]
    assert results[1]["problem"]["code"] == "conflict"
    assert results[0]["comment"]["status"] == "rejected"


def test_feature_requires_published(client, alice, maria):
    held = post(client, alice, "stupid").json()
    response = decide(client, maria, held, "feature")
    assert response.status_code == 400


def test_ban_and_suspend_with_history_and_unban(client, alice, maria):
    post(client, alice, "stupid").json()
    author_id = alice.reader.author_id
    response = client.post(f"{MOD}/authors/{author_id}/ban", json={"days": 7, "reason": "x"},
                           headers=maria.headers)
    assert response.status_code == 201 and response.json()["permanent"] is False
    ban = client.post(f"{MOD}/authors/{author_id}/ban", json={"days": None},
                      headers=maria.headers)
    assert ban.json()["permanent"] is True
    history = client.get(f"{MOD}/authors/{author_id}", headers=maria.headers).json()
    assert history["author"]["banned_until"] == "permanent"
    assert [b["permanent"] for b in history["bans"]] == [True, False]
    assert history["bans"][1]["lifted_at"] is not None
    assert history["comments"][0]["status"] == "pending"
    assert [e["action"] for e in history["log"]][:2] == ["ban", "suspend"]
    assert client.delete(f"{MOD}/authors/{author_id}/ban",
                         headers=maria.headers).json() == {"lifted": 1}
    assert post(client, alice, "back again").status_code == 201


def test_queue_items_carry_the_authors_ban_history(client, alice, bob, maria):
    held = post(client, alice, "stupid plan").json()
    post(client, bob, "stupid idea").json()
    author_id = alice.reader.author_id
    client.post(f"{MOD}/authors/{author_id}/ban", json={"days": 7, "reason": "insults"},
                headers=maria.headers)
    client.delete(f"{MOD}/authors/{author_id}/ban", headers=maria.headers)

    def bans():
        items = client.get(f"{MOD}/queue", headers=maria.headers).json()["items"]
        return {i["author"]["name"]: i["author"]["bans"] for i in items}

    lifted = bans()
    assert lifted["bob"] == {"count": 0, "latest": None}
    assert lifted["alice"]["count"] == 1
    assert lifted["alice"]["latest"]["reason"] == "insults"
    assert lifted["alice"]["latest"]["lifted_at"] is not None
    client.post(f"{MOD}/authors/{author_id}/ban", json={"days": None}, headers=maria.headers)
    current = bans()["alice"]
    assert current["count"] == 2 and current["latest"]["permanent"] is True
    assert current["latest"]["lifted_at"] is None
    assert held["id"] in [i["id"] for i in
                          client.get(f"{MOD}/queue", headers=maria.headers).json()["items"]]


@pytest.mark.parametrize("days", [0, -1, 100_000])
def test_ban_days_out_of_range(client, alice, maria, days):
    response = client.post(f"{MOD}/authors/{alice.reader.author_id}/ban",
                           json={"days": days}, headers=maria.headers)
    assert response.status_code == 400


def test_story_settings_close_a_story(client, alice, maria):
    story_id = post(client, alice).json()["story_id"]
    response = client.patch(f"{MOD}/stories/{story_id}", json={"closed": True},
                            headers=maria.headers)
    assert response.json()["open"] is False
    assert post(client, alice, story_id=story_id).json()["code"] == "story_closed"


# --- permission boundaries ---------------------------------------------------------------


def _every_moderation_request(comment_id, author_id, story_id):
    body = {"action": "approve", "version": 1}
    return [
        ("GET", "queue", None), ("GET", "counts", None), ("GET", "log", None),
        ("GET", f"comments/{comment_id}", None),
        ("POST", f"comments/{comment_id}/decision", body),
        ("POST", "decisions", {"action": "approve", "comments": [{"id": comment_id,
                                                                  "version": 1}]}),
        ("GET", f"authors/{author_id}", None),
        ("POST", f"authors/{author_id}/ban", {"days": 1}),
        ("DELETE", f"authors/{author_id}/ban", None),
        ("PATCH", f"stories/{story_id}", {"closed": True}),
    ]


def test_other_sites_moderator_and_readers_reach_nothing(client, db, alice, olga, maria):
    held = post(client, alice, "stupid").json()
    for method, path, body in _every_moderation_request(
        held["id"], alice.reader.author_id, held["story_id"]
    ):
        for actor, expected in ((olga, 403), (alice, 401), (None, 401)):
            response = client.request(method, f"{MOD}/{path}", json=body,
                                      headers=actor.headers if actor else {})
            assert response.status_code == expected, (method, path, actor)
            assert "stupid" not in response.text
    detail = client.get(f"{MOD}/comments/{held['id']}", headers=maria.headers).json()
    assert detail["status"] == "pending" and detail["version"] == 1


def test_moderator_cannot_reach_another_sites_comment_through_own_site(client, db, other_site,
                                                                       maria):
    carol = reader_actor(db, other_site, "carol")
    foreign = post(client, carol, "stupid over there", site="other").json()
    response = decide(client, maria, foreign, "approve")
    assert response.status_code == 404
    response = client.get(f"{MOD}/authors/{carol.reader.author_id}", headers=maria.headers)
    assert response.status_code == 404


def test_admin_moderates_every_site(client, db, alice, site):
    ada = staff_actor(db, name="ada", admin=True)
    held = post(client, alice, "stupid").json()
    assert decide(client, ada, held, "approve").status_code == 200
