"""Settings of the gateway (environment prefix ``IOC_GATEWAY_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ioc_common.secrets import SecretValue
from ioc_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_GATEWAY_", extra="ignore", frozen=True)

    #: The metrics and alerts services; ``ioc dev`` sets ``IOC_METRICS_URL``/``IOC_ALERTS_URL``.
    metrics_url: str = Field(
        default="http://127.0.0.1:8001",
        validation_alias=AliasChoices("IOC_GATEWAY_METRICS_URL", "IOC_METRICS_URL", "metrics_url"),
    )
    alerts_url: str = Field(
        default="http://127.0.0.1:8002",
        validation_alias=AliasChoices("IOC_GATEWAY_ALERTS_URL", "IOC_ALERTS_URL", "alerts_url"),
    )
    #: Sent as ``Authorization: Bearer`` to the alerts service when it requires one.
    alerts_service_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "IOC_GATEWAY_ALERTS_SERVICE_TOKEN", "IOC_ALERTS_SERVICE_TOKEN", "alerts_service_token"
        ),
    )
    #: Sent as ``Authorization: Bearer`` to the metrics service (its ``IOC_METRICS_SERVICE_TOKEN``).
    metrics_service_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "IOC_GATEWAY_METRICS_SERVICE_TOKEN",
            "IOC_METRICS_SERVICE_TOKEN",
            "metrics_service_token",
        ),
    )
    #: Signs the operator identity the alerts service acts on (its ``IOC_ALERTS_ACTOR_KEY``).
    actor_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("IOC_GATEWAY_ACTOR_KEY", "IOC_ALERTS_ACTOR_KEY", "actor_key"),
    )
    upstream_timeout_s: float = Field(default=5.0, gt=0, le=60)

    #: Signs session tokens. Unset: a random one per process (sessions end on restart, and
    #: replicas behind a load balancer need a shared one).
    session_secret: SecretStr | None = None
    session_ttl_s: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    cookie_secure: bool = False
    #: A disabled user, or a session ended on another replica (logout, password change), is
    #: refused at most this long after; the replica that made the change refuses it at once.
    user_cache_ttl_s: float = Field(default=5.0, ge=0)
    #: Argon2 hashes/verifications running at once (in worker threads); more logins wait.
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    #: ``Strict-Transport-Security: max-age=…`` when the gateway is served over HTTPS (0: off).
    hsts_seconds: int = Field(default=0, ge=0, le=2 * 365 * 24 * 3600)
    #: Origins (``https://ioc.example.vn``) whose pages may open the live feed's WebSocket.
    #: Empty: only the gateway's own origin (the request's ``Host``).
    allowed_origins: list[str] = Field(default_factory=list)
    #: Failed logins for one username within ``login_window_s`` before it is locked for
    #: ``login_lockout_s`` (0 turns the throttle off).
    login_max_failures: int = Field(default=5, ge=0, le=1_000)
    login_window_s: float = Field(default=900.0, gt=0)
    login_lockout_s: float = Field(default=300.0, gt=0)
    #: ``ioc dev`` only: create this admin (password below) when no user exists yet.
    dev_admin_password: SecretStr | None = None

    #: The province the dashboard shows (the demo default is Tuyên Quang).
    province: str = Field(default="08", pattern=r"^\d{2}$")

    # --- live feed
    #: Messages waiting per client before metric updates are coalesced and others dropped.
    client_queue_size: int = Field(default=256, ge=1, le=100_000)
    #: Distinct coalesced metric keys held for a slow client before it is disconnected.
    client_overflow_limit: int = Field(default=2_000, ge=1)
    #: Telemetry events per second per client on the ticker (the rest are sampled away).
    telemetry_per_second: float = Field(default=5.0, ge=0)
    #: Messages kept for clients that reconnect with ``after=<seq>``.
    replay_size: int = Field(default=1_000, ge=0, le=100_000)
    consume_telemetry: bool = True
    feed_enabled: bool = True
    group_prefix: str = Field(default="ioc-gateway", min_length=1, max_length=64)
    port: int = 8003

    def secrets(self) -> dict[str, SecretValue]:
        return super().secrets() | {
            "IOC_GATEWAY_SESSION_SECRET": self.session_secret,
            "IOC_GATEWAY_METRICS_SERVICE_TOKEN": self.metrics_service_token,
            "IOC_GATEWAY_ALERTS_SERVICE_TOKEN": self.alerts_service_token,
            "IOC_GATEWAY_ACTOR_KEY": self.actor_key,
        }
