"""The workspace's webhooks page: admins manage, the site's moderators read the log."""

from tests.factories import NOW

from rostra.storage.database import transaction
from rostra.storage.webhooks import WebhookStore


def form(client, path, **data):
    return client.post(path, data={"csrf_token": client.csrf, **data})


def hooks(ws):
    with transaction(ws.db) as conn:
        return WebhookStore.for_site(conn, ws.site.id)


def test_admin_adds_pauses_and_removes_a_webhook(ws):
    ada = ws.client("ada")
    assert 'href="/moderate/news/webhooks"' in ada.get("/moderate/news/settings").text
    added = form(ada, "/moderate/news/webhooks", url="https://hooks.example/in",
                 events="comment.created")
    assert added.status_code == 201
    [hook] = hooks(ws)
    assert hook.events == ("comment.created",)
    assert f'value="{hook.secret}"' in added.text  # shown once, on this answer
    assert hook.secret not in ada.get("/moderate/news/webhooks").text
    assert form(ada, f"/moderate/news/webhooks/{hook.id}/toggle").status_code == 303
    assert hooks(ws)[0].active is False
    assert "paused" in ada.get("/moderate/news/webhooks").text
    assert form(ada, f"/moderate/news/webhooks/{hook.id}/delete").status_code == 303
    assert hooks(ws) == []


def test_a_bad_url_is_refused_on_a_page(ws):
    ada = ws.client("ada")
    response = form(ada, "/moderate/news/webhooks", url="javascript:alert(1)",
                    events="comment.created")
    assert response.status_code == 400 and "http(s)" in response.text
    assert hooks(ws) == []


def test_moderators_read_but_do_not_manage(ws):
    with transaction(ws.db) as conn:
        hook = WebhookStore.create(conn, site_id=ws.site.id, url="https://hooks.example/in",
                                   secret="s" * 32, events=["comment.created"],
                                   now=NOW)
        WebhookStore.record_delivery(conn, webhook_id=hook.id, outbox_id=None,
                                     event="comment.created", attempt=2, status_code=502,
                                     duration_ms=31, error="HTTP 502", now=NOW)
    maria = ws.client("maria")
    page = maria.get("/moderate/news/webhooks")
    assert page.status_code == 200
    assert "https://hooks.example/in" in page.text and "HTTP 502" in page.text
    assert "Add a webhook" not in page.text and "s" * 32 not in page.text
    refused = form(maria, f"/moderate/news/webhooks/{hook.id}/delete")
    assert refused.status_code == 403 and len(hooks(ws)) == 1
    olga = ws.client("olga")
    assert olga.get("/moderate/news/webhooks").status_code == 403
    assert ws.client().get("/moderate/news/webhooks").status_code == 303  # to log in
