"""The social prescribing service, declared once: referrals in (accepted with a link worker, or
declined), prescriptions of activities against their places (or their waitlist), the end of a
prescription; its activity directory (Open Referral HSDS 3.0, with live capacity), imported and
exported with `kit directory` and read through the HSDS API at /hsds/."""

from events import social_prescribing
from events.registry import models_in
from kit.service import Fold, Grants, Service
from services.social_prescribing.case import audit_summary, evolve

SERVICE = Service(
    name="social_prescribing",
    summary="referrals to link workers, prescriptions of activities against their places, the HSDS activity"
            " directory with live capacity",
    main="services.social_prescribing.wiring:main",
    messages=models_in(social_prescribing),
    schema="social_prescribing",
    routers=("services.social_prescribing.http:router", "services.social_prescribing.http:operators",
             "services.social_prescribing.pages:router"),
    menu=(("/social-prescribing", "sp.title", "case.read"),),
    answers_referrals=(("social_prescribing", "/social-prescribing/youths/{youth_id}"),),  # see intake_referrals.py
    read_your_writes=("timeline",),  # the youth's path, which its pages read after each command
    words="services.social_prescribing.words:WORDS",
    step_details="services.social_prescribing.steps:step_details",
    shared_reads=(("views.*", "the youths' consents as the views service keeps them from intake's events: a"
                              " referral and every command about a youth need the agencies' access, fail-closed"),
                  ("intake.youth_keys", "the youth's own vault key (read, and created on first use), to seal what"
                                        " matters to them and their goals like identity: erasing the youth (its"
                                        " key destroyed) erases them here too")),
    examples="events.builders:example",
    # a referral made in intake to social prescribing comes in as the referrer's `refer`, and the
    # answer goes back as the receiving agency's `respond_to_referral` (intake_referrals.py)
    grants=Grants(publish=("kit.commands.social_prescribing.*", "kit.commands.intake.*")),
    fold=Fold(starts_with=social_prescribing.SocialPrescribingReferralReceived.type_name, evolve=evolve,
              summary=audit_summary),
)
