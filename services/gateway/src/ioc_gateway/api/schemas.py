"""Request and response bodies of the operator API."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc_common.catalogue import Pillar
from ioc_common.events import AlertSeverity


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    # No control characters (PostgreSQL text cannot even hold NUL): a 422, not a 500.
    username: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="tên đăng nhập / username",
    )
    password: str = Field(min_length=1, max_length=1024, description="mật khẩu / password")


class UserOut(BaseModel):
    username: str
    role: str = Field(description="viewer | operator | admin")
    scope: str = Field(description="mã tỉnh hoặc huyện / province or district code")
    scope_name: str
    province: str = Field(description="tỉnh của phạm vi / the scope's province")
    can_act: bool = Field(description="được xác nhận, đóng, tạm im / may acknowledge, silence")


class LoginOut(BaseModel):
    token: str = Field(description="Bearer token (also set as an HttpOnly cookie)")
    expires_at: datetime
    user: UserOut


class AcknowledgeIn(_In):
    note: str = Field(
        default="Đã tiếp nhận", min_length=1, max_length=2000, description="ghi chú / note"
    )


class ResolveIn(_In):
    note: str | None = Field(default=None, max_length=2000, description="ghi chú / note")


class AlertSilenceIn(_In):
    """Silence the notifications of this alert's indicator in its unit for a while."""

    minutes: int = Field(default=240, ge=5, le=30 * 24 * 60, description="phút / minutes")
    reason: str = Field(
        default="Tạm im từ bảng điều khiển / silenced from the dashboard",
        min_length=1,
        max_length=2000,
    )


class SilenceIn(_In):
    indicator: str | None = Field(default=None, max_length=64)
    unit_code: str | None = Field(
        default=None,
        pattern=r"^(\d{2}|\d{3}|\d{5})$",
        description="mặc định: phạm vi của bạn / default: your scope",
    )
    pillar: Pillar | None = None
    severity: AlertSeverity | None = None
    starts_at: datetime | None = None
    ends_at: datetime
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _aware(self) -> Self:
        for moment in (self.starts_at, self.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("times need a timezone (e.g. +07:00)")
        return self


class UserIn(_In):
    username: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._@-]+$",
        description="tên đăng nhập / username (letters, digits, . - _ @)",
    )
    role: str = Field(pattern=r"^(viewer|operator|admin)$", description="viewer | operator | admin")
    scope: str = Field(
        pattern=r"^\d{2,3}$", description="mã tỉnh hoặc huyện / province or district code"
    )
    password: str = Field(min_length=10, max_length=1024, description="mật khẩu / password")


class PasswordIn(_In):
    password: str = Field(min_length=10, max_length=1024, description="mật khẩu mới / new password")


class AccessIn(_In):
    """A new role and/or unit scope; the user's sessions end."""

    role: str | None = Field(
        default=None, pattern=r"^(viewer|operator|admin)$", description="viewer | operator | admin"
    )
    scope: str | None = Field(
        default=None,
        pattern=r"^\d{2,3}$",
        description="mã tỉnh hoặc huyện / province or district code",
    )


class OwnPasswordIn(_In):
    current_password: str = Field(
        min_length=1, max_length=1024, description="mật khẩu hiện tại / current password"
    )
    new_password: str = Field(
        min_length=10, max_length=1024, description="mật khẩu mới / new password"
    )


class ManagedUserOut(BaseModel):
    username: str
    role: str = Field(description="viewer | operator | admin")
    scope: str
    scope_name: str
    disabled: bool
    last_login_at: datetime | None


class ManagedUserList(BaseModel):
    items: list[ManagedUserOut]
