"""Who a NATS client is, and where its replies go.

Every user of the platform's NATS (a service, a partner agency's system, the administrator) has its
own reply space, `_INBOX_<user>.>`, and may subscribe to no other: a client of one user cannot
read the replies (pull deliveries, acks, receipts) meant for another. Clients therefore connect
with that inbox prefix; `connect` and `broker` do it from the user named in the URL.

The embedded server's passwords are generated once into the data directory (0600); an external
deployment passes each process its own URL (`KIT_NATS_URL`).
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nats
import nats.errors

ADMIN_USER = "admin"  # sets up streams; the operator's tools (rebuilds, benchmarks, the demo)
CREDENTIALS_FILE = "nats-users.json"
DEFAULT_INBOX = "_INBOX"


def user_of(url: str) -> str | None:
    username = urllib.parse.urlsplit(url).username
    return urllib.parse.unquote(username) if username else None


def inbox_prefix(url: str) -> str:
    """`_INBOX_<user>` for a URL with a user (the only reply space its permissions allow)."""
    user = user_of(url)
    return f"{DEFAULT_INBOX}_{user}" if user else DEFAULT_INBOX


async def connect(url: str, **options: Any) -> nats.NATS:
    return await nats.connect(url, inbox_prefix=inbox_prefix(url), **options)


def broker(url: str, **options: Any):
    from faststream.nats import NatsBroker

    return NatsBroker(url, inbox_prefix=inbox_prefix(url), **options)


async def close(nc: nats.NATS) -> None:
    """Drain (what is in flight goes out), or just close when the server is gone: a drain while
    reconnecting raises, and would keep a stopping process from stopping."""
    try:
        await nc.drain()
    except (nats.errors.ConnectionReconnectingError, nats.errors.ConnectionClosedError):
        await nc.close()


async def stop_broker(broker) -> None:
    """A FastStream broker's `stop`, as `close` does it for a connection."""
    try:
        await broker.stop()
    except (nats.errors.ConnectionReconnectingError, nats.errors.ConnectionClosedError):
        await broker.config.connection_state.connection.close()


def with_user(url: str, user: str, password: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def password() -> str:
    """192 random bits. nats-server reads a variable's value as a config value (a leading digit
    makes it a number), so a password starts with a letter and is hex after it."""
    return "k" + secrets.token_hex(24)


def credentials(data_dir: Path, users: Iterable[str]) -> dict[str, str]:
    """The embedded server's users and their passwords: generated once, a new user added when it
    first appears (a service or an agency added later); the file is readable by its owner only."""
    path = data_dir / CREDENTIALS_FILE
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [u for u in users if u not in known]
    if missing:
        known |= {u: password() for u in missing}
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(known, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    return known


def password_of(data_dir: Path, user: str) -> str:
    path = data_dir / CREDENTIALS_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    if user not in known:
        raise LookupError(f"no NATS user {user} in {path} (is this the platform's data directory? `kit up` "
                          "creates them)")
    return known[user]
