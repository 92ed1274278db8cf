"""Who may use the proxy: tokens and their roles, ``Host`` and ``Origin`` checks. No I/O.

An inspector port is remote code execution for whoever reaches it (``Runtime.evaluate``
runs anything in the target), so the proxy in front of one is the security boundary
(docs/proxy-security.md). Every request, plain HTTP or WebSocket upgrade, passes
:meth:`Guard.admit` before anything else happens:

1. ``Host`` must be an IP address, ``localhost``, the listen host or an ``--allow-host``
   name: a DNS-rebinding page (``evil.example`` re-resolved to 127.0.0.1) sends its own
   name, never an IP literal.
2. ``Origin``, when present, must be ``devtools://devtools``, a loopback origin
   (``http://127.0.0.1:*``, ``http://localhost:*``, ``http://[::1]:*``) or an
   ``--allow-origin`` value: a web page on another site cannot drive the target.
3. When tokens are configured, one must be offered, either as ``Authorization: Bearer TOKEN``
   or as the first path segment (``/TOKEN/json/list``, ``ws://HOST:PORT/TOKEN/ID``: the
   DevTools frontend cannot send headers). None: 401; a wrong one: 403. Tokens are compared
   with :func:`hmac.compare_digest`, against every role, without stopping at a match.

The role that matched (``token``, ``profiling-token``, or ``no-token`` when none are
configured) carries the :class:`~cdp_heap_proxy._policy.MethodPolicy` of its clients.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Collection

import attrs

from ._policy import ALLOW_ALL, MethodPolicy

MIN_TOKEN_LENGTH = 16
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")  # unreserved URL characters: path-safe
_LOOPBACK_ORIGIN = re.compile(r"^https?://(127(\.\d{1,3}){3}|localhost|\[::1\])(:\d{1,5})?$")
DEVTOOLS_ORIGIN = "devtools://devtools"


class Refused(Exception):
    """A request the proxy refuses: HTTP ``status`` and a message saying why and what to do.
    ``headers`` go into the response (``WWW-Authenticate`` with 401)."""

    def __init__(
        self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@attrs.frozen
class Role:
    """A kind of client: ``name`` (in audit lines), its token, what it may call."""

    name: str
    token: str | None
    policy: MethodPolicy = ALLOW_ALL

    @property
    def path_prefix(self) -> str:
        """What the URLs handed to this role start with: ``/TOKEN``, or nothing."""
        return "" if self.token is None else f"/{self.token}"


NO_TOKEN = Role("no-token", None)


def check_token(token: str, option: str = "--token") -> str:
    """A usable token, or ``ValueError`` saying why not (it travels in URL paths)."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"{option}: a token needs at least {MIN_TOKEN_LENGTH} characters "
            "(use --token auto to generate one)"
        )
    if not _TOKEN_CHARS.match(token):
        raise ValueError(
            f"{option}: a token may contain only letters, digits and . _ ~ - "
            "(it is used in URL paths)"
        )
    return token


def generate_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the port on this machine. Only IP literals and
    ``localhost`` count: any other name may resolve anywhere."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    name, _, port = value.rpartition(":")
    return name if name and port.isdigit() else value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@attrs.frozen
class Guard:
    """The access rules of one proxy."""

    roles: tuple[Role, ...] = (NO_TOKEN,)
    listen_host: str = "127.0.0.1"
    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        tokens = [r.token for r in self.roles]
        if not self.roles or (None in tokens and len(tokens) > 1):
            raise ValueError("either one role without a token, or roles that all have one")
        if len(set(tokens)) != len(tokens):
            raise ValueError("two roles have the same token")

    @property
    def requires_token(self) -> bool:
        return self.roles[0].token is not None

    def admit(
        self,
        *,
        host: str | None,
        origin: str | None,
        path: str,
        authorization: str | None,
        endpoints: Collection[str],
    ) -> tuple[Role, str]:
        """All the checks, in order (Host, Origin, token): the request's role and its path
        without the token. Raises :class:`Refused`."""
        self.check_host(host)
        self.check_origin(origin)
        return self.authenticate(path, authorization, endpoints)

    def check_host(self, host_header: str | None) -> None:
        """Raise :class:`Refused` unless ``Host`` names this proxy (DNS-rebinding defence).
        Browsers always send one; a missing ``Host`` is a script and passes."""
        if host_header is None:
            return
        name = _host_name(host_header).rstrip(".")
        allowed = {"localhost", self.listen_host.lower()} | {h.lower() for h in self.allowed_hosts}
        if _is_ip(name) or name in allowed:
            return
        raise Refused(
            403,
            f"Host {host_header!r} is not allowed (DNS-rebinding protection): only IP "
            "addresses, localhost and --allow-host names are; start the proxy with "
            f"--allow-host {name} if this name is yours",
        )

    def check_origin(self, origin: str | None) -> None:
        """Raise :class:`Refused` unless ``Origin`` is absent, DevTools', loopback or allowed."""
        if origin is None:
            return
        value = origin.strip().rstrip("/").lower()
        if (
            value == DEVTOOLS_ORIGIN
            or _LOOPBACK_ORIGIN.match(value)
            or value in {o.rstrip("/").lower() for o in self.allowed_origins}
            or "*" in self.allowed_origins
        ):
            return
        raise Refused(
            403,
            f"Origin {origin!r} is not allowed: a web page may not drive the inspector. "
            "Allowed: no Origin, devtools://devtools, loopback origins and --allow-origin values",
        )

    def authenticate(
        self, path: str, authorization: str | None, endpoints: Collection[str]
    ) -> tuple[Role, str]:
        """The role of a request and its path without the token segment.

        ``endpoints`` are the first path segments the proxy serves (``json``, the proxy
        id, ...): a request for one of them without a token is *missing* one (401), any
        other first segment is taken as a (wrong) token (403).
        """
        if not self.requires_token:
            return self.roles[0], path
        header_role: Role | None = None
        if authorization is not None:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Refused(401, "Authorization must be 'Bearer TOKEN'", _CHALLENGE)
            header_role = self._match(value.strip())
            if header_role is None:
                raise Refused(403, "wrong token")
        segment, _, rest = path.lstrip("/").partition("/")
        path_role = None if segment in endpoints else self._match(segment)
        if path_role is not None:
            path = "/" + rest
        if header_role is not None and path_role is not None and header_role != path_role:
            raise Refused(403, "two different tokens in one request")
        role = path_role or header_role
        if role is not None:
            return role, path
        if segment in endpoints or not segment:
            raise Refused(
                401,
                "this proxy needs a token: send 'Authorization: Bearer TOKEN', or put it "
                "first in the path (/TOKEN/json/list, ws://HOST:PORT/TOKEN/ID)",
                _CHALLENGE,
            )
        raise Refused(403, "wrong token")

    def _match(self, candidate: str) -> Role | None:
        """The role whose token equals ``candidate``; every token is compared, in
        constant time."""
        found = None
        given = candidate.encode()
        for role in self.roles:
            assert role.token is not None
            if hmac.compare_digest(given, role.token.encode()):
                found = role
        return found


_CHALLENGE = (("WWW-Authenticate", 'Bearer realm="cdp-heap proxy"'),)
