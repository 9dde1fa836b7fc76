"""Staff log in to the workspace with their site's SSO: a publisher-signed JWT whose subject
an admin mapped to a staff account (``rostra user set maria --sso-sub news:staff-7``)."""

import re
import time

import jwt
import pytest
from sqlalchemy import func, select

from rostra.actions.accounts import add_site_key, update_user
from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.errors import Conflict
from rostra.storage.tables import authors, moderation_log, staff_sso_subjects, users


@pytest.fixture
def news_key(ws):
    key, secret = add_site_key(ws.db, "news", KeyAlgorithm.HS256)
    update_user(ws.db, "maria", add_sso_subjects=[("news", "staff-7")])
    return key.kid, secret


def sso_token(kid, secret, sub="staff-7", exp_in=300):
    claims = {"sub": sub, "name": "Maria", "email": "maria@news.example",
              "exp": int(time.time()) + exp_in}
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})


def sign_in(client, token, site="news"):
    """Follow the portal's link, then press "Sign in with News account"."""
    page = client.get("/moderate/sso", params={"site": site, "token": token},
                      follow_redirects=True)
    assert page.status_code == 200, page.text
    assert "Sign in with News account" in page.text
    fields = dict(re.findall(r'name="(login_token|site|token)" value="([^"]*)"', page.text))
    return client.post("/moderate/login/sso", data={**fields, "next": ""})


def _state(db):
    with db.connect() as conn:
        return [conn.execute(select(func.count()).select_from(t)).scalar()
                for t in (users, authors, moderation_log)]


def test_mapped_moderator_signs_in_and_sees_only_their_sites(ws, news_key):
    client = ws.client()
    response = sign_in(client, sso_token(*news_key))
    assert response.status_code == 303
    me = client.get("/api/v1/auth/me").json()
    assert me["username"] == "maria" and me["site_ids"] == [ws.site.id]
    assert client.get("/moderate/").headers["location"] == "/moderate/news/queue"
    assert client.get("/moderate/news/queue").status_code == 200
    assert client.get("/moderate/other/queue").status_code == 403


@pytest.mark.parametrize("case", ["unmapped", "expired", "forged"])
def test_bad_sso_tokens_are_refused_and_change_nothing(ws, news_key, case):
    kid, secret = news_key
    token = {
        "unmapped": lambda: sso_token(kid, secret, sub="reader-1"),
        "expired": lambda: sso_token(kid, secret, exp_in=-3600),
        "forged": lambda: sso_token(kid, "not-the-sites-secret-at-all-0123456789"),
    }[case]()
    client = ws.client()
    before = _state(ws.db)
    response = sign_in(client, token)
    assert response.status_code == 401 and "Sign-in refused" in response.text
    assert "rostra_session" not in client.cookies
    assert client.get("/api/v1/auth/me").status_code == 401
    assert _state(ws.db) == before


def test_a_sites_token_does_not_open_another_site(ws, news_key):
    add_site_key(ws.db, "other", KeyAlgorithm.HS256)
    update_user(ws.db, "maria", add_sites=["other"], add_sso_subjects=[("other", "staff-7")])
    client = ws.client()
    page = client.get("/moderate/login/sso", params={"site": "other", "token": "x"})
    login_token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/moderate/login/sso", data={
        "site": "other", "token": sso_token(*news_key), "login_token": login_token})
    assert response.status_code == 401
    assert "rostra_session" not in client.cookies


def test_sso_sign_in_needs_the_pages_own_form(ws, news_key):
    client = ws.client()
    forged = client.post("/moderate/login/sso", data={
        "site": "news", "token": sso_token(*news_key), "login_token": "made-up"})
    assert forged.status_code == 403
    assert "rostra_session" not in client.cookies


def test_disabled_or_removed_staff_cannot_sign_in_with_sso(ws, news_key):
    update_user(ws.db, "maria", remove_sites=["news"])
    assert sign_in(ws.client(), sso_token(*news_key)).status_code == 401
    update_user(ws.db, "maria", add_sites=["news"], disabled=True)
    assert sign_in(ws.client(), sso_token(*news_key)).status_code == 401


def test_a_subject_maps_to_one_account_and_can_be_unmapped(ws, news_key):
    with pytest.raises(Conflict):
        update_user(ws.db, "olga", add_sso_subjects=[("news", "staff-7")])
    update_user(ws.db, "maria", remove_sso_subjects=[("news", "staff-7")])
    with ws.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(staff_sso_subjects)).scalar() == 0
    assert sign_in(ws.client(), sso_token(*news_key)).status_code == 401


def test_incomplete_sign_in_link_is_a_clear_page(ws):
    page = ws.client().get("/moderate/login/sso", params={"site": "nope", "token": "x"})
    assert page.status_code == 400 and "incomplete" in page.text
