"""A log capture over the whole test session: no record may contain a personal number, a token,
an authorization code or a client secret.

`LogCheck` looks at every log record of the session, from every library, at DEBUG (a handler on
the root logger, and on each logger that does not propagate), and at the log files of the
processes the tests start (`check_text`). Records of idp's own loggers are checked as they are
made: our code must never hand such a value to logging at all. Records of other libraries
(Authlib logs issued tokens at DEBUG) are checked as `idp serve` writes them, after the
redaction filter of idp.observability.logging. httpx's request lines are not checked: in a test
run they are the test clients' own requests, whatever a test chose to send (fuzzing sends
secrets in query strings); the server's request lines are uvicorn's, checked in the log files
of the processes. It knows:

* the personal numbers of the simulator's persons and every valid one written in the tests, in
  all their written forms (12 and 10 digits, with and without the dash);
* anything shaped like a JWT;
* every code, token and auth_req_id an HTTP client in the tests received (httpx is watched),
  whether it was logged before or after it was seen;
* every client secret and server secret the tests configured (`idp.config` is watched).

At the end of the session it prints each offending record (logger, level, message, with the
secret part masked) and fails the run. Tests that log such values on purpose, to test the
redaction itself, are marked ``secrets_in_logs``; their records are not checked.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from idp.authn import personal_number as pnr
from idp.observability.logging import redact

TESTS = Path(__file__).resolve().parent
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_DIGITS = re.compile(
    r"(?<![0-9])(?:[0-9]{12}|[0-9]{10}|[0-9]{8}-[0-9]{4}|[0-9]{6}[-+][0-9]{4})(?![0-9])"
)
_WORD = re.compile(r"[A-Za-z0-9_\-]{16,}")
#: JSON members and query parameters whose values are bearer secrets.
SECRET_FIELDS = ("access_token", "refresh_token", "id_token", "code", "auth_req_id")
MIN_SECRET = 12  # shorter configured secrets ("pw") would match everywhere
#: The test clients' request lines (see above).
UNCHECKED_LOGGERS = ("httpx", "httpcore")
RECENT_WORDS = 400_000


def written_forms(number: str) -> set[str]:
    return {number, number[2:], f"{number[:8]}-{number[8:]}", f"{number[2:8]}-{number[8:]}"}


def known_personal_numbers(sources: Iterable[Path] = ()) -> set[str]:
    """The simulator's persons and every valid personal number written in `sources`."""
    from idp.bankid.simulator.persons import ALL_PERSONS

    numbers = {p.personal_number for p in ALL_PERSONS}
    for path in sources:
        for found in re.findall(r"(?<![0-9])(?:19|20)[0-9]{10}(?![0-9])", path.read_text()):
            if pnr.is_valid(found):
                numbers.add(found)
    return {form for n in numbers for form in written_forms(n)}


def mask(text: str, secret: str) -> str:
    shown = secret[:4] + "…" if len(secret) > 8 else "…"
    return text.replace(secret, shown)


@dataclass(frozen=True)
class Finding:
    source: str  # the logger, or the log file
    level: str
    what: str  # "personal number", "JWT", "code or token seen in a test", "client secret"
    message: str  # with the secret masked
    test: str | None


class LogCheck(logging.Handler):
    def __init__(self, personal_numbers: Iterable[str] = ()) -> None:
        super().__init__(logging.DEBUG)
        self.personal_numbers = set(personal_numbers)
        self.secrets: set[str] = set()  # configured client and server secrets
        self.seen: set[str] = set()  # codes and tokens the tests received
        self.findings: list[Finding] = []
        self.records = 0
        self.lines = 0  # of the processes' log files
        self.current_test: str | None = None
        self.exempt = False  # the running test logs secrets on purpose
        self._recent: dict[str, tuple[str, str, str, str | None]] = {}
        self._guard = threading.Lock()

    # ------------------------------------------------------------------ what to look for

    def remember_secret(self, value: str) -> None:
        # "x" * 16 is a fine test secret, and a string every oversized-input test sends.
        if isinstance(value, str) and len(value) >= MIN_SECRET and len(set(value)) >= 6:
            self.secrets.add(value)

    def remember_seen(self, value: Any) -> None:
        """A code or token a test received; flags records that already contained it."""
        if not isinstance(value, str) or len(value) < 16:
            return
        with self._guard:
            if value in self.seen:
                return
            self.seen.add(value)
            earlier = self._recent.get(value)
        if earlier is not None:
            source, level, text, test = earlier
            self._found(source, level, "code or token seen in a test", text, value, test)

    # ------------------------------------------------------------------ looking

    def emit(self, record: logging.LogRecord) -> None:
        if self.exempt or record.name.split(".")[0] in UNCHECKED_LOGGERS:
            return
        ours = record.name == "idp" or record.name.startswith("idp.")
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        parts = [text]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
        if record.exc_text:
            parts.append(record.exc_text)
        parts += [
            v
            for k, v in record.__dict__.items()
            if isinstance(v, str)
            and k not in ("msg", "message", "exc_text", "pathname")
            and k not in _PLAIN_ATTRS
        ]
        self.records += 1
        text = "\n".join(parts)
        self.check_text(record.name, record.levelname, text if ours else redact(text))

    def check_line(self, source: str, line: str) -> None:
        """A line of a process's log file (written by `idp serve`, after redaction)."""
        self.lines += 1
        self.check_text(source, "-", line)

    def check_text(self, source: str, level: str, text: str, test: str | None = None) -> None:
        test = test or self.current_test
        for m in _DIGITS.finditer(text):
            if m.group(0) in self.personal_numbers:
                self._found(source, level, "personal number", text, m.group(0), test)
        for m in JWT.finditer(text):
            self._found(source, level, "JWT", text, m.group(0), test)
        for secret in self.secrets:
            if secret in text:
                self._found(source, level, "client or server secret", text, secret, test)
        words = set(_WORD.findall(text))
        with self._guard:
            hits = words & self.seen
            for word in words:
                self._recent[word] = (source, level, text, test)
            while len(self._recent) > RECENT_WORDS:
                self._recent.pop(next(iter(self._recent)))
        for hit in hits:
            self._found(source, level, "code or token seen in a test", text, hit, test)

    def _found(
        self, source: str, level: str, what: str, text: str, secret: str, test: str | None
    ) -> None:
        message = mask(text, secret)
        for other in (*self.secrets, *self.seen):
            if other in message:
                message = mask(message, other)
        self.findings.append(Finding(source, level, what, message[:500], test))

    def report(self) -> list[str]:
        lines = []
        for f in self.findings:
            lines.append(f"{f.what} in {f.level} record of {f.source} (test {f.test}):")
            lines.append(f"    {f.message}")
        return lines


_PLAIN_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "taskName",
    "request_id",
}


# ---------------------------------------------------------------------- watching the tests


def _watch_http(check: LogCheck) -> list[tuple[Any, str, Any]]:
    """Every HTTP answer a test receives: remember its codes and tokens."""
    import httpx

    def look(response: httpx.Response) -> None:
        location = response.headers.get("location")
        if location:
            for key, value in parse_qsl(urlsplit(location).query):
                if key in SECRET_FIELDS:
                    check.remember_seen(value)
        if "json" in response.headers.get("content-type", ""):
            try:
                body = response.json()
            except Exception:
                return
            if isinstance(body, dict):
                for key in SECRET_FIELDS:
                    check.remember_seen(body.get(key))

    original_sync = httpx.Client.send
    original_async = httpx.AsyncClient.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = original_sync(self, request, **kwargs)
        if not kwargs.get("stream"):
            look(response)
        return response

    async def asend(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        response = await original_async(self, request, **kwargs)
        if not kwargs.get("stream"):
            look(response)
        return response

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    return [(httpx.Client, "send", original_sync), (httpx.AsyncClient, "send", original_async)]


def _watch_secrets(check: LogCheck) -> list[tuple[Any, str, Any]]:
    """Every client secret and server secret a test configures."""
    from idp.config import Secret, SecretHash

    original_hash = SecretHash.__init__
    original_secret = Secret.__init__

    def hash_init(self: SecretHash, secret: str) -> None:
        check.remember_secret(secret)
        original_hash(self, secret)

    def secret_init(self: Secret, value: str) -> None:
        check.remember_secret(value)
        original_secret(self, value)

    SecretHash.__init__ = hash_init  # type: ignore[method-assign]
    Secret.__init__ = secret_init  # type: ignore[method-assign]
    return [(SecretHash, "__init__", original_hash), (Secret, "__init__", original_secret)]


class SessionLogCheck:
    """The pytest side: install at session start, follow the running test, report at the end."""

    def __init__(self) -> None:
        sources = [p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts]
        self.check = LogCheck(known_personal_numbers(sources))
        self._restore: list[tuple[Any, str, Any]] = []
        self._root_level = logging.root.level

    def install(self) -> None:
        root = logging.getLogger()
        root.addHandler(self.check)
        root.setLevel(logging.DEBUG)
        self.attach_to_non_propagating()
        self._restore = _watch_http(self.check) + _watch_secrets(self.check)

    def attach_to_non_propagating(self) -> None:
        for logger in list(logging.root.manager.loggerDict.values()):
            if (
                isinstance(logger, logging.Logger)
                and not logger.propagate
                and self.check not in logger.handlers
            ):
                logger.addHandler(self.check)

    def uninstall(self) -> None:
        for owner, name, original in self._restore:
            setattr(owner, name, original)
        root = logging.getLogger()
        root.removeHandler(self.check)
        root.setLevel(self._root_level)
        for logger in list(logging.root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and self.check in logger.handlers:
                logger.removeHandler(self.check)

    def enter_test(self, nodeid: str, exempt: bool) -> None:
        self.attach_to_non_propagating()
        root = logging.getLogger()
        if self.check not in root.handlers:  # a test replaced the root handlers
            root.addHandler(self.check)
        root.setLevel(logging.DEBUG)
        self.check.current_test = nodeid
        self.check.exempt = exempt

    def leave_test(self) -> None:
        self.check.current_test = None
        self.check.exempt = False
