"""Webhook targets must not reach into the platform's own network (SSRF): a host that
resolves to a loopback, private, link-local, multicast, reserved, unspecified or otherwise
not globally routable address is refused, IPv4 and IPv6 alike, unless an allow-listed network
covers it.

IPv6 addresses that carry an IPv4 address are judged by that IPv4 address too
(:func:`embedded_ipv4`), so ``2002:7f00:1::1`` (6to4 of 127.0.0.1) is as refused as
``127.0.0.1``:

* translation forms, whose packets end at the IPv4 address — IPv4-mapped ``::ffff:a.b.c.d``,
  IPv4-translated ``::ffff:0:a.b.c.d`` and NAT64 well-known ``64:ff9b::a.b.c.d`` — are judged
  by the IPv4 address alone (so a DNS64 network can still reach public receivers);
* the other forms — IPv4-compatible ``::a.b.c.d``, 6to4 ``2002:AABB:CCDD::/48``, Teredo
  ``2001:0::/32`` (server and client), NAT64 local-use ``64:ff9b:1::/48`` (IPv4 address in
  its last 32 bits) and ISATAP interface identifiers ``…:0000:5efe:a.b.c.d`` under any prefix
  (``0200:5efe``, u/g bits set, too: a host with an ISATAP interface tunnels to that IPv4
  address) — need both the IPv4 address and the IPv6 address itself to pass.

The check runs when a URL is saved and again before each send, on the addresses the host
resolves to then; the request then goes to the checked address (:func:`pinned`), so a name
that resolves elsewhere a moment later (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeTarget(ValueError):
    """A webhook URL the service refuses to call."""


def parse_networks(cidrs: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
#: The ISATAP interface identifier's upper half, ``0000:5efe``, ignoring its u and g bits.
_ISATAP_MASK = 0xFCFF_FFFF
_ISATAP_MARK = 0x0000_5EFE


def _low32(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)


def embedded_ipv4(address: IPAddress) -> tuple[bool, list[ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, and whether it is a pure translation form
    (one judged by its IPv4 address alone). ``(False, [])`` for any other address."""
    if isinstance(address, ipaddress.IPv4Address):
        return False, []
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return True, [address.ipv4_mapped]
    if address in _IPV4_TRANSLATED or address in _NAT64_WELL_KNOWN:
        return True, [_low32(address)]
    if address in _IPV4_COMPATIBLE:  # ::a.b.c.d (deprecated), also :: and ::1
        return False, [_low32(address)]
    if address.sixtofour is not None:  # 2002:AABB:CCDD::/48
        return False, [address.sixtofour]
    if address.teredo is not None:  # 2001:0::/32: (server, client = NOT of the last 32 bits)
        server, client = address.teredo
        return False, [server, client]
    if address in _NAT64_LOCAL_USE:
        return False, [_low32(address)]
    if (int(address) >> 32) & _ISATAP_MASK == _ISATAP_MARK:  # …:0000:5efe:a.b.c.d, RFC 5214
        return False, [_low32(address)]
    return False, []


def _public(address: IPAddress) -> bool:
    blocked = (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        # Not globally routable although none of the above, e.g. the shared address space
        # 100.64.0.0/10 where some clouds keep their metadata service (100.100.100.200).
        or not address.is_global
    )
    if isinstance(address, ipaddress.IPv6Address):
        blocked = blocked or address.is_site_local
    return not blocked


def _acceptable(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    return _public(address) or any(address in network for network in allowed)


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    translation, carried = embedded_ipv4(address)
    for ipv4 in carried:
        if not _acceptable(ipv4, allowed):
            raise UnsafeTarget(
                f"{address} carries {ipv4}, which is not a public address "
                "(loopback/private/reserved)"
            )
    if translation or _acceptable(address, allowed):
        return
    raise UnsafeTarget(f"{address} is not a public address (loopback/private/reserved)")


def check_url_shape(url: str) -> tuple[str, int]:
    """An absolute http(s) URL without credentials; returns (host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("webhook URL must use http or https")
    if not parts.hostname:
        raise UnsafeTarget("webhook URL has no host")
    if parts.username or parts.password:
        raise UnsafeTarget("webhook URL must not carry credentials")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def check_webhook_url(url: str, allowed: Sequence[IPNetwork]) -> list[IPAddress]:
    """Resolve the URL's host and check every address it resolves to; returns them."""
    host, port = check_url_shape(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, allowed)
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UnsafeTarget(f"cannot resolve {host}: {err.strerror}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"{host} resolves to no address")
    for address in addresses:
        check_address(address, allowed)
    return addresses


@dataclass(frozen=True, slots=True)
class PinnedRequest:
    """Where to send a request so that it reaches the address that was checked."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str]


def pinned(url: str, address: IPAddress) -> PinnedRequest:
    """The URL with its host replaced by the checked ``address``; the ``Host`` header and the
    TLS server name (SNI, and the name the certificate is verified against) stay the URL's."""
    original = httpx.URL(url)
    headers = {"host": original.netloc.decode("ascii")}
    if original.scheme == "https":
        # The pool knows the connection by IP address only: a TLS connection verified for one
        # name must not be reused for another name on the same address.
        headers["connection"] = "close"
    return PinnedRequest(
        original.copy_with(host=str(address)),
        headers,
        {"sni_hostname": original.raw_host.decode("ascii")},
    )
