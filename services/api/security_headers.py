"""Headers every response carries: no framing (clickjacking), no content sniffing, no referrer to
other sites (the URLs name youths' pseudonyms), a Content-Security-Policy that lets pages load only this site's own
scripts and styles (the web app has no inline ones), and, over TLS, HSTS. The interactive API docs
(`/docs`, `/redoc`) load Swagger UI and ReDoc from their CDN: their policy allows that, no more.

A pure ASGI middleware: it adds headers as a response starts, streaming ones (server-sent events)
included.
"""

from __future__ import annotations

COMMON = {
    b"x-frame-options": b"DENY",
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",  # not "no-referrer": browsers would then send `Origin: null` on form posts
}
APP_POLICY = (b"default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
              b"object-src 'none'")
DOCS_POLICY = (b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
               b"worker-src 'self' blob:; frame-ancestors 'none'; object-src 'none'")
DOCS_PATHS = ("/docs", "/redoc")
HSTS = b"max-age=31536000"


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = DOCS_POLICY if scope["path"].startswith(DOCS_PATHS) else APP_POLICY
        extra = {**COMMON, b"content-security-policy": policy}
        if scope.get("scheme") == "https":
            extra[b"strict-transport-security"] = HSTS

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in extra.items() if name not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
