"""Debian's nginx running the committed ``deploy/nginx/predictql.conf`` in front of test processes.

The committed file is rendered with the test's addresses only: the ``server host:port ...;`` lines of
its upstream become one line per test process (their options kept), its ``listen`` lines one
``listen 127.0.0.1:PORT;``. Every other line is used as committed, so the test fails when the
deployment example stops working. nginx runs as a non-daemon child with its own prefix, pid file,
logs and temp directories; a small main configuration around the site adds what Debian's
``/etc/nginx/nginx.conf`` would (``events``, paths) and, for the test only, lets a request name the
client address nginx should see (``X-Test-Client-Address``, nginx's realip module), so the
``/metrics`` rules can be checked for a public client without any traffic leaving loopback.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from tests.e2e.conftest import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "predictql.conf"
CLIENT_ADDRESS_HEADER = "X-Test-Client-Address"
_UPSTREAM_SERVER = re.compile(r"^(\s*server\s+)(\S+:\d+)(.*;\s*)$")
_LISTEN = re.compile(r"^(\s*)listen\s+[^;]+;")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def render(site: str, upstreams: list[str], port: int) -> str:
    """``site`` with its upstream servers replaced by ``upstreams`` and its listen lines by ``port``."""
    out: list[str] = []
    in_upstream = servers = listens = False
    for line in site.splitlines():
        stripped = line.strip()
        if re.match(r"upstream\s+predictql\s*\{", stripped):
            in_upstream = True
        elif in_upstream and stripped == "}":
            in_upstream = False
        server = _UPSTREAM_SERVER.match(line) if in_upstream else None
        if server is not None:
            if not servers:  # the first server line is the template for all of them (its options kept)
                out.extend(f"{server.group(1)}{address}{server.group(3).rstrip()}" for address in upstreams)
                servers = True
            continue
        listen = _LISTEN.match(line)
        if listen is not None:
            if not listens:
                out.append(f"{listen.group(1)}listen 127.0.0.1:{port};")
                listens = True
            continue
        out.append(line)
    assert servers and listens, "deploy/nginx/predictql.conf lost its upstream servers or its listen lines"
    return "\n".join(out) + "\n"


def main_conf(prefix: Path, site: Path) -> str:
    user = ""
    if os.geteuid() == 0:  # workers would drop to nobody, who cannot enter pytest's 0700 directories
        user = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix / "access.log"};
{temp}
    # The test only: a request may name the client address nginx sees (the /metrics rules).
    set_real_ip_from 127.0.0.1;
    real_ip_header {CLIENT_ADDRESS_HEADER};
    include {site};
}}
"""


def start_nginx(upstreams: list[str], prefix: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nginx on a free loopback port in front of ``upstreams`` (``host:port``); returns it and its base URL."""
    binary = nginx_binary()
    assert binary is not None
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = prefix / "predictql.conf"
    site.write_text(render(SITE.read_text(), upstreams, port))
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, site))
    log_path = prefix / "nginx.out"
    test = subprocess.run(
        [binary, "-t", "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert test.returncode == 0, test.stderr
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, wait_healthy(process, f"http://127.0.0.1:{port}", log_path, timeout=30)


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # SIGTERM: nginx's fast shutdown
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
