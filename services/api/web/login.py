"""Signing in and out."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.web.session import SESSION, lang_of, page, same_origin
from shared import accounts, tokens
from shared.http import state

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
    same_origin(request)
    with state(request).pool.connection() as conn:
        operator = accounts.authenticate(conn, username, password)
    if operator is None:
        return page(request, "login.html", status_code=401, wrong=True)
    response = RedirectResponse(f"/?lang={lang_of(request)}", status_code=303)
    response.set_cookie(SESSION, tokens.issue(operator, state(request).secret), httponly=True, samesite="strict",
                        max_age=8 * 3600)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    same_origin(request)
    response = RedirectResponse(f"/login?lang={lang_of(request)}", status_code=303)
    response.delete_cookie(SESSION)
    return response
