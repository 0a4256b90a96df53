// Small SVG charts for /dashboard, drawn by hand (no chart library). Prices are basis points (0-10000).

const NS = 'xmlns="http://www.w3.org/2000/svg"';

function scale(values, pad) {
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (high - low < pad) { low -= pad / 2; high += pad / 2; }
  return [low, high];
}

// A sparkline of YES prices, oldest first.
export function sparkline(values, width = 120, height = 28) {
  if (values.length < 2) values = [values[0] ?? 5000, values[0] ?? 5000];
  const [low, high] = scale(values, 200);
  const step = width / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - ((v - low) / (high - low)) * height).toFixed(1)}`);
  const rising = values[values.length - 1] >= values[0];
  return `<svg ${NS} class="sparkline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
    <polyline fill="none" stroke="${rising ? "#4cc38a" : "#f06a6a"}" stroke-width="1.5" points="${points.join(" ")}"/></svg>`;
}

// A price chart: points {t (ms), p (bps)}, on a 0-100% axis.
export function lineChart(points, width = 560, height = 200) {
  const pts = points.length === 1 ? [points[0], { t: points[0].t + 1, p: points[0].p }] : points;
  const t0 = pts[0].t;
  const t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  const x = (t) => ((t - t0) / (t1 - t0)) * (width - 40) + 35;
  const y = (p) => height - 15 - (p / 10000) * (height - 25);
  const grid = [0, 2500, 5000, 7500, 10000].map((p) =>
    `<line x1="35" x2="${width}" y1="${y(p)}" y2="${y(p)}" stroke="#263039"/>
     <text x="0" y="${y(p) + 4}" fill="#6b7785" font-size="10">${p / 100}%</text>`).join("");
  const line = pts.map((pt) => `${x(pt.t).toFixed(1)},${y(pt.p).toFixed(1)}`).join(" ");
  return `<svg ${NS} class="price-chart" width="100%" viewBox="0 0 ${width} ${height}">${grid}
    <polyline fill="none" stroke="#8ab4f8" stroke-width="2" points="${line}"/></svg>`;
}

// A depth chart: cumulative size of bids (best = highest first) and asks (best = lowest first).
export function depthChart(bids, asks, width = 560, height = 200) {
  if (!bids.length && !asks.length) return "<p>The book is empty.</p>";
  bids = [...bids].sort((a, b) => b.price - a.price);
  asks = [...asks].sort((a, b) => a.price - b.price);
  const cumulate = (levels) => { let sum = 0; return levels.map((l) => ({ price: l.price, total: (sum += l.amount) })); };
  const cb = cumulate(bids);
  const ca = cumulate(asks);
  const prices = [...cb, ...ca].map((l) => l.price);
  let [low, high] = scale(prices, 400);
  const margin = (high - low) * 0.2;  // room for the outermost steps
  low = Math.max(0, low - margin);
  high = Math.min(10000, high + margin);
  const top = Math.max(1, ...cb.map((l) => l.total), ...ca.map((l) => l.total));
  const x = (p) => ((p - low) / (high - low)) * (width - 10) + 5;
  const y = (v) => height - 15 - (v / top) * (height - 25);
  // Steps from the best price outwards, extended to the chart's edge (bids left, asks right).
  const area = (levels, color, edge) => {
    if (!levels.length) return "";
    let path = `M${x(levels[0].price)},${y(0)}`;
    let previous = 0;
    for (const l of levels) path += ` L${x(l.price)},${y(previous)} L${x(l.price)},${y(l.total)}`, previous = l.total;
    path += ` L${x(edge)},${y(previous)} L${x(edge)},${y(0)} Z`;
    return `<path d="${path}" fill="${color}" fill-opacity="0.35" stroke="${color}"/>`;
  };
  return `<svg ${NS} class="depth-chart" data-bids="${bids.map((l) => `${l.price}:${l.amount}`).join(" ")}"
    data-asks="${asks.map((l) => `${l.price}:${l.amount}`).join(" ")}" width="100%" viewBox="0 0 ${width} ${height}">
    ${area(cb, "#4cc38a", low)}${area(ca, "#f06a6a", high)}
    <text x="5" y="${height - 2}" fill="#6b7785" font-size="10">${(low / 100).toFixed(1)}%</text>
    <text x="${width - 40}" y="${height - 2}" fill="#6b7785" font-size="10">${(high / 100).toFixed(1)}%</text></svg>`;
}
