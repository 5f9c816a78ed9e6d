"""Email over SMTP (aiosmtplib): Vietnamese subject, plain text and HTML alternatives."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from ioc_alerts.channels import Outcome, SendResult
from ioc_alerts.config import AlertsSettings


def build_message(
    sender: str, to: str, idempotency_key: str, payload: dict[str, Any]
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = payload["subject_vi"]
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    # The same key on every attempt lets a mail system drop a duplicate.
    msg["Message-ID"] = make_msgid(idstring=idempotency_key, domain="ioc-alerts")
    msg["X-IOC-Idempotency-Key"] = idempotency_key
    msg["Content-Language"] = "vi"
    msg.set_content(payload["text"], charset="utf-8")
    msg.add_alternative(payload["html"], subtype="html", charset="utf-8")
    return msg


class EmailChannel:
    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings

    async def send(
        self, idempotency_key: str, address: dict[str, Any], payload: dict[str, Any]
    ) -> SendResult:
        s = self.settings
        msg = build_message(s.smtp_from, address["address"], idempotency_key, payload)
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                start_tls=s.smtp_starttls,
                timeout=s.send_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as err:
            codes = [r.code for r in err.recipients]
            permanent = all(500 <= c < 600 for c in codes)
            return SendResult(Outcome.DEAD if permanent else Outcome.RETRY, f"refused: {codes}")
        except aiosmtplib.SMTPResponseException as err:
            permanent = 500 <= err.code < 600
            return SendResult(
                Outcome.DEAD if permanent else Outcome.RETRY, f"smtp {err.code}: {err.message}"
            )
        except (aiosmtplib.SMTPException, OSError) as err:
            return SendResult(Outcome.RETRY, f"{type(err).__name__}: {err}")
        return SendResult(Outcome.SENT)
