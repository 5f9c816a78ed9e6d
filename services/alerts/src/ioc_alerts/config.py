"""Settings of the alerts service, read from ``IOC_ALERTS_*`` environment variables."""

from __future__ import annotations

import ipaddress
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ioc_common.secrets import SecretValue
from ioc_common.settings import ServiceSettings
from ioc_common.topics import METRICS_UPDATED


class AlertsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_ALERTS_", extra="ignore", frozen=True)

    group_id: str = "ioc-alerts"
    #: Where aggregate changes arrive (a test or a second deployment may use its own topic).
    metrics_topic: str = METRICS_UPDATED
    #: Seed the provinces' targets from the shipped file when they are absent.
    seed_targets: bool = True
    #: Run the consumer, sweep and dispatcher loops (off for API-only tests).
    run_workers: bool = True

    # --- evaluation
    #: An open alert resolves (or steps down) only once the gap is below its tolerance minus
    #: this share of the critical tolerance, so a value hovering at a threshold does not flap.
    hysteresis_ratio: float = Field(default=0.1, ge=0, le=1)
    sweep_interval_s: float = Field(default=60.0, gt=0)
    #: ``ioc dev`` only — the demo reporting interval: for the missing-data rule one day of an
    #: indicator's reporting interval lasts this many seconds, so the demo's silent district
    #: raises its alert within minutes (its summary says so). Unset: real days; refused
    #: outside ``ioc dev``.
    demo_day_s: float | None = Field(default=None, gt=0)
    #: Metric updates read, recorded and judged per transaction (each key once per batch).
    consume_batch: int = Field(default=2000, ge=1, le=20_000)

    # --- notifications
    group_wait_s: float = Field(default=30.0, ge=0)
    repeat_interval_s: float = Field(default=24 * 3600.0, gt=0)
    dispatch_interval_s: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_cap_s: float = Field(default=3600.0, gt=0)
    send_timeout_s: float = Field(default=10.0, gt=0)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "IOC <ioc-alerts@localhost>"

    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_openapi_url: str = "https://openapi.zalo.me"
    zalo_zns_url: str = "https://business.openapi.zalo.me"
    zalo_app_id: str | None = None
    zalo_secret_key: str | None = None
    zalo_refresh_token: str | None = None
    zalo_access_token: str | None = None

    #: Networks (CIDR) webhook targets may point to although private or loopback, e.g.
    #: ``["127.0.0.1/32"]``; empty refuses every non-public address.
    webhook_allow_networks: list[str] = Field(default_factory=list)

    #: API callers must send it as ``Authorization: Bearer <token>`` (the gateway). Required
    #: outside ``ioc dev``.
    service_token: SecretStr | None = None
    #: Verifies the gateway's signed statement of which operator acts (``X-IOC-Actor-Assertion``,
    #: ``ioc_common.service_auth``); without a valid one no action is taken in anyone's name.
    actor_key: SecretStr | None = None
    #: Base address used in links inside messages (the operators' dashboard, as the
    #: recipients reach it). Outside ``ioc dev`` a loopback address is refused.
    dashboard_url: str = "http://127.0.0.1:8003"

    def secrets(self) -> dict[str, SecretValue]:
        return super().secrets() | {
            "IOC_ALERTS_SERVICE_TOKEN": self.service_token,
            "IOC_ALERTS_ACTOR_KEY": self.actor_key,
        }

    @model_validator(mode="after")
    def _deployable(self) -> Self:
        """Outside ``ioc dev``: links in messages must reach people, and mail to a real relay
        on the submission port must be encrypted."""
        if self.environment == "dev":
            return self
        if self.demo_day_s is not None:
            raise ValueError(
                "IOC_ALERTS_DEMO_DAY_S chỉ dùng cho bản chạy thử ioc dev (khoảng báo cáo minh "
                "hoạ); bỏ biến này / is the demo reporting interval of ioc dev only; unset it"
            )
        if _is_loopback(urlsplit(self.dashboard_url).hostname or ""):
            raise ValueError(
                f"IOC_ALERTS_DASHBOARD_URL={self.dashboard_url!r} trỏ về máy cục bộ: liên kết "
                "trong thư cảnh báo sẽ không mở được; đặt địa chỉ bảng điều khiển mà người nhận "
                "truy cập / points to this machine, so links in alert emails would not open; "
                "set the dashboard's address as recipients reach it "
                "(e.g. https://ioc.example.gov.vn)"
            )
        if self.smtp_port == 587 and not self.smtp_starttls and not _is_loopback(self.smtp_host):
            raise ValueError(
                f"IOC_ALERTS_SMTP_PORT=587 tới {self.smtp_host} cần IOC_ALERTS_SMTP_STARTTLS=true"
                " (không gửi thư và mật khẩu SMTP qua mạng dưới dạng rõ) / "
                f"IOC_ALERTS_SMTP_PORT=587 to {self.smtp_host} needs "
                "IOC_ALERTS_SMTP_STARTTLS=true (no mail or SMTP password in clear text)"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
