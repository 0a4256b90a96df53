"""Shared set-up of the money-in/out tests: users with deposits, balances, the ledger check."""

from __future__ import annotations

from predictql.db import Database
from predictql.services import ledger, ledger_check

TRON = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # the USDT TRC-20 contract: a real, valid TRON address
EVM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own first example
CARD = "4111 1111 1111 1111"  # Luhn-valid test card


async def cash(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return (await ledger.balances(session, user_id)).cash


async def assert_ledger_clean(db: Database) -> None:
    async with db.session() as session:
        report = await ledger_check.check(session)
    assert report.ok, report.lines()
