"""Webhook signatures as Standard Webhooks defines them, and the SSRF guard on targets."""

from __future__ import annotations

import ipaddress
import time

import pytest

from ioc_alerts.channels.webhook import new_secret, sign, verify
from ioc_alerts.ssrf import (
    UnsafeTarget,
    check_address,
    check_webhook_url,
    embedded_ipv4,
    parse_networks,
    pinned,
)


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The test vector of the standard-webhooks reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_receiver_verifies_a_signature_and_rejects_tampering() -> None:
    secret = new_secret()
    now = int(time.time())
    body = '{"type":"ioc.alerts.notification","data":{"x":"Lâm Bình"}}'.encode()
    headers = {
        "webhook-id": "ntf_abc_0_webhook",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, "ntf_abc_0_webhook", now, body),
    }
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify(new_secret(), headers, body)
    old = headers | {"webhook-timestamp": str(now - 3600)}
    old["webhook-signature"] = sign(secret, "ntf_abc_0_webhook", now - 3600, body)
    assert not verify(secret, old, body)  # replayed too late


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        # Found by tests/reliability: the shared address space (RFC 6598) was let through.
        "http://100.64.0.1/hook",
        "http://100.100.100.200/latest/meta-data",
        "ftp://example.org/hook",
        "http://user:pw@example.org/hook",
    ],
)
async def test_webhook_targets_in_private_networks_are_refused_by_default(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        await check_webhook_url(url, [])


async def test_an_allow_list_admits_a_configured_private_network() -> None:
    allowed = parse_networks(["127.0.0.0/8"])
    await check_webhook_url("http://127.0.0.1:9000/hook", allowed)
    with pytest.raises(UnsafeTarget):
        await check_webhook_url("http://10.0.0.1/hook", allowed)


async def test_a_public_address_is_accepted() -> None:
    addresses = await check_webhook_url("https://93.184.215.14/hook", [])
    assert [str(a) for a in addresses] == ["93.184.215.14"]


#: IPv6 forms that carry an IPv4 address, with the address they carry and whether the guard
#: must refuse them. Teredo's client is the bitwise NOT of the last 32 bits: 80ff:fffe is
#: 127.0.0.1; its server (bits 32-63) 4136:e378 is 65.54.227.120.
EMBEDDED = [
    # 6to4, 2002:AABB:CCDD::/48
    ("2002:7f00:0001::1", "127.0.0.1", True),
    ("2002:0a00:0001::1", "10.0.0.1", True),
    ("2002:a9fe:a9fe::1", "169.254.169.254", True),
    ("2002:6440:0001::1", "100.64.0.1", True),
    ("2002:5db8:d70e::1", "93.184.215.14", False),
    # IPv4-mapped
    ("::ffff:127.0.0.1", "127.0.0.1", True),
    ("::ffff:10.1.2.3", "10.1.2.3", True),
    ("::ffff:93.184.215.14", "93.184.215.14", False),
    # IPv4-translated (SIIT)
    ("::ffff:0:127.0.0.1", "127.0.0.1", True),
    # IPv4-compatible (deprecated: refused whatever it carries)
    ("::127.0.0.1", "127.0.0.1", True),
    ("::a9fe:a9fe", "169.254.169.254", True),
    ("::93.184.215.14", "93.184.215.14", True),
    # NAT64 well-known prefix 64:ff9b::/96
    ("64:ff9b::7f00:1", "127.0.0.1", True),
    ("64:ff9b::a00:1", "10.0.0.1", True),
    ("64:ff9b::c0a8:101", "192.168.1.1", True),
    ("64:ff9b::5db8:d70e", "93.184.215.14", False),
    # NAT64 local-use prefix 64:ff9b:1::/48 (never global itself)
    ("64:ff9b:1::7f00:1", "127.0.0.1", True),
    ("64:ff9b:1::5db8:d70e", "93.184.215.14", True),
    # Teredo 2001:0::/32 — loopback client, private server
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1", True),
    ("2001:0:0a00:0001:8000:63bf:3fff:fdd2", "10.0.0.1", True),
    # ISATAP interface identifiers under a global prefix (0000:5efe, u bit 0200:5efe, g bit)
    ("2a00:1450::5efe:7f00:1", "127.0.0.1", True),
    ("2a00:1450::200:5efe:a00:1", "10.0.0.1", True),
    ("2a00:1450::100:5efe:a9fe:a9fe", "169.254.169.254", True),
    ("2a00:1450::200:5efe:5db8:d70e", "93.184.215.14", False),
]


@pytest.mark.parametrize(("address", "carried", "refused"), EMBEDDED)
async def test_ipv6_forms_carrying_ipv4_are_judged_by_the_ipv4_they_carry(
    address: str, carried: str, refused: bool
) -> None:
    url = f"http://[{address}]:8080/hook"
    if refused:
        with pytest.raises(UnsafeTarget):
            await check_webhook_url(url, [])
    else:
        assert await check_webhook_url(url, []) == [ipaddress.IPv6Address(address)]
    assert ipaddress.IPv4Address(carried) in embedded_ipv4(ipaddress.IPv6Address(address))[1]


@pytest.mark.parametrize("address", ["2606:4700:4700::1111", "2001:4860:4860::8888"])
async def test_plain_public_ipv6_addresses_are_accepted(address: str) -> None:
    assert embedded_ipv4(ipaddress.IPv6Address(address)) == (False, [])
    await check_webhook_url(f"https://[{address}]/hook", [])


def test_an_allow_listed_ipv4_network_admits_its_ipv6_wrappings() -> None:
    allowed = parse_networks(["127.0.0.0/8"])
    for address in ("2002:7f00:1::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"):
        check_address(ipaddress.IPv6Address(address), allowed)
    with pytest.raises(UnsafeTarget, match=r"carries 10\.0\.0\.1"):
        check_address(ipaddress.IPv6Address("2002:a00:1::1"), allowed)


def test_a_send_goes_to_the_checked_address_under_the_url_s_name() -> None:
    target = pinned("https://Hooks.Example.org:8443/a?x=1", ipaddress.ip_address("93.184.215.14"))
    assert str(target.url) == "https://93.184.215.14:8443/a?x=1"
    # TLS: no reuse of a connection verified for another name on the same address.
    assert target.headers == {"host": "hooks.example.org:8443", "connection": "close"}
    assert target.extensions == {"sni_hostname": "hooks.example.org"}
    v6 = pinned("http://hooks.example.org/h", ipaddress.ip_address("2606:4700:4700::1111"))
    assert str(v6.url) == "http://[2606:4700:4700::1111]/h"
