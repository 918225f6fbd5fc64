"""What every page of the operators' web app shares, whichever service serves it: the session, the
language, rendering a page (with the agency's time zone and the menu of the operator's role),
403 and 404 pages, the cross-site check, and sending a command (the HTTP API's own path, so the
rules are the same).

Session: the API's bearer token in an HttpOnly, SameSite=Strict cookie; state-changing requests
must come from the app's own pages (Origin check). A service's pages add their templates with
`add_templates` (one Jinja environment: they extend `base.html`).
"""

import asyncio
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlparse

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError

from kit.runtime import reasons_from
from shared import accounts, tokens
from shared.accounts import Operator
from shared.http import state
from shared.roles import may
from shared.web import formats
from shared.web.words import LANGUAGES, translator

DICT_ATTRIBUTES = frozenset(dir(dict))


class PageEnvironment(Environment):
    """Jinja's environment, with `row.field` on a plain dict read as the key first. Jinja tries the
    attribute first, and for a dict that raises and catches an AttributeError on every lookup: a
    list page does hundreds. A dict's own attributes (`items`, `get`, ...) still win, so the result
    is the same as Jinja's."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


# templates change with a release, not while it runs: no stat() per render
TEMPLATES = Jinja2Templates(env=PageEnvironment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                                                autoescape=select_autoescape(), auto_reload=False))
STATIC = Path(__file__).parent / "static"
TEMPLATES.env.filters["day"] = formats.day
TEMPLATES.env.filters["when"] = formats.when
SESSION = "kit_session"
LANG = "kit_lang"


@cache
def options(model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The choices of a command's Literal field, for a select (the contract is the one source)."""
    annotation = model.model_fields[field].annotation
    for part in (annotation, *get_args(annotation)):
        if get_origin(part) is Literal:
            return tuple(get_args(part))
    raise TypeError(f"{model.__name__}.{field} is not a choice")


def add_templates(directory: Path) -> None:
    """A service's own templates, beside the shared ones (`base.html`, `errors.html`)."""
    loader = TEMPLATES.env.loader
    loaders = list(loader.loaders) if isinstance(loader, ChoiceLoader) else [loader]
    if not any(isinstance(existing, FileSystemLoader) and str(directory) in existing.searchpath
               for existing in loaders):
        TEMPLATES.env.loader = ChoiceLoader([*loaders, FileSystemLoader(str(directory))])


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


def reads(request: Request) -> Any:
    """The HTTP service's case reads (`services.api.reads.CaseReads`)."""
    return state(request).extras["reads"]


USERNAMES: dict[str, str] = {}  # operator id -> username (never changes); the token does not carry it
USERNAMES_KEPT = 10_000


def operator_of(request: Request) -> Operator | None:
    """The signed-in operator, with their username. Whether the account is still as it signed in
    is checked by every read (in the transaction of its access-log row), every command and the
    settings; the username is read once per process (it never changes)."""
    cached = getattr(request.state, "operator", None)
    if cached is not None:
        return cached
    operator = tokens.verify(token, state(request).secret) if (token := request.cookies.get(SESSION)) else None
    if operator is None:
        return None
    if operator.id in USERNAMES:
        operator = replace(operator, username=USERNAMES[operator.id])
    else:
        try:
            with state(request).pool.connection() as conn:
                operator = accounts.require_active(conn, operator)
        except accounts.AccountInactive:
            return None
        if len(USERNAMES) >= USERNAMES_KEPT:
            USERNAMES.clear()
        USERNAMES[operator.id] = operator.username
    request.state.operator = operator
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
    """The menu's referrals badge: those waiting, as the inbox shows them. The live stream
    (`/events`) sends it as soon as a page opens and again when it changes; pages are not rendered
    with it (one query less on every page)."""
    return reads(request).waiting_count(operator)


def menu(operator: Operator | None, services: Any = ()) -> list[tuple[str, str]]:
    """(path, word) of the pages the operator's role may use: no link to what it cannot; then the
    pages services declare (`menu` in a declaration), for the roles their permission names."""
    if operator is None:
        return []
    if operator.role == "auditor":
        return [("/audit", "audit"), ("/audit/access", "access_log")]
    items = []
    if may(operator.role, "case.read"):
        items += [("/", "my_day"), ("/youths", "caseload"), ("/referrals", "referrals"), ("/alerts", "alerts")]
    items += [(path, word) for service in services for path, word, permission in service.menu
              if may(operator.role, permission)]
    if operator.role in ("supervisor", "agency_admin"):
        items.append(("/settings", "settings"))
    return items


def page(request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    operator = context.pop("operator", None) or operator_of(request)
    register = state(request).register
    country = register.agencies[operator.agency].country if operator and operator.agency in register.agencies else None
    response = TEMPLATES.TemplateResponse(request, template, {
        "lang": lang, "t": translator(lang), "operator": operator,
        "menu": menu(operator, state(request).platform.services),
        "tz": formats.zone_of(country), "agency_name": lambda code: agency_name(request, code),
        "may": lambda permission: operator is not None and may(operator.role, permission),
        "link": lambda **changes: link(request, **changes), "options": options,
        **context}, status_code=status_code, headers=headers)
    response.set_cookie(LANG, lang, samesite="strict", httponly=True, secure=request.url.scheme == "https")
    return response


def agency_name(request: Request, code: str | None) -> str:
    if not code:
        return ""
    agency = state(request).register.agencies.get(code)
    return agency.name if agency else code


def refused(request: Request, status_code: int) -> HTMLResponse:
    """The 403 or 404 page, in the operator's language."""
    kind = "forbidden" if status_code == 403 else "not_found"
    return page(request, "errors.html", status_code=status_code, kind=kind)


async def send(request: Request, operator: Operator, command: Any) -> tuple[bool, list[dict[str, Any]]]:
    """(accepted, reasons); once accepted, the views already show it (read-your-writes)."""
    gateway = state(request).extras.get("gateway")
    if gateway is None:
        raise HTTPException(503, "commands are not enabled")
    await asyncio.to_thread(reads(request).require_active, operator)
    _, receipt, seq = await gateway.send(operator, command)
    if receipt is None:
        return False, [{"field": "", "code": "no_answer_yet", "message": "no answer yet"}]
    if receipt["status"] != "accepted":
        return False, receipt["reasons"]
    await asyncio.to_thread(reads(request).wait_for, gateway.platform.command_owners[command.type_name].name, seq)
    return True, []


def form_errors(error: ValidationError) -> list[dict[str, str]]:
    """What was wrong with a form, never echoing what was typed (it may be personal)."""
    return [r.model_dump() for r in reasons_from(error)]


PAGE_SIZE = 25  # rows of a list page: one screen or two, and a page that renders fast


@dataclass(frozen=True)
class Paging:
    """Which page of a list is shown (1-based) and the links around it (`pager.html`)."""
    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.size, self.total)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


PageNumber = Annotated[int, Query(alias="page", ge=1, le=100_000)]  # a list's page, 1-based


def link(request: Request, **changes: Any) -> str:
    """This page's address with some query parameters changed (None removes one)."""
    query = dict(request.query_params) | {k: v for k, v in changes.items()}
    return request.url.path + "?" + urlencode({k: v for k, v in query.items() if v not in (None, "")})
