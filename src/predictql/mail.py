"""Outgoing email: written to the outbox as one RFC 822 ``.eml`` file when an outbox is configured,
and sent through SMTP when a host is. Nothing goes to disk by default: mail carries sign-in codes
and password-reset tokens. Sending runs after the commit that caused it."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from predictql import after_response
from predictql.settings import Settings

log = logging.getLogger("predictql.mail")


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outbox: Path | None = settings.mail_outbox
        self._tasks: set[asyncio.Task[None]] = set()

    def compose(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain="predictql")
        message.set_content(body)
        return message

    async def send(self, to: str, subject: str, body: str) -> None:
        message = self.compose(to, subject, body)
        if self.outbox is not None:
            self._write(self.outbox, message)
        elif not self.settings.smtp_host:
            # The address only: the body holds the code or token.
            log.warning("mail to %s not sent: neither PREDICTQL_MAIL_OUTBOX nor PREDICTQL_SMTP_HOST is set", to)
        if self.settings.smtp_host:
            task = asyncio.create_task(self._smtp(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _write(outbox: Path, message: EmailMessage) -> None:
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        tmp = outbox / (name + ".tmp")
        tmp.write_bytes(bytes(message))
        tmp.rename(outbox / name)  # readers never see a half-written file

    async def _smtp(self, message: EmailMessage) -> None:
        import aiosmtplib

        password = self.settings.smtp_password
        try:
            await aiosmtplib.send(
                message,
                hostname=self.settings.smtp_host,
                port=self.settings.smtp_port,
                username=self.settings.smtp_username,
                password=password.get_secret_value() if password else None,
                start_tls=self.settings.smtp_starttls,
                timeout=30,
            )
        except Exception:
            log.exception("smtp delivery to %s failed", message["To"])

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (whose outcome is mail) once the response is sent; ``drain`` awaits it."""

        def start() -> None:
            task = asyncio.create_task(self._logged(work))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        after_response.defer(start)

    async def _logged(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:
            log.exception("background mail work failed")

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
