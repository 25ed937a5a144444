#!/usr/bin/env python3
"""Soak test: `driftmon serve` under a steady request load for a given time
while its scheduler runs drift checks back to back; the process's resident
memory (VmRSS) and open file descriptors are sampled once a second and
must not grow.

Usage: soak.py [--seconds N] [--clients N] [--binary PATH] [--no-rss]
              [--report FILE]

The service runs on SQLite with the hashing embedder and a check interval
of about one second, so a new check starts as soon as the last one ended.
The clients, each on its own connection per request, ask for /health,
/drift/metrics (with and without details, so the one-second answer cache
is both hit and rebuilt), /drift/summary, /metrics, the dashboard, POST
/feedback (ids from a bounded set, so the store stops growing once every
id is in: new rows at first, duplicates later), manual POST /drift/check
(409 while the scheduler's check runs) and a few bad requests (401, 404,
400).  The thread count is reported and only bounded (job threads come
and go).  Every answer's status is checked against what that request may get.

Judgement, after the first quarter of the run (warm-up: the connection
pool, SQLite's page caches and malloc's arenas fill):
  - heap in use (driftmon_heap_inuse_bytes of /metrics: glibc's
    mallinfo2, bytes malloc'd and not freed): the minimum of the last
    third may exceed the minimum of the middle third by at most
    max(8 MiB, 10 %).  Minimums, since a check's working memory comes and
    goes; the resting heap between checks is what a leak raises.  This is
    the sharp test: a leak first fills memory malloc already holds, so RSS
    shows it only later (a 1 KiB leak on every /health answer, ~0.4
    MiB/s, left RSS flat for two minutes and fails this bound).
  - RSS: the median of the last third may exceed the median of the middle
    third by at most max(32 MiB, 50 %): the coarse test.  Samples swing
    by ~20-30 MiB with the checks, and malloc keeps freed memory, so RSS
    moves in steps while the heap in use is flat (a 600-second run: RSS
    floor 39 -> 66 MiB at 360 s with the resting heap at 6-8 MiB; a CI
    run: median +17 MiB with the heap +1 MiB).  The least-squares trend of RSS times the judged span is
    reported (rss_trend_mib), not judged: with samples that swing like
    this it is too noisy for a run of two minutes.
  - fds: the peak of the last third may exceed the peak of the middle
    third by at most the number of clients (their in-flight connections;
    the store pool is bounded; a leaked socket or file shows).
  - at least one check a minute and one request in a thousand failing at
    most (only statuses a request may not get count as failures).
--no-rss prints the RSS figures without judging them: for sanitizer
builds, whose allocators keep freed memory in quarantine on purpose.
Prints a table of samples and the figures; exits 1 when a bound fails.
"""

import argparse
import json
import os
import random
import sqlite3
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import dmtest  # noqa: E402

MIB = 1024 * 1024


def proc_mem(pid):
    """VmRSS and its parts RssAnon (heap, stacks), RssFile (mapped files:
    the binary, libraries) and RssShmem (SQLite's -shm wal-index), bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(line.split()[1]) * 1024
    return out


def heap_inuse(svc):
    """driftmon_heap_inuse_bytes from the service's /metrics (None when
    absent: a sanitizer build, a libc without mallinfo2)."""
    r = svc.request("GET", "/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith("driftmon_heap_inuse_bytes "):
            return float(line.split()[1])
    return None


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


class Load:
    """Client threads sending a fixed mix of requests until stopped."""

    def __init__(self, svc, clients, seed):
        self.svc = svc
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.count = 0
        self.bad = []           # (request, status) a request may not get
        self.by_status = {}
        self.threads = [threading.Thread(target=self.client,
                                         args=(seed + i,), daemon=True)
                        for i in range(clients)]

    def record(self, what, status, allowed):
        with self.lock:
            self.count += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if status not in allowed:
                self.bad.append((what, status))

    def client(self, seed):
        rnd = random.Random(seed)
        now = int(time.time() * 1000)
        while not self.stop.is_set():
            k = rnd.randrange(100)
            try:
                if k < 25:
                    r = self.svc.request("GET", "/health")
                    self.record("GET /health", r.status, (200,))
                    json.loads(r.body)
                elif k < 45:
                    # bounded answers: the history grows by a check a
                    # second, and an answer of every check (limit 1000 by
                    # default) would grow with it; steady state is the point
                    q = rnd.choice(["?limit=20", "?details=1&limit=10",
                                    "?limit=5", "?days=3&limit=20"])
                    r = self.svc.request("GET", "/drift/metrics" + q,
                                         auth=True)
                    self.record("GET /drift/metrics", r.status, (200,))
                elif k < 55:
                    r = self.svc.request("GET", "/drift/summary?days=7",
                                         auth=True)
                    self.record("GET /drift/summary", r.status, (200,))
                elif k < 65:
                    r = self.svc.request("GET", "/metrics")
                    self.record("GET /metrics", r.status, (200,))
                elif k < 70:
                    r = self.svc.request("GET", "/")
                    self.record("GET /", r.status, (200,))
                elif k < 88:
                    rows = []
                    for _ in range(rnd.randrange(1, 20)):
                        i = rnd.randrange(3000)
                        ts = now - rnd.randrange(13 * dmtest.DAY_MS)
                        rows.append({
                            "id": "soak-%d" % i,
                            "query": "soak question %d about %s" % (
                                i, rnd.choice(["python", "docs", "sql"])),
                            "response": "answer %d" % i,
                            "intent": rnd.choice(["code", "docs", "sql"]),
                            "positive": rnd.random() < 0.8,
                            "created_at": dmtest.iso(ts)})
                    r = self.svc.request("POST", "/feedback", body=rows,
                                         auth=True)
                    self.record("POST /feedback", r.status, (200,))
                elif k < 90:
                    r = self.svc.request("POST", "/drift/check", body={},
                                         auth=True, timeout=120)
                    # 409 while the scheduler's check runs
                    self.record("POST /drift/check", r.status, (200, 409))
                elif k < 94:
                    r = self.svc.request("POST", "/feedback", body=[{}])
                    self.record("POST /feedback no token", r.status,
                                (401,))
                elif k < 97:
                    r = self.svc.request(
                        "POST", "/feedback", body="[{", auth=True,
                        headers={"Content-Type": "application/json"})
                    self.record("POST /feedback bad JSON", r.status, (400,))
                else:
                    r = self.svc.request("GET", "/nope")
                    self.record("GET /nope", r.status, (404,))
            except OSError as e:
                self.record("connection: %s" % e, -1, ())
                time.sleep(0.05)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(150)


def seed_store(svc):
    """Two windows of feedback so every check computes all statistics."""
    rows = dmtest.feedback_rows(n_per_window=400, seed=11, prefix="seed")
    for i in range(0, len(rows), 200):
        r = svc.request("POST", "/feedback", body=rows[i:i + 200], auth=True)
        dmtest.check(r.status == 200, "seed rows stored", r.status, r.body)


def checks_stored(tmp):
    db = sqlite3.connect(os.path.join(tmp, "driftmon.db"))
    try:
        return db.execute(
            "SELECT count(*), sum(status = 'ok') FROM drift_metrics"
        ).fetchone()
    finally:
        db.close()


def thirds(samples, key, fn):
    """fn over samples[key] of the middle and of the last third of the
    post-warm-up samples."""
    n = len(samples)
    return (fn([s[key] for s in samples[n // 3: 2 * n // 3]]),
            fn([s[key] for s in samples[2 * n // 3:]]))


def slope(samples, key):
    """Least-squares slope of samples[key] over time (units per second)."""
    n = len(samples)
    mt = sum(s["t"] for s in samples) / n
    mv = sum(s[key] for s in samples) / n
    num = sum((s["t"] - mt) * (s[key] - mv) for s in samples)
    den = sum((s["t"] - mt) ** 2 for s in samples)
    return num / den if den else 0.0


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--report", default=None)
    a = ap.parse_args()
    if a.binary:
        dmtest.BINARY = a.binary
    dmtest.BACKEND = "sqlite"

    tmp = dmtest.tempdir()
    svc = dmtest.Service(tmp, sections={
        "monitoring": "  check_interval_hours: 0.0003\n"
                      "  min_samples: 30\n"
                      "  max_samples_per_window: 2000",
        "embeddings": '  model: "hashing"\n  dimension: 384',
        "significance": "  permutations: 200"})
    failures = []
    samples = []
    load = None
    try:
        svc.wait_up()
        seed_store(svc)
        pid = svc.proc.pid
        load = Load(svc, a.clients, 1234)
        t0 = time.time()
        load.start()
        warm = a.seconds / 4
        last_print = 0
        print("%8s %10s %10s %9s %6s %8s %9s %8s" % (
            "t (s)", "RSS (MiB)", "anon", "WAL", "fds", "threads",
            "requests", "checks"), flush=True)
        while time.time() - t0 < a.seconds:
            time.sleep(1)
            dmtest.check(svc.proc.poll() is None, "service alive",
                         svc.logtext()[-2000:])
            t = time.time() - t0
            mem = proc_mem(pid)
            wal = os.path.join(tmp, "driftmon.db-wal")
            s = {"t": t, "rss": mem["VmRSS"], "anon": mem["RssAnon"],
                 "file": mem["RssFile"], "shmem": mem["RssShmem"],
                 "wal": os.path.getsize(wal) if os.path.exists(wal) else 0,
                 "heap": heap_inuse(svc), "fds": proc_fds(pid),
                 "threads": proc_threads(pid), "requests": load.count,
                 "checks": checks_stored(tmp)[0]}
            if t >= warm:
                samples.append(s)
            if t - last_print >= max(5, a.seconds / 20):
                last_print = t
                print("%8.0f %10.1f %10.1f %9.1f %6d %8d %9d %8d" % (
                    t, s["rss"] / MIB, s["anon"] / MIB, s["wal"] / MIB,
                    s["fds"], s["threads"],
                    s["requests"], s["checks"]), flush=True)
        load.finish()
        elapsed = time.time() - t0
        n_checks, n_ok = checks_stored(tmp)
        rc, took = svc.stop(timeout=60)

        rss_mid, rss_last = thirds(samples, "rss", median)
        anon_mid, anon_last = thirds(samples, "anon", median)
        peak_mid, peak_last = thirds(samples, "rss", max)
        fd_mid, fd_last = thirds(samples, "fds", max)
        th_mid, th_last = thirds(samples, "threads", max)
        rss_first = samples[0]["rss"]
        rss_bound = max(32 * MIB, rss_mid // 2)
        have_heap = all(x["heap"] is not None for x in samples)
        if have_heap:
            heap_mid, heap_last = thirds(samples, "heap", min)
            heap_bound = max(8 * MIB, heap_mid / 10)
        span = samples[-1]["t"] - samples[0]["t"]
        rss_trend = slope(samples, "rss") * span
        figures = {
            "seconds": round(elapsed, 1),
            "requests": load.count,
            "requests_per_s": round(load.count / elapsed, 1),
            "statuses": {str(k): v for k, v in sorted(
                load.by_status.items())},
            "unexpected": len(load.bad),
            "checks_stored": n_checks,
            "checks_ok": n_ok,
            "rss_after_warmup_mib": round(rss_first / MIB, 1),
            "rss_median_middle_mib": round(rss_mid / MIB, 1),
            "rss_median_last_mib": round(rss_last / MIB, 1),
            "rss_growth_mib": round((rss_last - rss_mid) / MIB, 2),
            "rss_trend_mib": round(rss_trend / MIB, 2),
            "rss_bound_mib": round(rss_bound / MIB, 1),
            "anon_median_middle_mib": round(anon_mid / MIB, 1),
            "anon_median_last_mib": round(anon_last / MIB, 1),
            "heap_min_middle_mib": round(heap_mid / MIB, 2)
            if have_heap else None,
            "heap_min_last_mib": round(heap_last / MIB, 2)
            if have_heap else None,
            "heap_bound_mib": round(heap_bound / MIB, 1)
            if have_heap else None,
            "rss_peak_middle_mib": round(peak_mid / MIB, 1),
            "rss_peak_last_mib": round(peak_last / MIB, 1),
            "rss_max_mib": round(max(x["rss"] for x in samples) / MIB, 1),
            "wal_max_mib": round(max(x["wal"] for x in samples) / MIB, 1),
            "fds_peak_middle": fd_mid,
            "fds_peak_last": fd_last,
            "threads_peak_middle": th_mid,
            "threads_peak_last": th_last,
            "exit_code": rc,
            "stop_seconds": round(took, 2),
        }
        print(json.dumps(figures, indent=2))
        if a.report:
            with open(a.report, "w") as f:
                json.dump({"figures": figures, "samples": samples}, f,
                          indent=1)

        if rc != 0:
            failures.append("exit code %r after SIGTERM" % rc)
        if load.bad:
            failures.append("%d unexpected answers, e.g. %s" % (
                len(load.bad), load.bad[:5]))
        if len(load.bad) * 1000 > load.count:
            failures.append("more than 1 in 1000 requests failed")
        if n_checks < max(1, int(elapsed // 60)):
            failures.append("only %d checks in %.0f s" % (n_checks, elapsed))
        if n_ok == 0:
            failures.append("no check completed with status ok")
        if not a.no_rss and rss_last - rss_mid > rss_bound:
            failures.append("RSS grew by %.1f MiB (bound %.1f MiB)" % (
                (rss_last - rss_mid) / MIB, rss_bound / MIB))
        # each client holds at most one connection at a time, so the
        # in-flight sockets alone move the count by up to a.clients
        if not a.no_rss and not have_heap:
            failures.append("no driftmon_heap_inuse_bytes in /metrics")
        if have_heap and heap_last - heap_mid > heap_bound:
            failures.append("heap in use grew by %.1f MiB (bound %.1f MiB)"
                            % ((heap_last - heap_mid) / MIB,
                               heap_bound / MIB))
        if fd_last > fd_mid + a.clients:
            failures.append("open fds grew from %d to %d" % (fd_mid,
                                                             fd_last))
        # threads come and go (a POST /drift/check runs on a job thread
        # of its own), so only a bound is checked: 4 MHD workers, the
        # main thread, the scheduler, check workers and a few jobs
        if th_last > 32:
            failures.append("%d threads" % th_last)
    except dmtest.Failure as e:
        failures.append(str(e))
    finally:
        if load is not None:
            load.stop.set()
        if svc.proc.poll() is None:
            svc.stop(timeout=30)
    for f in failures:
        print("FAIL soak: %s" % f)
    print("%d tests, %d failed" % (1, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
