"""The operators' web app: server-rendered pages (Jinja2, no JavaScript build chain), Italian by
default and English on request, on the same reads and commands as the HTTP API, so authorization
is the same: agency scope, role, consent at the time of the request, every read logged.

Session: the API's bearer token in an HttpOnly, SameSite=Strict cookie; state-changing requests
must come from the app's own pages (Origin check).
"""

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from events import intake as ev
from shared.roles import OPERATOR_ROLES
from shared import accounts, tokens
from services.api.commands import CommandGateway
from shared.accounts import Operator
from services.api.reads import CaseReads, NotVisible, jsonable
from services.intake.ingest import reasons_from
from shared.agencies import policy_file, read_policy
from services.web.i18n import LANGUAGES, translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SESSION = "kit_session"
LANG = "kit_lang"


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG)
    return asked if asked in LANGUAGES else "it"


def sign_in_again(request: Request) -> Response:
    """To the login page, the session ended (its account was disabled or changed)."""
    response = RedirectResponse(f"/login?lang={lang_of(request)}", status_code=303)
    response.delete_cookie(SESSION)
    return response


def add_web_routes(app: FastAPI, *, reads: CaseReads, gateway: CommandGateway | None, secret: str,
                   pool: ConnectionPool) -> None:

    def operator_of(request: Request) -> Operator | None:
        """The signed-in operator, if the session's account is still as it signed in."""
        operator = tokens.verify(token, secret) if (token := request.cookies.get(SESSION)) else None
        if operator is not None:
            try:
                reads.require_active(operator)
            except accounts.AccountInactive:
                return None
        return operator

    def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        lang = lang_of(request)
        operator = context.pop("operator", None) or operator_of(request)
        response = TEMPLATES.TemplateResponse(request, template, {
            "lang": lang, "t": translator(lang), "operator": operator,
            "inbox_count": inbox_count(operator) if operator else 0, **context}, status_code=status_code)
        response.set_cookie(LANG, lang, samesite="strict", httponly=True)
        return response

    def inbox_count(operator: Operator) -> int:
        with pool.connection() as conn:  # a count only: no youth-level data, no access-log row
            return conn.execute("SELECT count(*) FROM views.referrals WHERE to_agency = %s AND status = 'requested'",
                                (operator.agency,)).fetchone()[0]

    def signed_in(request: Request) -> Operator:
        operator = operator_of(request)
        if operator is None:
            raise LoginRequired()
        return operator

    def same_origin(request: Request) -> None:
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin is None or urlparse(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, "cross-site request refused")

    async def send(operator: Operator, command: ev.Command) -> tuple[bool, list[dict[str, Any]]]:
        """(accepted, reasons); once accepted, the views already show it (read-your-writes)."""
        if gateway is None:
            raise HTTPException(503, "commands are not enabled")
        await asyncio.to_thread(reads.require_active, operator)
        _, receipt = await gateway.send(operator, command)
        if receipt is None:
            return False, [{"field": "", "message": "no answer yet: reload the page in a moment"}]
        if receipt["status"] != "accepted":
            return False, receipt["reasons"]
        await asyncio.to_thread(reads.wait_for, receipt["event_ids"])
        return True, []

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: Exception) -> Response:
        return RedirectResponse(f"/login?lang={lang_of(request)}", status_code=303)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return page(request, "login.html")

    @app.post("/login", include_in_schema=False)
    def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
        same_origin(request)
        with pool.connection() as conn:
            operator = accounts.authenticate(conn, username, password)
        if operator is None:
            return page(request, "login.html", status_code=401, wrong=True)
        response = RedirectResponse(f"/?lang={lang_of(request)}", status_code=303)
        response.set_cookie(SESSION, tokens.issue(operator, secret), httponly=True, samesite="strict",
                            max_age=8 * 3600)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        same_origin(request)
        response = RedirectResponse(f"/login?lang={lang_of(request)}", status_code=303)
        response.delete_cookie(SESSION)
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def caseload(request: Request, q: str | None = None, status: str | None = None, key_worker: str | None = None,
                 region: str | None = None) -> HTMLResponse:
        operator = signed_in(request)
        rows, total = reads.caseload(operator, q=q or None, status=status or None, key_worker=key_worker or None,
                                     region=region or None, limit=100)
        youths = [{**jsonable(r), "status": case_status(r)} for r in rows]
        return page(request, "caseload.html", operator=operator, youths=youths, total=total, q=q, status=status,
                    key_worker=key_worker, region=region)

    @app.get("/youths/{youth_id}", response_class=HTMLResponse, include_in_schema=False)
    def youth_page(request: Request, youth_id: uuid.UUID, saved: int = 0) -> HTMLResponse:
        return youth_view(request, str(youth_id), flash=translator(lang_of(request))("saved") if saved else None)

    def youth_view(request: Request, youth_id: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        operator = signed_in(request)
        try:
            youth = jsonable(reads.record(operator, youth_id))
            timeline = reads.timeline(operator, youth_id)
        except NotVisible:
            return page(request, "caseload.html", status_code=404, operator=operator, youths=[], total=0,
                        errors=[{"field": "", "message": translator(lang_of(request))("not_visible")}])
        now = datetime.now().replace(second=0, microsecond=0)
        return page(request, "youth.html", status_code, operator=operator, youth=youth, timeline=timeline,
                    now_local=now.isoformat(timespec="minutes"),
                    review_default=(date.today() + timedelta(days=60)).isoformat(), **context)

    @app.post("/youths/{youth_id}/contacts", response_class=HTMLResponse, include_in_schema=False)
    async def record_contact(request: Request, youth_id: uuid.UUID, contact_type: Annotated[str, Form()],
                             channel: Annotated[str, Form()], outcome: Annotated[str, Form()],
                             occurred_at: Annotated[str, Form()]) -> Response:
        same_origin(request)
        operator = signed_in(request)
        try:
            when = datetime.fromisoformat(occurred_at)
        except ValueError:
            return youth_view(request, str(youth_id), 422,
                              errors=[{"field": "occurred_at", "message": "not a date and time"}])
        when = when if when.tzinfo else when.astimezone()  # the operator's local time
        try:
            command = ev.LogContact(youth_id=str(youth_id), contact_id=str(uuid.uuid4()), contact_type=contact_type,
                                    channel=channel, outcome=outcome, occurred_at=when)
        except ValidationError as e:
            return youth_view(request, str(youth_id), 422, errors=form_errors(e))
        return await after(request, str(youth_id), *await send(operator, command))

    @app.post("/youths/{youth_id}/project", response_class=HTMLResponse, include_in_schema=False)
    async def revise_project(request: Request, youth_id: uuid.UUID, goal: Annotated[str, Form()],
                             category: Annotated[str, Form()], next_review_due: Annotated[date, Form()],
                             based_on_version: Annotated[int, Form()],
                             agreed_by_youth: Annotated[bool, Form()] = False,
                             agreed_by_guardian: Annotated[bool, Form()] = False) -> Response:
        same_origin(request)
        operator = signed_in(request)
        try:
            current = [ev.Goal.model_validate(g) for g in current_goals(reads.timeline(operator, str(youth_id)))]
            command = ev.AgreeProjectOfLife(
                youth_id=str(youth_id), based_on_version=based_on_version, next_review_due=next_review_due,
                agreed_by_youth=agreed_by_youth, agreed_by_guardian=agreed_by_guardian,
                goals=[*current, ev.Goal(goal_id=str(uuid.uuid4()), description=goal, category=category,
                                         lifecycle_status="active")])
        except NotVisible:
            raise HTTPException(404, "no such youth visible to your agency") from None
        except ValidationError as e:
            return youth_view(request, str(youth_id), 422, errors=form_errors(e))
        return await after(request, str(youth_id), *await send(operator, command))

    async def after(request: Request, youth_id: str, accepted: bool, reasons: list[dict[str, Any]]) -> Response:
        if accepted:
            return RedirectResponse(f"/youths/{youth_id}?saved=1&lang={lang_of(request)}", status_code=303)
        return youth_view(request, youth_id, 422, errors=reasons)

    @app.get("/inbox", response_class=HTMLResponse, include_in_schema=False)
    def inbox(request: Request) -> HTMLResponse:
        operator = signed_in(request)
        return page(request, "inbox.html", operator=operator,
                    referrals=reads.referrals(operator, "inbox", "requested"))

    @app.post("/inbox/{youth_id}/{referral_id}", response_class=HTMLResponse, include_in_schema=False)
    async def answer(request: Request, youth_id: uuid.UUID, referral_id: uuid.UUID,
                     decision: Annotated[str, Form()], reason: Annotated[str, Form()] = "") -> Response:
        same_origin(request)
        operator = signed_in(request)
        try:
            command = ev.RespondToReferral(youth_id=str(youth_id), referral_id=str(referral_id), decision=decision,
                                           reason=reason.strip() or None)
        except ValidationError as e:
            reasons = form_errors(e)
        else:
            accepted, reasons = await send(operator, command)
            if accepted:
                return RedirectResponse(f"/inbox?lang={lang_of(request)}", status_code=303)
        return page(request, "inbox.html", status_code=422, operator=operator, errors=reasons,
                    referrals=reads.referrals(operator, "inbox", "requested"))

    @app.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def alerts(request: Request) -> HTMLResponse:
        operator = signed_in(request)
        return page(request, "alerts.html", operator=operator, alerts=reads.alerts(operator))

    @app.get("/settings", response_class=HTMLResponse, include_in_schema=False)
    def settings(request: Request) -> HTMLResponse:
        return settings_page(request)

    def settings_page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Operational settings in one place: rules, agency register, the agency's users."""
        operator = signed_in(request)
        if operator.role not in ("supervisor", "agency_admin"):
            return page(request, "alerts.html", status_code=403, operator=operator, alerts=[],
                        errors=[{"field": "", "message": translator(lang_of(request))("forbidden")}])
        with pool.connection() as conn:
            accounts.require_active(conn, operator)
            users = accounts.list_accounts(conn, operator.agency)
        return page(request, "settings.html", status_code=status_code, operator=operator,
                    policy=reads.policy, policy_file=str(policy_file()), service_rules=service_rules(),
                    users=users, can_manage=operator.role == "agency_admin", roles=OPERATOR_ROLES, **context)

    def agency_admin(request: Request) -> Operator:
        same_origin(request)
        operator = signed_in(request)
        if operator.role != "agency_admin":
            raise HTTPException(403, "only an agency admin manages users")
        return operator

    @app.post("/settings/users", response_class=HTMLResponse, include_in_schema=False)
    def add_user(request: Request, username: Annotated[str, Form()], role: Annotated[str, Form()],
                 password: Annotated[str, Form()]) -> Response:
        operator = agency_admin(request)
        try:
            with pool.connection() as conn:  # one transaction: the account and its access-log row
                added = accounts.add_operator(conn, agency=operator.agency, role=role, username=username,
                                               password=password)
                accounts.log_access(conn, operator, purpose="administration", what=f"account {added.id} added as {role}")
        except accounts.InvalidOperator as e:
            return settings_page(request, 422, errors=[{"field": "username", "message": str(e)}])
        return RedirectResponse(f"/settings?lang={lang_of(request)}", status_code=303)

    @app.post("/settings/users/{username}", response_class=HTMLResponse, include_in_schema=False)
    def change_user(request: Request, username: str, role: Annotated[str | None, Form()] = None,
                    account: Annotated[str | None, Form()] = None) -> Response:
        """Another role, or the account disabled or enabled again: it counts from the account's next request."""
        operator = agency_admin(request)
        disabled = {"disable": True, "enable": False}.get(account or "")
        try:
            with pool.connection() as conn:  # one transaction: the change and its access-log row
                changed = accounts.change_account(conn, operator.agency, username, role=role or None,
                                                   disabled=disabled, by=operator)
                what = {True: "disabled", False: "enabled"}.get(disabled) or f"given role {role}"
                accounts.log_access(conn, operator, purpose="administration", what=f"account {changed} {what}")
        except accounts.InvalidOperator as e:
            return settings_page(request, 422, errors=[{"field": "role", "message": str(e)}])
        return RedirectResponse(f"/settings?lang={lang_of(request)}", status_code=303)

    @app.get("/events", include_in_schema=False)
    async def events(request: Request) -> StreamingResponse:
        """Server-sent events: the inbox count, so a new referral shows without a reload."""
        operator = signed_in(request)

        async def stream():
            last = None
            while not await request.is_disconnected():
                try:
                    await asyncio.to_thread(reads.require_active, operator)
                except accounts.AccountInactive:
                    return
                count = await asyncio.to_thread(inbox_count, operator)
                if count != last:
                    yield f"event: inbox\ndata: {json.dumps({'count': count})}\n\n"
                    last = count
                await asyncio.sleep(1)
        return StreamingResponse(stream(), media_type="text/event-stream")


def service_rules() -> dict[str, dict[str, Any]]:
    """Each service's own rules (its section of the policy file), as the settings page lists them."""
    return {name: section for name, section in read_policy().items()
            if name not in ("consent", "agencies") and isinstance(section, dict)}


def form_errors(error: ValidationError) -> list[dict[str, str]]:
    """What was wrong with a form, never echoing what was typed (it may be personal)."""
    return [r.model_dump() for r in reasons_from(error)]


class LoginRequired(Exception):
    pass


def case_status(row: dict[str, Any]) -> str:
    if row.get("closed_on"):
        return "closed"
    if row.get("lost_contact"):
        return "lost_contact"
    return "active" if row.get("lead_agency") else "registered"


def current_goals(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    agreed = [e for e in timeline if e["type"] == ev.ProjectOfLifeAgreed.type_name]
    return agreed[-1]["data"].get("goals", []) if agreed else []
