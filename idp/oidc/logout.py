"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

With a valid `id_token_hint` that names this browser's session (its `sid` and `sub`, as this
client sees them) the session ends at once. Without a hint, or with one that names another
session or person, the person is asked to confirm. §2: "If the ID Token's sid claim does not
correspond to the RP's current session or a recent session at the OP, the OP SHOULD treat the
logout request as suspect"; §6: requests without a valid hint are "a potential means of denial
of service; therefore, OPs should obtain explicit confirmation from the End-User before acting
upon them". An ID token of some other login proves nothing about this browser's. Only this
browser's session is ever ended here. A
`post_logout_redirect_uri` must exactly match one the client registered (§3), otherwise no
redirect happens. Ending a session revokes the refresh tokens issued in it.

An operator can end every session of a person (`revoke_subject`, `idp sessions revoke`), as
Keycloak's "Sign out" of a user does: the person is named by the `sub` a client received (the
grant rows hold each client's `sub` with the session's sid), each live session with such a grant
ends as by logout (its clients get logout tokens, idp.oidc.backchannel), and the grants of those
sessions, ended or already run out, are revoked with their refresh tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from idp.config import ClientSettings, Registry, Settings
from idp.keys import SigningKeys
from idp.oidc.authorize import redirect_to
from idp.oidc.sessions import Sessions, SSOSession
from idp.oidc.subject import subject_for
from idp.oidc.tokens import TokenService
from idp.store.db import DatabaseUnavailable, run_db
from idp.store.models import Grant
from idp.store.ttl import StoreUnavailable
from idp.web.cookies import Cookies
from idp.web.errors import error_page
from idp.web.templating import Templates

PURPOSE = "logout"


@dataclass(frozen=True)
class Revoked:
    """What `revoke_subject` did: live sessions ended, grants revoked."""

    sessions: int
    grants: int


def session_ids(db: sessionmaker[Session], sub: str, client_id: str | None) -> list[str]:
    """The sids of the sessions in which a client received `sub` (one client, or any) and
    whose grants are not yet revoked."""
    query = select(Grant.sid).where(
        Grant.sub == sub, Grant.sid.is_not(None), Grant.revoked_at.is_(None)
    )
    if client_id is not None:
        query = query.where(Grant.client_id == client_id)
    with db() as s:
        return sorted({sid for sid in s.scalars(query.distinct()) if sid})


class LogoutError(Exception):
    def __init__(self, message_key: str) -> None:
        self.message_key = message_key


class Logout:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        keys: SigningKeys,
        sessions: Sessions,
        tokens: TokenService,
        cookies: Cookies,
        templates: Templates,
        *,
        subject_secret: bytes,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.keys = keys
        self.subject_secret = subject_secret
        self.sessions = sessions
        self.tokens = tokens
        self.cookies = cookies
        self.templates = templates

    async def _params(self, request: Request) -> dict[str, str]:
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=50)
            items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        else:
            items = list(request.query_params.multi_items())
        out: dict[str, str] = {}
        for k, v in items:
            if k in out or len(v) > 4096:
                raise LogoutError("logout.bad_request")
            out[k] = v
        return out

    def _resolve(
        self, p: dict[str, str]
    ) -> tuple[dict[str, Any] | None, ClientSettings | None, str | None]:
        hint = None
        if p.get("id_token_hint"):
            try:
                hint = self.keys.verify(
                    p["id_token_hint"], issuer=self.settings.issuer, verify_exp=False, typ="JWT"
                )
            except (jwt.InvalidTokenError, ValueError):
                raise LogoutError("logout.bad_hint") from None
        client_id = p.get("client_id") or (str(hint["aud"]) if hint and "aud" in hint else None)
        if hint and p.get("client_id") and p["client_id"] != hint.get("aud"):
            raise LogoutError("logout.bad_hint")
        client = self.registry.client(client_id) if client_id else None
        uri = p.get("post_logout_redirect_uri")
        if uri is not None:
            # §3: the value MUST have been registered; compared exactly (RFC 9700 §4.11).
            if client is None or uri not in client.post_logout_redirect_uris:
                raise LogoutError("logout.bad_redirect")
        return hint, client, uri

    def _names(
        self, hint: dict[str, Any], client: ClientSettings | None, session: SSOSession
    ) -> bool:
        """Whether the hint was issued in `session`: its sid and sub as `client` sees them."""
        if client is None or not isinstance(hint.get("sid"), str):
            return False
        return hint["sid"] == self.tokens.client_sid(client, session.sid) and hint.get(
            "sub"
        ) == subject_for(self.subject_secret, client, session.subject)

    async def _end(self, session: SSOSession | None) -> None:
        if session is None:
            return
        await self.sessions.end(session)
        await run_db(self.tokens.revoke_session_grants, session.sid, engine=self.tokens.engine)

    async def revoke_subject(self, sub: str, client_id: str | None = None) -> Revoked:
        """End every session of the person a client knows as `sub` (the operator's logout,
        above)."""
        ended = revoked = 0
        for sid in await run_db(
            session_ids, self.tokens.sessions, sub, client_id, engine=self.tokens.engine
        ):
            ended += await self.sessions.end_sid(sid)
            revoked += len(
                await run_db(self.tokens.revoke_session_grants, sid, engine=self.tokens.engine)
            )
        return Revoked(sessions=ended, grants=revoked)

    def _done(
        self,
        request: Request,
        uri: str | None,
        state: str | None,
        client: ClientSettings | None = None,
    ) -> Response:
        if uri:
            response = redirect_to(uri, {"state": state})
        else:
            response = self.templates.render(
                request, "logged_out.html", {"cancelled": False, **self._onward(client)}
            )
        self.cookies.clear(response, self.cookies.session)
        return response

    def _onward(self, client: ClientSettings | None) -> dict[str, Any]:
        """Where a page without a redirect sends the person on: the client's own address
        (client_uri, else a post-logout URI it registered; both validated in the
        configuration), else the organisation's site (branding.website_url), else nowhere
        (the page says the window can be closed)."""
        if client is not None:
            registered = [
                u for u in client.post_logout_redirect_uris if u.startswith(("https:", "http:"))
            ]
            url = client.client_uri or next(iter(registered), None)
            if url:
                return {"client_id": client.client_id, "onward_url": url, "onward_client": True}
        return {
            "client_id": client.client_id if client else "",
            "onward_url": self.settings.branding.website_url,
            "onward_client": False,
        }

    async def cancel(self, request: Request) -> Response:
        """The confirmation page's cancel, when the request named no post-logout URI: the
        person is still logged in, and is sent on as from the logged-out page. Nothing ends,
        so a plain GET link will do."""
        client_id = request.query_params.get("client_id")
        client = self.registry.client(client_id) if client_id else None
        return self.templates.render(
            request, "logged_out.html", {"cancelled": True, **self._onward(client)}
        )

    async def endpoint(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            hint, client, uri = self._resolve(p)
            if hint is None:
                return self._confirm_page(request, p, client, uri)
            current = await self.sessions.current(request)
            if current is not None and not self._names(hint, client, current):
                return self._confirm_page(request, p, client, uri)
            await self._end(current)  # None: this browser has no session left to end
            return self._done(request, uri, p.get("state"), client)
        except LogoutError as exc:
            return error_page(self.templates, request, status_code=400, message_key=exc.message_key)
        except (StoreUnavailable, DatabaseUnavailable):
            return error_page(
                self.templates, request, status_code=503, message_key="error.unavailable"
            )

    def _confirm_page(
        self, request: Request, p: dict[str, str], client: ClientSettings | None, uri: str | None
    ) -> Response:
        browser, fresh = self.cookies.ensure_browser(request)
        response = self.templates.render(
            request,
            "logout_confirm.html",
            {
                "csrf": self.cookies.csrf_token(browser, PURPOSE),
                "client_name": client.display_name if client else None,
                "client_id": client.client_id if client else "",
                "post_logout_redirect_uri": uri or "",
                "state": p.get("state", ""),
            },
        )
        if fresh:
            self.cookies.set(response, self.cookies.browser, browser)
        return response

    async def confirm(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            if not self.cookies.check_csrf(request, PURPOSE, p.get("csrf")):
                raise LogoutError("logout.bad_request")
            p.pop("id_token_hint", None)
            _, client, uri = self._resolve(
                {k: v for k, v in p.items() if k in ("client_id", "post_logout_redirect_uri") and v}
            )
            await self._end(await self.sessions.current(request))
            return self._done(request, uri, p.get("state") or None, client)
        except LogoutError as exc:
            return error_page(self.templates, request, status_code=400, message_key=exc.message_key)
        except (StoreUnavailable, DatabaseUnavailable):
            return error_page(
                self.templates, request, status_code=503, message_key="error.unavailable"
            )
