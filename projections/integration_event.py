"""An integration event as the read models take it: parsed once, checked for the fields they use.

The integration streams are written only by the platform's relays, which build every message
with the full `events.envelope.CloudEvent` model, so the projections do not validate the whole
envelope again (with pydantic it costs more than everything else a rebuild does per event).
What they use is checked here, and a message that fails is refused with the reason, so the
caller skips it as it does any message it cannot apply.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import from_json

from events.envelope import CloudEvent

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class UnreadableEvent(ValueError):
    """The payload is not an integration event the projections can apply."""


@dataclass(frozen=True, slots=True)
class IntegrationEvent:
    id: str
    source: str
    type: str
    time: datetime
    subject: str | None
    agency: str
    actor: str | None
    role: str | None
    classification: str
    kitseq: int
    data: dict[str, Any]
    payload: bytes  # the message as received, for projections that keep it whole

    def envelope(self) -> CloudEvent:
        """The fully validated envelope, for the projections that store it as such (the audit log)."""
        return CloudEvent.model_validate_json(self.payload)


def uuid_text(value: Any) -> str | None:
    """A uuid in its canonical text form (the form PostgreSQL gives back), or None if it is not one."""
    if isinstance(value, str) and UUID_TEXT.fullmatch(value):
        return value  # the common case, without building a UUID
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _text(body: dict, name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise UnreadableEvent(f"{name} must be a non-empty string")
    return value


def read_event(payload: bytes) -> IntegrationEvent:
    try:
        body = from_json(payload)  # pydantic's parser: a quarter of json.loads' time on these messages
    except ValueError as e:
        raise UnreadableEvent(f"not JSON: {e.__class__.__name__}") from None
    if not isinstance(body, dict):
        raise UnreadableEvent("not a JSON object")
    data, kitseq = body.get("data"), body.get("kitseq")
    if not isinstance(data, dict):
        raise UnreadableEvent("data must be an object")
    if not isinstance(kitseq, int) or isinstance(kitseq, bool) or kitseq < 1:
        raise UnreadableEvent("kitseq must be a positive integer (integration events only)")
    try:
        time = datetime.fromisoformat(_text(body, "time"))
    except ValueError:
        raise UnreadableEvent("time must be an RFC 3339 timestamp") from None
    if time.tzinfo is None:
        raise UnreadableEvent("time must carry its offset")
    return IntegrationEvent(id=_text(body, "id"), source=_text(body, "source"), type=_text(body, "type"), time=time,
                            subject=_text(body, "subject", required=False), agency=_text(body, "kitagency"),
                            actor=_text(body, "kitactor", required=False), role=_text(body, "kitrole", required=False),
                            classification=_text(body, "kitclassification"), kitseq=kitseq, data=data,
                            payload=payload)
