"""JSON nested up to 10,000 levels, wherever JSON from outside is read, gets the protocol's own
error, never a RecursionError and a 500 (issue 14: unauthenticated tracebacks)."""

import json

import pytest

from idp.authn import safejson
from idp.oidc.sign_request import PARAMETER as SIGN_REQUEST
from idp.oidc.user_message import PARAMETER as USER_MESSAGE
from tests.fuzz.strategies import deep_json, jwt_with
from tests.fuzz.support import RP_CB, b64url, basic

pytestmark = pytest.mark.anyio

DEPTHS = (1_000, 10_000)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def authorize_params(**extra):
    return {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": RP_CB,
        "scope": "openid",
        "state": "st",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        **extra,
    }


def assert_redirect_error(r, *errors):
    assert r.status_code in (302, 303), (r.status_code, r.text[:200])
    location = r.headers["location"]
    assert location.startswith(RP_CB + "?"), location
    assert any(f"error={e}&" in location for e in errors), location


def assert_oauth_error(r, *statuses):
    assert r.status_code in statuses, (r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json()["error"], str)


@pytest.mark.parametrize("depth", DEPTHS)
async def test_deep_request_object_is_invalid_request_object(provider, tracebacks, depth):
    _, http = provider
    for header, payload in (
        ('{"alg":"RS256"}', deep_json(depth, "object")),
        (deep_json(depth, "array"), "{}"),
    ):
        r = await http.post("/authorize", data=authorize_params(request=jwt_with(header, payload)))
        assert_redirect_error(r, "invalid_request_object")
        tracebacks("request object")


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("path", ["/token", "/par", "/backchannel-authentication"])
async def test_deep_client_assertion_is_invalid_client(provider, tracebacks, depth, path):
    _, http = provider
    assertion = jwt_with('{"alg":"RS256","kid":"fuzz-key"}', deep_json(depth, "array"))
    form = {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "grant_type": "client_credentials",
        "scope": "openid",
        "login_hint": "x",
        **({"client_id": "jwt"} if path == "/par" else {}),
    }
    if path == "/par":
        form.update(authorize_params(client_id="jwt"))
    assert_oauth_error(await http.post(path, data=form), 400, 401)
    tracebacks(path)


@pytest.mark.parametrize("depth", (500, 1_000, 10_000))
@pytest.mark.parametrize("name", ["claims", "authorization_details", USER_MESSAGE, SIGN_REQUEST])
async def test_deep_json_parameters_at_authorize_and_par(provider, tracebacks, name, depth):
    _, http = provider
    for kind in ("array", "object", "claims"):
        value = deep_json(depth, kind)
        r = await http.post("/authorize", data=authorize_params(**{name: value}))
        assert_redirect_error(r, "invalid_request", "invalid_authorization_details")
        r = await http.post(
            "/par", data=authorize_params(**{name: value}), headers={"Authorization": basic("web")}
        )
        assert_oauth_error(r, 400)
        tracebacks(f"{name} nested {depth}")


@pytest.mark.parametrize("depth", (500, 1_000, 10_000))
@pytest.mark.parametrize(
    "name",
    [
        "claims",
        "authorization_details",
        USER_MESSAGE,
        SIGN_REQUEST,
        "binding_message",
        "login_hint",
        "request",
    ],
)
async def test_deep_json_at_the_ciba_endpoint(provider, tracebacks, name, depth):
    _, http = provider
    form = {"scope": "openid", "login_hint": "198501012382", name: deep_json(depth, "object")}
    r = await http.post(
        "/backchannel-authentication", data=form, headers={"Authorization": basic("cs")}
    )
    # A request the deep value did not spoil may be accepted; anything else is an OAuth error.
    if r.status_code != 200:
        assert_oauth_error(r, 400, 401, 403)
    tracebacks(f"CIBA {name} nested {depth}")


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize(
    "endpoint", ["auth", "sign", "payment", "collect", "cancel", "phone/auth", "phone/sign"]
)
async def test_deep_json_at_the_simulators_rp_api(simulator, tracebacks, endpoint, depth):
    _, http = simulator
    for kind in ("array", "object", "mixed"):
        r = await http.post(
            f"/rp/v6.0/{endpoint}",
            content=deep_json(depth, kind),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, (r.status_code, r.text[:200])
        assert r.json()["errorCode"] == "invalidParameters"
        tracebacks(endpoint)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("path", ["scan", "autostart", "phone"])
async def test_deep_json_at_the_simulators_app(simulator, tracebacks, path, depth):
    _, http = simulator
    for kind in ("array", "object"):
        r = await http.post(
            f"/app/{path}",
            content=deep_json(depth, kind),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, (r.status_code, r.text[:200])
        assert r.json()["error"] == "invalid_json"
        tracebacks(path)


async def test_the_mounted_simulator_answers_deep_json_as_bankid_would(provider, tracebacks):
    _, http = provider
    r = await http.post(
        "/bankid-simulator/rp/v6.0/auth",
        content=deep_json(10_000, "array"),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["errorCode"] == "invalidParameters"
    tracebacks("mounted simulator")


# ------------------------------------------------------------------- the shared decoder


@pytest.mark.parametrize(
    "text",
    [
        deep_json(10_000, "array"),
        deep_json(33, "object"),
        "[" * 100_000,
        "9" * 5000,
        '{"a": 1',
        b"\xff\xfe\xfd",
    ],
)
def test_safejson_refuses_with_one_error_type(text):
    with pytest.raises(safejson.InvalidJSON):
        safejson.loads(text)


def test_safejson_reads_what_json_reads_within_its_limits():
    doc = {"a": [1, 2, {"b": "[[[[{{{{"}], "c": 'x\\"]]]'}
    assert safejson.loads(json.dumps(doc)) == doc
    assert safejson.loads(json.dumps(doc).encode()) == doc
    assert safejson.loads(deep_json(32, "array")) is not None
    assert safejson.depth('["[[[[", {"a": "]]]"}]') == 2


def test_safejson_raises_the_callers_error_and_keeps_hook_errors():
    class Mine(Exception):
        pass

    with pytest.raises(Mine):
        safejson.loads(deep_json(100, "array"), error=Mine)
    with pytest.raises(safejson.TooDeep):
        safejson.loads(deep_json(100, "array"))
    with pytest.raises(safejson.InvalidJSON, match="too long"):
        safejson.loads("[1]" + " " * 100, max_size=10)

    class HookError(ValueError):
        pass

    def hook(pairs):
        raise HookError("duplicate")

    with pytest.raises(HookError):
        safejson.loads('{"a": 1}', object_pairs_hook=hook)


def test_safejson_error_never_repeats_the_input():
    secret = b64url(b"198501012382")
    with pytest.raises(safejson.InvalidJSON) as caught:
        safejson.loads('{"x": "' + secret)
    assert secret not in str(caught.value)
