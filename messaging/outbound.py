"""All outbound HTTP goes through here: timeouts and an SSRF guard.

Link-local (169.254.0.0/16 and fe80::/10, where cloud metadata lives), multicast,
unspecified and reserved addresses are always refused. Loopback and private ranges only
when settings.ALLOW_PRIVATE_URLS is on (`make run` sets it for a local demo; leave it off
in production). The check runs on every address the host name resolves to, at send time
too, because DNS can change between creation and use.
"""

import ipaddress
import socket
from urllib.parse import urlparse

from django.conf import settings


class UnsafeURL(ValueError):
    pass


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
        raise UnsafeURL(f"host {host!r} does not resolve") from None
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
