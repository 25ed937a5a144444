#!/usr/bin/env python3
"""The dashboard (GET /) in a real browser: Debian's chromium, headless.

Starts `driftmon serve` on a SQLite store, ingests drifting feedback, runs
a few checks, then has chromium load the page: the rendered DOM must hold
one SVG point per stored "ok" check in each of the three charts (KL, PSI,
accuracy), with the check ids of GET /drift/metrics, and a threshold line
in each; the browser must log no console message at all (no script
error, no CSP violation, no failed resource).  A control page with a
deliberate console error proves the console capture works.  A screenshot
is kept at <build>/tests-tmp/dashboard.png for a person to look at.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest  # noqa: E402
from dmtest import check  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TMP = dmtest.tempdir()
S = None


def chromium(url, *extra):
    """Runs headless chromium on url; returns (stdout, console lines)."""
    profile = os.path.join(TMP, "profile")
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions",
            "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
            "--window-size=1100,1700"] + list(extra) + [url]
    p = subprocess.run(args, capture_output=True, text=True, timeout=90)
    check(p.returncode == 0, "chromium exit 0", p.returncode, p.stderr[-2000:])
    console = [ln for ln in p.stderr.splitlines()
               if ":CONSOLE" in ln or "Uncaught" in ln or
               "Refused to" in ln or "Failed to load resource" in ln]
    return p.stdout, console


def t_console_capture_works():
    _, console = chromium('data:text/html,<p>x</p><script>'
                          'console.error("dm-control-marker")</script>',
                          "--dump-dom")
    check(any("dm-control-marker" in ln for ln in console),
          "a console error of a control page is seen", console)


def t_setup():
    global S
    S = dmtest.Service(TMP)
    S.wait_up()
    r = S.request("POST", "/feedback", body=dmtest.feedback_rows(), auth=True)
    check(r.status == 200, "feedback stored", r.status, r.body)
    # three live checks, then an ad hoc one (another window): listed in
    # the table, not plotted on the trends
    for body in ({}, {}, {}, {"window_days": 4}):
        r = S.request("POST", "/drift/check", body=body, auth=True)
        check(r.status == 200, "check %s" % body, r.status, r.body)


def t_dom_points():
    checks = S.request("GET", "/drift/metrics?days=90").json()["checks"]
    ok = sorted(str(c["id"]) for c in checks
                if c["status"] == "ok" and c["kind"] == "live")
    adhoc = [str(c["id"]) for c in checks if c["kind"] == "adhoc"]
    check(len(ok) >= 3, "at least three live ok checks stored", checks)
    check(len(adhoc) == 1, "one ad hoc check stored", checks)
    dom, console = chromium("http://127.0.0.1:%d/" % S.port, "--dump-dom")
    check(not console, "no console messages", console)
    check("<h1>driftmon</h1>" in dom, "page rendered", dom[:300])
    for chart in ("chart-semantic", "chart-psi", "chart-accuracy"):
        m = re.search(r'<svg id="%s"(.*?)</svg>' % chart, dom, re.S)
        check(m, "chart " + chart + " in the DOM")
        svg = m.group(1)
        ids = sorted(re.findall(r'<circle class="pt [^"]*"[^>]*'
                                r'data-check="(\d+)"', svg))
        check(ids == ok, chart + ": one point per live ok check", ids, ok)
        check('class="thr"' in svg, chart + ": threshold line drawn")
    check(re.search(r'<table id="checks">.*?<td><a href="/checks/%s">%s</a>'
                    r'</td>' % (ok[-1], ok[-1]), dom, re.S),
          "latest live check in the table, linked to its page")
    check(re.search(r'<table id="checks">.*?<td><a href="/checks/%s">%s</a>'
                    r'</td><td>[^<]*</td><td>[a-z_]+ <small>\(adhoc\)'
                    r'</small>' % (adhoc[0], adhoc[0]), dom, re.S),
          "the ad hoc check in the table, marked", adhoc)
    check('id="next-check"' in dom, "next check shown")


def t_check_page():
    """Issue 12: /checks/{id}, what changed in one check: topic and intent
    share bars, the topics' terms, accuracy and examples, the novel
    queries; it holds user text, so it takes the token when one is set."""
    checks = S.request("GET", "/drift/metrics?days=90").json()["checks"]
    cid = max(c["id"] for c in checks if c["status"] == "ok")
    r = S.request("GET", "/checks/%d" % cid)
    check(r.status == 401, "the page takes the token when one is set",
          r.status)
    r = S.request("GET", "/checks/%d" % cid, auth=True)
    check(r.status == 200, "page 200 with the token", r.status)
    check(r.header("Content-Type").startswith("text/html"), "HTML")
    j = S.request("GET", "/drift/checks/%d" % cid, auth=True).json()
    ex = j["details"]["explanation"]
    check(ex and ex["topics"], "the check has an explanation", j)
    page = r.body.decode()
    for t in ex["topics"]:
        check(t["terms"][0] in page, "topic term shown", t["terms"][0])
    check(S.request("GET", "/checks/999999", auth=True).status == 404,
          "unknown check 404")
    check(S.request("GET", "/checks/x1", auth=True).status == 404,
          "bad id 404")
    # in the browser, from a service without a token on the same store
    T = dmtest.Service(TMP, token="", args=["--no-monitor"])
    try:
        T.wait_up()
        url = "http://127.0.0.1:%d/checks/%d" % (T.port, cid)
        dom, console = chromium(url, "--dump-dom")
        check(not console, "no console messages", console)
        m = re.search(r'<svg id="topic-bars"(.*?)</svg>', dom, re.S)
        check(m, "topic bars drawn")
        check(len(re.findall(r"<g data-baseline=", m.group(1))) ==
              len(ex["topics"]), "one bar pair per topic")
        check(re.search(r'<svg id="intent-bars"', dom), "intent bars drawn")
        check(re.search(r'<table id="novel">', dom) and
              ex["novel"][0]["query"].split()[0] in dom,
              "novel queries listed")
        # the main page links to it
        dom, _ = chromium("http://127.0.0.1:%d/" % T.port, "--dump-dom")
        check('href="/checks/%d"' % cid in dom, "linked from the list")
        shot = os.path.join(os.environ.get("DM_BUILD_ROOT", TMP),
                            "tests-tmp", "check-page.png")
        os.makedirs(os.path.dirname(shot), exist_ok=True)
        if os.path.exists(shot):
            os.remove(shot)
        _, console = chromium(url, "--screenshot=" + shot, "--hide-scrollbars")
        check(not console, "no console messages", console)
        check(os.path.getsize(shot) > 10000, "screenshot written", shot)
        print("     screenshot: " + shot)
    finally:
        T.stop()


def t_screenshot():
    shot = os.path.join(os.environ.get("DM_BUILD_ROOT", TMP), "tests-tmp",
                        "dashboard.png")
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    if os.path.exists(shot):
        os.remove(shot)
    _, console = chromium("http://127.0.0.1:%d/" % S.port,
                          "--screenshot=" + shot, "--hide-scrollbars")
    check(not console, "no console messages", console)
    check(os.path.getsize(shot) > 10000, "screenshot written", shot)
    with open(shot, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "screenshot is a PNG")
    print("     screenshot: " + shot)


def main():
    if CHROMIUM is None:
        print("chromium not found (scripts/bootstrap installs it)")
        # the whole test needs it: a skip, or a failure in CI
        return 1 if dmtest.REQUIRE_ALL else dmtest.EXIT_SKIP
    tests = [("console_capture_works", t_console_capture_works),
             ("setup", t_setup), ("dom_points", t_dom_points),
             ("check_page", t_check_page), ("screenshot", t_screenshot)]
    try:
        rc = dmtest.run(tests)
    finally:
        if S is not None:
            code, _ = S.stop()
            if code != 0:
                print("service exit code %r" % code)
                rc = 1
    if rc and S is not None:
        print(S.logtext()[-4000:])
    elif not rc:
        shutil.rmtree(TMP, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
