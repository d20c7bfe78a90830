"""A staff member asks a caller to identify: the provider's real CIBA endpoint, the caller's
BankID app (the simulator's /app/phone), and the console following the state to the verified
name, or to what went wrong."""

import itertools
import re

import pytest

from idp.console.app import REQUEST
from tests.console.harness import (
    ANNA,
    BAD_CHECK_DIGIT,
    BJORN,
    StaffBrowser,
    caller,
    follow,
    request_path,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def staff(console_app, clock):
    b = StaffBrowser(console_app, lang="en")
    await b.sign_in(ANNA, clock)
    return b


async def test_an_approved_request_shows_the_verified_name_to_the_staff_member_only(
    console_app, clock, staff, caplog
):
    started = await staff.ask(BJORN, initiator="user", message="Call about your order")
    path = request_path(started)
    page = await staff.http.get(path)
    assert page.status_code == 200 and "Waiting for the customer" in page.text
    assert 'aria-live="polite"' in page.text and f'data-poll="{path}/state"' in page.text
    assert 'id="refresh"' in page.text  # without script: a Refresh link
    assert "Björn" not in page.text  # nothing of the caller before they approved

    await caller(console_app, BJORN)
    body, _ = await follow(staff, clock, path, ("approved",))
    assert body == {"state": "approved", "text": "The customer has identified", "final": True}
    result = await staff.http.get(path)
    name = re.search(r'<dd id="verified-name">([^<]*)</dd>', result.text)
    assert name and name[1] == "Björn Berglund"
    assert 'id="verified-birthdate">1972-03-15<' in result.text
    assert BJORN not in result.text

    # The auth_req_id stays on the server; another staff member's browser gets 404.
    assert "auth_req_id" not in result.text
    rid = path.rsplit("/", 1)[1]
    assert (await console_app.state.runtime.store.get(REQUEST, rid))["auth_req_id"]
    console = console_app.state.console
    console.console = console.console.model_copy(
        update={"staff": [*console.console.staff, *_sub_staff()]}
    )
    other = StaffBrowser(console_app, lang="en")
    await other.sign_in(BJORN, clock)
    assert (await other.http.get(path)).status_code == 404
    assert (await other.http.get(f"{path}/state")).status_code == 404

    assert "console request started: request" in caplog.text
    assert "console request finished" in caplog.text
    for number in (BJORN, ANNA):
        assert number not in caplog.text


def _sub_staff():
    from idp.config import StaffMember, staff_hmac
    from tests.console.harness import STAFF_KEY

    return [StaffMember(personal_number_hmac=staff_hmac(STAFF_KEY, BJORN), name="Björn Staff")]


async def test_the_result_is_kept_only_a_few_minutes(console_app, clock, staff):
    path = request_path(await staff.ask(BJORN))
    await caller(console_app, BJORN)
    await follow(staff, clock, path, ("approved",))
    clock.advance(301)
    assert (await staff.http.get(path)).status_code == 404


async def test_a_declined_call_says_the_customer_is_not_on_a_call_with_you(
    console_app, clock, staff
):
    path = request_path(await staff.ask(BJORN))
    await caller(console_app, BJORN, "decline_call")
    body, _ = await follow(staff, clock, path, ("declined", "refused", "cancelled"))
    assert body["state"] == "declined", body
    assert body["text"] == "The customer said they are not on a call with you"
    page = await staff.http.get(path)
    assert "Björn" not in page.text and 'id="new-request"' in page.text


async def test_a_cancelled_request_says_so(console_app, clock, staff):
    path = request_path(await staff.ask(BJORN))
    await caller(console_app, BJORN, "cancel")
    body, _ = await follow(staff, clock, path, ("cancelled", "refused", "declined"))
    assert body["state"] == "cancelled", body


async def test_an_unanswered_request_expires(console_app, clock, staff, console_settings):
    path = request_path(await staff.ask(BJORN))
    body, _ = await follow(staff, clock, path, ("pending",))
    clock.advance(console_settings.ciba.expires_in_seconds + 1)
    body, _ = await follow(
        staff, clock, path, ("expired",), step=console_settings.ciba.interval_seconds
    )
    assert body["text"] == "The request expired"


async def test_the_console_polls_the_provider_no_faster_than_its_interval(
    console_app, clock, staff, console_settings
):
    path = request_path(await staff.ask(BJORN))
    provider = console_app.state.console.provider
    polls = []
    real_poll = provider.poll

    async def counting(auth_req_id):
        polls.append(clock.now())
        return await real_poll(auth_req_id)

    provider.poll = counting
    for _ in range(12):
        assert (await staff.state(path)).json()["state"] == "pending"
        clock.advance(1)
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert polls and all(g >= console_settings.ciba.interval_seconds for g in gaps), polls


async def test_a_wrong_check_digit_is_a_field_error_and_nothing_is_sent(console_app, staff, caplog):
    r = await staff.ask(BAD_CHECK_DIGIT)
    assert r.status_code == 400
    assert re.search(
        r'id="pnr"[^>]*aria-describedby="pnr-help pnr-error"[^>]*aria-invalid="true"', r.text, re.S
    )
    assert "The check digit is wrong" in r.text and 'role="alert"' in r.text
    assert "console request started" not in caplog.text
    assert "ciba request" not in caplog.text.lower() or "backchannel" not in caplog.text
    bad_date = await staff.ask("198513012380")
    assert "not a valid date" in bad_date.text
    short = await staff.ask("12345")
    assert "Type 12 digits" in short.text


async def test_a_request_without_the_csrf_token_is_refused(console_app, staff, caplog):
    r = await staff.ask(BJORN, csrf="forged")
    assert r.status_code == 403 and "The form has expired" in r.text
    assert "console request started" not in caplog.text


async def test_a_request_without_a_session_is_refused(console_app):
    b = StaffBrowser(console_app, lang="en")
    r = await b.http.post("/console/requests", data={"pnr": BJORN, "csrf": "x"})
    assert r.status_code == 401 and 'action="/console/login"' in r.text


async def test_too_long_a_message_is_a_field_error(console_app, staff, console_settings):
    r = await staff.ask(BJORN, message="x" * (console_settings.ciba.binding_message_max_length + 1))
    assert r.status_code == 400 and "The message is too long" in r.text


async def test_staff_are_rate_limited(console_app, clock, sqlite_url):
    from idp.app import create_app
    from idp.store.memory import MemoryTTLStore
    from tests.console.conftest import make_settings
    from tests.console.harness import console_block

    settings = make_settings(
        sqlite_url, console=console_block(requests_per_staff={"count": 1, "window_seconds": 600})
    )
    app = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    async with app.router.lifespan_context(app):
        b = StaffBrowser(app, lang="en")
        await b.sign_in(ANNA, clock)
        request_path(await b.ask(BJORN))
        limited = await b.ask(BJORN)
        assert limited.status_code == 429
        assert re.search(r"You have sent many requests\. Try again in \d+ seconds\.", limited.text)


async def test_the_providers_per_person_limit_is_shown_with_its_wait(console_app, clock, staff):
    # limits.per_person: 5 requests per person in 10 minutes (the provider's own limit).
    for _ in range(5):
        request_path(await staff.ask(BJORN))
        await caller(console_app, BJORN, "cancel")  # one order at a time per person
    limited = await staff.ask(BJORN)
    assert limited.status_code == 429
    assert re.search(
        r"The service takes no more requests now .* Try again in \d+ seconds", limited.text
    )


async def test_a_caller_who_confirmed_the_call_is_shown_as_such(console_app, clock, staff):
    """The provider's authorization_pending carries progress=call_confirmed once the caller
    confirmed the call in the app; the page says so (the answer stood in for here)."""
    from idp.console import ProviderError

    path = request_path(await staff.ask(BJORN))
    provider = console_app.state.console.provider

    async def confirmed(auth_req_id):
        raise ProviderError(
            "authorization_pending",
            body={"error": "authorization_pending", "progress": "call_confirmed"},
        )

    provider.poll = confirmed
    body, _ = await follow(staff, clock, path, ("call_confirmed",))
    assert body["text"] == "The customer confirmed the call; waiting for approval"
    assert not body["final"]
    sv = await staff.http.get(path, params={"lang": "sv"})
    assert "Kunden har bekräftat samtalet; väntar på godkännande" in sv.text


async def test_a_provider_that_cannot_answer_now_leaves_the_request_open(console_app, clock, staff):
    from idp.console import ProviderError

    path = request_path(await staff.ask(BJORN))
    provider = console_app.state.console.provider
    real_poll = provider.poll

    async def unavailable(auth_req_id):
        raise ProviderError("temporarily_unavailable", status=503)

    provider.poll = unavailable
    clock.advance(10)
    assert (await staff.state(path)).json()["state"] == "pending"
    provider.poll = real_poll
    await caller(console_app, BJORN)
    body, _ = await follow(staff, clock, path, ("approved",))
    assert body["final"]


async def test_a_text_to_sign_goes_to_the_callers_app_and_its_signature_is_shown(
    console_app, clock, staff
):
    """The form's text to sign becomes RFC 9396 authorization_details: BankID /phone/sign with
    that text; the request is approved only with the signature granted in the token response."""
    from tests.ciba.harness import simulator_book

    text = "Jag godkänner att adressen ändras till Storgatan 1."
    path = request_path(await staff.ask(BJORN, sign=text))
    (order,) = [o for o in simulator_book(console_app)._orders.values() if o.kind.is_phone]
    assert str(order.kind) == "phone/sign" and order.visible_text == text
    await caller(console_app, BJORN)
    await follow(staff, clock, path, ("approved",))
    page = await staff.http.get(path)
    assert '<dd id="verified-signed">The customer signed the text</dd>' in page.text
    assert text not in str(
        await console_app.state.runtime.store.get(REQUEST, path.rsplit("/", 1)[1])
    )


async def test_an_approval_without_the_signature_is_not_taken_for_one(console_app, clock, staff):
    """A token response that does not grant the signature asked for is an error, not an
    approval (the console checks, it does not trust)."""
    from idp.console import app as console_module

    path = request_path(await staff.ask(BJORN, sign="Text A"))
    rid = path.rsplit("/", 1)[1]
    store = console_app.state.runtime.store
    record = await store.get(REQUEST, rid)
    await store.update(REQUEST, rid, {**record, "sign_digest": console_module._digest("Text B")})
    await caller(console_app, BJORN)
    body, _ = await follow(staff, clock, path, ("approved", "error"))
    assert body["state"] == "error"
