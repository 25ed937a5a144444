#!/usr/bin/env python3
"""Fault injection against the real `driftmon serve` (SQLite): the outside
world misbehaving, not the requests.

1. Slack and the Learning Engine down (a closed port), slow (answering
   after the configured timeout) or answering garbage (a body that is not
   JSON, JSON of the wrong shape, a 500, a connection closed mid-response,
   an endless body), with alerts and automatic fine-tuning on, on drifted
   data.  Every check is stored with the alert and the trigger recorded as
   failed, the attempts the fakes saw are those the retry setting allows,
   the check ends within its time budget, a failed trigger starts no
   cooldown (the next check tries again), and while slow calls are in
   flight GET /health and GET /drift/metrics keep answering at once.  The
   webhook URL's secret path never shows in the log or an answer.
2. A full disk: the database on a small tmpfs filled up by a filler file.
   Writes fail with 503 naming "database or disk is full", nothing is
   half-written, reads are served; once space is freed writes work again.
3. A read-only database: (a) the file system turns read-only under the
   running service (ext4 on a loop device with errors=remount-ro and an
   error triggered through sysfs, as a failing disk does); (b) the service
   starts on an already migrated database on a read-only mount.  Reads are
   served, writes fail with 503 naming "read-only", /health says
   "degraded" with "writable": false where the store can tell.

The mounts need root (CI runs as root).  Without root: the full disk is
simulated with RLIMIT_FSIZE set on the running service (prlimit), the
read-only start with chmod a-w; the read-only switch under a running
service has no unprivileged equivalent (an open descriptor keeps writing
after chmod): it is skipped (the whole test then exits 77, a skip in
meson, when all else passed), or fails under DM_REQUIRE_ALL=1 (CI).  (To exercise those
paths as root: runuser -u nobody -- env DM_BINARY=... DM_BUILD_ROOT=<a
directory nobody can write> python3 test_faults_env.py.)

Every figure the reliability notes need is printed ("     figure: ...").
"""

import calendar
import errno
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest  # noqa: E402
from dmtest import check  # noqa: E402

TMP = dmtest.tempdir("faults-")
SECRET = "SECRETWEBHOOKPATH"
WEBHOOK_PATH = "/services/T000/B000/" + SECRET
ROOT = os.geteuid() == 0

TIMEOUT_S = 1.0   # alerts.slack.timeout_seconds = fine_tuning.timeout_seconds
RETRIES = 1       # alerts.slack.max_retries = fine_tuning.max_retries
SLOW_S = 3.0      # the slow fakes answer after this long (> TIMEOUT_S)
# One call's worst case: every attempt times out, plus the backoff waits
# (docs/alerts.md: min(8 s, 0.5 s * 2^(k-1)) before retry k).
CALL_MAX_S = (RETRIES + 1) * TIMEOUT_S + sum(
    min(8.0, 0.5 * 2 ** (k - 1)) for k in range(1, RETRIES + 1))
# A check makes two calls (alert, trigger); the statistics of 160 rows
# take well under a second.  Generous: it proves "bounded", not "fast".
CHECK_MAX_S = 2 * CALL_MAX_S + 5.0
# A GET answered within this while notifications hang proves that it
# was not blocked behind them (they take TIMEOUT_S per attempt).
NOT_BLOCKED_S = 2.0

ROWS = dmtest.feedback_rows()
SERVICES = []
MOUNTS = []


def figure(text):
    print("     figure: " + text, flush=True)


def no_secret(text, where):
    check(SECRET not in text, "no webhook secret in " + where,
          text[max(0, text.find(SECRET) - 200):text.find(SECRET) + 50])


def timed(fn):
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def start(name, database=None, slack_url=None, le_url=None, args=(),
          auto_trigger=False, preexec_fn=None):
    """A service with short notification timeouts and one retry."""
    def alter(cfg):
        for old, new in (
                ("    timeout_seconds: 5\n    max_retries: 0\n",
                 "    timeout_seconds: %g\n    max_retries: %d\n"
                 % (TIMEOUT_S, RETRIES)),
                ("  auto_trigger: false\n", "  auto_trigger: %s\n"
                 "  min_drift_score: 0.3\n  cooldown_hours: 168\n"
                 % ("true" if auto_trigger else "false")),
                ("\n  timeout_seconds: 5\n  max_retries: 0\n",
                 "\n  timeout_seconds: %g\n  max_retries: %d\n"
                 % (TIMEOUT_S, RETRIES))):
            check(cfg.count(old) == 1, "dmtest's config template holds "
                  + repr(old), cfg)
            cfg = cfg.replace(old, new)
        return cfg
    s = dmtest.Service(TMP, database=database, slack_url=slack_url,
                       le_url=le_url, args=list(args), max_body=10 << 20,
                       alter=alter, preexec_fn=preexec_fn)
    s.name = name
    SERVICES.append(s)
    return s

def start_with_check(name, db):
    """A service (no scheduler) on the SQLite file db, given ROWS and one
    stored check; returns it."""
    svc = start(name, database=sqlite_db(db), args=["--no-monitor"])
    svc.wait_up()
    r = svc.request("POST", "/feedback", body=ROWS, auth=True)
    check(r.status == 200, "feedback stored", r.body)
    r = svc.request("POST", "/drift/check", body={}, auth=True)
    check(r.status == 200 and r.json()["status"] == "ok", "first check",
          r.body[:300])
    return svc



def sqlite_db(path):
    return 'database:\n  backend: sqlite\n  path: "%s"' % path


def query(db_path, sql):
    """Rows of sql on the database, opened read-only (works on a
    read-only mount too: immutable when the -shm file is missing)."""
    uri = "file:%s?mode=ro" % db_path
    if not os.path.exists(db_path + "-shm"):
        uri += "&immutable=1"
    db = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def counts(db_path):
    """(feedback, drift_metrics, finetuning_triggers, embeddings)."""
    return tuple(query(db_path, "SELECT count(*) FROM " + t)[0][0] for t in
                 ("feedback", "drift_metrics", "finetuning_triggers",
                  "embedding_cache"))


def integrity(db_path):
    r = query(db_path, "PRAGMA integrity_check")
    check(r == [("ok",)], "integrity_check ok", r)


def error_of(r, status, code, words):
    check(r.status == status, "status %d" % status, r.status, r.body)
    e = r.json().get("error") or {}
    check(e.get("code") == code, "error code " + code, r.body)
    check(words in e.get("message", ""), "the message names the cause: "
          + words, r.body)
    return e["message"]


def reads_served(s, where, expect_checks=None):
    """GET /health, /drift/metrics, /drift/summary, /metrics and /: all
    answer 200; returns (/health JSON, slowest latency in s)."""
    worst = 0.0
    health = None
    for p in ("/health", "/drift/metrics?days=30", "/drift/summary",
              "/metrics", "/"):
        r, took = timed(lambda: s.request("GET", p))
        worst = max(worst, took)
        check(r.status == 200, "GET %s answers 200 (%s)" % (p, where),
              r.status, r.body[:400])
        if p == "/health":
            health = r.json()
        if p.startswith("/drift/metrics") and expect_checks is not None:
            check(r.json()["count"] == expect_checks,
                  "stored checks listed (%s)" % where, r.json()["count"],
                  expect_checks)
    return health, worst


def wait_first_check(s):
    """The scheduler's check at start (no data yet: insufficient_data)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        j = s.request("GET", "/health").json()
        if j["monitor"]["checks_run"] >= 1 and not j["monitor"]["checking"]:
            return j
        time.sleep(0.05)
    raise dmtest.Failure("the scheduler's first check did not run")


# ---- fake Slack and Learning Engine with a switchable fault ------------


class Fake:
    """A FakeServer whose answer is chosen by .mode (see answer())."""

    def __init__(self, kind):
        self.kind = kind            # "slack" or "le"
        self.mode = "ok"
        self.jobs = 0
        self.srv = dmtest.FakeServer(self.answer)
        self.url = self.srv.url

    def count(self):
        return self.srv.count("/")

    def answer(self, method, path, body):
        m = self.mode
        if m == "ok":
            if self.kind == "slack":
                return (200, b"ok", 0)
            self.jobs += 1
            return (200, {"job_id": "job-%d" % self.jobs}, 0)
        if m == "slow":
            return self.slow
        if m == "not_json":
            return (200, b"<html><body>Gateway says hi</body></html>", 0)
        if m == "wrong_shape":
            return (200, {"status": "queued", "jobs": [1, 2]}, 0)
        if m == "http_500":
            # echoes the path, as some servers do: must be redacted
            return (500, ("Cannot POST " + path).encode(), 0)
        if m == "cut":
            return self.cut
        if m == "endless":
            return self.endless
        raise AssertionError(m)

    @staticmethod
    def slow(h):
        time.sleep(SLOW_S)
        try:
            h.send_response(200)
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"{}")
        except OSError:
            pass  # the client gave up long ago

    @staticmethod
    def cut(h):
        """Promises 1000 bytes, sends 10, closes."""
        h.close_connection = True
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.wfile.write(b'{"job_id":')
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def endless(h):
        """A 200 whose body never ends (stops by itself after 64 MiB)."""
        h.close_connection = True
        chunk = b'{"job_id": "' + b"x" * 65536
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            for _ in range(1024):
                h.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading: what we want

    def stop(self):
        self.srv.stop()


SLACK = Fake("slack")
LE = Fake("le")

# What each fault gives (docs/alerts.md): the alert status (any 2xx is a
# delivered Slack message: its body is not read), whether the calls are
# retried (network errors, timeouts, 5xx), and words of the trigger's
# stored error.
FAULTS = {
    "slow": ("failed", True, "Timeout"),
    "not_json": ("sent", False, "not JSON"),
    "wrong_shape": ("sent", False, "no job_id"),
    "http_500": ("failed", True, "HTTP 500"),
    "cut": ("failed", True, "partial file"),
    "endless": ("sent", False, "larger than 65536 bytes"),
}

S = None        # the service talking to the fakes
S_DB = os.path.join(TMP, "driftmon.db")


def set_mode(mode):
    SLACK.mode = mode
    LE.mode = mode


def stored_check(db_path, check_id):
    rows = query(db_path, "SELECT status, drift_detected, alert_status, "
                 "alert_error FROM drift_metrics WHERE id = %d"
                 % int(check_id))
    check(len(rows) == 1, "check %s stored" % check_id, rows)
    return rows[0]


def stored_trigger(db_path, trigger_id):
    rows = query(db_path, "SELECT status, error, check_id, job_id FROM "
                 "finetuning_triggers WHERE id = %d" % int(trigger_id))
    check(len(rows) == 1, "trigger %s stored" % trigger_id, rows)
    return rows[0]


def attempts_in(msg):
    m = re.search(r"after (\d+) attempts?", msg or "")
    check(m, "the error says how many attempts were made", msg)
    return int(m.group(1))


def verify_failed_notifications(s, db_path, r, took, mode, alert_expect,
                                retried, words, slack_seen, le_seen):
    """The checks common to every fault; returns the trigger row."""
    check(r.status == 200, "the check itself succeeds (%s)" % mode,
          r.status, r.body[:600])
    j = r.json()
    no_secret(r.body.decode(), "the check's answer (%s)" % mode)
    check(j["status"] == "ok" and j["drift_detected"] is True,
          "a drifting check (%s)" % mode, j["status"])
    check(took < CHECK_MAX_S, "the check ends within its budget "
          "(%s: %.2fs < %.1fs)" % (mode, took, CHECK_MAX_S))
    check(j["alert_status"] == alert_expect, "alert %s (%s)"
          % (alert_expect, mode), j)
    check(j["trigger_status"] == "failed" and j["trigger_error"],
          "trigger failed with a reason (%s)" % mode, j)
    check(words in j["trigger_error"], "trigger error names the "
          "problem (%s): %s" % (mode, words), j["trigger_error"])
    want = RETRIES + 1 if retried else 1
    if slack_seen is not None:
        check(slack_seen == want, "Slack saw %d attempt(s) (%s)"
              % (want, mode), slack_seen)
        check(le_seen == want, "the Learning Engine saw %d attempt(s) (%s)"
              % (want, mode), le_seen)
    # the store: the check with its alert outcome, the failed attempt
    st, drift, alert_status, alert_error = stored_check(db_path, j["id"])
    check(st == "ok" and drift == 1 and alert_status == alert_expect,
          "stored check with alert %s (%s)" % (alert_expect, mode),
          (st, drift, alert_status, alert_error))
    check((alert_error is not None) == (alert_expect == "failed"),
          "alert error stored iff it failed (%s)" % mode, alert_error)
    t = stored_trigger(db_path, j["trigger_id"])
    check(t[0] == "failed" and words in (t[1] or "") and t[2] == j["id"]
          and t[3] is None, "stored failed trigger of this check (%s)"
          % mode, t)
    for text in (alert_error or "", t[1] or ""):
        no_secret(text, "the stored errors (%s)" % mode)
    # a failed trigger starts no cooldown
    f = s.request("GET", "/drift/summary").json()["finetuning"]
    check(f["cooldown_remaining_hours"] == 0 and f["last_success"] is None,
          "no cooldown after a failed trigger (%s)" % mode, f)
    figure("%-11s check %.2fs; alert %s (%s attempts); trigger failed "
           "(%s attempts): %s" % (
               mode, took, j["alert_status"],
               slack_seen if slack_seen is not None else
               attempts_in(j["alert_error"]),
               le_seen if le_seen is not None else
               attempts_in(j["trigger_error"]),
               j["trigger_error"][:150]))
    return t


def t_notify_setup():
    global S
    S = start("notify", slack_url=SLACK.url + WEBHOOK_PATH, le_url=LE.url,
              auto_trigger=True)
    S.wait_up()
    wait_first_check(S)
    r = S.request("POST", "/feedback", body=ROWS, auth=True)
    check(r.status == 200 and r.json()["inserted"] == len(ROWS),
          "feedback stored", r.status, r.body)


def run_fault(mode):
    set_mode(mode)
    before = counts(S_DB)
    s0, l0 = SLACK.count(), LE.count()
    r, took = timed(lambda: S.request("POST", "/drift/check", body={},
                                      auth=True))
    alert, retried, words = FAULTS[mode]
    verify_failed_notifications(S, S_DB, r, took, mode, alert, retried,
                                words, SLACK.count() - s0, LE.count() - l0)
    after = counts(S_DB)
    check(after[1] == before[1] + 1 and after[2] == before[2] + 1,
          "one check and one trigger attempt stored (%s)" % mode,
          before, after)


def t_slow_notifications_do_not_block_reads():
    """While the alert and the trigger hang (SLOW_S > the timeout), the
    GETs answer: each one well under NOT_BLOCKED_S proves that it was not
    queued behind the notifications."""
    set_mode("slow")
    before = counts(S_DB)
    s0, l0 = SLACK.count(), LE.count()
    out = {}

    def run_check():
        out["r"], out["took"] = timed(lambda: S.request(
            "POST", "/drift/check", body={}, auth=True, timeout=60))
    th = threading.Thread(target=run_check)
    th.start()
    try:
        deadline = time.time() + 10
        while SLACK.count() == s0 and time.time() < deadline:
            time.sleep(0.01)
        check(SLACK.count() > s0, "the alert call started")
        lat = {"/health": [], "/drift/metrics": [], "/feedback": []}
        limit = 0
        while th.is_alive():
            for p in ("/health", "/drift/metrics"):
                limit += 1
                # a new limit each time: no cached answer, a store read
                path = p if p == "/health" else \
                    "/drift/metrics?days=30&limit=%d" % limit
                r, took = timed(lambda: S.request("GET", path, timeout=10))
                check(r.status == 200, "GET %s during slow calls" % p,
                      r.status, r.body[:300])
                lat[p].append(took)
            if len(lat["/feedback"]) < 3:
                # a write too: the check holds no transaction while it
                # notifies (duplicates: nothing changes)
                r, took = timed(lambda: S.request(
                    "POST", "/feedback", body=ROWS[:5], auth=True,
                    timeout=10))
                check(r.status == 200 and r.json()["duplicates"] == 5,
                      "POST /feedback during slow calls", r.status, r.body)
                lat["/feedback"].append(took)
            time.sleep(0.05)
    finally:
        th.join(60)
    for p, xs in lat.items():
        check(xs, "requests were made during the slow calls: " + p)
        check(max(xs) < NOT_BLOCKED_S, "%s not blocked by the slow calls: "
              "slowest %.3fs" % (p, max(xs)), xs)
        figure("during slow notifications: %s x%d, median %.1f ms, max "
               "%.1f ms" % (p, len(xs), 1000 * statistics.median(xs),
                            1000 * max(xs)))
    check(len(lat["/health"]) >= 10, "the slow calls lasted long enough to "
          "measure", len(lat["/health"]))
    alert, retried, words = FAULTS["slow"]
    verify_failed_notifications(S, S_DB, out["r"], out["took"], "slow",
                                alert, retried, words, SLACK.count() - s0,
                                LE.count() - l0)
    after = counts(S_DB)
    check(after[1] == before[1] + 1 and after[2] == before[2] + 1,
          "one check and one trigger attempt stored (slow)", before, after)


def t_not_json():
    run_fault("not_json")


def t_wrong_shape():
    run_fault("wrong_shape")


def t_http_500():
    run_fault("http_500")


def t_cut_mid_response():
    run_fault("cut")


def t_endless_body():
    run_fault("endless")


def t_recovery_then_cooldown():
    """After all those failures the Learning Engine answers: the next
    check triggers (no cooldown was running), and only then does the
    cooldown start: the check after it does not call the engine."""
    set_mode("ok")
    failed_before = query(S_DB, "SELECT count(*) FROM finetuning_triggers "
                          "WHERE status = 'failed'")[0][0]
    check(failed_before >= len(FAULTS), "every fault left a failed attempt",
          failed_before)
    l0 = LE.count()
    r = S.request("POST", "/drift/check", body={}, auth=True)
    j = r.json()
    check(r.status == 200 and j["trigger_status"] == "success" and
          j["alert_status"] == "sent", "healthy peers: sent, success",
          r.body[:600])
    check(LE.count() == l0 + 1, "one call to the Learning Engine")
    f = S.request("GET", "/drift/summary").json()["finetuning"]
    check(f["cooldown_remaining_hours"] > 167, "cooldown started by the "
          "success", f)
    r = S.request("POST", "/drift/check", body={}, auth=True)
    check(r.status == 200 and r.json()["trigger_status"] == "cooldown",
          "the next check is in cooldown", r.body[:600])
    check(LE.count() == l0 + 1, "no call during the cooldown")


def t_down():
    """Closed ports: connection refused, retried, recorded; twice, since
    a failed trigger leaves no cooldown."""
    slack_port, le_port = dmtest.free_port(), dmtest.free_port()
    d_tmp = os.path.join(TMP, "down")
    os.makedirs(d_tmp)
    db = os.path.join(d_tmp, "driftmon.db")
    d = start("down", database=sqlite_db(db),
              slack_url="http://127.0.0.1:%d%s" % (slack_port, WEBHOOK_PATH),
              le_url="http://127.0.0.1:%d" % le_port, auto_trigger=True)
    d.wait_up()
    wait_first_check(d)
    r = d.request("POST", "/feedback", body=ROWS, auth=True)
    check(r.status == 200, "feedback stored", r.body)
    for i in range(2):
        before = counts(db)
        r, took = timed(lambda: d.request("POST", "/drift/check", body={},
                                          auth=True))
        j = r.json()
        verify_failed_notifications(d, db, r, took, "down#%d" % (i + 1),
                                    "failed", True, "after", None, None)
        for what in ("alert", "trigger"):
            err = j[what + "_error"]
            check(attempts_in(err) == RETRIES + 1,
                  "%s: %d attempts" % (what, RETRIES + 1), err)
            check("127.0.0.1:%d" % (slack_port if what == "alert" else
                                    le_port) in err,
                  "the error names the endpoint", err)
        after = counts(db)
        check(after[2] == before[2] + 1, "a trigger attempt per check",
              before, after)
    log = d.logtext()
    no_secret(log, "the log of the 'down' service")
    rc, _ = d.stop()
    check(rc == 0, "exit 0", rc)


def t_no_secret_anywhere():
    for p in ("/health", "/drift/metrics?days=30&details=1",
              "/drift/summary", "/metrics", "/"):
        # details hold feedback text: they take the token (issue 12)
        r = S.request("GET", p, auth="details=1" in p)
        check(r.status == 200, "GET " + p, r.status)
        no_secret(r.body.decode(errors="replace"), p)
    log = S.logtext()
    no_secret(log, "the log")
    check("<redacted>" in log or "Cannot POST" not in log,
          "a server echo of the path is redacted in the log")
    rc, _ = S.stop()
    check(rc == 0, "exit 0 after SIGTERM", rc)


# ---- file-system faults ----------------------------------------------


def mount(*args):
    """mount ARGS; a new mount point (the last argument) is recorded in
    MOUNTS first, so that an interruption cannot leave it behind."""
    if args[-1] not in MOUNTS:
        MOUNTS.append(args[-1])
    r = subprocess.run(["mount"] + list(args), capture_output=True,
                       text=True)
    check(r.returncode == 0, "mount " + " ".join(args), r.stderr)


def cleanup_fs(first_service):
    """Stops the services a file-system test started (SERVICES from index
    first_service on: they hold files open on its mounts), then unmounts
    everything."""
    for s in SERVICES[first_service:]:
        if s.proc.poll() is None:
            s.stop()
    umount_all()


def umount_all():
    while MOUNTS:
        m = MOUNTS.pop()
        if not os.path.ismount(m):
            continue
        r = subprocess.run(["umount", m], capture_output=True, text=True)
        if r.returncode != 0:
            time.sleep(0.5)
            r = subprocess.run(["umount", "-l", m], capture_output=True,
                               text=True)
            print("     (umount %s: %s)" % (m, r.stderr.strip()))


def fill(dirpath):
    """Writes a filler file until the file system is full; its path."""
    path = os.path.join(dirpath, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        block = b"\0" * 65536
        while True:
            try:
                os.write(fd, block)
            except OSError as e:
                check(e.errno == errno.ENOSPC, "filler stops at ENOSPC", e)
                break
        while True:  # the last partial block
            try:
                if os.write(fd, b"\0" * 512) == 0:
                    break
            except OSError:
                break
    finally:
        os.close(fd)
    return path


def t_disk_full():
    n0 = len(SERVICES)
    try:
        disk_full()
    finally:
        cleanup_fs(n0)


def disk_full():
    fdir = os.path.join(TMP, "full")
    os.makedirs(fdir)
    if ROOT:
        mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", fdir)
    db = os.path.join(fdir, "driftmon.db")
    f = start_with_check("full", db)
    # Rows stored before the fault, 20 to 27 days old: the 7-day check
    # has every embedding cached (it writes only its row), a 30-day check
    # must embed and cache these (about 200 KB).
    more = dmtest.feedback_rows(n_per_window=400, seed=11, prefix="more")
    for row in more:
        t = calendar.timegm(time.strptime(row["created_at"],
                                          "%Y-%m-%dT%H:%M:%SZ"))
        row["created_at"] = dmtest.iso((t - 20 * 86400) * 1000)
    r = f.request("POST", "/feedback", body=more, auth=True)
    check(r.status == 200, "more feedback stored", r.body)
    # the rows offered while the disk is full
    late = dmtest.feedback_rows(n_per_window=400, seed=12, prefix="late")
    before = counts(db)
    if ROOT:
        filler = fill(fdir)
        st = os.statvfs(fdir)
        figure("full disk: tmpfs of 8 MiB, %d bytes free after the filler"
               % (st.f_bavail * st.f_frsize))
    else:
        # RLIMIT_FSIZE on the running service: writing a file past 32 KiB
        # fails (EFBIG, and SIGXFSZ, which the service must survive).  The
        # -shm file (32 KiB) stays usable, so connections still open.
        lim = 32768
        resource.prlimit(f.proc.pid, resource.RLIMIT_FSIZE,
                         (lim, resource.RLIM_INFINITY))
        figure("full disk: simulated with RLIMIT_FSIZE=%d (not root)" % lim)
    try:
        for i in range(2):
            r = f.request("POST", "/feedback", body=late, auth=True)
            msg = error_of(r, 503, "store_unavailable",
                           "database or disk is full")
            figure("full disk: POST /feedback -> %d %s" % (r.status, msg))
            for body, phase in (({}, "store: "),
                                ({"window_days": 30}, "embed: ")):
                r, took = timed(lambda: f.request("POST", "/drift/check",
                                                  body=body, auth=True))
                msg = error_of(r, 503, "store_unavailable",
                               "database or disk is full")
                check(msg.startswith(phase), "failed in phase " + phase,
                      msg)
                figure("full disk: POST /drift/check %s -> %d in %.2fs: %s"
                       % (json.dumps(body), r.status, took, msg))
            check(f.proc.poll() is None, "the service is alive",
                  f.proc.returncode)
            health, worst = reads_served(f, "disk full", before[1])
            figure("full disk: GETs 200, slowest %.1f ms; /health %s "
                   "store=%s" % (1000 * worst, health["status"],
                                 json.dumps(health["store"])))
            check(health["store"]["reachable"] is True, "store reachable",
                  health)
            after = counts(db)
            check(after[:3] == before[:3], "nothing written: feedback, "
                  "checks, triggers unchanged", before, after)
    finally:
        if ROOT:
            os.unlink(filler)
        else:
            resource.prlimit(f.proc.pid, resource.RLIMIT_FSIZE,
                             (resource.RLIM_INFINITY,
                              resource.RLIM_INFINITY))
    integrity(db)
    after_fault = counts(db)
    figure("full disk: store after the fault (feedback, checks, triggers, "
           "embeddings) = %s, before = %s" % (after_fault, before))
    # space again: the next write and check work
    r = f.request("POST", "/feedback", body=late, auth=True)
    check(r.status == 200 and r.json()["inserted"] == len(late),
          "feedback after freeing space", r.status, r.body)
    for body in ({}, {"window_days": 30}):
        r = f.request("POST", "/drift/check", body=body, auth=True)
        check(r.status == 200 and r.json()["status"] == "ok",
              "check after freeing space", r.body[:300])
    health, _ = reads_served(f, "space freed", before[1] + 2)
    check(health["status"] == "healthy", "healthy again", health)
    integrity(db)
    figure("full disk: after freeing space %s" % (counts(db),))
    rc, _ = f.stop()
    check(rc == 0, "exit 0", rc)
    log = f.logtext()
    check(" FATAL" not in log, "no fatal error in the log")


def ext4_mount(img, mnt):
    with open(img, "wb") as fh:
        fh.truncate(24 << 20)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", img], capture_output=True,
                       text=True)
    check(r.returncode == 0, "mkfs.ext4 (e2fsprogs)", r.stderr)
    mount("-o", "loop,errors=remount-ro", img, mnt)
    src = subprocess.run(["findmnt", "-n", "-o", "SOURCE", mnt],
                         capture_output=True, text=True).stdout.strip()
    trig = "/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(src)
    check(os.path.exists(trig), "the kernel offers " + trig, src)
    return trig


def t_read_only_under_running_service():
    """The file system turns read-only while the service runs (ext4 with
    errors=remount-ro after an error, as on a failing disk)."""
    n0 = len(SERVICES)
    try:
        read_only_under_running_service()
    finally:
        cleanup_fs(n0)
        if os.path.exists(os.path.join(TMP, "ro-running.img")):
            os.unlink(os.path.join(TMP, "ro-running.img"))


def read_only_under_running_service():
    dmtest.need(ROOT, "root, to turn a file system read-only under a "
                "running service (mount); without it there is no "
                "equivalent: chmod does not stop an open descriptor from "
                "writing")
    rdir = os.path.join(TMP, "ro-running")
    os.makedirs(rdir)
    trig = ext4_mount(os.path.join(TMP, "ro-running.img"), rdir)
    db = os.path.join(rdir, "driftmon.db")
    s = start_with_check("ro-running", db)
    before = counts(db)
    with open(trig, "w") as fh:
        fh.write("driftmon fault test\n")
    more = dmtest.feedback_rows(n_per_window=20, seed=5, prefix="ro")
    # twice: first on the connections opened read-write before the
    # switch (EROFS from write(2)), then on ones opened read-only after
    for i in range(2):
        r = s.request("POST", "/feedback", body=more, auth=True)
        msg = error_of(r, 503, "store_unavailable", "read-only")
        figure("read-only (running) #%d: POST /feedback -> %d %s"
               % (i + 1, r.status, msg))
        r = s.request("POST", "/drift/check", body={}, auth=True)
        msg = error_of(r, 503, "store_unavailable", "read-only")
        figure("read-only (running) #%d: POST /drift/check -> %d %s"
               % (i + 1, r.status, msg))
        health, worst = reads_served(s, "read-only under the service",
                                     before[1])
        figure("read-only (running) #%d: GETs 200, slowest %.1f ms; "
               "/health %s store=%s" % (i + 1, 1000 * worst,
                                        health["status"],
                                        json.dumps(health["store"])))
        check(s.proc.poll() is None, "the service is alive")
    after = counts(db)
    check(after == before, "nothing written", before, after)
    integrity(db)
    figure("read-only (running): store unchanged %s" % (after,))
    rc, _ = s.stop()
    check(rc == 0, "exit 0", rc)


def t_read_only_at_start():
    """An already migrated database on a read-only mount (root) or
    without write permission (chmod a-w): the service starts, serves
    reads, refuses writes, and /health says so.  Twice: after a clean stop
    of the writer (no -wal, no -shm file: SQLite cannot read such a WAL
    database without creating the -shm file, so the store opens it
    immutable) and after a crash (both files left behind)."""
    n0 = len(SERVICES)
    rdir = os.path.join(TMP, "ro-start")
    os.makedirs(rdir)
    if ROOT:
        mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", rdir)
    try:
        for how in ("clean stop", "SIGKILL"):
            read_only_at_start(rdir, how)
    finally:
        cleanup_fs(n0)


def read_only_at_start(rdir, how):
    db = os.path.join(rdir, "driftmon.db")
    for name in os.listdir(rdir):
        os.unlink(os.path.join(rdir, name))
    w = start_with_check("ro-start-writer", db)
    if how == "SIGKILL":
        w.proc.kill()
        w.proc.wait()
        w.log.close()
    else:
        rc, _ = w.stop()
        check(rc == 0, "writer exit 0", rc)
    left = sorted(os.listdir(rdir))
    figure("read-only (start, %s): files left: %s" % (how, left))
    check(("driftmon.db-wal" in left) == (how == "SIGKILL"),
          "a -wal file is left only by the crash", left)
    before = counts(db)
    if ROOT:
        mount("-o", "remount,ro", rdir)
    else:
        for p in [os.path.join(rdir, n) for n in left] + [rdir]:
            os.chmod(p, 0o555 if p == rdir else 0o444)
    s = None
    try:
        # with the monitor on: its scheduler reads the schedule from the
        # store (a check was just stored, so none is due)
        s = start("ro-start", database=sqlite_db(db))
        s.wait_up()
        h = s.request("GET", "/health")
        check(h.status == 200, "/health 200: reads are served", h.status,
              h.body)
        hj = h.json()
        check(hj["status"] == "degraded" and hj["store"]["reachable"] is True
              and hj["store"]["writable"] is False and
              "read-only" in (hj["store"]["error"] or ""),
              "/health: degraded, reachable, not writable, says read-only",
              hj)
        figure("read-only (start, %s): /health %d %s store=%s" % (
            how, h.status, hj["status"], json.dumps(hj["store"])))
        health, worst = reads_served(s, "read-only at start", before[1])
        j = s.request("GET", "/drift/summary").json()
        check(j["total_checks"] == before[1] and j["latest_check"],
              "summary from the read-only store", j)
        figure("read-only (start, %s): GETs 200, slowest %.1f ms"
               % (how, 1000 * worst))
        r = s.request("POST", "/feedback", body=ROWS[:3] + [
            dict(ROWS[0], id="new-on-ro")], auth=True)
        msg = error_of(r, 503, "store_unavailable", "read-only")
        figure("read-only (start, %s): POST /feedback -> %d %s"
               % (how, r.status, msg))
        r = s.request("POST", "/drift/check", body={}, auth=True)
        msg = error_of(r, 503, "store_unavailable", "read-only")
        figure("read-only (start, %s): POST /drift/check -> %d %s"
               % (how, r.status, msg))
        check(counts(db) == before, "nothing written", before, counts(db))
        check(s.proc.poll() is None, "the service is alive")
        check("read-only" in s.logtext(), "the log names the cause")
        rc, _ = s.stop()
        check(rc == 0, "exit 0", rc)
    finally:
        if s is not None and s.proc.poll() is None:
            s.stop()
        if ROOT:
            mount("-o", "remount,rw", rdir)
        else:
            for p in [rdir] + [os.path.join(rdir, n) for n in left]:
                os.chmod(p, 0o755 if p == rdir else 0o644)


def main():
    tests = [
        ("notify_setup", t_notify_setup),
        ("slow_notifications_do_not_block_reads",
         t_slow_notifications_do_not_block_reads),
        ("notify_not_json", t_not_json),
        ("notify_wrong_shape", t_wrong_shape),
        ("notify_http_500", t_http_500),
        ("notify_cut_mid_response", t_cut_mid_response),
        ("notify_endless_body", t_endless_body),
        ("notify_recovery_then_cooldown", t_recovery_then_cooldown),
        ("notify_down", t_down),
        ("no_secret_anywhere", t_no_secret_anywhere),
        ("disk_full", t_disk_full),
        ("read_only_under_running_service",
         t_read_only_under_running_service),
        ("read_only_at_start", t_read_only_at_start),
    ]
    print("binary: %s, tmp: %s, root mounts: %s" % (dmtest.BINARY, TMP,
                                                    ROOT))
    # a timeout's SIGTERM unwinds through the finally blocks: no mount is
    # left behind in the build directory
    def on_term(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish cleaning up
        sys.exit(143)
    signal.signal(signal.SIGTERM, on_term)
    t0 = time.time()
    try:
        rc = dmtest.run(tests)
    finally:
        for s in SERVICES:
            if s.proc.poll() is None:
                s.stop()
        SLACK.stop()
        LE.stop()
        umount_all()
    print("total %.1fs" % (time.time() - t0))
    if rc == 1:
        for s in SERVICES:
            print("--- service log %s (%s) ---" % (s.name, s.log_path))
            print(s.logtext()[-4000:])
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
