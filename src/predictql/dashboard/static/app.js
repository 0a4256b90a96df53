// predictql /dashboard: hand-written ES module, no build step. GraphQL queries for the initial data,
// subscriptions through the vendored graphql-ws client for what follows. Every stream keeps the last
// seq it saw and, after a network drop, resubscribes with fromSeq = that seq, so what was published
// while the socket was down is replayed (dashboard README section).
import { createClient } from "./vendor/graphql-ws/client.js";
import { depthChart, lineChart, sparkline } from "./charts.js";

const TOKEN_KEY = "predictql.dashboard.token";
const view = document.getElementById("view");
const link = document.getElementById("link");

// --- transport -------------------------------------------------------------------------------------

function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch("/graphql", {
    method: "POST", headers, credentials: "same-origin", body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const error = body.errors[0];
    throw new Error(`${(error.extensions && error.extensions.code) || "ERROR"}: ${error.message}`);
  }
  return body.data;
}

let socket = null;  // the current WebSocket (for the offline test hook)
let offline = false;  // set by the test hook: no reconnect until online()
let wakeUp = null;

function setLink(state) {
  link.dataset.state = state;
  link.textContent = state;
}

const client = createClient({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
  connectionParams: () => (token() ? { Authorization: `Bearer ${token()}` } : {}),
  lazy: false,  // one socket for the page's life: the link badge and the operator page's count mean it
  retryAttempts: Infinity,
  shouldRetry: () => true,
  retryWait: async (retries) => {
    await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** retries, 2000)));
    while (offline) await new Promise((resolve) => { wakeUp = resolve; });
  },
  on: {
    connecting: () => setLink("connecting"),
    connected: (ws, _payload, wasRetry) => {
      socket = ws;
      setLink("live");
      // A stream that has seen no seq yet (an event stream before its first message) cannot resume
      // with fromSeq: reload the view's data instead, which resubscribes from now on.
      if (wasRetry && [...streams.values()].some((s) => s.lastSeq === null)) route();
    },
    closed: () => { socket = null; setLink("down"); },
  },
});

const streams = new Map();  // name -> {lastSeq, received}: what the test hook reports

// Follow one stream: `field` is the subscription's root field. The payload's fromSeq is a getter, so
// each (re)subscription graphql-ws sends after a reconnect carries the last seq seen so far.
function follow(name, field, query, variables, onMessage) {
  const state = { lastSeq: null, received: 0 };
  streams.set(name, state);
  const payload = {
    query,
    variables: { ...variables, get fromSeq() { return state.lastSeq; } },
  };
  const dispose = client.subscribe(payload, {
    next: (result) => {
      if (result.errors) { console.error(name, result.errors); return; }
      const message = result.data[field];
      if (message.kind === "HEARTBEAT") {  // seq = the channel's latest: where a quiet stream resumes
        if (state.lastSeq === null) state.lastSeq = message.seq;
        return;
      }
      if (message.kind === "LIVE" && state.lastSeq !== null && message.seq <= state.lastSeq) return;  // replayed twice
      if (state.lastSeq === null || message.seq > state.lastSeq) state.lastSeq = message.seq;
      state.received += 1;
      onMessage(message);
    },
    error: (error) => console.error(name, error),
    complete: () => {},
  });
  return () => { streams.delete(name); dispose(); };
}

// Test hooks (tests/e2e/test_dashboard.py): drop the socket and keep it down, then let it come back.
window.__dashboard = {
  offline() {
    offline = true;
    if (socket) socket.close(3000, "offline (dashboard test hook)");
  },
  online() {
    offline = false;
    if (wakeUp) { wakeUp(); wakeUp = null; }
  },
  streams: () => Object.fromEntries([...streams].map(([name, s]) => [name, { ...s }])),
  link: () => link.dataset.state,
};

// --- formatting ------------------------------------------------------------------------------------

const pct = (bps) => `${(bps / 100).toFixed(2)}%`;
const rub = (kopecks) => `${(kopecks / 100).toFixed(2)} ₽`;
const time = (iso) => new Date(iso).toLocaleTimeString();
function esc(text) {
  const div = document.createElement("div");
  div.textContent = String(text);
  return div.innerHTML;
}

// --- the board -------------------------------------------------------------------------------------

const BOARD = `query Board { markets(filter: {resolved: false}, orderBy: NEWEST, first: 50) {
  nodes { id name yesPrice volume paused event { name } priceHistory(interval: ONE_MINUTE) { close } } } }`;
const MARKET_UPDATED = `subscription($marketId: ID!, $fromSeq: Long) {
  marketUpdated(marketId: $marketId, fromSeq: $fromSeq) { kind seq data { yesPrice volume paused resolved } } }`;

async function board(cleanups) {
  const { markets } = await gql(BOARD);
  view.innerHTML = `<h2>Open markets</h2><table id="board"><thead><tr><th>Event</th><th>Market</th>
    <th class="num">YES</th><th>Trend</th><th class="num">Volume</th></tr></thead><tbody></tbody></table>`;
  const body = view.querySelector("tbody");
  if (!markets.nodes.length) body.innerHTML = `<tr><td colspan="5">No open market.</td></tr>`;
  for (const market of markets.nodes) {
    const row = document.createElement("tr");
    row.dataset.market = market.id;
    row.innerHTML = `<td>${esc(market.event.name)}</td>
      <td><a href="#/market/${encodeURIComponent(market.id)}">${esc(market.name)}</a></td>
      <td class="num price">${pct(market.yesPrice)}</td><td class="spark"></td><td class="num volume">${rub(market.volume)}</td>`;
    body.append(row);
    const points = market.priceHistory.map((candle) => candle.close);
    points.push(market.yesPrice);
    const draw = () => { row.querySelector(".spark").innerHTML = sparkline(points); };
    draw();
    cleanups.push(follow(`board:${market.id}`, "marketUpdated", MARKET_UPDATED, { marketId: market.id }, (m) => {
      if (!m.data) return;
      row.querySelector(".price").textContent = pct(m.data.yesPrice);
      row.querySelector(".volume").textContent = rub(m.data.volume);
      if (points[points.length - 1] !== m.data.yesPrice) { points.push(m.data.yesPrice); draw(); }
    }));
  }
}

// --- one market ------------------------------------------------------------------------------------

const MARKET = `query Market($id: ID!) { market(id: $id) {
  id name yesName noName marketType yesPrice volume paused resolved event { name }
  priceHistory(interval: ONE_MINUTE) { start close }
  orderbook(depth: 50) { bids { price amount } asks { price amount } }
  trades(first: 50) { nodes { id side tokenType shares price amount createdAt } } } }`;
const TRADES = `subscription($marketId: ID!, $fromSeq: Long) { trades(marketId: $marketId, fromSeq: $fromSeq) {
  kind seq data { id side tokenType shares price amount createdAt } } }`;
const BOOK = `subscription($marketId: ID!, $fromSeq: Long) { orderbook(marketId: $marketId, depth: 50, fromSeq: $fromSeq) {
  kind seq data { full bids { price amount } asks { price amount } } } }`;

async function marketPage(id, cleanups) {
  const { market } = await gql(MARKET, { id });
  if (!market) { view.innerHTML = `<p class="error">No market ${esc(id)}.</p>`; return; }
  view.innerHTML = `<h2>${esc(market.event.name)} — ${esc(market.name)}</h2>
    <div class="grid">
      <div class="card"><h3>YES price</h3><div class="big" id="price">${pct(market.yesPrice)}</div>
        <div id="chart"></div></div>
      <div class="card"><h3>Trades</h3><div id="tape"><table><thead><tr><th>Time</th><th>Side</th>
        <th class="num">Shares</th><th class="num">Price</th></tr></thead><tbody></tbody></table></div></div>
      <div class="card"><h3>Order book depth</h3><div id="depth"></div></div>
      <div class="card"><h3>Volume</h3><div class="big" id="volume">${rub(market.volume)}</div></div>
    </div>`;
  const points = market.priceHistory.map((c) => ({ t: Date.parse(c.start), p: c.close }));
  points.push({ t: Date.now(), p: market.yesPrice });
  const drawChart = () => { view.querySelector("#chart").innerHTML = lineChart(points); };
  drawChart();

  const tape = view.querySelector("#tape tbody");
  const seen = new Set();
  const addTrade = (trade, live) => {
    if (seen.has(trade.id)) return;
    seen.add(trade.id);
    const row = document.createElement("tr");
    row.dataset.trade = trade.id;
    row.className = trade.side === "BUY" ? "buy" : "sell";
    row.innerHTML = `<td>${time(trade.createdAt)}</td><td>${trade.side} ${trade.tokenType}</td>
      <td class="num">${trade.shares}</td><td class="num">${pct(trade.price)}</td>`;
    if (live) tape.prepend(row); else tape.append(row);
  };
  market.trades.nodes.forEach((trade) => addTrade(trade, false));

  const book = { bids: new Map(), asks: new Map() };
  const setLevels = (side, levels, full) => {
    if (full) book[side].clear();
    for (const level of levels) {
      if (level.amount > 0) book[side].set(level.price, level.amount); else book[side].delete(level.price);
    }
  };
  const drawDepth = () => {
    view.querySelector("#depth").innerHTML = market.marketType === "ORDERBOOK"
      ? depthChart([...book.bids].map(([price, amount]) => ({ price, amount })),
        [...book.asks].map(([price, amount]) => ({ price, amount })))
      : `<p>An LMSR market: it trades against the market maker and has no order book.</p>`;
  };
  setLevels("bids", market.orderbook.bids, true);
  setLevels("asks", market.orderbook.asks, true);
  drawDepth();

  cleanups.push(follow(`trades:${id}`, "trades", TRADES, { marketId: id }, (m) => {
    if (m.kind === "GAP") { route(); return; }  // the log could not repair the gap: load afresh
    if (m.data) addTrade(m.data, true);
  }));
  cleanups.push(follow(`market:${id}`, "marketUpdated", MARKET_UPDATED, { marketId: id }, (m) => {
    if (!m.data) return;
    view.querySelector("#price").textContent = pct(m.data.yesPrice);
    view.querySelector("#volume").textContent = rub(m.data.volume);
    points.push({ t: Date.now(), p: m.data.yesPrice });
    drawChart();
  }));
  if (market.marketType === "ORDERBOOK") {
    cleanups.push(follow(`book:${id}`, "orderbook", BOOK, { marketId: id }, (m) => {
      if (!m.data) return;
      setLevels("bids", m.data.bids, m.data.full);
      setLevels("asks", m.data.asks, m.data.full);
      drawDepth();
    }));
  }
}

// --- the operator page -----------------------------------------------------------------------------

const OPERATOR = `query Operator { operatorDashboard { websockets busDeliveries busLagMeanSeconds
  subscriptions { stream count } backOfficeQueues { name open }
  lastLedgerCheck { ok violations checkedAt } } }`;

async function operatorPage(cleanups) {
  view.innerHTML = `<h2>Operator</h2>
    <p><label>API token (or sign in for the cookie): <input id="token" type="password" value="${esc(token())}"></label></p>
    <div id="figures"><p>Loading…</p></div>`;
  view.querySelector("#token").addEventListener("change", (e) => {
    localStorage.setItem(TOKEN_KEY, e.target.value.trim());
    refresh();
  });
  const figures = view.querySelector("#figures");
  const refresh = async () => {
    try {
      const { operatorDashboard: d } = await gql(OPERATOR);
      const check = d.lastLedgerCheck;
      figures.innerHTML = `<div class="grid">
        <div class="card"><h3>This process</h3><table>
          <tr><td>Open WebSockets</td><td class="num" id="websockets">${d.websockets}</td></tr>
          <tr><td>Bus deliveries</td><td class="num">${d.busDeliveries}</td></tr>
          <tr><td>Mean bus lag</td><td class="num" id="lag">${d.busLagMeanSeconds === null ? "—" : `${(d.busLagMeanSeconds * 1000).toFixed(1)} ms`}</td></tr>
          ${d.subscriptions.map((s) => `<tr><td>Subscriptions: ${esc(s.stream)}</td><td class="num">${s.count}</td></tr>`).join("")}
        </table></div>
        <div class="card"><h3>Back office</h3><table id="queues">
          ${d.backOfficeQueues.map((q) => `<tr data-queue="${esc(q.name)}"><td>${esc(q.name)}</td><td class="num">${q.open}</td></tr>`).join("")}
        </table><h3>Last ledger check</h3><p id="ledger">${check === null ? "never recorded"
          : `${check.ok ? "clean" : `${check.violations} violation(s)`} at ${esc(new Date(check.checkedAt).toLocaleString())}`}</p></div>
      </div>`;
    } catch (error) {
      figures.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  };
  await refresh();
  const timer = setInterval(refresh, 2000);
  cleanups.push(() => clearInterval(timer));
}

// --- routing ---------------------------------------------------------------------------------------

let cleanups = [];

async function route() {
  cleanups.forEach((cleanup) => cleanup());
  cleanups = [];
  const mine = cleanups;
  const hash = location.hash.replace(/^#/, "") || "/";
  try {
    if (hash.startsWith("/market/")) await marketPage(decodeURIComponent(hash.slice(8)), mine);
    else if (hash === "/operator") await operatorPage(mine);
    else await board(mine);
    document.body.dataset.ready = hash;
  } catch (error) {
    view.innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }
}

window.addEventListener("hashchange", route);
route();
