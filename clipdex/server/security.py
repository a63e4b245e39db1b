"""Who may ask, and which files may be served.

Media is addressed only by the id of an indexed video, never by a path from the client. The
library does not record the folders that were indexed, so the indexed paths themselves are the
authority: a stored path is served only if it resolves, symlinks followed, to a regular file
inside the real folder the stored path names (``/v/a.mp4 -> /etc/x`` is refused; a whole
folder reached through a symlink, ``/home/me/Videos -> /mnt/disk/Videos``, is not an escape).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse

TOKEN_COOKIE = "clipdex_token"
TOKEN_QUERY = "token"
LOOPBACK_NAMES = ("localhost",)
_ID = re.compile(r"[0-9]{1,18}")
# Path shapes that are never a route of ours: refused before routing, whatever decoding did.
_SUSPICIOUS = re.compile(r"(^|/)\.\.?(/|$)|\\|\x00|//")
# A token travels in a cookie and a URL, so it is limited to characters safe in both.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,}")


class UnsafeMediaError(Exception):
    """A stored path that must not be served: missing, not a regular file, or escaping its
    folder through a symlink."""


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_id(text: str) -> int | None:
    """A database id from a URL segment, or None for anything else (traversal payloads too)."""
    return int(text) if _ID.fullmatch(text) else None


def suspicious_path(path: str) -> bool:
    """True for a decoded request path with dot segments, backslashes, NUL or empty segments."""
    return bool(_SUSPICIOUS.search(path))


def token_matches(expected: str, offered: str | None) -> bool:
    """Constant-time comparison, so the token cannot be guessed byte by byte from timings."""
    return offered is not None and hmac.compare_digest(expected.encode(), offered.encode())


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def safe_media_path(stored: str) -> tuple[Path, os.stat_result]:
    """The real path of an indexed video and its stat, if it may be served.

    Raises UnsafeMediaError when the stored path is not absolute and normalised (no ``..``,
    as the indexer stores them), contains NUL, no longer
    exists, is not a regular file, or resolves outside the real folder it is stored in.
    """
    if "\x00" in stored or not os.path.isabs(stored) or os.path.normpath(stored) != stored:
        raise UnsafeMediaError(f"{stored!r}: not a normalised absolute path")
    real = os.path.realpath(stored)
    folder = os.path.realpath(os.path.dirname(stored))
    if os.path.commonpath([real, folder]) != folder or real == folder:
        raise UnsafeMediaError(f"{stored}: resolves to {real}, outside {folder}")
    try:
        info = os.stat(real, follow_symlinks=False)
    except OSError as exc:
        raise UnsafeMediaError(f"{stored}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeMediaError(f"{stored}: not a regular file")
    return Path(real), info


class Guard:
    """ASGI middleware run before routing: refuses traversal-shaped paths (404), requests
    without the token when one is set (401), and, on loopback without a token, Host headers
    naming another machine (400: a DNS-rebinding page could otherwise read the library).

    The token may come as ``Authorization: Bearer``, the ``clipdex_token`` cookie, or a
    ``?token=`` query parameter; the last sets the cookie, so a browser opened on
    ``/?token=...`` (redirected to ``/``) can load videos and images, which cannot carry
    headers.
    """

    def __init__(self, app, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        raw = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
        if suspicious_path(scope["path"]) or suspicious_path(_percent_decoded(raw)):
            await JSONResponse({"detail": "Not Found"}, 404)(scope, receive, send)
            return
        if self.token is None:
            if not is_loopback(request.url.hostname or ""):
                await JSONResponse({"detail": "Invalid host header"}, 400)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        from_query = request.query_params.get(TOKEN_QUERY)
        offered = bearer(request.headers.get("authorization")) or request.cookies.get(TOKEN_COOKIE)
        if token_matches(self.token, offered):
            await self.app(scope, receive, send)
        elif token_matches(self.token, from_query) and scope["path"] == "/":
            # Keep the token out of the address bar and history: set the cookie, reload "/"
            # with the rest of the query (a shared search link: ?q=...&token=...).
            rest = urlencode(
                [(k, v) for k, v in request.query_params.multi_items() if k != TOKEN_QUERY]
            )
            target = f"/?{rest}" if rest else "/"
            await RedirectResponse(target, 303)(scope, receive, self._setting_cookie(send))
        elif token_matches(self.token, from_query):
            await self.app(scope, receive, self._setting_cookie(send))
        else:
            headers = {"WWW-Authenticate": "Bearer"}
            await JSONResponse({"detail": "token required"}, 401, headers)(scope, receive, send)

    def _setting_cookie(self, send):
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"

        async def wrapped(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", cookie.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


def _percent_decoded(raw: str) -> str:
    """The raw path decoded twice: a double-encoded ``%252e%252e`` is a traversal attempt too."""
    return unquote(unquote(raw))
