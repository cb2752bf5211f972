"""What every console page shares: templates, the session check, forms with CSRF tokens, and
the response headers (no caching, no framing, a strict Content-Security-Policy)."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from inmail_guard.api.console.sessions import COOKIE, Session, SessionSigner

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_URL = "/console/static"
PREFIX = "/console"

#: Scripts and styles come from the package only (no CDN, no inline script). Inline style
#: attributes are allowed for the score bars' widths.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
       "form-action 'self'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
           "X-Content-Type-Options": "nosniff"}

templates = Jinja2Templates(directory=str(HERE / "templates"))


def _when(value: Any) -> str:
    """A time as the console shows it: UTC, to the second."""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


templates.env.filters["when"] = _when


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form."""


class Forbidden(Exception):
    """The session's key lacks the role; the page says which it needs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def signer(request: Request) -> SessionSigner:
    return request.app.state.console_sessions


def session_of(request: Request) -> Session | None:
    return signer(request).verify(request.cookies.get(COOKIE))


def require_session(request: Request, role: str | None = None) -> Session:
    session = session_of(request)
    if session is None:
        raise LoginRequired()
    request.state.principal = session.principal  # the access log names the key (not the key)
    if role is not None and not session.principal.has(role):
        raise Forbidden(f"This needs an {role} key: you are signed in with"
                        f" {session.principal.name!r} ({session.principal.role}).")
    return session


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the console's forms)."""
    raw = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


def same_origin(request: Request) -> bool:
    """A POST from a page of this server (or a client that sends no Origin)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    return parts.netloc == host and parts.scheme in ("http", "https")


def check_post(request: Request, form: dict[str, str], role: str | None = None) -> Session:
    """A state-changing console POST: a session (with ``role``), from this origin, with the
    session's CSRF token."""
    session = require_session(request, role)
    if not same_origin(request):
        raise Forbidden("This form was sent from another site; it was not applied.")
    token = form.get("csrf", "")
    if not token or not hmac.compare_digest(token, session.csrf):
        raise Forbidden("This form has expired or did not come from the console; reload the"
                        " page and try again.")
    return session


def render(request: Request, template: str, session: Session | None, status: int = 200,
           **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, {
        "session": session, "principal": session.principal if session else None,
        "csrf": session.csrf if session else "", "static": STATIC_URL, "prefix": PREFIX,
        "path": request.url.path, **context}, status_code=status)
    response.headers.update(HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(HEADERS)
    return response


def safe_next(value: str | None) -> str:
    """Where to go after login: a console page of this server, nothing else."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") \
            and "\\" not in value and not value.startswith(PREFIX + "/login"):
        return value
    return PREFIX + "/playground"


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    return redirect(f"{PREFIX}/login?next={quote(target, safe='/')}")


def unavailable(request: Request, session: Any, exc: Exception) -> Response:
    from inmail_guard.service import ServiceError

    if isinstance(exc, ServiceError):
        return render(request, "message.html", session, status=422, title="Not possible",
                      message=str(exc))
    logging.getLogger("inmail_guard.api.console").error(
        "console: service call failed: %s", type(exc).__name__)
    return render(request, "message.html", session, status=503, title="Database unavailable",
                  message="The database did not answer; try again shortly.")


def install_handlers(app: Any) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "message.html", session_of(request), status=403,
                      title="Not allowed", message=exc.message)
