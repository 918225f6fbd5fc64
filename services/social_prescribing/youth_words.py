"""The youth's own words in social prescribing (what matters to them, the goals of their plan),
sealed like identity: encrypted with the youth's own vault key (intake's key table, a declared
shared read), so erasing the youth (crypto-shredding their key) makes these words unreadable too.

The service writes the ciphertext into its events; `WordsView` keeps it, per conversation and per
goal, from the service's own log, with the coded areas and each goal's latest progress; `read`
opens it for a reader the caller has checked (need to know, consent) and logged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg

from events import social_prescribing as sp
from kit.vault import KeyDestroyed, VaultKeys, decrypt_for, encrypt_for
from services.social_prescribing.aggregates import YouthCase
from services.social_prescribing.directory import SCHEMA

TABLE = f"{SCHEMA}.youth_words"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    youth_id uuid NOT NULL,
    kind text NOT NULL,          -- what_matters | goal
    item_id text NOT NULL,       -- the conversation's or the goal's id
    areas text[] NOT NULL,
    ciphertext text NOT NULL,    -- under the youth's vault key
    on_day date NOT NULL,        -- held on, or the plan agreed on
    plan_id text,
    current boolean NOT NULL DEFAULT true,  -- a goal still in the youth's latest plan
    progress text,
    PRIMARY KEY (youth_id, kind, item_id)
);
"""


class Sealer:
    """Encrypts a youth's words with their own key (created if the youth has none yet)."""

    def __init__(self, keys: VaultKeys):
        self.keys = keys

    def __call__(self, youth_id: str, texts: list[str]) -> list[str] | None:
        """Each text's ciphertext (the key read once), or None if the youth's key was destroyed
        (erased)."""
        try:
            key = self.keys.ensure(youth_id)
        except KeyDestroyed:
            return None
        return [encrypt_for(key, youth_id, text.encode()) for text in texts]


class WordsView:
    name = "youth_words"
    topics = (YouthCase.Started.TOPIC, YouthCase.Recorded.TOPIC)

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(DDL)

    def apply(self, conn: psycopg.Connection, events: Sequence[Any]) -> None:
        for e in events:
            youth, data = e.originator_id, e.data
            if e.type_name == sp.WhatMattersRecorded.type_name:
                conn.execute(f"INSERT INTO {TABLE} (youth_id, kind, item_id, areas, ciphertext, on_day)"
                             " VALUES (%s, 'what_matters', %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                             (youth, data["conversation_id"], data["needs"], data["words_ciphertext"], data["conversation_on"]))
            elif e.type_name == sp.PlanAgreed.type_name:
                conn.execute(f"UPDATE {TABLE} SET current = false WHERE youth_id = %s AND kind = 'goal'", (youth,))
                for goal in data["goals"]:
                    conn.execute(
                        f"INSERT INTO {TABLE} (youth_id, kind, item_id, areas, ciphertext, on_day, plan_id)"
                        " VALUES (%s, 'goal', %s, %s, %s, %s, %s) ON CONFLICT (youth_id, kind, item_id) DO UPDATE"
                        " SET areas = EXCLUDED.areas, ciphertext = EXCLUDED.ciphertext, on_day = EXCLUDED.on_day,"
                        " plan_id = EXCLUDED.plan_id, current = true",
                        (youth, goal["goal_id"], [goal["area"]], goal["goal_ciphertext"], data["agreed_on"],
                         data["plan_id"]))
            elif e.type_name == sp.GoalReviewed.type_name:
                conn.execute(f"UPDATE {TABLE} SET progress = %s WHERE youth_id = %s AND kind = 'goal'"
                             " AND item_id = %s", (data["progress"], youth, data["goal_id"]))


class Keys(Protocol):
    def get(self, youth_id: str) -> bytes | None: ...


def _open(key: bytes | None, youth_id: str, ciphertext: str) -> str | None:
    if key is None:
        return None
    try:
        return decrypt_for(key, youth_id, ciphertext).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def read(conn: psycopg.Connection, keys: Keys, youth_id: str) -> dict[str, Any]:
    """The youth's conversations (newest first) and the goals of their current plan, opened with
    the youth's key; a text that cannot be opened (the youth erased) is None, with `erased` True."""
    try:
        with conn.transaction():  # a savepoint: a missing table leaves the caller's transaction usable
            rows = conn.execute(f"SELECT kind, item_id, areas, ciphertext, on_day, plan_id, progress FROM {TABLE}"
                                " WHERE youth_id = %s::uuid AND (kind = 'what_matters' OR current)"
                                " ORDER BY on_day DESC, item_id", (youth_id,)).fetchall()
    except psycopg.errors.UndefinedTable:  # the service has not started yet: nothing recorded
        rows = []
    key = keys.get(youth_id) if rows else None
    conversations, goals = [], []
    for kind, item_id, areas, ciphertext, on_day, plan_id, progress in rows:
        text = _open(key, youth_id, ciphertext)
        if kind == "what_matters":
            conversations.append({"conversation_id": item_id, "conversation_on": on_day.isoformat(), "needs": list(areas),
                                  "in_their_words": text, "erased": text is None})
        else:
            goals.append({"goal_id": item_id, "plan_id": plan_id, "agreed_on": on_day.isoformat(), "area": areas[0],
                          "goal": text, "erased": text is None, "progress": progress or "not_started"})
    return {"youth_id": youth_id, "conversations": conversations, "plan": {"goals": goals}}


def shows(conn: psycopg.Connection, command: Any) -> bool:
    """Whether the view shows what this accepted command recorded yet (read-your-writes)."""
    if isinstance(command, sp.RecordWhatMatters):
        where, args = "kind = 'what_matters' AND item_id = %s", (command.conversation_id,)
    elif isinstance(command, sp.AgreePlan):
        where, args = "kind = 'goal' AND plan_id = %s", (command.plan_id,)
    else:
        where, args = "kind = 'goal' AND item_id = %s AND progress = %s", (command.goal_id, command.progress)
    try:
        with conn.transaction():
            return conn.execute(f"SELECT EXISTS (SELECT FROM {TABLE} WHERE youth_id = %s AND {where})",
                                (command.youth_id, *args)).fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return False
