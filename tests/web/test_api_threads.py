from tests.web.conftest import URL, post

THREAD = "/api/v1/sites/news/thread"


def test_unknown_story_reads_as_empty_without_creating_it(client, site):
    data = client.get(THREAD, params={"url": URL}).json()
    assert data == {"story": None, "count": 0, "sort": "oldest", "comments": [],
                    "featured": [], "next_cursor": None}
    assert client.get(THREAD, params={"url": URL}).json()["story"] is None


def test_thread_nests_replies_and_counts(client, alice, bob):
    top = post(client, alice, "top").json()
    reply = post(client, bob, "reply", parent_id=top["id"]).json()
    post(client, alice, "reply to reply", parent_id=reply["id"])
    data = client.get(THREAD, params={"url": URL}).json()
    assert data["count"] == 3 and data["story"]["comment_count"] == 3
    [root] = data["comments"]
    assert root["author"] == {"id": alice.reader.author_id, "name": "alice"}
    assert root["reply_count"] == 1
    assert root["replies"][0]["replies"][0]["html"] == "<p>reply to reply</p>"


def test_pending_comments_show_only_to_their_author(client, alice, bob):
    post(client, alice, "visible")
    held = post(client, bob, "stupid take").json()
    for_bob = client.get(THREAD, params={"url": URL}, headers=bob.headers).json()
    assert [c["status"] for c in for_bob["comments"]] == ["published", "pending"]
    assert for_bob["count"] == 1
    for_alice = client.get(THREAD, params={"url": URL}, headers=alice.headers).json()
    assert held["id"] not in [c["id"] for c in for_alice["comments"]]


def test_cursor_pages_through_every_top_level_comment_once(client, alice):
    ids = [post(client, alice, f"comment {i}").json()["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"url": URL, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(THREAD, params=params).json()
        seen += [c["id"] for c in page["comments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_sorts_newest_and_most_reacted(client, alice, bob):
    first = post(client, alice, "first").json()
    second = post(client, alice, "second").json()
    client.post(f"/api/v1/sites/news/comments/{first['id']}/reactions", headers=bob.headers)
    newest = client.get(THREAD, params={"url": URL, "sort": "newest"}).json()
    assert [c["id"] for c in newest["comments"]] == [second["id"], first["id"]]
    reacted = client.get(THREAD, params={"url": URL, "sort": "reacted", "limit": 1}).json()
    assert [c["id"] for c in reacted["comments"]] == [first["id"]]
    rest = client.get(THREAD, params={"url": URL, "sort": "reacted",
                                      "cursor": reacted["next_cursor"]}).json()
    assert [c["id"] for c in rest["comments"]] == [second["id"]]


def test_cursor_of_another_sort_or_garbage_is_a_400(client, alice):
    post(client, alice, "a")
    post(client, alice, "b")
    cursor = client.get(THREAD, params={"url": URL, "limit": 1}).json()["next_cursor"]
    for bad in (cursor + "x", "not-a-cursor", "W10"):
        response = client.get(THREAD, params={"url": URL, "sort": "newest", "cursor": bad})
        assert response.status_code == 400
        assert response.json()["field"] == "cursor"


def test_deep_chain_is_flattened_below_the_shown_depth(client, alice, bob):
    parent = post(client, alice, "level 0").json()
    for level in range(1, 10):
        parent = post(client, bob if level % 2 else alice, f"level {level}",
                      parent_id=parent["id"]).json()
    [root] = client.get(THREAD, params={"url": URL}).json()["comments"]
    depth, node = 0, root
    while node["replies"]:
        node = node["replies"][0]
        depth += 1
    assert depth == 6  # nesting stops at six levels
    at_six = root
    for _ in range(5):
        at_six = at_six["replies"][0]
    flattened = at_six["replies"]
    assert [c["html"] for c in flattened] == [f"<p>level {i}</p>" for i in range(6, 10)]
    assert flattened[1]["reply_to"]["id"] == flattened[0]["id"]


def test_whole_thread_returns_everything_published(client, alice, bob):
    top = post(client, alice, "top").json()
    post(client, bob, "reply", parent_id=top["id"])
    post(client, bob, "stupid hidden")
    data = client.get(f"/api/v1/sites/news/stories/{top['story_id']}/comments/all").json()
    assert data["count"] == 2
    assert [c["html"] for c in data["comments"]] == ["<p>top</p>"]
    assert data["comments"][0]["replies"][0]["html"] == "<p>reply</p>"


def test_whole_thread_is_read_part_by_part_in_order(client, alice, bob, monkeypatch):
    monkeypatch.setattr("rostra.storage.threads.WHOLE_CHUNK", 2)  # seven roots: four parts
    tops = [post(client, alice, f"top {i}").json() for i in range(7)]
    post(client, bob, "reply to 0", parent_id=tops[0]["id"])
    deep = post(client, bob, "reply to 5", parent_id=tops[5]["id"]).json()
    post(client, alice, "reply to reply", parent_id=deep["id"])
    delete = "/api/v1/sites/news/comments/{}"
    # a deleted root with a reply stays as a placeholder; one without replies disappears,
    # and so do both roots of the part [2, 3]: no stray comma where a part is empty
    for i in (0, 2, 3):
        assert client.delete(delete.format(tops[i]["id"]), headers=alice.headers).status_code \
            == 204
    response = client.get(f"/api/v1/sites/news/stories/{tops[0]['story_id']}/comments/all")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data["story"]["id"] == tops[0]["story_id"] and data["count"] == 7
    comments = data["comments"]
    assert [c["id"] for c in comments] == [tops[i]["id"] for i in (0, 1, 4, 5, 6)]
    assert comments[0]["status"] == "deleted" and comments[0]["html"] == ""
    assert [r["html"] for r in comments[0]["replies"]] == ["<p>reply to 0</p>"]
    assert comments[3]["replies"][0]["replies"][0]["html"] == "<p>reply to reply</p>"
    unknown = client.get("/api/v1/sites/news/stories/999/comments/all")
    assert unknown.status_code == 404 and unknown.json()["code"] == "story_not_found"


def test_more_replies_of_a_root(client, alice, bob):
    top = post(client, alice, "top").json()
    ids = [post(client, bob, f"r{i}", parent_id=top["id"]).json()["id"] for i in range(3)]
    page = client.get(f"/api/v1/sites/news/comments/{top['id']}/replies",
                      params={"limit": 2}).json()
    rest = client.get(f"/api/v1/sites/news/comments/{top['id']}/replies",
                      params={"cursor": page["next_cursor"]}).json()
    assert [c["id"] for c in page["comments"] + rest["comments"]] == ids


def test_get_or_create_story_and_counts(client, alice):
    created = client.post("/api/v1/sites/news/stories", json={"url": URL, "title": "Budget"})
    assert created.status_code == 200
    again = client.post("/api/v1/sites/news/stories", json={"url": URL + "#c", "title": "New"})
    assert again.json()["id"] == created.json()["id"] and again.json()["title"] == "Budget"
    post(client, alice, story_id=created.json()["id"])
    other = "https://news.example/none"
    counts = client.get("/api/v1/sites/news/counts", params=[("url", URL), ("url", other)])
    assert counts.json() == {URL: 1, other: 0}


def test_featured_comments_come_first_on_page_one(client, alice, maria):
    posted = [post(client, alice, f"c{i}").json() for i in range(3)]
    client.post(f"/api/v1/sites/news/moderation/comments/{posted[2]['id']}/decision",
                json={"action": "feature", "version": posted[2]["version"]},
                headers=maria.headers)
    page = client.get(THREAD, params={"url": URL, "limit": 1}).json()
    assert [c["id"] for c in page["featured"]] == [posted[2]["id"]]
    later = client.get(THREAD, params={"url": URL, "cursor": page["next_cursor"]}).json()
    assert later["featured"] == []


def test_unknown_site_and_story_are_404_problems(client, site):
    response = client.get("/api/v1/sites/nope/thread", params={"url": URL})
    assert response.status_code == 404 and response.json()["code"] == "site_not_found"
    response = client.get("/api/v1/sites/news/stories/999/comments")
    assert response.status_code == 404 and response.json()["code"] == "story_not_found"
    assert response.headers["content-type"] == "application/problem+json"


def test_story_of_another_site_is_not_found_there(client, alice, other_site):
    story_id = post(client, alice).json()["story_id"]
    assert client.get(f"/api/v1/sites/other/stories/{story_id}/comments").status_code == 404
