// A small line chart of percentages over time, as SVG. series: [{label, color, points: [0..100]}].

const NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

export function lineChart(svg, series, capacity) {
  // Drawn at the element's own size (no stretching of the labels).
  const w = Math.max(200, svg.clientWidth || 600), h = Math.max(80, svg.clientHeight || 140), pad = 24;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren();
  for (const pct of [0, 50, 100]) {
    const y = h - pad / 2 - ((h - pad) * pct) / 100;
    svg.append(svgEl("line", { x1: 30, x2: w, y1: y, y2: y, class: "grid" }));
    const t = svgEl("text", { x: 2, y: y + 3 });
    t.textContent = `${pct}%`;
    svg.append(t);
  }
  const step = (w - 30) / Math.max(1, capacity - 1);
  for (const s of series) {
    const pts = s.points.map((p, i) => {
      const x = 30 + (capacity - s.points.length + i) * step;
      const y = h - pad / 2 - ((h - pad) * Math.max(0, Math.min(100, p))) / 100;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    if (pts.length) {
      svg.append(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 2 }));
    }
  }
}
