"""/dashboard in a real browser (issue 15 point 6): headless Chromium (Debian's ``chromium``, driven by
Playwright without a browser download) against a real ``predictql serve``.

Over HTTP a trader trades; the board and the market page show the new price and the trade on the
tape within two seconds. Then the page's socket is dropped and kept down (the page's test hook),
two trades are made while it is down, the socket comes back and both trades appear: the page
resubscribed with ``fromSeq``. A screenshot of each page is saved (the path is printed). The
operator page shows the operator's figures.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictql.db import Database
from tests.api.test_users import fast_user
from tests.markets.factories import create_market_setup
from tests.support import gql

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
LIVE_MS = 2_000  # the issue: the price and the tape change on the page within two seconds

TRADE = """mutation($input: LmsrTradeInput!) { lmsrTrade(input: $input) {
  trade { id } market { yesPrice } userErrors { code } } }"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    async with playwright_api.async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


async def _trade(http: httpx.AsyncClient, token: str, market_id: str, amount: int = 2_000) -> tuple[str, int]:
    order = {"marketId": market_id, "side": "BUY_YES", "amountType": "SPEND", "amount": amount}
    body = await gql(http, TRADE, {"input": order}, token)
    payload = body["data"]["lmsrTrade"]
    assert payload["userErrors"] == [], payload
    return payload["trade"]["id"], payload["market"]["yesPrice"]


def _pct(bps: int) -> str:
    return f"{bps / 100:.2f}%"


async def test_dashboard_live_and_resumes_after_a_drop(server: str, db: Database, browser: Any, tmp_path: Path) -> None:
    _, _, (market,) = await create_market_setup(db, probabilities=(0.4,), names=("Rain in Moscow?",))
    market_id = f"mkt_{market.id}"
    _, trader = await fast_user(db, balance=100_000)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    async with httpx.AsyncClient(base_url=server) as http:
        # The board: every open market with its YES price and a sparkline; live.
        await page.goto(f"{server}/dashboard")
        row = page.locator(f'tr[data-market="{market_id}"]')
        await row.locator("svg.sparkline").wait_for()
        assert await row.locator(".price").text_content() == _pct(4000)
        await page.wait_for_function(
            "id => (window.__dashboard.streams()[`board:${id}`] || {}).received > 0", arg=market_id
        )  # the snapshot arrived: the stream is followed
        _, price = await _trade(http, trader, market_id)
        assert price > 4000
        await page.wait_for_function(
            "([id, text]) => document.querySelector(`tr[data-market='${id}'] .price`).textContent === text",
            arg=[market_id, _pct(price)],
            timeout=LIVE_MS,
        )
        board_shot = tmp_path / "dashboard-board.png"
        await page.screenshot(path=str(board_shot), full_page=True)

        # The market page: price, chart, tape and (for an LMSR market) no book.
        await page.goto(f"{server}/dashboard#/market/{market_id}")
        await page.wait_for_function("id => document.body.dataset.ready === `/market/${id}`", arg=market_id)
        await page.locator("#chart svg").wait_for()
        assert await page.locator("#price").text_content() == _pct(price)
        assert await page.locator("#tape tr[data-trade]").count() == 1  # the board's trade, from the query
        await page.wait_for_function(
            "id => (window.__dashboard.streams()[`market:${id}`] || {}).received > 0", arg=market_id
        )
        trade_id, price = await _trade(http, trader, market_id)
        await page.wait_for_function(
            "([id, text]) => document.querySelector(`#tape tr[data-trade='${id}']`) !== null"
            " && document.querySelector('#price').textContent === text",
            arg=[trade_id, _pct(price)],
            timeout=LIVE_MS,
        )
        assert await page.locator("#tape tr[data-trade]").first.get_attribute("data-trade") == trade_id

        # Drop the socket and keep it down; trade twice meanwhile.
        await page.evaluate("window.__dashboard.offline()")
        await page.wait_for_function("window.__dashboard.link() === 'down'")
        missed = [await _trade(http, trader, market_id, amount) for amount in (1_500, 2_500)]
        await page.wait_for_timeout(300)  # the page, not the server: nothing may arrive while down
        for missed_id, _ in missed:
            assert await page.locator(f'#tape tr[data-trade="{missed_id}"]').count() == 0
        # Back up: the page resubscribes with fromSeq and receives exactly what it missed.
        await page.evaluate("window.__dashboard.online()")
        await page.wait_for_function(
            "([ids, text]) => ids.every(id => document.querySelector(`#tape tr[data-trade='${id}']`))"
            " && document.querySelector('#price').textContent === text",
            arg=[[missed_id for missed_id, _ in missed], _pct(missed[-1][1])],
            timeout=10_000,
        )
        tape = [await r.get_attribute("data-trade") for r in await page.locator("#tape tr[data-trade]").all()]
        assert tape[:3] == [missed[1][0], missed[0][0], trade_id]  # newest first, none missed, none twice
        assert len(tape) == len(set(tape)) == 4
        assert await page.evaluate("window.__dashboard.link()") == "live"
        market_shot = tmp_path / "dashboard-market.png"
        await page.screenshot(path=str(market_shot), full_page=True)

        # The operator page: the figures of the process this page talks to.
        _, operator = await fast_user(db, is_operator=True)
        await page.evaluate("token => localStorage.setItem('predictql.dashboard.token', token)", operator)
        await page.goto(f"{server}/dashboard#/operator")
        await page.locator("#queues tr[data-queue='card_orders']").wait_for()
        assert int(await page.locator("#websockets").text_content() or "0") >= 1  # this page's socket
        operator_shot = tmp_path / "dashboard-operator.png"
        await page.screenshot(path=str(operator_shot), full_page=True)

    assert errors == []
    for shot in (board_shot, market_shot, operator_shot):
        assert shot.stat().st_size > 0
        print(f"screenshot: {shot}")


PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
  order { id status } userErrors { code } } }"""


async def test_depth_chart_follows_the_order_book(server: str, db: Database, browser: Any, tmp_path: Path) -> None:
    _, _, (book,) = await create_market_setup(db, probabilities=(0.5,), market_type="orderbook")
    market_id = f"mkt_{book.id}"
    _, maker = await fast_user(db, balance=100_000)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    async with httpx.AsyncClient(base_url=server) as http:
        bid = {"marketId": market_id, "side": "BUY", "tokenType": "YES", "amount": 1_000, "price": 4000}
        placed = (await gql(http, PLACE, {"input": bid}, maker))["data"]["placeOrder"]
        assert placed["userErrors"] == [] and placed["order"]["status"] == "PENDING"

        await page.goto(f"{server}/dashboard#/market/{market_id}")
        depth = page.locator("#depth svg.depth-chart")
        await depth.wait_for()  # from the Market.orderbook query: one bid level at 40%
        assert (await depth.get_attribute("data-bids") or "").startswith("4000:")
        assert await depth.get_attribute("data-asks") == ""
        await page.wait_for_function(
            "id => (window.__dashboard.streams()[`book:${id}`] || {}).received > 0", arg=market_id
        )
        # A NO bid at 55% rests as a YES ask at 45%: the live book stream draws it.
        ask = {"marketId": market_id, "side": "BUY", "tokenType": "NO", "amount": 1_000, "price": 5500}
        placed = (await gql(http, PLACE, {"input": ask}, maker))["data"]["placeOrder"]
        assert placed["userErrors"] == [] and placed["order"]["status"] == "PENDING"
        await page.wait_for_function(
            "() => (document.querySelector('#depth svg.depth-chart').dataset.asks || '').startsWith('4500:')",
            timeout=LIVE_MS,
        )
        assert (await depth.get_attribute("data-bids") or "").startswith("4000:")
        shot = tmp_path / "dashboard-depth.png"
        await page.screenshot(path=str(shot), full_page=True)
    assert errors == []
    print(f"screenshot: {shot}")


async def test_a_drop_before_the_first_trade_loses_nothing(server: str, db: Database, browser: Any) -> None:
    """The trades stream has no snapshot: before its first message the page has no seq to resume
    from, and reloads the market's data after the reconnect instead."""
    _, _, (market,) = await create_market_setup(db, probabilities=(0.5,))
    market_id = f"mkt_{market.id}"
    _, trader = await fast_user(db, balance=100_000)
    page = await browser.new_page()
    async with httpx.AsyncClient(base_url=server) as http:
        await page.goto(f"{server}/dashboard#/market/{market_id}")
        await page.wait_for_function(
            "id => (window.__dashboard.streams()[`market:${id}`] || {}).received > 0", arg=market_id
        )
        assert await page.locator("#tape tr[data-trade]").count() == 0
        await page.evaluate("window.__dashboard.offline()")
        await page.wait_for_function("window.__dashboard.link() === 'down'")
        trade_id, price = await _trade(http, trader, market_id)
        await page.evaluate("window.__dashboard.online()")
        await page.wait_for_function(
            "([id, text]) => document.querySelector(`#tape tr[data-trade='${id}']`) !== null"
            " && document.querySelector('#price').textContent === text",
            arg=[trade_id, _pct(price)],
            timeout=10_000,
        )
        # Live again after the reload (its streams are new: wait for the new snapshot).
        await page.wait_for_function(
            "id => (window.__dashboard.streams()[`market:${id}`] || {}).received > 0", arg=market_id
        )
        second, price = await _trade(http, trader, market_id)
        await page.wait_for_function(
            "([id, text]) => document.querySelector(`#tape tr[data-trade='${id}']`) !== null"
            " && document.querySelector('#price').textContent === text",
            arg=[second, _pct(price)],
            timeout=LIVE_MS,
        )
        assert await page.locator("#tape tr[data-trade]").count() == 2
