"""Composition root of the HTTP API service."""

from __future__ import annotations

import asyncio
import logging
import socket

import psycopg
import uvicorn
from psycopg_pool import ConnectionPool

from kit.config import Settings, database_url, jwt_secret, nats_url
from kit.db import ensure_schema
from kit.checkpoints import public_key_of
from kit.keys import audit_signing_key, ingest_private_key, ingest_public_key, master_keys, pseudonym_key
from kit.vault import VaultKeys
from projections.tracking import SCHEMA as VIEWS_SCHEMA
from projections.youth_directory import YouthDirectory
from shared import accounts
from services.api.app import create_app
from services.audit import log as audit_log
from services.api.commands import CommandGateway
from services.intake.application import SCHEMA as INTAKE_SCHEMA
from shared.agencies import load_register

log = logging.getLogger("kit.api")


PREPARE_LOCK = 0x6b69742d617069  # "kit-api": API processes starting together create the tables one at a time


def prepare_database(url: str, vault_keys: VaultKeys) -> None:
    """Tables the API reads; created here too so the API can start before the views service."""
    with psycopg.connect(url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (PREPARE_LOCK,))  # released when `lock` closes
        ensure_schema(url, VIEWS_SCHEMA)
        ensure_schema(url, INTAKE_SCHEMA)
        with psycopg.connect(url) as conn, conn.transaction():
            accounts.create_tables(conn)
            YouthDirectory().create_tables(conn)
            audit_log.create_tables(conn)
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


async def main(settings: Settings, stop: asyncio.Event) -> None:
    url = database_url(settings)
    vault_keys = VaultKeys(url, master_keys(settings.data_dir), schema=INTAKE_SCHEMA)
    prepare_database(url, vault_keys)
    pool = ConnectionPool(url, min_size=2, max_size=10, open=True)
    gateway = CommandGateway(nats_url(settings), ingest_public_key(ingest_private_key(settings.data_dir)))
    app = create_app(pool, jwt_secret(settings), policy=load_register(), gateway=gateway, vault_keys=vault_keys,
                     audit_public_key=public_key_of(audit_signing_key(settings.data_dir)),
                     pseudonym_key=pseudonym_key(settings.data_dir))
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="warning",
                            access_log=False)  # access lines carry URLs with youth ids: not in logs
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the CLI owns signals
    task = asyncio.create_task(server.serve(sockets=[listening_socket(settings.http_host, settings.http_port)]))
    await stop.wait()
    server.should_exit = True
    await task
    pool.close()
