"""Operational settings in one place: the rules of the policy file, the agency register, and the
agency's accounts (an agency admin adds them, changes their role, disables or enables them)."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.web.session import lang_of, page, refused, same_origin, signed_in
from shared import accounts
from shared.accounts import Operator
from shared.agencies import policy_file, read_policy
from shared.http import state
from shared.roles import OPERATOR_ROLES

router = APIRouter(include_in_schema=False)


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request) -> HTMLResponse:
    return settings_page(request)


def settings_page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    operator = signed_in(request)
    if operator.role not in ("supervisor", "agency_admin"):
        return refused(request, 403)
    with state(request).pool.connection() as conn:
        accounts.require_active(conn, operator)
        users = accounts.list_accounts(conn, operator.agency)
    return page(request, "settings.html", status_code=status_code, operator=operator,
                policy=state(request).register, policy_file=str(policy_file()), service_rules=service_rules(),
                users=users, can_manage=operator.role == "agency_admin", roles=OPERATOR_ROLES, **context)


def service_rules() -> dict[str, dict[str, Any]]:
    """Each service's own rules (its section of the policy file), as the settings page lists them."""
    return {name: section for name, section in read_policy().items()
            if name not in ("consent", "agencies") and isinstance(section, dict)}


def agency_admin(request: Request) -> Operator:
    same_origin(request)
    operator = signed_in(request)
    if operator.role != "agency_admin":
        raise HTTPException(403, "only an agency admin manages users")
    return operator


@router.post("/settings/users", response_class=HTMLResponse)
def add_user(request: Request, username: Annotated[str, Form()], role: Annotated[str, Form()],
             password: Annotated[str, Form()]) -> Response:
    operator = agency_admin(request)
    try:
        with state(request).pool.connection() as conn:  # one transaction: the account and its access-log row
            added = accounts.add_operator(conn, agency=operator.agency, role=role, username=username, password=password)
            accounts.log_access(conn, operator, purpose="administration", what=f"account {added.id} added as {role}")
    except accounts.InvalidOperator as e:
        return settings_page(request, 422, errors=[{"field": "username", "code": e.code, "message": str(e)}])
    return RedirectResponse(f"/settings?lang={lang_of(request)}", status_code=303)


@router.post("/settings/users/{username}", response_class=HTMLResponse)
def change_user(request: Request, username: str, role: Annotated[str | None, Form()] = None,
                account: Annotated[str | None, Form()] = None) -> Response:
    """Another role, or the account disabled or enabled again: it counts from the account's next request."""
    operator = agency_admin(request)
    disabled = {"disable": True, "enable": False}.get(account or "")
    try:
        with state(request).pool.connection() as conn:  # one transaction: the change and its access-log row
            changed = accounts.change_account(conn, operator.agency, username, role=role or None, disabled=disabled,
                                              by=operator)
            what = {True: "disabled", False: "enabled"}.get(disabled) or f"given role {role}"
            accounts.log_access(conn, operator, purpose="administration", what=f"account {changed} {what}")
    except accounts.InvalidOperator as e:
        return settings_page(request, 422, errors=[{"field": "role", "code": e.code, "message": str(e)}])
    return RedirectResponse(f"/settings?lang={lang_of(request)}", status_code=303)
