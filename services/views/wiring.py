"""Composition root of the views service: every read model the services declare, kept by the
projection runner in the `views` schema."""

from __future__ import annotations

import asyncio

from kit.config import Settings
from kit.service import Platform
from projections.runner import ProjectionRunner


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    await ProjectionRunner(settings, platform).run(stop)
