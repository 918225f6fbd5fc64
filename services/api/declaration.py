"""The HTTP service, declared once: operators' and auditors' API and the operators' web app. It
hosts the routes every declared service needs (commands, the routers a service declares)."""

from kit.service import Service


def api_workers(settings) -> int:
    """Processes sharing the HTTP port (SO_REUSEPORT; one where the system lacks it)."""
    import socket

    return settings.api_workers if hasattr(socket, "SO_REUSEPORT") else 1


SERVICE = Service(
    name="api",
    summary="operators' and auditors' HTTP API and web app, every service's command routes",
    main="services.api.wiring:main",
    schema="api",
    shared_reads=(
        ("views.*", "the read models the views service keeps for operators (CQRS: the views service writes, the"
                    " API reads)"),
        ("intake.youth_keys", "a youth's data key, to show identity from the vault to roles that may see it;"
                              " identity never travels on the bus"),
        ("intake.search_tokens", "the keyed blind index of names and nicknames (HMAC tokens of word prefixes), to find a youth without names in clear; intake writes it, where the plaintext is"),
        ("audit.*", "the audit log, read by the audit service's own routes, which this service hosts"),
        ("social_prescribing.*", "the activity directory and the link workers' caseloads, read by the social"
                                 " prescribing service's own routes, which this service hosts"),
    ),
    words="services.api.web.words:WORDS",
    workers=api_workers,
    sends_commands=True,
)
