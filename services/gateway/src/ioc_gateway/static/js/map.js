// The map panel: the districts in scope coloured by the selected indicator's status, drawn as
// inline SVG from GET /v1/geo (no map library, no tiles from the internet). Without imported
// boundaries it draws a schematic tile map of the same units, so a wall is never blank.
// The status of each unit is the district table's (GET /v1/districts, sent by app.js as the
// "ioc:districts" event): the map never judges a value itself. A click on a unit sends
// "ioc:open-unit", which opens it the way a click on its table row does.
import { pick, t } from "./i18n.js";
import { valueWithUnit } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const STATUSES = ["on_track", "warning", "critical", "no_target", "no_data"];
const W = 1000; // the SVG's width in its own units; its height follows the province's shape
const map = { geo: null, key: null, data: null, selected: null };

const $ = (sel) => document.querySelector(sel);

function svg(name, attrs = {}) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

async function loadGeo(key) {
  if (map.geo && map.key === key) return map.geo;
  const response = await fetch("/v1/geo?level=district", {
    credentials: "same-origin", headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`geo ${response.status}`);
  map.geo = await response.json();
  map.key = key;
  return map.geo;
}

function polygonsOf(geometry) {
  return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
}

/** Longitude/latitude to the SVG's plane: equirectangular, x shrunk by cos(mid-latitude) so a
 *  province keeps its shape (enough for a few hundred kilometres), north up. */
function projection(features) {
  let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity;
  for (const f of features) {
    for (const polygon of polygonsOf(f.geometry)) {
      for (const [lon, lat] of polygon[0]) {
        minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
        minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
      }
    }
  }
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const spanX = Math.max((maxLon - minLon) * k, 1e-9), spanY = Math.max(maxLat - minLat, 1e-9);
  const pad = 10, scale = (W - 2 * pad) / spanX;
  const H = Math.round(spanY * scale + 2 * pad);
  const project = ([lon, lat]) => [pad + (lon - minLon) * k * scale, pad + (maxLat - lat) * scale];
  return { project, H };
}

/** Area and centroid of a projected ring (the shoelace formula). */
function ringCentroid(points) {
  let a = 0, cx = 0, cy = 0;
  for (let i = 0; i < points.length - 1; i++) {
    const [x0, y0] = points[i], [x1, y1] = points[i + 1];
    const cross = x0 * y1 - x1 * y0;
    a += cross; cx += (x0 + x1) * cross; cy += (y0 + y1) * cross;
  }
  if (Math.abs(a) < 1e-9) return { area: 0, x: points[0][0], y: points[0][1] };
  return { area: Math.abs(a / 2), x: cx / (3 * a), y: cy / (3 * a) };
}

function shortName(name) {
  // "Huyện Lâm Bình" → "Lâm Bình": the level is the same for every unit on the map.
  return name.replace(/^(Thành phố|Thị xã|Huyện|Quận|Phường|Xã|Thị trấn|Đặc khu)\s+/u, "");
}

function statusOf(code) {
  const row = map.data?.items.find((r) => r.unit_code === code);
  return { status: row?.status ?? "no_data", value: row?.value ?? null };
}

function tooltip(name, code, info) {
  return `${name} (${code}) · ${valueWithUnit(info.value, map.data?.unit)} · ${t(info.status)}`;
}

function open(code, name) {
  map.selected = code;
  for (const el of document.querySelectorAll("#map [data-unit]")) {
    el.classList.toggle("selected", el.dataset.unit === code);
  }
  document.dispatchEvent(new CustomEvent("ioc:open-unit", { detail: { unit: code, name } }));
}

function clickable(el, code, name) {
  el.dataset.unit = code;
  el.setAttribute("tabindex", "0");
  el.setAttribute("role", "button");
  el.addEventListener("click", () => open(code, name));
  el.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(code, name); } });
}

function drawMap(root, features) {
  const { project, H } = projection(features);
  const root_svg = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "map-svg", preserveAspectRatio: "xMidYMid meet" });
  const labels = [];
  for (const f of features) {
    const code = f.properties.code, name = f.properties.name;
    const info = statusOf(code);
    let d = "", best = { area: -1 };
    for (const polygon of polygonsOf(f.geometry)) {
      polygon.forEach((ring, i) => {
        const pts = ring.map(project);
        d += pts.map(([x, y], j) => `${j ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("") + "Z";
        if (i === 0) { const c = ringCentroid(pts); if (c.area > best.area) best = c; }
      });
    }
    const path = svg("path", { d, class: "map-unit", "fill-rule": "evenodd" });
    path.dataset.status = info.status;
    if (code === map.selected) path.classList.add("selected");
    clickable(path, code, name);
    const title = svg("title"); title.textContent = tooltip(name, code, info);
    path.append(title);
    root_svg.append(path);
    const label = svg("text", { x: best.x.toFixed(1), y: best.y.toFixed(1), class: "map-label", "text-anchor": "middle" });
    label.textContent = shortName(name);
    labels.push(label);
  }
  root_svg.append(...labels); // above every shape
  root.replaceChildren(root_svg);
}

function drawTiles(root, units) {
  // One tile per unit in code order: no geography, but every unit's status at a glance.
  const grid = document.createElement("div");
  grid.className = "tilemap";
  grid.style.setProperty("--cols", String(Math.max(1, Math.ceil(Math.sqrt(units.length * 1.6)))));
  for (const u of units) {
    const info = statusOf(u.code);
    const tile = document.createElement("div");
    tile.className = "map-unit map-tile";
    tile.dataset.status = info.status;
    if (u.code === map.selected) tile.classList.add("selected");
    tile.title = tooltip(u.name, u.code, info);
    const name = document.createElement("span"); name.className = "map-tile-name"; name.textContent = shortName(u.name);
    const value = document.createElement("span"); value.className = "map-tile-value";
    value.textContent = valueWithUnit(info.value, map.data?.unit);
    tile.append(name, value);
    clickable(tile, u.code, u.name);
    grid.append(tile);
  }
  root.replaceChildren(grid);
}

function drawLegend() {
  const legend = $("#map-legend");
  legend.replaceChildren();
  for (const status of STATUSES) {
    const item = document.createElement("span");
    item.className = "map-legend-item";
    item.dataset.status = status;
    item.textContent = t(status);
    legend.append(item);
  }
}

async function render() {
  const root = $("#map");
  if (!root || !map.data) return;
  const key = `${map.data.province}:${map.data.items.map((r) => r.unit_code).join(",")}`;
  let geo;
  try {
    geo = await loadGeo(key);
  } catch {
    return; // the table still shows the statuses; the next refresh tries again
  }
  const panel = root.closest(".panel-map");
  const schematic = geo.features.length === 0;
  panel.dataset.mode = schematic ? "schematic" : "geo";
  if (schematic) drawTiles(root, geo.units);
  else drawMap(root, geo.features);
  const notes = [`${pick(map.data, "name")} · ${t("period")} ${map.data.period}`];
  if (schematic) notes.push(t("map_schematic"));
  else if (geo.missing.length) notes.push(`${geo.missing.length} ${t("map_missing")}`);
  $("#map-caption").textContent = notes.join(" · ");
  drawLegend();
  document.dispatchEvent(new CustomEvent("ioc:map-drawn"));
}

document.addEventListener("ioc:districts", (e) => { map.data = e.detail; render(); });
