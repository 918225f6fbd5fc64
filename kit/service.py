"""A service, declared once, and the platform: everything platform-wide derived from the declared
services (the message registry, streams, subjects, processes, HTTP command routes, NATS permissions,
contracts, the auditor's replay, the docs tables).

A declaration is data: its name, the messages it owns (the commands it handles and the events it
publishes), its PostgreSQL schema, the read models it feeds, the fold an auditor's replay uses,
the HTTP routers it adds, and the module that runs it. Plumbing reads declarations and never
imports a service: the entry points (`kit`) find the declared services and hand them over.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from events.base import Message

SERVICE_URN = "urn:kit:service:"


class Projection(Protocol):
    """A read model the views service keeps (see projections/tracking.py for the contract)."""

    name: str
    sources: tuple[str, ...] | None  # services whose events it reads; None: every service with events


@dataclass(frozen=True)
class Fold:
    """How an auditor's replay rebuilds this service's state of one youth at an instant: the event
    that starts it, the pure fold (state, event, at) -> state, and the summary an auditor reads."""

    starts_with: str
    evolve: Callable[[Any, Message, datetime], Any]
    summary: Callable[[Any, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Grants:
    """NATS subjects a service's user needs beyond what its declaration implies."""

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    summary: str
    main: str  # "module:function": `async def main(settings, stop, platform)`, run by `kit run <name>`
    messages: tuple[type[Message], ...] = ()  # the commands it handles and the events it publishes
    schema: str | None = None  # the PostgreSQL schema it owns (it reads no other, see `shared_reads`)
    projections: tuple[Projection, ...] = ()  # read models of its own, kept by the views service
    read_your_writes: tuple[str, ...] = ()  # projections an operator reads after one of its commands
    fold: Fold | None = None  # the auditor's replay of a youth's state at an instant
    examples: str | None = None  # "module:function": type name -> an example CloudEvent (contracts/examples)
    routers: tuple[str, ...] = ()  # "module:attribute" FastAPI routers the HTTP service mounts
    words: str | None = None  # "module:attribute": its words in the operators' interface {key: (it, en)}
    menu: tuple[tuple[str, str, str], ...] = ()  # its pages in the operators' menu: (path, word, permission)
    # the intake referrals it takes and answers on its own page: (intake `service` code, page path with
    # {youth_id}); the referral inbox links there instead of offering intake's answer forms
    answers_referrals: tuple[tuple[str, str], ...] = ()
    step_details: str | None = None  # "module:function": (event data, t, agency name) -> what a step of the
    #                                  youth's path shows besides its name; unset: the pages' generic words
    shared_reads: tuple[tuple[str, str], ...] = ()  # (schema.table, why) read beside its own schema
    grants: Grants = Grants()
    workers: Callable[[Any], int] | None = None  # processes `kit up` runs (settings -> count); default 1
    consumes_events: bool = False  # reads every integration stream (views, audit)
    consumes_ingest: bool = False  # reads the partners' ingest stream (the gateway)
    sends_commands: bool = False  # publishes commands for any service (the gateway, the HTTP API)

    @cached_property
    def commands(self) -> tuple[type[Message], ...]:
        """What partners (through the gateway) and operators (HTTP) may send it."""
        return tuple(m for m in self.messages if m.kind == "command" and getattr(m, "from_partners", True))

    @cached_property
    def events(self) -> tuple[type[Message], ...]:
        return tuple(m for m in self.messages if m.kind == "event")

    @property
    def source(self) -> str:
        """The CloudEvent `source` of its integration events."""
        return f"{SERVICE_URN}{self.name}"

    def run(self) -> Callable[..., Any]:
        module, _, attribute = self.main.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def process_count(self, settings: Any) -> int:
        return max(1, self.workers(settings)) if self.workers else 1


def load(reference: str) -> Any:
    """`module:attribute` -> the object."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Platform:
    """The declared services and what follows from them."""

    services: tuple[Service, ...]
    by_name: dict[str, Service] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"services declared twice: {', '.join(duplicates)}")
        object.__setattr__(self, "by_name", {s.name: s for s in self.services})
        owners: dict[str, str] = {}
        for service in self.services:
            for model in service.messages:
                if model.context != service.name:
                    raise ValueError(f"{service.name} declares {model.type_name}, a message of {model.context}")
                if model.type_name in owners:
                    raise ValueError(f"{model.type_name} is declared by {owners[model.type_name]} and {service.name}")
                owners[model.type_name] = service.name

    def service(self, name: str) -> Service:
        return self.by_name[name]

    @cached_property
    def referral_pages(self) -> dict[str, str]:
        """Intake referral service code -> the page (path with {youth_id}) of the service answering it."""
        return {code: path for s in self.services for code, path in s.answers_referrals}

    @cached_property
    def registry(self) -> dict[str, type[Message]]:
        """Every message type of every declared service, by CloudEvent type name."""
        return {m.type_name: m for s in self.services for m in s.messages}

    @cached_property
    def step_details(self) -> dict[str, Callable[..., list[str]]]:
        """Event type name -> the function its service declares for the words of a step (if any)."""
        found = {s.name: load(s.step_details) for s in self.services if s.step_details}
        return {name: found[model.context] for name, model in self.registry.items() if model.context in found}

    @cached_property
    def command_owners(self) -> dict[str, Service]:
        """Command type name -> the service that handles it (the gateway routes by this)."""
        return {m.type_name: s for s in self.services for m in s.commands}

    @property
    def with_events(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.events)

    @property
    def with_commands(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.commands)

    @property
    def projections(self) -> tuple[Projection, ...]:
        return tuple(p for s in self.services for p in s.projections)

    def sources_of(self, projection: Projection) -> tuple[Service, ...]:
        """The services whose integration streams feed a projection."""
        wanted = projection.sources
        return tuple(s for s in self.with_events if wanted is None or s.name in wanted)

    def read_your_writes(self, service: str) -> tuple[str, ...]:
        return self.service(service).read_your_writes

    def folds(self) -> Iterable[tuple[Service, Fold]]:
        return ((s, s.fold) for s in self.services if s.fold is not None)

    def processes(self, settings: Any) -> list[str]:
        """What `kit up` starts: one process per service, `<name>#<n>` for further copies."""
        return [s.name if i == 0 else f"{s.name}#{i + 1}"
                for s in self.services for i in range(s.process_count(settings))]
