"""What the customer-service console needs from the provider's public interfaces, as any CIBA
client sees them: how far a pending request has come (``progress``), why one was denied
(``reason``), who at the client asked (``requested_by``) and the client's own audit trail
(POST /backchannel-authentication/audit)."""

import anyio
import pytest

from tests.asgi import app_client
from tests.ciba.conftest import build_app, make_settings
from tests.ciba.harness import AGNES, ANNA, BJORN, ISSUER, CibaHarness, basic, error_of

pytestmark = pytest.mark.anyio

AUDIT = "/backchannel-authentication/audit"
STAFF = "staff-sub_1.Az~:@+/=-"
OTHER = "199311242409"  # another simulated person


@pytest.fixture
async def slow_app(sqlite_url, ciba_client_jwks):
    """Simulated people who take 10 s per step in their app, so a pending request is seen in
    each of its states."""
    from idp.clock import FixedClock

    settings = make_settings(
        sqlite_url,
        ciba_client_jwks,
        bankid={"environment": "simulator", "simulator": {"think_time_seconds": 10}},
    )
    clock = FixedClock()
    app = build_app(settings, clock)
    async with app_client(app, base_url=ISSUER) as http:
        yield CibaHarness(http, clock, app)


async def progress_of(ciba: CibaHarness, auth_req_id: str, want: str | None) -> None:
    """Move the clock one collect interval at a time until the stored request shows `want`."""
    from idp.ciba.state import REQUEST

    with anyio.fail_after(5):
        while True:
            value = await ciba.store.get(REQUEST, auth_req_id)
            if value.get("progress") == want:
                return
            ciba.clock.advance(2)
            await anyio.sleep(0.02)


async def poll(ciba: CibaHarness, ack: dict) -> dict:
    ciba.clock.advance(ack["interval"])
    return error_of(await ciba.token(ack["auth_req_id"]), 400, "authorization_pending")


async def test_pending_answer_says_when_the_caller_confirmed_the_call(slow_app):
    ciba = slow_app
    ack = await ciba.start(login_hint=ANNA)
    assert "progress" not in await poll(ciba, ack)  # nobody has opened the app
    assert (await ciba.phone(ANNA)).status_code == 200
    ciba.clock.advance(2)
    await anyio.sleep(0.05)
    body = await poll(ciba, ack)  # the app asks "are you on a call?" (userCallConfirm)
    assert "progress" not in body, body
    await progress_of(ciba, ack["auth_req_id"], "call_confirmed")  # userSign: confirmed
    body = await poll(ciba, ack)
    assert body["progress"] == "call_confirmed", body
    assert body["error_description"]


@pytest.mark.parametrize(
    ("person", "action", "reason"),
    [
        (BJORN, "decline_call", "declined"),
        (BJORN, "cancel", "cancelled"),
        (AGNES, None, "cancelled"),
    ],
)
async def test_access_denied_names_the_reason(ciba, person, action, reason):
    ack = await ciba.start(login_hint=person)
    kw = {} if action is None else {"action": action}
    assert (await ciba.phone(person, **kw)).status_code == 200
    assert await ciba.settle(ack["auth_req_id"]) == "denied"
    ciba.clock.advance(ack["interval"])
    body = error_of(await ciba.token(ack["auth_req_id"]), 400, "access_denied")
    assert body["reason"] == reason, body


async def audit(ciba: CibaHarness, client_id="cs-poll", **form):
    return await ciba.http.post(AUDIT, data=form, auth=basic(client_id))


async def test_requested_by_is_in_the_clients_own_audit_trail(ciba):
    approved = await ciba.approved_tokens(requested_by=STAFF)
    assert approved["access_token"]
    await ciba.start(login_hint=BJORN, requested_by="someone-else")
    await ciba.start("cs-other", login_hint=OTHER, requested_by=STAFF)
    error_of(await ciba.backchannel(scope="email", requested_by=STAFF), 400, "invalid_scope")

    r = await audit(ciba, requested_by=STAFF)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    rows = r.json()["requests"]
    assert [row["outcome"] for row in rows] == ["rejected", "approved"], rows
    assert {row["requested_by"] for row in rows} == {STAFF}
    approved_row = rows[1]
    assert approved_row["subject"] and approved_row["tokens_issued_at"] is not None
    assert approved_row["finished_at"] >= approved_row["requested_at"]
    assert set(approved_row) == {
        "id",
        "requested_at",
        "finished_at",
        "outcome",
        "detail",
        "subject",
        "requested_by",
        "approval_type",
        "tokens_issued_at",
    }
    # Every row of this client and none of another's; newest first; limit.
    everything = (await audit(ciba)).json()["requests"]
    assert len(everything) == 3
    assert [r["requested_at"] for r in everything] == sorted(
        (r["requested_at"] for r in everything), reverse=True
    )
    assert len((await audit(ciba, limit="1")).json()["requests"]) == 1
    other = (await audit(ciba, "cs-other")).json()["requests"]
    assert [r["requested_by"] for r in other] == [STAFF]
    # Nothing the client did not have: no personal number, no auth_req_id.
    text = r.text + (await audit(ciba)).text
    assert ANNA not in text and BJORN not in text and OTHER not in text
    assert approved["access_token"] not in text


@pytest.mark.parametrize("bad", ["", "has space", "<script>", "x" * 201, "ä"])
async def test_a_requested_by_that_is_not_a_plain_name_is_refused(ciba, bad):
    body = error_of(await ciba.backchannel(requested_by=bad), 400, "invalid_request")
    assert "requested_by" in body["error_description"]
    assert bad not in body["error_description"] or bad == ""


async def test_the_audit_endpoint_authenticates_and_checks_its_input(ciba):
    r = await ciba.http.post(AUDIT, data={}, auth=basic("cs-poll", "wrong"))
    error_of(r, 401, "invalid_client")
    error_of(await ciba.http.post(AUDIT, data={}), 401, "invalid_client")
    for limit in ("0", "201", "-1", "x", "1.5", "٣"):
        error_of(await audit(ciba, limit=limit), 400, "invalid_request")
    # A public client (no secret) cannot use it: it has no CIBA requests of its own.
    r = await ciba.http.post(AUDIT, data={"client_id": "web"})
    error_of(r, 401, "invalid_client")
    assert (await ciba.http.get(AUDIT)).status_code == 405


async def test_discovery_names_the_audit_endpoint(ciba):
    meta = (await ciba.http.get("/.well-known/openid-configuration")).json()
    assert meta["backchannel_authentication_audit_endpoint"] == ISSUER + AUDIT
