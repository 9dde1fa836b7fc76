"""Every table of Rostra, on one MetaData with a constraint naming convention.

Alembic migrations (``storage/migrations``) must produce exactly these tables on SQLite and
PostgreSQL; ``tests/storage/test_migrations.py`` checks it. Counts that readers see
(comments per story, replies, reactions) are stored here so that reads never count rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from rostra.domain.text import refuse_unstorable

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an auto-incrementing rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


class StoredString(TypeDecorator[str]):
    """``String`` that both databases store alike: a NUL character (PostgreSQL refuses it) or
    a lone surrogate (not UTF-8) is ``InvalidInput`` before the statement runs, wherever the
    text came from, on SQLite as on PostgreSQL."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str):
            refuse_unstorable(value)
        return value


class StoredText(StoredString):
    """``Text`` with the checks of :class:`StoredString`."""

    impl = Text
    cache_ok = True


def _pk() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _created() -> Column[datetime]:
    return Column("created_at", UTCDateTime(), nullable=False)


sites = Table(
    "sites",
    metadata,
    _pk(),
    Column("slug", StoredString(64), nullable=False, unique=True),
    Column("name", StoredString(200), nullable=False),
    # rostra.moderation.policy.Policy.to_dict(): thresholds, word lists, spam, tier
    Column("policy", JSON, nullable=False),
    # guests_allowed, premoderation ("none"|"all"|"new_authors"|"links"), premoderation_k,
    # rejection_reasons, close_after_days, edit_window_seconds, language
    Column("settings", JSON, nullable=False),
    Column("allowed_origins", JSON, nullable=False),
    _created(),
)

site_keys = Table(
    "site_keys",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kid", StoredString(64), nullable=False),
    Column("algorithm", StoredString(8), nullable=False),  # HS256 | RS256 | ES256
    Column("secret", StoredText(), nullable=False),  # HS256 shared secret, or a PEM public key
    _created(),
    Column("revoked_at", UTCDateTime(), nullable=True),
    UniqueConstraint("site_id", "kid"),
)

users = Table(
    "users",
    metadata,
    _pk(),
    Column("username", StoredString(100), nullable=False, unique=True),
    Column("email", StoredString(320), nullable=True),
    Column("password_hash", StoredString(200), nullable=True),  # argon2; NULL for SSO-only staff
    Column("role", StoredString(16), nullable=False),  # admin | moderator
    Column("disabled", Boolean, nullable=False, default=False),
    Column("session_version", Integer, nullable=False, default=1),  # bump to log out everywhere
    _created(),
)

site_moderators = Table(
    "site_moderators",
    metadata,
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

# Staff who log in to the workspace with a site's SSO: the publisher's ``sub`` claim names them.
staff_sso_subjects = Table(
    "staff_sso_subjects",
    metadata,
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("subject", StoredString(255), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _pk(),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", StoredString(100), nullable=False),
    # sha256 hex; never the token
    Column("token_hash", StoredString(64), nullable=False, unique=True),
    _created(),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

stories = Table(
    "stories",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("url", StoredString(2048), nullable=False),
    Column("title", StoredString(500), nullable=False),
    Column("closed", Boolean, nullable=False, default=False),
    Column("premoderation", Boolean, nullable=False, default=False),
    Column("close_after_days", Integer, nullable=True),
    Column("comment_count", Integer, nullable=False, default=0),  # published, all depths
    Column("top_level_count", Integer, nullable=False, default=0),  # published top-level
    _created(),
    UniqueConstraint("site_id", "url"),
)

authors = Table(
    "authors",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("kind", StoredString(8), nullable=False),  # sso | guest | local | import
    Column("external_id", StoredString(255), nullable=True),  # SSO `sub`, import id, guest token id
    Column("name", StoredString(200), nullable=False),
    Column("email", StoredString(320), nullable=True),
    _created(),
    Column("last_seen_at", UTCDateTime(), nullable=True),
    Column("banned_until", UTCDateTime(), nullable=True),  # far future = permanent ban
    Column("comment_count", Integer, nullable=False, default=0),
    Column("approved_count", Integer, nullable=False, default=0),
    Column("rejected_count", Integer, nullable=False, default=0),
    Column("report_count", Integer, nullable=False, default=0),
    Column("notify_replies", Boolean, nullable=False, default=False),
    Column("forgotten_at", UTCDateTime(), nullable=True),
    UniqueConstraint("site_id", "kind", "external_id"),
)

comments = Table(
    "comments",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("story_id", ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", ForeignKey("comments.id", ondelete="SET NULL"), nullable=True),
    Column("root_id", Id, nullable=True),  # top-level ancestor; NULL for top-level comments
    Column("depth", Integer, nullable=False, default=0),
    Column("author_id", ForeignKey("authors.id", ondelete="SET NULL"), nullable=True),
    Column("body", StoredText(), nullable=False),  # Markdown source as written
    Column("html", StoredText(), nullable=False),  # rendered once at write time, sanitised
    Column("status", StoredString(16), nullable=False),  # domain.comments.CommentStatus
    Column("featured", Boolean, nullable=False, default=False),
    Column("decision", StoredString(16), nullable=True),  # the policy's decision at post time
    Column("severity", Float, nullable=False, default=0.0),  # max label score, for queue order
    Column("flagged_labels", StoredString(200), nullable=False, default=""),  # " insult threat "
    Column("reviewed", Boolean, nullable=False, default=False),  # a moderator decided
    Column("version", Integer, nullable=False, default=1),  # optimistic concurrency
    Column("reply_count", Integer, nullable=False, default=0),  # published direct replies
    Column("reaction_count", Integer, nullable=False, default=0),
    Column("report_count", Integer, nullable=False, default=0),  # unresolved reports
    Column("ip", StoredString(64), nullable=True),  # erased by `rostra forget`
    # rostra | disqus | wordpress | isso
    Column("source", StoredString(16), nullable=False, default="rostra"),
    Column("external_id", StoredString(255), nullable=True),  # id in the imported archive
    _created(),
    Column("edited_at", UTCDateTime(), nullable=True),
    UniqueConstraint("site_id", "source", "external_id"),
    Index("ix_comments_thread", "story_id", "parent_id", "status", "created_at", "id"),
    Index("ix_comments_root", "root_id", "status", "created_at"),
    # "most reacted" pages of a thread, and its featured comments, without scanning the story
    Index("ix_comments_reacted", "story_id", "parent_id", "status", "reaction_count", "id"),
    Index("ix_comments_featured", "story_id", "featured"),
    Index("ix_comments_queue", "site_id", "status", "severity"),
    Index("ix_comments_author", "author_id", "created_at"),
)

comment_edits = Table(
    "comment_edits",
    metadata,
    _pk(),
    Column("comment_id", ForeignKey("comments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("body", StoredText(), nullable=False),  # the body BEFORE this edit
    Column("html", StoredText(), nullable=False),
    Column("edited_at", UTCDateTime(), nullable=False),
)

reactions = Table(
    "reactions",
    metadata,
    Column("comment_id", ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("author_id", ForeignKey("authors.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", StoredString(16), nullable=False, default="like"),
    _created(),
)

reports = Table(
    "reports",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("comment_id", ForeignKey("comments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("author_id", ForeignKey("authors.id", ondelete="SET NULL"), nullable=True),
    Column("reason", StoredString(32), nullable=False),  # abuse | spam | off_topic | other
    Column("note", StoredText(), nullable=True),
    _created(),
    Column("resolved_at", UTCDateTime(), nullable=True),
    UniqueConstraint("comment_id", "author_id"),
)

signals = Table(
    "signals",
    metadata,
    _pk(),
    Column("comment_id", ForeignKey("comments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("tier", StoredString(16), nullable=False),
    Column("model_version", StoredString(64), nullable=False),
    Column("scores", JSON, nullable=False),  # {label: probability}
    Column("spam", JSON, nullable=False),  # {signal: value}
    Column("reasons", JSON, nullable=False),  # [Reason.to_dict()]
    Column("decision", StoredString(16), nullable=False),
    Column("shadow", Boolean, nullable=False, default=False),  # a site model scoring in shadow
    _created(),
)

bans = Table(
    "bans",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", ForeignKey("authors.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("user_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("reason", StoredText(), nullable=True),
    _created(),
    Column("until", UTCDateTime(), nullable=True),  # NULL = permanent
    Column("lifted_at", UTCDateTime(), nullable=True),
    Column("lifted_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)

moderation_log = Table(
    "moderation_log",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("comment_id", Id, nullable=True, index=True),
    Column("author_id", Id, nullable=True),
    Column("user_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("actor", StoredString(16), nullable=False),  # moderator | system | author | admin
    Column("action", StoredString(32), nullable=False),
    Column("reason", StoredText(), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    _created(),
)

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", StoredString(200), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),  # epoch seconds
    Column("count", Integer, nullable=False, default=0),
)

# Live updates shared by every server process: a new published comment appends a row;
# SSE streams follow the table (and PostgreSQL NOTIFY wakes them early).
events = Table(
    "events",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("story_id", ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("comment_id", Id, nullable=True),
    Column("kind", StoredString(32), nullable=False),  # comment.published | comment.removed
    _created(),
    Index("ix_events_story", "story_id", "id"),
)

# Per-site adaptation (rostra.moderation.adaptation): each moderator decision as a labelled
# example of its site (one row per comment; a reversal updates it), and the site's models.
examples = Table(
    "examples",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("comment_id", ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", Id, nullable=True),  # for erasure requests
    Column("text", StoredText(), nullable=False),  # the body as it was when decided
    Column("decision", StoredString(16), nullable=False),  # approve | reject | spam
    Column("labels", JSON, nullable=True),  # moderator's label corrections; [] = none apply
    Column("spans", JSON, nullable=True),  # [[start, end], ...] marked in ``text``
    Column("scores", JSON, nullable=False),  # the engine's {label: score} at decision time
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    UniqueConstraint("site_id", "comment_id"),
    Index("ix_examples_site_time", "site_id", "decided_at"),
)

site_models = Table(
    "site_models",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", StoredString(16), nullable=False),  # shadow | active | retired | rejected
    Column("examples", Integer, nullable=False, default=0),  # decisions it was trained on
    Column("metrics", JSON, nullable=False),  # Comparison.to_dict() at training time
    Column("artifact", LargeBinary, nullable=False),  # SiteModel.to_bytes()
    _created(),
    Column("promoted_at", UTCDateTime(), nullable=True),
    UniqueConstraint("site_id", "version"),
)

# Notifications and webhooks (rostra.actions.notifications, rostra.actions.delivery): requests
# only append outbox rows in their own transaction; a background worker sends them.
outbox = Table(
    "outbox",
    metadata,
    _pk(),
    Column("kind", StoredString(16), nullable=False),  # email | reply | digest | webhook
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=True),
    Column("dedupe_key", StoredString(200), nullable=True, unique=True),  # one mail per reply etc.
    Column("payload", JSON, nullable=False),
    Column("status", StoredString(16), nullable=False),  # pending | sending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("locked_until", UTCDateTime(), nullable=True),  # a claim lapses if its worker died
    Column("last_error", StoredText(), nullable=True),
    _created(),
    Column("sent_at", UTCDateTime(), nullable=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

webhooks = Table(
    "webhooks",
    metadata,
    _pk(),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("url", StoredString(2048), nullable=False),
    Column("secret", StoredString(200), nullable=False),  # HMAC-SHA256 key of the signature header
    Column("events", JSON, nullable=False),  # ["comment.created", ...]
    Column("active", Boolean, nullable=False, default=True),
    _created(),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _pk(),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("outbox_id", Id, nullable=True),
    Column("event", StoredString(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),  # NULL: no HTTP response at all
    Column("duration_ms", Integer, nullable=False),
    Column("error", StoredText(), nullable=True),
    _created(),
    Index("ix_webhook_deliveries_hook", "webhook_id", "id"),
)
