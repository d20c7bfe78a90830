"""What the BankID integration reports while it works: each RP API call with its result, how
late a `collect` ran, and logins started, completed and failed by path.

Observers are plain objects with these methods (``idp.observability.Metrics`` is one); app.py
adds them, so this package never imports the metrics code. Only fixed vocabularies cross:
endpoint names, ``"ok"`` or BankID's ``errorCode``, the flow, a neutral `FailureReason`. Never
an orderRef, a personal number or a token.
"""

from __future__ import annotations

import logging
from typing import Protocol

from idp.authn import FailureReason

log = logging.getLogger(__name__)


class BankIDObserver(Protocol):
    def bankid_call(self, endpoint: str, result: str, seconds: float | None) -> None:
        """`result` is "ok", BankID's errorCode, "timeout" or "connection"."""
        ...

    def collect_lag(self, seconds: float) -> None:
        """How late a collect ran after it was due (BankID asks for one every 2 s)."""
        ...

    def login_started(self, path: str) -> None: ...

    def login_completed(self, path: str) -> None: ...

    def login_failed(self, path: str, reason: FailureReason) -> None: ...


class Observers(list[BankIDObserver]):
    """The observers of one BankID integration, shared by its client and authenticators."""

    def notify(self, event: str, *args: object) -> None:
        for observer in self:
            try:
                getattr(observer, event)(*args)
            except Exception as exc:  # an observer must never break a login
                log.error("BankID observer %s raised %s", event, type(exc).__name__)


def observers_of(client: object) -> Observers:
    """The observers a client reports to (a fresh list for a stand-in without any)."""
    found = getattr(client, "observers", None)
    return found if isinstance(found, Observers) else Observers()
