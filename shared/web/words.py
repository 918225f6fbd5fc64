"""The operators' interface in words, Italian (default) and English, from one catalogue: the words
every page shares (here) and each service's own (its declaration's `words`: its events as
sentences, its options, its refusals, its fields), merged when the HTTP service starts
(`install`). A key the catalogue lacks shows as ⟦key⟧, which the browser tests look for.

Key families: `event.<type>` (a message type as a sentence), `opt.<value>` (an option of a select),
`error.<code>` (a refusal, shown after the field's name), `field.<name>`, `role.<role>`,
`kind.<alert>`; everything else names a piece of a page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

LANGUAGES = ("it", "en")
MISSING = "⟦{}⟧"

BASE: dict[str, tuple[str, str]] = {  # key: (italiano, English)
    "app": ("KiT – servizi integrati", "KiT – integrated services"),
    "skip": ("Vai al contenuto", "Skip to content"),
    "login": ("Accedi", "Log in"),
    "logout": ("Esci", "Log out"),
    "username": ("Nome utente", "Username"),
    "password": ("Password", "Password"),
    "wrong_login": ("Nome utente o password errati.", "Wrong username or password."),
    "too_many_sign_ins": ("Troppi tentativi di accesso falliti: riprova tra {seconds} secondi.",
                          "Too many failed sign-ins: try again in {seconds} seconds."),
    "sign_ins_busy": ("Troppi accessi nello stesso momento: riprova tra poco.", "Too many sign-ins at once: retry shortly."),
    "language": ("Lingua", "Language"),
    "main_menu": ("Menu principale", "Main menu"),
    "signed_in_as": ("Collegato come", "Signed in as"),
    "save": ("Salva", "Save"),
    "saved": ("Salvato.", "Saved."),
    "rejected": ("Non registrato:", "Not recorded:"),
    "none": ("nessuno", "none"),
    "any": ("Tutti", "Any"),
    "yes": ("sì", "yes"),
    "no": ("no", "no"),
    "previous": ("Precedenti", "Previous"),
    "next": ("Successivi", "Next"),
    "page_of": ("{first}–{last} di {total}", "{first}–{last} of {total}"),
    "withheld": ("Riservato al proprio ruolo", "Withheld for your role"),
    "no_answer_yet": ("Nessuna risposta ancora: ricarica la pagina tra un momento.",
                      "No answer yet: reload the page in a moment."),
    "not_a_datetime": ("non è una data e ora", "not a date and time"),
    "invalid_value": ("valore non valido", "invalid value"),
    "forbidden_title": ("Accesso non consentito", "Not allowed"),
    "forbidden": ("Questa pagina non è disponibile per il tuo ruolo.", "This page is not available for your role."),
    "not_found_title": ("Pagina non trovata", "Page not found"),
    "not_found": ("Non c'è niente a questo indirizzo, o non è visibile per il tuo ente.",
                  "There is nothing at this address, or nothing your agency may see."),
    "back_home": ("Torna alla pagina iniziale", "Back to the start page"),
    "invalid_request_title": ("Richiesta non valida", "Invalid request"),
    "invalid_request": ("Controlla i dati indicati sotto e riprova.", "Check what is listed below and try again."),
    "audit": ("Registro di audit", "Audit trail"),
    "access_log": ("Registro degli accessi", "Access log"),
    # roles
    "role.operator": ("Operatore", "Operator"),
    "role.key_worker": ("Operatore di riferimento", "Key worker"),
    "role.link_worker": ("Link worker (prescrizione sociale)", "Link worker"),
    "role.employment_specialist": ("Specialista inserimento lavorativo", "Employment specialist"),
    "role.supervisor": ("Coordinatore", "Supervisor"),
    "role.auditor": ("Revisore (audit)", "Auditor"),
    "role.observatory_analyst": ("Analista dell'osservatorio", "Observatory analyst"),
    "role.agency_admin": ("Amministratore dell'ente", "Agency administrator"),
    "role.partner_system": ("Sistema dell'ente", "Agency's system"),
    "role.platform": ("Piattaforma", "Platform"),
    # codes any service's commands may meet (the runtime's, the contract's)
    "error.missing": ("obbligatorio", "required"),
    "error.string_too_short": ("troppo breve", "too short"),
    "error.string_too_long": ("troppo lungo", "too long"),
    "error.string_pattern_mismatch": ("formato non valido", "invalid format"),
    "error.literal_error": ("scelta non valida", "not one of the choices"),
    "error.enum": ("scelta non valida", "not one of the choices"),
    "error.int_parsing": ("deve essere un numero intero", "must be a whole number"),
    "error.greater_than_equal": ("troppo piccolo", "too small"),
    "error.less_than_equal": ("troppo grande", "too large"),
    "error.date_from_datetime_parsing": ("non è una data", "not a date"),
    "error.date_parsing": ("non è una data", "not a date"),
    "error.datetime_from_date_parsing": ("non è una data e ora", "not a date and time"),
    "error.datetime_parsing": ("non è una data e ora", "not a date and time"),
    "error.timezone_aware": ("manca il fuso orario", "the time zone is missing"),
    "error.date_out_of_range": ("data fuori dall'intervallo ammesso (1900–2199)", "date out of range (1900–2199)"),
    "error.control_character": ("contiene caratteri non ammessi", "contains characters that are not allowed"),
    "error.extra_forbidden": ("campo non previsto", "unexpected field"),
    "error.bool_parsing": ("deve essere sì o no", "must be yes or no"),
    "error.uuid_parsing": ("identificativo non valido", "invalid identifier"),
    "error.list_type": ("deve essere un elenco", "must be a list"),
    "error.too_short": ("troppo pochi elementi", "too few items"),
    "error.too_long": ("troppi elementi", "too many items"),
    "error.no_answer_yet": ("nessuna risposta ancora: ricarica la pagina tra un momento",
                            "no answer yet: reload the page in a moment"),
    # what an access-log row says was read (stored in English in the tamper-evident log; shown in words)
    "what.youth list": ("elenco dei giovani", "youth list"),
    "what.youth list with names": ("elenco dei giovani con i nomi", "youth list with names"),
    "what.youth record": ("scheda del giovane", "youth record"),
    "what.youth record with identity": ("scheda del giovane con l'identità", "youth record with identity"),
    "what.youth record with special-category data": ("scheda del giovane con dati particolari",
                                                     "youth record with special-category data"),
    "what.youth record with identity with special-category data": (
        "scheda del giovane con l'identità e i dati particolari", "youth record with identity and special-category data"),
    "what.youth timeline": ("percorso del giovane", "youth timeline"),
    "what.case notes": ("note sul caso", "case notes"),
    "what.alerts": ("avvisi", "alerts"),
    "what.alerts with names": ("avvisi con i nomi", "alerts with names"),
    "what.my day": ("la mia giornata", "my day"),
    "what.my day with names": ("la mia giornata con i nomi", "my day with names"),
    "what.referrals inbox": ("invii ricevuti", "referrals received"),
    "what.referrals inbox with names": ("invii ricevuti con i nomi", "referrals received with names"),
    "what.referrals sent": ("invii fatti", "referrals sent"),
    "what.referrals sent with names": ("invii fatti con i nomi", "referrals sent with names"),
    "what.audit replay: path": ("audit: ricostruzione del percorso", "audit: path replay"),
    "what.audit export: bundle": ("audit: esportazione del pacchetto firmato", "audit: signed bundle export"),
    "what.audit verify: youth": ("audit: verifica delle voci del giovane", "audit: verification of the youth's entries"),
    "what.audit verify: log": ("audit: verifica del registro", "audit: log verification"),
    "what.audit: verification status": ("audit: esito dell'ultima verifica del registro",
                                        "audit: the log's last verification"),
    "what.audit: access log query": ("audit: consultazione del registro degli accessi", "audit: access log query"),
    "what.audit: latest checkpoint": ("audit: ultimo checkpoint firmato", "audit: latest signed checkpoint"),
    "field.": ("Richiesta", "Request"),
    "field.data": ("Dati", "Data"),
}


class Catalogue:
    """Every word of the interface: the shared ones and each service's, merged once."""

    def __init__(self, parts: Iterable[Mapping[str, tuple[str, str]]] = ()):
        self.words: dict[str, tuple[str, str]] = dict(BASE)
        for part in parts:
            for key, pair in part.items():
                if key in self.words and self.words[key] != pair:
                    raise ValueError(f"the word {key!r} is defined twice, differently")
                self.words[key] = pair

    def translator(self, lang: str) -> "Translator":
        return Translator(self.words, 0 if lang == "it" else 1)


class Translator:
    """t("key"), t("key", n=3) for a word with {n}; t.reason(r) for a refusal: "Field: what is wrong"."""

    def __init__(self, words: Mapping[str, tuple[str, str]], index: int):
        self.words, self.index = words, index

    def __call__(self, key: str, **values: Any) -> str:
        pair = self.words.get(key)
        text = pair[self.index] if pair else MISSING.format(key)
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.words

    def field(self, path: str) -> str:
        """`data.consents.0.given_at` -> the label of `given_at`."""
        names = [p for p in path.split(".") if p and not p.isdigit() and p not in ("data", "body", "query")]
        return self(f"field.{names[-1]}") if names else self("field.")

    def what(self, text: str) -> tuple[str, bool]:
        """An access-log row's `what` in words: (text, whether every part was known; if not, the
        unknown parts stay as stored, in English)."""
        parts = [p for p in (text or "").split(", ") if p]
        known = [self.has(f"what.{p}") for p in parts]
        return ", ".join(self(f"what.{p}") if k else p for p, k in zip(parts, known)), all(known)

    def reason(self, reason: Mapping[str, Any]) -> str:
        code = reason.get("code") or ""
        what = self(f"error.{code}") if self.has(f"error.{code}") else self("invalid_value")
        return f"{self.field(reason.get('field') or '')}: {what}"


CATALOGUE = Catalogue()


def install(parts: Iterable[Mapping[str, tuple[str, str]]]) -> Catalogue:
    """The catalogue the pages use from now on: the shared words and these (each service's)."""
    global CATALOGUE
    CATALOGUE = Catalogue(parts)
    return CATALOGUE


def translator(lang: str) -> Translator:
    return CATALOGUE.translator(lang)


def words_of(services: Iterable[Any], load: Callable[[str], Any]) -> list[Mapping[str, tuple[str, str]]]:
    """Each declared service's words (its declaration's `words` reference)."""
    return [load(s.words) for s in services if getattr(s, "words", None)]
