#!/usr/bin/env python3
"""Fault injection on the store (issue 7, "Faults"): the real `driftmon
serve` binary, real PostgreSQL (tests/pg/with-postgres) or SQLite, and
faults made with real processes: the database server stopped and started
again (DM_PG_STOP / DM_PG_START), the service killed with SIGKILL.

PostgreSQL only (DM_TEST_BACKEND=postgres):
- pg_stop_idle: the server stops while the service is idle.  The process
  stays up; /health answers 503 "degraded" with store.reachable false and
  an error that holds neither the password nor the URL; every read and
  write answers 503 store_unavailable quickly; /metrics still answers.
  When the server is back /health is 200 again and the next check is
  stored.
- pg_stop_mid_check: the server stops while a check embeds its rows (a
  real BERT, the minilm-tiny fixture, over many rows).  The check answers
  503 store_unavailable, the service stays up, no half-written row: the
  check is one row or none, every embedding-cache row is a whole vector.
  The next check after recovery succeeds and reuses the cache.
- pg_stop_scheduler: the background scheduler (a short interval) runs
  into the stopped server: it logs and waits between attempts (no busy
  loop: CPU time and log lines are bounded), and resumes its checks when
  the server is back.

Both backends:
- kill_mid_check: with auto fine-tuning and a fake Learning Engine, a
  first check triggers (success, the cooldown starts); a second check is
  SIGKILLed while it embeds.  The store holds no partial row (SQLite
  PRAGMA integrity_check ok), the restarted service opens it cleanly and
  the cooldown still holds: a new drifted check does not call the Learning
  Engine again.
- kill_mid_feedback: SIGKILL while POST /feedback writes a large batch:
  after the restart either every row of the batch is present or none.

Timing bounds are generous upper limits that prove "did not block" (see
FAST); the measured figures are printed for docs/reliability.md.
"""

import json
import os
import re
import shutil
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest  # noqa: E402
from dmtest import check  # noqa: E402

PG = dmtest.BACKEND == "postgres"
FIXTURES = os.environ.get("DM_FIXTURES") or os.path.join(
    os.environ.get("DM_SOURCE_ROOT", "."), "..", "shared", "fixtures")
MODEL_DIR = os.path.join(FIXTURES, "minilm-tiny")
DIM = 32                 # hidden size of the minilm-tiny fixture
PG_PASSWORD = "pg-Pa55word-never-shown"
# A generous upper bound (seconds) for an answer while the store is down:
# it proves the request did not block on the dead store (the real figures,
# a few milliseconds, are printed).  Not a performance assertion.
FAST = 5.0
DOWN_S = 3.0             # how long the idle test keeps the server stopped
NEW_PER_WINDOW = 3000    # rows per window the killed check must embed
TMPS = []
SERVICES = []


def note(fmt, *args):
    """A measured figure for the report."""
    print("     " + (fmt % args), flush=True)


def database():
    """The database section: on PostgreSQL a URL with a password (trust
    authentication ignores it), so that a leak would show."""
    if not PG:
        return None
    return ('database:\n  backend: postgres\n  url: '
            '"postgresql://driftmon:%s@%s:%s/driftmon"'
            % (PG_PASSWORD, os.environ["DM_PG_HOST"],
               os.environ["DM_PG_PORT"]))


def secrets():
    out = [dmtest.TOKEN, PG_PASSWORD]
    if PG:
        out += ["postgresql://", os.environ["DM_PG_URL"]]
    return out


def no_secret(text, where):
    for s in secrets():
        check(s not in text, "no secret in " + where, s, text[:400])


def fresh_store():
    """A new scratch directory (the SQLite file lives there) and, on
    PostgreSQL, an empty database (the service creates the schema)."""
    tmp = dmtest.tempdir("faults-")
    TMPS.append(tmp)
    if PG:
        try:
            dmtest.store_query(tmp, "SELECT 1")
        except Exception:  # noqa: BLE001 - a failed test left it stopped
            dmtest.pg_control("START")
        dmtest.store_query(tmp, "DROP TABLE IF EXISTS feedback, "
                           "drift_metrics, finetuning_triggers, "
                           "embedding_cache, schema_version CASCADE")
    return tmp


def service(tmp, **kw):
    kw.setdefault("database", database())
    s = dmtest.Service(tmp, **kw)
    SERVICES.append(s)
    return s


def bert_sections(permutations):
    """Config sections for checks on the minilm-tiny BERT over every row
    (no sampling cap), one encoder thread, permutations for the tests."""
    return {
        "monitoring": "  min_samples: 30\n  check_interval_hours: 1000\n"
                      "  max_samples_per_window: 100000",
        "embeddings": '  model: "sentence-transformers/all-MiniLM-L6-v2"\n'
                      '  model_path: "%s"\n  dimension: %d\n'
                      '  batch_size: 32\n  threads: 1' % (MODEL_DIR, DIM),
        "significance": "  permutations: %d" % permutations}


def count(tmp, sql):
    return int(dmtest.store_query(tmp, sql)[0][0])


def timed(svc, method, path, **kw):
    t0 = time.time()
    r = svc.request(method, path, **kw)
    return r, time.time() - t0


def err(r, status, code):
    check(r.status == status, "status %d" % status, r.status, r.body[:400])
    j = r.json()
    check(j.get("error", {}).get("code") == code, "error code " + code, j)
    check(j["error"].get("message"), "error message", j)
    no_secret(r.body.decode(errors="replace"), "error body")
    return j


def wait_for(cond, timeout, what, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise dmtest.Failure("timed out after %gs waiting for %s" % (timeout,
                                                                  what))


def wait_healthy(svc, timeout=30):
    """Polls /health until 200; returns (seconds, 503 answers seen)."""
    t0, n503 = time.time(), 0
    while time.time() < t0 + timeout:
        check(svc.proc.poll() is None, "service still running",
              svc.logtext()[-2000:])
        r = svc.request("GET", "/health")
        if r.status == 200:
            return time.time() - t0, n503
        check(r.status == 503, "health 200 or 503", r.status, r.body)
        n503 += 1
        time.sleep(0.05)
    raise dmtest.Failure("/health not 200 within %ds" % timeout)


def store_sane(tmp, dim=DIM):
    """The invariants no fault may break; returns (checks, triggers, cache
    rows).  Checks are written by one INSERT, so a stored check is whole:
    a known status, figures present when it is "ok", an error when it is
    "failed".  A cache row is a whole vector of dim floats."""
    bad = count(tmp, "SELECT count(*) FROM drift_metrics WHERE status NOT IN "
                "('ok', 'insufficient_data', 'failed') OR (status = 'ok' AND "
                "(kl_divergence IS NULL OR psi IS NULL OR combined_score IS "
                "NULL OR current_accuracy IS NULL OR details IS NULL)) OR "
                "(status = 'failed' AND error IS NULL)")
    check(bad == 0, "no partial or unknown check row", bad)
    bad = count(tmp, "SELECT count(*) FROM embedding_cache WHERE dim <> %d OR "
                "%s(vector) <> %d" % (dim, "octet_length" if PG else "length",
                                     4 * dim))
    check(bad == 0, "every embedding-cache row a whole vector", bad)
    bad = count(tmp, "SELECT count(*) FROM finetuning_triggers WHERE status "
                "NOT IN ('success', 'failed') OR (status = 'success' AND "
                "job_id IS NULL)")
    check(bad == 0, "no partial trigger row", bad)
    if not PG:
        db = sqlite3.connect(os.path.join(tmp, "driftmon.db"))
        try:
            ic = db.execute("PRAGMA integrity_check").fetchall()
            fk = db.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            db.close()
        check(ic == [("ok",)], "PRAGMA integrity_check ok", ic)
        check(fk == [], "PRAGMA foreign_key_check clean", fk)
    return (count(tmp, "SELECT count(*) FROM drift_metrics"),
            count(tmp, "SELECT count(*) FROM finetuning_triggers"),
            count(tmp, "SELECT count(*) FROM embedding_cache"))


def post_rows(svc, rows, timeout=120):
    r = svc.request("POST", "/feedback", body=rows, auth=True,
                    timeout=timeout)
    check(r.status == 200 and r.json()["inserted"] == len(rows),
          "feedback stored", r.status, r.body[:300])


def run_check(svc, out, timeout=120):
    try:
        out["r"] = svc.request("POST", "/drift/check", body={}, auth=True,
                               timeout=timeout)
    except OSError as e:  # the process was killed under the request
        out["e"] = e
    out["t"] = time.time()


def cache_count(tmp):
    try:
        return count(tmp, "SELECT count(*) FROM embedding_cache")
    except Exception:  # noqa: BLE001 - table not created yet, or locked
        return 0


# ---- PostgreSQL stopped ----------------------------------------------


def t_pg_stop_idle():
    tmp = fresh_store()
    S = service(tmp)
    S.wait_up()
    # the scheduler's first check runs at start (empty store)
    wait_for(lambda: S.request("GET", "/health").json().get("last_check"),
             20, "the scheduler's first check")
    post_rows(S, dmtest.feedback_rows())
    r = S.request("POST", "/drift/check", body={}, auth=True)
    check(r.status == 200 and r.json()["status"] == "ok", "check before",
          r.status, r.body[:300])
    # fill the connection pool: stale connections are part of the fault
    for p in ("/drift/metrics", "/drift/summary", "/metrics", "/"):
        check(S.request("GET", p).status == 200, "GET %s before" % p)
    before = dmtest.store_counts(tmp)
    # /drift/metrics answers are reused for 1 s (DM_API_CACHE_MS): let the
    # copy made above expire so that the store is really asked
    time.sleep(1.1)

    t_down = time.time()
    dmtest.pg_control("STOP")
    note("pg stop (fast shutdown) took %.2f s", time.time() - t_down)
    took = {}
    r, took["health"] = timed(S, "GET", "/health")
    check(r.status == 503, "health 503 with the store down", r.status,
          r.body)
    j = r.json()
    check(j["status"] == "degraded" and j["store"]["reachable"] is False,
          "degraded, store unreachable", j)
    msg = j["store"]["error"]
    check(isinstance(msg, str) and len(msg) > 10, "an error message", j)
    no_secret(r.body.decode(), "/health")
    check(j["monitor"]["running"] is True, "monitor still running", j)
    note("/health while down: 503 %s", json.dumps(j["store"]))
    for name, m, p, body in (
            ("metrics-list", "GET", "/drift/metrics", None),
            ("summary", "GET", "/drift/summary", None),
            ("feedback", "POST", "/feedback",
             dmtest.feedback_rows(3, prefix="down")),
            ("check", "POST", "/drift/check", {}),
            ("trigger", "POST", "/drift/trigger-finetuning", {})):
        r, took[name] = timed(S, m, p, body=body, auth=True)
        j = err(r, 503, "store_unavailable")
        note("%s %s while down: %d %s in %.1f ms", m, p, r.status,
             j["error"]["message"][:110], took[name] * 1000)
    r, took["dashboard"] = timed(S, "GET", "/")
    check(r.status == 503 and b"unreachable" in r.body,
          "dashboard 503 naming the store unreachable", r.status)
    no_secret(r.body.decode(), "dashboard")
    r, took["prometheus"] = timed(S, "GET", "/metrics")
    check(r.status == 200 and "\ndriftmon_store_up 0\n" in r.body.decode(),
          "/metrics answers, store_up 0", r.status, r.body[-400:])
    note("answer times while down (ms): %s", ", ".join(
        "%s %.1f" % (k, v * 1000) for k, v in took.items()))
    check(max(took.values()) < FAST, "every answer within %gs" % FAST, took)
    # the fault lasts: the same answers, as fast, for DOWN_S seconds
    polls, slowest = 0, 0.0
    while time.time() < t_down + DOWN_S:
        for p in ("/health", "/drift/summary", "/drift/metrics"):
            r, t = timed(S, "GET", p)
            check(r.status == 503, "GET %s 503 while down" % p, r.status)
            polls, slowest = polls + 1, max(slowest, t)
        time.sleep(0.2)
    check(slowest < FAST, "every answer within %gs" % FAST, slowest)
    note("%d more GETs over %.1f s of downtime: all 503, slowest %.1f ms",
         polls, DOWN_S, slowest * 1000)
    check(S.proc.poll() is None, "service still running")

    t_start = time.time()
    dmtest.pg_control("START")
    down = time.time() - t_down
    secs, n503 = wait_healthy(S)
    note("pg start took %.2f s; /health 200 %.0f ms after it returned "
         "(%d x 503 before); the store was down %.1f s",
         time.time() - t_start - secs, secs * 1000, n503, down)
    r, t = timed(S, "POST", "/drift/check", body={}, auth=True)
    check(r.status == 200 and r.json()["status"] == "ok" and r.json()["id"],
          "the next check succeeds", r.status, r.body[:300])
    after = dmtest.store_counts(tmp)
    check(after == (before[0], before[1] + 1, before[2]),
          "the check stored; nothing written while down", before, after)
    store_sane(tmp, dim=64)  # the hashing embedder of dmtest's config
    note("first check after recovery: 200 in %.0f ms; store (feedback, "
         "checks, triggers) %s -> %s", t * 1000, before, after)
    no_secret(S.logtext(), "the log")
    rc, _ = S.stop()
    check(rc == 0, "exit code 0", rc)


def t_pg_restart_idle():
    """A quick restart while the service is idle with pooled connections:
    none of them may cost a request a 503 once the server is back."""
    tmp = fresh_store()
    S = service(tmp, args=["--no-monitor"])
    S.wait_up()
    post_rows(S, dmtest.feedback_rows())

    def hit():
        for _ in range(5):
            S.request("GET", "/drift/summary")
    # concurrent requests leave several connections in the pool
    ths = [threading.Thread(target=hit) for _ in range(6)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    t0 = time.time()
    dmtest.pg_control("RESTART")
    note("pg restart (fast) took %.2f s", time.time() - t0)
    answers = []
    for _ in range(10):
        for p in ("/health", "/drift/summary", "/drift/metrics?days=%d" %
                  (len(answers) + 1), "/metrics"):
            r = S.request("GET", p)
            answers.append((p, r.status, r.body[:160]))
    bad = [a for a in answers if a[1] != 200]
    check(not bad, "every answer 200 after the restart (stale pooled "
          "connections are reset before use)", len(bad), bad[:3])
    r = S.request("POST", "/drift/check", body={}, auth=True)
    check(r.status == 200 and r.json()["status"] == "ok", "check after the "
          "restart", r.status, r.body[:300])
    note("after the restart: %d GETs all 200, the next check 200",
         len(answers))
    rc, _ = S.stop()
    check(rc == 0, "exit code 0", rc)


def t_pg_stop_mid_check():
    tmp = fresh_store()
    # many rows (about a second of embedding, chunk by chunk) and a long
    # statistics phase: the stop lands mid-way wherever the check is
    S = service(tmp, args=["--no-monitor"], max_body=1 << 28,
                sections=bert_sections(permutations=1000))
    S.wait_up()
    rows = dmtest.feedback_rows(3000, prefix="m")
    post_rows(S, rows)
    before = store_sane(tmp)
    out = {}
    th = threading.Thread(target=run_check, args=(S, out))
    t0 = time.time()
    th.start()
    # mid-way: the first chunks of embeddings are cached, more to come
    at_stop = wait_for(lambda: "t" not in out and cache_count(tmp), 60,
                       "the check's first cached embeddings", step=0.01)
    check("t" not in out, "the check still running when the store stops "
          "(make it longer)", out)
    t_stop = time.time()
    dmtest.pg_control("STOP")
    t_stopped = time.time()
    th.join(60)
    check("t" in out, "the check answered while the store is down")
    r = out["r"]
    j = err(r, 503, "store_unavailable")
    note("stop %.2f s into the check, %d of %d embeddings cached; the "
         "check answered %d %s %.2f s after the stop began (the stop took "
         "%.2f s)", t_stop - t0, at_stop, len(rows), r.status,
         j["error"]["message"][:120], out["t"] - t_stop,
         t_stopped - t_stop)
    # the store stays down a while: the service answers 503, stays up
    while time.time() < t_stop + 2.0:
        r, t = timed(S, "GET", "/health")
        check(r.status == 503 and t < FAST, "health 503 quickly", r.status,
              t)
        time.sleep(0.1)
    check(S.proc.poll() is None, "service still running")

    dmtest.pg_control("START")
    secs, n503 = wait_healthy(S)
    note("store down %.1f s in all; /health 200 %.0f ms after the start "
         "(%d x 503 before)", time.time() - t_stop, secs * 1000, n503)
    after = store_sane(tmp)
    # a check is one row or none: here none, since the store stayed down
    # until the answer (a stored failure would have come with the answer)
    check(after[0] == before[0] and "check" not in j,
          "no check row for the failed check", before, after, j)
    check(at_stop <= after[2] < len(rows), "the cache kept its whole "
          "entries and no more", at_stop, after[2])
    r, t = timed(S, "POST", "/drift/check", body={}, auth=True, timeout=120)
    check(r.status == 200 and r.json()["status"] == "ok",
          "the next check succeeds", r.status, r.body[:300])
    jj = r.json()
    check(jj["embedded_now"] == len(rows) - after[2],
          "it embeds only the rows not cached", jj["embedded_now"], after[2])
    final = store_sane(tmp)
    check(final[0] == before[0] + 1 and final[2] == len(rows),
          "one check row, every row cached", before, final)
    note("after recovery: %d cache rows kept (whole), next check 200 in "
         "%.2f s embedding %d more; checks %d -> %d", after[2], t,
         jj["embedded_now"], before[0], final[0])
    no_secret(S.logtext(), "the log")
    rc, _ = S.stop()
    check(rc == 0, "exit code 0", rc)


def t_pg_stop_scheduler():
    tmp = fresh_store()
    interval_h = 0.0005  # 1.8 s: the retry delay is min(interval, 60 s)
    S = service(tmp, sections={"monitoring": "  min_samples: 30\n"
                               "  check_interval_hours: %g" % interval_h})
    S.wait_up()
    wait_for(lambda: S.request("GET", "/health").json()["monitor"][
        "checks_run"] >= 2, 20, "two scheduled checks")
    n_before = count(tmp, "SELECT count(*) FROM drift_metrics")
    dmtest.pg_control("STOP")
    log0 = len(S.logtext())
    cpu0, t0 = S.cpu_seconds(), time.time()
    time.sleep(5.0)
    cpu, down = S.cpu_seconds() - cpu0, time.time() - t0
    tail = S.logtext()[log0:]
    errors = len(re.findall(r"ERROR.*(store unavailable|cannot read the "
                            r"last check|check failed)", tail))
    note("scheduler against a stopped store for %.1f s: %.2f s CPU, %d "
         "error lines (interval %.1f s)", down, cpu, errors,
         interval_h * 3600)
    check(S.proc.poll() is None, "service still running")
    check(errors >= 1, "the scheduler noticed the store is down", tail[-800:])
    # no busy loop: one attempt per retry delay (a loop would log
    # thousands of lines and burn a whole core)
    check(errors <= down / (interval_h * 3600) + 3, "bounded retries",
          errors, tail[-1500:])
    check(cpu < 0.25 * down, "CPU well below a core (no spinning)", cpu)
    no_secret(tail, "the log")
    r = S.request("GET", "/health")
    check(r.status == 503, "health 503", r.status)
    runs = r.json()["monitor"]["checks_run"]
    dmtest.pg_control("START")
    t_up = time.time()
    # nothing was stored while the server was down: count from here
    n_up = count(tmp, "SELECT count(*) FROM drift_metrics")
    check(n_up >= n_before, "the checks stored before are kept", n_up)
    wait_for(lambda: count(tmp, "SELECT count(*) FROM drift_metrics") >
             n_up, 30, "a scheduled check after recovery", step=0.1)
    note("scheduler stored its next check %.2f s after the store returned",
         time.time() - t_up)
    check(S.request("GET", "/health").json()["monitor"]["checks_run"] > runs,
          "the scheduler runs again")
    store_sane(tmp)
    rc, _ = S.stop()
    check(rc == 0, "exit code 0", rc)


# ---- SIGKILL ----------------------------------------------------------


def t_kill_mid_check():
    tmp = fresh_store()
    le = dmtest.FakeServer(lambda m, p, b: (
        200, {"job_id": "job-%d" % time.time_ns()}, 0))
    # the second check embeds 6000 new rows, then a long statistics
    # phase (many permutations): the kill lands inside it
    kw = dict(le_url=le.url, max_body=1 << 28,
              sections=bert_sections(permutations=1000),
              fine_tuning="  auto_trigger: true\n  cooldown_hours: 168")
    try:
        S = service(tmp, args=["--no-monitor"], **kw)
        S.wait_up()
        post_rows(S, dmtest.feedback_rows(300, prefix="a"))
        r = S.request("POST", "/drift/check", body={}, auth=True,
                      timeout=120)
        j = r.json()
        check(r.status == 200 and j["drift_detected"] is True and
              j["trigger_status"] == "success", "first check triggers",
              r.status, r.body[:400])
        check(le.count("/train") == 1, "Learning Engine called once")
        post_rows(S, dmtest.feedback_rows(NEW_PER_WINDOW, prefix="b",
                                          seed=8))
        before = store_sane(tmp)
        out = {}
        th = threading.Thread(target=run_check, args=(S, out))
        t0 = time.time()
        th.start()
        at_kill = wait_for(lambda: "t" not in out and max(
            cache_count(tmp) - before[2], 0), 60,
            "the second check's first cached embeddings", step=0.01)
        check("t" not in out, "the check still running at the kill", out)
        t_kill = time.time()
        rc = S.kill()
        th.join(10)
        check(rc == -9, "killed by SIGKILL", rc)
        check("e" in out, "the request got no answer", out.get("r"))
        note("SIGKILL %.2f s into the second check, %d of %d new embeddings "
             "cached", t_kill - t0, at_kill, 2 * NEW_PER_WINDOW)
        after = store_sane(tmp)
        check(after[0] == before[0] and after[1] == before[1],
              "no row of the killed check (it is written at its end)",
              before, after)

        t1 = time.time()
        S2 = service(tmp, **kw)
        S2.wait_up()
        secs, n503 = wait_healthy(S2)
        # the scheduler publishes the last stored check once it read it
        h = wait_for(lambda: (lambda j: j["last_check"] and j)(
            S2.request("GET", "/health").json()), 20, "the last check")
        note("restart on the same store: /health 200 after %.2f s (%d x "
             "503); last check %s", time.time() - t1, n503,
             h["last_check"])
        check(h["monitor"]["running"] and h["last_check"] and
              h["last_check"]["status"] == "ok", "monitor up, last check",
              h)
        r = S2.request("POST", "/drift/check", body={}, auth=True,
                       timeout=120)
        j = r.json()
        check(r.status == 200 and j["drift_detected"] is True,
              "drifted check after the restart", r.status, r.body[:400])
        check(j["trigger_status"] == "cooldown", "cooldown holds",
              j)
        check(le.count("/train") == 1, "the Learning Engine not called again",
              le.count("/train"))
        final = store_sane(tmp)
        check(final[0] == before[0] + 1 and final[1] == 1,
              "one more check, still one trigger", before, final)
        note("after restart: check %s, trigger %s, Learning Engine calls %d;"
             " (checks, triggers, cache) %s -> %s -> %s", j["id"],
             j["trigger_status"], le.count("/train"), before, after, final)
        rc, _ = S2.stop()
        check(rc == 0, "exit code 0", rc)
    finally:
        le.stop()


def writer_active(tmp):
    """True while a write transaction is open on the store."""
    if PG:
        return count(tmp, "SELECT count(*) FROM pg_stat_activity WHERE "
                     "application_name = 'driftmon' AND backend_xid IS NOT "
                     "NULL") > 0
    db = sqlite3.connect(os.path.join(tmp, "driftmon.db"), timeout=0)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as e:
        return "locked" in str(e)
    finally:
        db.close()


def t_kill_mid_feedback():
    tmp = fresh_store()
    S = service(tmp, args=["--no-monitor"], max_body=1 << 28)
    S.wait_up()
    post_rows(S, dmtest.feedback_rows(5, prefix="first"))
    batch = dmtest.feedback_rows(12000, prefix="big")
    body = json.dumps(batch).encode()
    out = {}

    def send():
        try:
            out["r"] = S.request("POST", "/feedback", body=body, auth=True,
                                 headers={"Content-Type": "application/json"},
                                 timeout=120)
        except OSError as e:
            out["e"] = e
        out["t"] = time.time()
    th = threading.Thread(target=send)
    t0 = time.time()
    th.start()
    wait_for(lambda: "t" in out or writer_active(tmp), 60,
             "the batch's write transaction", step=0.005)
    check("t" not in out, "the batch still being written at the kill",
          out.get("r") and out["r"].body[:200])
    t_kill = time.time()
    S.kill()
    th.join(10)
    check("e" in out, "no answer from the killed service", out.get("r"))
    big = "SELECT count(*) FROM feedback WHERE id LIKE 'big-%'"
    n = count(tmp, big)
    check(n in (0, len(batch)), "all rows of the batch or none", n)
    store_sane(tmp)
    note("SIGKILL %.2f s after sending %d rows (%.1f MB) while the write "
         "transaction was open: %d of them present", t_kill - t0, len(batch),
         len(body) / 1e6, n)
    S2 = service(tmp, args=["--no-monitor"], max_body=1 << 28)
    S2.wait_up()
    wait_healthy(S2)
    check(count(tmp, big) == n, "the same after the restart", n)
    r = S2.request("POST", "/feedback", body=body, auth=True,
                   headers={"Content-Type": "application/json"}, timeout=120)
    check(r.status == 200 and r.json()["inserted"] == len(batch) - n,
          "the batch sent again completes it", r.status, r.body[:200])
    check(count(tmp, big) == len(batch), "every row once", count(tmp, big))
    check(count(tmp, "SELECT count(*) FROM feedback") == len(batch) + 10,
          "nothing else changed")
    store_sane(tmp)
    rc, _ = S2.stop()
    check(rc == 0, "exit code 0", rc)


def main():
    if PG:
        order = ["pg_stop_idle", "pg_restart_idle", "pg_stop_mid_check",
                 "pg_stop_scheduler", "kill_mid_check", "kill_mid_feedback"]
    else:
        order = ["kill_mid_check", "kill_mid_feedback"]
    if sys.argv[1:]:  # a subset, for debugging: test names as arguments
        order = [n for n in order if n in sys.argv[1:]]
    fns = {n[2:]: f for n, f in globals().items()
           if n.startswith("t_") and callable(f)}
    print("backend: %s, binary: %s, model: %s" % (dmtest.BACKEND,
                                                 dmtest.BINARY, MODEL_DIR))
    check(os.path.isfile(os.path.join(MODEL_DIR, "model.safetensors")),
          "the minilm-tiny fixture is present", MODEL_DIR)
    try:
        rc = dmtest.run([(n, fns[n]) for n in order])
    finally:
        for s in SERVICES:
            if s.proc.poll() is None:
                s.stop()
        if PG and os.environ.get("DM_PG_START"):
            # never leave the server stopped for the wrapper's clean-up
            os.system('"$DM_PG_START" 2>/dev/null')
    if rc:
        for s in SERVICES:
            print("--- service log (%s) ---" % s.log_path)
            print(s.logtext()[-3000:])
    else:
        for t in TMPS:
            shutil.rmtree(t, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
