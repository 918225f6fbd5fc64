"""Composition root of the HTTP service: its resources, the app, and uvicorn on a shared port."""

from __future__ import annotations

import asyncio
import logging
import socket

import psycopg
import uvicorn
from psycopg_pool import ConnectionPool

from kit.checkpoints import public_key_of
from kit.config import Settings, database_url, jwt_secret, nats_url
from kit.db import ensure_schema, pool as checked_pool
from kit.keys import audit_signing_key, ingest_private_key, ingest_public_key, master_keys, pseudonym_key
from kit.nats_permissions import service_user
from kit.service import Platform
from kit.vault import VaultKeys
from projections.tracking import SCHEMA as VIEWS_SCHEMA, create_positions_table
from services.api.app import create_app
from services.api.commands import CommandGateway
from services.api.reads import CaseReads
from shared import accounts
from shared.sign_in import SignIn
from shared.agencies import load_register
from shared.http import HttpState

log = logging.getLogger("kit.api")

PREPARE_LOCK = 0x6b69742d617069  # "kit-api": API processes starting together create the tables one at a time
VAULT_SCHEMA = "intake"  # the vault's key table (a documented shared read: see the declaration)


def prepare_database(url: str, platform: Platform, vault_keys: VaultKeys) -> None:
    """The tables this service writes, and the views it reads (created here too, so the API can
    start before the services that fill them)."""
    with psycopg.connect(url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (PREPARE_LOCK,))  # released when `lock` closes
        ensure_schema(url, VIEWS_SCHEMA)
        with psycopg.connect(url) as conn, conn.transaction():
            accounts.create_tables(conn)
            create_positions_table(conn)
            for projection in platform.projections:
                projection.create_tables(conn)
        vault_keys.create_table()


def listening_socket(host: str, port: int) -> socket.socket:
    """The HTTP port, shared by every API process (SO_REUSEPORT: the kernel spreads connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def http_state(settings: Settings, platform: Platform, pool: ConnectionPool, *, commands: bool = True) -> HttpState:
    url = database_url(settings)
    vault_keys = VaultKeys(url, master_keys(settings.data_dir), schema=VAULT_SCHEMA)
    register = load_register()
    gateway = (CommandGateway(nats_url(settings, service_user(platform.service("api"))), platform,
                              ingest_public_key(ingest_private_key(settings.data_dir))) if commands else None)
    reads = CaseReads(pool, register, vault_keys, pseudonym_key(settings.data_dir), platform)
    return HttpState(pool=pool, secret=jwt_secret(settings), register=register, platform=platform, settings=settings,
                     extras={"reads": reads, "gateway": gateway, "vault_keys": vault_keys, "sign_in": SignIn(pool),
                             "audit_public_key": public_key_of(audit_signing_key(settings.data_dir))})


def http_pool(url: str) -> ConnectionPool:
    """The HTTP service's connections: up to 10 per process (its thread pool serves more requests
    than that at once; the rest wait a moment for one), checked before use."""
    return checked_pool(url, min_size=2, max_size=10, generic_plans=True)


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    url = database_url(settings)
    pool = http_pool(url)
    state = http_state(settings, platform, pool)
    await asyncio.to_thread(prepare_database, url, platform, state.extras["vault_keys"])
    config = uvicorn.Config(create_app(state), host=settings.http_host, port=settings.http_port, log_level="warning",
                            access_log=False)  # access lines carry URLs with youth ids: not in logs
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the CLI owns signals
    task = asyncio.create_task(server.serve(sockets=[listening_socket(settings.http_host, settings.http_port)]))
    await stop.wait()
    server.should_exit = True
    await task
    pool.close()
