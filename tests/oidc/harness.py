"""Drive the provider like a browser and a relying party, in-process."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

ISSUER = "https://id.example.com"
RP_CB = "https://rp.example/cb"
PUBLIC_CB = "http://127.0.0.1:9999/cb"
SECRETS = {
    "confidential": "confidential-secret-0123456789",
    "post-client": "post-client-secret-0123456789",
    "no-pkce": "no-pkce-secret-0123456789abc",
    "pairwise-a": "pairwise-a-secret-0123456789",
    "pairwise-b": "pairwise-b-secret-0123456789",
    "es256": "es256-client-secret-012345678",
    "cc": "client-credentials-secret-0123",
    "narrow": "narrow-scope-secret-012345678",
}
PERSON = {
    "claim_name": "Anna Andersson",
    "claim_given_name": "Anna",
    "claim_family_name": "Andersson",
    "claim_birthdate": "1990-01-01",
    "claim_ssn": "199001012392",
}


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def basic(client_id, secret=None):
    return httpx.BasicAuth(client_id, secret if secret is not None else SECRETS[client_id])


class Harness:
    def __init__(self, http: httpx.AsyncClient, clock, app, authenticator):
        self.http = http
        self.clock = clock
        self.app = app
        self.authn = authenticator

    @property
    def runtime(self):
        return self.app.state.runtime

    def auth_params(self, client_id="confidential", **overrides):
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": PUBLIC_CB if client_id == "public" else RP_CB,
            "scope": "openid profile",
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        return params, verifier

    async def authorize(self, params, method="GET"):
        if method == "GET":
            return await self.http.get("/authorize", params=params)
        return await self.http.post("/authorize", data=params)

    async def finish_login(
        self, login_location, *, action="approve", subject="person-1", acr=None, claims=None
    ):
        """POST the fake login form, then follow the resume redirect; returns the final one."""
        txn = query(login_location)["txn"]
        form = {"txn": txn, "action": action, "subject": subject, **(claims or PERSON)}
        if acr:
            form["acr"] = acr
        done = await self.http.post("/fake/login", data=form)
        assert done.status_code == 303, done.text
        resume = await self.http.get(done.headers["location"])
        return resume

    async def login(self, params, method="GET", **kw):
        """Authorize and log in; returns the response that redirects to the client."""
        first = await self.authorize(params, method)
        assert first.status_code in (302, 303), first.text
        location = first.headers["location"]
        if location.startswith("/fake/login"):
            return await self.finish_login(location, **kw)
        return first

    async def code(self, client_id="confidential", **kw):
        params, verifier = self.auth_params(client_id, **kw.pop("params", {}))
        final = await self.login(params, **kw)
        assert final.status_code in (302, 303), final.text
        q = query(final.headers["location"])
        assert "code" in q, q
        return q["code"], verifier, params

    async def token(self, data, auth=None, **kw):
        return await self.http.post("/token", data=data, auth=auth, **kw)

    async def tokens(self, client_id="confidential", **kw):
        code, verifier, params = await self.code(client_id, **kw)
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        }
        if client_id == "public":
            data["client_id"] = "public"
            r = await self.token(data)
        else:
            r = await self.token(data, auth=basic(client_id))
        assert r.status_code == 200, r.text
        return r.json(), params


def url_with(base, **params):
    return f"{base}?{urlencode(params)}"


# --------------------------------------------------------------------------------------------
# Helpers added for the black-box suites (test_conformance_basic, test_rfc9700, test_bad_input,
# test_openid_client, ...). Additions only: nothing above changes behaviour.

import contextlib  # noqa: E402
import json  # noqa: E402
from html.parser import HTMLParser  # noqa: E402

import jwt  # noqa: E402

LOGGED_OUT = "https://rp.example/logged-out"
ANY = object()  # verify_id_token(nonce=ANY): do not check the nonce (refreshed ID tokens)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_hash(value: str, alg: str) -> str:
    """at_hash / c_hash (OIDC Core §3.1.3.6): left half of the alg's hash, base64url."""
    bits = int(alg[2:])
    digest = {256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}[bits](
        value.encode("ascii")
    ).digest()
    return b64url(digest[: len(digest) // 2])


def unverified(token: str) -> tuple[dict, dict]:
    """A JWT's header and claims, without checking anything."""
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def location(response: httpx.Response) -> str:
    return response.headers.get("location", "")


def assert_redirect_error(response, error, *, state=None, redirect_uri=RP_CB):
    """An authorization error sent back to the client: 303, error + description, state, iss."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    loc = location(response)
    assert loc.startswith(redirect_uri + "?"), loc
    q = query(loc)
    assert q.get("error") == error, q
    assert q.get("error_description"), q
    assert q.get("iss") == ISSUER, q
    assert q.get("state") == state, q
    assert not {"code", "access_token", "id_token"} & set(q) and "#" not in loc, loc
    return q


def assert_html_page(response, status=400):
    """An HTML page for the person (no redirect), with the anti-framing headers."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert "location" not in response.headers, response.headers.get("location")
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert_frame_protection(response)
    assert "Traceback" not in response.text


def assert_frame_protection(response):
    assert response.headers.get("x-frame-options", "").upper() == "DENY", response.headers
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, csp
    assert "unsafe-inline" not in csp, csp


def assert_json_error(response, status, error=None):
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("error"), str), body
    if error is not None:
        assert body["error"] == error, body
    return body


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "method": a.get("method", "get"),
                    "fields": {},
                    "buttons": [],
                }
            )
        elif self.forms and tag in ("input", "button"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "submit":
                if a.get("name"):
                    self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
            elif a.get("name"):
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def html_forms(text: str) -> list[dict]:
    """The forms of an HTML page: action, method, named fields and named submit buttons."""
    parser = _FormParser()
    parser.feed(text)
    return parser.forms


async def discovery(h: Harness) -> dict:
    r = await h.http.get("/.well-known/openid-configuration")
    assert r.status_code == 200, r.text
    return r.json()


async def jwks(h: Harness) -> dict:
    r = await h.http.get("/jwks")
    assert r.status_code == 200, r.text
    return r.json()


async def verify_jwt(
    h: Harness, token: str, *, audience=None, issuer=ISSUER, algorithms=("RS256", "ES256")
) -> tuple[dict, dict]:
    """Verify a JWT we issued against /jwks (signature by `kid`, iss, aud); time against h.clock.

    Time claims are checked against the test's FixedClock, not the wall clock.
    """
    header = jwt.get_unverified_header(token)
    assert header.get("alg") in algorithms, header
    assert header.get("kid"), header
    keys = [k for k in (await jwks(h))["keys"] if k.get("kid") == header["kid"]]
    assert len(keys) == 1, (header, keys)
    key = jwt.PyJWK(keys[0], algorithm=header["alg"])
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[header["alg"]],
        audience=audience,
        issuer=issuer,
        options={
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
            "verify_aud": audience is not None,
            "require": ["iss", "exp", "iat"],
        },
    )
    now = h.clock.now()
    assert claims["iat"] <= now + 5, (claims["iat"], now)
    assert claims["exp"] > now, (claims["exp"], now)
    return header, claims


async def verify_id_token(
    h: Harness, token: str, client_id="confidential", *, nonce=None, access_token=None, alg=None
) -> dict:
    """Full ID token validation (OIDC Core §3.1.3.7) against /jwks; returns the claims."""
    expected_alg = alg or ("ES256" if client_id == "es256" else "RS256")
    header, claims = await verify_jwt(h, token, audience=client_id, algorithms=(expected_alg,))
    for name in ("sub", "aud", "auth_time", "acr", "amr", "sid"):
        assert name in claims, (name, claims)
    if isinstance(claims["aud"], list) and len(claims["aud"]) > 1:
        assert claims.get("azp") == client_id, claims
    assert claims["auth_time"] <= h.clock.now(), claims
    if nonce is None:
        assert "nonce" not in claims, claims
    elif nonce is not ANY:
        assert claims.get("nonce") == nonce, claims
    if access_token is not None:
        assert claims.get("at_hash") == token_hash(access_token, header["alg"]), claims
    return claims


async def verify_access_token(h: Harness, token: str) -> dict:
    """RFC 9068 access token: typ at+jwt, iss, sub, aud, exp, iat, jti, client_id, scope."""
    header, claims = await verify_jwt(h, token)
    assert header.get("typ", "").lower() in ("at+jwt", "application/at+jwt"), header
    for name in ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"):
        assert name in claims, (name, claims)
    return claims


@contextlib.asynccontextmanager
async def other_browser(h: Harness, peer=("127.0.0.1", 50001)):
    """A second browser (its own cookie jar) on the same running provider and clock."""
    transport = httpx.ASGITransport(app=h.app, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        yield Harness(http, h.clock, h.app, h.authn)


async def exchange(
    h: Harness, code, verifier, params, *, client_id=None, auth="default", **extra
) -> httpx.Response:
    """POST the authorization code to /token (basic auth, or client_id for `public`)."""
    client_id = client_id or params["client_id"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    data = {k: v for k, v in data.items() if v is not None}
    if auth == "default":
        if client_id == "public":
            data["client_id"] = "public"
            auth = None
        else:
            auth = basic(client_id)
    return await h.token(data, auth=auth)


async def refresh(h: Harness, refresh_token, client_id="confidential", **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    if client_id == "public":
        return await h.token({**data, "client_id": "public"})
    return await h.token(data, auth=basic(client_id))


async def introspect(h: Harness, token, client_id="confidential", **extra) -> dict:
    r = await h.http.post("/introspect", data={"token": token, **extra}, auth=basic(client_id))
    assert r.status_code == 200, r.text
    return r.json()


async def revoke(h: Harness, token, client_id="confidential", **extra) -> httpx.Response:
    return await h.http.post("/revoke", data={"token": token, **extra}, auth=basic(client_id))


async def userinfo(h: Harness, access_token, method="GET") -> httpx.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    if method == "GET":
        return await h.http.get("/userinfo", headers=headers)
    return await h.http.post("/userinfo", headers=headers)


async def prompt_none(h: Harness, client_id="confidential", **overrides) -> httpx.Response:
    params, _ = h.auth_params(client_id, prompt="none", **overrides)
    return await h.authorize(params)


def client_assertion(
    private_key,
    *,
    client_id="jwt-client",
    aud=ISSUER + "/token",
    now,
    lifetime=60,
    jti=None,
    kid="client-key-1",
    **claims,
) -> str:
    """A private_key_jwt client assertion (RFC 7523 §3), RS256."""
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": int(now),
        "exp": int(now + lifetime),
        "jti": jti or secrets.token_urlsafe(16),
        **claims,
    }
    return jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": kid})


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))
