"""The gateway, declared once: the partners' front door (kit.ingest.<agency>), routing each command
to the service that owns its type, refusing what no service takes (kit/gateway.py)."""

from kit.service import Service

SERVICE = Service(
    name="gateway",
    summary="routes partners' commands from kit.ingest.<agency> to the service that owns each type",
    main="services.gateway.wiring:main",
    consumes_ingest=True,
    sends_commands=True,
)
