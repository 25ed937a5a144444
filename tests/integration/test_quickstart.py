#!/usr/bin/env python3
"""Runs every command block of docs/quickstart.md, in order, in a fresh
directory, so that the quick start cannot drift from the program again.

A block is a Markdown code block indented by four spaces.  The blocks of
sections 2a (SQLite) and 1 (the webhook) run as written, one bash per
block, with the environment they export carried to the next, and must
exit 0 (the first `check` may exit 1: the demo data drifts, and the text
says "exit code 1 = drift").  Skipped, and counted as skipped, never as
passed:
  - section 0 (Build): bootstrap needs root and the network, and the
    build is the binary under test (`./build/driftmon` is a link to it);
  - section 2b (Docker): needs Docker and the network;
  - section 2c (PostgreSQL without Docker): needs a PostgreSQL server and
    createuser/createdb rights.
Substitutions, each made so the test needs no network and cannot collide
with other services on the machine: port 8004 becomes a free port;
SLACK_WEBHOOK_URL, after block 1 exports the doc's placeholder, points at
a local fake Slack that records what it is sent; `xdg-open URL` is a
function that fetches URL with curl.  Background jobs a block starts
(`serve &`) are stopped at the end.
"""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest  # noqa: E402
from dmtest import check  # noqa: E402

SRC = os.environ.get("DM_SOURCE_ROOT", ".")
DOC = os.path.join(SRC, "docs", "quickstart.md")
RUN = ("1.", "2a.")     # sections whose blocks run
SKIP = {"0.": "builds and installs packages (root, network)",
        "2b.": "needs Docker and the network",
        "2c.": "needs a PostgreSQL server"}


def blocks():
    """(section number, block text) for every indented code block: lines
    indented by four spaces after a blank line, up to the next line that
    is neither blank nor indented."""
    out, section, cur, prev_blank = [], None, None, True
    for line in open(DOC).read().splitlines() + ["end"]:
        m = re.match(r"^## (\S+)", line)
        if m:
            section = m.group(1)
        if cur is not None and (line.startswith("    ") or not line.strip()):
            cur.append(line[4:])
        elif cur is None and prev_blank and line.startswith("    "):
            cur = [line[4:]]
            cur_section = section
        elif cur is not None:
            out.append((cur_section, "\n".join(cur).strip("\n") + "\n"))
            cur = None
        prev_blank = not line.strip()
    return out


def check_heredocs(tmp, text):
    """In a skipped block, the config files it writes (cat > F.yaml <<EOF)
    need no server: each must pass check-config and name an embedder that
    needs no download (so the route's first check cannot fail for want of
    model files).  Returns how many were checked."""
    n = 0
    for name, body in re.findall(r"cat > (\S+\.yaml) <<'EOF'\n(.*?)\nEOF",
                                 text, re.S):
        path = os.path.join(tmp, "skipped-" + name)
        with open(path, "w") as f:
            f.write(body + "\n")
        p = subprocess.run([dmtest.BINARY, "check-config", path],
                           capture_output=True, timeout=60,
                           env=dict(os.environ, SLACK_WEBHOOK_URL=""))
        check(p.returncode == 0, name + " passes check-config", p.stderr)
        check('model: "hashing"' in body, name + " names the hashing "
              "embedder (no model files needed)", body)
        print("checked %s of a skipped block with check-config" % name)
        n += 1
    return n


def main():
    tmp = dmtest.tempdir("quickstart-")
    os.makedirs(os.path.join(tmp, "build"))
    os.symlink(os.path.abspath(dmtest.BINARY),
               os.path.join(tmp, "build", "driftmon"))
    slack = dmtest.FakeServer()
    port = dmtest.free_port()
    env_file = os.path.join(tmp, ".env.sh")
    pids_file = os.path.join(tmp, ".bg.pids")
    with open(env_file, "w") as f:
        f.write("xdg-open() { curl -sf \"$1\" > /dev/null; }\n")
    ran, skipped, failed, pids, heredoc_checked = 0, 0, [], [], 0
    all_blocks = blocks()
    check(len(all_blocks) >= 8, "quickstart.md has its blocks", all_blocks)
    try:
        for i, (section, text) in enumerate(all_blocks):
            if section in SKIP:
                print("skip block %d (section %s): %s" % (i, section,
                                                          SKIP[section]))
                skipped += 1
                heredoc_checked += check_heredocs(tmp, text)
                continue
            check(section in RUN, "every section is run or skipped", section)
            text = text.replace("8004", str(port))
            after = ""
            if "SLACK_WEBHOOK_URL=" in text:
                after = "export SLACK_WEBHOOK_URL=%s/hook\n" % slack.url
            # -e: any failing command fails the block; the trap keeps
            # what the block exported and the jobs it left running
            script = ("set -eo pipefail\n. %s\n"
                      "trap 'jobs -p >> %s; export -p > %s.new; "
                      "declare -f xdg-open >> %s.new; mv %s.new %s' EXIT\n"
                      "%s\n%s" % (env_file, pids_file, env_file, env_file,
                                  env_file, env_file, text, after))
            # files, not pipes: a job left running (serve &) keeps a
            # pipe open, and reading it to its end would never finish
            with open(os.path.join(tmp, ".out"), "w+b") as out, \
                    open(os.path.join(tmp, ".err"), "w+b") as err:
                rc = subprocess.run(["bash", "-c", script], cwd=tmp,
                                    stdout=out, stderr=err,
                                    timeout=120).returncode
                out.seek(0)
                err.seek(0)
                p = subprocess.CompletedProcess(script, rc, out.read(),
                                                err.read())
            ok_codes = (0, 1) if "driftmon check " in text else (0,)
            print("block %d (section %s): exit %d" % (i, section,
                                                      p.returncode))
            if p.returncode not in ok_codes:
                failed.append((i, text, p.returncode,
                               p.stdout.decode(errors="replace")[-2000:],
                               p.stderr.decode(errors="replace")[-2000:]))
            if "/health" in text and p.returncode == 0:
                check(b'"status"' in p.stdout, "GET /health answered",
                      p.stdout[-500:])
            ran += 1
    finally:
        if os.path.exists(pids_file):
            pids = [int(x) for x in open(pids_file).read().split()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        slack.stop()
    for f in failed:
        print("FAIL block %d, exit %d:\n%s\n--- stdout\n%s\n--- stderr\n%s"
              % (f[0], f[2], f[1], f[3], f[4]))
    print("%d blocks run, %d skipped, %d failed" % (ran, skipped, len(failed)))
    # the harness's closing line (scripts/test counts it); skipped blocks
    # are not counted as passed
    print("%d tests, %d failed" % (ran, len(failed)))
    check(ran >= 5, "the SQLite route's blocks ran", ran)
    check(heredoc_checked >= 1, "the PostgreSQL route's config was checked",
          heredoc_checked)
    check(len(slack.requests) >= 1, "the first check alerted the fake Slack",
          len(slack.requests))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except dmtest.Failure as e:
        print("FAIL", e)
        sys.exit(1)
