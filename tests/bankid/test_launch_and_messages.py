import pytest

from idp.bankid.errors import (
    AlreadyInProgress,
    BankIDConnectionError,
    BankIDTimeout,
    InternalError,
    InvalidParameters,
    Maintenance,
    RateLimited,
    UnknownBankIDError,
)
from idp.bankid.launch import Platform, desktop_link, detect_platform, launch_link, mobile_link
from idp.bankid.messages import TABLE, Flow, message_for, message_for_error
from idp.bankid.models import HintCode, Status
from idp.bankid.rfa import MESSAGES, RFA

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("ua", "platform"),
    [(IPHONE, Platform.IOS), (ANDROID, Platform.ANDROID), (WINDOWS, Platform.DESKTOP),
     ("", Platform.DESKTOP), (None, Platform.DESKTOP)],
)
def test_platform_from_user_agent(ua, platform):
    assert detect_platform(ua) is platform


def test_launch_links_per_platform():
    assert desktop_link("a-b") == "bankid:///?autostarttoken=a-b&redirect=null"
    assert mobile_link("a-b") == "https://app.bankid.com/?autostarttoken=a-b&redirect=null"
    assert launch_link("a-b", Platform.DESKTOP).startswith("bankid:///")
    assert launch_link("a-b", Platform.IOS).startswith("https://app.bankid.com/")
    assert launch_link("a-b", Platform.ANDROID).startswith("https://app.bankid.com/")
    assert "%26" in desktop_link("x&y")  # the token is always escaped


def test_every_rfa_has_swedish_and_english_text():
    assert set(MESSAGES) == set(RFA)
    for rfa, msg in MESSAGES.items():
        assert msg.rfa_id is rfa and msg.sv and msg.en and msg.sv != "" and msg.text("en") == msg.en


@pytest.mark.parametrize(
    ("status", "hint", "flow", "platform", "rfa"),
    [
        (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION, Flow.QR, Platform.DESKTOP, RFA.RFA1),
        (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION, Flow.SAME_DEVICE, Platform.DESKTOP,
         RFA.RFA13),
        (Status.PENDING, HintCode.NO_CLIENT, Flow.SAME_DEVICE, Platform.DESKTOP, RFA.RFA1),
        (Status.PENDING, HintCode.STARTED, Flow.SAME_DEVICE, Platform.DESKTOP, RFA.RFA15A),
        (Status.PENDING, HintCode.STARTED, Flow.SAME_DEVICE, Platform.IOS, RFA.RFA15B),
        (Status.PENDING, HintCode.STARTED, Flow.SAME_DEVICE, Platform.ANDROID, RFA.RFA15B),
        (Status.PENDING, HintCode.USER_SIGN, Flow.QR, Platform.DESKTOP, RFA.RFA9),
        (Status.PENDING, HintCode.USER_MRTD, Flow.QR, Platform.DESKTOP, RFA.RFA23),
        (Status.PENDING, HintCode.USER_CALL_CONFIRM, Flow.PHONE, Platform.DESKTOP, RFA.RFA21),
        (Status.PENDING, HintCode.UNKNOWN, Flow.QR, Platform.DESKTOP, RFA.RFA21),
        (Status.PENDING, None, Flow.QR, Platform.DESKTOP, RFA.RFA21),
        (Status.FAILED, HintCode.START_FAILED, Flow.QR, Platform.DESKTOP, RFA.RFA17B),
        (Status.FAILED, HintCode.START_FAILED, Flow.SAME_DEVICE, Platform.DESKTOP, RFA.RFA17A),
        (Status.FAILED, HintCode.EXPIRED_TRANSACTION, Flow.QR, Platform.DESKTOP, RFA.RFA8),
        (Status.FAILED, HintCode.CERTIFICATE_ERR, Flow.QR, Platform.DESKTOP, RFA.RFA16),
        (Status.FAILED, HintCode.USER_CANCEL, Flow.QR, Platform.DESKTOP, RFA.RFA6),
        (Status.FAILED, HintCode.CANCELLED, Flow.SAME_DEVICE, Platform.DESKTOP, RFA.RFA3),
        (Status.FAILED, HintCode.USER_DECLINED_CALL, Flow.PHONE, Platform.DESKTOP, RFA.RFA22),
        (Status.FAILED, HintCode.TRANSACTION_RISK_BLOCKED, Flow.QR, Platform.DESKTOP, RFA.RFA22),
        (Status.FAILED, HintCode.UNKNOWN, Flow.QR, Platform.DESKTOP, RFA.RFA22),
        (Status.FAILED, HintCode.USER_SIGN, Flow.QR, Platform.DESKTOP, RFA.RFA22),
        (Status.UNKNOWN, None, Flow.QR, Platform.DESKTOP, RFA.RFA22),
    ],
)
def test_message_table_follows_the_reference(status, hint, flow, platform, rfa):
    msg = message_for(status, hint, flow, platform=platform)
    assert msg is not None and msg.rfa_id is rfa


def test_complete_has_no_message_and_every_flow_has_a_row_for_flow_specific_hints():
    assert message_for(Status.COMPLETE, None, Flow.QR) is None
    flow_rows = {(s, h) for (s, h, f) in TABLE if f is not None}
    for status, hint in flow_rows:
        assert all((status, hint, flow) in TABLE for flow in Flow)


@pytest.mark.parametrize(
    ("error", "rfa", "retry"),
    [
        (AlreadyInProgress(400, "alreadyInProgress", None), RFA.RFA4, False),
        (InvalidParameters(400, "invalidParameters", None), RFA.RFA22, False),
        (InternalError(500, "internalError", None), RFA.RFA5, False),
        (Maintenance(503, "maintenance", None), RFA.RFA5, True),
        (RateLimited(429, None, None), RFA.RFA5, True),
        (UnknownBankIDError(400, "brandNew", None), RFA.RFA22, False),
        (BankIDTimeout("t"), RFA.RFA5, False),
        (BankIDConnectionError("c"), RFA.RFA5, True),
    ],
)
def test_errors_carry_their_message_and_retry_rule(error, rfa, retry):
    assert message_for_error(error).rfa_id is rfa
    assert error.retry_allowed is retry
