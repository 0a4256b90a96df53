"""deploy/ stays in step with the code: the nginx timeouts above the WebSocket ping interval, /metrics
private, the systemd unit's stop timeout above the drain, the environment example naming only real
settings. (tests/e2e/test_scale_out.py runs the nginx configuration itself.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from predictql.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = (DEPLOY / "nginx" / "predictql.conf").read_text()
UNIT = (DEPLOY / "systemd" / "predictql@.service").read_text()
ENV_EXAMPLE = (DEPLOY / "predictql.env.example").read_text()


def location(path: str) -> str:
    """The body of nginx's ``location <path> { ... }`` (no nested blocks in ours)."""
    found = re.search(r"location\s+" + re.escape(path) + r"\s*\{(.*?)\n    \}", NGINX, re.S)
    assert found is not None, f"no location {path}"
    return found.group(1)


def seconds(body: str, directive: str) -> float:
    found = re.search(rf"^\s*{directive}\s+(\d+)s;", body, re.M)
    assert found is not None, f"{directive} not set"
    return float(found.group(1))


def example_values() -> dict[str, str]:
    """Every ``NAME=value`` of the example, commented-out ones included."""
    return dict(re.findall(r"^#?([A-Z_]+)=(.*)$", ENV_EXAMPLE, re.M))


@pytest.mark.parametrize("path", ["= /graphql", "/api/v1/ws/"])
def test_websocket_locations_upgrade_and_outlast_the_ping_interval(path: str) -> None:
    body = location(path)
    assert "proxy_set_header Upgrade $http_upgrade;" in body
    assert "proxy_set_header Connection $predictql_connection;" in body
    assert "proxy_http_version 1.1;" in body
    ping = max(
        Settings.model_fields["ws_ping_interval_seconds"].default,
        float(example_values()["PREDICTQL_WS_PING_INTERVAL_SECONDS"]),
    )
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        assert seconds(body, directive) > ping


def test_every_location_forwards_the_client_address_and_scheme() -> None:
    for path in ("= /metrics", "= /graphql", "/api/v1/ws/", "/"):
        body = location(path)
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in body, path
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in body, path
        assert "proxy_pass http://predictql;" in body, path


def test_metrics_are_refused_but_to_this_host_and_private_networks() -> None:
    rules = re.findall(r"^\s*(allow|deny)\s+([^;]+);", location("= /metrics"), re.M)
    assert rules[-1] == ("deny", "all")
    allowed = {network for verb, network in rules if verb == "allow"}
    assert allowed == {"127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}


def test_the_env_example_names_real_settings_and_trusts_the_local_nginx() -> None:
    values = example_values()
    fields = {f"PREDICTQL_{name.upper()}" for name in Settings.model_fields}
    unknown = [name for name in values if name.startswith("PREDICTQL_") and name not in fields]
    assert not unknown, unknown
    assert values["PREDICTQL_ENVIRONMENT"] == "production"
    assert set(values["PREDICTQL_TRUSTED_PROXIES"].split(",")) == {"127.0.0.1", "::1"}
    assert "--host 127.0.0.1" in UNIT  # the processes are reachable through nginx only


def test_the_unit_waits_for_the_drain_and_serves_its_instance_port() -> None:
    assert re.search(r"^ExecStart=\S+/predictql serve --host \S+ --port %i$", UNIT, re.M)
    assert "EnvironmentFile=/etc/predictql/predictql.env" in UNIT
    assert "WantedBy=predictql.target" in UNIT and "PartOf=predictql.target" in UNIT
    stop = float(re.search(r"^TimeoutStopSec=(\d+)$", UNIT, re.M).group(1))  # type: ignore[union-attr]
    fields = Settings.model_fields
    drain = fields["drain_sockets_seconds"].default + fields["database_statement_timeout_seconds"].default
    assert stop > drain


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    predictql = Path(sys.executable).with_name("predictql")  # the one path that differs on this machine
    (tmp_path / "predictql@8001.service").write_text(UNIT.replace("/opt/predictql/.venv/bin/predictql", str(predictql)))
    shutil.copy(DEPLOY / "systemd" / "predictql.target", tmp_path / "predictql.target")
    result = subprocess.run(
        ["systemd-analyze", "verify", "predictql@8001.service", "predictql.target"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
