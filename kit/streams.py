"""The subject and stream layout, derived from the declared services.

| subject                              | stream            | what                                                  |
|--------------------------------------|-------------------|-------------------------------------------------------|
| kit.ingest.<agency>[.>]              | KIT_INGEST        | partners' CloudEvents (work queue until routed)       |
| kit.commands.<service>.<agency>      | KIT_COMMANDS      | commands for one service (work queue until handled)   |
| kit.receipts.<agency>                | KIT_RECEIPTS      | outcome of every command (retained)                   |
| kit.events.<service>.<type>          | KIT_EVENTS_<SVC>  | integration events, in each service's log order       |
| kit.dlq.<consumer>.<sequence>        | KIT_DLQ           | messages that could not be handled, with reason       |
| kit.audit.checkpoints                | KIT_AUDIT         | signed tree heads of the audit log (kept)             |

Partners publish on their own agency's ingest subject; the gateway routes each message to the
service that owns its type, on that service's commands subject (one consumer per service, on
subjects disjoint from the others'), with the sender's agency taken from the ingest subject.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from kit.service import Platform

DAY = 24 * 3600.0
INGEST_DUPLICATE_WINDOW = 0.1  # seconds: the smallest the server takes

INGEST_STREAM = "KIT_INGEST"
COMMANDS_STREAM = "KIT_COMMANDS"
RECEIPTS_STREAM = "KIT_RECEIPTS"
DLQ_STREAM = "KIT_DLQ"
AUDIT_STREAM = "KIT_AUDIT"
CHECKPOINT_SUBJECT = "kit.audit.checkpoints"


def ingest_subject(agency: str) -> str:
    return f"kit.ingest.{agency}"


def command_subject(service: str, agency: str) -> str:
    return f"kit.commands.{service}.{agency}"


def commands_filter(service: str) -> str:
    """What one service's consumer reads: disjoint from every other service's."""
    return f"kit.commands.{service}.*"


def receipt_subject(agency: str) -> str:
    return f"kit.receipts.{agency}"


def events_stream(service: str) -> str:
    return f"KIT_EVENTS_{service.upper()}"


def events_filter(service: str) -> str:
    return f"kit.events.{service}.>"


def event_subject(service: str, type_name: str) -> str:
    # kit.intake.youth_registered.v1 -> kit.events.intake.youth_registered.v1
    return f"kit.events.{service}.{type_name.removeprefix('kit.').split('.', 1)[1]}"


def dlq_subject(consumer: str, sequence: int) -> str:
    """Where a consumer sets aside the message at `sequence` of its stream: one subject per message,
    so that whether it was set aside can be looked up (`kit.dlq.<consumer>.>` reads them all)."""
    return f"kit.dlq.{consumer}.{sequence}"


def stream_configs(platform: Platform, replicas: int = 1) -> list[StreamConfig]:
    common = dict(storage=StorageType.FILE, num_replicas=replicas)
    configs = [
        # Work queues: a message stays until it is routed (ingest) or handled (commands) and acked.
        # Ingest is not de-duplicated by the server (its smallest window): a `Nats-Msg-Id` is one id
        # space for the whole stream, so one agency could suppress another's message with it. The
        # services de-duplicate by (the agency the subject names, CloudEvent id) instead.
        StreamConfig(name=INGEST_STREAM, subjects=["kit.ingest.>"], retention=RetentionPolicy.WORK_QUEUE,
                     max_age=30 * DAY, duplicate_window=INGEST_DUPLICATE_WINDOW, **common),
        StreamConfig(name=COMMANDS_STREAM, subjects=["kit.commands.>"], retention=RetentionPolicy.WORK_QUEUE,
                     max_age=30 * DAY, duplicate_window=3600, **common),
        StreamConfig(name=RECEIPTS_STREAM, subjects=["kit.receipts.>"], retention=RetentionPolicy.LIMITS,
                     max_age=90 * DAY, duplicate_window=3600, **common),
        StreamConfig(name=DLQ_STREAM, subjects=["kit.dlq.>"], retention=RetentionPolicy.LIMITS,
                     max_age=365 * DAY, **common),
        # Signed checkpoints of the audit log, kept for good: partners and witnesses keep copies.
        StreamConfig(name=AUDIT_STREAM, subjects=["kit.audit.>"], retention=RetentionPolicy.LIMITS,
                     duplicate_window=3600, **common),
    ]
    for service in platform.with_events:
        # The integration log: kept without age limit so every projection can be rebuilt from it.
        configs.append(StreamConfig(
            name=events_stream(service.name), subjects=[events_filter(service.name)],
            retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD,
            duplicate_window=3600, **common,
        ))
    return configs


async def ensure_streams(js: JetStreamContext, platform: Platform, replicas: int = 1) -> None:
    """Create the streams, or update them in place when their config changed."""
    for config in stream_configs(platform, replicas):
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
