"""Acceptance 5: no personal number in any log line, metric or error message of a CIBA flow.

Every logger runs at DEBUG (and loggers that do not propagate are captured too) while requests
go through every outcome. Searched for every written form of each personal number used (12
digits, 10 digits, both with a dash): each log record; each answer's status line, headers and
body (except token responses, whose ID token may carry the ssn claim when asked for); and
/metrics when it is mounted. One flow asks for the ssn scope, so the grant holds the claim.
"""

import logging

import pytest

from tests.ciba.harness import (
    AGNES,
    ANNA,
    BAD_CHECK_DIGIT,
    BAD_DATE,
    BJORN,
    STURE,
    TOVE,
    error_of,
)

pytestmark = pytest.mark.anyio

NUMBERS = (ANNA, BJORN, AGNES, STURE, TOVE, BAD_CHECK_DIGIT, BAD_DATE)


def forms(number):
    return {number, number[2:], f"{number[:8]}-{number[8:]}", f"{number[2:8]}-{number[8:]}"}


def leaks(text):
    return sorted({f for n in NUMBERS for f in forms(n) if f in text})


@pytest.fixture
def every_log(caplog):
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    ]
    added = []
    for logger in loggers:
        caplog.set_level(logging.DEBUG, logger=logger.name if logger.name != "root" else None)
        if not logger.propagate and caplog.handler not in logger.handlers:
            logger.addHandler(caplog.handler)
            added.append(logger)
    yield caplog
    for logger in added:
        logger.removeHandler(caplog.handler)


async def test_no_personal_number_in_logs_metrics_or_error_messages(ciba, every_log):
    # Approved, then fetched; with an id_token_hint afterwards.
    tokens = await ciba.approved_tokens(person=BJORN, binding_message="Ärende 7")
    hinted = await ciba.start(login_hint=None, id_token_hint=tokens["id_token"])
    await ciba.phone(BJORN, "decline_call")
    await ciba.settle(hinted["auth_req_id"])
    ciba.clock.advance(5)
    error_of(await ciba.token(hinted["auth_req_id"]), 400, "access_denied")
    # With the ssn scope the grant holds the claim: still not in a log (not even SQL echo).
    with_ssn = await ciba.start("cs-other", login_hint=ANNA, scope="openid ssn")
    await ciba.phone(ANNA)
    await ciba.settle(with_ssn["auth_req_id"])
    ciba.clock.advance(5)
    assert (await ciba.token(with_ssn["auth_req_id"], "cs-other")).status_code == 200
    # Cancelled, certificate error, expired, already in progress.
    for person, action in ((AGNES, "approve"), (STURE, "approve"), (ANNA, "cancel")):
        ack = await ciba.start(login_hint=f"{person[:8]}-{person[8:]}")
        await ciba.phone(person, action)
        await ciba.settle(ack["auth_req_id"])
        ciba.clock.advance(5)
        await ciba.token(ack["auth_req_id"])
    expiring = await ciba.start(login_hint="sub:ssn:" + TOVE, requested_expiry="10")
    error_of(await ciba.backchannel("cs-other", login_hint=TOVE), 403, "access_denied")
    await ciba.settle(expiring["auth_req_id"], advance=11)
    await ciba.token(expiring["auth_req_id"])
    # Refused requests: bad check digit, bad date, bad hints of every kind.
    for hint in (BAD_CHECK_DIGIT, BAD_DATE, "sub:ssn:" + BAD_CHECK_DIGIT):
        error_of(await ciba.backchannel(login_hint=hint), 400, "unknown_user_id")
    error_of(
        await ciba.backchannel(login_hint=ANNA, id_token_hint=tokens["id_token"]),
        400,
        "invalid_request",
    )
    error_of(await ciba.backchannel("web", login_hint=ANNA), 400, "unauthorized_client")
    error_of(await ciba.backchannel(login_hint=ANNA, scope="profile"), 400, "invalid_scope")
    error_of(
        await ciba.backchannel(login_hint=ANNA, binding_message=ANNA + "\n"),
        400,
        "invalid_binding_message",
    )
    error_of(await ciba.token(ANNA), 400, "invalid_grant")

    metrics = await ciba.http.get("/metrics")
    texts = [metrics.text] if metrics.status_code == 200 else []
    for r in ciba.responses:
        texts.append(f"{r.status_code} {r.request.url} {dict(r.headers)}")
        if r.status_code >= 400 or "/token" not in str(r.request.url):  # not the ID tokens
            texts.append(r.text)
    found = {t[:200]: leaks(t) for t in texts if leaks(t)}
    assert not found, found

    records = every_log.records
    assert any(r.levelno == logging.DEBUG for r in records)  # DEBUG really was captured
    assert any(r.name.startswith("idp.ciba") for r in records)
    lines = [every_log.handler.format(r) for r in records]
    found = {line: leaks(line) for line in lines if leaks(line)}
    assert not found, found
