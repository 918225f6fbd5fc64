"""The HTTP service's app: the platform's own routers (health and tokens, the youths an agency may
see, every declared service's command routes), the routers services declare (e.g. the audit
trail), and the operators' web pages. Resources travel on `app.state.kit` (`shared.http.HttpState`).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from psycopg import OperationalError
from psycopg.errors import UndefinedTable

from events.receipts import Reason
from kit.runtime import safe_errors
from kit.service import load
from services.api import auth, youths
from services.api.commands import CommandGateway, command_router
from services.api.reads import CaseReads
from services.api.security_headers import SecurityHeaders
from services.api import web
from shared.web.session import page, refused, sign_in_again
from shared.web.words import install, words_of
from shared import accounts
from shared.http import HttpState, for_machines

log = logging.getLogger("kit.api")


class RequestProblem(BaseModel):
    """A request that does not fit its schema (422): each reason names the parameter or field and
    what is wrong, never the value sent."""

    detail: str
    reasons: list[Reason]


def request_problem(exc: RequestValidationError) -> dict:
    reasons = [Reason(field=".".join(map(str, loc)), code=code, message=message)
               for loc, code, message in safe_errors(exc.errors())]
    return RequestProblem(detail="the request does not fit its schema: see reasons", reasons=reasons).model_dump()


def documented_errors(app: FastAPI) -> dict:
    """The OpenAPI document, with FastAPI's default 422 body (which echoes the input) replaced by
    the one this API sends."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = RequestProblem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["HTTPValidationError"] = problem | {"title": "RequestProblem"}
        components.pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(state: HttpState) -> FastAPI:
    app = FastAPI(title="KiT platform API", version="0.3.0",
                  description="Operators' and auditors' API of the KiT integrated services platform.")
    app.state.kit = state
    install(words_of(state.platform.services, load))  # every page's words: the shared ones and each service's
    app.add_middleware(SecurityHeaders)
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
        if for_machines(request.url.path):
            return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_401_UNAUTHORIZED,
                                headers={"WWW-Authenticate": "Bearer"})
        return sign_in_again(request)

    @app.exception_handler(UndefinedTable)
    async def not_ready(request: Request, exc: Exception) -> Response:
        log.warning("not ready: %s", str(exc).splitlines()[0])  # which table: a service not started yet
        return JSONResponse({"detail": "not ready: the service that keeps this data has not started yet"},
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        body = request_problem(exc)
        if for_machines(request.url.path):
            return JSONResponse(body, status_code=422)
        if any(r["field"].startswith("path.") for r in body["reasons"]):  # /youths/not-an-id: nothing there
            return refused(request, 404)
        return page(request, "errors.html", status_code=422, kind="invalid_request", errors=body["reasons"])

    app.openapi = lambda: documented_errors(app)  # type: ignore[method-assign]

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: Exception) -> Response:
        # e.g. PostgreSQL restarting: the pool checks connections, so the next request gets a good one
        return JSONResponse({"detail": "the database is not available at the moment: retry shortly"},
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})

    return app
