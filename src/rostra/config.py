"""Settings: one typed class, read from ROSTRA_* environment variables and an optional TOML file.

Read only by the composition roots (``rostra.web.app``, ``rostra.web.deps`` and ``rostra.cli``);
everything else receives plain values.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me"


class Settings(BaseSettings):
    """Every setting of Rostra. ``docs/settings.md`` documents each field."""

    model_config = SettingsConfigDict(env_prefix="ROSTRA_", extra="forbid")

    database_url: str = Field(
        "sqlite:///./rostra.db", description="SQLAlchemy URL of the database."
    )
    secret_key: str = Field(
        PLACEHOLDER_SECRET, description="Signs sessions, CSRF and unsubscribe tokens."
    )
    dev_mode: bool = Field(False, description="Allows the placeholder secret and insecure cookies.")
    redis_url: str | None = Field(
        None, description="Redis for rate limits shared by several processes."
    )
    public_url: str = Field("http://127.0.0.1:8000", description="Where readers reach this server.")

    max_body_bytes: int = Field(64 * 1024, description="Largest accepted request body.")
    max_comment_chars: int = Field(10_000, description="Longest accepted comment.")
    edit_window_seconds: int = Field(15 * 60, description="How long authors may edit or delete.")
    max_reply_depth: int = Field(50, description="Deepest reply chain accepted.")
    page_size: int = Field(20, description="Top-level comments per page.")

    rate_limits_enabled: bool = Field(True, description="Turn per-author and per-IP limits on/off.")
    rate_limit_posts_per_minute: int = Field(
        5, description="Posts one author or IP may make a minute."
    )
    rate_limit_requests_per_minute: int = Field(600, description="API requests per IP a minute.")

    session_max_age_seconds: int = Field(8 * 3600, description="Moderator session lifetime.")
    moderation_tier: Literal["fast", "accurate", "cascade"] = Field(
        "cascade", description="Default engine tier for live posting."
    )
    model_dir: str | None = Field(None, description="Directory of model files; default: shipped.")

    smtp_host: str | None = Field(None, description="SMTP server for notifications.")
    smtp_port: int = Field(25, description="SMTP port.")
    smtp_from: str = Field("rostra@localhost", description="Sender of notification mail.")
    smtp_username: str | None = Field(None, description="SMTP login name (none: no login).")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_starttls_enabled: bool = Field(
        False, description="Upgrade the SMTP connection with STARTTLS."
    )
    delivery_worker_enabled: bool = Field(
        True, description="Send queued mail and webhooks from a thread of each server process."
    )
    delivery_poll_seconds: float = Field(
        1.0, gt=0, description="How often an idle sender looks for due work."
    )
    delivery_max_attempts: int = Field(
        8, ge=1, description="Attempts per e-mail or webhook call before giving up."
    )
    delivery_backoff_seconds: float = Field(
        30.0, gt=0, description="Wait before the first retry; doubles each time (max 6 h)."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a webhook receiver (or SMTP server) may take."
    )
    report_digest_minutes: float = Field(
        60.0, gt=0, description="At most one digest of reports per site this often."
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_url(cls, value: str) -> str:
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.secret_key == PLACEHOLDER_SECRET and not self.dev_mode:
            raise ValueError(
                "ROSTRA_SECRET_KEY is still the placeholder; set a long random value "
                "(or ROSTRA_DEV_MODE=1 on a development machine)."
            )
        if len(self.secret_key) < 16 and not self.dev_mode:
            raise ValueError("ROSTRA_SECRET_KEY must be at least 16 characters long.")
        return self


def load_settings(toml_path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Settings from (lowest first) defaults, a TOML file, the environment, then ``overrides``.

    The TOML file is ``toml_path`` or ``$ROSTRA_CONFIG``; its keys are the field names.
    """
    path = toml_path or os.environ.get("ROSTRA_CONFIG")
    values: dict[str, Any] = {}
    if path:
        values.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    env_prefix = "ROSTRA_"
    from_env = {
        name: os.environ[env_prefix + name.upper()]
        for name in Settings.model_fields
        if env_prefix + name.upper() in os.environ
    }
    values.update(from_env)
    values.update(overrides)
    # Values passed as init kwargs win over the environment in pydantic-settings.
    return Settings(**values)
