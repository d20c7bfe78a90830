"""The grant registry is the one list of grants: the token endpoint serves them, discovery lists
the enabled ones, and a client's `grant_types` may name only them."""

import pytest
from authlib.oauth2.rfc6749 import UnauthorizedClientError
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from idp.app import GRANTS, create_app
from idp.cli import main
from idp.clock import FixedClock
from idp.config import CIBA_GRANT, ConfigError, Registrations, parse_settings
from idp.oidc.client_auth import CONFIDENTIAL_METHODS
from idp.oidc.grants import OAUTH_GRANTS, GrantDescriptor, GrantRegistry
from idp.store.memory import MemoryTTLStore
from tests.asgi import app_client
from tests.oidc.fake_authn import FakeAuthenticator
from tests.oidc.harness import ISSUER, basic, discovery

pytestmark = pytest.mark.anyio

FAKE = "urn:example:params:grant-type:fake"
FAKE_SECRET = "fake-grant-secret-0123456789"
SERVED = f"'authorization_code', 'refresh_token', 'client_credentials' or '{CIBA_GRANT}'"


class FakeGrant(BaseGrant, TokenEndpointMixin):
    """A made-up grant: the client authenticates and gets a token response naming it."""

    GRANT_TYPE = FAKE
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(FAKE):
            raise UnauthorizedClientError("this client may not use the fake grant")
        self.request.client = client

    def create_token_response(self):
        body = {"granted_to": self.request.client.client_id, "bridge": type(self.bridge).__name__}
        return 200, body, self.TOKEN_RESPONSE_HEADER


WITH_FAKE = GRANTS.plus(GrantDescriptor(FakeGrant))


def fake_client_settings(database_url, grant_types):
    entry = {
        "client_id": "fake-client",
        "client_secret": FAKE_SECRET,
        "grant_types": [FAKE],
        "scope": "openid",
    }
    raw = {"issuer": ISSUER, "database_url": database_url, "clients": [entry]}
    return parse_settings(raw, source="test", environ={}, grant_types=grant_types)


async def test_discovery_lists_exactly_the_enabled_grants_of_the_registry(oidc):
    bridge = oidc.app.state.provider.bridge
    assert bridge.grants is GRANTS
    doc = await discovery(oidc)
    registered = oidc.runtime.registry.current
    assert doc["grant_types_supported"] == GRANTS.enabled(registered)
    # The test clients include one for client_credentials, so every grant is listed.
    assert doc["grant_types_supported"] == list(GRANTS.names())


def test_client_credentials_is_listed_only_while_a_client_uses_it():
    nobody = Registrations.of(parse_settings({"issuer": ISSUER}, source="t", environ={}))
    assert GRANTS.enabled(nobody) == ["authorization_code", "refresh_token", CIBA_GRANT]
    assert "client_credentials" in GRANTS.names()


def test_the_configuration_accepts_exactly_the_registrys_grant_types():
    with pytest.raises(ConfigError) as info:
        fake_client_settings("sqlite://", GRANTS.names())
    assert [(i.path, i.message) for i in info.value.issues] == [
        ("clients[0].grant_types[0]", f"expected {SERVED}")
    ]
    settings = fake_client_settings("sqlite://", WITH_FAKE.names())
    assert settings.clients[0].grant_types == [FAKE]


async def test_a_new_grant_is_one_descriptor_served_listed_and_configurable(oidc_settings):
    settings = fake_client_settings(oidc_settings.database_url, WITH_FAKE.names())
    with pytest.raises(ConfigError) as info:
        create_app(settings)  # the default registry does not serve it
    assert [i.path for i in info.value.issues] == ["clients[0].grant_types[0]"]

    clock = FixedClock()
    app = create_app(
        settings,
        clock=clock,
        store=MemoryTTLStore(clock),
        authenticator=lambda handoff: FakeAuthenticator(handoff, clock),
        grants=WITH_FAKE,
    )
    async with app_client(app, base_url=ISSUER) as http:
        doc = (await http.get("/.well-known/openid-configuration")).json()
        assert doc["grant_types_supported"][-1] == FAKE
        auth = basic("fake-client", FAKE_SECRET)
        r = await http.post("/token", data={"grant_type": FAKE}, auth=auth)
        assert r.status_code == 200, r.text
        assert r.json() == {"granted_to": "fake-client", "bridge": "OAuthBridge"}
        assert r.headers["cache-control"] == "no-store"


def test_check_config_names_an_unknown_grant_type_with_its_path(tmp_path, capsys):
    path = tmp_path / "idp.yaml"
    path.write_text(
        "issuer: https://id.example.com\n"
        "clients:\n"
        "  - client_id: shop\n"
        "    client_secret: 0123456789abcdef\n"
        "    redirect_uris: [https://shop.example/cb]\n"
        "    grant_types: [authorization_code, password]\n"
    )
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: clients[0].grant_types[1]: expected {SERVED}" in err.splitlines(), err


def test_a_grant_type_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        GrantRegistry([GrantDescriptor(FakeGrant), GrantDescriptor(FakeGrant)])
    with pytest.raises(ValueError, match="'refresh_token' is registered twice"):
        OAUTH_GRANTS.plus(OAUTH_GRANTS["refresh_token"])


async def test_only_a_registered_grant_can_be_bound(oidc):
    with pytest.raises(LookupError, match="not registered"):
        oidc.app.state.provider.bridge.bind(FAKE, service=object())
