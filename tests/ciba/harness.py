"""Drive backchannel authentication in-process: the staff application, the token endpoint, and
the person's BankID app (the simulator's /app/phone)."""

from __future__ import annotations

import anyio
import httpx
import jwt
from starlette.routing import Mount

from idp.ciba.state import REQUEST

ISSUER = "https://id.example.com"
CIBA = "urn:openid:params:grant-type:ciba"
SECRETS = {
    "cs-poll": "cs-poll-secret-0123456789abcdef",
    "cs-other": "cs-other-secret-0123456789abcdef",
    "cs-noref": "cs-noref-secret-0123456789abcdef",
    "cs-sign": "cs-sign-secret-0123456789abcdef",
    "cs-inbound": "cs-inbound-secret-0123456789abcd",
    "cs-ping": "cs-ping-secret-0123456789abcdef",
    "cs-post": "cs-post-secret-0123456789abcdef",
    "web": "web-client-secret-0123456789abc",
}
ANNA = "198501012382"  # the simulator's default person: completes
BJORN = "197203152397"  # completes
AGNES = "196006072414"  # always cancels
STURE = "198112122422"  # certificateErr
TOVE = "197707072430"  # expiredTransaction at the order lifetime
PERSONS = (
    ANNA,
    BJORN,
    AGNES,
    STURE,
    TOVE,
    "199311242409",
    "198808082443",
    "199505052457",
    "194511112460",
)
BAD_CHECK_DIGIT = "198501012383"
BAD_DATE = "198513012380"


def basic(client_id: str, secret: str | None = None) -> httpx.BasicAuth:
    return httpx.BasicAuth(client_id, secret if secret is not None else SECRETS[client_id])


def simulator_book(app):
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/bankid-simulator":
            return route.app.state.simulator
    raise AssertionError("no simulator mounted")


class CibaHarness:
    def __init__(self, http: httpx.AsyncClient, clock, app) -> None:
        self.http = http
        self.clock = clock
        self.app = app
        self.responses: list[httpx.Response] = []  # every answer, for the personal-data check

    @property
    def service(self):
        return self.app.state.ciba.service

    @property
    def store(self):
        return self.app.state.runtime.store

    @property
    def sim(self):
        return simulator_book(self.app)

    async def _keep(self, response: httpx.Response) -> httpx.Response:
        self.responses.append(response)
        return response

    async def backchannel(
        self,
        client_id="cs-poll",
        *,
        auth="basic",
        scope="openid profile",
        login_hint=ANNA,
        form=None,
        **params,
    ) -> httpx.Response:
        data = {"scope": scope, "login_hint": login_hint, **params, **(form or {})}
        data = {k: v for k, v in data.items() if v is not None}
        kw = {}
        if auth == "basic":
            kw["auth"] = basic(client_id)
        elif auth == "post":
            data.update(client_id=client_id, client_secret=SECRETS[client_id])
        elif auth is not None:
            kw["auth"] = auth
        return await self._keep(
            await self.http.post("/backchannel-authentication", data=data, **kw)
        )

    async def start(self, client_id="cs-poll", **kw) -> dict:
        r = await self.backchannel(client_id, **kw)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store", r.headers
        return r.json()

    async def token(self, auth_req_id, client_id="cs-poll", *, auth="basic", **extra):
        data = {"grant_type": CIBA, "auth_req_id": auth_req_id, **extra}
        data = {k: v for k, v in data.items() if v is not None}
        kw = {}
        if auth == "basic":
            kw["auth"] = basic(client_id)
        elif auth == "post":
            data.update(client_id=client_id, client_secret=SECRETS[client_id])
        elif auth is not None:
            kw["auth"] = auth
        return await self._keep(await self.http.post("/token", data=data, **kw))

    async def phone(self, personal_number=ANNA, action="approve") -> httpx.Response:
        """The person acts in their BankID app (the simulator's user app)."""
        return await self._keep(
            await self.http.post(
                "/bankid-simulator/app/phone",
                json={"personalNumber": personal_number, "action": action},
            )
        )

    async def status(self, auth_req_id) -> str | None:
        value = await self.store.get(REQUEST, auth_req_id)
        return None if value is None else value["status"]

    async def settle(
        self, auth_req_id, *, advance=2.0, until=("approved", "denied", "expired")
    ) -> str:
        """Move the clock one BankID poll interval and wait (real time) for the follower."""
        self.clock.advance(advance)
        with anyio.fail_after(5):
            while (status := await self.status(auth_req_id)) not in until:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        return status

    async def approved_tokens(self, client_id="cs-poll", person=ANNA, **params) -> dict:
        """A whole successful flow: request, the person approves, one poll gets the tokens."""
        ack = await self.start(client_id, login_hint=person, **params)
        assert (await self.phone(person)).status_code == 200
        assert await self.settle(ack["auth_req_id"]) == "approved"
        self.clock.advance(ack["interval"])
        r = await self.token(ack["auth_req_id"], client_id)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        return r.json()

    async def jwks(self) -> dict:
        return (await self.http.get("/jwks")).json()

    async def verify(self, token: str, audience: str | None = None) -> dict:
        """Verify a JWT of ours against /jwks (signature, iss, aud), time by the test clock."""
        header = jwt.get_unverified_header(token)
        keys = [k for k in (await self.jwks())["keys"] if k["kid"] == header["kid"]]
        assert len(keys) == 1, header
        key = jwt.PyJWK(keys[0], algorithm=header["alg"])
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[header["alg"]],
            audience=audience,
            issuer=ISSUER,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": audience is not None,
            },
        )
        assert claims["iat"] <= self.clock.now() < claims["exp"], claims
        return claims


def error_of(response: httpx.Response, status: int, error: str, *, described=True) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    assert "error_description" in body or not described, body
    return body
