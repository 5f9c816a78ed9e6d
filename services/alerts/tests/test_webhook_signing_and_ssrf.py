"""Webhook signatures as Standard Webhooks defines them, and the SSRF guard on targets."""

from __future__ import annotations

import time

import pytest

from ioc_alerts.channels.webhook import new_secret, sign, verify
from ioc_alerts.ssrf import UnsafeTarget, check_webhook_url, parse_networks


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
