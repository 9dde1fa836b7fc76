"""Per-site learning over the API: marks after a decision, status, and who may use them."""

from tests.web.conftest import post


def _decide(client, maria, comment, action="reject"):
    return client.post(f"/api/v1/sites/news/moderation/comments/{comment['id']}/decision",
                       json={"action": action, "version": comment["version"]},
                       headers=maria.headers)


def test_moderator_marks_words_and_labels_of_a_decided_comment(client, alice, maria):
    comment = post(client, alice, "you stupid carrot").json()
    url = f"/api/v1/sites/news/adaptation/comments/{comment['id']}/marks"
    early = client.post(url, json={"labels": ["insult"]}, headers=maria.headers)
    assert early.status_code == 404
    assert _decide(client, maria, comment).status_code == 200
    marked = client.post(url, json={"labels": ["insult"], "spans": [[4, 10]]},
                         headers=maria.headers)
    assert marked.status_code == 200
    assert marked.json() == {"comment_id": comment["id"], "decision": "reject",
                             "labels": ["insult"], "spans": [[4, 10]]}
    outside = client.post(url, json={"spans": [[4, 500]]}, headers=maria.headers)
    assert outside.status_code == 400
    status = client.get("/api/v1/sites/news/adaptation/status", headers=maria.headers).json()
    assert status["decisions"] == 1 and status["active_version"] is None


def test_moderators_of_another_site_and_readers_get_nothing(client, alice, olga):
    assert client.get("/api/v1/sites/news/adaptation/status", headers=olga.headers
                      ).status_code == 403
    assert client.post("/api/v1/sites/news/adaptation/rollback", headers=alice.headers
                       ).status_code in (401, 403)


def test_promotion_without_a_model_is_refused_clearly(client, maria):
    answer = client.post("/api/v1/sites/news/adaptation/promote", headers=maria.headers)
    assert answer.status_code == 404 and "rostra adapt" in answer.text
