#!/usr/bin/env python3
"""The command line as a new user meets it (issue 14): the real driftmon
binary run in a fresh directory, its exit codes and messages checked.
SQLite only; no server is started.

Each test names the rule it holds:
  - ingest: an over-long line is one bad line (--skip-invalid skips it
    and reads on; without it the file is rejected naming the line).
  - database.path: a relative path is read from the config file's
    directory; `check` on a database file that does not exist is an
    error naming it and creates nothing; `ingest` and `migrate` create it;
    `serve` creates it beside the config with a warning naming it.
  - check-config: learning_engine_url checked as the trigger needs it;
    embeddings.dimension checked against a loadable model.
  - check-config --dump with secrets set loads back (check-config passes
    the dump, and dumping the dump gives the same text).
  - demo --dir refuses a directory holding anything the demo did not
    make (other files, rows added to its store) unless --force.
  - one rule each (docs/cli.md): a missing input file or a directory is
    exit 2 with the name once; an option given last without its value
    says so; --as-of at the epoch is refused with the true reason; a
    refused connection says "cannot connect ... refused"; tokenize refuses
    invalid UTF-8 as ingest does; compare refuses unknown fields as ingest
    does.
  - `driftmon --help` lists every option each command's own --help
    lists; docs/alerts.md shows the Slack rows under the program's names.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest  # noqa: E402
from dmtest import check  # noqa: E402

TMP = dmtest.tempdir("cli-")
LONG = 1100 * 1024  # over the 1 MiB record cap


def dm(*args, cwd=None, env=None, stdin=None):
    """Runs driftmon; returns (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([dmtest.BINARY] + list(args), cwd=cwd or TMP,
                       env=e, input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def fresh(name):
    d = os.path.join(TMP, name)
    os.makedirs(d)
    return d


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def store_config(d, extra=""):
    return write(os.path.join(d, "c.yaml"),
                 "embeddings:\n  model: hashing\n"
                 "database:\n  backend: sqlite\n  path: %s\n%s"
                 % (os.path.join(d, "s.db"), extra))


def good_jsonl(i):
    return json.dumps({"id": "r%d" % i, "query": "q%d" % i,
                       "response": "r", "positive": True,
                       "created_at": "2026-01-01T00:00:00Z"}) + "\n"


def long_line_files(d):
    """One good row, one 1.1 MB line, three good rows, one bad line."""
    jl = good_jsonl(1) + "x" * LONG + "\n" + "".join(
        good_jsonl(i) for i in (2, 3, 4)) + '{"query": 1}\n'
    csv = ("id,query,response,positive,created_at\n"
           "r1,q1,r,1,2026-01-01\n" + "y" * LONG + "\n" +
           "".join("r%d,q%d,r,1,2026-01-01\n" % (i, i) for i in (2, 3, 4)) +
           "r5,q5,r,maybe,2026-01-01\n")
    return (write(os.path.join(d, "f.jsonl"), jl),
            write(os.path.join(d, "f.csv"), csv))


def test_ingest_long_line_skipped_and_read_on():
    for fmt in ("jsonl", "csv"):
        d = fresh("long-skip-" + fmt)
        cfg = store_config(d)
        path = long_line_files(d)[fmt == "csv"]
        rc, _, err = dm("ingest", path, "--config", cfg, "--skip-invalid")
        check(rc == 0, fmt + ": --skip-invalid exits 0", rc, err)
        check("4 rows read, 4 inserted" in err and "2 invalid skipped" in err,
              fmt + ": the rows after the long line are read", err)
        line = 3 if fmt == "csv" else 2
        check("line %d: " % line in err and "longer than" in err,
              fmt + ": the long line is named", err)


def test_ingest_long_line_rejects_the_file():
    for fmt in ("jsonl", "csv"):
        d = fresh("long-reject-" + fmt)
        cfg = store_config(d)
        path = long_line_files(d)[fmt == "csv"]
        rc, _, err = dm("ingest", path, "--config", cfg)
        check(rc == 2, fmt + ": a file with bad lines exits 2", rc, err)
        line = 3 if fmt == "csv" else 2
        check("line %d: " % line in err and "2 bad lines; nothing was "
              "written" in err, fmt + ": the long line is named", err)


def test_relative_database_path():
    conf = fresh("relpath-conf")
    elsewhere = fresh("relpath-elsewhere")
    cfg = write(os.path.join(conf, "c.yaml"), "embeddings:\n  model: hashing\n"
                "database:\n  backend: sqlite\n  path: ing.db\n")
    rc, _, err = dm("check", "--config", cfg, cwd=elsewhere)
    want = os.path.join(conf, "ing.db")
    check(rc == 2, "check on a missing store exits 2", rc, err)
    check(want in err and "does not exist" in err,
          "the message names the resolved path", err)
    check(os.listdir(elsewhere) == [] and os.listdir(conf) == ["c.yaml"],
          "check created no file", os.listdir(elsewhere), os.listdir(conf))
    rc, _, err = dm("ingest", long_line_files(elsewhere)[0], "--config", cfg,
                    "--skip-invalid", cwd=elsewhere)
    check(rc == 0 and os.path.exists(want), "ingest creates the store "
          "beside the config", rc, err, os.listdir(conf))
    check(not os.path.exists(os.path.join(elsewhere, "ing.db")),
          "nothing in the working directory", os.listdir(elsewhere))
    rc, out, err = dm("check", "--config", cfg, cwd=elsewhere)
    check(rc in (0, 1) and "does not exist" not in err,
          "check reads the store beside the config", rc, out, err)


def test_serve_creates_the_store_beside_its_config():
    import signal
    import time
    import urllib.request
    conf = fresh("serve-conf")
    elsewhere = fresh("serve-elsewhere")
    port = dmtest.free_port()
    cfg = write(os.path.join(conf, "c.yaml"),
                "embeddings:\n  model: hashing\n"
                "alerts:\n  enabled: false\n"
                "fine_tuning:\n  auto_trigger: false\n"
                "database:\n  backend: sqlite\n  path: rel.db\n"
                "api:\n  host: 127.0.0.1\n  port: %d\n" % port)
    log = open(os.path.join(elsewhere, "..", "serve-rel.log"), "w+")
    p = subprocess.Popen([dmtest.BINARY, "serve", "--config", cfg,
                          "--no-monitor"], cwd=elsewhere, stdout=log,
                         stderr=log)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/health" % port,
                                       timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise dmtest.Failure("serve did not answer /health")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    log.seek(0)
    text = log.read()
    want = os.path.join(conf, "rel.db")
    check(os.path.exists(want) and os.listdir(elsewhere) == [],
          "serve made the store beside its config", os.listdir(conf),
          os.listdir(elsewhere))
    check(want in text and "does not exist" in text and
          "starting a new empty store" in text,
          "serve warned that it starts a new store, naming it", text)


def test_check_without_config_creates_nothing():
    d = fresh("noconf")
    rc, _, err = dm("check", cwd=d)
    check(rc == 2 and "driftmon.db" in err and "does not exist" in err,
          "check without --config and no store: error naming the file", rc,
          err)
    check(os.listdir(d) == [], "no ./driftmon.db appears", os.listdir(d))
    rc, _, err = dm("migrate", cwd=d)
    check(rc == 0 and os.path.exists(os.path.join(d, "driftmon.db")),
          "migrate creates the store", rc, err)


FIXTURES = os.environ.get("DM_FIXTURES") or os.path.join(
    os.environ.get("DM_SOURCE_ROOT", "."), "..", "shared", "fixtures")


def test_check_config_url_and_dimension():
    d = fresh("checkcfg")
    for url in ("http://le:8003/?x=1", "http://", "http://le:99999"):
        cfg = write(os.path.join(d, "u.yaml"),
                    'fine_tuning:\n  learning_engine_url: "%s"\n' % url)
        rc, _, err = dm("check-config", cfg)
        check(rc == 2 and "fine_tuning.learning_engine_url" in err,
              "check-config rejects " + url, rc, err)
    tiny = os.path.join(FIXTURES, "minilm-tiny")
    check(os.path.isdir(tiny), "the minilm-tiny fixture is present", tiny)
    cfg = write(os.path.join(d, "m.yaml"),
                'embeddings:\n  model: tiny\n  model_path: "%s"\n'
                '  dimension: 384\n' % tiny)
    rc, _, err = dm("check-config", cfg)
    check(rc == 2 and "embeddings.dimension: 384" in err and
          "hidden_size 32" in err, "a 32-d model with dimension 384 is an "
          "error naming both", rc, err)
    write(cfg, 'embeddings:\n  model: tiny\n  model_path: "%s"\n'
          '  dimension: 32\n' % tiny)
    rc, out, err = dm("check-config", cfg)
    check(rc == 0, "dimension 32 matches", rc, out, err)
    write(cfg, 'embeddings:\n  model: bert\n  model_path: "%s"\n'
          % os.path.join(d, "not-fetched"))
    rc, out, err = dm("check-config", cfg)
    check(rc == 0, "a model not fetched yet is not checked", rc, out, err)


def test_dump_with_secrets_loads_back():
    d = fresh("dump")
    secret = "s3cr3t-dump-Zq9"
    env = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/T/B/" + secret,
           "DRIFTMON_API_TOKEN": "tok-" + secret}
    cfg = write(os.path.join(d, "c.yaml"),
                'alerts:\n  slack:\n    webhook_url: "${SLACK_WEBHOOK_URL}"\n'
                'database:\n  password: "pw-%s"\n' % secret)
    rc, out, err = dm("check-config", cfg, "--dump", env=env)
    check(rc == 0 and secret not in out + err, "dump without secrets", rc,
          out, err)
    dumped = write(os.path.join(d, "dump.yaml"), out)
    rc, out2, err2 = dm("check-config", dumped, "--dump", env=env)
    check(rc == 0, "the dump loads back", rc, err2)
    check('  password: "<redacted>"\n' in out, "a literal secret is "
          "redacted", out)
    check('    webhook_url: "${SLACK_WEBHOOK_URL}"\n' in out, "a secret from "
          "the environment is dumped as its reference", out)

    def others(text):  # the literal password loads back as its default
        return [x for x in text.splitlines() if "password:" not in x]
    check(others(out2) == others(out), "dumping the dump gives the same "
          "text", out, out2)


def feedback_rows(db):
    import sqlite3
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT count(*) FROM feedback").fetchone()[0]
    finally:
        c.close()


def test_demo_refuses_foreign_directory():
    d = fresh("demo")
    demo = os.path.join(d, "run")
    db = os.path.join(demo, "driftmon.db")
    rc, _, err = dm("demo", "--dir", demo, "--rows-per-day", "20", "--json")
    check(rc == 0, "demo in a new directory", rc, err)
    rc, _, err = dm("demo", "--dir", demo, "--rows-per-day", "20", "--json")
    check(rc == 0, "demo again over its own files", rc, err)
    check(feedback_rows(db) == 280, "280 demo rows", feedback_rows(db))
    # rows of one's own added to the demo store: refused, nothing changed
    rc, _, err = dm("ingest", long_line_files(d)[0], "--config",
                    os.path.join(demo, "demo.yaml"), "--skip-invalid")
    check(rc == 0 and feedback_rows(db) == 284, "4 rows added", rc, err)
    rc, _, err = dm("demo", "--dir", demo, "--rows-per-day", "20", "--json")
    check(rc == 2 and "284 feedback rows" in err and "--force" in err,
          "demo refuses a store with rows it did not write", rc, err)
    check(feedback_rows(db) == 284, "the rows are kept", feedback_rows(db))
    rc, _, err = dm("demo", "--dir", demo, "--rows-per-day", "20", "--json",
                    "--force")
    check(rc == 0 and feedback_rows(db) == 280, "--force replaces them", rc,
          err)
    # a directory of one's own: a store and a config that are not the demo's
    own = fresh("demo-own")
    write(os.path.join(own, "demo.yaml"), "# mine\n")
    rc, _, err = dm("migrate", "--config", store_config(own))
    os.rename(os.path.join(own, "s.db"), os.path.join(own, "driftmon.db"))
    os.unlink(os.path.join(own, "c.yaml"))
    before = sorted(os.listdir(own))
    rc, _, err = dm("demo", "--dir", own, "--rows-per-day", "20")
    check(rc == 2 and "not a demo directory" in err, "demo refuses a "
          "directory that is not its own", rc, err)
    check(sorted(os.listdir(own)) == before and
          open(os.path.join(own, "demo.yaml")).read() == "# mine\n",
          "nothing in it changed", os.listdir(own))
    write(os.path.join(demo, "notes.txt"), "x")
    rc, _, err = dm("demo", "--dir", demo, "--rows-per-day", "20")
    check(rc == 2 and "'notes.txt'" in err, "another file: refused", rc, err)


def test_uniform_messages():
    d = fresh("uniform")
    cfg = store_config(d)
    for cmd in (["ingest", "nofile", "--config", cfg],
                ["compare", "--baseline", "nofile", "--current", "nofile"],
                ["check-config", "nofile"]):
        rc, _, err = dm(*cmd)
        check(rc == 2 and "nofile: cannot open" in err,
              "a missing file: exit 2 naming it (%s)" % cmd[0], rc, err)
    rc, _, err = dm("ingest", d, "--config", cfg)
    check(rc == 2 and err.count(d) == 1 and "is a directory" in err,
          "ingest DIR: exit 2, the name once", rc, err)
    for cmd, opt in ((["check"], "--window-days"), (["check"], "--as-of"),
                     (["ingest", "f"], "--format"), (["demo"], "--dir"),
                     (["compare"], "--baseline")):
        rc, _, err = dm(*(cmd + [opt]))
        check(rc == 2 and "option '%s' needs a value" % opt in err,
              "%s %s without a value" % (cmd[0], opt), rc, err)
    rc, _, err = dm("check", "--config", cfg, "--as-of",
                    "1970-01-01T00:00:00Z")
    check(rc == 2 and "is valid RFC 3339 but must be after" in err,
          "--as-of at the epoch: the true reason", rc, err)
    pg = write(os.path.join(d, "pg.yaml"), 'database:\n  backend: postgres\n'
               '  url: "postgresql://u@127.0.0.1:1/db"\n')
    rc, _, err = dm("migrate", "--config", pg)
    check(rc == 3 and "cannot connect" in err and "refused" in err and
          "connection lost" not in err, "a refused connection", rc, err)
    bad = os.path.join(d, "bad.txt")
    with open(bad, "wb") as f:
        f.write(b"fine\nbad \xff text\n")
    rc, out, err = dm("tokenize", "--model-path",
                      os.path.join(FIXTURES, "minilm-tiny"), bad)
    check(rc == 2 and "bad.txt:2: text is not valid UTF-8" in err,
          "tokenize refuses invalid UTF-8", rc, err)
    a = write(os.path.join(d, "a.jsonl"), '{"positive": true}\n' * 3)
    b = write(os.path.join(d, "b.jsonl"), '{"positive": true, '
              '"query": "q"}\n{"positiv": false}\n')
    rc, _, err = dm("compare", "--baseline", a, "--current", b)
    check(rc == 2 and "b.jsonl:2: unknown field 'positiv'" in err,
          "compare refuses an unknown field, as ingest does", rc, err)


def test_help_and_docs_agree_with_the_program():
    import re
    rc, top, _ = dm("--help")
    check(rc == 0, "--help exits 0", rc)
    for cmd in ("compare", "check-config", "tokenize", "embed", "ingest",
                "migrate", "check", "serve", "demo"):
        rc, own, err = dm(cmd, "--help")
        check(rc == 0, cmd + " --help exits 0", rc, err)
        usage = own.split("\n\n")[0]
        # the entry of cmd in the top-level --help, up to the next command
        m = re.search(r"driftmon %s (.*?)(?=\n  driftmon |\n\n)"
                      % re.escape(cmd), top, re.S)
        check(m is not None, cmd + " is in --help", top)
        for opt in sorted(set(re.findall(r"--[a-z][a-z-]+", usage))):
            if opt == "--help":
                continue
            check(opt in m.group(1), "--help lists %s %s" % (cmd, opt),
                  m.group(1), usage)
    alerts = open(os.path.join(os.environ.get("DM_SOURCE_ROOT", "."), "docs",
                               "alerts.md")).read()
    # the Slack table's rows as src/monitor/alert.c names them by default
    # (embeddings.test: mmd); the first version's names must be gone
    for row in ("semantic_effect ", "psi_excess ", "accuracy_drop ",
                "accuracy_floor "):
        check("\n" + row in alerts, "docs/alerts.md shows the row " + row)
    check("kl_divergence      0.2345" not in alerts and
          "\npsi                0.0500" not in alerts,
          "docs/alerts.md shows no first-version row")


if __name__ == "__main__":
    sys.exit(dmtest.run([
        ("ingest_long_line_skipped_and_read_on",
         test_ingest_long_line_skipped_and_read_on),
        ("ingest_long_line_rejects_the_file",
         test_ingest_long_line_rejects_the_file),
        ("relative_database_path", test_relative_database_path),
        ("serve_creates_the_store_beside_its_config",
         test_serve_creates_the_store_beside_its_config),
        ("check_without_config_creates_nothing",
         test_check_without_config_creates_nothing),
        ("check_config_url_and_dimension",
         test_check_config_url_and_dimension),
        ("dump_with_secrets_loads_back", test_dump_with_secrets_loads_back),
        ("demo_refuses_foreign_directory",
         test_demo_refuses_foreign_directory),
        ("uniform_messages", test_uniform_messages),
        ("help_and_docs_agree_with_the_program",
         test_help_and_docs_agree_with_the_program),
    ]))
