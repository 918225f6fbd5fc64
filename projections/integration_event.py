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
    """The payload is not an integration event the projections can apply (the message names what is
    wrong, never a value)."""

    safe_message = True


@dataclass(slots=True)  # not frozen: a frozen dataclass costs a rebuild ~1 µs an event to build; treat it as such
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


REQUIRED_TEXT = ("id", "source", "type", "time", "kitagency", "kitclassification")
OPTIONAL_TEXT = ("subject", "kitactor", "kitrole")


def _nonempty_text(value: Any) -> bool:
    return type(value) is str and value != ""


def read_event(payload: bytes) -> IntegrationEvent:
    if b"\\u0000" in payload:  # no text column or jsonb holds NUL: an event from before the contract refused it
        payload = payload.replace(b"\\u0000", b"\\ufffd")
    try:
        body = from_json(payload, cache_strings="keys")  # pydantic's parser: half of json.loads' time on these messages
    except ValueError as e:
        raise UnreadableEvent(f"not JSON: {e.__class__.__name__}") from None
    if type(body) is not dict:
        raise UnreadableEvent("not a JSON object")
    get = body.get
    data, kitseq = get("data"), get("kitseq")
    if type(data) is not dict:
        raise UnreadableEvent("data must be an object")
    if type(kitseq) is not int or kitseq < 1:
        raise UnreadableEvent("kitseq must be a positive integer (integration events only)")
    event_id, source, type_, time, agency, classification = map(get, REQUIRED_TEXT)
    subject, actor, role = map(get, OPTIONAL_TEXT)
    if not (_nonempty_text(event_id) and _nonempty_text(source) and _nonempty_text(type_) and _nonempty_text(time)
            and _nonempty_text(agency) and _nonempty_text(classification)):
        missing = next(name for name in REQUIRED_TEXT if not _nonempty_text(get(name)))
        raise UnreadableEvent(f"{missing} must be a non-empty string")
    for name, value in (("subject", subject), ("kitactor", actor), ("kitrole", role)):
        if value is not None and not _nonempty_text(value):
            raise UnreadableEvent(f"{name} must be a non-empty string")
    try:
        at = datetime.fromisoformat(time)
    except ValueError:
        raise UnreadableEvent("time must be an RFC 3339 timestamp") from None
    if at.tzinfo is None:
        raise UnreadableEvent("time must carry its offset")
    return IntegrationEvent(event_id, source, type_, at, subject, agency, actor, role, classification, kitseq, data,
                            payload)
