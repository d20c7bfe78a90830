"""Every route of the provider and of the simulator, listed from the Starlette apps (a new route
is fuzzed without being named here), with nesting up to 10,000 levels, personal numbers and
integers in Unicode digits, huge and repeated parameters: never a 5xx, never a traceback in the
logs, and back-channel errors in their protocol's JSON shape."""

import random
import re
from dataclasses import dataclass, replace
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as gen
from tests.fuzz.support import RP_CB, basic, walk_routes

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
URL_LIMIT = 60_000  # httpx refuses longer URLs (64 kB) before the app sees them
RP_ENDPOINTS = ("auth", "sign", "payment", "collect", "cancel", "phone/auth", "phone/sign")
#: Where an error must be the protocol's JSON: OAuth's {"error"} or the RP API's {"errorCode"}.
OAUTH_JSON = ("/token", "/par", "/introspect", "/revoke", "/backchannel-authentication")
RP_API = "/rp/v6.0/"

authorizations = st.one_of(
    st.none(),
    st.sampled_from(["web", "cs"]).map(basic),
    st.sampled_from(["Basic !!!", "Bearer ", "Basic", "Digest x"]),
    gen.deep_jwt.map(lambda t: "Bearer " + t),
)
content_types = st.sampled_from(
    ["application/x-www-form-urlencoded", "application/json", "text/plain", None]
)


def path_value(name: str, pick: random.Random) -> str:
    if name == "endpoint":
        return pick.choice(RP_ENDPOINTS)
    return pick.choice(["x", "0" * 64, "١٩٨٥", "%00", "a" * 2000])


def fill(path: str, pick: random.Random) -> str:
    from urllib.parse import quote

    return re.sub(
        r"\{(\w+)(?::\w+)?\}", lambda m: quote(path_value(m.group(1), pick), safe="/"), path
    )


def cut(pairs):
    """Query parameters cut to what fits in a URL, percent-encoded."""
    out, room = [], URL_LIMIT
    for name, value in pairs:
        while value and len(urlencode([(name, value)])) > room:
            value = value[: len(value) // 2]
        room -= len(urlencode([(name, value)])) + 1
        if room <= 0:
            break
        out.append((name, value))
    return out


@dataclass(frozen=True)
class Input:
    """What one example sends to every route. Drawn before the test's coroutine runs (a draw
    inside it that overruns raises a BaseException that stops anyio's runner); `seed` picks
    each route's method and body kind."""

    params: list
    json_body: str
    auth: str | None
    ctype: str | None
    seed: int
    in_login: bool  # a real BankID login transaction is under way, its txn and csrf sent too


inputs = st.builds(
    Input,
    gen.parameters,
    gen.json_bodies,
    authorizations,
    content_types,
    st.integers(0, 2**32),
    st.booleans(),
)


async def begin_login(http) -> list[tuple[str, str]]:
    """Start a login as a browser would; the pairs that make the BankID pages' requests real
    (none when an earlier example's input ended this browser's logins, or limits refuse more)."""
    r = await http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "web",
            "redirect_uri": RP_CB,
            "scope": "openid",
            "state": "st",
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert r.status_code < 500, r.text[:200]
    if r.status_code not in (302, 303) or not r.headers["location"].startswith("/bankid/"):
        return []
    page = await http.get(r.headers["location"])
    assert page.status_code < 500, page.text[:200]
    return re.findall(r'name="(txn|csrf|flow)" value="([^"]*)"', page.text)


async def send(http, path, methods, pick: random.Random, given: Input):
    method = pick.choice(methods)
    url = fill(path, pick)
    params = given.params
    headers = {}
    if given.auth is not None:
        headers["Authorization"] = given.auth
    if method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return method, url, await http.request(method, url, params=cut(params), headers=headers)
    kind = pick.choice(["form", "form", "json", "query"])
    if kind == "json":
        content = given.json_body.encode("utf-8", "surrogatepass")
        headers["Content-Type"] = "application/json"
    elif kind == "form":
        content = urlencode(params).encode("utf-8", "surrogatepass")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        content = b""
        if given.ctype:
            headers["Content-Type"] = given.ctype
    query = cut(params) if kind == "query" else None
    r = await http.request(method, url, params=query, content=content, headers=headers)
    return method, url, r


def assert_protocol_shape(path: str, r) -> None:
    if r.status_code < 400:
        return
    if path in OAUTH_JSON and r.status_code != 405:
        body = r.json()
        assert isinstance(body.get("error"), str), body
    if RP_API in path and r.status_code not in (404, 405):
        body = r.json()
        assert isinstance(body.get("errorCode"), str), body


async def fuzz_routes(app, http, given: Input, clean):
    routes = sorted(set(walk_routes(app.routes)))
    assert routes
    pick = random.Random(given.seed)
    clean.reset()
    if given.in_login and any(path == "/authorize" for path, _ in routes):
        given = replace(given, params=[*await begin_login(http), *given.params])
    for path, methods in routes:
        method, url, r = await send(http, path, methods, pick, given)
        what = f"{method} {url[:120]}"
        assert r.status_code < 500, (what, r.status_code, r.text[:300])
        assert_protocol_shape(path, r)
        clean(what)


@FUZZ
@given(given=inputs)
async def test_every_provider_route_survives_hostile_input(provider, tracebacks, given):
    app, http = provider
    await fuzz_routes(app, http, given, tracebacks)


@FUZZ
@given(given=inputs)
async def test_every_simulator_route_survives_hostile_input(simulator, tracebacks, given):
    app, http = simulator
    await fuzz_routes(app, http, given, tracebacks)


async def test_the_route_listing_sees_the_mounted_simulator_and_the_bankid_pages(provider):
    app, _ = provider
    paths = {path for path, _ in walk_routes(app.routes)}
    assert {"/authorize", "/token", "/par", "/backchannel-authentication"} <= paths
    assert any(p.startswith("/bankid/") for p in paths), paths
    assert any(p.startswith("/bankid-simulator/rp/") for p in paths), paths
    assert any(p.startswith("/demo/") for p in paths), paths
