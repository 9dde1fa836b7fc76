"""Admin commands: ``rostra site``, ``rostra user`` and ``rostra token``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy import Engine

from rostra.actions import accounts, sites
from rostra.cli import main
from rostra.cli.context import friendly, prepare_schema
from rostra.config import load_settings
from rostra.domain.accounts import KeyAlgorithm
from rostra.domain.comments import Role
from rostra.domain.labels import LABELS
from rostra.domain.sites import Premoderation, Site
from rostra.storage.accounts import ModeratorStore, SiteKeyStore, TokenStore, UserStore
from rostra.storage.database import make_engine
from rostra.storage.sites import SiteStore

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def _engine() -> Iterator[Engine]:
    """The configured database, its tables created if missing."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.ClickException(f"invalid settings: {messages}") from None
    engine = make_engine(settings.database_url)
    try:
        prepare_schema(engine)
        yield engine
    finally:
        engine.dispose()








def _describe(site: Site) -> str:
    s = site.settings
    origins = ", ".join(site.allowed_origins) or "-"
    guests = "guests" if s.guests_allowed else "no guests"
    return (f"{site.slug}\t{site.name}\t{guests}\tpremoderation={s.premoderation.value}"
            f"\torigins={origins}")


# --- sites ---------------------------------------------------------------------------------


@main.group("site")
def site_group() -> None:
    """Add, list and configure sites."""


@site_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The site's name, shown to moderators.")
@click.option("--origin", "origins", multiple=True, metavar="URL",
              help="An origin the widget may run on (https://news.example.com); repeatable.")
@click.option("--no-guests", is_flag=True, help="Only SSO readers may comment.")
@friendly
def site_add(slug: str, name: str, origins: tuple[str, ...], no_guests: bool) -> None:
    """Add a site with the default moderation policy."""
    from rostra.domain.sites import SiteSettings

    with _engine() as engine:
        site = sites.create_site(engine, slug, name, origins=origins,
                                 settings=SiteSettings(guests_allowed=not no_guests))
    click.echo(f"Added site {site.slug} (id {site.id}).")


@site_group.command("list")
@friendly
def site_list() -> None:
    """List the sites: slug, name, guests, premoderation, origins."""
    with _engine() as engine, engine.connect() as conn:
        all_sites = SiteStore.list_all(conn)
    if not all_sites:
        click.echo("No sites yet; add one with `rostra site add SLUG --name NAME`.")
    for site in all_sites:
        click.echo(_describe(site))


def _parse_threshold(text: str) -> tuple[str, tuple[float, float]]:
    label, sep, numbers = text.partition("=")
    review, sep2, reject = numbers.partition(":")
    label = label.strip()
    if not sep or not sep2:
        raise click.BadParameter(f"{text!r}: write LABEL=REVIEW:REJECT, e.g. insult=0.5:0.9")
    if label not in LABELS:
        raise click.BadParameter(f"{label!r} is not a label; labels: {', '.join(LABELS)}")
    try:
        return label, (float(review), float(reject))
    except ValueError:
        raise click.BadParameter(f"{text!r}: thresholds are numbers between 0 and 1") from None


@site_group.command("set")
@click.argument("slug")
@click.option("--name", help="A new name.")
@click.option("--guests/--no-guests", default=None, help="Allow guest comments or not.")
@click.option("--premoderation", type=click.Choice([p.value for p in Premoderation]),
              help="Which comments wait for a moderator whatever the engine says.")
@click.option("--premoderation-k", type=int, help="Approved comments before a new author "
              "is trusted (with --premoderation new_authors).")
@click.option("--origin", "origins", multiple=True, metavar="URL",
              help="Replace the allowed origins with these; repeatable.")
@click.option("--add-origin", multiple=True, metavar="URL", help="Allow one more origin.")
@click.option("--remove-origin", multiple=True, metavar="URL", help="Stop allowing an origin.")
@click.option("--threshold", "thresholds", multiple=True, metavar="LABEL=REVIEW:REJECT",
              help="Scores at which a label holds or rejects a comment; repeatable.")
@friendly
def site_set(
    slug: str,
    name: str | None,
    guests: bool | None,
    premoderation: str | None,
    premoderation_k: int | None,
    origins: tuple[str, ...],
    add_origin: tuple[str, ...],
    remove_origin: tuple[str, ...],
    thresholds: tuple[str, ...],
) -> None:
    """Change a site's settings."""
    parsed = dict(_parse_threshold(t) for t in thresholds)
    with _engine() as engine:
        site = sites.update_site(
            engine, slug, name=name, guests_allowed=guests, premoderation=premoderation,
            premoderation_k=premoderation_k, origins=origins or None, add_origins=add_origin,
            remove_origins=remove_origin, thresholds=parsed,
        )
    click.echo(_describe(site))


@site_group.group("key")
def key_group() -> None:
    """The keys a site's servers sign their readers' SSO tokens with."""


_ALGORITHMS = click.Choice([a.value for a in KeyAlgorithm])


def _read_public_key(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from None


def _announce_key(kid: str, algorithm: KeyAlgorithm, secret: str | None) -> None:
    click.echo(f"Key id (JWT 'kid' header): {kid}")
    if secret is not None:
        click.echo(f"HS256 secret (shown only now; give it to the site's servers): {secret}")
    else:
        click.echo(f"{algorithm.value} public key stored.")


def _key_command(rotate: bool) -> Callable[..., None]:
    @click.argument("slug")
    @click.option("--algorithm", type=_ALGORITHMS, default="HS256", show_default=True)
    @click.option("--public-key", type=click.Path(path_type=Path, dir_okay=False),
                  help="PEM public key file (RS256, ES256).")
    @click.option("--kid", help="Key id; generated if not given.")
    @friendly
    def command(slug: str, algorithm: str, public_key: Path | None, kid: str | None) -> None:
        alg = KeyAlgorithm(algorithm)
        pem = _read_public_key(public_key)
        with _engine() as engine:
            key, secret = accounts.add_site_key(engine, slug, alg, public_key=pem, kid=kid,
                                                rotate=rotate)
        _announce_key(key.kid, alg, secret)

    return command


key_group.command("add", help="Add an SSO key (at most two are valid at once).")(
    _key_command(rotate=False)
)
key_group.command("rotate", help="Add a new SSO key, keep the newest old one valid, "
                  "retire the rest.")(_key_command(rotate=True))


@key_group.command("revoke")
@click.argument("slug")
@click.argument("kid")
@friendly
def key_revoke(slug: str, kid: str) -> None:
    """Stop accepting tokens signed with key KID."""
    with _engine() as engine:
        accounts.revoke_site_key(engine, slug, kid)
    click.echo(f"Revoked key {kid} of {slug}.")


@key_group.command("list")
@click.argument("slug")
@friendly
def key_list(slug: str) -> None:
    """List a site's keys (never their secrets)."""
    with _engine() as engine, engine.connect() as conn:
        keys = SiteKeyStore.list_all(conn, SiteStore.get_by_slug(conn, slug).id)
    for key in keys:
        state = "valid" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        click.echo(f"{key.kid}\t{key.algorithm.value}\t{key.created_at:%Y-%m-%d %H:%M}\t{state}")


# --- users and tokens ----------------------------------------------------------------------


@main.group("user")
def user_group() -> None:
    """Moderator and admin accounts."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([Role.MODERATOR.value, Role.ADMIN.value]),
              required=True, help="Admins moderate every site; moderators their --site(s).")
@click.option("--site", "site_slugs", multiple=True, metavar="SLUG",
              help="A site this moderator moderates; repeatable.")
@click.option("--email", help="Where notifications go.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@friendly
def user_add(username: str, role: str, site_slugs: tuple[str, ...], email: str | None,
             password_stdin: bool) -> None:
    """Add a local account; asks for the password unless --password-stdin."""
    if role == Role.MODERATOR.value and not site_slugs:
        raise click.UsageError("a moderator needs at least one --site")
    password = _read_password(password_stdin)
    with _engine() as engine:
        user = accounts.create_user(engine, username, Role(role), password,
                                    site_slugs=site_slugs, email=email)
    click.echo(f"Added {user.role.value} {user.username}.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise click.UsageError("no password on standard input")
        return password
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@user_group.command("list")
@friendly
def user_list() -> None:
    """List the accounts with their roles and sites."""
    with _engine() as engine, engine.connect() as conn:
        slugs = {s.id: s.slug for s in SiteStore.list_all(conn)}
        for user in UserStore.list_all(conn):
            sites_of = sorted(slugs[i] for i in ModeratorStore.site_ids(conn, user.id))
            where = "all sites" if user.role is Role.ADMIN else ", ".join(sites_of) or "-"
            state = "\tdisabled" if user.disabled else ""
            click.echo(f"{user.username}\t{user.role.value}\t{where}{state}")


@user_group.command("set")
@click.argument("username")
@click.option("--add-site", multiple=True, metavar="SLUG", help="Moderate this site too.")
@click.option("--remove-site", multiple=True, metavar="SLUG", help="Stop moderating a site.")
@click.option("--disable/--enable", "disabled", default=None,
              help="Lock the account (its sessions and tokens stop working) or unlock it.")
@click.option("--sso-sub", multiple=True, metavar="SLUG:SUBJECT",
              help="Let the site's SSO subject (the token's 'sub') log in as this user.")
@click.option("--remove-sso-sub", multiple=True, metavar="SLUG:SUBJECT",
              help="Stop letting that SSO subject log in as this user.")
@friendly
def user_set(username: str, add_site: tuple[str, ...], remove_site: tuple[str, ...],
             disabled: bool | None, sso_sub: tuple[str, ...],
             remove_sso_sub: tuple[str, ...]) -> None:
    """Change which sites a moderator moderates, their SSO log-ins, or lock the account."""
    with _engine() as engine:
        staff = accounts.update_user(engine, username, add_sites=add_site,
                                     remove_sites=remove_site, disabled=disabled,
                                     add_sso_subjects=[_site_subject(v) for v in sso_sub],
                                     remove_sso_subjects=[_site_subject(v)
                                                          for v in remove_sso_sub])
        with engine.connect() as conn:
            slugs = {s.id: s.slug for s in SiteStore.list_all(conn)}
    where = ", ".join(sorted(slugs[i] for i in staff.site_ids)) or "-"
    state = " (disabled)" if disabled else ""
    click.echo(f"{staff.username}: {staff.role.value} of {where}{state}")


def _site_subject(value: str) -> tuple[str, str]:
    slug, sep, subject = value.partition(":")
    if not sep or not slug or not subject:
        raise click.BadParameter(f"{value!r}: write SLUG:SUBJECT, e.g. news:staff-42")
    return slug, subject


@user_group.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@friendly
def user_password(username: str, password_stdin: bool) -> None:
    """Set a new password; the user's sessions end."""
    password = _read_password(password_stdin)
    with _engine() as engine:
        accounts.set_password(engine, username, password)
    click.echo(f"Password of {username} changed; their sessions have ended.")


@main.group("token")
def token_group() -> None:
    """API tokens for scripts and other machines."""


@token_group.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for.")
@friendly
def token_create(username: str, name: str) -> None:
    """Create a token acting as USERNAME; it is shown only now."""
    with _engine() as engine:
        token = accounts.create_api_token(engine, username, name)
    click.echo("API token (shown only now; send it as 'Authorization: Token <token>'):")
    click.echo(token)


@token_group.command("list")
@click.argument("username")
@friendly
def token_list(username: str) -> None:
    """List a user's tokens (ids and names, never the tokens)."""
    with _engine() as engine, engine.connect() as conn:
        tokens = TokenStore.list_for_user(conn, UserStore.get_by_username(conn, username).id)
    for t in tokens:
        state = "live" if t.revoked_at is None else "revoked"
        click.echo(f"{t.id}\t{t.name}\t{t.created_at:%Y-%m-%d %H:%M}\t{state}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@friendly
def token_revoke(token_id: int) -> None:
    """Revoke the token with id TOKEN_ID (from `rostra token list`)."""
    with _engine() as engine:
        accounts.revoke_api_token(engine, token_id)
    click.echo(f"Revoked token {token_id}.")
