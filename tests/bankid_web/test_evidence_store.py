"""Approval evidence kept for the retention period: after an approval (in the browser, or
through CIBA) the client that asked for it fetches the evidence at POST /evidence by the ID
token's `txn`, and it verifies offline with the same visible text; nobody else learns it
exists, it is gone after `evidence.retention_days`, and the row keeps nothing readable but the
approval's type and digest."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, select, update
from sqlalchemy.exc import OperationalError

from idp import cli
from idp.authn.approval import AUTHN_EVIDENCE, USER_SIGNATURE, approval_of
from idp.bankid.evidence import Trust, verify
from idp.clock import FixedClock
from idp.oidc.evidence import EvidenceStore
from idp.oidc.tokens import AuthContext
from idp.store.db import make_engine, make_sessionmaker
from idp.store.migrate import upgrade
from idp.store.models import ApprovalEvidence
from tests.asgi import app_client
from tests.bankid_web import test_sign_request as sr
from tests.bankid_web.conftest import build_app, make_settings
from tests.bankid_web.support import (
    ANNA,
    RP_CB,
    RP_SECRET,
    Browser,
    client_settings,
    poll_until,
    query,
    scan,
)
from tests.bankid_web.test_approvals import (
    DIGEST,
    PAYMENT,
    SIGN,
    TEXT,
    approve,
    open_approval,
    payment_detail,
    sign_detail,
)
from tests.ciba.conftest import build_app as build_ciba_app
from tests.ciba.harness import ISSUER as CIBA_ISSUER
from tests.ciba.harness import CibaHarness
from tests.ciba.test_ciba_sign import AUTH as CIBA_AUTH
from tests.ciba.test_ciba_sign import SIGNER, settings_with_signer, sign_and_redeem
from tests.ciba.test_ciba_sign import sign_detail as ciba_sign_detail

pytestmark = pytest.mark.anyio

SIMULATOR = Trust.builtin("simulator")
DAY = 24 * 3600
RETENTION_DAYS = 30


@pytest.fixture
def settings(sqlite_url):
    clients = client_settings()
    clients[0]["authorization_details_types"] = [SIGN, PAYMENT]
    plain = {**client_settings()[0], "client_id": "plain"}
    return make_settings(
        sqlite_url,
        clients=[*clients, plain],
        evidence={"retention_days": RETENTION_DAYS},
    )


@pytest.fixture
async def app(settings, clock):
    application = build_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def db(sqlite_url):
    engine = create_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def rows(db):
    """Every approval_evidence row, as the database holds it."""

    def read():
        with db.connect() as conn:
            return conn.execute(select(ApprovalEvidence.__table__)).all()

    return read


async def fetch(b: Browser, evidence_id, client_id="rp", secret=RP_SECRET):
    data = {} if evidence_id is None else {"evidence_id": evidence_id}
    return await b.http.post("/evidence", data=data, auth=(client_id, secret))


async def approved(app, clock, details):
    """An approval by the person, to the end: the browser, the token response, its ID token."""
    b = Browser(app)
    await open_approval(app, b, details)
    tokens = await approve(app, clock, b)
    return b, tokens, jwt.decode(tokens["id_token"], options={"verify_signature": False})


async def test_the_client_fetches_the_evidence_by_the_txn_and_it_verifies_with_the_same_text(
    app, clock, tmp_path
):
    b, tokens, id_token = await approved(app, clock, [sign_detail()])
    r = await fetch(b, id_token["txn"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["evidence_id"] == id_token["txn"] and body["type"] == SIGN
    assert body["authorization_details"] == tokens["authorization_details"]
    assert body["digest"] == approval_of(tokens["authorization_details"]).digest
    assert body["userSignature"] == id_token[USER_SIGNATURE]
    assert body["authnEvidence"] == id_token[AUTHN_EVIDENCE]
    assert body["expires_at"] - body["created_at"] == RETENTION_DAYS * DAY
    # What BankID signed: this text, under the simulator's CA, with a good OCSP response, and
    # bound to this request.
    verified = verify(body["userSignature"], body["authnEvidence"], trust=SIMULATOR)
    assert verified.visible_text == TEXT and verified.ocsp_checked
    assert verified.personal_number == ANNA
    assert body["binding"].startswith("https://id.example.com rp ")
    assert body["binding"] in base64.b64decode(verified.non_visible_data).decode()
    # The answer as it is, saved, is what `idp evidence verify` reads.
    saved = tmp_path / "evidence.json"
    saved.write_text(r.text)
    argv = ["evidence", "verify", str(saved), "--environment", "simulator", "--expect-text", TEXT]
    assert cli.main(argv) == 0
    await b.aclose()


async def test_a_payment_is_kept_with_its_type(app, clock):
    b, _, id_token = await approved(app, clock, [payment_detail()])
    body = (await fetch(b, id_token["txn"])).json()
    assert body["type"] == PAYMENT
    assert body["authorization_details"][0]["money"] == {"amount": "49,50", "currency": "SEK"}
    await b.aclose()


async def test_a_sign_request_of_the_signature_extension_is_kept_as_its_sign_detail(
    sqlite_url, clock
):
    settings = make_settings(
        sqlite_url, clients=[sr.client("rp", f"openid profile {sr.SIGN} {sr.APPROVAL}")]
    )
    application = build_app(settings, clock)
    async with application.router.lifespan_context(application):
        sr.NOW["t"] = clock.now()
        b = Browser(application)
        r = await sr.push_object(b, sr.authorization(b, **{sr.SIGN_REQUEST: sr.sign_request()}))
        assert r.status_code == 201, r.text
        tokens = await sr.sign_through(application, clock, b, r.json()["request_uri"])
        id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        body = (await fetch(b, id_token["txn"])).json()
        assert body["type"] == SIGN
        (detail,) = body["authorization_details"]
        assert detail["text"] == sr.MESSAGE_SV and detail["nonVisibleData"] == sr.TBS
        verified = verify(body["userSignature"], body["authnEvidence"], trust=SIMULATOR)
        assert verified.visible_text == sr.MESSAGE_SV
        await b.aclose()


async def test_another_clients_id_looks_exactly_like_an_unknown_one(app, clock):
    b, _, id_token = await approved(app, clock, [sign_detail()])
    other = await fetch(b, id_token["txn"], client_id="plain")
    unknown = await fetch(b, "no-such-evidence")
    assert (other.status_code, other.json()) == (404, {"error": "not_found"})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "not_found"})
    assert other.headers["cache-control"] == "no-store"
    await b.aclose()


async def test_bad_input_is_an_oauth_error_and_clients_must_authenticate(app, clock):
    b = Browser(app)
    missing = await fetch(b, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    for bad in ("a" * 65, "not an id", "åäö"):
        r = await fetch(b, bad)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", bad
    wrong = await fetch(b, "anything", secret="wrong-secret-0123456789abcdef")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    anonymous = await b.http.post("/evidence", data={"evidence_id": "x", "client_id": "rp"})
    assert anonymous.status_code in (400, 401) and anonymous.json()["error"] == "invalid_client"
    await b.aclose()


async def test_after_the_retention_period_it_is_not_found_and_the_row_is_purged(app, clock, rows):
    b, _, id_token = await approved(app, clock, [sign_detail()])
    clock.advance(RETENTION_DAYS * DAY - 1)
    assert (await fetch(b, id_token["txn"])).status_code == 200
    clock.advance(1)
    r = await fetch(b, id_token["txn"])
    assert (r.status_code, r.json()) == (404, {"error": "not_found"})
    # The next approval's write deletes what has expired.
    later, _, second = await approved(app, clock, [sign_detail()])
    assert [row.id for row in rows()] == [second["txn"]]
    await b.aclose()
    await later.aclose()


async def test_the_row_holds_neither_the_signature_nor_the_text_nor_the_person_in_clear(
    app, clock, rows
):
    b, _, id_token = await approved(app, clock, [sign_detail()])
    (row,) = rows()
    assert (row.id, row.client_id, row.sub, row.kind) == (
        id_token["txn"],
        "rp",
        id_token["sub"],
        SIGN,
    )
    everything = " ".join(str(value) for value in row)
    signature = id_token[USER_SIGNATURE]
    for secret in (
        signature,
        signature[:64],
        id_token[AUTHN_EVIDENCE][:64],
        TEXT,
        "låneavtalet",
        base64.b64encode(TEXT.encode()).decode()[:40],
        DIGEST,
        ANNA,
    ):
        assert secret not in everything
    await b.aclose()


async def test_a_row_that_cannot_be_unsealed_is_not_found_never_a_server_error(app, clock, db):
    b, _, id_token = await approved(app, clock, [sign_detail()])
    table = ApprovalEvidence.__table__
    with db.begin() as conn:
        conn.execute(update(table).values(sealed="gAAAAAsealed-under-another-secret"))
    r = await fetch(b, id_token["txn"])
    assert (r.status_code, r.json()) == (404, {"error": "not_found"})
    await b.aclose()


async def test_a_replayed_code_writes_no_second_row_and_a_second_write_changes_nothing(
    app, clock, rows
):
    b = Browser(app)
    await open_approval(app, b, [sign_detail()])
    await b.submit("/bankid/start", {"flow": "qr"})
    await scan(app, b)
    callback = query(await b.finish(await poll_until(b, clock, "complete")))
    await b.token(callback["code"])
    again = await b.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": RP_CB,
            "code_verifier": b.verifier,
        },
        auth=("rp", RP_SECRET),
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    (before,) = rows()
    # The same approval written again (the id is its txn) leaves the first row as it was.
    store = app.state.provider.evidence
    clock.advance(60)
    assert store.keep(
        client_id="rp", sub="x", auth=_auth_of(store, before), details=[sign_detail()]
    )
    assert rows() == [before]
    await b.aclose()


def _auth_of(store, row):
    """The grant's authentication, as far as the evidence needs it, of a kept approval."""
    evidence = store.get(row.id, row.client_id)
    return AuthContext(
        evidence.acr,
        ("bankid",),
        evidence.auth_time,
        {"txn": row.id, USER_SIGNATURE: evidence.user_signature},
        {},
    )


async def test_an_approval_whose_evidence_cannot_be_kept_fails_and_issues_no_code(
    app, clock, rows, monkeypatch
):
    def database_down(**kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(app.state.provider.evidence, "keep", database_down)
    b = Browser(app)
    await open_approval(app, b, [sign_detail()])
    await b.submit("/bankid/start", {"flow": "qr"})
    await scan(app, b)
    callback = query(await b.finish(await poll_until(b, clock, "complete")))
    assert callback["error"] == "temporarily_unavailable" and "code" not in callback
    assert rows() == []
    await b.aclose()


# --------------------------------------------------------------------------- CIBA


@pytest.fixture
async def ciba(sqlite_url):
    """The CIBA harness of tests/ciba (BankID phone orders against the in-process simulator),
    with its signing client."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "cs-jwt-key", "use": "sig", "alg": "RS256"})
    clock = FixedClock()
    app = build_ciba_app(settings_with_signer(sqlite_url, {"keys": [jwk]}), clock)
    async with app_client(app, base_url=CIBA_ISSUER) as http:
        yield CibaHarness(http, clock, app)


async def test_a_ciba_approval_is_kept_for_the_client_too(ciba):
    _, tokens, order = await sign_and_redeem(ciba, ciba_sign_detail())
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    r = await ciba.http.post("/evidence", data={"evidence_id": id_token["txn"]}, auth=CIBA_AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == SIGN and body["authorization_details"] == tokens["authorization_details"]
    assert body["userSignature"] == id_token[USER_SIGNATURE]
    verified = verify(body["userSignature"], body["authnEvidence"], trust=SIMULATOR)
    assert verified.visible_text == order.visible_text == TEXT
    assert body["binding"].startswith(f"https://id.example.com {SIGNER} ")


# --------------------------------------------------------------------------- the store itself


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_store_keeps_once_finds_for_its_client_and_purges_what_expired(backend, request):
    url = request.getfixturevalue(f"{backend}_url")
    engine = make_engine(url)
    upgrade(engine)
    clock = FixedClock()
    store = EvidenceStore(make_sessionmaker(engine), clock, b"s" * 32, retention_days=1)
    auth = AuthContext("acr", ("bankid",), 1, {"txn": "txn-1", USER_SIGNATURE: "sig"}, {})
    try:
        assert store.keep(client_id="rp", sub="s1", auth=auth, details=[sign_detail()]) == "txn-1"
        assert store.keep(client_id="rp", sub="s2", auth=auth, details=[sign_detail()]) == "txn-1"
        kept = store.get("txn-1", "rp")
        assert kept is not None and kept.user_signature == "sig" and kept.type == SIGN
        assert store.get("txn-1", "other") is None
        with engine.connect() as conn:
            assert conn.execute(select(ApprovalEvidence.sub)).scalars().all() == ["s1"]
        clock.advance(DAY)
        assert store.get("txn-1", "rp") is None
        assert store.purge_expired() == 1
        # No approval asked for, nothing kept.
        assert store.keep(client_id="rp", sub="s", auth=auth, details=[]) is None
    finally:
        engine.dispose()
