"""rostra adapt: status, promote and rollback of site models, and clear refusals."""

import pytest
from click.testing import CliRunner
from tests.factories import NOW, make_site

from rostra.cli import main
from rostra.moderation.adaptation import fit_site_model
from rostra.storage import migrations
from rostra.storage.database import transaction
from rostra.storage.reviews import ReviewStore
from rostra.storage.site_models import ModelStatus, SiteModelStore


@pytest.fixture
def rostra(database_url, db, monkeypatch):
    for name in ("ROSTRA_CONFIG", "ROSTRA_SECRET_KEY", "ROSTRA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    migrations.ensure_schema(db)
    env = {"ROSTRA_DATABASE_URL": database_url, "ROSTRA_DEV_MODE": "1"}

    def run(*args):
        result = CliRunner().invoke(main, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert "Traceback" not in result.output
        return result

    return run


def _store(db, site, metrics):
    with transaction(db) as conn:
        SiteModelStore.add(conn, site_id=site.id, artifact=fit_site_model([]).to_bytes(),
                           metrics=metrics, examples=0, now=NOW)


def test_status_promote_and_rollback(rostra, db):
    site = make_site(db, "news")
    assert "0 decisions; active model: base engine" in rostra("adapt", "status", "--site",
                                                              "news").output
    _store(db, site, {"promotable": True, "refusals": [], "against": None})
    assert "model v1 is active" in rostra("adapt", "promote", "--site", "news").output
    assert "v1" in rostra("adapt", "status", "--site", "news").output
    assert "the base engine is active again" in rostra("adapt", "rollback", "--site",
                                                       "news").output


def test_promote_and_rollback_reasons_go_to_the_audit_log(rostra, db):
    site = make_site(db, "news")
    _store(db, site, {"promotable": True, "refusals": [], "against": None})
    result = rostra("adapt", "promote", "--site", "news", "--reason", "  better on\nMay's  ")
    assert result.exit_code == 0, result.output
    result = rostra("adapt", "rollback", "--site", "news", "--reason", "too many holds")
    assert result.exit_code == 0, result.output
    with db.connect() as conn:
        entries = ReviewStore.log_entries(conn, site.id, action=None)
    reasons = {e.action: e.reason for e in entries if e.action.startswith("site.model.")}
    assert reasons == {"site.model.promote": "better on May's",
                       "site.model.rollback": "too many holds"}
    _store(db, site, {"promotable": True, "refusals": [], "against": None})
    for bad in ("x" * 2001, "a\x00b"):
        refused = rostra("adapt", "promote", "--site", "news", "--reason", bad)
        assert refused.exit_code == 2 and "--reason" in refused.output
    with db.connect() as conn:
        assert SiteModelStore.with_status(conn, site.id, ModelStatus.ACTIVE) is None  # refused


def test_refusals_are_one_clear_line(rostra, db):
    site = make_site(db, "news")
    result = rostra("adapt", "rollback", "--site", "news")
    assert result.exit_code == 1 and "no active site model" in result.output
    _store(db, site, {"promotable": False, "refusals": ["ROC-AUC 0.6 is not above 0.7"],
                      "against": None})
    result = rostra("adapt", "promote", "--site", "news")
    assert result.exit_code == 1 and "ROC-AUC 0.6 is not above 0.7" in result.output
    result = rostra("adapt", "status", "--site", "nowhere")
    assert result.exit_code == 1 and "Error" in result.output
    assert rostra("adapt").exit_code == 2  # no site named


def test_the_schedule_command_reports_each_site_and_refuses_bad_counts(rostra, db):
    make_site(db, "news")
    make_site(db, "sport")
    result = rostra("adapt", "due", "--every", "5")
    assert result.exit_code == 0, result.output
    assert "news: 0 new decisions, not due (0 of 5 decisions)" in result.output
    assert "sport: 0 new decisions" in result.output
    only = rostra("adapt", "due", "--site", "sport")
    assert "sport:" in only.output and "news:" not in only.output
    assert rostra("adapt", "due", "--every", "0").exit_code == 2
    missing = rostra("adapt", "due", "--site", "nowhere")
    assert missing.exit_code == 1 and "Error" in missing.output


def test_adapt_trains_on_the_engine_the_server_runs(rostra, db):
    """Both tiers, as `rostra serve` loads them: the site model reads the accurate tier's
    sentence representation too, and says so."""
    from datetime import timedelta

    from tests.factories import make_reader, make_staff

    from rostra.actions.comments import post_comment
    from rostra.actions.moderation import moderate
    from rostra.domain.moderation import ModerationAction
    from rostra.moderation.engine import ModerationEngine

    engine = ModerationEngine.from_model_dir()
    site = make_site(db, "news")
    maria, alice = make_staff(db, site), make_reader(db, site)
    rude = ["carrot heads like you ruin this", "typical carrot nonsense", "carrot brained take"]
    fine = ["the vote is on monday", "thanks for covering the council", "good piece on transit"]
    for k in range(8):
        for text, action in [(t, ModerationAction.REJECT) for t in rude] + [
            (t, ModerationAction.APPROVE) for t in fine
        ]:
            when = NOW + timedelta(minutes=k)
            comment = post_comment(db, engine, site=site, author_id=alice.author_id,
                                   body=f"{text} {k}", url="https://news.example/a",
                                   title="A", now=when).comment
            moderate(db, site=site, staff=maria, comment_id=comment.id, action=action,
                     version=comment.version, now=when)
    result = rostra("adapt", "--site", "news")
    assert result.exit_code == 0, result.output
    assert "model v1 trained on 48 decisions" in result.output
    assert "the accurate tier's reading of it (minilm-l6-int8-" in " ".join(result.output.split())
    with db.connect() as conn:
        stored = SiteModelStore.with_status(conn, site.id, ModelStatus.SHADOW)
    assert stored.metrics["embedding"] == engine.embedding_version
