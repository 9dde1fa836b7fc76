from click.testing import CliRunner
from tests.factories import NOW, make_site
from tests.receivers import webhook_receiver

from rostra.actions.notifications import WebhookEvent, queue_event
from rostra.cli import main
from rostra.storage.database import make_engine, transaction
from rostra.storage.outbox import OutboxStatus, OutboxStore
from rostra.storage.tables import metadata
from rostra.storage.webhooks import WebhookStore


def test_worker_once_sends_what_is_due(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/worker.db"
    db = make_engine(url)
    metadata.create_all(db)
    site = make_site(db)
    with webhook_receiver() as receiver:
        with transaction(db) as conn:
            WebhookStore.create(conn, site_id=site.id, url=receiver.url,
                                secret="cli-secret-0123456789", events=["author.banned"],
                                now=NOW)
            queue_event(conn, site, WebhookEvent.AUTHOR_BANNED, {"author": {"id": 1}}, NOW)
        monkeypatch.setenv("ROSTRA_DATABASE_URL", url)
        monkeypatch.setenv("ROSTRA_DEV_MODE", "1")
        result = CliRunner().invoke(main, ["worker", "--once"])
        assert result.exit_code == 0, result.output
        assert "attempted 1 deliveries" in result.output
        assert len(receiver.requests) == 1
    with db.connect() as conn:
        assert [j.status for j in OutboxStore.list(conn)] == [OutboxStatus.SENT]
    db.dispose()
