"""History from the provider's CIBA audit trail: each staff member sees their own requests, an
operator sees all of the console client's, with the staff member's name; callers appear only
as a short pseudonymous reference."""

import re

import pytest

from idp.config import StaffMember, staff_hmac
from tests.console.harness import (
    ANNA,
    BJORN,
    CECILIA,
    STAFF_KEY,
    StaffBrowser,
    caller,
    follow,
    request_path,
)

pytestmark = pytest.mark.anyio


def rows(page):
    return re.findall(r'<td [^>]*data-outcome="([a-z]+)">', page.text)


@pytest.fixture
async def two_staff(console_app, clock):
    """Anna (operator) and Björn (staff), each with a request: Anna's approved, Björn's open."""
    console = console_app.state.console
    console.console = console.console.model_copy(
        update={
            "staff": [
                StaffMember(personal_number_hmac=staff_hmac(STAFF_KEY, BJORN), name="Björn Staff")
            ],
            "operators": [
                StaffMember(personal_number_hmac=staff_hmac(STAFF_KEY, ANNA), name="Anna Operator")
            ],
        }
    )
    anna = StaffBrowser(console_app, lang="en")
    await anna.sign_in(ANNA, clock)
    bjorn = StaffBrowser(console_app, lang="en")
    await bjorn.sign_in(BJORN, clock)
    path = request_path(await anna.ask(CECILIA))
    await caller(console_app, CECILIA)
    await follow(anna, clock, path, ("approved",))
    request_path(await bjorn.ask(ANNA))
    return anna, bjorn


async def test_staff_see_only_their_own_requests(console_app, two_staff):
    anna, bjorn = two_staff
    own = await bjorn.http.get("/console/history")
    assert own.status_code == 200 and "My requests" in own.text
    assert rows(own) == ["pending"]
    # No parameter reaches the filter: it is always the session's own sub.
    forged = await bjorn.http.get("/console/history", params={"requested_by": "anything"})
    assert rows(forged) == ["pending"]
    assert (await bjorn.http.get("/console/operator")).status_code == 403
    mine = await anna.http.get("/console/history")
    assert rows(mine) == ["redeemed"] or rows(mine) == ["approved"], mine.text
    for number in (ANNA, BJORN, CECILIA):
        assert number not in own.text and number not in mine.text


async def test_an_operator_sees_every_request_with_the_staff_members_name(console_app, two_staff):
    anna, _ = two_staff
    page = await anna.http.get("/console/operator")
    assert page.status_code == 200 and "All requests" in page.text
    assert len(rows(page)) == 2
    assert "Björn Staff" in page.text and "Anna Operator" in page.text
    refs = re.findall(r"<td [^>]*><code>([0-9a-f]*)</code></td>", page.text)
    assert all(len(r) in (0, 10) for r in refs) and any(refs)


async def test_the_history_needs_a_session(console_app):
    assert (await StaffBrowser(console_app).http.get("/console/history")).status_code == 401
    assert (await StaffBrowser(console_app).http.get("/console/operator")).status_code == 401


async def test_the_history_names_why_a_request_was_denied(console_app, clock):
    """The audit row's detail (the provider's reason) tells a declined call from a cancel."""
    anna = StaffBrowser(console_app, lang="en")
    await anna.sign_in(ANNA, clock)
    for person, action in ((BJORN, "decline_call"), (CECILIA, "cancel")):
        path = request_path(await anna.ask(person))
        await caller(console_app, person, action)
        await follow(anna, clock, path, ("declined", "cancelled"))
    page = await anna.http.get("/console/history")
    assert rows(page) == ["cancelled", "declined"], page.text
    assert "Cancelled by the customer" in page.text and "Not on a call" in page.text
