"""Receipts: the platform's answer to every partner ingest message."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Reason(BaseModel):
    """Why a message was rejected, in terms the sender can act on. Never echoes input values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(description="Dotted path of the offending attribute, e.g. data.birth_year; empty for the whole message.")
    code: str = Field(description="Machine-readable code, e.g. missing, int_parsing, unknown_type, agency_mismatch.")
    message: str


class Receipt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ingest_id: str = Field(description="The CloudEvent id the partner sent, or `KIT_INGEST/<sequence>` if it is not a valid id.")
    agency: str
    status: Literal["accepted", "rejected"]
    event_ids: list[str] = Field(default_factory=list, description="Ids of the integration events it produced.")
    subject: str | None = Field(default=None, description="Pseudonymous youth id the message applied to.")
    reasons: list[Reason] = Field(default_factory=list)
    notices: list[Reason] = Field(default_factory=list, description="Accepted, but worth knowing (e.g. matched an existing youth).")
    recorded_at: AwareDatetime
