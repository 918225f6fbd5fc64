"""The CloudEvents 1.0 envelope (structured JSON mode) with the platform's extension attributes.

Extension attribute names follow the CloudEvents rule (lower-case letters and digits, at most
20 characters). `subject` is always a pseudonymous youth id, never personal data.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.base import Classification
from events.bounds import Instant, plain_text

AGENCY_PATTERN = r"^[a-z0-9][a-z0-9-]{1,39}$"
TYPE_PATTERN = r"^kit\.[a-z_]+\.[a-z_]+\.v[1-9][0-9]*$"
PSEUDONYM_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"

DATA_SCHEMA_BASE = "https://kit-platform.eu/contracts/schemas/"


def dataschema_for(type_name: str) -> str:
    return f"{DATA_SCHEMA_BASE}{type_name}.json"


class CloudEvent(BaseModel):
    """One message on the wire: partner ingest and integration events share this envelope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value):
        return plain_text(value)

    specversion: Literal["1.0"]
    id: str = Field(pattern=ID_PATTERN, description="Unique per source; re-sending the same id is idempotent.")
    source: str = Field(min_length=1, max_length=256, description="URI-reference of the sending system.")
    type: str = Field(pattern=TYPE_PATTERN, description="kit.<context>.<name>.v<version>")
    subject: str | None = Field(default=None, pattern=PSEUDONYM_PATTERN, description="Pseudonymous youth id.")
    time: Instant
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str = Field(min_length=1, max_length=512)
    kitagency: str = Field(pattern=AGENCY_PATTERN, description="Publishing agency code.")
    kitcorrelationid: str = Field(pattern=ID_PATTERN, description="Groups every message of one business flow.")
    kitcausationid: str | None = Field(default=None, pattern=ID_PATTERN, description="Id of the message that caused this one.")
    kitactor: str | None = Field(default=None, pattern=ID_PATTERN, description="Pseudonymous id of the acting operator.")
    kitrole: str | None = Field(default=None, pattern=r"^[a-z_]{1,30}$", description="Role of the acting operator (see docs/contracts.md); none = the partner's system.")
    kitrecordedtime: Instant | None = Field(default=None, description="When the platform recorded it (set by the platform).")
    kitclassification: Classification = Field(description="Data classification of `data`.")
    kitseq: int | None = Field(default=None, ge=1, description="Position in the source service's log (integration events only).")
    data: dict[str, Any]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

