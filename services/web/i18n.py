"""The operator interface's words, in Italian (default) and English."""

from __future__ import annotations

LANGUAGES = ("it", "en")

WORDS: dict[str, tuple[str, str]] = {  # key: (italiano, English)
    "app": ("KiT – servizi integrati", "KiT – integrated services"),
    "skip": ("Vai al contenuto", "Skip to content"),
    "login": ("Accedi", "Log in"),
    "logout": ("Esci", "Log out"),
    "username": ("Nome utente", "Username"),
    "password": ("Password", "Password"),
    "wrong_login": ("Nome utente o password errati.", "Wrong username or password."),
    "caseload": ("Giovani in carico", "Caseload"),
    "inbox": ("Invii da accogliere", "Referral inbox"),
    "alerts": ("Avvisi", "Alerts"),
    "search": ("Cerca (codice o soprannome)", "Search (id or nickname)"),
    "status": ("Stato", "Status"),
    "any": ("Tutti", "Any"),
    "registered": ("Registrato", "Registered"),
    "active": ("In carico", "Active"),
    "lost_contact": ("Contatto perso", "Lost contact"),
    "closed": ("Chiuso", "Closed"),
    "key_worker": ("Operatore di riferimento", "Key worker"),
    "region": ("Regione / cantone", "Region / canton"),
    "filter": ("Filtra", "Filter"),
    "youth": ("Giovane", "Youth"),
    "lead_agency": ("Ente capofila", "Lead agency"),
    "registered_at": ("Registrato il", "Registered on"),
    "last_contact": ("Ultimo contatto", "Last contact"),
    "none": ("nessuno", "none"),
    "no_youths": ("Nessun giovane visibile.", "No youth visible."),
    "timeline": ("Percorso", "Timeline"),
    "record_contact": ("Registra un contatto", "Record a contact"),
    "contact_type": ("Tipo di contatto", "Contact type"),
    "channel": ("Canale", "Channel"),
    "outcome": ("Esito", "Outcome"),
    "occurred_at": ("Quando", "When"),
    "save": ("Salva", "Save"),
    "saved": ("Salvato.", "Saved."),
    "project": ("Progetto di vita", "Project of Life"),
    "version": ("Versione", "Version"),
    "next_review": ("Prossima verifica", "Next review"),
    "revise_project": ("Rivedi il progetto: aggiungi un obiettivo", "Revise the project: add a goal"),
    "goal": ("Obiettivo", "Goal"),
    "category": ("Area", "Category"),
    "youth_agrees": ("Il giovane è d'accordo", "The youth agrees"),
    "guardian_agrees": ("Il tutore è d'accordo (minori)", "The guardian agrees (minors)"),
    "accept": ("Accogli", "Accept"),
    "reject": ("Rifiuta", "Reject"),
    "reason": ("Motivo", "Reason"),
    "reason_required": ("Motivo (obbligatorio per rifiutare)", "Reason (required to reject)"),
    "from": ("Da", "From"),
    "service": ("Servizio", "Service"),
    "no_referrals": ("Nessun invio in attesa.", "No referral waiting."),
    "no_alerts": ("Nessun avviso.", "No alerts."),
    "rejected": ("Non registrato:", "Not recorded:"),
    "withheld": ("Riservato al proprio ruolo", "Withheld for your role"),
    "not_visible": ("Giovane non visibile per il tuo ente.", "No such youth visible to your agency."),
    "new_referral": ("Nuovo invio ricevuto", "New referral received"),
    "identity": ("Identità", "Identity"),
    "language": ("Lingua", "Language"),
    "kind_lost_contact": ("Contatto perso", "Lost contact"),
    "kind_review_overdue": ("Verifica del progetto scaduta", "Project review overdue"),
    "kind_follow_up_due": ("Follow-up da registrare", "Follow-up due"),
    "kind_referral_unanswered": ("Invio senza risposta", "Referral not answered"),
}


def translator(lang: str):
    index = 0 if lang == "it" else 1

    def t(key: str) -> str:
        pair = WORDS.get(key)
        return pair[index] if pair else key
    return t
