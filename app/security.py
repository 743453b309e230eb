"""What every answer of the server carries, and what every request may not do.

- Headers: ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy``
  on every answer; a Content Security Policy on every HTML page (scripts of
  this site and inline ones with the page's nonce only, no framing), and a
  policy that allows nothing on the others (JSON, files).
- The session cookie: ``SameSite=Lax``, ``Secure`` when ``secure_cookies`` is
  on, and the lifetime of ``session_hours``.
- Behind ``proxy_count`` reverse proxies, werkzeug's ``ProxyFix`` takes the
  client's address, scheme and host from their ``X-Forwarded-*`` headers.
- A chunked body (no ``Content-Length``) over ``max_request_bytes`` is refused
  with 413, as a body that announces its length is.
"""
from __future__ import annotations

import base64
import hashlib
import io
import secrets
from datetime import timedelta
from typing import Any, Callable, Iterable, Mapping

from flask import Flask, Response, current_app, g
from werkzeug.middleware.proxy_fix import ProxyFix

__all__ = ["allow_event_handlers", "csp_nonce", "init_app", "page_policy",
           "session_config"]

NONCE = "rotest_csp_nonce"
HANDLERS = "rotest_csp_handlers"
#: For answers that are not HTML pages: they load nothing and run nothing.
NOTHING_POLICY = "default-src 'none'; frame-ancestors 'none'"


def session_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Flask's cookie and session settings for the server's ``settings``."""
    return {
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings["secure_cookies"],
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": settings["secure_cookies"],
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=settings["session_hours"]),
    }


def init_app(app: Flask) -> None:
    """Add the headers, the proxy fix and the limit on streamed bodies."""
    proxies = app.config["ROTEST"]["proxy_count"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,
                                x_host=proxies)
    app.wsgi_app = StreamedBodyLimit(app.wsgi_app, app.config)
    app.after_request(_add_headers)


def csp_nonce() -> str:
    """The nonce of this request's page, which its inline scripts carry."""
    if NONCE not in g:
        setattr(g, NONCE, secrets.token_urlsafe(16))
    return g.get(NONCE)


def allow_event_handlers(app: Flask, handlers: Iterable[str]) -> None:
    """Let these exact inline event handlers (``onclick="..."``) run on the
    pages of ``app``: CSP's 'unsafe-hashes' with their hashes. For fixed
    texts a library's templates use (Flask-Admin's actions menu); a handler
    that anyone could inject stays refused."""
    app.extensions.setdefault(HANDLERS, set()).update(
        "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        for text in handlers)


def page_policy(nonce: str, handler_hashes: Iterable[str] = ()) -> str:
    """The Content Security Policy of an HTML page of the server."""
    hashes = " ".join(sorted(handler_hashes))
    handlers = f" 'unsafe-hashes' {hashes}" if hashes else ""
    return ("default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'{handlers}; "
            # Flask-Admin's widgets (select2, date pickers) set inline styles.
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


def _add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = (
            page_policy(csp_nonce(), current_app.extensions.get(HANDLERS, ()))
            if response.mimetype == "text/html" else NOTHING_POLICY)
    return response


class StreamedBodyLimit:
    """WSGI middleware: a chunked body is read here, up to one byte over
    ``MAX_CONTENT_LENGTH``, and handed on with the ``Content-Length`` of what
    was read, so that werkzeug refuses it with 413 as it refuses a body that
    announced its length. (Werkzeug reads a streamed body only up to the
    limit, and would parse the cut body as if it were whole.)"""

    def __init__(self, wsgi_app: Callable, config: Mapping[str, Any]) -> None:
        self.wsgi_app, self.config = wsgi_app, config

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        limit = self.config.get("MAX_CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        # Only a server that ends the body itself (gunicorn, werkzeug) says
        # where a chunked body stops; werkzeug ignores the others' bodies.
        if limit is not None and chunked and environ.get("wsgi.input_terminated"):
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream: Any, size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        part = stream.read(min(left, 65536))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
