"""Shared fixtures: real nats-server and PostgreSQL started from the wheels, on free ports."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

import nats
import psycopg
import pytest

from entrypoints.catalogue import platform as declared_platform
from kit.config import Settings
from kit.embedded import EmbeddedNats, EmbeddedPostgres, free_port

PLATFORM = declared_platform()  # the declared services, as `kit` finds them


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres_server: EmbeddedPostgres) -> str:
    """A fresh database per test, on the session's PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.url.replace("/postgres?", f"/{name}?")


@pytest.fixture
def nats_server(tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats", free_port()).start()
    yield server
    server.stop()


@dataclass
class Platform:
    settings: Settings
    nats_url: str
    database_url: str


@pytest.fixture
def platform(tmp_path: Path, nats_server: EmbeddedNats, database_url: str) -> Platform:
    settings = Settings(
        data_dir=tmp_path / "data", nats_url=nats_server.url, database_url=database_url,
        nats_port=nats_server.port, http_port=free_port(), http_host="127.0.0.1",
        jwt_secret="test-secret-" + uuid.uuid4().hex, max_deliver=20, dead_letter_after=3,
    )
    return Platform(settings=settings, nats_url=nats_server.url, database_url=database_url)


@pytest.fixture
async def nc(nats_server: EmbeddedNats):
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


async def eventually(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll an (async or sync) predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
