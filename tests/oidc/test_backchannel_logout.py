"""OpenID Connect Back-Channel Logout 1.0: each client that took part in an SSO session, and
registered a `backchannel_logout_uri`, receives one signed logout token when the session ends.

Logout tokens are checked with joserfc against the provider's /jwks, never with the provider's
own verification code. The receivers are an injected HTTP transport, names resolve through an
injected resolver, and time is the test's FixedClock.
"""

import contextlib
from urllib.parse import parse_qs

import httpx
import pytest
import yaml
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from idp.app import create_app
from idp.cli import main
from idp.clock import FixedClock
from idp.config import ConfigError, parse_settings
from idp.oidc import backchannel
from idp.store.memory import MemoryTTLStore
from tests.asgi import app_client
from tests.oidc.fake_authn import FakeAuthenticator
from tests.oidc.harness import ISSUER, RP_CB, Harness, query, verify_id_token

pytestmark = pytest.mark.anyio

SECRET = "backchannel-secret-0123456789"
LOGGED_OUT = "https://rp.example/logged-out"
ADDRESSES = {
    "rp-a.example": ["93.184.216.34"],
    "rp-b.example": ["93.184.216.35"],
    "inside.example": ["10.0.0.7"],
}


def entry(cid, **kw):
    value = {
        "client_id": cid,
        "client_secret": SECRET,
        "redirect_uris": [RP_CB],
        "post_logout_redirect_uris": [LOGGED_OUT],
        "scope": "openid profile",
    }
    value.update(kw)
    return value


CLIENTS = [
    entry("bcl-a", backchannel_logout_uri="https://rp-a.example/bcl"),
    entry(
        "bcl-b",
        subject_type="pairwise",
        pairwise_sector="b.example",
        backchannel_logout_uri="https://rp-b.example/bcl?tenant=1",
        backchannel_logout_session_required=True,
    ),
    entry("bcl-inside", backchannel_logout_uri="https://inside.example/bcl"),
    entry("no-bcl"),
]


def bcl_settings(oidc_settings, **extra):
    return parse_settings(
        {
            "issuer": ISSUER,
            "database_url": oidc_settings.database_url,
            "clients": CLIENTS,
            **extra,
        },
        source="test",
        environ={},
    )


class Receivers:
    """The clients' back-channel logout endpoints: what each was sent, and scripted answers
    (default 200) per host."""

    def __init__(self):
        self.received: list[tuple[str, httpx.Request]] = []
        self.answers: dict[str, list[int]] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.headers["host"]
        self.received.append((host, request))
        answers = self.answers.get(host)
        return httpx.Response(answers.pop(0) if answers else 200)

    def tokens(self, host):
        out = []
        for h, request in self.received:
            if h == host:
                assert request.method == "POST"
                assert request.headers["content-type"] == "application/x-www-form-urlencoded"
                form = parse_qs(request.content.decode())
                assert list(form) == ["logout_token"], form
                out.append(form["logout_token"][0])
        return out


async def resolver(host, port):
    return ADDRESSES[host]


@contextlib.asynccontextmanager
async def provider(settings, receivers, *, store=None, clock=None):
    clock = clock or FixedClock()
    made = {}

    def factory(handoff):
        made["authn"] = FakeAuthenticator(handoff, clock)
        return made["authn"]

    app = create_app(
        settings,
        clock=clock,
        store=store or MemoryTTLStore(clock),
        authenticator=factory,
        logout_transport=httpx.MockTransport(receivers.handler),
        logout_resolver=resolver,
    )
    async with app_client(app, base_url=ISSUER) as http:
        yield Harness(http, clock, app, made["authn"])


async def id_token(h: Harness, cid: str) -> dict:
    """A code for `cid` in this browser's session (logging in if there is none), redeemed;
    returns the verified ID token's claims and the raw token."""
    code, verifier, params = await h.code(cid)
    r = await h.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=httpx.BasicAuth(cid, SECRET),
    )
    assert r.status_code == 200, r.text
    raw = r.json()["id_token"]
    claims = await verify_id_token(h, raw, cid, nonce=params["nonce"])
    return {"raw": raw, **claims}


async def logout(h: Harness, hint: str) -> None:
    r = await h.http.get(
        "/logout", params={"id_token_hint": hint, "post_logout_redirect_uri": LOGGED_OUT}
    )
    assert r.status_code in (302, 303), r.text
    assert r.headers["location"].startswith(LOGGED_OUT)


async def check_logout_token(h: Harness, token: str, cid: str, id_claims: dict) -> dict:
    """Back-Channel Logout §2.6, with joserfc against /jwks: typ, signature, iss, aud, iat,
    exp (at most 2 minutes), jti, events, sub and sid as in the client's ID token, no nonce."""
    jwks = (await h.http.get("/jwks")).json()
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.header["typ"] == "logout+jwt", decoded.header
    assert decoded.header.get("kid"), decoded.header
    claims = decoded.claims
    jose_jwt.JWTClaimsRegistry(
        now=int(h.clock.now()),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": cid},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
        sub={"essential": True, "value": id_claims["sub"]},
    ).validate(claims)
    assert 0 < claims["exp"] - claims["iat"] <= 120, claims
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert claims["sid"] == id_claims["sid"], (claims, id_claims)
    assert "nonce" not in claims, claims
    return claims


async def deliver(*hs: Harness) -> None:
    for h in hs:
        await h.app.state.backchannel_logout.deliver_due()


async def test_discovery_advertises_back_channel_logout_with_sid(oidc_settings):
    async with provider(bcl_settings(oidc_settings), Receivers()) as h:
        doc = (await h.http.get("/.well-known/openid-configuration")).json()
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True


async def test_rp_initiated_logout_sends_each_client_of_the_session_one_logout_token(
    oidc_settings,
):
    receivers = Receivers()
    async with provider(bcl_settings(oidc_settings), receivers) as h:
        a = await id_token(h, "bcl-a")
        b = await id_token(h, "bcl-b")  # the same SSO session, no new login
        assert len(h.authn.started) == 1
        assert a["sub"] != b["sub"] and a["sid"] != b["sid"]  # bcl-b is pairwise
        await id_token(h, "no-bcl")
        assert receivers.received == []
        await logout(h, a["raw"])
        await deliver(h)
        token_a, token_b = receivers.tokens("rp-a.example"), receivers.tokens("rp-b.example")
        assert len(token_a) == 1 and len(token_b) == 1, receivers.received
        # Sent to the registered URI (query kept), on a checked address, never redirected.
        (request_b,) = [r for host, r in receivers.received if host == "rp-b.example"]
        assert str(request_b.url) == "https://93.184.216.35/bcl?tenant=1"
        claims_a = await check_logout_token(h, token_a[0], "bcl-a", a)
        claims_b = await check_logout_token(h, token_b[0], "bcl-b", b)
        assert claims_a["jti"] != claims_b["jti"]
        # Delivered: nothing is sent again, however long the queue is watched.
        h.clock.advance(backchannel.LIFETIME)
        await deliver(h)
        assert len(receivers.received) == 2


async def test_a_failed_delivery_is_retried_with_the_same_jti_and_then_given_up(oidc_settings):
    receivers = Receivers()
    receivers.answers["rp-a.example"] = [503, 302]
    receivers.answers["rp-b.example"] = [500] * 100
    async with provider(bcl_settings(oidc_settings), receivers) as h:
        a = await id_token(h, "bcl-a")
        b = await id_token(h, "bcl-b")
        await logout(h, b["raw"])
        await deliver(h)
        assert len(receivers.tokens("rp-a.example")) == 1
        await deliver(h)  # not due again before the pause
        assert len(receivers.tokens("rp-a.example")) == 1
        h.clock.advance(backchannel.BACKOFF)
        await deliver(h)  # a redirect is a failure: not followed
        assert len(receivers.tokens("rp-a.example")) == 2
        h.clock.advance(2 * backchannel.BACKOFF)
        await deliver(h)
        tokens = receivers.tokens("rp-a.example")
        assert len(tokens) == 3
        jtis = {(await check_logout_token(h, t, "bcl-a", a))["jti"] for t in tokens}
        assert len(jtis) == 1  # one logout event, however often it is sent
        # bcl-b never answers well: tried until the lifetime runs out, then no more.
        for _ in range(30):
            h.clock.advance(backchannel.MAX_BACKOFF)
            await deliver(h)
        sent_b = len(receivers.tokens("rp-b.example"))
        assert 3 < sent_b < 20, sent_b
        h.clock.advance(backchannel.LIFETIME)
        await deliver(h)
        assert len(receivers.tokens("rp-b.example")) == sent_b
        assert len(receivers.tokens("rp-a.example")) == 3


async def test_a_private_address_is_refused_unless_allowed(oidc_settings):
    receivers = Receivers()
    async with provider(bcl_settings(oidc_settings), receivers) as h:
        inside = await id_token(h, "bcl-inside")
        await logout(h, inside["raw"])
        await deliver(h)
        h.clock.advance(backchannel.MAX_BACKOFF)
        await deliver(h)
        assert receivers.received == []  # refused, and not tried again
    allowed = bcl_settings(oidc_settings, client_jwks={"allow_private_addresses": True})
    async with provider(allowed, receivers) as h:
        inside = await id_token(h, "bcl-inside")
        await logout(h, inside["raw"])
        await deliver(h)
        (token,) = receivers.tokens("inside.example")
        await check_logout_token(h, token, "bcl-inside", inside)


async def test_a_new_login_that_replaces_the_session_logs_its_clients_out(oidc_settings):
    receivers = Receivers()
    async with provider(bcl_settings(oidc_settings), receivers) as h:
        a = await id_token(h, "bcl-a")
        # prompt=login: a new login in this browser replaces the session.
        await h.code("bcl-b", params={"prompt": "login"})
        assert len(h.authn.started) == 2
        await deliver(h)
        (token,) = receivers.tokens("rp-a.example")
        await check_logout_token(h, token, "bcl-a", a)
        assert receivers.tokens("rp-b.example") == []  # bcl-b took part only in the new one


async def test_a_session_past_its_idle_timeout_logs_its_clients_out(oidc_settings):
    receivers = Receivers()
    async with provider(bcl_settings(oidc_settings), receivers) as h:
        a = await id_token(h, "bcl-a")
        h.clock.advance(h.runtime.settings.session.idle_timeout_seconds)
        params, _ = h.auth_params("bcl-a", prompt="none", redirect_uri=RP_CB)
        r = await h.authorize(params)
        assert query(r.headers["location"]).get("error") == "login_required"
        await deliver(h)
        (token,) = receivers.tokens("rp-a.example")
        claims = await check_logout_token(h, token, "bcl-a", a)
        assert claims["sid"] == a["sid"]


async def sweep(*hs: Harness) -> None:
    """The sessions' sweep, as each instance's worker runs it before its deliveries."""
    for h in hs:
        await h.app.state.provider.sessions.expire_due()


async def still_logged_in(h: Harness, cid: str) -> bool:
    params, _ = h.auth_params(cid, prompt="none", redirect_uri=RP_CB)
    answer = query((await h.authorize(params)).headers["location"])
    assert "code" in answer or answer.get("error") == "login_required", answer
    return "code" in answer


async def test_a_session_that_runs_out_its_lifetime_logs_its_clients_out(oidc_settings):
    """§2: "session expiration" ends a session as logout does; nobody needs to come back."""
    receivers = Receivers()
    async with provider(bcl_settings(oidc_settings), receivers) as h:
        lifetime = h.runtime.settings.session.lifetime_seconds
        idle = h.runtime.settings.session.idle_timeout_seconds
        start = h.clock.now()
        a = await id_token(h, "bcl-a")
        # Used every few minutes: the idle timeout never runs out, the lifetime does.
        while h.clock.now() + idle - 60 < start + lifetime:
            h.clock.advance(idle - 60)
            await sweep(h)
            await deliver(h)
            assert receivers.received == []
            assert await still_logged_in(h, "bcl-a")
        h.clock.advance(start + lifetime - h.clock.now())
        await sweep(h)
        await deliver(h)
        (token,) = receivers.tokens("rp-a.example")
        claims = await check_logout_token(h, token, "bcl-a", a)
        assert claims["sid"] == a["sid"]
        # The browser comes back to no session, and nobody is told twice.
        assert not await still_logged_in(h, "bcl-a")
        h.clock.advance(backchannel.LIFETIME)
        await sweep(h)
        await deliver(h)
        assert len(receivers.received) == 1


async def test_a_session_left_idle_logs_its_clients_out_without_the_browser_coming_back(
    oidc_settings,
):
    receivers = Receivers()
    async with provider(bcl_settings(oidc_settings), receivers) as h:
        idle = h.runtime.settings.session.idle_timeout_seconds
        a = await id_token(h, "bcl-a")
        b = await id_token(h, "bcl-b")
        h.clock.advance(idle - 1)
        await sweep(h)
        await deliver(h)
        assert receivers.received == []
        h.clock.advance(1)
        await sweep(h)
        await deliver(h)
        (token_a,) = receivers.tokens("rp-a.example")
        (token_b,) = receivers.tokens("rp-b.example")
        await check_logout_token(h, token_a, "bcl-a", a)
        await check_logout_token(h, token_b, "bcl-b", b)


def test_sessions_revoke_needs_the_shared_store(oidc_settings, tmp_path, capsys):
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump({"issuer": ISSUER, "clients": CLIENTS}))
    assert main(["sessions", "revoke", "--config", str(path), "--sub", "someone"]) == 2
    assert "redis_url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"backchannel_logout_uri": "https://rp.example/bcl#frag"}, "fragment"),
        ({"backchannel_logout_uri": "http://rp.example/bcl"}, "https"),
        ({"backchannel_logout_uri": "rp.example/bcl"}, "absolute"),
        ({"backchannel_logout_uri": "https://user:pw@rp.example/bcl"}, "user information"),
        ({"backchannel_logout_session_required": "sometimes"}, "bool"),
    ],
)
def test_bad_back_channel_logout_metadata_is_refused(value, expected, tmp_path, capsys):
    with pytest.raises(ConfigError) as info:
        parse_settings(
            {"issuer": ISSUER, "clients": [entry("c", **value)]}, source="test", environ={}
        )
    assert expected in info.value.render(), info.value.render()
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump({"issuer": ISSUER, "clients": [entry("c", **value)]}))
    assert main(["check-config", str(path)]) == 2
    key = next(iter(value))
    assert f"idp.yaml: clients[0].{key}: " in capsys.readouterr().err


def test_loopback_http_is_accepted_for_development():
    settings = parse_settings(
        {
            "issuer": ISSUER,
            "clients": [entry("c", backchannel_logout_uri="http://127.0.0.1:8080/bcl")],
        },
        source="test",
        environ={},
    )
    assert settings.clients[0].backchannel_logout_uri == "http://127.0.0.1:8080/bcl"
    assert settings.clients[0].backchannel_logout_session_required is False
