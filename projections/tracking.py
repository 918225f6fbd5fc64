"""Apply integration events to a read model with their position, in one transaction.

The position of a read model is, per integration stream, the stream sequence of the last message
it has dealt with. The relay guarantees each stream holds every event of its service once, in log
order, so: a sequence at or below the position is a redelivery (skip it, no effect); the next
sequence is applied; anything beyond it arrived ahead of its turn (a redelivery of an earlier
message is still due after a crash) and is left for later.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Protocol

import psycopg
from psycopg import sql

from projections.integration_event import IntegrationEvent, read_event

SCHEMA = "views"


class Projection(Protocol):
    """A read model. It may keep its positions in its own schema by defining
    `load_position(conn, stream)` and `save_position(conn, stream, sequence)`; by default they are
    rows of `views.positions`."""

    name: str
    sources: tuple[str, ...] | None  # the services whose events it reads; None: every one with events

    def create_tables(self, conn: psycopg.Connection) -> None: ...

    def apply_page(self, conn: psycopg.Connection, events: Sequence[IntegrationEvent]) -> None:
        """Apply the events, in order, inside the caller's transaction (a page at a time: the
        projections write each page with a few set-based statements, not one per event)."""


def consumer_name(runner: str, service: str) -> str:
    """The durable consumer that feeds a runner's read models from a service's integration stream
    (one for all of them: each message is delivered, read and committed once)."""
    return f"{runner}-{service}".replace("_", "-")


def former_consumer_name(projection: str, service: str) -> str:
    """The consumer a read model had of its own before they shared one (retired at start)."""
    return f"views-{projection}-{service}".replace("_", "-")


class Turn(Enum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    AHEAD = "ahead"


def create_positions_table(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.positions (projection text, stream text, position bigint NOT NULL,"
        " PRIMARY KEY (projection, stream))").format(sql.Identifier(SCHEMA)))


def position(conn: psycopg.Connection, projection: str, stream: str) -> int:
    row = conn.execute(sql.SQL("SELECT position FROM {}.positions WHERE projection = %s AND stream = %s"
                               " FOR UPDATE").format(sql.Identifier(SCHEMA)), (projection, stream)).fetchone()
    return row[0] if row else 0


def turn_of(current: int, sequence: int) -> Turn:
    if sequence <= current:
        return Turn.DUPLICATE
    return Turn.APPLY if sequence == current + 1 else Turn.AHEAD


def take_turns(current: int, sequences: list[int]) -> tuple[list[int], list[int], int]:
    """Pure: given the position and a fetch (any order), which sequences to apply (in order),
    which are done (applied or duplicates), and the new position."""
    apply, done = [], []
    for sequence in sorted(set(sequences)):
        turn = turn_of(current, sequence)
        if turn is Turn.AHEAD:
            break
        if turn is Turn.APPLY:
            apply.append(sequence)
            current = sequence
        done.append(sequence)
    return apply, done, current


def save_position(conn: psycopg.Connection, projection: str, stream: str, sequence: int) -> None:
    conn.execute(sql.SQL(
        "INSERT INTO {}.positions VALUES (%s, %s, %s) ON CONFLICT (projection, stream)"
        " DO UPDATE SET position = EXCLUDED.position").format(sql.Identifier(SCHEMA)),
        (projection, stream, sequence))


def stream_position(conn: psycopg.Connection, projection: Projection, stream: str) -> int:
    """The last sequence of `stream` the projection dealt with (locked for the transaction)."""
    own = getattr(projection, "load_position", None)
    return own(conn, stream) if own else position(conn, projection.name, stream)


def store_position(conn: psycopg.Connection, projection: Projection, stream: str, sequence: int) -> None:
    own = getattr(projection, "save_position", None)
    if own:
        own(conn, stream, sequence)
    else:
        save_position(conn, projection.name, stream, sequence)


def apply_in_turn(conn: psycopg.Connection, projection: Projection, stream: str,
                  messages: Sequence[tuple[int, bytes | IntegrationEvent]]) -> list[int]:
    """Apply (sequence, payload or event already read) pairs in sequence order inside the
    caller's transaction.

    Returns the sequences that are done (applied or duplicates); the others are not due yet.
    A payload that is not a readable integration event raises.
    """
    payloads = dict(messages)
    apply, done, current = take_turns(stream_position(conn, projection, stream), list(payloads))
    if apply:
        projection.apply_page(conn, [as_event(payloads[sequence]) for sequence in apply])
    store_position(conn, projection, stream, current)
    return done


def apply_all(conn: psycopg.Connection, projections: Sequence[Projection], stream: str,
              messages: Sequence[tuple[int, bytes]]) -> list[int]:
    """`apply_in_turn` for several read models of one stream in the caller's transaction, each
    message read once; the sequences every one of them is done with."""
    below = min(stream_position(conn, p, stream) for p in projections)  # a duplicate for all: not read
    read = [(seq, as_event(payload) if seq > below else payload) for seq, payload in messages]
    done: set[int] | None = None
    for projection in projections:
        applied = set(apply_in_turn(conn, projection, stream, read))
        done = applied if done is None else done & applied
    return sorted(done or ())


def as_event(message: bytes | IntegrationEvent) -> IntegrationEvent:
    return message if isinstance(message, IntegrationEvent) else read_event(message)


def skip_in_turn(conn: psycopg.Connection, projection: Projection, stream: str, sequence: int) -> None:
    """Move the position past a dead-lettered message, without effect."""
    if turn_of(stream_position(conn, projection, stream), sequence) is Turn.APPLY:
        store_position(conn, projection, stream, sequence)
