"""`kit up --demo`: a realistic demo, seeded through the platform's own commands.

Every youth here is **synthetic**: names are random combinations of common first names and
surnames, birth dates are random, codici fiscali are computed for those invented people (valid
check character from `stdnum.it.codicefiscale.calc_check_digit`), AHV numbers are random with a
valid check digit, phones use the fictitious 555 block and e-mails the reserved `example.org`.
They describe no real person. The demo agencies added to `deploy/policy.toml` are
fictitious too (named "(demo)").

How it seeds: like the agencies' own systems would. Each youth's registering agency publishes
CloudEvents on `kit.ingest.<agency>` (JetStream), identity sealed with the platform's ingest
public key (`kit.vault.seal`), and reads its receipts on `kit.receipts.<agency>` (ordered
consumer), matched on `ingest_id`. Commands an operator performs carry `kitrole`/`kitactor` (the
demo operator's role and id). Nothing is written to a table directly, except the operator accounts,
which are created with `services.api.accounts.add_operator` as `kit users add` does.

Idempotent: every CloudEvent id (`demo-<youth>-<step>`), case reference and local id (consents,
goals, referrals, contacts) is derived from the youth's number, and the receipts already on
`kit.receipts.<agency>` are read first: a second run publishes nothing that was answered before
(the platform would answer a re-sent id with its first receipt anyway) and takes a few seconds.
The youths are generated with `random.Random(2026)`, twenty at a time in blocks that hold every
stage, so the first N youths are the same whatever the total.

Beside them, the showcase (`SHOWCASE`, six youths counted in the total): built so that each demo
user named first (`START_HERE`) finds work waiting at the first sign-in: contacts due from a
cadence (contacts back-dated with `occurred_at`), a review overdue, a lost-contact alert (raised by
the intake scheduler within seconds of the history arriving), a follow-up due, a referral pending
in the inbox of AFOL and of Municipio 7, and a path for the auditor to replay.

Demo credentials (one password for all, `DEMO_PASSWORD`): see `OPERATORS`; `start_here()` prints
them, with what waits for whom, when `kit up --demo` has seeded. Run it on its own against a
running platform with `python -m entrypoints.demo [--youths N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
import traceback
import unicodedata
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
from nats.js.errors import NotFoundError
from stdnum import ean
from stdnum.ch import ssn
from stdnum.it import codicefiscale

from events import intake as ev
from events.builders import NOTICE, envelope
from kit.config import Settings, database_url, load_settings, nats_url
from kit.keys import ingest_private_key, ingest_public_key
from kit.nats_auth import ADMIN_USER, connect
from kit.streams import INGEST_STREAM, RECEIPTS_STREAM, ingest_subject, receipt_subject
from kit.vault import seal
from entrypoints import demo_social_prescribing as social_prescribing
from services.intake.decisions import add_months

DEMO_PASSWORD = "demo-kit-2026"
SEED = 2026
DEFAULT_YOUTHS = 300
PREFIX = "demo-"
NAMESPACE = uuid.UUID("6f1c9f4e-2b7d-4c35-9a61-5e0d2026c0de")  # local ids: uuid5(NAMESPACE, "<youth>:<what>")
RECEIPT_IDLE_TIMEOUT = 90.0  # seconds without a new receipt before a phase gives up
SEEDING_NOTE = "Demo: seeding synthetic youths now; the demo users and what waits for each follow when it is done."


# ---------------------------------------------------------------- agencies and operators

@dataclass(frozen=True)
class DemoOperator:
    username: str
    agency: str
    role: str
    note: str


OPERATORS: tuple[DemoOperator, ...] = (
    # Lombardy (IT-25)
    DemoOperator("giulia.mi7", "comune-milano-m7", "key_worker", "key worker, Municipio 7 youth service"),
    DemoOperator("marco.mi7", "comune-milano-m7", "key_worker", "key worker, Municipio 7 youth service"),
    DemoOperator("sara.mi7", "comune-milano-m7", "supervisor", "supervisor (consent overrides, merges)"),
    DemoOperator("ada.mi7", "comune-milano-m7", "agency_admin", "agency admin (erasure requests)"),
    DemoOperator("anna.audit", "comune-milano-m7", "auditor", "auditor: audit trail, replay, access log"),
    DemoOperator("luca.afol", "afol-milano", "employment_specialist", "IPS employment specialist (referral inbox)"),
    DemoOperator("elena.afol", "afol-milano", "key_worker", "key worker, Youth Guarantee desk"),
    DemoOperator("davide.coopmi", "coop-giovani-milano", "key_worker", "educator, social cooperative"),
    DemoOperator("irene.cfpmi", "cfp-milano-sud", "operator", "training tutor"),
    DemoOperator("bianca.rete", "rete-quartiere-mi7", "link_worker", "social prescribing link worker"),
    # Piedmont (IT-21)
    DemoOperator("federica.to", "comune-torino-giovani", "key_worker", "key worker, Torino youth service"),
    DemoOperator("stefano.to", "comune-torino-giovani", "supervisor", "supervisor, Torino youth service"),
    DemoOperator("paola.cpito", "cpi-torino", "key_worker", "key worker, job centre"),
    DemoOperator("matteo.cpito", "cpi-torino", "employment_specialist", "IPS employment specialist"),
    DemoOperator("chiara.cfpto", "cfp-torino", "operator", "training tutor"),
    DemoOperator("omar.aurora", "ngo-aurora-torino", "key_worker", "street educator, NGO"),
    DemoOperator("lucia.casato", "casa-quartiere-torino", "link_worker", "social prescribing link worker"),
    # Ticino (CH-TI)
    DemoOperator("nadia.lugano", "citta-lugano-giovani", "key_worker", "key worker, Lugano youth service"),
    DemoOperator("reto.ugti", "ufficio-giovani-ti", "key_worker", "key worker, cantonal office (AHV authorised)"),
    DemoOperator("lara.ugti", "ufficio-giovani-ti", "supervisor", "supervisor, cantonal office"),
    DemoOperator("gianluca.ngolu", "ngo-lugano", "key_worker", "educator, NGO"),
    DemoOperator("sandro.urc", "urc-bellinzona", "employment_specialist", "employment counsellor (URC)"),
    DemoOperator("mara.cpt", "cpt-bellinzona", "operator", "training tutor"),
    DemoOperator("elia.mendrisio", "assoc-comunita-mendrisio", "link_worker", "social prescribing link worker"),
)

# the agencies of each region, by kind; "register" = agencies that take youths in charge (weights)
REGIONS: dict[str, dict[str, Any]] = {
    "IT-25": {"country": "IT", "weight": 45,
              "register": {"comune-milano-m7": 25, "afol-milano": 8, "coop-giovani-milano": 12},
              "outreach": ("comune-milano-m7", "coop-giovani-milano"),
              "employment": "afol-milano", "training": "cfp-milano-sud", "community": "rete-quartiere-mi7",
              "partner": ("coop-giovani-milano", "comune-milano-m7"),
              "municipalities": ("Milano",) * 6 + ("Cesano Boscone", "Corsico", "Settimo Milanese", "Rho"),
              "districts": ("Municipio 7", "Municipio 6", "Municipio 8", "Municipio 9"),
              "places": ("F205", "F205", "F205", "F704", "B157", "A794", "C933", "L682")},
    "IT-21": {"country": "IT", "weight": 30,
              "register": {"comune-torino-giovani": 15, "cpi-torino": 6, "ngo-aurora-torino": 9},
              "outreach": ("comune-torino-giovani", "ngo-aurora-torino"),
              "employment": "cpi-torino", "training": "cfp-torino", "community": "casa-quartiere-torino",
              "partner": ("ngo-aurora-torino", "comune-torino-giovani"),
              "municipalities": ("Torino",) * 6 + ("Moncalieri", "Collegno", "Settimo Torinese", "Nichelino"),
              "districts": ("Circoscrizione 6", "Circoscrizione 7", "Circoscrizione 5", "Circoscrizione 8"),
              "places": ("L219", "L219", "L219", "F952", "A479", "D205", "A182")},
    "CH-TI": {"country": "CH", "weight": 25,
              "register": {"citta-lugano-giovani": 9, "ufficio-giovani-ti": 8, "ngo-lugano": 8},
              "outreach": ("citta-lugano-giovani", "ngo-lugano"),
              "employment": "urc-bellinzona", "training": "cpt-bellinzona", "community": "assoc-comunita-mendrisio",
              "partner": ("ngo-lugano", "ufficio-giovani-ti"),
              "municipalities": ("Lugano",) * 4 + ("Bellinzona", "Bellinzona", "Locarno", "Mendrisio", "Chiasso",
                                                   "Biasca"),
              "districts": (None,), "places": ("Z133",)},
}
AGENCY_TAGS = {"comune-milano-m7": "MI7", "afol-milano": "AFOL", "coop-giovani-milano": "COOPMI",
               "comune-torino-giovani": "TOG", "cpi-torino": "CPITO", "ngo-aurora-torino": "AUR",
               "citta-lugano-giovani": "LUG", "ufficio-giovani-ti": "UGTI", "ngo-lugano": "NGOLU"}
SERVICE_TARGET = {"ips_placement": "employment", "training": "training", "social_prescribing": "community"}


def operators_of(agency: str) -> list[DemoOperator]:
    return [o for o in OPERATORS if o.agency == agency]


def key_workers(agency: str) -> list[DemoOperator]:
    return [o for o in operators_of(agency) if o.role == "key_worker"]


RECEIVING_ROLES = ("employment_specialist", "link_worker", "operator", "key_worker")


def case_operator(agency: str) -> DemoOperator:
    """Who answers a referral for the receiving agency: its employment specialist, link worker,
    tutor or key worker, in that order."""
    return min((o for o in operators_of(agency) if o.role in RECEIVING_ROLES),
               key=lambda o: RECEIVING_ROLES.index(o.role))


# the demo users named first when the demo is ready, each with what waits for them (`start_here`)
START_HERE = ("giulia.mi7", "sara.mi7", "luca.afol", "elena.afol", "anna.audit", "bianca.rete")
SHORT_NAMES = {"comune-milano-m7": "Municipio 7", "afol-milano": "AFOL", "rete-quartiere-mi7": "Rete di quartiere"}
# what each showcase youth puts in front of its key worker ({who}: name and case reference)
SHOWCASE_WAITING = {
    "w01": "a contact due: {who}, cadence every 7 days, last reached 12 days ago",
    "w02": "a review overdue: {who}, the Project of Life's review was due 5 days ago",
    "w03": "lost contact: {who}, not reached for 48 days (the scheduler's alert)",
    "w04": "a follow-up due: {who}, 6 months after the exit into training",
    "w05": "sent to AFOL (IPS placement), waiting for an answer: {who}",
    "w06": "a contact due: {who}, cadence every 14 days, last reached 20 days ago; sent to Municipio 7, waiting for"
           " an answer",
    # what the link worker finds on the social prescribing page
    "w07": "social prescribing: a referral to answer, {who}",
    "w08": "social prescribing: {who} followed, what matters to them recorded; no plan yet",
    "w09": "social prescribing: {who} has a plan and waits for a place in a full activity",
    "w10": "social prescribing: {who} started an activity, the first session recorded, an ONS4 baseline",
    "w11": "social prescribing: {who} completed an activity, wellbeing followed up, goals reviewed",
}


def operator(username: str) -> DemoOperator:
    return next(o for o in OPERATORS if o.username == username)


def start_here(people: list["Youth"], showcase_ids: dict[str, str], web_app: str) -> str:
    """The named demo users (username, password, agency, role) and what each finds waiting, then
    the other demo users."""
    from shared.agencies import load_register

    register = load_register()
    showcase = [y for y in people if y.key in SHOWCASE]
    by_key = {y.key: y for y in showcase}

    def who(y: Youth) -> str:
        return f"{y.name} ({y.case_ref})"

    def inbox(agency: str) -> list[Youth]:
        return [y for y in people if y.referral and y.referral[0] == agency and y.referral[2] == "requested"]

    lines = [f"Demo ready: sign in at {web_app} as one of these users (password for all: {DEMO_PASSWORD})"]
    for username in START_HERE:
        o = operator(username)
        agency = register.agency(o.agency)
        lines.append(f"  {o.username}  ·  {o.role}  ·  {o.agency} ({agency.name if agency else o.agency})")
        waiting = []
        if o.role == "auditor":
            y = by_key.get("w04")
            if y is not None:
                waiting.append(f"replay the path of {who(y)}, youth {showcase_ids.get(y.case_ref, '?')}: registration,"
                               " assessment, Project of Life, contacts, exit, the follow-up due; the access log")
        elif o.role == "link_worker":
            waiting += [SHOWCASE_WAITING[y.key].format(who=who(y)) for y in showcase
                        if y.referral and y.referral[1] == "social_prescribing" and y.referral[0] == o.agency]
        else:
            waiting += [SHOWCASE_WAITING[y.key].format(who=who(y)) for y in showcase if y.key_worker == o.username]
            if o.role == "supervisor":
                waiting.append(f"the alerts of all {SHORT_NAMES.get(o.agency, o.agency)}: contacts due, lost contact,"
                               " reviews and follow-ups due")
            if o.role != "agency_admin" and (waiting_there := inbox(o.agency)):
                example = next((y for y in waiting_there if y.key in SHOWCASE), waiting_there[0])
                referrals = f"{len(waiting_there)} referral{'s' if len(waiting_there) > 1 else ''}"
                waiting.append(f"{referrals} waiting in the inbox of {SHORT_NAMES.get(o.agency, o.agency)}, e.g. "
                               f"{who(example)} from {SHORT_NAMES.get(example.agency, example.agency)}")
        lines += [f"      - {line}" for line in waiting or ["the agency's caseload"]]
    others = [f"{o.username} ({o.role}, {o.agency})" for o in OPERATORS if o.username not in START_HERE]
    lines.append("Other demo users, same password:")
    row = "   "
    for other in others:
        if len(row) + len(other) > 110:
            lines.append(row.rstrip(","))
            row = "   "
        row += f" {other},"
    lines.append(row.rstrip(","))
    return "\n".join(lines)


# ---------------------------------------------------------------- synthetic people

IT_FEMALE = ("Giulia", "Sofia", "Aurora", "Martina", "Chiara", "Alessia", "Francesca", "Sara", "Elisa", "Federica",
             "Valentina", "Beatrice", "Noemi", "Greta", "Ilaria", "Arianna", "Camilla", "Marta", "Elena", "Giorgia")
IT_MALE = ("Luca", "Marco", "Alessandro", "Matteo", "Lorenzo", "Andrea", "Davide", "Simone", "Federico", "Riccardo",
           "Gabriele", "Tommaso", "Stefano", "Nicolò", "Daniele", "Emanuele", "Pietro", "Filippo", "Samuele", "Jacopo")
IT_SURNAMES = {
    "IT-25": ("Rossi", "Colombo", "Ferrari", "Bianchi", "Brambilla", "Fumagalli", "Galli", "Sala", "Villa", "Pozzi",
              "Cattaneo", "Riva", "Mariani", "Fontana", "Ricci", "Conti", "Esposito", "Russo", "Romano", "Greco",
              "Lombardi", "Moretti", "Barbieri", "Caruso", "De Luca", "Mancini", "Longhi", "Bertolini"),
    "IT-21": ("Ferrero", "Rosso", "Bertola", "Gribaudo", "Bosio", "Giraudo", "Chiesa", "Audisio", "Boero", "Operti",
              "Rossi", "Russo", "Bruno", "Gallo", "Costa", "Giordano", "Rizzo", "Marino", "Greco", "Esposito",
              "Martini", "Gentile", "Vitale", "Serra", "Caputo", "Longo", "Fiore", "Sartori"),
}
TI_FEMALE = ("Sara", "Alessia", "Giada", "Lara", "Noemi", "Aurora", "Lisa", "Anna", "Mia", "Emma", "Sofia", "Martina",
             "Chiara", "Elisa", "Nora", "Giulia")
TI_MALE = ("Luca", "Nicola", "Mattia", "Noah", "Leonardo", "Elia", "Gioele", "Samuele", "Giona", "Alessio", "Manuel",
           "Loris", "Fabio", "Kevin", "Diego", "Ivan")
TI_SURNAMES = ("Bernasconi", "Pedrazzini", "Lepori", "Rusconi", "Beffa", "Ghielmini", "Guidotti", "Cattaneo", "Fontana",
               "Bianchi", "Rezzonico", "Gianella", "Moretti", "Galli", "Pfister", "Keller", "Vassalli", "Zanetti",
               "Bottinelli", "Giudici", "Sciolli", "Ferrari", "Crivelli", "Poretti")
# migration background: given names (female, male), surnames, Belfiore code of the country of birth
ORIGINS = (
    (("Amina", "Salma", "Yasmine", "Nour"), ("Youssef", "Omar", "Karim", "Adam"), ("El Amrani", "Benali", "Tazi", "Bennani"), "Z330"),
    (("Ioana", "Andreea", "Bianca", "Denisa"), ("Andrei", "Ionut", "Alexandru", "Mihai"), ("Popescu", "Ionescu", "Dumitru", "Stan"), "Z129"),
    (("Klea", "Arbana", "Erisa", "Alba"), ("Ardit", "Erion", "Kledi", "Besart"), ("Hoxha", "Krasniqi", "Shehu", "Dervishi"), "Z100"),
    (("Mariam", "Nada", "Hana", "Salma"), ("Mohamed", "Ahmed", "Mahmoud", "Ali"), ("Hassan", "Ibrahim", "Farag", "Mansour"), "Z336"),
    (("Awa", "Fatou", "Aminata", "Mariama"), ("Mamadou", "Moussa", "Ibrahima", "Cheikh"), ("Diop", "Ndiaye", "Fall", "Sow"), "Z343"),
    (("Daniela", "Ana", "Lucía", "Milagros"), ("Luis", "Carlos", "José", "Diego"), ("Quispe", "Mendoza", "Huamán", "Flores"), "Z611"),
    (("Nusrat", "Tania", "Sumaiya", "Ayesha"), ("Rahim", "Sabbir", "Tanvir", "Arif"), ("Rahman", "Hossain", "Islam", "Akter"), "Z249"),
)
NICKNAMES = ("Ziggy", "Fede", "Lollo", "Tommi", "Gio", "Nico", "Ale", "Sami", "Kri", "Vale", "Teo", "Mati", "Bibi",
             "Jo", "Dani", "Mimi", "Ricky", "Leo", "Ste", "Gabri", "Pato", "Nina", "Ila", "Fra")
SEX_CODE = {"female": 40, "male": 0}
MONTHS = "ABCDEHLMPRST"


def _letters(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    return "".join(c for c in plain if c.isalpha())


def _split(text: str) -> tuple[str, str]:
    letters = _letters(text)
    return "".join(c for c in letters if c not in "AEIOU"), "".join(c for c in letters if c in "AEIOU")


def codice_fiscale(given: str, family: str, birth: date, sex: str, place: str) -> str:
    """The codice fiscale of a synthetic person: name codes, birth date and sex, place, check character."""
    consonants, vowels = _split(family)
    surname = (consonants + vowels + "XXX")[:3]
    consonants, vowels = _split(given)
    name = (consonants[0] + consonants[2] + consonants[3]) if len(consonants) >= 4 else (consonants + vowels + "XXX")[:3]
    base = f"{surname}{name}{birth.year % 100:02d}{MONTHS[birth.month - 1]}{birth.day + SEX_CODE[sex]:02d}{place}"
    return codicefiscale.validate(base + codicefiscale.calc_check_digit(base))


def ahv_number(rng: random.Random) -> str:
    body = "756" + "".join(rng.choice("0123456789") for _ in range(9))
    return ssn.format(ssn.validate(body + ean.calc_check_digit(body)))


# ---------------------------------------------------------------- the path of each youth

# one block of twenty youths, shuffled per block: every stage in realistic proportions
BLOCK = ("outreach", "outreach", "registered", "registered", "assessed", "assessed",
         "project", "project", "project", "project",
         "ref_requested", "ref_accepted", "ref_in_progress", "ref_completed", "ref_rejected", "ref_ended",
         "lost", "closed", "closed", "closed")
STAGE_NAMES = {"outreach": "outreach_only", "registered": "registered_only", "assessed": "assessed",
               "project": "project_of_life", "lost": "lost_contact", "closed": "closed"}

GOALS = {
    "employment": ("Trovare un tirocinio retribuito nel settore della ristorazione", "Preparare il CV e sostenere tre colloqui",
                   "Ottenere un contratto di apprendistato come elettricista", "Trovare un lavoro part-time nel commercio",
                   "Avviare un tirocinio in magazzino e logistica"),
    "education": ("Rientrare a scuola per il diploma serale", "Ottenere la licenza media al CPIA",
                  "Iscriversi al corso di recupero anni scolastici"),
    "training": ("Completare il corso di operatore meccanico", "Ottenere la certificazione HACCP",
                 "Seguire il corso di lingua italiana livello B1", "Completare il corso di addetto alle vendite",
                 "Frequentare il corso di informatica di base"),
    "wellbeing": ("Riprendere una routine quotidiana regolare", "Iniziare un percorso di supporto psicologico"),
    "social": ("Partecipare a un'attività di volontariato nel quartiere", "Iscriversi a un gruppo sportivo"),
    "housing": ("Trovare una soluzione abitativa stabile",),
}
ASPIRATION_GOAL = {"work": "employment", "study": "education", "training": "training", "volunteering": "social",
                   "own_business": "employment", "undecided": "wellbeing"}
REFERRAL_REASONS = {
    "ips_placement": ("Vuole lavorare: inserimento con metodo IPS", "Ricerca attiva di lavoro con supporto individuale"),
    "training": ("Interesse per un corso di formazione professionale", "Orientamento verso un percorso di qualifica"),
    "social_prescribing": ("Isolamento sociale: attività di gruppo nel quartiere", "Prescrizione sociale: sport e volontariato"),
    "partner_service": ("Accompagnamento educativo e presa in carico congiunta", "Supporto educativo nel quartiere"),
}
REJECT_REASONS = ("Corso al completo fino alla prossima sessione", "Servizio non adatto all'età del giovane",
                  "Nessun posto disponibile nel gruppo fino a febbraio")
CANCEL_REASONS = ("Il giovane ha trovato un'altra soluzione", "Il giovane si è trasferito fuori regione")
PROGRESS = {"in-progress": ("Primo colloquio svolto", "Inserito nel gruppo, frequenza regolare"),
            "completed": ("Tirocinio avviato presso un'azienda del territorio", "Percorso concluso con attestato"),
            "failed": ("Il giovane ha interrotto il percorso", "Nessuna presenza dopo il primo incontro")}
DESTINATIONS = (("employment", 40), ("training", 20), ("education", 15), ("moved", 8), ("other", 7), ("refused", 5),
                ("lost_contact", 5))
FOLLOW_UP_SITUATIONS = {"employment": ("employment", "employment", "employment", "neet"),
                        "training": ("training", "employment", "training", "neet"),
                        "education": ("education", "education", "training"),
                        "moved": ("unknown",), "other": ("neet", "unknown"), "refused": ("neet", "unknown"),
                        "lost_contact": ("unknown",)}


@dataclass
class Step:
    """One command as the agency's system publishes it; `youth_id` is filled in from the
    registration receipt when `for_youth`."""

    phase: int
    youth: str
    name: str
    agency: str
    model: type[ev.Command]
    fields: dict[str, Any]
    role: str | None = None
    actor: str | None = None  # demo username; its operator id goes in kitactor
    identity: dict[str, Any] | None = None  # sealed into `sealed_identity` when sent
    for_youth: bool = True
    at: datetime | None = None

    @property
    def ingest_id(self) -> str:
        return f"{PREFIX}{self.youth}-{self.name}"


@dataclass
class Youth:
    key: str
    stage: str
    region: str
    agency: str  # registering agency
    steps: list[Step] = field(default_factory=list)
    referral: tuple[str, str, str] | None = None  # (to agency, service, final status)
    joined_by: str | None = None
    outreach_contacts: int = 0
    contacts: int = 0
    goals: int = 0
    follow_ups: int = 0
    lead_transfer: bool = False
    name: str = ""  # the synthetic person's given and family name
    case_ref: str | None = None  # the registering agency's case reference
    key_worker: str | None = None  # demo username, once assessed
    started_at: datetime | None = None  # the path's start declared at registration
    birth_year: int | None = None
    social_prescribing: str | None = None  # how far its social prescribing went (demo_social_prescribing)

    @property
    def registered(self) -> bool:
        return self.stage != "outreach"


PHASES = ("outreach", "register", "join", "assess", "plan", "refer", "respond", "progress", "finish", "follow-up",
          *social_prescribing.PHASES)
P = {name: i for i, name in enumerate(PHASES)}

# The showcase: youths built for the named demo users (`START_HERE`), so that each finds work
# waiting at the first sign-in. key: (stage, registering agency, key worker)
SHOWCASE: dict[str, tuple[str, str, str]] = {
    "w01": ("project", "comune-milano-m7", "giulia.mi7"),  # a contact due from the cadence
    "w02": ("project", "comune-milano-m7", "giulia.mi7"),  # the Project of Life's review overdue
    "w03": ("lost", "comune-milano-m7", "giulia.mi7"),  # lost contact (the scheduler's alert)
    "w04": ("closed", "comune-milano-m7", "giulia.mi7"),  # the 6-month follow-up due
    "w05": ("ref_requested", "comune-milano-m7", "giulia.mi7"),  # in AFOL's referral inbox
    "w06": ("ref_requested", "afol-milano", "elena.afol"),  # in Municipio 7's inbox; a contact due
    # social prescribing at every stage, referred by Municipio 7 to its neighbourhood network
    "w07": ("sp_requested", "comune-milano-m7", "marco.mi7"),  # waiting for the link worker's answer
    "w08": ("sp_accepted", "comune-milano-m7", "marco.mi7"),  # followed: what matters to them recorded
    "w09": ("sp_waiting", "comune-milano-m7", "marco.mi7"),  # a plan; on the waitlist of a full activity
    "w10": ("sp_in_progress", "comune-milano-m7", "marco.mi7"),  # an activity started, a session recorded
    "w11": ("sp_completed", "comune-milano-m7", "marco.mi7"),  # completed, wellbeing followed up, goals reviewed
}
SOCIAL_PRESCRIBING_AGENCY = "rete-quartiere-mi7"
SP_SHOWCASE_STATUS = {"sp_requested": "requested", "sp_accepted": "accepted", "sp_waiting": "in-progress",
                      "sp_in_progress": "in-progress", "sp_completed": "completed"}


def syncing_cadence(y: Youth, agency: str, lead: dict[str, str]) -> None:
    """For a youth whose last contact is long past: a yearly threshold while its history is sent
    (the scheduler flags a youth as soon as its history is past the threshold), the real cadence
    after the contacts, so the lost-contact alert comes once, on the whole history."""
    y.steps.append(Step(P["assess"], y.key, "cadence-while-syncing", agency, ev.SetContactCadence, dict(
        every_days=30, lost_after_days=365), **lead))


class Planner:
    """Generates the youths in order: youth n is the same whatever the total."""

    def __init__(self, now: datetime):
        self.now = now
        self.today = now.date()
        self.master = random.Random(SEED)
        self.used_ids: set[str] = set()
        self.counters: dict[str, int] = {}

    def count(self, what: str) -> int:
        self.counters[what] = self.counters.get(what, 0) + 1
        return self.counters[what] - 1

    def youths(self, total: int) -> list[Youth]:
        """`total` youths: the showcase (when there is room for it) and randomly drawn ones."""
        showcase = len(SHOWCASE) if total >= len(SHOWCASE) else 0
        people = self.drawn(total - showcase) + (self.showcase() if showcase else [])
        social_prescribing.plan(people, Step, self.local, case_operator, P, self.today, self.now)
        return people

    def drawn(self, total: int) -> list[Youth]:
        out: list[Youth] = []
        while len(out) < total:
            block = list(BLOCK)
            self.master.shuffle(block)
            for stage in block:
                if len(out) == total:
                    break
                out.append(self.youth(len(out) + 1, stage, random.Random(self.master.getrandbits(64))))
        return out

    # ---------------------------------------------------------------- one youth

    def ago(self, rng: random.Random, days: int) -> datetime:
        """`days` before now, at a working hour."""
        day = self.today - timedelta(days=days)
        at = datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.choice((0, 15, 30, 45)), tzinfo=timezone.utc)
        return min(at, self.now - timedelta(minutes=1))

    def youth(self, n: int, stage: str, rng: random.Random) -> Youth:
        region = _weighted(rng, {r: spec["weight"] for r, spec in REGIONS.items()})
        spec = REGIONS[region]
        agency = _weighted(rng, spec["register"])
        if stage == "outreach" and agency not in spec["outreach"]:
            agency = spec["outreach"][0]
        y = Youth(key=f"y{n:04d}", stage=stage, region=region, agency=agency)
        person = self.person(rng, y)
        y.name = f"{person['identity']['given_names']} {person['identity']['family_name']}"
        y.birth_year = person["birth_year"]
        minor = self.today.year - person["birth_year"] - 1 < 18
        given_by = "guardian" if minor else "youth"
        start = {"outreach": rng.randint(3, 60), "registered": rng.randint(3, 60), "assessed": rng.randint(10, 90),
                 "project": rng.randint(30, 200), "lost": rng.randint(100, 240)}.get(stage, rng.randint(45, 240))
        closed_with_follow_up = False
        exit_days = 0
        if stage == "closed":  # two in three exited over six months ago: their 6-month follow-up is recorded
            closed_with_follow_up = self.count("closed") % 3 != 2
            exit_days = rng.randint(190, 340) if closed_with_follow_up else rng.randint(5, 150)
            start = exit_days + rng.randint(120, 300)

        # engagement under a nickname before registration (PROXIMO), or only that
        handle = None
        if stage == "outreach" or (agency in spec["outreach"] and rng.random() < 0.45):
            handle = f"{rng.choice(NICKNAMES)}.{n:03d}"
            territory = {"country": spec["country"], "municipality": person["municipality"]}
            if spec["country"] == "CH":
                territory["canton"] = region
            elif person["municipality"] in ("Milano", "Torino"):
                territory["district"] = rng.choice(spec["districts"])
            contacts = rng.randint(1, 3)
            first = start + rng.randint(7, 90)
            days = sorted({first, *(rng.randint(start + 1, first) for _ in range(contacts - 1))}, reverse=True)
            outcomes = ["first_contact", *(["conversation"] * 3)][:len(days)]
            if stage != "outreach":
                outcomes[-1] = "hooked"
            elif len(days) > 1:
                outcomes[-1] = rng.choice(("conversation", "declined", "no_contact"))
            place = rng.choice(("street", "street", "youth_centre", "online", "school"))
            channel = "social_media" if place == "online" else "in_person"
            for i, (d, outcome) in enumerate(zip(days, outcomes)):
                y.steps.append(Step(P["outreach"], y.key, f"outreach-{i + 1}", agency, ev.RecordOutreachContact, dict(
                    handle=handle, place_type=place, territory=territory, channel=channel, outcome=outcome,
                    occurred_at=self.ago(rng, d)), for_youth=False))
            y.outreach_contacts = len(days)
        if stage == "outreach":
            return y

        consent_at = y.started_at = self.ago(rng, start)
        consents = [self.consent(y, "case-management", "case_management", given_by, consent_at)]
        if rng.random() < 0.5:
            consents.append(self.consent(y, "statistics", "observatory_statistics", given_by, consent_at))
        y.case_ref = f"DEMO-{AGENCY_TAGS[agency]}-{n:04d}"
        y.steps.append(Step(P["register"], y.key, "register", agency, ev.RegisterYouth, dict(
            partner_case_ref=y.case_ref, birth_year=person["birth_year"],
            country=spec["country"], region=region, engagement_handle=handle, consents=consents,
            path_started_at=consent_at), identity=person["identity"], for_youth=False))
        if stage == "registered":
            return y

        # a second agency registers the same person (same national id): one youth, both agencies
        national_id = person["identity"].get("national_id_scheme") == "IT-CF"
        if stage in ("project", "ref_in_progress", "ref_completed") and national_id and self.count("join") % 4 == 1:
            other = spec["employment"] if agency != spec["employment"] else spec["partner"][0]
            y.joined_by = other
            y.steps.append(Step(P["join"], y.key, "register-join", other, ev.RegisterYouth, dict(
                partner_case_ref=f"DEMO-{other.upper()[:10]}-{n:04d}", birth_year=person["birth_year"],
                country=spec["country"], region=region,
                consents=[self.consent(y, "case-management-join", "case_management", given_by,
                                       self.ago(rng, rng.randint(1, min(start, 30))))]),
                identity=person["identity"], for_youth=False))

        # assessment by the lead agency's key worker: opens the case
        workers = key_workers(agency)
        worker = workers[n % len(workers)]
        lead = dict(role=worker.role, actor=worker.username)
        y.key_worker = worker.username
        aspirations = rng.sample(("work", "work", "training", "study", "volunteering", "own_business", "undecided"),
                                 rng.randint(1, 2))
        aspirations = sorted(set(aspirations))
        migrant = person["migrant"]
        y.steps.append(Step(P["assess"], y.key, "assess", agency, ev.AssessYouth, dict(
            neet_status="neet" if rng.random() < 0.9 else rng.choice(("in_training", "employed")),
            neet_since=self.today - timedelta(days=start + rng.randint(30, 700)),
            education_level=rng.choice(("lower_secondary",) * 4 + ("upper_secondary",) * 3 + ("primary", "post_secondary")),
            vulnerabilities=dict(socio_economic=rng.random() < 0.45, disability=rng.random() < 0.08,
                                 psycho_social=rng.random() < 0.25, migration_background=migrant),
            family_context=rng.choice(("with_parents",) * 4 + ("single_parent",) * 2 + ("alone", "with_partner",
                                                                                         "own_children", "care_leaver")),
            aspirations=aspirations, lead_agency=agency, key_worker=worker.username), **lead))

        if stage == "assessed":
            self.contacts(rng, y, agency, lead, [rng.randint(1, min(start, 14))])
            return y
        if stage == "closed":
            # contacts before the exit are old: a yearly cadence, set first, keeps the scheduler from
            # raising a lost-contact alert in the moments between those contacts and the closure
            y.steps.append(Step(P["assess"], y.key, "cadence", agency, ev.SetContactCadence, dict(
                every_days=30, lost_after_days=365), **lead))
        if stage == "lost":
            syncing_cadence(y, agency, lead)

        # Project of Life: 1-3 goals from the aspirations
        categories = [ASPIRATION_GOAL[a] for a in aspirations]
        if rng.random() < 0.4:
            categories.append(rng.choice(("wellbeing", "social", "training", "housing")))
        goals = []
        for i, category in enumerate(dict.fromkeys(categories)):
            milestones = [dict(milestone_id=self.local(y, f"goal-{i + 1}-milestone-{m + 1}"),
                               description=rng.choice(("CV pronto", "Primo colloquio", "Iscrizione al corso",
                                                       "Incontro con il tutor", "Documenti raccolti")),
                               due=self.today + timedelta(days=rng.randint(-20, 90)), done=False)
                          for m in range(rng.randint(0, 2))]
            goals.append(dict(goal_id=self.local(y, f"goal-{i + 1}"), description=rng.choice(GOALS[category]),
                              category=category, lifecycle_status="active", achievement_status="in-progress",
                              milestones=milestones))
        goals = goals[:3]
        y.goals = len(goals)
        y.steps.append(Step(P["plan"], y.key, "project-of-life", agency, ev.AgreeProjectOfLife, dict(
            based_on_version=0, goals=goals, next_review_due=self.today + timedelta(days=rng.randint(20, 90)),
            agreed_by_youth=True, agreed_by_guardian=minor), **lead))

        # contacts: the last successful one recent (active), 40+ days ago (lost), before the exit (closed)
        if stage == "lost":
            last = rng.randint(42, 75)
            days = sorted({last, *(rng.randint(last + 1, start) for _ in range(rng.randint(1, 3)))}, reverse=True)
            self.contacts(rng, y, agency, lead, days, all_reached=True)
            for i in range(rng.randint(0, 2)):  # attempts that did not reach the youth
                self.contact(rng, y, agency, lead, f"attempt-{i + 1}", rng.randint(5, last - 5), outcome="not_reached")
            y.steps.append(Step(P["plan"], y.key, "cadence", agency, ev.SetContactCadence, dict(
                every_days=14, lost_after_days=30), **lead))
            return y
        if stage == "closed":
            last = exit_days + rng.randint(0, 10)
            days = sorted({last, *(rng.randint(last + 1, start) for _ in range(rng.randint(1, 4)))}, reverse=True)
        else:
            last = rng.randint(2, 18)
            days = sorted({last, *(rng.randint(last + 1, max(last + 2, start)) for _ in range(rng.randint(1, 4)))},
                          reverse=True)
        self.contacts(rng, y, agency, lead, days)
        if stage != "closed" and rng.random() < 0.6:
            every = rng.choice((7, 14, 21, 30))
            y.steps.append(Step(P["plan"], y.key, "cadence", agency, ev.SetContactCadence, dict(
                every_days=every, lost_after_days=max(every * 2, 35)), **lead))

        if stage == "project":
            if rng.random() < 0.3:  # family involved: the parent's and the youth's consent first
                parent = self.local(y, "parent")
                family = self.person(rng, y, parent_of=person)
                y.steps.append(Step(P["plan"], y.key, "related-person", agency, ev.AddRelatedPerson, dict(
                    related_person_id=parent, relationship=rng.choice(("parent", "parent", "guardian")),
                    consents_to_contact=True), identity=family["identity"], **lead))
                y.steps.append(Step(P["plan"], y.key, "consent-family", agency, ev.RecordConsent, dict(
                    consent=self.consent(y, "family-contact", "family_contact", given_by, self.ago(rng, last))), **lead))
                self.contact(rng, y, agency, lead, "family-meeting", rng.randint(0, last), contact_type="family_meeting",
                             related=[parent], phase=P["refer"])
            if rng.random() < 0.4:
                held = rng.randint(1, 10)
                y.steps.append(Step(P["refer"], y.key, "review", agency, ev.RecordProjectReview, dict(
                    held_on=self.today - timedelta(days=held), outcome=rng.choice(("on_track", "on_track", "needs_revision")),
                    next_review_due=self.today + timedelta(days=rng.randint(30, 90))), **lead))
            return y

        if stage == "closed":
            destination = _weighted(rng, dict(DESTINATIONS))
            if destination in ("employment", "training", "education"):
                goal = goals[0]
                y.steps.append(Step(P["refer"], y.key, "goal-achieved", agency, ev.UpdateGoal, dict(
                    goal_id=goal["goal_id"], lifecycle_status="completed", achievement_status="achieved"), **lead))
            exited = self.today - timedelta(days=exit_days)
            y.steps.append(Step(P["finish"], y.key, "close", agency, ev.CloseCase, dict(
                destination=destination, exited_on=exited), **lead))
            for months in (6,):
                due = add_months(exited, months)
                if closed_with_follow_up and due + timedelta(days=3) <= self.today:
                    recorded = min(self.today, due + timedelta(days=rng.randint(0, 12)))
                    y.steps.append(Step(P["follow-up"], y.key, f"follow-up-{months}", agency, ev.RecordFollowUp, dict(
                        checkpoint_months=months, situation=rng.choice(FOLLOW_UP_SITUATIONS[destination]),
                        recorded_on=recorded), **lead))
                    y.follow_ups += 1
            return y

        self.referral(rng, y, spec, agency, lead, given_by, goals, start)
        return y

    def referral(self, rng: random.Random, y: Youth, spec: dict[str, Any], agency: str, lead: dict[str, str],
                 given_by: str, goals: list[dict[str, Any]], start: int) -> None:
        status = {"ref_requested": "requested", "ref_accepted": "accepted", "ref_in_progress": "in-progress",
                  "ref_completed": "completed", "ref_rejected": "rejected"}.get(y.stage)
        if status is None:
            status = ("cancelled", "failed")[self.count("ended") % 2]
        transfer = status == "accepted" and self.count("accepted") % 2 == 1
        if transfer:  # the lead passes to an agency that takes youths in charge
            service = "partner_service"
            to = next(a for a in (*spec["partner"], *spec["register"]) if a != agency)
        else:
            service = rng.choice(("ips_placement", "ips_placement", "training", "social_prescribing", "partner_service"))
            to = spec[SERVICE_TARGET[service]] if service in SERVICE_TARGET else spec["partner"][0]
            if to == agency:
                service, to = "training", spec["training"]
        y.referral = (to, service, status)
        y.lead_transfer = transfer
        recipient = "category:community_association" if service == "social_prescribing" and rng.random() < 0.5 else to
        shared_at = self.ago(rng, rng.randint(1, min(start, 30)))
        y.steps.append(Step(P["plan"], y.key, "consent-sharing", agency, ev.RecordConsent, dict(
            consent=self.consent(y, "sharing", "sharing", given_by, shared_at, recipient=recipient,
                                 expires_at=shared_at + timedelta(days=365))), **lead))
        referral_id = self.local(y, "referral")
        y.steps.append(Step(P["refer"], y.key, "referral", agency, ev.RequestReferral, dict(
            referral_id=referral_id, to_agency=to, service=service, reason=rng.choice(REFERRAL_REASONS[service]),
            transfer_lead=transfer), **lead))
        receiver = case_operator(to)
        by_receiver = dict(role=receiver.role, actor=receiver.username)
        ref = dict(referral_id=referral_id)
        if status == "requested":
            return
        if status == "cancelled":
            y.steps.append(Step(P["respond"], y.key, "referral-cancel", agency, ev.CancelReferral, dict(
                ref, reason=rng.choice(CANCEL_REASONS)), **lead))
            return
        if status == "rejected":
            y.steps.append(Step(P["respond"], y.key, "referral-reject", to, ev.RespondToReferral, dict(
                ref, decision="rejected", reason=rng.choice(REJECT_REASONS)), **by_receiver))
            return
        y.steps.append(Step(P["respond"], y.key, "referral-accept", to, ev.RespondToReferral, dict(
            ref, decision="accepted"), **by_receiver))
        if transfer:  # the new lead agency names its key worker
            worker = key_workers(to)[0]
            y.steps.append(Step(P["progress"], y.key, "assess-new-lead", to, ev.AssessYouth, dict(
                neet_status="neet", education_level="lower_secondary", family_context="with_parents",
                aspirations=["work"], lead_agency=to, key_worker=worker.username),
                role=worker.role, actor=worker.username))
            return
        if status == "accepted":
            return
        y.steps.append(Step(P["progress"], y.key, "referral-in-progress", to, ev.UpdateReferral, dict(
            ref, status="in-progress", outcome=rng.choice(PROGRESS["in-progress"])), **by_receiver))
        self.contact(rng, y, to, by_receiver, "receiver-meeting", rng.randint(0, 3), phase=P["progress"])
        goal = goals[0]
        if status == "in-progress":
            y.steps.append(Step(P["finish"], y.key, "goal-improving", agency, ev.UpdateGoal, dict(
                goal_id=goal["goal_id"], lifecycle_status="active", achievement_status="improving"), **lead))
            return
        y.steps.append(Step(P["finish"], y.key, f"referral-{status}", to, ev.UpdateReferral, dict(
            ref, status=status, outcome=rng.choice(PROGRESS[status])), **by_receiver))
        if status == "completed":
            y.steps.append(Step(P["finish"], y.key, "goal-achieved", agency, ev.UpdateGoal, dict(
                goal_id=goal["goal_id"], lifecycle_status="completed", achievement_status="achieved"), **lead))

    # ---------------------------------------------------------------- the showcase

    def showcase(self) -> list[Youth]:
        """The youths that put something in front of each named demo user (`SHOWCASE`), the same
        whatever the total: contacts back-dated so a cadence or the lost-contact threshold has come
        due, a review held and its next date past, an exit whose 6-month follow-up is due, a
        referral waiting at each end."""
        rng = random.Random(f"{SEED}-showcase")
        today = self.today
        out = []
        for key, (stage, agency, worker) in SHOWCASE.items():
            y, lead, given_by = self.opened(rng, key, stage, agency, worker,
                                            start={"w04": 420, "w03": 150}.get(key, 120))
            if key == "w01":  # a contact due: weekly cadence, last reached 12 days ago
                self.contacts(rng, y, agency, lead, [40, 26, 12], all_reached=True)
                y.steps.append(Step(P["plan"], y.key, "cadence", agency, ev.SetContactCadence, dict(
                    every_days=7, lost_after_days=35), **lead))
            elif key == "w02":  # a review held five weeks ago set the next one five days ago
                self.contacts(rng, y, agency, lead, [30, 4], all_reached=True)
                y.steps.append(Step(P["refer"], y.key, "review", agency, ev.RecordProjectReview, dict(
                    held_on=today - timedelta(days=35), outcome="on_track",
                    next_review_due=today - timedelta(days=5)), **lead))
            elif key == "w03":  # lost: last reached 48 days ago, two calls since went unanswered
                syncing_cadence(y, agency, lead)
                self.contacts(rng, y, agency, lead, [90, 70, 48], all_reached=True)
                self.contact(rng, y, agency, lead, "attempt-1", 20, outcome="not_reached")
                self.contact(rng, y, agency, lead, "attempt-2", 8, outcome="not_reached")
                y.steps.append(Step(P["plan"], y.key, "cadence", agency, ev.SetContactCadence, dict(
                    every_days=14, lost_after_days=30), **lead))
            elif key == "w04":  # exited 200 days ago into training: the 6-month follow-up is due
                y.steps.append(Step(P["assess"], y.key, "cadence", agency, ev.SetContactCadence, dict(
                    every_days=30, lost_after_days=365), **lead))
                self.contacts(rng, y, agency, lead, [330, 260, 210], all_reached=True)
                y.steps.append(Step(P["finish"], y.key, "close", agency, ev.CloseCase, dict(
                    destination="training", exited_on=today - timedelta(days=200)), **lead))
            elif key == "w05":  # referred to AFOL for IPS, not answered yet
                self.contacts(rng, y, agency, lead, [20, 6], all_reached=True)
                self.refer(rng, y, agency, lead, given_by, "afol-milano", "ips_placement")
            elif key == "w06":  # AFOL's youth referred to Municipio 7, and a fortnightly contact due
                self.contacts(rng, y, agency, lead, [45, 30, 20], all_reached=True)
                y.steps.append(Step(P["plan"], y.key, "cadence", agency, ev.SetContactCadence, dict(
                    every_days=14, lost_after_days=35), **lead))
                self.refer(rng, y, agency, lead, given_by, "comune-milano-m7", "partner_service")
            elif stage in SP_SHOWCASE_STATUS:  # social prescribing: `demo_social_prescribing` goes on from here
                self.contacts(rng, y, agency, lead, [25, 9], all_reached=True)
                self.refer(rng, y, agency, lead, given_by, SOCIAL_PRESCRIBING_AGENCY, "social_prescribing")
                self.referral_answered(y, SP_SHOWCASE_STATUS[stage])
            out.append(y)
        return out

    def opened(self, rng: random.Random, key: str, stage: str, agency: str, worker: str,
               start: int) -> tuple[Youth, dict[str, str], str]:
        """A youth registered `start` days after its path began, assessed by `worker`, with a
        Project of Life: the youth, who acts for the lead agency, who gives consent."""
        region = next(r for r, spec in REGIONS.items() if agency in spec["register"])
        y = Youth(key=key, stage=stage, region=region, agency=agency, key_worker=worker,
                  case_ref=f"DEMO-{AGENCY_TAGS[agency]}-{key.upper()}")
        person = self.person(rng, y)
        y.name = f"{person['identity']['given_names']} {person['identity']['family_name']}"
        y.birth_year = person["birth_year"]
        minor = self.today.year - person["birth_year"] - 1 < 18
        given_by = "guardian" if minor else "youth"
        started = y.started_at = self.ago(rng, start)
        y.steps.append(Step(P["register"], y.key, "register", agency, ev.RegisterYouth, dict(
            partner_case_ref=y.case_ref, birth_year=person["birth_year"], country=REGIONS[region]["country"],
            region=region, consents=[self.consent(y, "case-management", "case_management", given_by, started)],
            path_started_at=started), identity=person["identity"], for_youth=False))
        lead = dict(role="key_worker", actor=worker)
        y.steps.append(Step(P["assess"], y.key, "assess", agency, ev.AssessYouth, dict(
            neet_status="neet", neet_since=self.today - timedelta(days=start + 200), education_level="lower_secondary",
            vulnerabilities=dict(socio_economic=True, disability=False, psycho_social=False,
                                 migration_background=person["migrant"]),
            family_context="with_parents", aspirations=["training", "work"], lead_agency=agency, key_worker=worker),
            **lead))
        goals = [dict(goal_id=self.local(y, f"goal-{i + 1}"), description=description, category=category,
                      lifecycle_status="active", achievement_status="in-progress",
                      milestones=[dict(milestone_id=self.local(y, f"goal-{i + 1}-milestone-1"), description=milestone,
                                       due=self.today + timedelta(days=14 * (i + 1)), done=False)])
                 for i, (category, description, milestone) in enumerate((
                     ("training", GOALS["training"][0], "Iscrizione al corso"),
                     ("employment", GOALS["employment"][1], "CV pronto")))]
        y.goals = len(goals)
        y.steps.append(Step(P["plan"], y.key, "project-of-life", agency, ev.AgreeProjectOfLife, dict(
            based_on_version=0, goals=goals, next_review_due=self.today + timedelta(days=45),
            agreed_by_youth=True, agreed_by_guardian=minor), **lead))
        return y, lead, given_by

    def refer(self, rng: random.Random, y: Youth, agency: str, lead: dict[str, str], given_by: str, to: str,
              service: str) -> None:
        """The youth's consent to share with `to`, then a referral there, left waiting for an answer."""
        shared_at = self.ago(rng, 3)
        y.steps.append(Step(P["plan"], y.key, "consent-sharing", agency, ev.RecordConsent, dict(
            consent=self.consent(y, "sharing", "sharing", given_by, shared_at, recipient=to,
                                 expires_at=shared_at + timedelta(days=365))), **lead))
        y.steps.append(Step(P["refer"], y.key, "referral", agency, ev.RequestReferral, dict(
            referral_id=self.local(y, "referral"), to_agency=to, service=service,
            reason=REFERRAL_REASONS[service][0], transfer_lead=False), **lead))
        y.referral = (to, service, "requested")

    def referral_answered(self, y: Youth, status: str) -> None:
        """The referral `refer` sent, taken by its receiver as far as `status`."""
        to, service, _ = y.referral
        if status == "requested":
            return
        receiver = case_operator(to)
        by_receiver = dict(role=receiver.role, actor=receiver.username)
        ref = dict(referral_id=self.local(y, "referral"))
        y.steps.append(Step(P["respond"], y.key, "referral-accept", to, ev.RespondToReferral, dict(
            ref, decision="accepted"), **by_receiver))
        for reached in ("in-progress", "completed")[:("accepted", "in-progress", "completed").index(status)]:
            y.steps.append(Step(P["progress" if reached == "in-progress" else "finish"], y.key, f"referral-{reached}",
                                to, ev.UpdateReferral, dict(ref, status=reached, outcome=PROGRESS[reached][1]),
                                **by_receiver))
        y.referral = (to, service, status)

    # ---------------------------------------------------------------- helpers

    def local(self, y: Youth, what: str) -> str:
        return self.local_of(y, what)

    @staticmethod
    def local_of(y: Youth, what: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{y.key}:{what}"))

    def consent(self, y: Youth, name: str, purpose: str, given_by: str, at: datetime, recipient: str | None = None,
                expires_at: datetime | None = None) -> dict[str, Any]:
        return dict(consent_id=self.local(y, f"consent-{name}"), purpose=purpose, recipient=recipient,
                    legal_basis="consent", given_by=given_by, notice_version=NOTICE, given_at=at, expires_at=expires_at)

    def contacts(self, rng: random.Random, y: Youth, agency: str, actor: dict[str, str], days: list[int],
                 all_reached: bool = False) -> None:
        """Contacts on these days ago; the most recent one reaches the youth. Sent newest first (a
        case system syncing its notes), so the youth's contact clock is never briefly old enough
        for the lost-contact scheduler while the seed is still sending."""
        days = sorted(days, reverse=True)
        outcomes = ["reached" if i == len(days) - 1 or all_reached or rng.random() < 0.8
                    else rng.choice(("not_reached", "rescheduled")) for i in range(len(days))]
        for i in reversed(range(len(days))):
            self.contact(rng, y, agency, actor, f"contact-{i + 1}", days[i], outcome=outcomes[i])

    def contact(self, rng: random.Random, y: Youth, agency: str, actor: dict[str, str], name: str, days_ago: int,
                outcome: str = "reached", contact_type: str | None = None, related: list[str] | None = None,
                phase: int | None = None) -> None:
        contact_type = contact_type or rng.choice(("meeting", "meeting", "phone_call", "message", "home_visit",
                                                   "group_activity"))
        channel = {"meeting": "in_person", "home_visit": "in_person", "group_activity": "in_person",
                   "family_meeting": "in_person", "phone_call": "phone"}.get(contact_type) or rng.choice(
            ("messaging", "messaging", "email", "social_media"))
        if outcome != "reached" and contact_type in ("meeting", "home_visit", "group_activity"):
            contact_type, channel = "phone_call", "phone"
        occurred_at = self.ago(rng, days_ago)
        if y.started_at is not None:  # on the path's first day, not before it began (a working hour drawn earlier)
            occurred_at = max(occurred_at, y.started_at)
        y.steps.append(Step(P["plan"] if phase is None else phase, y.key, name, agency, ev.LogContact, dict(
            contact_id=self.local(y, name), contact_type=contact_type, channel=channel, outcome=outcome,
            occurred_at=occurred_at, related_person_ids=related or []), **actor))
        y.contacts += 1

    def person(self, rng: random.Random, y: Youth, parent_of: dict[str, Any] | None = None) -> dict[str, Any]:
        """A synthetic identity (and its codice fiscale or AHV number where the agency uses one)."""
        spec = REGIONS[y.region]
        country = spec["country"]
        for _attempt in range(20):
            sex = rng.choice(("female", "male"))
            migrant = parent_of["migrant"] if parent_of else rng.random() < (0.22 if country == "IT" else 0.15)
            place = rng.choice(spec["places"])
            if migrant:
                female, male, surnames, place = rng.choice(ORIGINS)
                given = rng.choice(female if sex == "female" else male)
                family = rng.choice(surnames)
            elif country == "IT":
                given = rng.choice(IT_FEMALE if sex == "female" else IT_MALE)
                family = rng.choice(IT_SURNAMES[y.region])
            else:
                given = rng.choice(TI_FEMALE if sex == "female" else TI_MALE)
                family = rng.choice(TI_SURNAMES)
            if parent_of:  # a parent: same family name, no national id
                family = parent_of["identity"]["family_name"]
                return {"identity": {"given_names": given, "family_name": family, "sex": sex,
                                     "phone": _phone(rng, country)}, "migrant": migrant}
            age = rng.choice((16, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23, 24, 25, 26, 27, 28, 29))
            birth_year = self.today.year - age
            birth = date(birth_year, 1, 1) + timedelta(days=rng.randint(0, 364))
            municipality = rng.choice(spec["municipalities"])
            if y.agency == "comune-milano-m7":
                municipality = "Milano"
            identity: dict[str, Any] = {
                "given_names": given, "family_name": family, "birth_date": birth.isoformat(), "sex": sex,
                "municipality": municipality, "region": y.region, "country": country, "phone": _phone(rng, country),
                "email": f"{_letters(given).lower()}.{_letters(family).lower()}{y.key[1:]}@example.org"}
            if country == "IT" and rng.random() < 0.95:
                identity |= {"national_id_scheme": "IT-CF",
                             "national_id": codice_fiscale(given, family, birth, sex, place)}
            elif country == "CH" and y.agency == "ufficio-giovani-ti":  # the only one authorised to use it
                identity |= {"national_id_scheme": "CH-AHV", "national_id": ahv_number(rng)}
            national_id = identity.get("national_id")
            if national_id in self.used_ids:
                continue  # two synthetic people may not share a national id: draw again
            if national_id:
                self.used_ids.add(national_id)
            return {"identity": identity, "birth_year": birth_year, "municipality": municipality, "migrant": migrant}
        raise AssertionError("could not draw a distinct synthetic identity")


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _phone(rng: random.Random, country: str) -> str:
    if country == "IT":
        return f"+39 3{rng.randint(20, 49)} 555 {rng.randint(0, 9999):04d}"
    return f"+41 7{rng.choice('6789')} 555 {rng.randint(10, 99)} {rng.randint(10, 99)}"


def plan(youths: int = DEFAULT_YOUTHS, now: datetime | None = None) -> list[Youth]:
    """The demo's youths and the commands of each, in the order they are sent (deterministic)."""
    return Planner(now or datetime.now(timezone.utc)).youths(youths)


# ---------------------------------------------------------------- operators

def ensure_operators(db_url: str) -> tuple[dict[str, str], int]:
    """Demo operator accounts (skipped when the username exists): ({username: operator id}, created)."""
    from shared import accounts

    created = 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        accounts.create_tables(conn)
        existing = {row[0] for row in conn.execute("SELECT username FROM api.operators WHERE username = ANY(%s)",
                                                   ([o.username for o in OPERATORS],))}
        for o in OPERATORS:
            if o.username not in existing:
                accounts.add_operator(conn, agency=o.agency, role=o.role, username=o.username, password=DEMO_PASSWORD)
                created += 1
        ids = {row[0]: str(row[1]) for row in conn.execute(
            "SELECT username, id FROM api.operators WHERE username = ANY(%s)", ([o.username for o in OPERATORS],))}
    return ids, created


# ---------------------------------------------------------------- publishing and receipts

class DemoSeedError(RuntimeError):
    pass


class Receipts:
    """Each agency's receipts, read with an ordered consumer from the start of kit.receipts.<agency>
    (so a second run knows what was answered before), keyed by (agency, ingest_id)."""

    def __init__(self, js):
        self.js = js
        self.by_id: dict[tuple[str, str], dict[str, Any]] = {}
        self.arrived = asyncio.Event()
        self.subscriptions = []

    async def follow(self, agency: str) -> None:
        subject = receipt_subject(agency)
        try:
            last = (await self.js.get_last_msg(RECEIPTS_STREAM, subject)).seq
        except NotFoundError:
            last = 0
        caught_up = asyncio.Event()
        if not last:
            caught_up.set()

        async def on_receipt(msg) -> None:
            try:
                receipt = json.loads(msg.data)
                ingest_id = receipt["ingest_id"]
            except (ValueError, KeyError, TypeError):
                ingest_id = None
            if isinstance(ingest_id, str) and ingest_id.startswith((PREFIX, social_prescribing.FROM_INTAKE)):
                self.by_id[(agency, ingest_id)] = receipt
                self.arrived.set()
            if msg.metadata.sequence.stream >= last:
                caught_up.set()

        self.subscriptions.append(await self.js.subscribe(subject, stream=RECEIPTS_STREAM, ordered_consumer=True,
                                                          cb=on_receipt))
        await asyncio.wait_for(caught_up.wait(), 120)

    async def wait_for(self, keys: list[tuple[str, str]]) -> None:
        """Until every key has its receipt; fails after RECEIPT_IDLE_TIMEOUT without any new one."""
        missing = {k for k in keys if k not in self.by_id}
        while missing:
            self.arrived.clear()
            missing = {k for k in missing if k not in self.by_id}
            if not missing:
                return
            try:
                await asyncio.wait_for(self.arrived.wait(), RECEIPT_IDLE_TIMEOUT)
            except asyncio.TimeoutError:
                raise DemoSeedError(f"{len(missing)} receipts did not arrive ({RECEIPT_IDLE_TIMEOUT:.0f} s without"
                                    f" any), e.g. {sorted(missing)[:3]}: is the intake service running?") from None

    async def close(self) -> None:
        for sub in self.subscriptions:
            await sub.unsubscribe()


async def _seed(settings: Settings, people: list[Youth], log) -> dict[str, Any]:
    started = time.monotonic()
    operator_ids, created = await asyncio.to_thread(ensure_operators, database_url(settings))
    imported = await asyncio.to_thread(social_prescribing.import_directory, database_url(settings))
    log(f"demo: the directory of activities: {imported} imported")
    public_key = ingest_public_key(ingest_private_key(settings.data_dir))
    steps = [s for y in people for s in y.steps]
    agencies = sorted({s.agency for s in steps})
    nc = await connect(nats_url(settings, ADMIN_USER), name="kit-demo-seed")
    youth_ids: dict[str, str] = {}
    sent = already = 0
    try:
        js = nc.jetstream()
        receipts = Receipts(js)
        await asyncio.gather(*(receipts.follow(a) for a in agencies))
        for phase, name in enumerate(PHASES):
            batch = [s for s in steps if s.phase == phase]
            if not batch:
                continue
            if name == social_prescribing.PHASES[0]:  # the referrals it took from intake, first
                taken = social_prescribing.from_intake(people, Planner.local_of)
                await receipts.wait_for(taken)
                refused = [receipts.by_id[k] for k in taken if receipts.by_id[k]["status"] != "accepted"]
                if refused:
                    raise DemoSeedError(f"{len(refused)} intake referral(s) not taken by social prescribing: "
                                        + "; ".join(str(r["reasons"]) for r in refused[:5]))
            pending = []
            for step in batch:
                if (step.agency, step.ingest_id) in receipts.by_id:
                    already += 1
                    continue
                message = _message(step, youth_ids, operator_ids, public_key)
                pending.append(await js.publish_async(
                    ingest_subject(step.agency), message, stream=INGEST_STREAM,
                    headers={"Nats-Msg-Id": f"{step.agency}:{step.ingest_id}"}))
                sent += 1
            await asyncio.gather(*pending)
            await receipts.wait_for([(s.agency, s.ingest_id) for s in batch])
            rejected = [(s, receipts.by_id[(s.agency, s.ingest_id)]) for s in batch
                        if receipts.by_id[(s.agency, s.ingest_id)]["status"] != "accepted"]
            if rejected:
                details = "; ".join(f"{s.ingest_id} ({s.agency}): " + ", ".join(
                    f"{r['field']} {r['code']}: {r['message']}" for r in receipt["reasons"]) for s, receipt in rejected[:20])
                raise DemoSeedError(f"{len(rejected)} demo command(s) rejected in phase {name}: {details}")
            for s in batch:
                receipt = receipts.by_id[(s.agency, s.ingest_id)]
                if s.model is ev.RegisterYouth and s.name == "register":
                    youth_ids[s.youth] = receipt["subject"]
                elif s.model is ev.RegisterYouth:  # the second agency joined the same youth
                    if receipt["subject"] != youth_ids[s.youth]:
                        raise DemoSeedError(f"{s.ingest_id}: the same national id gave another youth")
            log(f"demo: phase {name}: {len(batch)} commands accepted")
        await receipts.close()
    finally:
        await nc.close()
    counts = summary(people)
    counts |= {"operators_created": created, "commands": len(steps), "commands_sent": sent,
               "commands_already_answered": already, "seconds": round(time.monotonic() - started, 1),
               "showcase": {y.case_ref: youth_ids[y.key] for y in people if y.key in SHOWCASE}}
    return counts


def _message(step: Step, youth_ids: dict[str, str], operator_ids: dict[str, str], public_key: str) -> bytes:
    fields = dict(step.fields)
    subject = None
    if step.for_youth:
        subject = fields["youth_id"] = youth_ids[step.youth]
    if step.identity is not None:
        fields["sealed_identity"] = seal(public_key, json.dumps(step.identity).encode())
    ext = {}
    if step.role:
        ext = {"kitrole": step.role, "kitactor": operator_ids[step.actor]}
    return envelope(step.model(**fields), agency=step.agency, id=step.ingest_id, subject=subject,
                    correlation_id=f"{PREFIX}{step.youth}", **ext).to_json_bytes()


def summary(people: list[Youth]) -> dict[str, Any]:
    """`stages`: each youth counted once, in the furthest stage of its path ("referred": with a
    referral, whose final states are in `referrals`); the rest are totals of what was recorded."""
    stages: dict[str, int] = {}
    referrals: dict[str, int] = {}
    for y in people:
        stage = STAGE_NAMES.get(y.stage, "referred")
        stages[stage] = stages.get(stage, 0) + 1
        if y.referral:
            referrals[y.referral[2]] = referrals.get(y.referral[2], 0) + 1
    registered = [y for y in people if y.registered]
    return {
        "youths": len(people), "stages": stages, "referrals": dict(sorted(referrals.items())),
        "registered": len(registered),
        "with_outreach_history": sum(1 for y in registered if y.outreach_contacts),
        "outreach_contacts": sum(y.outreach_contacts for y in people),
        "assessed_total": sum(1 for y in registered if y.stage != "registered"),
        "projects_of_life": sum(1 for y in people if y.goals), "goals": sum(y.goals for y in people),
        "contacts_logged": sum(y.contacts for y in people),
        "lead_transfers": sum(1 for y in people if y.lead_transfer),
        "joined_by_second_agency": sum(1 for y in people if y.joined_by),
        "lost_contact_alerts_due": sum(1 for y in people if y.stage == "lost"),
        "closed": sum(1 for y in people if y.stage == "closed"),
        "follow_ups_recorded": sum(y.follow_ups for y in people),
        "by_region": {r: sum(1 for y in people if y.region == r) for r in REGIONS},
        "social_prescribing": social_prescribing.summary(people),
    }


def seed(settings: Settings, youths: int = DEFAULT_YOUTHS, log=None, people: list[Youth] | None = None
         ) -> dict[str, Any]:
    """Seed the demo (`people`, else the plan of `youths`) through the platform's commands; counts
    per stage, and the youth ids of the showcase by case reference. Idempotent."""
    return asyncio.run(_seed(settings, plan(youths) if people is None else people, log or (lambda line: None)))


# ---------------------------------------------------------------- `kit up --demo`

def _say(line: str) -> None:
    print(line, flush=True)


def wait_healthy(settings: Settings, timeout: float = 120.0) -> bool:
    url = f"http://{settings.http_host}:{settings.http_port}/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def run_demo(settings: Settings, youths: int | None = None) -> dict[str, Any] | None:
    """Wait for the API, seed, print the credentials and the counts (what `kit up --demo` runs)."""
    try:
        youths = youths if youths is not None else int(os.environ.get("KIT_DEMO_YOUTHS", DEFAULT_YOUTHS))
        if not wait_healthy(settings):
            _say("demo: the API did not answer /health: seeding skipped")
            return None
        _say(f"demo: seeding {youths} synthetic youths through the platform's commands…")
        people = plan(youths)
        counts = seed(settings, log=_say, people=people)
    except Exception as e:  # noqa: BLE001 - the supervisor keeps running; say why the demo is missing
        _say(f"demo: seeding FAILED: {e}")
        traceback.print_exc()
        return None
    base = f"http://{settings.http_host}:{settings.http_port}"
    _say(start_here(people, counts["showcase"], f"{base}/"))
    _say(f"Every youth in the demo is synthetic. The API and its docs: {base}/docs")
    _say(f"demo: seeding finished in {counts['seconds']} s: {json.dumps(counts)}")
    return counts


def seed_in_background(settings: Settings, youths: int | None = None) -> threading.Thread:
    thread = threading.Thread(target=run_demo, args=(settings, youths), name="kit-demo-seed", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entrypoints.demo", description="seed the demo into a running platform")
    parser.add_argument("--youths", type=int, default=int(os.environ.get("KIT_DEMO_YOUTHS", DEFAULT_YOUTHS)))
    args = parser.parse_args(argv)
    return 0 if run_demo(load_settings(), args.youths) is not None else 1


if __name__ == "__main__":
    sys.exit(main())
