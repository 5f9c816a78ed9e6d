"""How a Kafka client proves who it is: one place turns the settings into aiokafka's keyword
arguments, and every producer, consumer and admin client of the platform is built with them."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from ioc_common.settings import ServiceSettings


def client_security(settings: ServiceSettings) -> dict[str, Any]:
    """aiokafka keyword arguments (``security_protocol``, ``ssl_context``, ``sasl_*``) for the
    settings' Kafka security; PLAINTEXT, the default, adds nothing else."""
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile or None,
            certfile=settings.kafka_ssl_certfile or None,
            keyfile=settings.kafka_ssl_keyfile or None,
        )
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return kwargs
