"""A fake browser authenticator, for testing the protocol core without BankID.

GET /fake/login?txn=... answers JSON describing the login request it was handed (or 404 when
the transaction is unknown or belongs to another browser). POST /fake/login with form fields
txn, subject, acr, action (approve | cancel | fail), and any claim_<name> fields finishes it.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idp.authn import Authentication, Failure, FailureReason, LoginHandoff, LoginRequest

ACR_BASIC = "urn:test:acr:basic"
ACR_STRONG = "urn:test:acr:strong"


class FakeAuthenticator:
    acr_values = (ACR_BASIC, ACR_STRONG)

    def __init__(self, handoff: LoginHandoff, clock) -> None:
        self.handoff = handoff
        self.clock = clock
        self.started: list[LoginRequest] = []

    def routes(self):
        return [Route("/fake/login", self.page, methods=["GET", "POST"])]

    def start_url(self, login: LoginRequest) -> str:
        self.started.append(login)
        return f"/fake/login?txn={login.transaction_id}"

    async def page(self, request: Request) -> Response:
        if request.method == "GET":
            txn = request.query_params.get("txn", "")
            login = await self.handoff.load(request, txn)
            if login is None:
                return JSONResponse({"error": "unknown transaction"}, status_code=404)
            return JSONResponse(
                {
                    "client_id": login.client_id,
                    "client_name": login.client_name,
                    "acr_values": list(login.acr_values),
                    "login_hint": login.login_hint,
                    "ui_locales": list(login.ui_locales),
                    "prompt": list(login.prompt),
                    "max_age": login.max_age,
                }
            )
        form = await request.form()
        txn = str(form.get("txn", ""))
        if await self.handoff.load(request, txn) is None:
            return JSONResponse({"error": "unknown transaction"}, status_code=404)
        action = form.get("action", "approve")
        if action == "cancel":
            return await self.handoff.finish(request, txn, Failure(FailureReason.CANCELLED))
        if action == "fail":
            return await self.handoff.finish(
                request, txn, Failure(FailureReason.UNAVAILABLE, "the service is down")
            )
        claims = {k[6:]: str(v) for k, v in form.items() if k.startswith("claim_")}
        result = Authentication(
            subject=str(form.get("subject", "person-1")),
            acr=str(form.get("acr", ACR_BASIC)),
            amr=("fake",),
            auth_time=self.clock.now(),
            claims=claims,
        )
        return await self.handoff.finish(request, txn, result)
