"""The intake service, declared once: engagement, registration, consent, the identity vault, the
Project of Life, referrals, keep in touch, closure and follow-up (see docs/intake.md)."""

from events import intake
from events.registry import models_in
from kit.service import Fold, Service
from projections.case_notes import CaseNotes
from projections.youth_directory import YouthDirectory
from services.intake.case import audit_summary, evolve

SERVICE = Service(
    name="intake",
    summary="engagement, registration and consent, identity vault, Project of Life, referrals, keep in touch, closure",
    main="services.intake.wiring:main",
    messages=models_in(intake),
    schema="intake",
    projections=(YouthDirectory(), CaseNotes()),
    read_your_writes=("youth_directory", "timeline"),
    fold=Fold(starts_with=intake.YouthRegistered.type_name, evolve=evolve, summary=audit_summary),
    examples="events.builders:example",
    words="services.intake.words:WORDS",
)
