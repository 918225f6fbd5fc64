"""Settings read from the environment, in one place.

Every setting has a default that runs the embedded platform on one machine; setting
`KIT_NATS_URL` / `KIT_DATABASE_URL` switches to external servers.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from kit.keys import generated_once


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    nats_url: str | None
    database_url: str | None
    nats_port: int
    http_port: int
    http_host: str
    jwt_secret: str | None
    max_deliver: int
    dead_letter_after: int
    ack_wait: float = 10.0
    alert_interval: float = 300.0
    checkpoint_interval: float = 60.0
    verify_interval: float = 3600.0  # seconds between whole verifications of the audit log
    api_workers: int = 1  # API processes sharing the HTTP port (SO_REUSEPORT): Python serves on one core each

    @property
    def embedded_nats(self) -> bool:
        return self.nats_url is None

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    return Settings(
        data_dir=Path(env.get("KIT_DATA_DIR", ".kit")).resolve(),
        nats_url=env.get("KIT_NATS_URL") or None,
        database_url=env.get("KIT_DATABASE_URL") or None,
        nats_port=int(env.get("KIT_NATS_PORT", "4222")),
        http_port=int(env.get("KIT_HTTP_PORT", "8000")),
        http_host=env.get("KIT_HTTP_HOST", "127.0.0.1"),
        jwt_secret=env.get("KIT_JWT_SECRET") or None,
        max_deliver=int(env.get("KIT_MAX_DELIVER", "20")),
        dead_letter_after=int(env.get("KIT_DEAD_LETTER_AFTER", "5")),
        ack_wait=float(env.get("KIT_ACK_WAIT", "10")),
        alert_interval=float(env.get("KIT_ALERT_INTERVAL", "300")),
        checkpoint_interval=float(env.get("KIT_CHECKPOINT_INTERVAL", "60")),
        verify_interval=float(env.get("KIT_AUDIT_VERIFY_INTERVAL", "3600")),
        api_workers=max(1, int(env.get("KIT_API_WORKERS", str(min(4, os.cpu_count() or 1))))),
    )


def jwt_secret(settings: Settings) -> str:
    """The token signing secret: configured, or generated once and kept in the data dir."""
    if settings.jwt_secret:
        if len(settings.jwt_secret) < 32:
            raise ValueError("KIT_JWT_SECRET must be at least 32 characters (HS256 key)")
        return settings.jwt_secret
    return generated_once(settings.data_dir / "jwt-secret", lambda: secrets.token_urlsafe(48))


def nats_url(settings: Settings, user: str) -> str:
    """The URL a client of `user` connects with: the configured one (an external deployment gives
    each process its own), else the embedded server's with the user's password from the data
    directory."""
    if settings.nats_url:
        return settings.nats_url
    from kit.nats_auth import password_of, with_user

    return with_user(embedded_nats_url(settings), user, password_of(settings.data_dir, user))


def embedded_nats_url(settings: Settings) -> str:
    return f"nats://127.0.0.1:{settings.nats_port}"


def postgres_dir(settings: Settings) -> Path:
    return settings.data_dir / "postgres"


def database_url(settings: Settings) -> str:
    """External URL, or the embedded server's Unix socket (it lives in its data directory)."""
    return settings.database_url or f"postgresql://postgres:@/postgres?host={postgres_dir(settings)}"
