"""Who is asking: readers (site SSO JWTs or Rostra reader tokens) and staff (sessions, tokens).

Readers send ``Authorization: Bearer <token>``. The token is either the publisher's SSO JWT,
checked against the keys of the site the request is about, or a Rostra reader token (guests
get one when they first post). A token that is present but expired, forged or for another
site is a 401, never a silent fall-back to anonymous.

Staff use a session cookie (signed ``{user_id, session_version, nonce}``) or
``Authorization: Token <api token>``. Cookie-authenticated unsafe requests must carry the
CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field) derived from the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, select
from starlette.concurrency import run_in_threadpool

from rostra.actions.accounts import authenticate, staff_for
from rostra.config import Settings
from rostra.domain.accounts import SiteKey, User
from rostra.domain.comments import AuthorKind
from rostra.domain.errors import InvalidInput, NotAllowed, RostraError, Unauthenticated
from rostra.domain.identity import Reader, Staff
from rostra.domain.sites import Site
from rostra.domain.text import unstorable
from rostra.storage.accounts import SiteKeyStore, TokenStore, UserStore
from rostra.storage.database import transaction
from rostra.storage.identities import reader_for_author, upsert_sso_author
from rostra.storage.sites import SiteStore
from rostra.storage.tables import stories
from rostra.web.protection import check_rate_limit

SESSION_COOKIE = "rostra_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
READER_TOKEN_PREFIX = "rdr_"
READER_TOKEN_MAX_AGE_SECONDS = 365 * 24 * 3600
#: SSO tokens are meant to be short-lived: a later ``exp`` than this from now is refused.
SSO_MAX_LIFETIME_SECONDS = 24 * 3600
SSO_LEEWAY_SECONDS = 30
SSO_REQUIRED_CLAIMS = ("sub", "name", "email", "exp")
LOGIN_ATTEMPTS_PER_MINUTE = 10
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_READER_SALT = "rostra.reader-token"
_SESSION_SALT = "rostra.session"


class CsrfFailed(NotAllowed):
    code = "csrf_failed"
    title = "Missing or wrong CSRF token; reload the page and try again"


def _now() -> datetime:
    return datetime.now(UTC)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _authorization(request: Request) -> tuple[str, str] | None:
    """(scheme in lower case, credentials) of the Authorization header, if any."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        raise Unauthenticated("malformed Authorization header")
    return scheme.lower(), credentials


# --- readers -------------------------------------------------------------------------------


def issue_reader_token(secret_key: str, reader: Reader) -> str:
    """A Rostra reader token (for guests): proves to be ``reader`` on their site for a year."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_READER_SALT)
    return READER_TOKEN_PREFIX + serializer.dumps({"a": reader.author_id, "s": reader.site_id})


def _read_reader_token(secret_key: str, token: str) -> tuple[int, int]:
    serializer = URLSafeTimedSerializer(secret_key, salt=_READER_SALT)
    try:
        data = serializer.loads(
            token.removeprefix(READER_TOKEN_PREFIX), max_age=READER_TOKEN_MAX_AGE_SECONDS
        )
        author_id, site_id = int(data["a"]), int(data["s"])
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise Unauthenticated("the reader token is invalid or expired") from exc
    return author_id, site_id


@dataclass(frozen=True, slots=True)
class SsoIdentity:
    sub: str
    name: str
    email: str | None


def _claim_text(claims: dict[str, Any], name: str, max_length: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or len(value) > max_length:
        raise Unauthenticated(f"the SSO token's {name!r} claim must be a string")
    if unstorable(value) is not None:  # as in every text the API takes
        raise Unauthenticated(f"the SSO token's {name!r} claim is not valid text")
    return value.strip()


def verify_sso_token(token: str, keys: list[SiteKey], now: datetime) -> SsoIdentity:
    """The reader a site's SSO JWT names, checked against the site's valid ``keys``.

    The ``kid`` header picks the key; without one, each valid key of the token's algorithm
    is tried (a site has at most two). ``alg`` must be the key's own algorithm, so neither
    ``none`` nor an HS256 token "signed" with a public key can pass.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated("the SSO token is not a JWT") from exc
    algorithm, kid = header.get("alg"), header.get("kid")
    if kid is not None:
        candidates = [k for k in keys if k.kid == kid]
        if not candidates:
            raise Unauthenticated("the SSO token is signed with an unknown or revoked key")
    else:
        candidates = [k for k in keys if k.algorithm.value == algorithm]
    if not candidates:
        raise Unauthenticated("this site accepts no SSO token signed that way")
    error: jwt.PyJWTError | None = None
    for key in candidates:
        try:
            claims = jwt.decode(
                token,
                key.secret,
                algorithms=[key.algorithm.value],
                options={"require": list(SSO_REQUIRED_CLAIMS), "verify_aud": False},
                leeway=SSO_LEEWAY_SECONDS,
            )
            break
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the SSO token has expired") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the SSO token lacks the {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            error = exc
    else:
        raise Unauthenticated("the SSO token's signature is not valid") from error
    exp = claims["exp"]
    if not isinstance(exp, int | float) or exp > now.timestamp() + SSO_MAX_LIFETIME_SECONDS:
        raise Unauthenticated("SSO tokens must expire within a day; sign shorter-lived ones")
    sub = _claim_text(claims, "sub", 255)
    name = _claim_text(claims, "name", 200)
    email = _claim_text(claims, "email", 320)
    if not sub or not name:
        raise Unauthenticated("the SSO token's 'sub' and 'name' must not be empty")
    return SsoIdentity(sub=sub, name=name, email=email or None)


def reader_for_site(request: Request, conn: Connection, site: Site) -> Reader | None:
    """The reader making this request on ``site``; None when no credentials were sent.

    Call it inside the endpoint's transaction once the site is known: an SSO token creates
    or refreshes its author. Raises Unauthenticated for bad, expired or foreign tokens.
    """
    auth = _authorization(request)
    if auth is None:
        return None
    scheme, token = auth
    if scheme != "bearer":
        raise Unauthenticated("readers authenticate with 'Authorization: Bearer <token>'")
    if token.startswith(READER_TOKEN_PREFIX):
        author_id, site_id = _read_reader_token(_settings(request).secret_key, token)
        if site_id != site.id:
            raise Unauthenticated("this reader token belongs to another site")
        reader = reader_for_author(conn, author_id)
        if reader is None or reader.site_id != site.id:
            raise Unauthenticated("this reader no longer exists")
        return reader
    now = _now()
    identity = verify_sso_token(token, SiteKeyStore.active(conn, site.id), now)
    author_id = upsert_sso_author(conn, site.id, identity.sub, identity.name, identity.email, now)
    return Reader(author_id=author_id, site_id=site.id, name=identity.name, kind=AuthorKind.SSO)


def _site_of_request(request: Request, conn: Connection) -> Site | None:
    """The site named by a ``site`` path or query parameter, or owning ``story_id``."""
    slug = request.path_params.get("site") or request.query_params.get("site")
    if slug:
        return SiteStore.get_by_slug(conn, str(slug))
    story_id = request.path_params.get("story_id")
    if story_id is not None:
        try:
            story_key = int(story_id)
        except ValueError:
            return None
        site_id = conn.execute(
            select(stories.c.site_id).where(stories.c.id == story_key)
        ).scalar()
        return None if site_id is None else SiteStore.get(conn, site_id)
    return None


def _reader(request: Request) -> Reader | None:
    if _authorization(request) is None:
        return None
    with transaction(_engine(request)) as conn:
        site = _site_of_request(request, conn)
        if site is not None:
            return reader_for_site(request, conn, site)
        _, token = _authorization(request) or ("", "")
        if not token.startswith(READER_TOKEN_PREFIX):
            raise Unauthenticated(
                "an SSO token is checked against its site's keys: name the site "
                "(?site=<slug>) or use an endpoint of a story"
            )
        _, site_id = _read_reader_token(_settings(request).secret_key, token)
        return reader_for_site(request, conn, SiteStore.get(conn, site_id))


ReaderDep = Annotated[Reader | None, Depends(_reader)]


# --- staff ---------------------------------------------------------------------------------


def _session_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_SESSION_SALT)


def _csrf_for_nonce(secret_key: str, nonce: str) -> str:
    return hmac.new(
        secret_key.encode("utf-8"), b"csrf|" + nonce.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def _session_data(request: Request) -> dict[str, Any] | None:
    """The verified, unexpired payload of the session cookie, or None."""
    cached = request.scope.get("rostra.session")
    if cached is not None:
        return cached or None
    cookie = request.cookies.get(SESSION_COOKIE)
    data: dict[str, Any] = {}
    if cookie:
        settings = _settings(request)
        try:
            loaded = _session_serializer(settings).loads(
                cookie, max_age=settings.session_max_age_seconds
            )
            if isinstance(loaded, dict) and {"u", "v", "n"} <= loaded.keys():
                data = loaded
        except BadSignature:
            pass
    request.scope["rostra.session"] = data
    return data or None


def csrf_token_for(request: Request) -> str:
    """The CSRF token forms and scripts must send back; empty without a session."""
    data = _session_data(request)
    return "" if data is None else _csrf_for_nonce(_settings(request).secret_key, str(data["n"]))


def start_session(request: Request, response: Response, user: User) -> str:
    """Log ``user`` in on ``response`` (sets the cookie); returns the session's CSRF token."""
    settings = _settings(request)
    nonce = secrets.token_urlsafe(16)
    value = _session_serializer(settings).dumps({"u": user.id, "v": user.session_version,
                                                 "n": nonce})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings.session_max_age_seconds,
        path="/",
        secure=not settings.dev_mode,
        httponly=True,
        samesite="lax",
    )
    return _csrf_for_nonce(settings.secret_key, nonce)


def end_session(request: Request, response: Response) -> None:
    settings = _settings(request)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=not settings.dev_mode, httponly=True, samesite="lax"
    )


def _staff_from_token(request: Request, token: str) -> Staff:
    with transaction(_engine(request)) as conn:
        user = TokenStore.resolve(conn, token, now=_now())
        if user is None:
            raise Unauthenticated("the API token is invalid or revoked")
        return staff_for(conn, user)


def _staff_from_session(request: Request, data: dict[str, Any]) -> Staff | None:
    with _engine(request).connect() as conn:
        try:
            user = UserStore.get(conn, int(data["u"]))
        except (RostraError, TypeError, ValueError):
            return None
        if user.disabled or user.session_version != data["v"]:
            return None
        return staff_for(conn, user)


async def _check_csrf(request: Request) -> None:
    expected = csrf_token_for(request)
    sent = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if sent is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not expected or sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()


async def _optional_staff(request: Request) -> Staff | None:
    auth = _authorization(request)
    if auth is not None and auth[0] == "token":
        return await run_in_threadpool(_staff_from_token, request, auth[1])
    data = _session_data(request)
    if data is None:
        return None
    staff = await run_in_threadpool(_staff_from_session, request, data)
    if staff is not None and request.method not in SAFE_METHODS:
        await _check_csrf(request)
    return staff


async def _staff(request: Request) -> Staff:
    staff = await _optional_staff(request)
    if staff is None:
        raise Unauthenticated("log in, or send 'Authorization: Token <api token>'")
    return staff


OptionalStaffDep = Annotated[Staff | None, Depends(_optional_staff)]
StaffDep = Annotated[Staff, Depends(_staff)]


def require_moderator(staff: Staff, site_id: int) -> None:
    """NotAllowed unless ``staff`` may moderate the site (admins may moderate every site)."""
    if not staff.can_moderate(site_id):
        raise NotAllowed("you are not a moderator of this site")


# --- routes --------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


class StaffOut(BaseModel):
    id: int
    username: str
    role: str
    site_ids: list[int]


class SessionOut(BaseModel):
    user: StaffOut
    csrf_token: str


def _staff_out(staff: Staff) -> StaffOut:
    return StaffOut(id=staff.user_id, username=staff.username, role=staff.role.value,
                    site_ids=sorted(staff.site_ids))


@router.post("/login")
def login(body: LoginIn, request: Request, response: Response) -> SessionOut:
    """Check a moderator's password and start a session (cookie); returns its CSRF token."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        # A body-only JSON (a Blob without a type) could come from another site's page;
        # an explicit JSON content type cannot without CORS, which never allows this.
        raise InvalidInput("send the credentials as application/json", field="content-type")
    client = request.client.host if request.client else "unknown"
    check_rate_limit(request, f"login:ip:{client}", LOGIN_ATTEMPTS_PER_MINUTE)
    check_rate_limit(request, f"login:user:{body.username.lower()}", LOGIN_ATTEMPTS_PER_MINUTE)
    engine = _engine(request)
    user = authenticate(engine, body.username, body.password)
    with engine.connect() as conn:
        staff = staff_for(conn, user)
    csrf = start_session(request, response, user)
    return SessionOut(user=_staff_out(staff), csrf_token=csrf)


@router.post("/logout", status_code=204)
def logout(request: Request, staff: OptionalStaffDep) -> Response:
    """End the session. It ends all of the user's sessions, so a copied cookie dies too."""
    if staff is not None and _session_data(request) is not None:
        with transaction(_engine(request)) as conn:
            UserStore.end_sessions(conn, staff.user_id)
    response = Response(status_code=204)
    end_session(request, response)
    return response


class MeOut(StaffOut):
    csrf_token: str


@router.get("/me")
def me(request: Request, staff: StaffDep) -> MeOut:
    """The logged-in staff member, and the CSRF token of their session (empty for tokens)."""
    return MeOut(**_staff_out(staff).model_dump(), csrf_token=csrf_token_for(request))
