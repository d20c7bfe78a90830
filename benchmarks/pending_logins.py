"""Pending BankID QR logins: how many one idp process on Redis holds (issue #12).

Starts the BankID simulator out of process (orders stay pending: nobody scans, and the start
timeout is longer than the run) and one `idp serve` on Redis (127.0.0.1:6379, a key prefix of
its own) and a throwaway PostgreSQL database (or a SQLite file). Then, for each step N, N
emulated browsers, each with its own cookies and keep-alive connection, log in with BankID QR:
GET /authorize, the start page, POST /bankid/start, GET /bankid/wait, and then poll
GET /bankid/status as the page's script (static/js/bankid.js) does: first after the wait
page's ``data-next-poll-ms``, then after each answer's ``next_poll_ms`` (``delayOf``: within
200 ms..5 s, else 1 s, plus up to ``data-poll-spread`` more at random); after an error or no
answer, backing off 1, 2, 4, 5 s (+-20%).
Logins ramp up over ``--ramp`` seconds; then ``--seconds`` are measured.

The emulated page shows the QR code as bankid.js does (`QrPage`): it keeps the ``frames`` of
each answer (and of the wait page's ``data-frames``), estimates the order's start on its own
clock from the answer with the smallest round trip so far (``(sent + got) / 2 -
elapsed_ms``), and shows the latest known frame ``t <= now`` on its own timer, 5 ms after each
second of the order, and when an answer arrives. No timer per frame: the timer's firings since
the previous answer are worked out arithmetically when the next answer arrives (and at the
window's end), so each frame gets the moment it was shown: its due time if an answer had
brought it by then, else the arrival of the answer that did. While there is no contact the
page hides the code and its timer stops. Per step it prints:

* status latency p50/p99 (ms), as the browser sees it, of every answer (an error too);
* QR frame interval p50/p99/max (s): between successive frames the emulated page *shows*
  (issue #15 acceptance 6, issue #12 acceptance 3), with how many frames came on the page's
  timer, late (only when an answer brought them, after their due time), skipped, or back (an
  earlier frame again, when a better round trip moved the page's clock estimate back); a
  frame is counted in the window it was shown in. For comparison, labelled "old page": the
  interval between distinct ``qr`` values of successive answers (what a page that draws each
  answer's ``qr`` would show), and status answers per pending login-second;
* ``collect`` calls per order per 2 s in the window, mean and max (from the simulator's
  ``GET /stats``; a window's edges let the max exceed 1 by up to 2/``--seconds``), and the
  shortest time between two collects of one order over its life (at most one per 2 s: >= 2);
* answers other than expected (200, or the redirects of the login), by request and status,
  and timeouts or dropped connections, from the start of the step's ramp;
* idp CPU (utime + stime, /proc) per pending login-second, in ms;
* Redis bytes per login (MEMORY USAGE summed over the prefix's keys, growth over the step / N);
* the load generator's own CPU per request (it must not be the bottleneck), and the
  simulator's CPU per collect;
* how starved of CPU the run was: the share of the window idp's threads (and the load
  generator) spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat), and how busy
  the machine's CPUs were (/proc/stat) -- on a shared machine, read the others with these;
* idp's WARNING and ERROR log lines of the step, counted by message.

It stops after the first step that saturates (status p99 > 1 s, or any error) and says so; the
figures of issue #12 are status p99 < 100 ms, shown QR frame interval p99 < 1.2 s (median
1.0 s: issue #15), at most one collect per order per 2 s, no 5xx. Every login comes from
127.0.0.1: idp's per-address rate limits and pending-login caps are raised out of the way
(``max_in_flight`` and the overload guard stay as configured by default). Everything it
started is stopped and removed at the end (processes, the database, the prefix's Redis keys).

    .venv/bin/python benchmarks/pending_logins.py --steps 50,100,250,500,1000 --seconds 20
    .venv/bin/python benchmarks/pending_logins.py --steps 1000 --ramp 25 --settle 5 --seconds 20

(one step per run and runs alternating between two versions is the way to compare them: CPU
per pending login-second is the figure that depends least on the machine's other load.)

``--py-spy DIR`` samples idp with py-spy during each measured window (DIR/pending-N.txt, the
collapsed stacks) and prints the top frames.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import hashlib
import html
import json
import math
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import Connection, Response, cpu_seconds, percentile

IDP = str(Path(sys.executable).parent / "idp")
CALLBACK = "http://127.0.0.1:9/cb"  # never called: a login here never completes
QR = "urn:grn:authn:se:bankid:qr"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
TIMEOUT = 10.0  # seconds for one request before it counts as a timeout
SATURATED_P99 = 1.0  # seconds

# The standalone simulator with orders that stay pending for the whole run. `idp simulator`
# has no option for the start timeout (30 s), nor for a quieter log; `--idp-simulator` uses
# it anyway (then a step must fit in 30 s).
SIMULATOR = """
import sys
from idp.bankid.simulator import create_simulator_app, serve_simulator
port, start_timeout = int(sys.argv[1]), float(sys.argv[2])
app = create_simulator_app(start_timeout=start_timeout, order_lifetime=start_timeout)
serve_simulator(port=port, app=app, log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited: {log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on {port} within 60 s")


# ---------------------------------------------------------------------------- a browser

_FIELD = re.compile(r'name="(\w+)" value="([^"]*)"')


def start_form(html: str) -> dict[str, str]:
    """The fields of the start page's form, the one its script posts to /bankid/start."""
    start = html[html.index('action="/bankid/start"') :]
    return dict(_FIELD.findall(start[: start.index("</form>")]))


def local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


@dataclass
class Step:
    """What the browsers of one step saw."""

    measuring: bool = False
    #: The measured window on the load generator's clock (perf_counter): frames the emulated
    #: pages show are counted by when they are shown, which is worked out at the next answer.
    t0: float = math.inf
    t1: float = math.inf
    latencies: list[float] = field(default_factory=list)  # status answers in the window, s
    intervals: list[float] = field(default_factory=list)  # between distinct `qr` per answer, s
    shown: list[float] = field(default_factory=list)  # between frames the page shows, s
    frames_timer: int = 0  # frames shown by the page's own timer at their due time
    frames_late: int = 0  # frames shown when an answer brought them, after their due time
    frames_skipped: int = 0  # frames never shown (a later one was shown first)
    frames_back: int = 0  # an earlier frame shown again (the page's clock estimate moved back)
    requests: int = 0  # every request sent in the window
    unexpected: collections.Counter[str] = field(default_factory=collections.Counter)
    hinted: int = 0  # status answers that carried next_poll_ms
    ended: collections.Counter[str] = field(default_factory=collections.Counter)
    pending: int = 0  # browsers polling a pending order


#: The page's timer fires this long after a frame is due (bankid.js: ``+ 5`` ms).
TICK_DELAY = 0.005
_WAIT_ATTR = re.compile(r'data-(frames|elapsed-ms|next-poll-ms|poll-spread)="([^"]*)"')


def delay_of(ms: object, spread: float) -> float:
    """bankid.js ``delayOf``: the server's ``next_poll_ms`` within 200 ms..5 s, else 1 s; plus
    up to ``spread`` (the wait page's ``data-poll-spread``) more at random, so pages do not poll
    in step."""
    try:
        n = float(ms)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        n = math.nan
    base = min(max(n, 200.0), 5000.0) / 1000 if math.isfinite(n) and n > 0 else 1.0
    return base * (1 + spread * random.random())


class QrPage:
    """The waiting page's QR code as bankid.js shows it, worked out without a timer per frame.

    bankid.js (`learnFrames`, `tick`) keeps the frames answers bring (``t`` -> text), estimates
    the order's start on its own clock from the answer with the smallest round trip so far
    (``(sent + got) / 2 - elapsed_ms``), and draws, on each arrival and on a timer firing 5 ms
    after each second of the order, the latest known frame ``n <= t``. Here the timer's firings
    between two answers are replayed at the next answer (`advance`, before the answer is
    learnt), so each frame gets the moment it was shown: at its due time if an answer had
    brought it by then, else when one did. Times are the load generator's perf_counter."""

    __slots__ = ("best_rtt", "known", "next_tick", "shown_at", "shown_t", "start", "step", "token")

    def __init__(self, step: Step) -> None:
        self.step = step
        self.token: str | None = None
        self.start: float | None = None  # the order's start, estimated
        self.best_rtt = math.inf
        self.known: set[int] = set()
        self.shown_t: int | None = None
        self.shown_at = 0.0
        self.next_tick = math.inf  # when the page's timer fires next (none while offline)

    def learn(
        self, frames: list[dict[str, Any]], elapsed_ms: object, sent: float, got: float
    ) -> None:
        """An answer (or the page itself) with frames arrived at `got`, asked at `sent`."""
        if not frames or elapsed_ms is None:
            return
        self.advance(got)
        token = str(frames[0].get("qr", "")).split(".")[1:2]
        if token != [self.token]:  # a new order: forget the old clock
            self.token = token[0] if token else None
            self.known.clear()
            self.start, self.best_rtt, self.shown_t = None, math.inf, None
        rtt = max(0.0, got - sent)
        if self.start is None or rtt < self.best_rtt:
            self.best_rtt = rtt
            self.start = (sent + got) / 2 - float(elapsed_ms) / 1000  # type: ignore[arg-type]
        for f in frames:
            self.known.add(int(f["t"]))
        self.tick(got, timer=False)

    def offline(self, at: float) -> None:
        """No answer, or an error: the page hides the code and stops its timer."""
        self.advance(at)
        self.next_tick = math.inf

    def advance(self, now: float) -> None:
        """The page's own timer up to `now`."""
        while self.next_tick <= now:
            self.tick(self.next_tick, timer=True)

    def tick(self, at: float, *, timer: bool) -> None:
        assert self.start is not None
        t = max(0, math.floor(at - self.start))
        best = None
        for n in range(t, t - 3, -1):  # the page keeps frames from t - 1 on
            if n in self.known:
                best = n
                break
        if len(self.known) > 8:
            self.known = {n for n in self.known if n >= t - 1}
        if best is not None and best != self.shown_t:
            self.show(best, at, timer)
        self.next_tick = self.start + t + 1 + TICK_DELAY

    def show(self, n: int, at: float, timer: bool) -> None:
        step, before = self.step, self.shown_t
        self.shown_t = n
        if before is not None and step.t0 <= at < step.t1:
            step.shown.append(at - self.shown_at)
            if n < before:
                step.frames_back += 1
            else:
                step.frames_skipped += n - before - 1
                if timer:
                    step.frames_timer += 1
                else:
                    step.frames_late += 1
        self.shown_at = at


class Browser:
    """One browser tab: its cookies, one keep-alive connection, and the login page's polling."""

    def __init__(self, port: int, step: Step) -> None:
        self.port = port
        self.step = step
        self.cookies: dict[str, str] = {}
        self.conn: Connection | None = None
        self.page = QrPage(step)
        self.spread = 0.0  # the wait page's data-poll-spread

    async def request(
        self, kind: str, method: str, path: str, body: bytes = b"", expect: int = 200, **h: str
    ) -> Response | None:
        """The answer, whatever its status (one other than `expect` is counted), or None when
        there was none (a timeout or a dropped connection, counted too)."""
        headers = {"User-Agent": UA, **{k.replace("_", "-"): v for k, v in h.items()}}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        step = self.step
        if step.measuring:
            step.requests += 1
        try:
            if self.conn is None:
                self.conn = await Connection.open("127.0.0.1", self.port)
            async with asyncio.timeout(TIMEOUT):
                response = await self.conn.request(method, path, headers, body)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            step.unexpected[f"{kind}:{type(exc).__name__}"] += 1
            await self.close()
            return None
        for raw in response.cookies:
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in raw.lower() or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if response.status != expect:
            step.unexpected[f"{kind}:{response.status}"] += 1
        if response.headers.get("connection", "").lower() == "close":
            await self.close()
        return response

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await conn.close()

    async def log_in(self) -> tuple[str, float] | None:
        """Up to the waiting page of a QR login, whose frames the page learns; the txn and the
        delay of the page's first poll, or None if a step failed."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": "bench",
                "redirect_uri": CALLBACK,
                "scope": "openid",
                "state": secrets.token_urlsafe(8),
                "nonce": secrets.token_urlsafe(8),
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
                "acr_values": QR,
            }
        )
        r = await self.request("authorize", "GET", "/authorize?" + query, expect=303)
        if r is None or r.status != 303:
            return None
        page = await self.request("login", "GET", local(r.headers["location"]))
        if page is None or page.status != 200:
            return None
        form = start_form(page.body.decode())
        r = await self.request(
            "start",
            "POST",
            "/bankid/start",
            urlencode(form).encode(),
            expect=303,
            content_type="application/x-www-form-urlencoded",
        )
        if r is None or r.status != 303:
            return None
        sent = time.perf_counter()
        page = await self.request("wait", "GET", local(r.headers["location"]))
        got = time.perf_counter()
        if page is None or page.status != 200:
            return None
        attrs = dict(_WAIT_ATTR.findall(page.body.decode()))
        if "frames" in attrs:
            frames = json.loads(html.unescape(attrs["frames"]))
            self.page.learn(frames, attrs.get("elapsed-ms"), sent, got)
        self.spread = min(max(float(attrs.get("poll-spread") or 0), 0.0), 0.5)
        return form["txn"], delay_of(attrs.get("next-poll-ms"), self.spread)

    async def run(self) -> None:
        started = await self.log_in()
        if started is None:
            return
        txn, delay = started  # the page's first poll: its own data-next-poll-ms
        step, page = self.step, self.page
        path = "/bankid/status?" + urlencode({"txn": txn})
        last_qr: str | None = None
        last_change = 0.0
        failures = 0
        step.pending += 1
        try:
            while True:
                await asyncio.sleep(delay)
                sent = time.perf_counter()
                r = await self.request("status", "GET", path, accept="application/json")
                got = time.perf_counter()
                if r is not None and step.measuring:
                    step.latencies.append(got - sent)  # every answer, a 503 too
                if r is None or r.status != 200:
                    # bankid.js: "no contact", the code hidden; back off 1, 2, 4, 5 s, spread.
                    failures += 1
                    page.offline(got)
                    delay = min(5.0, 2.0 ** (failures - 1)) * (0.8 + 0.4 * random.random())
                    continue
                failures = 0
                answer = json.loads(r.body)
                qr = answer.get("qr")
                if qr != last_qr:  # the old figure: distinct `qr` from one answer to the next
                    if step.measuring and last_qr is not None and qr is not None:
                        step.intervals.append(got - last_change)
                    last_qr, last_change = qr, got
                if answer.get("frames"):
                    page.learn(answer["frames"], answer.get("elapsed_ms"), sent, got)
                hint = answer.get("next_poll_ms")
                step.hinted += step.measuring and hint is not None
                delay = delay_of(hint, self.spread)
                if answer.get("state") not in ("pending", "return"):
                    step.ended[str(answer.get("state"))] += 1
                    return
        finally:
            step.pending -= 1


# ---------------------------------------------------------------------------- the servers


class Servers:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args, self.home = args, home
        self.sim_port, self.idp_port = free_port(), free_port()
        self.prefix = f"bench-{secrets.token_hex(4)}:"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.database: str | None = None
        self.sim: subprocess.Popen[bytes] | None = None
        self.idp: subprocess.Popen[bytes] | None = None
        self.log_offset = 0
        import redis

        self.redis = redis.Redis.from_url(args.redis_url)

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
        with (self.home / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.home, env=env
            )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        a = self.args
        if a.idp_simulator:
            argv = [IDP, "simulator", "--port", str(self.sim_port)]
        else:
            hold = str(3600.0)
            argv = [sys.executable, "-c", SIMULATOR, str(self.sim_port), hold]
        self.sim = self._spawn(argv, "simulator")
        if a.database == "postgres":
            from sqlalchemy import create_engine, text

            name = f"idp_bench_{secrets.token_hex(4)}"
            admin = create_engine(a.postgres + "/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.database = name
            url = f"{a.postgres}/{name}"
        else:
            url = f"sqlite:///{self.home}/idp.db"
        issuer = f"http://127.0.0.1:{self.idp_port}"
        config = {
            "issuer": issuer,
            "database_url": url,
            "redis_url": a.redis_url,
            "redis_key_prefix": self.prefix,
            "secret_key": secrets.token_urlsafe(32),
            "bankid": {
                "environment": "simulator",
                "base_url": f"http://127.0.0.1:{self.sim_port}/rp/v6.0/",
            },
            "clients": [
                {
                    "client_id": "bench",
                    "redirect_uris": [CALLBACK],
                    "token_endpoint_auth_method": "none",
                    "scope": "openid",
                }
            ],
            # Every login comes from one address: the per-address rate limits and caps of
            # pending logins (issue #14) are raised out of the way; max_in_flight stays.
            "limits": {
                "authorize_per_address": {"count": 10_000_000},
                "bankid_start_per_address": {"count": 10_000_000},
                "pending_logins_per_address": 1_000_000,
                "pending_logins_total": 10_000_000,
            },
        }
        path = self.home / "idp.yaml"
        path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
        subprocess.run(
            [IDP, "db", "upgrade", "--config", str(path)],
            cwd=self.home,
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        argv = [IDP, "serve", "--config", str(path), "--port", str(self.idp_port)]
        self.idp = self._spawn([*argv, "--log-level", a.idp_log_level], "idp")
        wait_for_port(self.sim_port, self.sim, "the simulator", self.home / "simulator.log")
        wait_for_port(self.idp_port, self.idp, "idp", self.home / "idp.log")

    def read_log(self, since: float, until: float) -> tuple[collections.Counter[str], list[float]]:
        """idp's log since the last call: its WARNING and ERROR lines by message (counted),
        and the durations (ms) idp's access lines give for /bankid/status between the wall
        clock times `since` and `until` (at log level info)."""
        path = self.home / "idp.log"
        with path.open("rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        self.log_offset += len(data)
        found: collections.Counter[str] = collections.Counter()
        durations: list[float] = []
        for line in data.decode(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("level") in ("WARNING", "ERROR"):
                found[f"{entry['level']} {entry.get('logger')}: {entry.get('message')}"] += 1
            elif entry.get("route") == "/bankid/status" and "duration_ms" in entry:
                at = datetime.fromisoformat(entry["timestamp"]).timestamp()
                if since <= at <= until:
                    durations.append(float(entry["duration_ms"]))
        return found, durations

    def redis_bytes(self) -> int:
        keys = list(self.redis.scan_iter(match=self.prefix + "*", count=1000))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        return sum(v or 0 for v in pipe.execute())

    async def sim_stats(self) -> dict[str, Any]:
        conn = await Connection.open("127.0.0.1", self.sim_port)
        try:
            r = await conn.request("GET", "/stats")
        finally:
            await conn.close()
        if r.status != 200:
            raise SystemExit(f"the simulator's /stats answered {r.status}: is it this version?")
        return dict(json.loads(r.body))

    def stop(self) -> None:
        for proc in reversed(self.procs):  # idp first: it may still be calling the simulator
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        with contextlib.suppress(Exception):
            keys = list(self.redis.scan_iter(match=self.prefix + "*", count=1000))
            for i in range(0, len(keys), 500):
                self.redis.delete(*keys[i : i + 500])
        self.redis.close()
        if self.database is not None:
            from sqlalchemy import create_engine, text

            admin = create_engine(self.args.postgres + "/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            admin.dispose()


# ---------------------------------------------------------------------------- one step


def run_queue_wait(pid: int) -> float:
    """Seconds the threads of `pid` have spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
    return total / 1e9


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def top_frames(raw: Path, limit: int = 12) -> list[str]:
    """py-spy's collapsed stacks: the frames with the most samples on top (self), and the
    idp functions with the most samples anywhere on the stack (inclusive)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or stack.endswith("Condition.wait (threading.py:327)"):
            continue  # an idle worker thread
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            if "idp/" in frame and "benchmarks" not in frame:
                inclusive[frame] += n
    if not total:
        return ["  (no samples)"]
    lines = [f"  {total} samples; top of stack (self):"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(limit)]
    lines.append("  idp functions on the stack (inclusive):")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(limit)]
    return lines


async def run_step(servers: Servers, n: int, args: argparse.Namespace) -> dict[str, Any]:
    assert servers.idp is not None and servers.sim is not None
    step = Step()
    before = await servers.sim_stats()
    redis_before = servers.redis_bytes()
    browsers = [Browser(servers.idp_port, step) for _ in range(n)]
    tasks = []
    ramp = args.ramp
    for i, browser in enumerate(browsers):
        tasks.append(asyncio.create_task(browser.run()))
        await asyncio.sleep(ramp / n if i < n - 1 else 0)
    await asyncio.sleep(args.settle)
    spy = None
    if args.py_spy:
        out = Path(args.py_spy) / f"pending-{n}.txt"
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--format",
            "raw",
            "-d",
            str(int(args.seconds)),
            "-r",
            "50",
            "-o",
            str(out),
            "--pid",
            str(servers.idp.pid),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    start_stats = await servers.sim_stats()
    idp_cpu0 = cpu_seconds(servers.idp.pid)
    sim_cpu0 = cpu_seconds(servers.sim.pid)
    own0 = cpu_seconds(os.getpid(), children=False)
    wait0, busy0 = run_queue_wait(servers.idp.pid), machine_busy()
    own_wait0 = run_queue_wait(os.getpid())
    t0, wall0 = time.perf_counter(), time.time()
    step.measuring, step.t0 = True, t0
    await asyncio.sleep(args.seconds)
    step.measuring, step.t1 = False, time.perf_counter()
    elapsed, wall1 = step.t1 - t0, time.time()
    for browser in browsers:  # the pages' timers up to the window's end
        browser.page.advance(step.t1)
    own = cpu_seconds(os.getpid(), children=False) - own0
    waited, busy1 = run_queue_wait(servers.idp.pid) - wait0, machine_busy()
    own_waited = run_queue_wait(os.getpid()) - own_wait0
    idp_cpu = cpu_seconds(servers.idp.pid) - idp_cpu0
    sim_cpu = cpu_seconds(servers.sim.pid) - sim_cpu0
    end_stats = await servers.sim_stats()
    redis_after = servers.redis_bytes()
    pending_at_end = step.pending
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(b.close() for b in browsers))
    if spy is not None:
        await asyncio.wait_for(spy.wait(), 60)

    mine = [ref for ref in end_stats["collects"] if ref not in before["collects"]]
    per2s = [
        (end_stats["collects"][r] - start_stats["collects"].get(r, 0)) * 2 / elapsed for r in mine
    ]
    gaps = [
        end_stats["shortestCollectGap"][r] for r in mine if r in end_stats["shortestCollectGap"]
    ]
    collects = end_stats["calls"].get("collect", 0) - start_stats["calls"].get("collect", 0)
    lat = step.latencies
    result = {
        "n": n,
        "orders": len(mine),
        "pending": pending_at_end,
        "status_p50_ms": 1000 * percentile(lat, 50),
        "status_p99_ms": 1000 * percentile(lat, 99),
        "status_max_ms": 1000 * max(lat, default=float("nan")),
        "answers": len(lat),
        "qr_p50_s": percentile(step.intervals, 50),
        "qr_p99_s": percentile(step.intervals, 99),
        "shown_p50_s": percentile(step.shown, 50),
        "shown_p99_s": percentile(step.shown, 99),
        "shown_max_s": max(step.shown, default=float("nan")),
        "shown": len(step.shown),
        "frames_timer": step.frames_timer,
        "frames_late": step.frames_late,
        "frames_skipped": step.frames_skipped,
        "frames_back": step.frames_back,
        "answers_per_login_s": len(lat) / (n * elapsed),
        "collect_mean": sum(per2s) / len(per2s) if per2s else float("nan"),
        "collect_max": max(per2s, default=float("nan")),
        "collect_gap_s": min(gaps, default=float("nan")),
        "unexpected": dict(step.unexpected),
        "ended": dict(step.ended),
        "hinted": step.hinted,
        "idp_cpu_ms_per_login_s": 1000 * idp_cpu / (n * elapsed),
        "idp_cpu_share": idp_cpu / elapsed,
        "redis_bytes_per_login": (redis_after - redis_before) / n,
        "loadgen_cpu_us_per_req": 1e6 * own / max(step.requests, 1),
        "loadgen_cpu_share": own / elapsed,
        "loadgen_wait_share": own_waited / elapsed,
        "sim_cpu_us_per_collect": 1e6 * sim_cpu / max(collects, 1),
        "sim_cpu_share": sim_cpu / elapsed,
        "idp_cpu_wait_share": waited / elapsed,
        "machine_busy": (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1),
        "cpus": os.cpu_count() or 1,
    }
    result["log"], server = servers.read_log(wall0, wall1)
    result["server_p50_ms"] = percentile(server, 50)
    result["server_p99_ms"] = percentile(server, 99)
    p99 = result["status_p99_ms"] / 1000
    result["saturated"] = bool(step.unexpected) or not lat or p99 > SATURATED_P99
    return result


def report(r: dict[str, Any]) -> None:
    unexpected = ", ".join(f"{k} x{v}" for k, v in sorted(r["unexpected"].items())) or "none"
    print(
        f"N={r['n']:5d}  pending {r['pending']}/{r['n']} (orders {r['orders']}), "
        f"{r['answers']} status answers"
        f"{', ' + str(r['hinted']) + ' with next_poll_ms' if r['hinted'] else ''}\n"
        f"  status latency   p50 {r['status_p50_ms']:7.1f} ms  p99 {r['status_p99_ms']:7.1f} ms"
        f"  max {r['status_max_ms']:7.1f} ms  (idp's own access log: p50"
        f" {r['server_p50_ms']:.1f} ms p99 {r['server_p99_ms']:.1f} ms)\n"
        f"  QR frame shown   p50 {r['shown_p50_s']:7.3f} s   p99 {r['shown_p99_s']:7.3f} s"
        f"  max {r['shown_max_s']:7.3f} s  ({r['shown']} changes: {r['frames_timer']} on the"
        f" page's timer, {r['frames_late']} late (shown when an answer brought them),"
        f" {r['frames_skipped']} skipped, {r['frames_back']} back)\n"
        f"  (old page: distinct qr per answer p50 {r['qr_p50_s']:.3f} s p99"
        f" {r['qr_p99_s']:.3f} s; {r['answers_per_login_s']:.2f} answers per login-second)\n"
        f"  collect/order/2s mean {r['collect_mean']:.2f}  max {r['collect_max']:.2f}"
        f"  (shortest gap between two collects of an order {r['collect_gap_s']:.3f} s)\n"
        f"  not as expected (ramp and window) {unexpected}"
        f"{'; ended: ' + str(r['ended']) if r['ended'] else ''}\n"
        f"  idp CPU          {r['idp_cpu_ms_per_login_s']:.2f} ms per pending login-second"
        f" ({100 * r['idp_cpu_share']:.0f}% of a core; its threads waited for a CPU"
        f" {100 * r['idp_cpu_wait_share']:.0f}% of the time; all {r['cpus']} CPUs of the"
        f" machine {100 * r['machine_busy']:.0f}% busy)\n"
        f"  Redis            {r['redis_bytes_per_login']:.0f} bytes per login\n"
        f"  load generator   {r['loadgen_cpu_us_per_req']:.0f} us CPU per request"
        f" ({100 * r['loadgen_cpu_share']:.0f}% of a core, waited for a CPU"
        f" {100 * r['loadgen_wait_share']:.0f}% of the time);"
        f" simulator {r['sim_cpu_us_per_collect']:.0f} us per collect"
        f" ({100 * r['sim_cpu_share']:.0f}% of a core)",
        flush=True,
    )
    for message, count in r["log"].most_common(5):
        print(f"  idp log x{count}: {message[:160]}")


async def main_async(args: argparse.Namespace, servers: Servers) -> int:
    steps = [int(s) for s in args.steps.split(",")]
    saturation = None
    last_ok = None
    for n in steps:
        result = await run_step(servers, n, args)
        report(result)
        if args.py_spy:
            print("\n".join(top_frames(Path(args.py_spy) / f"pending-{n}.txt")), flush=True)
        if result["saturated"]:
            saturation = n
            break
        last_ok = n
        await asyncio.sleep(args.pause)
    if saturation is None:
        print(f"no saturation up to N={steps[-1]}")
    else:
        print(
            f"SATURATED at N={saturation} (status p99 > {SATURATED_P99:.0f} s or errors); "
            f"last step that held: {last_ok}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="50,100,250,500,1000")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured per step")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds to start the logins")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after the ramp")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between steps")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--idp-log-level", default="info", help="idp serve --log-level")
    parser.add_argument(
        "--idp-simulator",
        action="store_true",
        help="run `idp simulator` itself (orders then fail after 30 s: keep steps short)",
    )
    parser.add_argument("--py-spy", metavar="DIR", help="sample idp with py-spy per step")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # idp inherits it too
    if args.py_spy:
        Path(args.py_spy).mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="idp-pending-"))
    servers = Servers(args, home)
    try:
        servers.start()
        print(
            f"idp pid {servers.idp.pid if servers.idp else '?'} on :{servers.idp_port} "
            f"(log level {args.idp_log_level}, {args.database}), simulator on "
            f":{servers.sim_port}, Redis prefix {servers.prefix}; ramp {args.ramp} s, "
            f"settle {args.settle} s, measure {args.seconds} s per step",
            flush=True,
        )
        return asyncio.run(main_async(args, servers))
    except KeyboardInterrupt:
        return 130
    finally:
        servers.stop()
        if args.keep:
            print(f"logs in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
