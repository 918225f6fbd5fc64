"""Composition root of the social prescribing service: its store and handlers on the platform's
command-service skeleton, the directory's places kept from its own log (`PlacesView`), and the
wellbeing instruments loaded (ONS4 and the licensee's plug-ins, `KIT_WELLBEING_INSTRUMENTS`): a
broken plug-in file stops the service at start, saying where."""

from __future__ import annotations

import asyncio
import logging
import os
from functools import partial

import psycopg

from kit.command_service import CommandService
from kit.config import Settings, database_url
from kit.db import ensure_schema, eventsourcing_env, pool
from kit.keys import master_keys
from kit.runtime import Runtime
from kit.service import Platform
from kit.store import Store
from kit.vault import VaultKeys
from projections.access import may_access_youth
from services.social_prescribing import caseload, directory
from services.social_prescribing.cases_view import CasesView
from services.social_prescribing.handlers import SocialPrescribing
from services.social_prescribing.intake_referrals import IntakeReferrals
from services.social_prescribing.places_view import PlacesView
from services.social_prescribing.wellbeing import catalogue
from services.social_prescribing.youth_words import Sealer, WordsView
from shared.agencies import load_register, today_in
from shared.roles import ROLES

log = logging.getLogger("kit.social_prescribing")


def prepare(url: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        directory.create_tables(conn)


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    instruments = catalogue(os.environ.get("KIT_WELLBEING_INSTRUMENTS") or None)
    log.info("wellbeing instruments: %s", ", ".join(f"{i} v{v}" for i, v in instruments))
    url = database_url(settings)
    ensure_schema(url, directory.SCHEMA)
    await asyncio.to_thread(prepare, url)
    store = Store(directory.SCHEMA, env=eventsourcing_env(url, directory.SCHEMA))
    register = load_register()
    reads = pool(url, min_size=1, max_size=2)
    # the youth's own vault key (a declared shared read): erasing the youth erases their words here too
    vault_keys = VaultKeys(url, master_keys(settings.data_dir), schema="intake")
    await asyncio.to_thread(vault_keys.create_table)

    def activity(activity_id: str):
        with reads.connection() as conn:
            return directory.activity(conn, activity_id)

    def active_youths(agency: str, link_worker: str) -> int:
        with reads.connection() as conn:
            return caseload.active_count(conn, agency, link_worker)

    def birth_year_of(youth_id: str) -> int | None:
        with reads.connection() as conn:
            row = conn.execute("SELECT birth_year FROM views.youths WHERE youth_id = %s::uuid", (youth_id,)).fetchone()
        return row[0] if row else None

    def may_access(youth_id: str, agency: str, at) -> bool:
        if register.agency(agency) is None:
            return False
        with reads.connection() as conn:
            return may_access_youth(conn, youth_id, agency=agency, agency_category=register.category_of(agency), at=at)

    service = platform.service("social_prescribing")
    runtime = Runtime(store=store, commands={m.type_name: m for m in service.commands},
                      handler=SocialPrescribing(activity, lambda code: register.agency(code) is not None,
                                                instruments, may_access, active_youths,
                                                caseload.threshold(os.environ), birth_year_of,
                                                Sealer(vault_keys), partial(today_in, register)).handle,
                      is_known_agency=lambda code: register.agency(code) is not None, roles=ROLES,
                      accepted_elsewhere=lambda: platform.command_owners)
    try:
        views = [PlacesView(store), CasesView(store), WordsView()]
        await CommandService(settings, platform, service, store, runtime, log_views=views,
                             jobs=[IntakeReferrals(settings, platform, store).run]).run(stop)
    finally:
        reads.close()
        vault_keys.close()
