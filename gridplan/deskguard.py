"""What stands between the desk and the network: request size, Host and Origin, the access token.

- **Request size.** A request body above ``MAX_REQUEST_BYTES`` is refused (413) before it is read.
- **DNS rebinding.** A page of another site can make the browser send requests to the desk under a
  name of the attacker's (``evil.example`` resolving to 127.0.0.1). The desk answers only requests whose
  ``Host`` is the address it is bound to or a name of this machine (``localhost``, ``127.0.0.1``, ``::1``),
  and whose ``Origin``, when the browser sends one, is the desk itself; others get 403. Bound to every
  address (``0.0.0.0``) the token is required and the ``Host`` is not checked.
- **The token.** Carried once as ``?token=`` (then a cookie holding an HMAC of it, never the token
  itself), or in an ``X-Gridplan-Token`` header; compared in constant time on UTF-8 bytes (any
  characters work); hidden in the access log. Give it in ``GRIDPLAN_TOKEN`` or a file (``--token-file``),
  not on the command line, where ``ps`` shows it to every user of the machine.
- **Errors.** A request the desk cannot use (a forged callback) is answered 400 with one line, logged
  as one line; never a 500 with a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scenario.errors import GridplanError

__all__ = ["install", "resolve_token", "desk_url", "MAX_REQUEST_BYTES", "MIN_TOKEN_CHARS", "LOCAL_HOSTS"]

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
MAX_REQUEST_BYTES = 8_000_000  # a request body: the edited tables of 20,000 communities fit in a few MB
MIN_TOKEN_CHARS = 8
COOKIE = "gridplan_token"


def resolve_token(given: str | None, token_file: Path | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The desk's token: ``--token-file`` (its first line), else ``--token``, else ``GRIDPLAN_TOKEN``; None when
    none is set.

    Raises:
        GridplanError: the file cannot be read, or the token is blank, shorter than ``MIN_TOKEN_CHARS``
            characters or holds a control character.
    """
    environ = os.environ if environ is None else environ
    where = "GRIDPLAN_TOKEN"
    token = environ.get("GRIDPLAN_TOKEN") or None
    if given is not None:
        token, where = given, "--token"
    if token_file is not None:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
            token = lines[0] if lines else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise GridplanError(f"--token-file {token_file}: cannot read the token ({exc})") from None
        where = f"--token-file {token_file}"
    if token is None:
        return None
    if not token.strip():
        raise GridplanError(f"{where}: the token is blank; give at least {MIN_TOKEN_CHARS} characters")
    if len(token) < MIN_TOKEN_CHARS:
        raise GridplanError(
            f"{where}: the token has {len(token)} characters; give at least {MIN_TOKEN_CHARS} (hard to guess)"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in token):
        raise GridplanError(f"{where}: the token holds a control character; use printable characters")
    return token


def desk_url(host: str, port: int, token: str | None) -> str:
    """The address to open, the token percent-encoded (``a+b#c`` arrives as ``a+b#c``)."""
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={urllib.parse.quote(token, safe='')}" if token else ""
    return f"http://{shown}:{port}/{query}"


def _cookie_value(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"gridplan desk session", hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def _hostname(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8050`` -> ``::1``, ``Localhost:80`` -> ``localhost``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class _HideToken(logging.Filter):
    """Hide ``token=...`` in the access log's request lines."""

    PATTERN = re.compile(r"((?:\?|&|%3F|%26)token=)[^&\s\"]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.PATTERN.sub(r"\1(hidden)", str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(self.PATTERN.sub(r"\1(hidden)", a) if isinstance(a, str) else a for a in record.args)
        return True


def install(server: Any, host: str, token: str | None) -> None:
    """Put the guards in front of every request of the desk's Flask ``server``."""
    from flask import Response, request
    from werkzeug.exceptions import HTTPException

    server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, _HideToken) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(_HideToken())
    names = {*LOCAL_HOSTS, _hostname(host)}
    check_host = host not in WILDCARD_HOSTS

    def refuse(why: str) -> Response:
        return Response(f"gridplan desk: request refused: {why}\n", status=403, mimetype="text/plain")

    @server.before_request
    def _guard() -> Response | None:
        if check_host and _hostname(request.host) not in names:
            return refuse(f"Host {request.host!r} is not this desk's address; open the address the desk printed")
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"{request.scheme}://{request.host}".lower():
            return refuse(f"a page of another site ({origin!r}) may not use the desk")
        if token:
            given = request.args.get("token") or request.headers.get("X-Gridplan-Token")
            cookie = request.cookies.get(COOKIE)
            if not ((given and _same(given, token)) or (cookie and _same(cookie, _cookie_value(token)))):
                return refuse("a valid access token is needed (?token=... in the address the desk printed)")
        return None

    @server.after_request
    def _remember(resp: Response) -> Response:
        given = request.args.get("token")
        if token and given and _same(given, token):
            resp.set_cookie(COOKIE, _cookie_value(token), httponly=True, samesite="Strict")
        return resp

    @server.errorhandler(Exception)
    def _unusable(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        log.warning("desk: refused a request to %s: %s: %s", request.path, type(exc).__name__, exc)
        return Response("gridplan desk: the request could not be used\n", status=400, mimetype="text/plain")
