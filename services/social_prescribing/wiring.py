"""Composition root of the social prescribing service: its schema ready for the directory, so that
the HSDS API answers (with an empty directory) before the first import. It handles no commands yet."""

from __future__ import annotations

import asyncio

import psycopg

from kit.config import Settings, database_url
from kit.service import Platform
from services.social_prescribing.directory import create_tables


def prepare(url: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        create_tables(conn)


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    await asyncio.to_thread(prepare, database_url(settings))
    await stop.wait()
