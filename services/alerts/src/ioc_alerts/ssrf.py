"""Webhook targets must not reach into the platform's own network (SSRF): a host that
resolves to a loopback, private, link-local, multicast, reserved, unspecified or otherwise
not globally routable address is refused, IPv4 and IPv6 alike, unless an allow-listed network
covers it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeTarget(ValueError):
    """A webhook URL the service refuses to call."""


def parse_networks(cidrs: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _public(address.ipv4_mapped)
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


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    if _public(address):
        return
    if any(address in network for network in allowed):
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
