"""The operators' web app: server-rendered pages (Jinja2, no JavaScript build chain), Italian by
default and English on request, on the same reads and commands as the HTTP API, so authorization
is the same: agency scope, role, consent at the time of the request, every read logged. A router
per area."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.api.web import alerts, caseload, inbox, live, login, settings, youth
from services.api.web.session import LoginRequired, to_login


def mount(app: FastAPI) -> None:
    for area in (login, caseload, youth, inbox, alerts, settings, live):
        app.include_router(area.router)
    app.add_exception_handler(LoginRequired, to_login)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
