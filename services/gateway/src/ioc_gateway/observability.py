"""The gateway's Prometheus metrics, on the registry the app is given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.clients = Gauge(
            "ioc_gateway_live_clients",
            "Connected live-feed clients",
            ["transport"],
            registry=registry,
        )
        self.pushed = Counter(
            "ioc_gateway_live_messages_pushed",
            "Live-feed messages written to clients",
            ["transport", "type"],
            registry=registry,
        )
        self.dropped = Counter(
            "ioc_gateway_live_messages_dropped",
            "Live-feed messages dropped for a slow client (it is told to resynchronise)",
            ["type"],
            registry=registry,
        )
        self.coalesced = Counter(
            "ioc_gateway_live_messages_coalesced",
            "Metric updates replaced by a newer one for the same aggregate before a slow "
            "client read them",
            registry=registry,
        )
        self.sampled = Counter(
            "ioc_gateway_live_telemetry_sampled_out",
            "Telemetry events not shown on a client's ticker because of its rate limit",
            registry=registry,
        )
        self.slow_disconnects = Counter(
            "ioc_gateway_live_slow_disconnects",
            "Clients disconnected because they fell too far behind",
            registry=registry,
        )
        self.login_lockouts = Counter(
            "ioc_gateway_login_lockouts",
            "Usernames locked after repeated failed logins (password guessing?)",
            registry=registry,
        )
        self.login_throttled = Counter(
            "ioc_gateway_login_throttled",
            "Login attempts refused because the username is locked",
            registry=registry,
        )
        self.consumed = Counter(
            "ioc_gateway_feed_consumed",
            "Kafka records read by the live feed",
            ["topic"],
            registry=registry,
        )
        self.undecodable = Counter(
            "ioc_gateway_feed_undecodable",
            "Kafka records the live feed could not decode (skipped)",
            ["topic"],
            registry=registry,
        )
        self.upstream_errors = Counter(
            "ioc_gateway_upstream_errors",
            "Failed calls to the metrics or alerts service",
            ["service", "reason"],
            registry=registry,
        )
