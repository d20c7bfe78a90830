import pytest

from idp.bankid.models import OrderResponse
from idp.bankid.qr import (
    current_qr_payload,
    elapsed_seconds,
    parse_qr_payload,
    qr_auth_code,
    qr_payload,
    qr_svg,
    verify_qr_auth_code,
)
from idp.clock import FixedClock

# BankID's official vector (reference section 4.2).
TOKEN = "67df3917-fa0d-44e5-b327-edcc928297f8"
SECRET = "d28db9a7-4cde-429e-a983-359be676944c"
VECTOR = {
    0: "dc69358e712458a66a7525beef148ae8526b1c71610eff2c16cdffb4cdac9bf8",
    1: "949d559bf23403952a94d103e67743126381eda00f0b3cbddbf7c96b1adcbce2",
    2: "a9e5ec59cb4eee4ef4117150abc58fad7a85439a6a96ccbecc3668b41795b3f3",
}


@pytest.mark.parametrize("t", sorted(VECTOR))
def test_official_vector(t):
    assert qr_auth_code(SECRET, t) == VECTOR[t]
    assert qr_payload(TOKEN, SECRET, t) == f"bankid.{TOKEN}.{t}.{VECTOR[t]}"


def test_t_is_whole_seconds_since_the_order_response_from_the_injected_clock():
    clock = FixedClock(1000.0)
    order = OrderResponse("ref", "ast", TOKEN, SECRET, received_at=clock.now())
    assert current_qr_payload(order, clock) == f"bankid.{TOKEN}.0.{VECTOR[0]}"
    clock.advance(0.999)
    assert current_qr_payload(order, clock).split(".")[2] == "0"
    clock.advance(0.001)
    assert current_qr_payload(order, clock) == f"bankid.{TOKEN}.1.{VECTOR[1]}"
    clock.advance(1.5)
    assert current_qr_payload(order, clock) == f"bankid.{TOKEN}.2.{VECTOR[2]}"
    assert elapsed_seconds(10.0, 9.0) == 0  # a clock step backwards never gives a negative t


def test_the_secret_is_not_in_the_order_repr():
    order = OrderResponse("ref", "ast", TOKEN, SECRET, received_at=0.0)
    assert SECRET not in repr(order)


def test_parse_and_verify_round_trip():
    scanned = parse_qr_payload(qr_payload(TOKEN, SECRET, 7))
    assert (scanned.qr_start_token, scanned.t) == (TOKEN, 7)
    assert verify_qr_auth_code(SECRET, scanned)
    assert not verify_qr_auth_code("another-secret", scanned)


@pytest.mark.parametrize(
    "bad",
    ["", "bankid", f"bankid.{TOKEN}.x.{VECTOR[0]}", f"bankid.{TOKEN}.0.{VECTOR[0][:-1]}",
     f"BANKID.{TOKEN}.0.{VECTOR[0]}", f"bankid.{TOKEN}.01.{VECTOR[1]}"],
)
def test_parse_rejects_what_is_not_a_frame(bad):
    with pytest.raises(ValueError):
        parse_qr_payload(bad)


def test_svg_has_a_text_alternative_and_no_external_reference():
    svg = qr_svg(qr_payload(TOKEN, SECRET, 0), title="Skanna <QR>")
    assert svg.startswith("<svg ")
    assert 'role="img"' in svg and 'aria-label="Skanna &lt;QR&gt;"' in svg
    assert "<title>Skanna &lt;QR&gt;</title>" in svg
    assert "href" not in svg and SECRET not in svg
