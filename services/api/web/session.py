"""What every page of the operators' web app shares: the session, the language, rendering a page,
the cross-site check, and sending a command (the HTTP API's own path, so the rules are the same).

Session: the API's bearer token in an HttpOnly, SameSite=Strict cookie; state-changing requests
must come from the app's own pages (Origin check).
"""

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from events.base import Message
from kit.runtime import reasons_from
from services.api.reads import CaseReads
from services.api.web.i18n import LANGUAGES, translator
from shared import accounts, tokens
from shared.accounts import Operator
from shared.http import state

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SESSION = "kit_session"
LANG = "kit_lang"


class LoginRequired(Exception):
    pass


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG)
    return asked if asked in LANGUAGES else "it"


def sign_in_again(request: Request) -> Response:
    """To the login page, the session ended (its account was disabled or changed)."""
    response = RedirectResponse(f"/login?lang={lang_of(request)}", status_code=303)
    response.delete_cookie(SESSION)
    return response


def to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse(f"/login?lang={lang_of(request)}", status_code=303)


def reads(request: Request) -> CaseReads:
    return state(request).extras["reads"]


def operator_of(request: Request) -> Operator | None:
    """The signed-in operator, if the session's account is still as it signed in."""
    operator = tokens.verify(token, state(request).secret) if (token := request.cookies.get(SESSION)) else None
    if operator is not None:
        try:
            reads(request).require_active(operator)
        except accounts.AccountInactive:
            return None
    return operator


def signed_in(request: Request) -> Operator:
    operator = operator_of(request)
    if operator is None:
        raise LoginRequired()
    return operator


def same_origin(request: Request) -> None:
    """A form post comes from this site's own pages: same scheme and host (an http page of the same
    host, e.g. a man in the middle's, may not post to the https site)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    sent = urlparse(origin) if origin else None
    if sent is None or (sent.scheme, sent.netloc) != (request.url.scheme, request.headers.get("host")):
        raise HTTPException(403, "cross-site request refused")


def inbox_count(request: Request, operator: Operator) -> int:
    with state(request).pool.connection() as conn:  # a count only: no youth-level data, no access-log row
        return conn.execute("SELECT count(*) FROM views.referrals WHERE to_agency = %s AND status = 'requested'",
                            (operator.agency,)).fetchone()[0]


def page(request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    operator = context.pop("operator", None) or operator_of(request)
    response = TEMPLATES.TemplateResponse(request, template, {
        "lang": lang, "t": translator(lang), "operator": operator,
        "inbox_count": inbox_count(request, operator) if operator else 0, **context}, status_code=status_code,
        headers=headers)
    response.set_cookie(LANG, lang, samesite="strict", httponly=True, secure=request.url.scheme == "https")
    return response


async def send(request: Request, operator: Operator, command: Message) -> tuple[bool, list[dict[str, Any]]]:
    """(accepted, reasons); once accepted, the views already show it (read-your-writes)."""
    gateway = state(request).extras.get("gateway")
    if gateway is None:
        raise HTTPException(503, "commands are not enabled")
    await asyncio.to_thread(reads(request).require_active, operator)
    _, receipt, seq = await gateway.send(operator, command)
    if receipt is None:
        return False, [{"field": "", "message": "no answer yet: reload the page in a moment"}]
    if receipt["status"] != "accepted":
        return False, receipt["reasons"]
    await asyncio.to_thread(reads(request).wait_for, gateway.platform.command_owners[command.type_name].name, seq)
    return True, []


def form_errors(error: ValidationError) -> list[dict[str, str]]:
    """What was wrong with a form, never echoing what was typed (it may be personal)."""
    return [r.model_dump() for r in reasons_from(error)]
