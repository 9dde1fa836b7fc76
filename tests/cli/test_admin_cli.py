"""rostra site / user / token through click's CliRunner, on SQLite and PostgreSQL."""

import time
from datetime import UTC, datetime

import jwt
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, text

from rostra.actions import accounts
from rostra.cli import main
from rostra.domain.sites import Premoderation
from rostra.storage import migrations
from rostra.storage.accounts import (
    ModeratorStore,
    SiteKeyStore,
    StaffSsoStore,
    TokenStore,
    UserStore,
)
from rostra.storage.database import transaction
from rostra.storage.sites import SiteStore
from rostra.storage.tables import api_tokens, users
from rostra.web.auth import verify_sso_token

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def rostra(database_url, db, monkeypatch):
    """Run ``rostra ARGS`` against the test database; returns the click Result."""
    for name in ("ROSTRA_CONFIG", "ROSTRA_SECRET_KEY", "ROSTRA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    migrations.ensure_schema(db)  # as `rostra db upgrade` would; the fixture used create_all
    runner = CliRunner()
    env = {"ROSTRA_DATABASE_URL": database_url, "ROSTRA_DEV_MODE": "1"}

    def run(*args, input=None, env_extra=None):
        result = runner.invoke(main, list(args), input=input, env={**env, **(env_extra or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback would reach the user: fail loudly
        return result

    return run


def ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def fails(result, text):
    assert result.exit_code != 0
    assert text in result.output, result.output
    assert "Traceback" not in result.output


def test_site_add_and_list(rostra):
    assert "No sites yet" in ok(rostra("site", "list"))
    assert "Added site herald" in ok(rostra("site", "add", "herald", "--name", "The Herald",
                                            "--origin", "HTTPS://Herald.Example:443/"))
    listing = ok(rostra("site", "list"))
    assert "herald\tThe Herald\tguests" in listing
    assert "origins=https://herald.example" in listing


def test_site_add_refuses_bad_input(rostra):
    ok(rostra("site", "add", "herald", "--name", "H"))
    fails(rostra("site", "add", "herald", "--name", "H"), "exists already")
    fails(rostra("site", "add", "Bad Slug!", "--name", "H"), "slug")
    fails(rostra("site", "add", "x", "--name", "H", "--origin", "javascript:alert(1)"), "origin")
    fails(rostra("site", "add", "y", "--name", "H", "--origin", "https://a.example/path"),
          "no path")
    fails(rostra("site", "add", "z"), "--name")


def test_site_set_changes_settings(rostra, db):
    ok(rostra("site", "add", "herald", "--name", "H", "--origin", "https://a.example"))
    ok(rostra("site", "set", "herald", "--no-guests", "--premoderation", "new_authors",
              "--premoderation-k", "3", "--add-origin", "https://b.example",
              "--threshold", "insult=0.4:0.8", "--threshold", "threat=0.2:0.7"))
    with db.connect() as conn:
        site = SiteStore.get_by_slug(conn, "herald")
    assert site.settings.guests_allowed is False
    assert site.settings.premoderation is Premoderation.NEW_AUTHORS
    assert site.settings.premoderation_k == 3
    assert site.allowed_origins == ("https://a.example", "https://b.example")
    assert site.policy["thresholds"] == {"insult": {"review": 0.4, "reject": 0.8},
                                         "threat": {"review": 0.2, "reject": 0.7}}
    ok(rostra("site", "set", "herald", "--remove-origin", "https://a.example", "--guests"))
    ok(rostra("site", "set", "herald", "--origin", "https://c.example"))
    with db.connect() as conn:
        site = SiteStore.get_by_slug(conn, "herald")
    assert site.allowed_origins == ("https://c.example",)
    assert site.settings.guests_allowed is True


def test_site_set_refuses_bad_input(rostra):
    ok(rostra("site", "add", "herald", "--name", "H"))
    fails(rostra("site", "set", "nope", "--no-guests"), "no site")
    fails(rostra("site", "set", "herald", "--threshold", "rudeness=0.1:0.2"), "not a label")
    fails(rostra("site", "set", "herald", "--threshold", "insult=0.9"), "LABEL=REVIEW:REJECT")
    fails(rostra("site", "set", "herald", "--threshold", "insult=a:b"), "numbers")
    fails(rostra("site", "set", "herald", "--threshold", "insult=0.9:0.5"), "above")
    fails(rostra("site", "set", "herald", "--threshold", "insult=0.5:1.5"), "between 0 and 1")
    fails(rostra("site", "set", "herald", "--premoderation", "sometimes"), "sometimes")
    fails(rostra("site", "set", "herald", "--premoderation-k", "0"), "premoderation_k")


def test_site_key_add_prints_a_working_secret_once(rostra, db):
    ok(rostra("site", "add", "herald", "--name", "H"))
    output = ok(rostra("site", "key", "add", "herald", "--kid", "2026-11"))
    secret = output.split("shown only now; give it to the site's servers): ")[1].strip()
    with db.connect() as conn:
        keys = SiteKeyStore.active(conn, SiteStore.get_by_slug(conn, "herald").id)
    token = jwt.encode({"sub": "1", "name": "A", "email": "", "exp": int(time.time()) + 60},
                       secret, algorithm="HS256", headers={"kid": "2026-11"})
    assert verify_sso_token(token, keys, datetime.now(UTC)).sub == "1"
    listing = ok(rostra("site", "key", "list", "herald"))
    assert "2026-11\tHS256" in listing and secret not in listing


def test_site_key_with_a_public_key_file(rostra, tmp_path):
    ok(rostra("site", "add", "herald", "--name", "H"))
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "site.pem"
    path.write_bytes(pem)
    output = ok(rostra("site", "key", "add", "herald", "--algorithm", "ES256",
                       "--public-key", str(path)))
    assert "ES256 public key stored" in output and "secret" not in output
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    fails(rostra("site", "key", "add", "herald", "--algorithm", "ES256", "--public-key",
                 str(bad)), "PEM")
    fails(rostra("site", "key", "add", "herald", "--algorithm", "RS256", "--public-key",
                 str(path)), "RSA")
    fails(rostra("site", "key", "add", "herald", "--algorithm", "RS256"), "public key")
    fails(rostra("site", "key", "add", "herald", "--algorithm", "ES256", "--public-key",
                 str(tmp_path / "missing.pem")), "missing.pem")


def test_site_key_rotation_and_revocation(rostra):
    ok(rostra("site", "add", "herald", "--name", "H"))
    ok(rostra("site", "key", "add", "herald", "--kid", "one"))
    ok(rostra("site", "key", "add", "herald", "--kid", "two"))
    fails(rostra("site", "key", "add", "herald", "--kid", "three"), "rotate")
    ok(rostra("site", "key", "rotate", "herald", "--kid", "three"))
    listing = ok(rostra("site", "key", "list", "herald"))
    assert "one\tHS256" in listing and "revoked" in listing.split("one\t")[1].splitlines()[0]
    ok(rostra("site", "key", "revoke", "herald", "two"))
    fails(rostra("site", "key", "revoke", "herald", "two"), "no valid SSO key")
    fails(rostra("site", "key", "add", "herald", "--kid", "bad kid!"), "key id")


def test_user_add_with_password_on_stdin(rostra, db):
    ok(rostra("site", "add", "herald", "--name", "H"))
    output = ok(rostra("user", "add", "maria", "--role", "moderator", "--site", "herald",
                       "--password-stdin", input=PASSWORD + "\n"))
    assert "Added moderator maria" in output and PASSWORD not in output
    with db.connect() as conn:
        maria = UserStore.get_by_username(conn, "maria")
        assert ModeratorStore.site_ids(conn, maria.id) == frozenset(
            {SiteStore.get_by_slug(conn, "herald").id})
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.verify_password(stored, PASSWORD)
    assert "maria\tmoderator\therald" in ok(rostra("user", "list"))


def test_user_add_prompts_without_echo(rostra):
    output = ok(rostra("user", "add", "ada", "--role", "admin",
                       input=f"{PASSWORD}\n{PASSWORD}\n"))
    assert "Added admin ada" in output and PASSWORD not in output
    fails(rostra("user", "add", "bob", "--role", "admin", input=f"{PASSWORD}\nother one!\n"),
          "do not match")


def test_user_add_refuses_bad_input(rostra):
    ok(rostra("site", "add", "herald", "--name", "H"))
    fails(rostra("user", "add", "maria", "--role", "moderator", "--password-stdin",
                 input=PASSWORD + "\n"), "at least one --site")
    fails(rostra("user", "add", "maria", "--role", "moderator", "--site", "nope",
                 "--password-stdin", input=PASSWORD + "\n"), "no site")
    fails(rostra("user", "add", "maria", "--role", "admin", "--password-stdin",
                 input="short\n"), "at least 10")
    fails(rostra("user", "add", "maria", "--role", "admin", "--password-stdin", input="\n"),
          "no password")
    fails(rostra("user", "add", "bad name", "--role", "admin", "--password-stdin",
                 input=PASSWORD + "\n"), "username")
    fails(rostra("user", "add", "x", "--role", "commenter"), "commenter")
    ok(rostra("user", "add", "ada", "--role", "admin", "--password-stdin", input=PASSWORD))
    fails(rostra("user", "add", "ada", "--role", "admin", "--password-stdin",
                 input=PASSWORD), "exists already")


def test_user_set_changes_sites_and_locks(rostra, db):
    ok(rostra("site", "add", "herald", "--name", "H"))
    ok(rostra("site", "add", "gazette", "--name", "G"))
    ok(rostra("user", "add", "maria", "--role", "moderator", "--site", "herald",
              "--password-stdin", input=PASSWORD))
    assert "moderator of gazette" in ok(rostra("user", "set", "maria", "--add-site", "gazette",
                                               "--remove-site", "herald"))
    ok(rostra("user", "set", "maria", "--disable"))
    with db.connect() as conn:
        maria = UserStore.get_by_username(conn, "maria")
    assert maria.disabled and maria.session_version == 2
    assert "disabled" in ok(rostra("user", "list"))
    ok(rostra("user", "set", "maria", "--enable"))
    fails(rostra("user", "set", "nobody", "--enable"), "no user")
    fails(rostra("user", "set", "maria", "--add-site", "nope"), "no site")


def test_user_password_change_ends_sessions(rostra, db):
    ok(rostra("user", "add", "ada", "--role", "admin", "--password-stdin", input=PASSWORD))
    ok(rostra("user", "password", "ada", "--password-stdin", input="another long one"))
    with db.connect() as conn:
        ada = UserStore.get_by_username(conn, "ada")
    assert ada.session_version == 2
    assert accounts.verify_password(ada.password_hash, "another long one")


def test_token_create_prints_it_once_and_stores_its_hash(rostra, db):
    ok(rostra("user", "add", "ada", "--role", "admin", "--password-stdin", input=PASSWORD))
    token = ok(rostra("token", "create", "ada", "--name", "backups")).splitlines()[-1]
    with db.connect() as conn:
        stored = [str(v) for v in conn.execute(select(api_tokens)).one()]
    assert token not in stored
    with transaction(db) as conn:
        user = TokenStore.resolve(conn, token, now=datetime.now(UTC))
    assert user is not None and user.username == "ada"
    listing = ok(rostra("token", "list", "ada"))
    assert "backups" in listing and token not in listing
    token_id = listing.split("\t")[0]
    ok(rostra("token", "revoke", token_id))
    assert "revoked" in ok(rostra("token", "list", "ada"))
    fails(rostra("token", "revoke", token_id), "no live API token")
    fails(rostra("token", "create", "nobody", "--name", "x"), "no user")
    fails(rostra("token", "create", "ada", "--name", ""), "token name")


def test_schema_is_migrated_on_sqlite_and_required_on_postgresql(database_url, db,
                                                                 monkeypatch):
    monkeypatch.delenv("ROSTRA_CONFIG", raising=False)
    with db.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    result = CliRunner().invoke(main, ["site", "list"],
                                env={"ROSTRA_DATABASE_URL": database_url, "ROSTRA_DEV_MODE": "1"})
    if db.dialect.name == "sqlite":
        assert result.exit_code == 0, result.output
        assert migrations.is_current(db)
    else:
        assert result.exit_code == 1
        assert "run `rostra db upgrade` first" in result.output


def test_unreachable_database_is_one_line(monkeypatch):
    monkeypatch.delenv("ROSTRA_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["site", "list"], env={
        "ROSTRA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "ROSTRA_DEV_MODE": "1"})
    assert result.exit_code == 1 and "cannot use the database" in result.output
    assert isinstance(result.exception, SystemExit)


def test_unsafe_settings_are_reported_in_one_line(rostra):
    result = rostra("site", "list", env_extra={"ROSTRA_DEV_MODE": "0"})
    fails(result, "ROSTRA_SECRET_KEY is still the placeholder")


def test_user_set_maps_and_unmaps_sso_subjects(rostra, db):
    ok(rostra("site", "add", "herald", "--name", "H"))
    ok(rostra("user", "add", "maria", "--role", "moderator", "--site", "herald",
              "--password-stdin", input=PASSWORD))
    ok(rostra("user", "set", "maria", "--sso-sub", "herald:staff-7"))
    with db.connect() as conn:
        herald = SiteStore.get_by_slug(conn, "herald")
        maria = UserStore.get_by_username(conn, "maria")
        assert StaffSsoStore.subjects_of(conn, maria.id) == [(herald.id, "staff-7")]
    fails(rostra("user", "set", "maria", "--sso-sub", "staff-7"), "SLUG:SUBJECT")
    fails(rostra("user", "set", "maria", "--sso-sub", "nope:staff-7"), "no site")
    ok(rostra("user", "set", "maria", "--remove-sso-sub", "herald:staff-7"))
    with db.connect() as conn:
        assert StaffSsoStore.subjects_of(conn, maria.id) == []
