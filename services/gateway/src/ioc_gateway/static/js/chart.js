// A small line chart in inline SVG: actual values and the target trajectory (dashed).
import { number } from "./format.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function drawChart(container, points) {
  const W = 640, H = 260, L = 56, R = 12, T = 12, B = 34;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const values = points.flatMap((p) => [p.value, p.expected]).filter((v) => v !== null && v !== undefined);
  if (!values.length) values.push(0, 1);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.1; lo = Math.max(0, lo - pad); hi += pad;
  const x = (i) => L + (points.length > 1 ? (i * (W - L - R)) / (points.length - 1) : (W - L - R) / 2);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  svg.append(el("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    svg.append(el("line", { class: "axis", x1: L, y1: y(v), x2: W - R, y2: y(v), "stroke-opacity": 0.4 }));
    svg.append(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, number(v, 1)));
  }
  const step = Math.max(1, Math.ceil(points.length / 6));
  const last = points.length - 1;
  points.forEach((p, i) => {
    // Every step-th period and the last one, never two labels on top of each other; the last
    // ends at the right edge so it is not cut off.
    const shown = i === last || (i % step === 0 && last - i >= step);
    if (shown) {
      const anchor = i === last && last > 0 ? "end" : "middle";
      svg.append(el("text", { x: x(i), y: H - 12, "text-anchor": anchor }, p.period));
    }
  });
  const path = (key, cls) => {
    let d = "";
    points.forEach((p, i) => {
      const v = p[key];
      if (v === null || v === undefined) return;
      d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (d) svg.append(el("path", { d, class: cls }));
  };
  path("expected", "expected");
  path("value", "line");
  points.forEach((p, i) => {
    if (p.value !== null && p.value !== undefined) {
      const dot = el("circle", { cx: x(i), cy: y(p.value), r: 3.5 });
      dot.append(el("title", {}, `${p.period}: ${number(p.value)}`));
      svg.append(dot);
    }
  });
  container.replaceChildren(svg);
}
