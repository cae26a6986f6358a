"""All outbound HTTP goes through here: timeouts and an SSRF guard.

Link-local (169.254.0.0/16 and fe80::/10, where cloud metadata lives), multicast,
unspecified and reserved addresses are always refused. Loopback and private ranges only
when settings.ALLOW_PRIVATE_URLS is on (`make run` sets it for a local demo; leave it off
in production). The check runs on every address the host name resolves to, at send time
too, because DNS can change between creation and use.

post_json() is the one sender: it resolves the host once, checks every address, and then
connects to a checked address (pinned), so a DNS answer that changes between the check
and the connection (rebinding) cannot steer the request elsewhere. Timeouts always apply
and redirects are never followed.
"""

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import httpcore
import httpx
from django.conf import settings

USER_AGENT = "Switchboard-Webhooks/1.0"


class UnsafeURL(ValueError):
    pass


class UnresolvableHost(UnsafeURL):
    """The host name did not resolve (perhaps only for now): nothing to check, nothing sent."""


def _address_problem(ip: ipaddress._BaseAddress) -> str | None:
    if ip.is_link_local:
        return "is link-local (cloud metadata range)"
    if ip.is_multicast:
        return "is multicast"
    if ip.is_unspecified:
        return "is unspecified"
    if ip.is_reserved:
        return "is reserved"
    if not settings.ALLOW_PRIVATE_URLS and (ip.is_loopback or ip.is_private or not ip.is_global):
        return "is loopback or private (set ALLOW_PRIVATE_URLS=1 to allow)"
    return None


def resolve_checked(url: str) -> list[str]:
    """The safe addresses `url`'s host resolves to; UnsafeURL otherwise."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURL("must be an http or https URL")
    host = parsed.hostname
    if not host:
        raise UnsafeURL("has no host")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("has an invalid port") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnresolvableHost(f"host {host!r} does not resolve") from None
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        problem = _address_problem(ip)
        if problem:
            raise UnsafeURL(f"resolves to {ip}, which {problem}")
        addresses.append(str(ip))
    return addresses


def check_url(url: str) -> None:
    resolve_checked(url)


# --- sending ----------------------------------------------------------------------------

EXCERPT_CHARS = 500
_READ_LIMIT = 4096  # bytes of a response body we read at most; the rest is never downloaded


class OutboundError(Exception):
    """The request could not be completed (timeout, refused connection, TLS, protocol).

    Transient by nature: callers retry these. UnsafeURL is separate and raised before any
    connection is attempted.
    """


@dataclass(frozen=True)
class OutboundResponse:
    status_code: int
    text_excerpt: str
    duration_ms: int
    reason_phrase: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the addresses the guard already checked, whatever host httpcore asks for.

    This is what defeats DNS rebinding: the name is resolved once, in resolve_checked(),
    and the socket goes to that checked address. Only the TCP target changes; the URL's
    host still goes into the Host header and the TLS SNI / certificate check, because
    httpcore takes those from the request, not from this backend.
    """

    def __init__(self, addresses: list[str]):
        super().__init__()
        self._addresses = addresses

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last_error: Exception | None = None
        for address in self._addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the next checked address (IPv6/IPv4 pairs)
                last_error = exc
        raise last_error or httpcore.ConnectError("no address to connect to")


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self, addresses: list[str]):
        # trust_env=False: an HTTP(S)_PROXY from the environment would bypass the pinning.
        super().__init__(trust_env=False, retries=0)
        # httpx has no public hook for the network backend; its transport is a thin shell
        # around an httpcore pool, so we give it a pool built on the pinned backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpcore.default_ssl_context(),
            max_connections=1,
            network_backend=_PinnedBackend(addresses),
        )


def _encode(payload: object) -> bytes:
    """Pre-serialised payloads (str/bytes) go out byte for byte: signatures cover them."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def post_json(url: str, payload: object, headers: dict[str, str] | None = None, timeout: float | None = None) -> OutboundResponse:
    """POST JSON to `url` through the SSRF guard; the response is read only in excerpt.

    Raises UnsafeURL (nothing was sent) or OutboundError (sent or not, no answer). Any HTTP
    status, 3xx included, is returned as is: redirects are never followed, since the
    target of a redirect would escape the guard.
    """
    addresses = resolve_checked(url)
    timeout = float(timeout or settings.OUTBOUND_HTTP_TIMEOUT)
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    started = time.monotonic()
    try:
        with httpx.Client(
            transport=_PinnedTransport(addresses), timeout=timeout, follow_redirects=False, trust_env=False
        ) as client:
            with client.stream("POST", url, content=_encode(payload), headers=all_headers) as response:
                excerpt = _read_excerpt(response)
    except httpx.TimeoutException:
        raise OutboundError(f"timed out after {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise OutboundError(f"connection failed: {exc or type(exc).__name__}") from None
    duration_ms = int((time.monotonic() - started) * 1000)
    return OutboundResponse(response.status_code, excerpt, duration_ms, response.reason_phrase)


def _read_excerpt(response: httpx.Response) -> str:
    received = b""
    for chunk in response.iter_bytes():
        received += chunk
        if len(received) >= _READ_LIMIT:
            break
    return received[:_READ_LIMIT].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
