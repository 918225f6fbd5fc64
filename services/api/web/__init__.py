"""The operators' web app: server-rendered pages (Jinja2, no JavaScript build chain), Italian by
default and English on request, on the same reads and commands as the HTTP API, so authorization
is the same: agency scope, role, consent at the time of the request, every read logged. A router
per area; the shared page machinery (session, words, 403/404 pages) is `shared.web`."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from services.api.web import alerts, caseload, live, login, my_day, referrals, settings, youth
from shared.http import for_machines
from shared.web.session import STATIC, LoginRequired, add_templates, refused, to_login

add_templates(Path(__file__).parent / "templates")


def mount(app: FastAPI) -> None:
    for area in (login, my_day, caseload, youth, referrals, alerts, settings, live):
        app.include_router(area.router)
    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(HTTPException, refusal_page)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


async def refusal_page(request: Request, exc: Exception) -> Response:
    """A page's 403 and 404 as pages in the operator's language; the API's stay JSON."""
    assert isinstance(exc, HTTPException)
    if for_machines(request.url.path) or request.url.path.startswith("/static/") or exc.status_code not in (403, 404):
        return await http_exception_handler(request, exc)
    return refused(request, exc.status_code)
