#!/usr/bin/env python3
"""Fault injection: the BERT model's files truncated or changed under a
running `driftmon serve` (SQLite store, a copy of the minilm-tiny fixture
as embeddings.model_path, checks through POST /drift/check).

The service loads the model on its first check and keeps it for its life.
While it runs:
  - model.safetensors truncated to half, rewritten in place with other
    valid weights of the same shape, overwritten with garbage: each check
    after the change embeds new feedback rows, stays "ok" under the
    fingerprint of the model it loaded, and the vectors it caches are the
    loaded model's (compared with `driftmon embed` on the pristine
    fixture); the service never crashes; each change is logged once as a
    warning naming model.safetensors and asking for a restart.
At a restart with a corrupt model.safetensors:
  - the check fails with a message naming model.safetensors, is stored as
    "failed", /health still answers and reports it, the process lives on;
    once a valid model is back the next check loads it (no restart
    needed) with the original fingerprint, and a restart works too.
"""

import json
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest  # noqa: E402
from dmtest import check  # noqa: E402

TMP = dmtest.tempdir()
FIXTURE = os.path.join(
    os.environ.get("DM_FIXTURES") or os.path.join(
        os.environ.get("DM_SOURCE_ROOT", "."), "..", "shared", "fixtures"),
    "minilm-tiny")
MODEL = os.path.join(TMP, "model")
WEIGHTS = os.path.join(MODEL, "model.safetensors")
DB = os.path.join(TMP, "driftmon.db")
WARNING = "model files changed on disk"
STATE = {"fp": None, "svc": None, "batch": 0, "changed_rows": []}


class ModelService(dmtest.Service):
    """dmtest.Service with the BERT embedder on MODEL instead of hashing
    (dmtest's config names the hashing embedder, and a second
    `embeddings:` section would be a duplicate key).  No background
    checks: every check is a POST /drift/check of the test."""

    def __init__(self):  # not super().__init__(): it writes its config
        self.tmp = TMP
        self.port = dmtest.free_port()
        self.token = dmtest.TOKEN
        self.log_path = os.path.join(TMP, "serve-%d.log" % self.port)
        self.cfg_path = os.path.join(TMP, "serve-%d.yaml" % self.port)
        with open(self.cfg_path, "w") as f:
            f.write("""monitoring:
  min_samples: 30
embeddings:
  model: "minilm-tiny"
  model_path: "%s"
  dimension: 32
  threads: 1
significance:
  permutations: 50
alerts:
  enabled: false
fine_tuning:
  auto_trigger: false
%s
api:
  host: "127.0.0.1"
  port: %d
  token: "%s"
logging:
  level: info
""" % (MODEL, dmtest.default_database(TMP), self.port, self.token))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [dmtest.BINARY, "serve", "--config", self.cfg_path,
             "--no-monitor"], stdout=self.log, stderr=subprocess.STDOUT)


def svc():
    return STATE["svc"]


def start():
    STATE["svc"] = ModelService()
    svc().wait_up()


def restart():
    rc, _ = svc().stop()
    check(rc == 0, "driftmon serve stops with 0 on SIGTERM", rc,
          svc().logtext()[-2000:])
    start()


def alive():
    check(svc().proc.poll() is None, "driftmon serve still running",
          svc().proc.returncode, svc().logtext()[-3000:])
    r = svc().request("GET", "/health")
    check(r.status == 200, "/health answers 200", r.status, r.body)
    return r.json()


def add_feedback():
    """A new batch of rows in both windows, so the next check embeds."""
    STATE["batch"] += 1
    rows = dmtest.feedback_rows(n_per_window=40, seed=100 + STATE["batch"],
                                prefix="b%d" % STATE["batch"])
    r = svc().request("POST", "/feedback", body=rows, auth=True)
    check(r.status == 200, "feedback stored", r.status, r.body)
    return rows


def run_check():
    try:
        r = svc().request("POST", "/drift/check", auth=True, timeout=60)
    except OSError as e:
        raise dmtest.Failure("POST /drift/check: %s; service exit code %r; "
                             "log: %s" % (e, svc().proc.poll(),
                                          svc().logtext()[-3000:]))
    return r


def check_ok(expect_embedded):
    r = run_check()
    check(r.status == 200, "check 200", r.status, r.body[:800])
    j = r.json()
    check(j["status"] == "ok", "check ok", j)
    check(j["embedded_now"] == expect_embedded,
          "the check embedded the new rows with the model",
          j["embedded_now"], expect_embedded)
    return j


def last_stored():
    db = sqlite3.connect(DB)
    try:
        return db.execute("SELECT id, status, error, model_fingerprint FROM "
                          "drift_metrics ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        db.close()


def warnings():
    return [ln for ln in svc().logtext().splitlines() if WARNING in ln]


def write_in_place(data):
    """Overwrites model.safetensors in place: same inode, the service's
    open copy (if any) would see it."""
    fd = os.open(WEIGHTS, os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, data)
    finally:
        os.close(fd)


def other_weights():
    """A valid safetensors file of the same shape (the fixture's header)
    with other random float32 weights."""
    with open(os.path.join(FIXTURE, "model.safetensors"), "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    rnd = random.Random(99)
    k = (len(b) - 8 - n) // 4
    return b[:8 + n] + struct.pack("<%df" % k,
                                   *(rnd.gauss(0, 0.1) for _ in range(k)))


def changed_under_service(change, what):
    """Applies change to the files, adds rows, checks: ok, same
    fingerprint, the new rows embedded, one new warning, alive."""
    n_warn = len(warnings())
    change()
    rows = add_feedback()
    STATE["changed_rows"] += rows
    j = check_ok(len(rows))
    check(j["model_fingerprint"] == STATE["fp"],
          "fingerprint of the loaded model after " + what,
          j["model_fingerprint"], STATE["fp"])
    stored = last_stored()
    check(stored[0] == j["id"] and stored[1] == "ok" and
          stored[3] == STATE["fp"], "stored ok with the loaded fingerprint",
          stored)
    alive()
    w = warnings()
    check(len(w) == n_warn + 1, "one new warning after " + what, w)
    check("model.safetensors" in w[-1] and "restart" in w[-1] and
          STATE["fp"] in w[-1], "the warning names the file, the fingerprint "
          "kept and the restart", w[-1])
    # the next check with no further change does not warn again
    add_feedback()
    check_ok(80)
    check(len(warnings()) == n_warn + 1, "no repeated warning", warnings())


def t_setup():
    shutil.copytree(FIXTURE, MODEL)
    for d, _, files in os.walk(MODEL):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    start()
    add_feedback()
    j = check_ok(80)
    check(j["model_fingerprint"].startswith("minilm:"), "BERT fingerprint", j)
    STATE["fp"] = j["model_fingerprint"]
    # embeddings.precision auto: /health says what it took and why; the
    # check record and the fingerprint agree with it
    e = alive()["embedder"]
    check(e["precision"] in ("fp32", "bf16") and
          e["precision_reason"].startswith("auto: "),
          "/health: the precision auto took, and why", e)
    check(j["embedder_precision"] == e["precision"],
          "the check records the precision", j["embedder_precision"], e)
    check(j["model_fingerprint"].endswith(":bf16") ==
          (e["precision"] == "bf16"), "bf16 has a fingerprint of its own",
          j["model_fingerprint"], e)
    check(("precision %s (auto: " % e["precision"]) in svc().logtext(),
          "the log names the precision and why", svc().logtext()[-2000:])
    check(warnings() == [], "no warning before any change", warnings())


def t_truncated_under_service():
    size = os.path.getsize(WEIGHTS)
    changed_under_service(lambda: os.truncate(WEIGHTS, size // 2),
                          "truncation to half")


def t_rewritten_in_place_under_service():
    data = other_weights()
    changed_under_service(lambda: write_in_place(data),
                          "an in-place rewrite with other valid weights")


def t_garbage_under_service():
    rnd = random.Random(5)
    data = bytes(rnd.getrandbits(8) for _ in range(300000))
    changed_under_service(lambda: write_in_place(data),
                          "an overwrite with garbage")


def t_cached_vectors_are_the_loaded_models():
    """The vectors computed after each change equal those of the pristine
    model (`driftmon embed` on the fixture), not of the files on disk."""
    rows = STATE["changed_rows"]
    texts = "".join(json.dumps({"text": r["query"] + " " + r["response"]}) +
                    "\n" for r in rows)
    p = subprocess.run([dmtest.BINARY, "embed", "--model", "minilm-tiny",
                        "--model-path", FIXTURE, "--threads", "1", "--jsonl"],
                       input=texts, capture_output=True, text=True,
                       timeout=120)
    check(p.returncode == 0, "driftmon embed on the fixture", p.returncode,
          p.stderr[-1000:])
    ref = [json.loads(ln) for ln in p.stdout.splitlines()]
    check(len(ref) == len(rows), "one reference vector per row", len(ref))
    db = sqlite3.connect(DB)
    try:
        worst = 0.0
        for r, want in zip(rows, ref):
            got = db.execute("SELECT vector FROM embedding_cache WHERE "
                             "model = ? AND row_id = ?",
                             (STATE["fp"], r["id"])).fetchone()
            check(got is not None, "cached vector of " + r["id"])
            vec = struct.unpack("<%df" % (len(got[0]) // 4), got[0])
            check(len(vec) == len(want), "dimension", len(vec), len(want))
            worst = max(worst, max(abs(a - b) for a, b in zip(vec, want)))
    finally:
        db.close()
    # batching can change float rounding; another model differs by ~0.5
    check(worst < 1e-4, "cached vectors equal the loaded model's", worst)


def expect_failed_check(why):
    r = run_check()
    check(r.status == 500, "check fails (500) " + why, r.status, r.body[:800])
    j = r.json()
    msg = j["error"]["message"]
    check("model.safetensors" in msg and MODEL in msg,
          "the error names the model file", msg)
    stored = last_stored()
    check(stored[1] == "failed" and "model.safetensors" in (stored[2] or ""),
          "stored as failed with the reason", stored)
    h = alive()
    check(h["last_check"] and h["last_check"]["status"] == "failed" and
          h["last_check"]["id"] == stored[0], "/health tells the failed check",
          h)
    embedder_failed(h)
    return msg


def embedder_failed(h):
    """Issue 14 item 9: /health said "healthy" while every check failed."""
    check(h["status"] == "degraded", "/health: degraded", h)
    check(h["embedder"]["state"] == "failed" and
          "model.safetensors" in (h["embedder"]["error"] or ""),
          "/health: the embedder failed, and why", h["embedder"])


def t_restart_with_corrupt_model():
    # the garbage of the previous step is still on disk
    restart()
    # the model is loaded at start: /health knows before any check
    embedder_failed(alive())
    msg = expect_failed_check("after a restart with garbage weights")
    check("header length" in msg, "garbage: the header length", msg)
    with open(os.path.join(FIXTURE, "model.safetensors"), "rb") as f:
        good = f.read()
    write_in_place(good[:len(good) // 2])
    restart()
    add_feedback()
    msg = expect_failed_check("after a restart with half the weights")
    check("outside the data section" in msg or "truncated" in msg,
          "truncated: says what is wrong", msg)


def t_valid_model_back():
    with open(os.path.join(FIXTURE, "model.safetensors"), "rb") as f:
        write_in_place(f.read())
    # a failed load is retried by the next check: no restart needed
    j = check_ok(80)  # the rows added while the model was broken
    check(j["model_fingerprint"] == STATE["fp"], "original fingerprint", j)
    h = alive()
    check(h["embedder"]["state"] == "ready" and h["status"] == "healthy",
          "/health: the embedder works again", h)
    restart()
    add_feedback()
    j = check_ok(80)
    check(j["model_fingerprint"] == STATE["fp"], "original fingerprint", j)
    check(warnings() == [], "no warning for a model loaded as it is",
          warnings())
    h = alive()
    check(h["status"] == "healthy" and h["embedder"]["state"] == "ready" and
          h["embedder"]["error"] is None, "/health: the embedder is ready",
          h)


def main():
    rc = dmtest.run([
        ("setup: serve with a copy of minilm-tiny, first check", t_setup),
        ("truncated model.safetensors under the service",
         t_truncated_under_service),
        ("model.safetensors rewritten in place with other weights",
         t_rewritten_in_place_under_service),
        ("model.safetensors overwritten with garbage", t_garbage_under_service),
        ("vectors after the changes are the loaded model's",
         t_cached_vectors_are_the_loaded_models),
        ("restart with a corrupt model: failed check, service up",
         t_restart_with_corrupt_model),
        ("valid model back: check loads it; restart works",
         t_valid_model_back),
    ])
    if STATE["svc"] is not None:
        STATE["svc"].stop()
    sys.exit(rc)


if __name__ == "__main__":
    main()
