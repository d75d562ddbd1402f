"""Settings from the environment (and `.env`). A bad setting stops start-up with one line naming it."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.durations import Duration
from bot.identity import TEAM_ID
from bot.outbound import OutboundRules, parse_allowed_hosts

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(SLACK_DEFAULT_API_URL, alias="SLACK_API_URL")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    database_url: str = Field("sqlite+aiosqlite:///hitl.db", alias="HITL_DATABASE_URL")
    api_tokens: str = Field("", alias="HITL_API_TOKEN")
    # Standard Webhooks secret (`whsec_` + base64) that signs outbound webhooks.
    webhook_secret: SecretStr | None = Field(None, alias="HITL_WEBHOOK_SECRET")
    webhook_first_retry: Duration = Field(timedelta(seconds=2), alias="HITL_WEBHOOK_FIRST_RETRY")
    webhook_give_up_after: Duration = Field(timedelta(hours=24), alias="HITL_WEBHOOK_GIVE_UP_AFTER")
    # Webhooks may go to loopback, private, link-local and metadata addresses (local setups only).
    webhook_allow_private: bool = Field(False, alias="HITL_WEBHOOK_ALLOW_PRIVATE")
    # Host names and CIDRs webhooks may reach even though they are internal, comma-separated.
    webhook_allowed_hosts: str = Field("", alias="HITL_WEBHOOK_ALLOWED_HOSTS")
    policy_path: str = Field("hitl.yml", alias="HITL_POLICY")
    port: int = Field(3000, alias="PORT", ge=1, le=65535)
    host: str = Field("0.0.0.0", alias="HITL_HOST")
    log_level: str = Field("info", alias="HITL_LOG_LEVEL")
    # SQLite: how long a request waits for the write lock before it fails with 503 (Slack wants acks in 3 s).
    sqlite_busy_timeout: Duration = Field(timedelta(seconds=2), alias="HITL_SQLITE_BUSY_TIMEOUT")
    # chat.postMessage calls per second per channel from this process (Slack allows about 1).
    slack_channel_rate: float = Field(1.0, alias="HITL_SLACK_CHANNEL_RATE", gt=0)
    # How often the outbox worker looks for work other replicas queued or retries that fell due.
    outbox_poll_seconds: float = Field(1.0, alias="HITL_OUTBOX_POLL_SECONDS", gt=0)

    # ---- Start-up checks with Slack (auth.test) ----
    # The workspace the bot token must belong to; `hitl serve` stops when auth.test names another one.
    slack_team_id: str | None = Field(None, alias="SLACK_TEAM_ID")
    # How long start-up keeps trying to reach Slack before it gives up (a crash loop says more than a half-start).
    slack_startup_wait: Duration = Field(timedelta(minutes=1), alias="HITL_SLACK_STARTUP_WAIT")

    # ---- /slack/events ----
    # A Slack request whose body has not all arrived this long after its headers gets a 408 and is closed.
    slack_body_timeout: Duration = Field(timedelta(seconds=10), alias="HITL_SLACK_BODY_TIMEOUT")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_ends_with_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.split(":///", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: str) -> str:
        parse_allowed_hosts(value)
        return value

    @property
    def outbound_rules(self) -> OutboundRules:
        hosts, networks = parse_allowed_hosts(self.webhook_allowed_hosts)
        return OutboundRules(allow_private=self.webhook_allow_private, hosts=hosts, networks=networks)

    @field_validator("slack_team_id", mode="before")
    @classmethod
    def _workspace_id(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
        if value is not None and not (isinstance(value, str) and TEAM_ID.match(value)):
            raise ValueError("must be a Slack workspace ID like T0123ABCD (auth.test's team_id)")
        return value

    @property
    def api_token_list(self) -> list[str]:
        return [t.strip() for t in self.api_tokens.split(",") if t.strip()]

    def require_serving(self) -> None:
        """What `hitl serve` cannot run without."""
        required = [("SLACK_BOT_TOKEN", self.slack_bot_token)]
        if self.slack_app_token is None:
            # Over Socket Mode Slack's requests come on the app's own connection: there is nothing to sign.
            required.append(("SLACK_SIGNING_SECRET", self.slack_signing_secret))
        for name, value in required:
            if value is None or not value.get_secret_value().strip():
                raise ConfigError(f"{name} is required to serve (set it in the environment or .env)")
        if self.slack_app_token is not None and not self.slack_app_token.get_secret_value().startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token (xapp-…) with the connections:write scope")
        if not self.api_token_list:
            raise ConfigError(
                "HITL_API_TOKEN is required to serve: the bearer token(s) LLM systems use, comma-separated"
            )


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
        raise ConfigError(f"{alias or field}: {first['msg'].removeprefix('Value error, ')}") from None
