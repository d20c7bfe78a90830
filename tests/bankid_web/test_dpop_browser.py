"""DPoP (RFC 9449) end to end with a relying-party library that is not ours: oauth4webapi
(tests/bankid_web/rp/dpop_login.mjs) logs a person in with BankID in headless Chromium, with a
pushed authorization request, private_key_jwt and DPoP, for a client whose proofs must carry the
provider's nonce (`dpop_nonce_required`): the library's first proof is refused with
use_dpop_nonce and it retries with the nonce, as its docs say. The code is exchanged with a
proof, UserInfo is called with the DPoP-bound access token, the token is refreshed with a proof;
the same access token sent as a bearer token is refused.

The same run for a client in FAPI 2.0 Security Profile mode (`fapi2: true`; issue #16,
acceptance 4, "completes a conforming one end to end"): PAR, private_key_jwt with ES256,
DPoP-bound tokens with the nonce round trip, an ES256 ID token, `iss` in the authorization
response, and a refresh that keeps the refresh token (FAPI 2.0 §5.3.2.1: no rotation), where
the plain DPoP client's refresh token is rotated. (The refusals of non-conforming requests, with
a fake authenticator: tests/oidc/test_fapi2_mode.py.)

At the end, two `idp serve` processes on one Redis: a proof accepted by one is refused by the
other (RFC 9449 §11.1), and a nonce from one is accepted by the other (§8). (The same with
in-process apps: tests/oidc/test_dpop_two_instances.py.)"""

from __future__ import annotations

import secrets
import subprocess
import time

import httpx
import jwt
import pytest
import yaml
from joserfc.jwk import ECKey

from tests.bankid_web.live import (
    ROOT,
    LiveProvider,
    ScriptedRelyingParty,
    launch_chromium,
    need_browser_tools,
    need_node_rp,
    new_browser_page,
    read_qr,
)
from tests.bankid_web.support import DESKTOP_UA, query
from tests.oidc.dpop_proof import Prover, ath
from tests.services import REDIS_URL, require_service

DPOP_SCRIPT = ROOT / "tests" / "bankid_web" / "rp" / "dpop_login.mjs"
CLIENT = "dpop-rp"
FAPI2_CLIENT = "fapi2-rp"
PERSONAL_IDENTITY_NUMBER = "https://id.oidc.se/claim/personalIdentityNumber"
SCOPE = "openid https://id.oidc.se/scope/naturalPersonNumber"
BJORN = "197203152397"


# ------------------------------------------------------------------------ the browser login


@pytest.fixture(scope="module")
def auth_key():
    return ECKey.generate_key("P-256", {"use": "sig", "kid": "dpop-auth", "alg": "ES256"}, True)


@pytest.fixture(scope="module")
def live(tmp_path_factory, auth_key):
    need_browser_tools()

    def dpop_client(redirect_uri: str) -> list[dict]:
        dpop = {
            "client_id": CLIENT,
            "client_name": "DPoP test RP",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [dict(auth_key.as_dict(private=False))]},
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": SCOPE,
            "require_pushed_authorization_requests": True,
            "dpop_bound_access_tokens": True,
            "dpop_nonce_required": True,
        }
        # FAPI 2.0 mode: PAR and DPoP-bound tokens are implied; ID tokens in ES256.
        fapi2 = {
            "client_id": FAPI2_CLIENT,
            "client_name": "FAPI 2.0 test RP",
            "fapi2": True,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [dict(auth_key.as_dict(private=False))]},
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": SCOPE,
            "id_token_signed_response_alg": "ES256",
            "dpop_nonce_required": True,
        }
        return [dpop, fapi2]

    with LiveProvider(tmp_path_factory.mktemp("live-dpop"), extra_clients=dpop_client) as provider:
        yield provider


@pytest.fixture(scope="module")
def chromium(live):
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def node_rp():
    need_node_rp()
    for package in ("oauth4webapi", "jose"):
        if not (ROOT / "node_modules" / package / "package.json").exists():
            require_service(package, "not installed (npm ci)", where=str(ROOT / "node_modules"))


def show_qr(page) -> None:
    page.locator("#qr-img, button[value=qr]").first.wait_for()
    if page.locator("button[value=qr]").count():
        page.click("button[value=qr]")


def scan(live, qr: str, **extra) -> httpx.Response:
    return httpx.post(f"{live.url}/bankid-simulator/app/scan", json={"qr": qr, **extra}, timeout=10)


@pytest.mark.browser
@pytest.mark.node
@pytest.mark.parametrize("client", [CLIENT, FAPI2_CLIENT])
def test_oauth4webapi_logs_in_with_par_private_key_jwt_and_dpop_with_a_nonce(
    live, auth_key, chromium, tmp_path, node_rp, client
):
    config = {
        "issuer": live.url,
        "client_id": client,
        "redirect_uri": live.rp_callback,
        "scope": SCOPE,
        "params": {"login_hint": BJORN, "ui_locales": "en"},
        "auth_key": dict(auth_key.as_dict(private=True)),
    }
    rp = ScriptedRelyingParty(config, script=DPOP_SCRIPT)
    page = new_browser_page(
        chromium, "en", viewport={"width": 1280, "height": 800}, user_agent=DESKTOP_UA
    )
    try:
        url = rp.authorization_url()
        assert set(query(url)) == {"client_id", "request_uri"}
        page.goto(url)
        show_qr(page)
        scanned = scan(live, read_qr(page, tmp_path), personalNumber=BJORN)
        assert scanned.status_code == 200, scanned.text
        page.wait_for_url(f"{live.rp_callback}?**", timeout=30_000)
        assert query(page.url)["iss"] == live.url
        message = rp.finish(page.url)
    finally:
        rp.close()
        page.context.close()
    assert "result" in message, message
    result = message["result"]
    wire = result["wire"]

    # The nonce round trip (§8): the first pushed request's proof has no nonce and is refused
    # with use_dpop_nonce and a DPoP-Nonce header; the library retried with that nonce.
    pars = [w for w in wire if w["endpoint"] == "/par"]
    assert len(pars) == 2, pars
    first, second = pars
    assert (first["status"], first["error"]) == (400, "use_dpop_nonce"), first
    assert "nonce" not in first["proof"]["claims"] and first["dpop_nonce"]
    assert second["status"] == 201, second
    assert second["proof"]["claims"]["nonce"] == first["dpop_nonce"]
    assert result["nonce_retries"].get("par") == 1

    # Every proof: ES256, typ dpop+jwt, htm/htu of its request, a fresh jti; the resource
    # requests with ath and the DPoP scheme.
    proofs = [w for w in wire if w["proof"]]
    assert {w["endpoint"] for w in proofs} == {"/par", "/token", "/userinfo"}
    assert len({w["proof"]["claims"]["jti"] for w in proofs}) == len(proofs)
    for w in proofs:
        assert w["proof"]["header"] == {"alg": "ES256", "typ": "dpop+jwt"}, w
        assert w["proof"]["claims"]["htu"] == live.url + w["endpoint"]
        assert w["proof"]["claims"]["htm"] == w["method"]
    tokens = [w for w in wire if w["endpoint"] == "/token"]
    assert [w["status"] for w in tokens if w["status"] == 200] == [200, 200], tokens
    assert all(w["proof"]["claims"].get("nonce") for w in tokens)
    userinfos = [w for w in wire if w["endpoint"] == "/userinfo"]
    assert [w["status"] for w in userinfos] == [200, 200], userinfos
    assert all(w["authorization_scheme"] == "DPoP" for w in userinfos)
    assert userinfos[0]["proof"]["claims"]["ath"] == ath(result["access_token"])
    assert userinfos[1]["proof"]["claims"]["ath"] == ath(result["refreshed_access_token"])

    # The ID token, UserInfo before and after the refresh: Björn's.
    assert result["claims"][PERSONAL_IDENTITY_NUMBER] == BJORN
    assert result["claims"]["aud"] == client and result["claims"]["iss"] == live.url
    assert result["userinfo"][PERSONAL_IDENTITY_NUMBER] == BJORN
    assert result["userinfo_after_refresh"][PERSONAL_IDENTITY_NUMBER] == BJORN

    # FAPI 2.0 §5.4.1: the fapi2 client's ID token in ES256 (the other, the default RS256);
    # §5.3.2.1: its refresh token is not rotated, the other client's is.
    fapi2 = client == FAPI2_CLIENT
    assert result["id_token_header"]["alg"] == ("ES256" if fapi2 else "RS256"), result
    assert result["refresh_token_rotated"] is not fapi2, result

    # The tokens are DPoP tokens bound to the library's key (cnf.jkt, §6.1).
    assert result["token_type"] == "dpop" and result["refreshed_token_type"] == "dpop"
    for token in (result["access_token"], result["refreshed_access_token"]):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["cnf"] == {"jkt": result["jkt"]}, claims

    # The same access token as a bearer token is refused (§7.1), and so is the DPoP scheme
    # without a proof.
    for token in (result["access_token"], result["refreshed_access_token"]):
        bearer = httpx.get(
            f"{live.url}/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert bearer.status_code == 401, bearer.text
        challenge = bearer.headers["www-authenticate"]
        assert challenge.startswith("DPoP ") and 'error="invalid_token"' in challenge, challenge
        no_proof = httpx.get(
            f"{live.url}/userinfo", headers={"Authorization": f"DPoP {token}"}, timeout=10
        )
        assert no_proof.status_code == 401, no_proof.text


# ------------------------------------------------------------------------ two processes


class _Clock:
    @staticmethod
    def now() -> float:
        return time.time()


@pytest.fixture
def two_serve_processes(tmp_path, log_check):
    """Two `idp serve` processes on one configuration: one SQLite database, one Redis with a
    key prefix of their own, one secret key; the issuer is instance A's address."""
    import redis

    from tests.scaleout.processes import IDP, Instance

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require_service("Redis", type(exc).__name__, where=REDIS_URL)
    prefix = f"idp-test-dpop-serve:{secrets.token_hex(4)}:"
    path = tmp_path / "idp.yaml"
    a, b = Instance("a", path, tmp_path), Instance("b", path, tmp_path)
    secret = "dpop-cc-secret-0123456789"
    path.write_text(
        yaml.safe_dump(
            {
                "issuer": a.url,
                "database_url": f"sqlite:///{tmp_path}/idp.db",
                "redis_url": REDIS_URL,
                "redis_key_prefix": prefix,
                "secret_key": secrets.token_urlsafe(36),
                "clients": [
                    {
                        "client_id": "cc",
                        "client_secret": secret,
                        "grant_types": ["client_credentials"],
                        "scope": "openid",
                        "dpop_bound_access_tokens": True,
                    },
                    {
                        "client_id": "cc-nonce",
                        "client_secret": secret,
                        "grant_types": ["client_credentials"],
                        "scope": "openid",
                        "dpop_bound_access_tokens": True,
                        "dpop_nonce_required": True,
                    },
                ],
            }
        )
    )
    upgraded = subprocess.run(
        [IDP, "db", "upgrade", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    try:
        a.start()
        a.wait_healthy(60)  # A creates the signing keys; B finds them
        b.start()
        b.wait_healthy(60)
        yield a, b, secret
    finally:
        for instance in (a, b):
            if instance.process.running:
                instance.process.stop()
            for line in instance.process.text().splitlines():
                log_check.check_line(f"idp-{instance.name}.log", line)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.redis
@pytest.mark.scaleout
def test_rfc9449_11_1_a_proof_replayed_on_another_idp_serve_process_is_refused(
    two_serve_processes,
):
    a, b, secret = two_serve_processes
    prover = Prover(_Clock())
    issuer = a.url
    form = {"grant_type": "client_credentials", "scope": "openid"}

    def token(instance, proof, client="cc"):
        return httpx.post(
            f"{instance.url}/token",
            data=form,
            auth=(client, secret),
            headers={"DPoP": proof},
            timeout=10,
        )

    # A proof accepted by A is refused by B: the jti is remembered in the shared Redis.
    proof = prover.proof(htu=f"{issuer}/token")
    r = token(a, proof)
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    r = token(b, proof)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert "used before" in r.json()["error_description"]

    # §8: the nonce A asks for is one B accepts.
    r = token(a, prover.proof(htu=f"{issuer}/token"), "cc-nonce")
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    nonce = r.headers["DPoP-Nonce"]
    r = token(b, prover.proof(htu=f"{issuer}/token", nonce=nonce), "cc-nonce")
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
