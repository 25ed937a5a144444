#!/usr/bin/env python3
"""Validates the Docker deployment files as far as possible without Docker
(the daemon cannot run in CI): docker-compose.yaml parses (PyYAML when the
interpreter has it, else `driftmon` itself is not a YAML validator, so the
test then checks the structure by text), the services and the port are
the expected ones, the config the container runs passes `driftmon
check-config`, every build package of the Dockerfile is in
scripts/bootstrap, every runtime library the binary links is installed by
the runtime stage, and the env example names every variable compose
passes on.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmtest  # noqa: E402
from dmtest import check  # noqa: E402

ROOT = os.environ.get("DM_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))


def read(p):
    with open(os.path.join(ROOT, p)) as f:
        return f.read()


def t_compose():
    text = read("docker-compose.yaml")
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml:
        d = yaml.safe_load(text)
        svc = d["services"]
        check(sorted(svc) == ["drift-monitor", "learning-engine", "postgres"],
              "services", sorted(svc))
        dm = svc["drift-monitor"]
        check(dm["ports"] == ["8004:8004"], "port 8004", dm["ports"])
        check(dm["command"][-1] == "/etc/driftmon/docker.yaml", "config",
              dm["command"])
        env = dm["environment"]
        check("init.sql" in " ".join(svc["postgres"]["volumes"]),
              "postgres runs init.sql")
        print("     (parsed with PyYAML)")
    else:
        check("services:" in text and "\t" not in text, "YAML shape")
        env = dict(re.findall(r"^      ([A-Z_]+): ", text, re.M))
        print("     (PyYAML not available: structural checks only)")
    example = read(".env.drift.example")
    for var in env:
        if var not in ("POSTGRES_HOST", "POSTGRES_PORT"):
            check(re.search(r"^%s=" % var, example, re.M),
                  var + " in .env.drift.example")
    for var in ("SLACK_WEBHOOK_URL", "LEARNING_ENGINE_URL", "POSTGRES_HOST"):
        check(var in env, var + " passed to drift-monitor", sorted(env))


def t_config():
    env = dict(os.environ, POSTGRES_PASSWORD="x")
    p = subprocess.run([dmtest.BINARY, "check-config",
                        os.path.join(ROOT, "configs/docker.yaml")],
                       capture_output=True, text=True, env=env)
    check(p.returncode == 0, "configs/docker.yaml is valid", p.stderr)


def t_dockerfile():
    df = read("Dockerfile")
    boot = read("scripts/bootstrap")
    stages = re.split(r"^FROM ", df, flags=re.M)[1:]
    check(len(stages) == 2 and all(st.startswith("debian:12")
                                   for st in stages),
          "two Debian 12 stages", [st[:30] for st in stages])
    build_pkgs = re.findall(r"\b(lib[a-z0-9.+-]+-dev|meson|ninja-build|"
                            r"pkg-config|build-essential)\b", stages[0])
    for p in build_pkgs:
        check(re.search(r"\b%s\b" % re.escape(p), boot),
              p + " (Dockerfile) is in scripts/bootstrap")
    check("USER driftmon" in df and "HEALTHCHECK" in df and "/health" in df,
          "non-root user and healthcheck on /health")
    check("meson setup" in df and "ninja -C" in df, "meson + ninja build")
    readme = read("README.md")
    check("docker compose up -d --build" in readme, "README uses compose")
    # the runtime stage installs a package for every library the binary
    # links directly (ldd of the binary built here)
    out = subprocess.run(["ldd", dmtest.BINARY], capture_output=True,
                         text=True).stdout
    want = {"libmicrohttpd": "libmicrohttpd12", "libcurl": "libcurl4",
            "libyaml": "libyaml-0-2",
            "libjansson": "libjansson4", "libpq": "libpq5",
            "libsqlite3": "libsqlite3-0", "libopenblas": "libopenblas0",
            "libutf8proc": "libutf8proc2"}
    for lib, pkg in want.items():
        check(lib in out, lib + " linked")
        check(pkg in stages[1], pkg + " in the runtime stage")


def main():
    return dmtest.run([("compose", t_compose), ("config", t_config),
                       ("dockerfile", t_dockerfile)])


if __name__ == "__main__":
    sys.exit(main())
