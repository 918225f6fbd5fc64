"""The HTTP service's app: the platform's own routers (health and tokens, the youths an agency may
see, every declared service's command routes), the routers services declare (e.g. the audit
trail), and the operators' web pages. Resources travel on `app.state.kit` (`shared.http.HttpState`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, Response
from psycopg import OperationalError
from psycopg.errors import UndefinedTable

from kit.service import load
from services.api import auth, youths
from services.api.commands import CommandGateway, command_router
from services.api.reads import CaseReads
from services.api import web
from services.api.web.session import sign_in_again
from shared import accounts
from shared.http import HttpState


def create_app(state: HttpState) -> FastAPI:
    app = FastAPI(title="KiT platform API", version="0.3.0",
                  description="Operators' and auditors' API of the KiT integrated services platform.")
    app.state.kit = state
    gateway: CommandGateway | None = state.extras.get("gateway")
    reads: CaseReads = state.extras["reads"]
    if gateway is not None:
        app.router.on_startup.append(gateway.start)
        app.router.on_shutdown.append(gateway.stop)
    app.include_router(auth.router)
    app.include_router(youths.router)
    for service in state.platform.services:
        if gateway is not None and service.commands:
            app.include_router(command_router(service, gateway, reads))
        for reference in service.routers:
            app.include_router(load(reference))
    web.mount(app)

    @app.exception_handler(accounts.AccountInactive)
    async def account_inactive(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_401_UNAUTHORIZED,
                                headers={"WWW-Authenticate": "Bearer"})
        return sign_in_again(request)

    @app.exception_handler(UndefinedTable)
    async def not_ready(request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": "not ready: the service that keeps this data has not started yet"},
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: Exception) -> Response:
        # e.g. PostgreSQL restarting: the pool checks connections, so the next request gets a good one
        return JSONResponse({"detail": "the database is not available at the moment: retry shortly"},
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})

    return app
