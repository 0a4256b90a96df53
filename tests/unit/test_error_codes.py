"""Every code a GraphQL client can meet is in the schema's one ``ErrorCode`` enum.

The codes are read from the source: each ``DomainError`` kind's default, every literal ``code=``
given to any call (services pass it through helpers such as ``check_text``), the code argument of
every error constructed with a positional one, and the order-book engine's rejections. REST-only
modules are left out: GraphQL never answers with their codes.
"""

from __future__ import annotations

import ast
from pathlib import Path

from predictql import errors
from predictql.pricing.orderbook_types import FOK_NOT_FILLABLE, POST_ONLY_WOULD_CROSS
from predictql.schema.payloads import ErrorCode, error_code

SOURCE = Path(errors.__file__).parent
KINDS = {cls.__name__ for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.DomainError)}


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def raised_codes() -> set[str]:
    codes = {
        cls.default_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DomainError)
    }
    codes |= {"TOKEN_EXPIRED", FOK_NOT_FILLABLE, POST_ONLY_WOULD_CROSS}
    for path in SOURCE.rglob("*.py"):
        if "rest_compat" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "code" and (code := _literal(keyword.value)):
                    codes.add(code)
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in KINDS and name != "RateLimited" and len(node.args) >= 2 and (code := _literal(node.args[1])):
                codes.add(code)
            if name == "TokenError" and node.args and (code := _literal(node.args[0])):
                codes.add(code)
    return codes


def test_the_scan_finds_codes_of_every_kind() -> None:
    codes = raised_codes()
    # One of each way a code is given: a default, code=, positional, the token layer, the engine.
    assert {"NOT_FOUND", "MARKET_PAUSED", "INVALID_ID", "INVALID_TOKEN", "FOK_NOT_FILLABLE"} <= codes
    assert len(codes) > 40


def test_every_raised_code_is_in_the_enum() -> None:
    missing = sorted(code for code in raised_codes() if code.upper() not in ErrorCode.__members__)
    assert missing == [], f"add these to ErrorCode in schema/payloads.py: {missing}"


def test_enum_values_are_their_names_in_upper_snake_case() -> None:
    for name, member in ErrorCode.__members__.items():
        assert member.value == name == name.upper(), name


def test_a_code_maps_to_its_member_whatever_its_rest_case() -> None:
    assert error_code(errors.InvalidInput("x", code="invalid_id")) is ErrorCode.INVALID_ID
    assert error_code(errors.TokenExpired("x")) is ErrorCode.TOKEN_EXPIRED
    assert errors.TokenExpired("x").code == "UNAUTHORIZED"  # REST keeps its documented code
    assert error_code(errors.DomainError("x", code="NOT_A_CODE")) is ErrorCode.BAD_REQUEST
