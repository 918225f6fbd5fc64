"""The audit service, declared once: one tamper-evident log (Merkle tree, signed checkpoints) of every
integration event of every service and every read of a youth's record (see docs/audit.md)."""

from kit.service import Grants, Service
from kit.streams import CHECKPOINT_SUBJECT

SERVICE = Service(
    name="audit",
    summary="the tamper-evident audit log of every event and every read, signed checkpoints, auditor replay",
    main="services.audit.wiring:main",
    schema="audit",
    routers=("services.audit.http:router", "services.audit.web:router"),
    words="services.audit.words:WORDS",
    shared_reads=(("api.access_log", "every read of a youth's record is written by the HTTP service in the"
                                     " transaction of the read; the audit service appends each row to its log"),),
    grants=Grants(publish=(CHECKPOINT_SUBJECT,)),
    consumes_events=True,
)
