"""The `idp` command (also `python -m idp`): serve, check-config, db, keys, simulator, ciba,
console-staff-hash, sessions, evidence."""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `idp --version` and `--help` load none of them
    from sqlalchemy import Engine
    from starlette.applications import Starlette

    from idp.config import Settings
    from idp.keys import SigningKeys

EXIT_CONFIG = 2
#: The cyclic collector's thresholds while serving (Python's default: 700, 10, 10). Requests
#: free almost everything they make by reference counting, so a collection is rarely needed;
#: at 700 net allocations, under load, the collector ran every few hundred ms and promoted
#: live request objects to the old generation, which a full collection then walked with the
#: loop stopped (20-65 ms each, a few a minute with a thousand waiting BankID pages: the
#: status p99). At 10,000 none ran in a minute of that load.
GC_THRESHOLDS = (10_000, 10, 10)


def _settle_heap() -> None:
    """Once the app is built: what start-up made (modules, settings, keys, templates) lives as
    long as the process, out of the collector's way (`gc.freeze`), and the collector runs
    less often (`GC_THRESHOLDS`)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


#: How `idp serve --workers N` tells each worker process what to serve (JSON).
WORKER_ENV = "IDP_SERVE_WORKER"


def _load(path: str) -> Settings:
    """A configuration file, validated; its clients may name the grant types served (the
    app's grant registry)."""
    from idp.app import GRANTS
    from idp.config import load_settings

    return load_settings(path, grant_types=GRANTS.names())


def _settings(args: argparse.Namespace) -> tuple[Settings, bool]:
    """The configured settings, or the embedded default; the flag says which."""
    from idp.config import config_path_from_env, embedded_default

    path = getattr(args, "config", None) or config_path_from_env()
    if path:
        return _load(path), False
    return embedded_default(getattr(args, "host", "127.0.0.1"), getattr(args, "port", 8000)), True


def _refuse_unsafe(settings: Settings) -> None:
    """An https issuer with the simulator, the demo or the demo CIBA client is an error unless
    the file says it is a shared test deployment (ConfigError, exit 2)."""
    from idp.config import ConfigError, unsafe_deployment

    issues = unsafe_deployment(settings)
    if issues:
        raise ConfigError(settings.source, issues)


def _schema_is_current(settings: Settings) -> bool:
    from idp.store.db import make_engine, schema_is_current

    engine = make_engine(settings.database_url)
    try:
        if schema_is_current(engine):  # one query, no Alembic
            return True
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from idp.store.migrate import alembic_config

        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
        heads = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_heads()
        return set(current) == set(heads)
    finally:
        engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from idp.observability import configure_logging
    from idp.resources import verify as verify_resources

    settings, embedded = _settings(args)
    _refuse_unsafe(settings)  # the embedded default's issuer is http on loopback
    if args.workers > 1 and not settings.redis_url:
        print(
            f"{settings.source}: --workers {args.workers} needs redis_url: worker processes "
            "share logins only through Redis (the in-process store is one per process)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    verify_resources()  # a broken install says so before anything starts
    # Every log line from here on, uvicorn's too, goes through the redaction filter (no
    # personal numbers, tokens, secrets) with the request id: JSON objects for a configured
    # deployment, text for the embedded default in a terminal, unless --log-format says.
    log_format = args.log_format or ("text" if embedded else "json")
    configure_logging(args.log_level, json=log_format == "json")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # no migration chatter
    if embedded:
        from idp.store.db import make_engine, schema_is_current

        engine = make_engine(settings.database_url)
        if not schema_is_current(engine):
            from idp.store.migrate import upgrade

            upgrade(engine)
        engine.dispose()
    elif not _schema_is_current(settings):
        print(
            f"{settings.source}: the database schema is not current; run `idp db upgrade "
            f"--config {settings.source}` first",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "proxy_headers": False,  # X-Forwarded-* are trusted only from configured proxies, by idp
        "server_header": False,
        "log_config": None,  # keep configure_logging's handler
        "log_level": args.log_level,
        # One access line per request comes from idp's own middleware (route template, status,
        # duration; never the query string), not from uvicorn.
        "access_log": False,
        # On SIGTERM: stop accepting, let requests in flight finish (up to 20 s), then stop.
        "timeout_graceful_shutdown": 20,
    }
    where = f"http://{args.host}:{args.port}"
    if args.workers > 1:
        # Each worker process builds its own app (idp.cli:worker_app) from the same source;
        # the schema was checked above, once. SIGTERM stops them all gracefully; SIGHUP
        # replaces them one by one, which rereads the configuration.
        os.environ[WORKER_ENV] = json.dumps(
            {
                "config": None if embedded else os.path.abspath(settings.source),
                "host": args.host,
                "port": args.port,
                "log_level": args.log_level,
                "json": log_format == "json",
            }
        )
        print(
            f"idp listening on {where} (issuer {settings.issuer}, config {settings.source}, "
            f"{args.workers} workers)"
        )
        sys.stdout.flush()
        from idp.workers import serve_workers

        config = uvicorn.Config("idp.cli:worker_app", factory=True, workers=args.workers, **options)
        return serve_workers(config)
    from idp.app import create_app

    app = create_app(settings, reload_on_sighup=not embedded)
    _settle_heap()
    print(f"idp listening on {where} (issuer {settings.issuer}, config {settings.source})")
    if embedded:
        print(f"  Open {settings.issuer}/demo to try a BankID login with the built-in simulator.")
        print(f"  Discovery: {settings.issuer}/.well-known/openid-configuration")
    sys.stdout.flush()
    uvicorn.run(app, **options)
    return 0


def worker_app() -> Starlette:
    """The app of one `idp serve --workers N` worker process (a uvicorn factory): built from
    what the parent put in the WORKER_ENV environment variable."""
    from idp.app import create_app
    from idp.config import embedded_default
    from idp.observability import configure_logging

    spec = json.loads(os.environ[WORKER_ENV])
    configure_logging(spec["log_level"], json=spec["json"])
    # As uvicorn does for access_log=False (in the parent, before this ran): the access lines
    # are idp.access's, with the route template and never the query string.
    logging.getLogger("uvicorn.access").propagate = False
    if spec["config"] is None:
        settings = embedded_default(spec["host"], spec["port"])
    else:
        settings = _load(spec["config"])
    app = create_app(settings, reload_on_sighup=False)  # the parent restarts us on SIGHUP
    _settle_heap()
    return app


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load(args.path)
    _refuse_unsafe(settings)
    _check_bankid_certificate(settings)
    _note_client_logos(settings)
    print(
        f"{settings.source}: OK: issuer {settings.issuer}, {len(settings.clients)} client(s), "
        f"{len(settings.scopes)} scope(s), BankID {settings.bankid.environment}, "
        f"store {'redis' if settings.redis_url else 'in-process'}, "
        f"database {settings.database_url.split(':', 1)[0]}"
    )
    return 0


def _note_client_logos(settings: Settings) -> None:
    """A client's logo_uri that the login pages do not show (their CSP names a logo by its
    exact URL: https, no query): a note on stderr, as it is valid client metadata."""
    from idp.web import logo_source

    for i, c in enumerate(settings.clients):
        if c.logo_uri and logo_source(c.logo_uri) is None:
            print(
                f"{settings.source}: note: clients[{i}].logo_uri: not shown on the login pages; "
                "their Content-Security-Policy allows a client logo only at a plain https URL "
                "without a query",
                file=sys.stderr,
            )


def _check_bankid_certificate(settings: Settings) -> None:
    """The RP certificate of a test or production setup: warnings and notes on stderr, errors
    as a ConfigError (exit 2), each with its path in the file."""
    from idp.app import certificate_report
    from idp.clock import SystemClock
    from idp.config import ConfigError, ConfigIssue
    from idp.observability.certs import Severity

    report = certificate_report(settings.bankid, SystemClock())
    if report is None:
        return
    for p in report.problems:
        if p.severity is not Severity.ERROR:
            print(f"{settings.source}: {p.severity}: bankid.{p.key}: {p.message}", file=sys.stderr)
    if report.errors:
        issues = [ConfigIssue(f"bankid.{p.key}", p.message) for p in report.errors]
        raise ConfigError(settings.source, issues)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from idp.store.db import make_engine
    from idp.store.migrate import upgrade

    settings, _ = _settings(args)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"database at {engine.url.render_as_string(hide_password=True)} is at the latest schema")
    return 0


def _keys(settings: Settings) -> tuple[SigningKeys, Engine]:
    from idp.clock import SystemClock
    from idp.config import EMBEDDED_SOURCE
    from idp.keys import SigningKeys, key_encryption_secret
    from idp.store.db import make_engine, make_sessionmaker
    from idp.store.migrate import upgrade

    engine = make_engine(settings.database_url)
    if settings.source == EMBEDDED_SOURCE:
        upgrade(engine)
    keys = SigningKeys(
        make_sessionmaker(engine),
        SystemClock(),
        settings.keys,
        encryption_secret=key_encryption_secret(settings.secret_key, engine.url, settings.data_dir),
    )
    keys.encrypt_stored()  # keys an earlier version stored in clear, as on start
    return keys, engine


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def cmd_keys_list(args: argparse.Namespace) -> int:
    settings, _ = _settings(args)
    keys, engine = _keys(settings)
    try:
        keys.reload()
        rows = keys.describe()
        published = {k["kid"] for k in keys.jwks()["keys"]}
    finally:
        engine.dispose()
    if not rows:
        print("no signing keys yet; they are created on first start")
    print(
        f"{'kid':<44} {'use':<4} {'alg':<9} {'state':<8} {'in jwks':<8} {'active from':<21} retires"
    )
    for k in rows:
        in_jwks = "yes" if k.kid in published else "no"
        print(
            f"{k.kid:<44} {k.use:<4} {k.alg:<9} {k.state:<8} {in_jwks:<8} "
            f"{_when(k.active_from):<21} {_when(k.retired_at)}"
        )
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings, _ = _settings(args)
    keys, engine = _keys(settings)
    try:
        keys.ensure()
        created = keys.rotate(immediately=args.now)
    finally:
        engine.dispose()
    delay = 0 if args.now else settings.keys.activation_delay_seconds
    for kid in created:
        print(f"new key {kid}: published now, signs in {delay} s")
    print(f"retired keys stay published for {settings.keys.retired_grace_seconds} s")
    return 0


def cmd_simulator(args: argparse.Namespace) -> int:
    from idp.bankid.simulator import serve_simulator

    serve_simulator(
        args.host,
        args.port,
        certfile=args.certfile,
        keyfile=args.keyfile,
        client_ca=args.client_ca,
    )
    return 0


def cmd_ciba(args: argparse.Namespace) -> int:
    """Start a backchannel login for a personal number and show the verified result."""
    import getpass

    from idp.ciba.tryout import TryoutError, run, summary
    from idp.config import CIBA_GRANT, DEMO_CIBA_CLIENT_ID, demo_ciba_secret

    settings, embedded = _settings(args)
    issuer = args.issuer or settings.issuer
    client_id = args.client_id or (
        DEMO_CIBA_CLIENT_ID
        if embedded
        else next((c.client_id for c in settings.clients if CIBA_GRANT in c.grant_types), None)
    )
    if client_id is None:
        print(f"{settings.source}: no client has the CIBA grant; pass --client-id", file=sys.stderr)
        return EXIT_CONFIG
    if args.client_secret_file:
        with open(args.client_secret_file, encoding="utf-8") as f:
            secret = f.read().strip()
    elif embedded and client_id == DEMO_CIBA_CLIENT_ID:
        secret = demo_ciba_secret()  # what `idp serve` generated in ./data on first start
    else:
        secret = getpass.getpass(f"Client secret of {client_id}: ")
    number = args.personal_number or input("Personal number (YYYYMMDDNNNN): ").strip()
    print(f"Asking {issuer} as {client_id} ...")
    try:
        result = run(
            issuer=issuer,
            client_id=client_id,
            client_secret=secret,
            personal_number=number,
            message=args.message,
            scope=args.scope,
        )
    except TryoutError as exc:
        print(f"Not verified: {exc}", file=sys.stderr)
        return 1
    for line in summary(result):
        print(line)
    return 0 if result.same_person is not False else 1


def cmd_console_staff_hash(args: argparse.Namespace) -> int:
    """Print a console staff entry's personal_number_hmac for a number read from a prompt
    (no echo) or stdin: the number is written nowhere, not even to the shell's history."""
    import getpass

    from idp.authn.personal_number import InvalidPersonalNumber, parse
    from idp.config import staff_hmac

    settings, _ = _settings(args)
    if settings.console.staff_key is None:
        print(f"{settings.source}: console.staff_key is not set", file=sys.stderr)
        return EXIT_CONFIG
    if sys.stdin.isatty():
        raw = getpass.getpass("Personal number (YYYYMMDDNNNN): ")
    else:
        raw = sys.stdin.readline()
    try:
        number = parse(raw)
    except InvalidPersonalNumber as exc:
        print(f"idp: {exc}", file=sys.stderr)
        return 1
    print(f"personal_number_hmac: {staff_hmac(settings.console.staff_key.get(), number)}")
    return 0


def cmd_sessions_revoke(args: argparse.Namespace) -> int:
    """End every SSO session of the person a client knows as --sub (idp.oidc.logout)."""
    import anyio

    settings, _ = _settings(args)
    if not settings.redis_url:
        print(
            f"{settings.source}: sessions live in the serving process without redis_url; "
            "restart it to end them all",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if args.client is not None and all(c.client_id != args.client for c in settings.clients):
        print(f"{settings.source}: no client {args.client!r}", file=sys.stderr)
        return EXIT_CONFIG
    revoked = anyio.run(_revoke_sessions, settings, args.sub, args.client)
    print(
        f"ended {revoked.sessions} live session(s), revoked {revoked.grants} grant(s) with "
        "their refresh tokens; the clients' logout tokens go out from the running instances"
    )
    return 0


async def _revoke_sessions(settings: Settings, sub: str, client_id: str | None) -> Any:
    from idp.app import create_app

    app = create_app(settings)  # the provider's own wiring, without serving it
    try:
        return await app.state.provider.logout.revoke_subject(sub, client_id)
    finally:
        await app.state.runtime.store.close()
        app.state.runtime.engine.dispose()


def _read_input(path: str, limit: int) -> str:
    """A file's text (``-``: stdin), refused beyond ``limit`` characters."""
    if path == "-":
        text = sys.stdin.read(limit + 1)
    else:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(limit + 1)
    if len(text) > limit:
        raise ValueError(f"{path}: larger than {limit} characters")
    return text


def _mask(number: str | None, show: bool) -> str:
    if not number:
        return "(none)"
    return number if show else "*" * max(len(number) - 4, 0) + number[-4:]


#: The evidence claims of an ID token (OIDC Sweden), by their short names.
_EVIDENCE_NAMES = {
    "https://id.oidc.se/claim/userSignature": "userSignature",
    "https://id.oidc.se/claim/authnEvidence": "authnEvidence",
}


def _evidence_input(raw: str) -> dict[str, Any]:
    """A JSON object (an evidence record, a decoded ID token) or a compact ID token (its
    payload is read; the evidence proves itself, whoever signed the token). ValueError if it
    is neither."""
    text = raw.strip()
    if text.count(".") == 2 and not text.startswith("{"):
        import base64

        payload = text.split(".")[1]
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    try:
        body = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    """Verify a BankID signature and OCSP response offline; exit 0 only when all holds."""
    import hashlib

    from idp.bankid.evidence import (
        MAX_OCSP_CHARS,
        MAX_SIGNATURE_CHARS,
        EvidenceError,
        Trust,
        verify,
    )

    def fail(message: str) -> int:
        print(f"idp evidence verify: {message}", file=sys.stderr)
        return 1

    if args.json_input and args.signature:
        return fail("give either a JSON input or --signature, not both")
    if args.ocsp and not args.signature:
        return fail("--ocsp goes with --signature (JSON input carries authnEvidence)")
    try:
        if args.signature:
            signature = _read_input(args.signature, MAX_SIGNATURE_CHARS)
            ocsp = _read_input(args.ocsp, MAX_OCSP_CHARS) if args.ocsp else None
        else:
            raw = _read_input(args.json_input or "-", 2 * MAX_SIGNATURE_CHARS)
            try:
                body = _evidence_input(raw)
            except ValueError:
                return fail(
                    "the input is neither JSON nor an ID token (give --signature FILE for "
                    "base64 XML)"
                )
            body = {_EVIDENCE_NAMES.get(k, k): v for k, v in body.items()}
            if not isinstance(body.get("userSignature"), str):
                return fail("the input has no string member userSignature")
            signature = body["userSignature"]
            evidence = body.get("authnEvidence")
            if evidence is not None and not isinstance(evidence, str):
                return fail("the JSON input's authnEvidence is not a string")
            ocsp = evidence
        trust = Trust.builtin(args.environment) if args.environment else Trust.builtin()
        if args.ca:
            ca = Trust.from_pem(args.ca)
            trust = ca if args.environment is None and args.only_ca else trust + ca
        result = verify(signature, ocsp, trust=trust)
    except (OSError, ValueError, EvidenceError) as exc:
        return fail(str(exc))
    if args.expect_text is not None and result.visible_text != args.expect_text:
        return fail("the signed visible text differs from --expect-text")
    non_visible = (result.non_visible_data or "").encode()
    if args.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "environment": result.environment,
                    "issuer": result.issuer,
                    "signedAt": result.signed_at.isoformat(),
                    "ocspChecked": result.ocsp_checked,
                    "function": result.function,
                    "name": result.name,
                    "givenName": result.given_name,
                    "surname": result.surname,
                    "personalNumber": _mask(result.personal_number, args.show_personal_number),
                    "visibleText": result.visible_text,
                    "visibleFormat": result.visible_format,
                    "nonVisibleData": result.non_visible_data,
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(f"Who:   {result.name} ({_mask(result.personal_number, args.show_personal_number)})")
    print(f"What:  {result.function}")
    if result.visible_text is not None:
        fmt = f" [{result.visible_format}]" if result.visible_format else ""
        print(f"  visible text{fmt}:")
        for line in result.visible_text.splitlines() or [""]:
            print(f"    {line}")
    if result.non_visible_data is not None:
        digest = hashlib.sha256(non_visible).hexdigest()
        print(f"  non-visible data: {len(non_visible)} base64 characters, SHA-256 {digest}")
    when = f"{result.signed_at:%Y-%m-%d %H:%M:%S} UTC"
    source = "OCSP producedAt" if result.ocsp_checked else "no OCSP response: checked at now"
    print(f"When:  {when} ({source})")
    print(f"CA:    {result.issuer} ({result.environment})")
    print("OK")
    return 0


def _version() -> str:
    """The installed distribution's version (the package's own when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("idp")
    except PackageNotFoundError:
        from idp import __version__

        return __version__


class _VersionAction(argparse.Action):
    """--version: the version is looked up only when asked for (it scans the installed
    distributions, which every other command can do without)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings, dest, default=argparse.SUPPRESS, nargs=0, help="show the version"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idp", description="OpenID Connect provider for Swedish BankID."
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = "YAML configuration file (default: $IDP_CONFIG, else the embedded default)"

    p = sub.add_parser(
        "serve",
        help="run the provider",
        description="Run the provider. "
        "Without a configuration it starts the embedded default: SQLite in "
        "./data, in-process state, the BankID simulator and a demo client.",
    )
    p.add_argument("--config", help=config_help)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes on the one port (1); more than one needs redis_url",
    )
    p.add_argument(
        "--log-format",
        default=None,
        choices=["json", "text"],
        help="log lines as JSON objects or as text (default: text for the embedded default, "
        "JSON with a configuration file)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a configuration file; print every problem with its "
        "path and exit non-zero, or print a one-line summary.",
    )
    p.add_argument("path", help="the YAML file")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("db", help="database schema", description="Database schema commands.")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    q = dbsub.add_parser("upgrade", help="apply migrations up to the latest schema")
    q.add_argument("--config", help=config_help)
    q.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("keys", help="signing keys", description="Signing-key commands.")
    ksub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    q = ksub.add_parser("list", help="list keys and their state (never the private part)")
    q.add_argument("--config", help=config_help)
    q.set_defaults(func=cmd_keys_list)
    q = ksub.add_parser(
        "rotate",
        help="introduce new signing keys",
        description="Create a new key per algorithm. It is published at once "
        "and signs after keys.activation_delay_seconds; the old key stays "
        "published for keys.retired_grace_seconds.",
    )
    q.add_argument("--config", help=config_help)
    q.add_argument(
        "--now", action="store_true", help="sign with the new key at once (suspected compromise)"
    )
    q.set_defaults(func=cmd_keys_rotate)

    p = sub.add_parser(
        "simulator",
        help="run the BankID simulator standalone",
        description="Serve the BankID RP API v6.0 simulator and its user app.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--certfile", help="TLS server certificate (PEM); enables HTTPS")
    p.add_argument("--keyfile", help="TLS server key (PEM)")
    p.add_argument("--client-ca", help="require client certificates signed by this CA (PEM)")
    p.set_defaults(func=cmd_simulator)

    p = sub.add_parser(
        "ciba",
        help="try a backchannel (CIBA) login against a running provider",
        description="Start a BankID phone login for a personal number, as a customer-service "
        "application would, wait for the person to confirm, and show the verified ID token. "
        "Without a configuration: the embedded default's demo-ciba client at "
        "http://127.0.0.1:8000, with the secret `idp serve` generated in ./data (run it in the "
        "same directory; approve at /bankid-simulator/).",
    )
    p.add_argument("--config", help=config_help)
    p.add_argument("--issuer", help="the provider's issuer URL (default: from the configuration)")
    p.add_argument("--client-id", help="a client with the CIBA grant")
    p.add_argument("--client-secret-file", help="file holding the client secret (else a prompt)")
    p.add_argument("--personal-number", help="whom to ask (else a prompt, kept out of history)")
    p.add_argument("--message", help="binding message shown in the BankID app")
    p.add_argument("--scope", default="openid profile ssn", help="scope (openid profile ssn)")
    p.set_defaults(func=cmd_ciba)

    p = sub.add_parser(
        "console-staff-hash",
        help="make a console staff entry's personal_number_hmac",
        description="Read a personal number (a prompt without echo, or stdin) and print the "
        "personal_number_hmac of a console staff entry, keyed with console.staff_key of the "
        "configuration. The number itself is written nowhere.",
    )
    p.add_argument("-c", "--config", help=config_help)
    p.set_defaults(func=cmd_console_staff_hash)

    p = sub.add_parser("sessions", help="SSO sessions", description="SSO session commands.")
    ssub = p.add_subparsers(dest="sessions_command", required=True, metavar="ACTION")
    q = ssub.add_parser(
        "revoke",
        help="end every session of a person",
        description="End every live SSO session in which a client received this sub, as "
        "logout does (clients with a backchannel_logout_uri get a logout token, sent by the "
        "running instances), and revoke the grants and refresh tokens issued in them. Needs "
        "redis_url: the sessions must be in the shared store.",
    )
    q.add_argument("--config", help=config_help)
    q.add_argument("--sub", required=True, help="the person's sub, as a client received it")
    q.add_argument("--client", help="the client that received it (default: any)")
    q.set_defaults(func=cmd_sessions_revoke)

    p = sub.add_parser("evidence", help="BankID evidence", description="BankID evidence commands.")
    esub = p.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    q = esub.add_parser(
        "verify",
        help="verify a BankID signature and OCSP response offline",
        description="Verify a BankID signature (XML-DSig, base64) and its OCSP response "
        "offline against BankID's production or test root or the simulator's CA: who "
        "approved what, when, under which CA. Give --signature (and --ocsp), or a JSON "
        "object with userSignature and authnEvidence (a file or stdin). Exit 0 only when "
        "everything holds.",
    )
    q.add_argument("json_input", nargs="?", metavar="JSON", help="JSON file, - for stdin")
    q.add_argument("--signature", metavar="FILE", help="base64 signature XML, - for stdin")
    q.add_argument("--ocsp", metavar="FILE", help="base64 DER OCSP response")
    q.add_argument(
        "--environment",
        choices=["production", "test", "simulator"],
        help="trust only this root (default: try all and report which matched)",
    )
    q.add_argument("--ca", metavar="PEM", help="another trusted root (PEM file)")
    q.add_argument("--only-ca", action="store_true", help="with --ca: trust no built-in root")
    q.add_argument("--expect-text", metavar="TEXT", help="fail unless the visible text is this")
    q.add_argument("--json", action="store_true", help="print a JSON result")
    q.add_argument(
        "--show-personal-number",
        action="store_true",
        help="print the whole personal number (default: only its last 4 digits)",
    )
    q.set_defaults(func=cmd_evidence_verify)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _failure(exc: Exception) -> int | None:
    """The exit code of an error the CLI reports in a few lines (None: let it raise). Each
    kind is looked up only when its module was loaded: no command imports what it never used.
    """
    config = sys.modules.get("idp.config")
    if config is not None and isinstance(exc, config.ConfigError):
        print(exc.render(), file=sys.stderr)
        return EXIT_CONFIG
    keys = sys.modules.get("idp.keys")
    if keys is not None and isinstance(exc, keys.KeyError_):
        # a stored signing key that this secret_key cannot open
        print(f"idp: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    resources = sys.modules.get("idp.resources")
    if resources is not None and isinstance(exc, resources.MissingResource):
        print(f"idp: {exc}", file=sys.stderr)  # a broken install: say so in one line
        return 1
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        code = _failure(exc)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
