"""`idp ciba`: try backchannel login against a running provider, as a staff application would.

Discovery, then a backchannel authentication request for a personal number with a binding
message, then the token endpoint polled at the interval the provider asks for (growing on
slow_down), then the ID token verified against the provider's JWKS (signature, issuer,
audience, lifetime) and summarised. The personal number is never printed: the summary says
whether the verified person is the one asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from idp.config import CIBA_GRANT

SLOW_DOWN_STEP = 5


class TryoutError(Exception):
    """The provider refused, or the flow ended without tokens; the message says why."""


@dataclass(frozen=True)
class Verified:
    claims: dict[str, Any]
    scope: str
    refresh_token: bool
    same_person: bool | None  # None when the ssn claim was not released


def run(
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    personal_number: str,
    message: str | None,
    scope: str = "openid profile ssn",
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Verified:
    with httpx.Client(
        base_url=issuer, timeout=15, transport=transport, follow_redirects=False, trust_env=False
    ) as http:
        meta = _json(http.get("/.well-known/openid-configuration"), "discovery")
        endpoint = meta.get("backchannel_authentication_endpoint")
        if not endpoint:
            raise TryoutError("this provider does not offer backchannel authentication")
        auth = httpx.BasicAuth(client_id, client_secret)
        form = {"scope": scope, "login_hint": personal_number}
        if message:
            form["binding_message"] = message
        ack = _json(http.post(endpoint, data=form, auth=auth), "backchannel request")
        interval = int(ack.get("interval", 5))
        deadline = time.monotonic() + int(ack["expires_in"])
        say(
            f"Request accepted; it expires in {ack['expires_in']} s. The person now gets a "
            "BankID request on their phone" + (f" showing {message!r}." if message else ".")
        )
        while True:
            sleep(interval)
            r = http.post(
                meta["token_endpoint"],
                data={"grant_type": CIBA_GRANT, "auth_req_id": ack["auth_req_id"]},
                auth=auth,
            )
            if r.status_code == 200:
                break
            error = _error(r)
            if error == "authorization_pending":
                say("  waiting for the person to confirm in BankID ...")
            elif error == "slow_down":
                interval += SLOW_DOWN_STEP
            elif error == "expired_token" or time.monotonic() > deadline:
                raise TryoutError("the request expired before the person confirmed")
            else:
                raise TryoutError(f"the token endpoint answered {error}: {_description(r)}")
        tokens = r.json()
        claims = _verify(http, meta, tokens["id_token"], client_id)
    ssn = claims.get("ssn")
    return Verified(
        claims=claims,
        scope=tokens.get("scope", ""),
        refresh_token="refresh_token" in tokens,
        same_person=None if ssn is None else ssn == _digits(personal_number),
    )


def summary(result: Verified) -> list[str]:
    c = result.claims
    lines = ["Verified: the ID token's signature, issuer, audience and lifetime check out."]
    if "name" in c:
        lines.append(f"  name:      {c['name']}")
    lines += [
        f"  sub:       {c['sub']}",
        f"  acr:       {c.get('acr')}",
        f"  amr:       {' '.join(c.get('amr', []))}",
        f"  auth_time: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(c['auth_time']))}",
        f"  scope:     {result.scope}",
    ]
    if result.same_person is True:
        lines.append("  person:    the personal number is the one you asked for")
    elif result.same_person is False:
        lines.append("  person:    MISMATCH: the personal number is not the one you asked for")
    return lines


def _digits(personal_number: str) -> str:
    value = personal_number.strip().removeprefix("sub:ssn:").replace("-", "")
    return value


def _verify(http: httpx.Client, meta: dict[str, Any], id_token: str, client_id: str) -> dict:
    jwks = _json(http.get(meta["jwks_uri"]), "jwks")
    header = jwt.get_unverified_header(id_token)
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    if len(keys) != 1:
        raise TryoutError("the ID token's key is not in the provider's JWKS")
    key = jwt.PyJWK(keys[0], algorithm=header.get("alg"))
    try:
        return jwt.decode(
            id_token,
            key.key,
            algorithms=[str(header.get("alg"))],
            audience=client_id,
            issuer=meta["issuer"],
            options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
        )
    except jwt.InvalidTokenError as exc:
        raise TryoutError(f"the ID token does not verify: {exc}") from None


def _json(r: httpx.Response, what: str) -> dict[str, Any]:
    if r.status_code != 200:
        raise TryoutError(f"{what}: {r.status_code} {_error(r)}: {_description(r)}")
    return r.json()


def _error(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error", r.status_code))
    except ValueError:
        return str(r.status_code)


def _description(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error_description", ""))
    except ValueError:
        return ""
