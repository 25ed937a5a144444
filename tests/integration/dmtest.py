"""Helpers for driftmon's integration tests (python3 standard library only).

Starts the real `driftmon serve` binary (DM_BINARY) with a generated config
on a free port, fake Slack / Learning Engine servers that record what they
are sent and answer as scripted, and speaks HTTP to the service.
"""

import http.client
import http.server
import json
import re
import os
import random
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

BINARY = os.environ.get("DM_BINARY", "build/driftmon")
BACKEND = os.environ.get("DM_TEST_BACKEND", "sqlite")
TOKEN = "t0ken-s3cret-for-tests"
DAY_MS = 86400000


# Exit status meson reads as "skipped".
EXIT_SKIP = 77
# scripts/test sets DM_REQUIRE_ALL=1: there a missing need (root, a
# browser, PostgreSQL) fails the test instead of skipping it.
REQUIRE_ALL = os.environ.get("DM_REQUIRE_ALL") == "1"


class Failure(Exception):
    pass


class Skip(Exception):
    """A test that could not run for want of something (see need())."""


def need(cond, what):
    """States a need of the running test: when cond is false the test is
    skipped (never passed), or fails under DM_REQUIRE_ALL=1."""
    if cond:
        return
    if REQUIRE_ALL:
        raise Failure(what + " (DM_REQUIRE_ALL=1: a missing need fails)")
    raise Skip(what)


def check(cond, what, *detail):
    """Asserts cond; the message names what was expected and what was seen."""
    if not cond:
        raise Failure(what + ("" if not detail else ": " + " | ".join(
            repr(d)[:600] for d in detail)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakeServer:
    """A scripted HTTP server recording every request (path, headers, body).

    script: a function (method, path, body) -> (status, body_dict, delay_s).
    body_dict may also be bytes (sent as they are, e.g. a body that is not
    JSON); the script may instead return a callable, called with the
    request handler to write a raw answer itself (a connection closed
    mid-response, an endless body).
    """

    def __init__(self, script=None):
        self.requests = []
        self.lock = threading.Lock()
        self.script = script or (lambda m, p, b: (200, {}, 0))
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append((self.command, self.path,
                                           dict(self.headers), body))
                answer = outer.script(self.command, self.path, body)
                if callable(answer):
                    answer(self)
                    return
                status, obj, delay = answer
                if delay:
                    time.sleep(delay)
                data = obj if isinstance(obj, bytes) else json.dumps(
                    obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def count(self, path_prefix=""):
        with self.lock:
            return sum(1 for r in self.requests if r[1].startswith(path_prefix))

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Service:
    """One `driftmon serve` process with its own config and store."""

    def __init__(self, tmp, extra_yaml="", token=TOKEN, database=None,
                 max_body=65536, args=(), slack_url=None, le_url=None,
                 sections=None, fine_tuning="  auto_trigger: false",
                 alter=None, preexec_fn=None):
        """sections: {"monitoring": "  key: value\n...", ...} replaces the
        body of that top-level section of the generated config;
        fine_tuning: lines of the fine_tuning section besides
        learning_engine_url and timeout_seconds.  alter: a function
        (config text) -> config text applied before the file is written;
        preexec_fn: passed to subprocess.Popen (e.g. resource limits)."""
        self.tmp = tmp
        self.port = free_port()
        self.token = token
        self.log_path = os.path.join(tmp, "serve-%d.log" % self.port)
        self.cfg_path = os.path.join(tmp, "serve-%d.yaml" % self.port)
        if database is None:
            database = default_database(tmp)
        sec = {"monitoring":
               "  min_samples: 30\n  check_interval_hours: 1000",
               "embeddings": '  model: "hashing"\n  dimension: 64',
               "significance": "  permutations: 50"}
        sec.update(sections or {})
        cfg = "".join("%s:\n%s\n" % (k, sec[k].rstrip("\n")) for k in sec)
        cfg += """alerts:
  enabled: %s
  repeat_hours: 0
  slack:
    enabled: true
    webhook_url: "%s"
    timeout_seconds: 5
    max_retries: 0
fine_tuning:
%s
  learning_engine_url: "%s"
  timeout_seconds: 5
  max_retries: 0
%s
api:
  host: "127.0.0.1"
  port: %d
  token: "%s"
  max_body_bytes: %d
logging:
  level: info
%s
""" % ("true" if slack_url else "false",
       slack_url or "", fine_tuning.rstrip("\n"),
       le_url or "http://127.0.0.1:9", database, self.port,
       token, max_body, extra_yaml)
        if alter:
            cfg = alter(cfg)
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--config", self.cfg_path] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)

    def wait_up(self, timeout=20):
        """Waits until the service answers /health and, with the monitor
        on, until the scheduler has settled: its start-up check (if one
        was due) has ended, so a test's own POST /drift/check does not
        race it into a 409."""
        deadline = time.time() + timeout
        r = None
        while time.time() < deadline:
            check(self.proc.poll() is None, "driftmon serve exited early",
                  self.logtext())
            log = self.logtext()
            try:
                # ours, not another test's service that took the port
                # between free_port() and our bind: ours logs this line
                # once it serves
                if r is None or r.status not in (200, 503):
                    r = self.request("GET", "/health")
                if r.status in (200, 503) and " serving on " in log and \
                        self.scheduler_settled(log):
                    return r
            except OSError:
                r = None
            time.sleep(0.05)
        raise Failure("service did not answer /health and settle in %ds: %s"
                      % (timeout, self.logtext()[-2000:]))

    def scheduler_settled(self, log):
        """True without the monitor, or once the scheduler waits for its
        next check ("next check at") or has reported a problem."""
        if "monitor: off" in log:
            return True
        return ("[scheduler] next check at " in log or
                re.search(r"(WARN|ERROR) +\[scheduler\]", log) is not None)

    def request(self, method, path, body=None, headers=None, auth=False,
                timeout=30):
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Bearer " + self.token
        if isinstance(body, (dict, list)) or body is True:
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def raw(self, data, timeout=10):
        """Sends raw bytes; returns the raw answer (for chunked bodies)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()

    def stop(self, timeout=15):
        """SIGTERM; returns (exit code, seconds taken)."""
        t0 = time.time()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.log.close()
        return rc, time.time() - t0

    def kill(self):
        """SIGKILL (no cleanup at all in the process); waits for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait()
        self.log.close()
        return rc

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()


def default_database(tmp):
    if BACKEND == "postgres":
        url = os.environ.get("DM_PG_URL")
        check(url, "DM_PG_URL is set (run under tests/pg/with-postgres)")
        return 'database:\n  backend: postgres\n  url: "%s"' % url
    return 'database:\n  backend: sqlite\n  path: "%s"' % os.path.join(
        tmp, "driftmon.db")


def store_counts(tmp):
    """(feedback rows, drift_metrics rows, finetuning_triggers rows)."""
    q = ["SELECT count(*) FROM feedback",
         "SELECT count(*) FROM drift_metrics",
         "SELECT count(*) FROM finetuning_triggers"]
    if BACKEND == "postgres":
        out = []
        for s in q:
            r = subprocess.run(["psql", os.environ["DM_PG_URL"], "-Atc", s],
                               capture_output=True, text=True, check=True)
            out.append(int(r.stdout.strip()))
        return tuple(out)
    db = sqlite3.connect(os.path.join(tmp, "driftmon.db"))
    try:
        return tuple(db.execute(s).fetchone()[0] for s in q)
    finally:
        db.close()


def store_query(tmp, sql):
    """Rows of one SQL query on the test's store, as tuples of strings
    (PostgreSQL through psql) or of SQLite values."""
    if BACKEND == "postgres":
        r = subprocess.run(["psql", os.environ["DM_PG_URL"], "-AtF", "\x1f",
                            "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, check=True)
        return [tuple(ln.split("\x1f")) for ln in r.stdout.splitlines()]
    db = sqlite3.connect(os.path.join(tmp, "driftmon.db"))
    try:
        return [tuple(r) for r in db.execute(sql).fetchall()]
    finally:
        db.close()


def pg_control(what):
    """Runs $DM_PG_STOP, $DM_PG_START or $DM_PG_RESTART (tests/pg/
    with-postgres); what is "STOP", "START" or "RESTART"."""
    cmd = os.environ.get("DM_PG_" + what)
    check(cmd, "DM_PG_%s is set (run under tests/pg/with-postgres)" % what)
    subprocess.run([cmd], check=True)


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def feedback_rows(n_per_window=80, seed=7, prefix="r"):
    """Baseline (8-13 days ago): mostly code questions, 90 % positive.
    Current (0-6 days ago): mostly documentation, 55 % positive."""
    rnd = random.Random(seed)
    now = int(time.time() * 1000)
    rows = []
    words_a = ["python", "function", "loop", "compile", "pointer", "array"]
    words_b = ["manual", "guide", "install", "readme", "tutorial", "docs"]
    for w in ("baseline", "current"):
        for i in range(n_per_window):
            if w == "baseline":
                ts = now - 8 * DAY_MS - rnd.randrange(5 * DAY_MS)
                intent = rnd.choice(["code"] * 8 + ["debug", "general"])
                words, pos = words_a, rnd.random() < 0.9
            else:
                ts = now - DAY_MS // 2 - rnd.randrange(6 * DAY_MS)
                intent = rnd.choice(["documentation"] * 8 + ["general",
                                                             "code"])
                words, pos = words_b, rnd.random() < 0.55
            q = " ".join(rnd.choice(words) for _ in range(6))
            rows.append({"id": "%s-%s-%d" % (prefix, w, i), "query": q,
                         "response": "answer about " + q, "intent": intent,
                         "positive": pos, "created_at": iso(ts)})
    return rows


def run(tests):
    """Runs (name, fn) pairs in order; prints TAP-ish lines; returns 1 on
    any failure, else EXIT_SKIP when a test was skipped (need()), else 0.
    The closing "N tests, M failed" counts only tests that ran
    (scripts/test adds it up)."""
    failed = skipped = 0
    for name, fn in tests:
        t0 = time.time()
        try:
            fn()
            print("ok   %-55s %.2fs" % (name, time.time() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("SKIP %-55s needs: %s" % (name, e), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            print("FAIL %-55s %s: %s" % (name, type(e).__name__, e),
                  flush=True)
    print("%d tests, %d failed" % (len(tests) - skipped, failed))
    if skipped:
        print("%d skipped for a missing need (DM_REQUIRE_ALL=1 fails them)"
              % skipped)
    if failed:
        return 1
    return EXIT_SKIP if skipped else 0


def tempdir(prefix="api-"):
    base = os.environ.get("DM_BUILD_ROOT") or tempfile.gettempdir()
    d = os.path.join(base, "tests-tmp")
    os.makedirs(d, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=d)
