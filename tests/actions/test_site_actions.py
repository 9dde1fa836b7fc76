import pytest
from sqlalchemy import select

from rostra.actions.sites import create_site, update_site
from rostra.domain.errors import Conflict, InvalidInput, SiteNotFound
from rostra.domain.sites import Premoderation
from rostra.moderation.policy import Policy
from rostra.storage.tables import moderation_log


def test_create_site_normalises_origins_and_logs(db):
    site = create_site(db, "herald", "  The   Herald ", origins=["HTTPS://herald.example/"])
    assert site.name == "The Herald"
    assert site.allowed_origins == ("https://herald.example",)
    assert site.policy == {}
    with db.connect() as conn:
        assert conn.execute(select(moderation_log.c.action)).scalars().all() == ["site.create"]


@pytest.mark.parametrize(("slug", "name"), [("Herald", "H"), ("-x", "H"), ("a" * 65, "H"),
                                            ("ok", ""), ("ok", "x" * 201)])
def test_create_site_refuses_bad_input(db, slug, name):
    with pytest.raises(InvalidInput):
        create_site(db, slug, name)


def test_duplicate_site_is_a_conflict(db):
    create_site(db, "herald", "H")
    with pytest.raises(Conflict):
        create_site(db, "herald", "H")


def test_thresholds_merge_into_the_policy_and_stay_valid(db):
    create_site(db, "herald", "H")
    site = update_site(db, "herald", thresholds={"insult": (0.4, 0.8)})
    policy = Policy.from_dict(site.policy)
    assert (policy.thresholds["insult"].review, policy.thresholds["insult"].reject) == (0.4, 0.8)
    assert policy.thresholds["threat"] == Policy.default().thresholds["threat"]
    with pytest.raises(InvalidInput):
        update_site(db, "herald", thresholds={"insult": (0.9, 0.1)})
    with pytest.raises(InvalidInput):
        update_site(db, "herald", thresholds={"rudeness": (0.1, 0.2)})


def test_update_site_logs_before_and_after(db):
    create_site(db, "herald", "H")
    update_site(db, "herald", premoderation="all", user_id=None)
    update_site(db, "herald")  # no change, no entry
    with db.connect() as conn:
        rows = conn.execute(select(moderation_log).order_by(moderation_log.c.id)).all()
    assert [r.action for r in rows] == ["site.create", "site.update"]
    assert rows[1].before["settings"]["premoderation"] == "none"
    assert rows[1].after["settings"]["premoderation"] == Premoderation.ALL.value


def test_update_site_refuses_bad_input(db):
    create_site(db, "herald", "H")
    with pytest.raises(SiteNotFound):
        update_site(db, "nope", name="x")
    with pytest.raises(InvalidInput):
        update_site(db, "herald", premoderation="sometimes")
    with pytest.raises(InvalidInput):
        update_site(db, "herald", premoderation_k=0)
    with pytest.raises(InvalidInput):
        update_site(db, "herald", add_origins=["not an origin"])
