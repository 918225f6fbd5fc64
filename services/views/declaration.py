"""The views service, declared once: it keeps every read model the services declare (and the
platform-wide timeline) up to date from their integration streams, in the `views` schema."""

from kit.service import Service
from projections.timeline import Timeline

SERVICE = Service(
    name="views",
    summary="read models of every service, rebuilt from the integration streams (schema views)",
    main="services.views.wiring:main",
    schema="views",
    projections=(Timeline(),),
    consumes_events=True,
)
