"""Staff sign in to the console through the provider's own code flow with BankID; only the
configured staff get a session, short-lived and CSRF-protected."""

import pytest

from idp.config import StaffMember
from tests.console.harness import ANNA, BJORN, CECILIA, StaffBrowser

pytestmark = pytest.mark.anyio


async def test_staff_listed_by_personal_number_hash_get_in(console_app, clock, caplog):
    b = StaffBrowser(console_app, lang="en")
    page = await b.http.get("/console/")
    assert page.status_code == 200 and "Log in with BankID" in page.text
    assert 'src="/static/js/console.js"' in page.text and "<script>" not in page.text
    back = await b.sign_in(ANNA, clock)
    assert back.status_code == 303 and back.headers["location"] == "/console/"
    cookie = back.headers["set-cookie"]
    assert "__Host-idp_console=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=lax" in cookie.lower() and "Path=/" in cookie
    form = await b.http.get("/console/")
    assert "Signed in as Anna Staff" in form.text and 'action="/console/requests"' in form.text
    assert "console sign-in: staff" in caplog.text and ANNA not in caplog.text
    # The number was only compared: the session holds the provider's sub, not the number.
    kind, key = b.session_record()
    record = await console_app.state.runtime.store.get(kind, key)
    assert ANNA not in str(record) and record["sub"]


async def test_someone_not_on_the_staff_list_is_told_so_and_gets_no_session(
    console_app, clock, caplog
):
    b = StaffBrowser(console_app, lang="sv")
    refused = await b.sign_in(CECILIA, clock)
    assert refused.status_code == 403
    assert "Du finns inte med bland den här konsolens personal" in refused.text
    assert "__Host-idp_console=" not in refused.headers.get("set-cookie", "")
    assert (await b.http.get("/console/history")).status_code == 401
    assert "console sign-in refused" in caplog.text and CECILIA not in caplog.text


async def test_staff_listed_by_sub_get_in_and_only_operators_see_the_operator_view(
    console_app, clock
):
    anna = StaffBrowser(console_app, lang="en")
    await anna.sign_in(ANNA, clock)
    kind, key = anna.session_record()
    sub = (await console_app.state.runtime.store.get(kind, key))["sub"]
    assert (await anna.http.get("/console/operator")).status_code == 403

    console = console_app.state.console
    console.console = console.console.model_copy(
        update={"staff": [], "operators": [StaffMember(sub=sub, name="Olga Operator")]}
    )
    olga = StaffBrowser(console_app, lang="en")
    await olga.sign_in(ANNA, clock)
    page = await olga.http.get("/console/operator")
    assert page.status_code == 200 and "All requests" in page.text
    assert "Signed in as Olga Operator (operator)" in page.text
    # Björn is not staff, by sub or by number.
    bjorn = StaffBrowser(console_app)
    assert (await bjorn.sign_in(BJORN, clock)).status_code == 403


async def test_a_callback_from_another_browser_or_with_a_wrong_iss_is_refused(console_app):
    b = StaffBrowser(console_app, lang="en")
    start = await b.http.post("/console/login")
    state = start.headers["location"].split("state=")[1].split("&")[0]
    other = StaffBrowser(console_app, lang="en")
    wrong_iss = await other.http.get(
        "/console/callback", params={"state": state, "code": "x", "iss": "https://evil.example"}
    )
    assert wrong_iss.status_code == 400 and "invalid_response" in wrong_iss.text
    stolen = await other.http.get(
        "/console/callback", params={"state": state, "code": "x", "iss": "https://id.example.com"}
    )
    assert stolen.status_code == 400 and "was not found" in stolen.text


async def test_the_session_ends_after_session_minutes(console_app, clock, console_settings):
    b = StaffBrowser(console_app, lang="en")
    await b.sign_in(ANNA, clock)
    assert (await b.http.get("/console/history")).status_code == 200
    clock.advance(console_settings.console.session_minutes * 60 + 1)
    expired = await b.http.get("/console/history")
    assert expired.status_code == 401 and "Your session has expired" in expired.text
    assert (await b.http.get("/console/")).text.count('action="/console/login"') == 1


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(console_app, clock, caplog):
    b = StaffBrowser(console_app, lang="en")
    await b.sign_in(ANNA, clock)
    forged = await b.http.post("/console/logout", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert (await b.http.get("/console/history")).status_code == 200
    out = await b.http.post("/console/logout", data={"csrf": await b.csrf()})
    assert out.status_code == 303
    assert out.headers["location"].startswith("https://id.example.com/logout?client_id=console")
    # Back to the console's "signed out" note, registered as a post-logout address.
    assert (
        "post_logout_redirect_uri=https%3A%2F%2Fid.example.com%2Fconsole%2F%3Fout%3D1"
        in (out.headers["location"])
    )
    assert (await b.http.get("/console/history")).status_code == 401
    assert "console sign-out: staff" in caplog.text
