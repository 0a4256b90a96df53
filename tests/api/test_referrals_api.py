"""REST group ``referrals`` and the 3-level fee split (rule 7): 15 / 4 / 1 % of each fee, each rounded
down, the platform keeps the rest; what the referral pages report is read back from the ledger."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from predictql.db import Database
from predictql.models import LedgerAccount, LedgerEntry, LedgerTransaction
from predictql.services import ledger
from predictql.settings import Settings
from tests.api.test_lmsr_api import balances, entries_total, live_market, ok, trade, trader, trades_of
from tests.support import bearer

INFO = "/api/v1/users/me/referral/info"
CHILDREN = "/api/v1/users/me/referral/children"


async def chain(db: Database, settings: Settings) -> dict[str, tuple[int, str]]:
    """A <- B <- C <- D: D was referred by C, C by B, B by A."""
    people: dict[str, tuple[int, str]] = {}
    referrer = None
    for name in "ABCD":
        people[name] = await trader(db, settings, balance=100_000, referrer_id=referrer, nickname=f"user_{name}")
        referrer = people[name][0]
    return people


async def test_fee_is_split_down_the_chain_and_rounded_for_the_platform(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    people = await chain(db, settings)
    market = await live_market(db)
    d_id, d_token = people["D"]
    ok(await trade(client, d_token, market.id or 0, "buy_yes", 6000))
    (row,) = await trades_of(db, d_id)
    fee = row.fee
    shares = {"C": fee * 1500 // 10_000, "B": fee * 400 // 10_000, "A": fee * 100 // 10_000}
    assert fee * 0.15 != shares["C"] and fee * 0.04 != shares["B"]  # the amounts really are fractional
    for name, share in shares.items():
        assert (await balances(db, people[name][0])).cash == 100_000 + share, name
    assert await entries_total(db, ledger.REVENUE) == fee - sum(shares.values())
    assert await entries_total(db, ledger.FEES) == 0

    async with db.session() as session:
        kinds = dict(
            (
                await session.execute(
                    select(LedgerTransaction.kind, LedgerEntry.amount)
                    .join(LedgerEntry, col(LedgerEntry.transaction_id) == LedgerTransaction.id)
                    .join(LedgerAccount, col(LedgerAccount.id) == LedgerEntry.account_id)
                    .where(col(LedgerTransaction.reference_id) == row.id, col(LedgerAccount.kind) == "user_cash")
                    .where(col(LedgerTransaction.kind).like("referral_%"))
                )
            ).all()
        )
    assert kinds == {"referral_l1": shares["C"], "referral_l2": shares["B"], "referral_l3": shares["A"]}

    info = {name: ok(await client.get(INFO, headers=bearer(people[name][1]))) for name in "ABC"}
    for name, level, rate in (("C", 1, 0.15), ("B", 2, 0.04), ("A", 3, 0.01)):
        expected = {"count": 1, "total_volume": row.amount, "earnings": shares[name], "fee": rate}
        assert info[name]["stats"][f"level{level}"] == expected, name
    assert [info[name]["total_earnings"] for name in "ABC"] == [shares["A"], shares["B"], shares["C"]]
    assert info["A"]["total_referrals"] == 3 and info["B"]["total_referrals"] == 2 and info["C"]["total_referrals"] == 1


async def test_a_short_chain_leaves_the_unfilled_levels_to_the_platform(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    referrer, _ = await trader(db, settings)
    user, token = await trader(db, settings, balance=50_000, referrer_id=referrer)
    market = await live_market(db)
    ok(await trade(client, token, market.id or 0, "buy_no", 9000))
    (row,) = await trades_of(db, user)
    assert (await balances(db, referrer)).cash == row.fee * 1500 // 10_000
    assert await entries_total(db, ledger.REVENUE) == row.fee - row.fee * 1500 // 10_000


async def test_referral_info_reports_the_tree(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    people = await chain(db, settings)
    market = await live_market(db)
    for name, amount in (("B", 2000), ("C", 3000), ("D", 4000)):
        ok(await trade(client, people[name][1], market.id or 0, "buy_yes", amount))
    ok(await trade(client, people["D"][1], market.id or 0, "sell_yes", 500, "shares"))
    volume = {name: sum(t.amount for t in await trades_of(db, people[name][0])) for name in "BCD"}
    fees = {name: sum(t.fee for t in await trades_of(db, people[name][0])) for name in "BCD"}

    a = ok(await client.get(INFO, headers=bearer(people["A"][1])))
    assert a["referrer"] is None
    assert a["total_referrals"] == 3 and a["total_deposits"] == 3 * 100_000
    assert a["total_volume"] == volume["B"] + volume["C"] + volume["D"]
    assert [a["stats"][f"level{n}"]["count"] for n in (1, 2, 3)] == [1, 1, 1]
    assert [a["stats"][f"level{n}"]["total_volume"] for n in (1, 2, 3)] == [volume["B"], volume["C"], volume["D"]]
    # each trade's fee is split on its own: the sum of rounded-down shares, not a share of the sum
    a_earned = sum(t.fee * 1500 // 10_000 for t in await trades_of(db, people["B"][0]))
    assert a["stats"]["level1"]["earnings"] == a_earned and a_earned <= fees["B"] * 0.15

    d = ok(await client.get(INFO, headers=bearer(people["D"][1])))
    assert d["referrer"] == {"name": "user_C", "image_url": None}
    assert d["total_earnings"] == 0 and d["total_referrals"] == 0
    assert set(d) == {
        "referral_code",
        "referrer",
        "total_earnings",
        "total_referrals",
        "total_volume",
        "total_deposits",
        "stats",
    }

    children = ok(await client.get(CHILDREN, headers=bearer(people["A"][1])))
    assert [(c["username"], c["level"], c["total_bets"], c["total_volume"]) for c in children] == [
        ("user_B", 1, 1, volume["B"]),
        ("user_C", 2, 1, volume["C"]),
        ("user_D", 3, 1, volume["D"]),
    ]
    assert set(children[0]) == {"id", "username", "image", "level", "joined_date", "total_bets", "total_volume"}
    assert children[0]["id"] == people["B"][0] and children[0]["joined_date"].endswith("Z")
    assert ok(await client.get(CHILDREN, headers=bearer(people["D"][1]))) == []


async def test_referral_pages_need_a_session(client: httpx.AsyncClient) -> None:
    for path in (INFO, CHILDREN):
        response = await client.get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
