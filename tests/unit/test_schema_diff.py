"""The breaking-change report CI prints (python -m predictql.graphql_server.schema_diff OLD NEW)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from graphql import build_schema

from predictql.graphql_server.schema_diff import main, report

OLD = """
"q" type Query { "a" a: Int "b" b(x: Int): String "k" kind: Kind }
"k" enum Kind { "x" X "y" Y }
"""
NEW = """
"q" type Query { "b" b(x: Int, y: Int!): String "k" kind: Kind "c" c: Int }
"k" enum Kind { "x" X "y" Y "z" Z }
"""


def test_report_lists_breaking_changes_first_then_dangerous_ones() -> None:
    lines = report(build_schema(OLD), build_schema(NEW))
    assert lines == [
        "BREAKING FIELD_REMOVED: Field Query.a was removed.",
        "BREAKING REQUIRED_ARG_ADDED: A required argument Query.b(y:) was added.",
        "DANGEROUS VALUE_ADDED_TO_ENUM: Enum value Kind.Z was added.",
    ]


def test_an_unchanged_schema_reports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.graphql"
    old.write_text(OLD)
    assert main([str(old), str(old)]) == 0
    assert capsys.readouterr().out == "no breaking or dangerous changes\n"


def test_the_command_prints_the_report_and_exits_0_even_when_it_breaks(tmp_path: Path) -> None:
    (tmp_path / "old.graphql").write_text(OLD)
    (tmp_path / "new.graphql").write_text(NEW)
    done = subprocess.run(
        [sys.executable, "-m", "predictql.graphql_server.schema_diff", "old.graphql", "new.graphql"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "BREAKING FIELD_REMOVED: Field Query.a was removed." in done.stdout


def test_bad_usage_or_sdl_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.graphql"
    broken.write_text("type Query {")
    assert main([str(broken)]) == 2
    assert main([str(broken), str(broken)]) == 2
    assert main([str(tmp_path / "absent.graphql"), str(broken)]) == 2
