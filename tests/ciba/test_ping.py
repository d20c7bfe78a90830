"""Ping delivery end to end: a notification receiver started by the test on loopback gets
{"auth_req_id"} with the client's client_notification_token as bearer; the client then
fetches the tokens. Plus the FAPI-CIBA ping modules: 401, 403, a body, a redirect."""

import anyio
import pytest

from idp.ciba import PingNotifier
from idp.ciba.notify import allowed_endpoint
from idp.clock import FixedClock
from idp.config import ConfigError, parse_settings
from tests.asgi import app_client
from tests.ciba.conftest import build_app, make_settings
from tests.ciba.harness import ANNA, BJORN, ISSUER, CibaHarness, error_of
from tests.ciba.receiver import Receiver

pytestmark = pytest.mark.anyio

TOKEN = "8d67dc78-7faa-4d41-aabd-67707b374255.Zm9vYmFy-_~+/="


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
async def pinged(sqlite_url, ciba_client_jwks, receiver):
    settings = make_settings(sqlite_url, ciba_client_jwks, ping_endpoint=receiver.url)
    clock = FixedClock()
    app = build_app(settings, clock)
    app.state.ciba.service.notifier = PingNotifier(backoff=0.01)
    async with app_client(app, base_url=ISSUER) as http:
        h = CibaHarness(http, clock, app)
        h.receiver = receiver
        yield h


async def received(receiver, count=1):
    with anyio.fail_after(10):
        while len(receiver.received) < count:  # noqa: ASYNC110 - another thread's list
            await anyio.sleep(0.01)
    await anyio.sleep(0.1)  # and nothing more arrives
    return receiver.received


async def test_ping_mode_end_to_end(pinged):
    ack = await pinged.start("cs-ping", login_hint=BJORN, client_notification_token=TOKEN)
    assert ack["interval"] == 5
    await pinged.phone(BJORN)
    assert await pinged.settle(ack["auth_req_id"]) == "approved"
    (note,) = await received(pinged.receiver)
    assert note["path"] == "/notify"
    assert note["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert note["headers"]["content-type"] == "application/json"
    assert note["body"] == {"auth_req_id": ack["auth_req_id"]}
    # §10.2: the client now fetches the tokens at the token endpoint, once.
    r = await pinged.token(note["body"]["auth_req_id"], "cs-ping")
    assert r.status_code == 200, r.text
    claims = await pinged.verify(r.json()["id_token"], audience="cs-ping")
    assert claims["name"] == "Björn Berglund"
    error_of(await pinged.token(ack["auth_req_id"], "cs-ping"), 400, "invalid_grant")
    assert len(pinged.receiver.received) == 1


async def test_ping_is_sent_for_a_denial_too(pinged):
    ack = await pinged.start("cs-ping", login_hint=ANNA, client_notification_token=TOKEN)
    await pinged.phone(ANNA, "decline_call")
    await pinged.settle(ack["auth_req_id"])
    (note,) = await received(pinged.receiver)
    assert note["body"] == {"auth_req_id": ack["auth_req_id"]}
    error_of(await pinged.token(ack["auth_req_id"], "cs-ping"), 400, "access_denied")


async def test_ping_is_sent_when_the_request_expires(pinged):
    ack = await pinged.start(
        "cs-ping", login_hint=ANNA, client_notification_token=TOKEN, requested_expiry="20"
    )
    await pinged.settle(ack["auth_req_id"], advance=21)
    (note,) = await received(pinged.receiver)
    assert note["body"] == {"auth_req_id": ack["auth_req_id"]}
    error_of(await pinged.token(ack["auth_req_id"], "cs-ping"), 400, "expired_token")


@pytest.mark.parametrize(
    "answer",
    [
        (401, {}, b""),  # fapi-ciba-id1-ping-backchannel-notification-endpoint-response-401
        (403, {}, b""),  # ...-response-403
        (200, {"Content-Type": "application/json"}, b'{"unexpected": "body"}'),  # ...-has-body
    ],
)
async def test_fapi_ciba_id1_ping_backchannel_notification_endpoint_response(pinged, answer):
    """Whatever the client answers, it is not retried, and the tokens are still there."""
    pinged.receiver.answers.append(answer)
    ack = await pinged.start("cs-ping", login_hint=ANNA, client_notification_token=TOKEN)
    await pinged.phone(ANNA)
    await pinged.settle(ack["auth_req_id"])
    assert len(await received(pinged.receiver)) == 1
    assert (await pinged.token(ack["auth_req_id"], "cs-ping")).status_code == 200


async def test_fapi_ciba_id1_ping_backchannel_notification_endpoint_return_redirect_request(
    pinged,
):
    """A 3xx is never followed (not even to the same server) and not retried."""
    redirect = f"http://127.0.0.1:{pinged.receiver.port}/elsewhere"
    pinged.receiver.answers.append((307, {"Location": redirect}, b""))
    ack = await pinged.start("cs-ping", login_hint=ANNA, client_notification_token=TOKEN)
    await pinged.phone(ANNA)
    await pinged.settle(ack["auth_req_id"])
    (note,) = await received(pinged.receiver)
    assert note["path"] == "/notify"
    assert (await pinged.token(ack["auth_req_id"], "cs-ping")).status_code == 200


async def test_server_errors_are_retried_a_bounded_number_of_times(pinged):
    pinged.receiver.answers += [(500, {}, b""), (503, {}, b""), (502, {}, b""), (500, {}, b"")]
    ack = await pinged.start("cs-ping", login_hint=ANNA, client_notification_token=TOKEN)
    await pinged.phone(ANNA)
    await pinged.settle(ack["auth_req_id"])
    assert len(await received(pinged.receiver, 3)) == 3  # three attempts, then it gives up


async def test_a_poll_client_is_never_pinged(pinged):
    await pinged.approved_tokens("cs-poll")
    await anyio.sleep(0.2)
    assert pinged.receiver.received == []


async def test_notification_endpoints_are_https_outside_loopback(receiver):
    assert allowed_endpoint("https://rp.example/notify")
    assert allowed_endpoint("http://127.0.0.1:8080/notify")
    assert allowed_endpoint("http://localhost/notify")
    assert not allowed_endpoint("http://rp.example/notify")
    assert not allowed_endpoint("https://user:pw@rp.example/notify")
    assert not allowed_endpoint("ftp://rp.example/notify")
    notifier = PingNotifier()
    assert not await notifier.notify("c", "http://rp.example/notify", TOKEN, "id")
    with pytest.raises(ConfigError) as info:
        parse_settings(
            {
                "issuer": ISSUER,
                "clients": [
                    {
                        "client_id": "cs",
                        "client_secret": "x" * 20,
                        "grant_types": ["urn:openid:params:grant-type:ciba"],
                        "backchannel_token_delivery_mode": "ping",
                        "backchannel_client_notification_endpoint": "http://rp.example/notify",
                    }
                ],
            },
            source="t",
            environ={},
        )
    assert "backchannel_client_notification_endpoint" in info.value.render()
