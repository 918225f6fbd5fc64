"""Base class of every message payload (the CloudEvent `data`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from events.bounds import plain_text

Kind = Literal["command", "event"]
Classification = Literal["internal", "pseudonymous", "personal", "special-category"]


class Message(BaseModel):
    """A versioned payload. `type_name` ends with `.v<N>`; a changed shape is a new version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_name: ClassVar[str]
    kind: ClassVar[Kind]
    context: ClassVar[str]
    classification: ClassVar[Classification] = "pseudonymous"
    # the permission (shared.roles) that reads a special-category message: need to know
    need_to_know: ClassVar[str] = "special_category.read"
    summary: ClassVar[str] = ""

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value):
        return plain_text(value)
