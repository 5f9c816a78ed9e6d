// A small line chart in inline SVG: actual values and the target trajectory (dashed).
import { axisNumber, number } from "./format.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * power;
}

/** The y axis: a flat or nearly flat series is not stretched over the panel (a flat 1.240
 * drawn on 1.238,8 → 1.241,2): counts and money start at zero, percentages get a window of
 * at least 10 points inside 0–100; the ends and ticks fall on round steps. */
export function yAxis(values, unit) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (unit === "percent") {
    const pad = Math.max((hi - lo) * 0.1, (10 - (hi - lo)) / 2, 0.5);
    lo = Math.max(0, lo - pad); hi = Math.min(100, hi + pad);
  } else {
    if (lo >= 0) lo = 0;
    hi = hi > lo ? hi + (hi - lo) * 0.05 : lo + 1;
  }
  const step = niceStep((hi - lo) / 4);
  lo = Math.floor(lo / step + 1e-9) * step;
  hi = Math.ceil(hi / step - 1e-9) * step;
  if (hi <= lo) hi = lo + step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(v);
  return { lo, hi, ticks, digits: step < 1 ? 1 : 0 };
}

export function drawChart(container, points, unit) {
  const W = 640, H = 260, L = 64, R = 12, T = 12, B = 34;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const values = points.flatMap((p) => [p.value, p.expected]).filter((v) => v !== null && v !== undefined);
  if (!values.length) values.push(0, 1);
  const { lo, hi, ticks, digits } = yAxis(values, unit);
  const x = (i) => L + (points.length > 1 ? (i * (W - L - R)) / (points.length - 1) : (W - L - R) / 2);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  svg.append(el("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  for (const v of ticks) {
    svg.append(el("line", { class: "axis", x1: L, y1: y(v), x2: W - R, y2: y(v), "stroke-opacity": 0.4 }));
    svg.append(el("text", { class: "y-tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, axisNumber(v, digits)));
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
