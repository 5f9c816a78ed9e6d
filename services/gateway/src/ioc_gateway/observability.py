"""The gateway's Prometheus metrics, on the registry the app is given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from ioc_common.observability import MetricFactory


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        new = MetricFactory(registry)
        self.clients = new.gauge(
            "ioc_gateway_live_clients", "Connected live-feed clients", ["transport"]
        )
        self.pushed = new.counter(
            "ioc_gateway_live_messages_pushed",
            "Live-feed messages written to clients",
            ["transport", "type"],
        )
        self.dropped = new.counter(
            "ioc_gateway_live_messages_dropped",
            "Live-feed messages dropped for a slow client (it is told to resynchronise)",
            ["type"],
        )
        self.coalesced = new.counter(
            "ioc_gateway_live_messages_coalesced",
            "Metric updates replaced by a newer one for the same aggregate before a slow "
            "client read them",
        )
        self.sampled = new.counter(
            "ioc_gateway_live_telemetry_sampled_out",
            "Telemetry events not shown on a client's ticker because of its rate limit",
        )
        self.slow_disconnects = new.counter(
            "ioc_gateway_live_slow_disconnects",
            "Clients disconnected because they fell too far behind",
        )
        self.login_lockouts = new.counter(
            "ioc_gateway_login_lockouts",
            "Usernames locked after repeated failed logins (password guessing?)",
        )
        self.login_throttled = new.counter(
            "ioc_gateway_login_throttled", "Login attempts refused because the username is locked"
        )
        self.consumed = new.counter(
            "ioc_gateway_feed_consumed", "Kafka records read by the live feed", ["topic"]
        )
        self.undecodable = new.counter(
            "ioc_gateway_feed_undecodable",
            "Kafka records the live feed could not decode (skipped)",
            ["topic"],
        )
        self.upstream_errors = new.counter(
            "ioc_gateway_upstream_errors",
            "Failed calls to the metrics or alerts service",
            ["service", "reason"],
        )
