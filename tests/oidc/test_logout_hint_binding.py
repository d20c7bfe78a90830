"""RP-initiated logout binds an `id_token_hint` to this browser's session (RP-Initiated Logout
1.0 §2, §6), and pairwise clients each see their own `sid`."""

import pytest

from tests.oidc.harness import (
    ANY,
    LOGGED_OUT,
    assert_json_error,
    html_forms,
    location,
    other_browser,
    prompt_none,
    query,
    refresh,
    verify_id_token,
)
from tests.oidc.test_provider_contract import other_tokens

pytestmark = pytest.mark.anyio


async def test_a_hint_from_another_session_asks_before_ending_this_one(oidc):
    mine, _ = await oidc.tokens()
    async with other_browser(oidc) as other:
        theirs, _ = await other_tokens(other)
        # The other browser is sent to /logout carrying *my* ID token (a logout CSRF).
        r = await other.http.get(
            "/logout",
            params={
                "id_token_hint": mine["id_token"],
                "post_logout_redirect_uri": LOGGED_OUT,
            },
        )
        assert r.status_code == 200, (r.status_code, r.headers.get("location"))
        assert any("csrf" in f["fields"] for f in html_forms(r.text)), r.text
        # Nothing ended: neither the browser's own session nor the one the hint names.
        still = await prompt_none(other)
        assert "code" in query(location(still)), location(still)
        assert (await refresh(other, theirs["refresh_token"])).status_code == 200
        assert (await refresh(oidc, mine["refresh_token"])).status_code == 200


async def test_pairwise_clients_get_their_own_sid_and_it_still_logs_out(oidc):
    sids = {}
    tokens = {}
    for cid in ("confidential", "pairwise-a", "pairwise-b"):
        tokens[cid], sent = await oidc.tokens(cid)
        claims = await verify_id_token(
            oidc,
            tokens[cid]["id_token"],
            cid,
            nonce=sent["nonce"],
            access_token=tokens[cid]["access_token"],
        )
        sids[cid] = claims["sid"]
    assert len(set(sids.values())) == 3, sids  # one SSO session, three sids
    # A refreshed ID token keeps its client's sid.
    again = await refresh(oidc, tokens["pairwise-a"]["refresh_token"], "pairwise-a")
    refreshed = await verify_id_token(
        oidc,
        again.json()["id_token"],
        "pairwise-a",
        nonce=ANY,
        access_token=again.json()["access_token"],
    )
    assert refreshed["sid"] == sids["pairwise-a"]
    # The pairwise sid still names this session at logout, and ends every client's grants.
    r = await oidc.http.get(
        "/logout",
        params={
            "id_token_hint": again.json()["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT,
        },
    )
    assert r.status_code == 303, r.text
    assert_json_error(
        await refresh(oidc, tokens["confidential"]["refresh_token"]), 400, "invalid_grant"
    )
    assert_json_error(
        await refresh(oidc, tokens["pairwise-b"]["refresh_token"], "pairwise-b"),
        400,
        "invalid_grant",
    )
