"""Composition root of the intake service: its store, vault, policy and handlers on the platform's
command-service skeleton, with its watch list and scheduled scans."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kit.command_service import CommandService
from kit.config import Settings, database_url
from kit.keys import ingest_private_key, master_keys, pseudonym_key
from kit.runtime import Runtime
from kit.service import Platform
from kit.store import Store
from kit.vault import VaultKeys
from services.intake.handlers import Intake
from services.intake.identity import IdentityVault
from services.intake.policy import load_policy
from services.intake.scheduled import Watchlist, run_schedule
from services.intake.search_index import SearchIndex
from services.intake.store import SCHEMA, open_store
from shared.roles import ROLES


def open_intake(db_url: str, data_dir: Path, env: dict[str, str] | None = None) -> Intake:
    """Policy and vault, ready to handle commands (the vault's key table created)."""
    keys = VaultKeys(db_url, master_keys(data_dir, env), schema=SCHEMA)
    keys.create_table()
    vault = IdentityVault(keys=keys, ingest_private_key=ingest_private_key(data_dir, env),
                          pseudonym_key=pseudonym_key(data_dir, env))
    return Intake(policy=load_policy(env), vault=vault)


def intake_runtime(store: Store, intake: Intake, platform: Platform) -> Runtime:
    service = platform.service("intake")
    return Runtime(store=store, commands={m.type_name: m for m in service.commands}, handler=intake.handle,
                   is_known_agency=lambda code: intake.policy.agency(code) is not None, roles=ROLES,
                   prefetch=intake.prefetch, accepted_elsewhere=lambda: platform.command_owners)


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    db_url = database_url(settings)
    store = open_store(db_url)
    intake = open_intake(db_url, settings.data_dir)
    runtime = intake_runtime(store, intake, platform)
    watchlist = Watchlist(store, intake.policy.lost_contact_days)  # notes youths already due as their history arrives
    service = CommandService(
        settings, platform, platform.service("intake"), store, runtime,
        log_views=[watchlist, SearchIndex(intake.vault.keys.keyring, intake.vault.pseudonym_key)],
        jobs=[lambda stop: run_schedule(runtime, db_url, intake.policy.lost_contact_days, settings.alert_interval,
                                        stop, watchlist=watchlist)])
    await service.run(stop)
