"""The social prescribing service, declared once. So far: its activity directory (Open Referral
HSDS 3.0, with live capacity), imported and exported with `kit directory` and read through the
HSDS API at /hsds/. Referrals, link workers, prescriptions and wellbeing come as its commands."""

from kit.service import Service

SERVICE = Service(
    name="social_prescribing",
    summary="the activity directory (HSDS 3.0 with live capacity) link workers prescribe from",
    main="services.social_prescribing.wiring:main",
    schema="social_prescribing",
    routers=("services.social_prescribing.http:router",),
    words="services.social_prescribing.words:WORDS",
)
