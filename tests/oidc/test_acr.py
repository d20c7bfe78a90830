"""idp.oidc.acr: which requested acr values a login meets, and what the tokens say (OIDC Core
§3.1.2.1, §5.5.1.1; Sweden Connect Registry for Identifiers §3.1.1)."""

from idp.oidc.acr import LOA3, UNCERTIFIED_LOA3, AcrPolicy, requested_acr

BANKID = "urn:grn:authn:se:bankid"
QR = "urn:grn:authn:se:bankid:qr"
SAME = "urn:grn:authn:se:bankid:same-device"
PHONE = "urn:grn:authn:se:bankid:phone"
BANKID_VALUES = (BANKID, SAME, QR)


def policy(**kw):
    return AcrPolicy(authenticator_values=BANKID_VALUES, **kw)


def test_supported_lists_the_authenticator_values_and_uncertified_loa3_by_default():
    assert policy().supported() == [BANKID, SAME, QR, UNCERTIFIED_LOA3]
    assert policy(certified_loa3=True).supported() == [BANKID, SAME, QR, LOA3, UNCERTIFIED_LOA3]


def test_an_authenticator_outside_the_loa3_methods_claims_no_level_of_assurance():
    other = AcrPolicy(authenticator_values=("urn:test:acr:basic",))
    assert other.supported() == ["urn:test:acr:basic"]
    assert other.can_meet([UNCERTIFIED_LOA3]) == ()


def test_certified_loa3_is_met_only_when_configured():
    assert not policy().satisfies([LOA3], QR)
    assert policy(certified_loa3=True).satisfies([LOA3], QR)
    assert policy().satisfies([UNCERTIFIED_LOA3], PHONE)  # phone authentication is BankID too


def test_a_family_is_met_by_every_value_in_it_and_a_flow_only_by_itself():
    p = policy()
    assert p.satisfies([BANKID], QR) and p.satisfies([BANKID], SAME)
    assert not p.satisfies([QR], SAME)
    assert not p.satisfies(["urn:grn"], QR)  # only known families count
    assert p.satisfies([], QR)  # nothing asked, anything goes


def test_flows_for_tells_which_ways_of_logging_in_meet_the_request():
    p = policy()
    assert p.flows_for([QR]) == (QR,)
    assert p.flows_for([UNCERTIFIED_LOA3]) == BANKID_VALUES
    assert p.flows_for([QR, UNCERTIFIED_LOA3]) == BANKID_VALUES
    assert p.flows_for([]) == BANKID_VALUES
    assert p.flows_for([LOA3]) == ()  # not certified: nothing meets it
    assert p.can_meet([LOA3, QR, "urn:unknown"]) == (QR,)


def test_token_acr_is_the_requested_value_that_was_met():
    p = policy()
    assert p.token_acr(QR, [UNCERTIFIED_LOA3]) == UNCERTIFIED_LOA3
    assert p.token_acr(QR, [SAME, UNCERTIFIED_LOA3]) == UNCERTIFIED_LOA3
    assert p.token_acr(QR, [QR, UNCERTIFIED_LOA3]) == QR  # its own value when asked for


def test_token_acr_of_a_voluntary_family_request_is_the_precise_value():
    assert policy().token_acr(QR, [BANKID]) == QR
    # Core §5.5.1.1: an essential request gets one of the values it named.
    assert policy().token_acr(QR, [BANKID], essential=True) == BANKID


def test_token_acr_when_nothing_was_met_or_asked():
    p = policy()
    assert p.token_acr(QR, []) == QR
    assert p.token_acr(QR, [LOA3]) == QR  # unmet (voluntary): the truth, not the request
    assert p.token_acr(QR, [], prefer_loa=True) == UNCERTIFIED_LOA3
    assert policy(certified_loa3=True).token_acr(QR, [], prefer_loa=True) == LOA3
    assert p.token_acr("urn:test:acr:basic", [], prefer_loa=True) == "urn:test:acr:basic"


def test_requested_acr_prefers_the_claims_request_and_knows_essential():
    claims = {"id_token": {"acr": {"essential": True, "values": [LOA3, UNCERTIFIED_LOA3]}}}
    assert requested_acr([QR], claims) == ((LOA3, UNCERTIFIED_LOA3), True)
    assert requested_acr([QR], {"id_token": {"acr": {"value": QR}}}) == ((QR,), False)
    assert requested_acr([QR, QR, BANKID], {}) == ((QR, BANKID), False)
    assert requested_acr([QR], {"id_token": {"acr": None}}) == ((QR,), False)
