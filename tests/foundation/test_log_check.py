"""The session's log check (tests/logcheck.py) really catches a leak: synthetic records with a
personal number, a JWT, a code seen before or after it was logged, a configured client secret;
masked in the report; and it is installed for this very session."""

import logging

import httpx
import pytest

from idp.config import parse_settings
from tests.logcheck import LogCheck, known_personal_numbers

ANNA = "198501012382"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
CODE = "Zq3v9X0cJb8rKQm4yT7uWn2pLs5eHd1a"
SECRET = "synthetic-client-secret-4711"


def record(message, *args, name="idp.synthetic", level=logging.INFO, **extra):
    rec = logging.LogRecord(name, level, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


@pytest.fixture
def check():
    c = LogCheck(known_personal_numbers())
    c.remember_secret(SECRET)
    return c


def test_each_kind_of_leak_is_found_and_masked_in_the_report(check):
    check.emit(record("login by %s", ANNA))
    check.emit(record("login by %s", f"{ANNA[2:8]}-{ANNA[8:]}"))  # the short written form
    check.emit(record("token %s", JWT))
    check.emit(record("code was %s", CODE))  # logged before the test sees it...
    check.remember_seen(CODE)  # ...from an HTTP answer
    check.emit(record("again: code %s", CODE))  # and after
    check.emit(record("client auth", extra_field=f"secret={SECRET}"))
    kinds = [f.what for f in check.findings]
    assert kinds == [
        "personal number",
        "personal number",
        "JWT",
        "code or token seen in a test",
        "code or token seen in a test",
        "client or server secret",
    ]
    report = "\n".join(check.report())
    for secret in (ANNA, JWT, CODE, SECRET):
        assert secret not in report
    assert "idp.synthetic" in report and "1985…" in report and "Zq3v…" in report


def test_clean_records_and_other_libraries_after_redaction_pass(check):
    check.emit(record("BankID auth failed: %s", "BankIDConnectionError"))
    check.emit(record("order 1234567890123 is 13 digits, issued 2026-06-01"))
    # A library's record is judged as `idp serve` writes it: redacted.
    check.emit(record("Issue token {'access_token': '%s'}", JWT, name="authlib.oauth2"))
    assert check.findings == []
    check.emit(record("unredactable %s", CODE, name="authlib.oauth2"))
    check.remember_seen(CODE)
    assert [f.what for f in check.findings] == ["code or token seen in a test"]


def test_log_files_of_processes_are_checked_too(check):
    check.check_line("idp-a.log", '{"message": "collect for 19850101-2382"}')
    assert [f.source for f in check.findings] == ["idp-a.log"]


def test_the_session_check_is_watching_this_session(log_check):
    before = log_check.records
    logging.getLogger("idp.synthetic").debug("a harmless DEBUG record")
    assert log_check.records == before + 1
    assert logging.getLogger().level == logging.DEBUG
    # Configured client secrets and received codes are learnt as the tests run.
    parse_settings(
        {
            "issuer": "https://id.example.com",
            "clients": [
                {
                    "client_id": "c",
                    "client_secret": "learnt-secret-0123456789",
                    "redirect_uris": ["https://rp.example/cb"],
                }
            ],
        },
        source="test",
        environ={},
    )
    assert "learnt-secret-0123456789" in log_check.secrets

    def answer(request):
        return httpx.Response(303, headers={"location": "https://rp.example/cb?code=" + CODE * 2})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        http.get("https://id.example.com/authorize")
    assert CODE * 2 in log_check.seen
