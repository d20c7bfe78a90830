"""The simulator's human page: pending orders, and forms to approve or cancel them as a chosen
test person, in Swedish (default) or English (``?lang=en``).

Plain HTML forms that post back and get a 303; no script, no external resources (a strict CSP
says so). Acting here is what the user app does after a scan, without the QR code.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from idp import resources
from idp.authn.personal_number import is_valid
from idp.bankid.simulator.orders import Action, AppError, OrderBook
from idp.bankid.simulator.persons import ALL_PERSONS

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

#: Every text on the page, (Swedish, English).
TEXTS: dict[str, tuple[str, str]] = {
    "title": ("BankID-simulator", "BankID simulator"),
    "intro": (
        "Väntande order. Välj testperson och godkänn eller avbryt, som BankID-appen skulle.",
        "Pending orders. Choose a test person and approve or cancel, as the BankID app would.",
    ),
    "none": ("Inga väntande order.", "No pending orders."),
    "order": ("Order", "Order"),
    "kind": ("Typ", "Type"),
    "state": ("Status", "Status"),
    "age": ("Ålder", "Age"),
    "seconds": ("s", "s"),
    "person": ("Testperson", "Test person"),
    "required": ("Ordern kräver denna person", "The order requires this person"),
    "message": ("Text i appen", "Text in the app"),
    "markdown": ("(simpleMarkdownV1)", "(simpleMarkdownV1)"),
    "transaction": ("Transaktion i appen", "Transaction in the app"),
    "transaction_type": ("Transaktionstyp", "Transaction type"),
    "card": ("Kortbetalning (card)", "Card payment (card)"),
    "npa": ("Bekräftelse utan betalning (npa)", "Non-payment authentication (npa)"),
    "recipient": ("Mottagare", "Recipient"),
    "amount": ("Belopp", "Amount"),
    "risk_warning": ("Riskvarning", "Risk warning"),
    "risk_flags": ("Riskflaggor", "Risk flags"),
    "approve": ("Godkänn", "Approve"),
    "cancel": ("Avbryt", "Cancel"),
    "decline_call": ("Neka samtal", "Decline call"),
    "busy": ("Användaren agerar redan", "The user is already acting"),
    "refresh": ("Uppdatera", "Refresh"),
    "language": ("In English", "På svenska"),
    "done": ("Klart", "Done"),
    "error": ("Kunde inte utföra", "Could not do that"),
    "scenarios": ("Testpersoner och scenarier", "Test persons and scenarios"),
}


def _lang(value: str | None) -> str:
    return "en" if value == "en" else "sv"


class HumanPage:
    def __init__(self, book: OrderBook, templates_dir: Path | None = None) -> None:
        self.book = book
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir or resources.templates()),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )

    async def index(self, request: Request) -> Response:
        lang = _lang(request.query_params.get("lang"))
        index = 0 if lang == "sv" else 1
        now = self.book.clock.now()
        orders = [
            {
                "ref": order.order_ref,
                "kind": str(order.kind),
                "phone": order.kind.is_phone,
                "state": state.status + ("/" + state.hint_code if state.hint_code else ""),
                "waiting": state.hint_code == "outstandingTransaction",
                "age": int(now - order.created_at),
                "required": order.required_personal_number,
                "message": order.visible_text,
                "markdown": order.user_visible_data_format == "simpleMarkdownV1",
                "transaction": order.transaction,
                "risk_flags": order.risk_flags,
                "action_url": request.url_for("simulator_act", order_ref=order.order_ref).path,
            }
            for order, state in sorted(
                self.book.pending_orders(), key=lambda pair: pair[0].created_at
            )
        ]
        persons = [
            {
                "number": p.personal_number,
                "name": p.name,
                "scenario": p.scenario_sv if lang == "sv" else p.scenario_en,
            }
            for p in ALL_PERSONS
        ]
        html = self.env.get_template("simulator/index.html").render(
            lang=lang,
            other_lang="en" if lang == "sv" else "sv",
            t={key: value[index] for key, value in TEXTS.items()},
            orders=orders,
            persons=persons,
            done=request.query_params.get("done"),
            error=request.query_params.get("error"),
            home=request.url_for("simulator_home").path,
        )
        return HTMLResponse(
            html, headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"}
        )

    async def act(self, request: Request) -> Response:
        form = await request.form()
        lang = _lang(str(form.get("lang", "sv")))
        query: dict[str, str] = {"lang": lang}
        number = str(form.get("personalNumber", "")) or None
        action = str(form.get("action", ""))
        try:
            if action not in {a.value for a in Action}:
                raise AppError(400, "invalid_action", "unknown action")
            if number is not None and not is_valid(number):
                raise AppError(400, "invalid_personal_number", "not a valid personal number")
            ip = request.client.host if request.client else "127.0.0.1"
            result = self.book.act(request.path_params["order_ref"], number, Action(action), ip)
            query["done"] = result.outcome
        except AppError as exc:
            query["error"] = exc.error
        target = request.url_for("simulator_home").path + "?" + urlencode(query)
        return RedirectResponse(target, status_code=303)
