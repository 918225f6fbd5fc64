"""Signing in and out."""


from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.auth import Password, Username, sign_in
from shared.web.session import SESSION, lang_of, page, same_origin
from shared import tokens
from shared.http import state

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login")
async def login(request: Request, username: Username, password: Password) -> Response:
    same_origin(request)
    try:
        operator = await sign_in(request, username, password)
    except HTTPException as refused:  # throttled or busy: said on the page, with when to retry
        wait = (refused.headers or {}).get("Retry-After", "5")
        return page(request, "login.html", status_code=refused.status_code, headers=refused.headers,
                    throttled=refused.status_code == 429, busy=refused.status_code == 503, retry_after=wait)
    if operator is None:
        return page(request, "login.html", status_code=401, wrong=True)
    response = RedirectResponse(f"/?lang={lang_of(request)}", status_code=303)
    response.set_cookie(SESSION, tokens.issue(operator, state(request).secret), httponly=True, samesite="strict",
                        max_age=8 * 3600, secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    same_origin(request)
    response = RedirectResponse(f"/login?lang={lang_of(request)}", status_code=303)
    response.delete_cookie(SESSION)
    return response
