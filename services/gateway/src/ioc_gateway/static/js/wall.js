// Wall mode, /dashboard?wall=1 (optionally &rotate=SECONDS, default 20, 0 to stay): the map,
// district table, alerts and ticker on one 1920×1080 screen in large type with no scrolling,
// the indicator changing every few seconds. Everything else is the ordinary dashboard: this
// only adds the "wall" class, turns the indicator selector, and shrinks the table's type
// when a large province's districts would not fit.
import { t } from "./i18n.js";

const params = new URLSearchParams(location.search);
const DEFAULT_ROTATE_S = 20;
const MIN_ROTATE_S = 5;

export function rotationSeconds(search = params) {
  const raw = search.get("rotate");
  if (raw === null || raw === "") return DEFAULT_ROTATE_S;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) return DEFAULT_ROTATE_S;
  return n === 0 ? 0 : Math.max(MIN_ROTATE_S, n);
}

const wall = { order: null, timer: null, seconds: rotationSeconds() };

async function rotationOrder() {
  // Indicators with a target first: they are the ones the wall can colour.
  const select = document.querySelector("#district-indicator");
  const all = [...select.options].map((o) => o.value);
  try {
    const response = await fetch("/v1/indicators", { credentials: "same-origin" });
    const body = await response.json();
    const targeted = body.items.filter((i) => i.has_target).map((i) => i.indicator);
    return targeted.length ? targeted : all;
  } catch {
    return all;
  }
}

async function next() {
  const select = document.querySelector("#district-indicator");
  if (document.querySelector("#app").classList.contains("hidden")) return; // logged out
  wall.order = wall.order ?? (await rotationOrder());
  if (!wall.order.length) return;
  const at = wall.order.indexOf(select.value);
  select.value = wall.order[(at + 1) % wall.order.length];
  select.dispatchEvent(new Event("change")); // app.js selects it as if chosen by hand
  restartProgress();
}

function restartProgress() {
  const bar = document.querySelector("#wall-progress");
  if (!bar) return;
  bar.classList.remove("running");
  void bar.offsetWidth; // restart the CSS animation
  bar.classList.add("running");
}

function fitTable() {
  // Shrink the district table's type step by step until its panel needs no scrolling.
  const panel = document.querySelector(".panel-districts");
  const table = document.querySelector("#districts");
  if (!panel || !table) return;
  let scale = 1;
  table.style.setProperty("--fit", "1");
  while (panel.scrollHeight > panel.clientHeight + 1 && scale > 0.55) {
    scale -= 0.05;
    table.style.setProperty("--fit", scale.toFixed(2));
  }
}

function startWall() {
  document.documentElement.classList.add("wall");
  const bar = document.createElement("div");
  bar.id = "wall-progress";
  bar.className = "wall-progress";
  if (wall.seconds) {
    bar.style.setProperty("--rotate", `${wall.seconds}s`);
    bar.title = `${t("wall_next")} ${wall.seconds} ${t("seconds")}`;
  }
  document.querySelector(".topbar").append(bar);
  document.addEventListener("ioc:districts", () => {
    requestAnimationFrame(fitTable);
    if (wall.seconds && wall.timer === null) {
      wall.timer = setInterval(next, wall.seconds * 1000);
      restartProgress();
    }
  });
  window.addEventListener("resize", fitTable);
}

if (params.get("wall") === "1") startWall();
