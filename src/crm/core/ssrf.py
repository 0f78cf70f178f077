"""The outbound-URL guard: every request the server makes to a user-supplied URL goes through it
(RELIABILITY F1; OWASP ASVS 1.3.6, 15.3.2, 13.2.4).

- only ``http`` and ``https``, no credentials in the URL;
- host names that only look like numbers (``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
  ``127.1``) are refused outright: resolvers read them as addresses in ways people do not;
- the name is resolved here, and every address it resolves to must be public (not private,
  loopback, link-local, multicast, reserved, unspecified, shared, nor an IPv4-mapped, 6to4,
  Teredo or NAT64 form of one);
- the connection goes to the address that was checked (pinned: a second, different DNS answer
  cannot redirect it — DNS rebinding), with the name in the Host header and TLS SNI, and the
  certificate checked against the name;
- redirects are never followed; time-out 5 s; at most 1 MiB of the answer is read.

``allow_private=True`` (set on a webhook by an administrator) also admits private and loopback
addresses; link-local (cloud metadata at 169.254.169.254), multicast and unspecified stay refused.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from django.utils.translation import gettext_lazy as _

from .errors import ValidationFailed

TIMEOUT = 5.0
MAX_RESPONSE_BYTES = 1024 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: a host made only of digits, hex numbers and dots: an IP address in some encoding
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*$", re.IGNORECASE)
_PATH_SAFE = "/?&=%:@!$'()*+,;~-._[]"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedURL(ValidationFailed):
    """The URL may not be requested by the server."""

    code = "url_refused"
    default_message = _("This URL is not allowed.")

    def __init__(self, message: Any = None) -> None:
        super().__init__(message, field_errors={"url": [str(message or self.default_message)]})


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to ``ip``, speak to ``host``."""

    scheme: str
    host: str  # the name (IDNA) or the canonical literal address
    port: int
    path: str  # path and query string
    ip: str  # the checked address to connect to

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated) ::a.b.c.d
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def address_refusal(ip: IPAddress, allow_private: bool = False) -> str | None:
    """Why the server may not connect to ``ip`` (None when it may)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return address_refusal(inner, allow_private)
        if ip.scope_id:
            return "scoped"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_link_local:
        return "link-local"
    if allow_private and (ip.is_private or ip.is_loopback):
        return None
    if ip.is_loopback:
        return "loopback"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def _refused(reason: str) -> BlockedURL:
    return BlockedURL(
        _("The URL points at an address the server may not reach (%(reason)s).")
        % {"reason": reason}
    )


def parse(url: str) -> tuple[str, str, int, str, IPAddress | None]:
    """Check the URL's form: ``(scheme, host, port, path, literal address or None)``."""
    url = (url or "").strip()
    if not url or len(url) > 500 or any(ord(c) < 33 for c in url):
        raise BlockedURL(_("Enter a valid URL starting with https:// or http://."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlockedURL(_("Enter a valid URL starting with https:// or http://.")) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedURL(_("Only http:// and https:// URLs are allowed."))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BlockedURL(_("A URL may not contain a user name or password."))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURL(_("Enter a valid URL starting with https:// or http://."))
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    if port < 1:
        raise BlockedURL(_("Enter a valid URL starting with https:// or http://."))
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    literal: IPAddress | None = None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_HOST.match(host):
            raise _refused("numeric host") from None
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise BlockedURL(_("Enter a valid URL starting with https:// or http://.")) from None
        if host == "localhost" or host.endswith(".localhost"):
            literal = ipaddress.ip_address("127.0.0.1")
    else:
        host = literal.compressed
    return scheme, host, port, path, literal


def check_url(url: str, allow_private: bool = False, *, resolve_names: bool = True) -> Target:
    """The checked :class:`Target` of ``url``, or :class:`BlockedURL`.

    A name that resolves to any refused address is refused as a whole. With
    ``resolve_names=False`` (saving a form) a name that does not resolve is let through: it is
    resolved and checked again at every delivery.
    """
    scheme, host, port, path, literal = parse(url)
    if literal is not None:
        reason = address_refusal(literal, allow_private)
        if reason:
            raise _refused(reason)
        return Target(scheme, host, port, path, literal.compressed)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        if not resolve_names:
            return Target(scheme, host, port, path, "")
        raise BlockedURL(_("The host name could not be resolved.")) from None
    checked: list[IPAddress] = []
    for raw in addresses:
        try:
            ip = ipaddress.ip_address(raw.split("%")[0])
        except ValueError:
            raise _refused("unparsable address") from None
        reason = address_refusal(ip, allow_private)
        if reason:
            raise _refused(reason)
        checked.append(ip)
    if not checked:
        raise BlockedURL(_("The host name could not be resolved."))
    return Target(scheme, host, port, path, checked[0].compressed)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._ip = target.ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._ip = target.ip
        self._server_name = target.host

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name)  # type: ignore[attr-defined]


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool = False,
    timeout: float = TIMEOUT,
) -> Response:
    """POST ``body`` to ``url`` through the guard. Redirects are answers, never followed.

    Raises :class:`BlockedURL` for a refused URL and ``OSError`` (incl. time-outs and TLS
    errors) or ``http.client.HTTPException`` for network failures.
    """
    target = check_url(url, allow_private)
    conn_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = conn_class(target, timeout)
    try:
        conn.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        data = answer.read(MAX_RESPONSE_BYTES)
        return Response(answer.status, data, {k.lower(): v for k, v in answer.getheaders()})
    finally:
        conn.close()
