"""The platform's error hierarchy.

Every error an operator or a data provider can see carries a stable ``code``, a Vietnamese
message, an English message and, for bad input, the fields at fault::

    IocError                      base; ``status`` is the HTTP status it maps to
    ├── InvalidInput              422  bad input; ``details`` name each field and why
    ├── Unauthenticated           401  missing, unknown, expired or revoked credential
    ├── Forbidden                 403  credential valid but out of scope
    ├── NotFound                  404
    ├── Conflict                  409
    ├── PayloadTooLarge           413
    ├── RateLimited               429  ``retry_after`` seconds
    └── Unavailable               503  a dependency is down; ``retriable``; ``retry_after``
        ├── BrokerUnavailable          Kafka did not acknowledge
        └── DatabaseUnavailable        PostgreSQL did not answer

``retriable`` follows aiokafka's convention: True when the same call may succeed later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason one field was refused; ``field`` is a dotted path such as ``payload.sites``."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass(eq=False)
class IocError(Exception):
    message: str
    message_en: str = ""
    details: list[FieldError] = field(default_factory=list)

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    retriable: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__init__(self.message_en or self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body every service answers errors with."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "message_en": self.message_en or self.message,
                "details": [d.as_dict() for d in self.details],
            }
        }


class InvalidInput(IocError):
    status = 422
    code = "invalid_input"


class Unauthenticated(IocError):
    status = 401
    code = "unauthenticated"


class Forbidden(IocError):
    status = 403
    code = "forbidden"


class NotFound(IocError):
    status = 404
    code = "not_found"


class Conflict(IocError):
    status = 409
    code = "conflict"


class PayloadTooLarge(IocError):
    status = 413
    code = "payload_too_large"


@dataclass(eq=False)
class RateLimited(IocError):
    retry_after: float = 1.0
    status: ClassVar[int] = 429
    code: ClassVar[str] = "rate_limited"
    retriable: ClassVar[bool] = True


@dataclass(eq=False)
class Unavailable(IocError):
    retry_after: float = 5.0
    status: ClassVar[int] = 503
    code: ClassVar[str] = "unavailable"
    retriable: ClassVar[bool] = True


class BrokerUnavailable(Unavailable):
    code = "broker_unavailable"


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"
