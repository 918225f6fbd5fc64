"""Composition root of the social prescribing service: its schema ready for the directory, so that
the HSDS API answers (with an empty directory) before the first import, and the wellbeing
instruments loaded (ONS4 and the licensee's plug-ins, `KIT_WELLBEING_INSTRUMENTS`): a broken
plug-in file stops the service at start, saying where. It handles no commands yet."""

from __future__ import annotations

import asyncio
import logging
import os

import psycopg

from kit.config import Settings, database_url
from kit.service import Platform
from services.social_prescribing.directory import create_tables
from services.social_prescribing.wellbeing import catalogue

log = logging.getLogger("kit.social_prescribing")


def prepare(url: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        create_tables(conn)


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    instruments = catalogue(os.environ.get("KIT_WELLBEING_INSTRUMENTS") or None)
    log.info("wellbeing instruments: %s", ", ".join(f"{i} v{v}" for i, v in instruments))
    await asyncio.to_thread(prepare, database_url(settings))
    await stop.wait()
