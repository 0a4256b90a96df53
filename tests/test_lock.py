"""requirements/lock.txt: every runtime and test dependency pinned, with hashes (issue 15 point 4)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, list[str]]:
    """name -> the lines of its entry (a name can appear twice, under two markers)."""
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    for line in LOCK.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            current = [line]
            entries.setdefault(_normalize(line.split("==")[0].split("[")[0]), []).extend(current)
        elif line.strip().startswith("--hash=") and current:
            entries[_normalize(current[0].split("==")[0].split("[")[0])].append(line)
    return entries


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = _pins()
    missing = [spec for spec in declared if _normalize(Requirement(spec).name) not in pins]
    assert not missing, f"not in requirements/lock.txt (run requirements/refresh-lock): {missing}"


def test_every_pin_is_exact_and_hashed() -> None:
    pins = _pins()
    assert len(pins) > 50
    for name, lines in pins.items():
        assert "==" in lines[0], f"{name} is not pinned exactly"
        assert any(line.strip().startswith("--hash=sha256:") for line in lines[1:]), f"{name} has no hash"


def test_check_installed_finds_a_drift(tmp_path: Path) -> None:
    script = ROOT / "requirements" / "check-installed"
    wrong = tmp_path / "lock.txt"
    wrong.write_text("pytest==0.0.1 \\\n    --hash=sha256:00\nnothing-like-this==1.0 ; python_version < '3'\n")
    copy = tmp_path / "check-installed"
    copy.write_text(script.read_text())
    result = subprocess.run([sys.executable, str(copy)], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 1
    assert "pytest: locked 0.0.1" in result.stderr
    assert "nothing-like-this" not in result.stderr  # its marker does not hold here


def test_ci_installs_from_the_lock_and_the_readme_says_how_to_refresh_it() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "--require-hashes --no-deps -r requirements/lock.txt" in ci
    assert "requirements/check-installed" in ci
    readme = (ROOT / "README.md").read_text()
    assert "requirements/refresh-lock" in readme
    assert os.access(ROOT / "requirements" / "refresh-lock", os.X_OK)
