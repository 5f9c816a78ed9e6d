// The dashboard: tiles per pillar, district table, chart, alerts, ticker, freshness; kept
// live by the WebSocket feed. All data comes from the gateway's API with the session cookie.
import { applyI18n, getLang, pick, setLang, t } from "./i18n.js";
import { dateTime, valueWithUnit } from "./format.js";
import { drawChart } from "./chart.js";
import { LiveFeed } from "./live.js";

const $ = (sel) => document.querySelector(sel);
const state = {
  user: null, indicators: [], selected: null, overview: null, alerts: new Map(),
  feed: null, refreshTimer: null, histories: new Map(), noticeTimer: null,
};

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept-Language": getLang() },
    ...options,
  });
  if (response.status === 401) { showLogin(); throw new Error("unauthenticated"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const err = new Error(body?.error ? pick(body.error, "message") || body.error.message : response.statusText);
    err.body = body; err.status = response.status;
    throw err;
  }
  return body;
}

function badge(status) {
  const span = document.createElement("span");
  span.className = `badge ${status}`;
  span.dataset.status = status;
  span.textContent = t(status);
  return span;
}

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text ?? "";
  return td;
}

function banner(unavailable) {
  const el = $("#banner");
  if (unavailable && unavailable.length) {
    el.textContent = t("unavailable") + unavailable.join(", ");
    el.classList.remove("hidden");
  } else el.classList.add("hidden");
}

// --- login ---------------------------------------------------------------------------------

function showLogin() {
  state.user = null; // the feed's last "offline" then shows nothing on the login page
  state.feed?.stop();
  $("#app").classList.add("hidden");
  $("#logout").classList.add("hidden");
  $("#login").classList.remove("hidden");
  $("#user-info").textContent = "";
  $("#live-status").classList.add("hidden");
}

async function onLogin(event) {
  event.preventDefault();
  $("#login-error").textContent = "";
  try {
    const body = await fetch("/v1/auth/login", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("#username").value, password: $("#password").value }),
    });
    if (!body.ok) {
      // A locked username (429) and other refusals carry their own reason; say it.
      const error = body.status === 401 ? null : (await body.json().catch(() => ({}))).error;
      let reason = error ? (getLang() === "en" ? error.message_en : error.message) : t("login_failed");
      const wait = Number(body.headers.get("Retry-After"));
      if (body.status === 429 && wait > 0) reason += ` (${t("retry_in")} ${Math.ceil(wait / 60)} ${t("minutes")})`;
      $("#login-error").textContent = reason;
      return;
    }
    $("#password").value = "";
    await start();
  } catch (err) {
    $("#login-error").textContent = String(err.message || err);
  }
}

// --- tiles ---------------------------------------------------------------------------------

function renderTiles() {
  const root = $("#tiles");
  root.replaceChildren();
  for (const pillar of state.overview.pillars) {
    const section = document.createElement("section");
    section.className = "card pillar";
    section.dataset.pillar = pillar.pillar;
    const h = document.createElement("h2");
    h.textContent = pick(pillar, "name");
    const tiles = document.createElement("div");
    tiles.className = "tiles";
    for (const tile of pillar.tiles) {
      const div = document.createElement("div");
      div.className = `tile status-${tile.status}` + (tile.indicator === state.selected ? " selected" : "");
      div.dataset.indicator = tile.indicator;
      div.dataset.status = tile.status;
      div.tabIndex = 0;
      const name = document.createElement("div"); name.className = "name"; name.textContent = pick(tile, "name");
      const value = document.createElement("div"); value.className = "tile-value";
      value.textContent = valueWithUnit(tile.value, tile.unit);
      const meta = document.createElement("div"); meta.className = "meta";
      const demo = tile.target?.demo ? ` (${t("demo")})` : "";
      const target = tile.target ? ` · ${t("target")}${demo} ${valueWithUnit(tile.target.expected, tile.unit)}` : "";
      if (tile.target?.demo) div.dataset.demoTarget = "true";
      meta.textContent = `${tile.period ?? "–"}${target} · ${t(tile.status)}`;
      div.append(name, value, meta);
      div.addEventListener("click", () => select(tile.indicator));
      tiles.append(div);
    }
    section.append(h, tiles);
    root.append(section);
  }
}

async function loadOverview() {
  state.overview = await api("/v1/overview");
  banner(state.overview.unavailable);
  renderTiles();
}

// --- district table and chart -------------------------------------------------------------

function fillIndicatorSelect() {
  const select = $("#district-indicator");
  select.replaceChildren();
  for (const ind of state.indicators) {
    const opt = document.createElement("option");
    opt.value = ind.indicator; opt.textContent = pick(ind, "name");
    select.append(opt);
  }
  select.value = state.selected;
}

async function loadDistricts() {
  const data = await api(`/v1/districts?indicator=${encodeURIComponent(state.selected)}`);
  banner(data.unavailable);
  $("#district-period").textContent = `${data.province_name} · ${t("period")} ${data.period}`;
  const body = $("#districts tbody");
  body.replaceChildren();
  if (data.province_value !== null && data.province_value !== undefined) {
    const tr = document.createElement("tr");
    tr.dataset.unit = data.province;
    tr.className = `row-${data.province_status?.status ?? "no_target"}`;
    tr.append(cell(""), cell(t("province_row")), cell(valueWithUnit(data.province_value, data.unit), "num"),
      cell(targetText(data.province_status?.target, data.unit), "num"),
      cell(badge(data.province_status?.status ?? "no_target")));
    body.append(tr);
  }
  for (const row of data.items) {
    const tr = document.createElement("tr");
    tr.dataset.unit = row.unit_code;
    tr.dataset.status = row.status;
    tr.className = `row-${row.status}`;
    tr.append(cell(row.rank ?? "–"), cell(row.name), cell(valueWithUnit(row.value, data.unit), "num"),
      cell(targetText(row.target, data.unit), "num"), cell(badge(row.status)));
    tr.addEventListener("click", () => loadChart(row.unit_code));
    body.append(tr);
  }
  // The map (map.js) colours its units with these rows' statuses.
  document.dispatchEvent(new CustomEvent("ioc:districts", { detail: data }));
}

/** The expected value, marked "minh hoạ" / "demo" when the target is a demo one. */
function targetText(target, unit) {
  const text = valueWithUnit(target?.expected, unit);
  return target?.demo ? `${text} (${t("demo")})` : text;
}

async function loadChart(unit) {
  const q = new URLSearchParams({ indicator: state.selected });
  if (unit) q.set("unit", unit);
  const data = await api(`/v1/series?${q}`);
  $("#chart-title").textContent = `${pick(data, "name")} – ${data.unit_name}`;
  drawChart($("#chart"), data.points, data.unit);
}

async function select(indicator) {
  state.selected = indicator;
  $("#district-indicator").value = indicator;
  for (const el of document.querySelectorAll(".tile")) {
    el.classList.toggle("selected", el.dataset.indicator === indicator);
  }
  await Promise.all([loadDistricts(), loadChart()]);
}

// --- alerts --------------------------------------------------------------------------------

function renderAlerts() {
  const body = $("#alerts tbody");
  const showResolved = $("#show-resolved").checked;
  const rows = [...state.alerts.values()]
    .filter((a) => showResolved || a.state !== "resolved")
    .sort((a, b) => (b.changed_at || b.updated_at || "").localeCompare(a.changed_at || a.updated_at || ""));
  body.replaceChildren();
  for (const a of rows) {
    const tr = document.createElement("tr");
    tr.dataset.alertId = a.id;
    tr.dataset.unit = a.unit_code;
    tr.dataset.indicator = a.indicator;
    tr.dataset.state = a.state;
    if (a.fresh) { tr.classList.add("flash"); a.fresh = false; }
    const stateCell = cell(badge(a.state)); stateCell.className = "alert-state";
    const actions = cell("", "actions");
    if (state.user.can_act && a.state === "firing") {
      const ack = document.createElement("button");
      ack.className = "ack-btn"; ack.type = "button"; ack.textContent = t("acknowledge");
      ack.addEventListener("click", () => act(a, "acknowledge", { note: t("ack_note") }));
      actions.append(ack, " ");
    }
    if (state.user.can_act && a.state !== "resolved") {
      const silence = document.createElement("button");
      silence.className = "silence-btn secondary"; silence.type = "button"; silence.textContent = t("silence");
      silence.addEventListener("click", () => act(a, "silence", { minutes: 240 }));
      actions.append(silence);
    }
    const history = document.createElement("button");
    history.className = "history-btn btn-plain"; history.type = "button"; history.textContent = t("history");
    history.setAttribute("aria-expanded", String(state.histories.has(a.id)));
    history.addEventListener("click", () => toggleHistory(a));
    actions.append(" ", history);
    tr.append(cell(badge(a.severity)), cell(`${a.unit_name} (${a.unit_code})`), cell(pick(a, "summary")),
      stateCell, actions);
    body.append(tr);
    if (state.histories.has(a.id)) body.append(historyRow(a.id, state.histories.get(a.id)));
  }
  $("#alerts-empty").classList.toggle("hidden", rows.length > 0);
}

/** One alert's history, newest last: when, what changed, who, their note. */
function historyRow(id, items) {
  const tr = document.createElement("tr");
  tr.className = "alert-history";
  tr.dataset.historyFor = id;
  const td = document.createElement("td");
  td.colSpan = 5;
  const list = document.createElement("ol");
  for (const h of items) {
    const li = document.createElement("li");
    li.dataset.change = h.change;
    const who = !h.actor || h.actor === "system" ? t("system") : h.actor;
    const until = h.change === "silenced" && h.detail?.silence_ends_at ? ` → ${dateTime(h.detail.silence_ends_at)}` : "";
    li.textContent = `${dateTime(h.at)} · ${t("change_" + h.change)}${until} · ${who}${h.note ? ` · ${h.note}` : ""}`;
    list.append(li);
  }
  td.append(list);
  tr.append(td);
  return tr;
}

async function loadHistory(id) {
  const detail = await api(`/v1/alerts/${id}`);
  state.histories.set(id, detail.history);
  renderAlerts();
}

async function toggleHistory(alert) {
  if (state.histories.has(alert.id)) { state.histories.delete(alert.id); renderAlerts(); return; }
  try { await loadHistory(alert.id); } catch (err) { notice(String(err.message || err), true); }
}

/** A short message about what the operator just did, kept apart from the banner (which each
 * refresh hides or rewrites) for a few seconds. */
function notice(text, isError = false) {
  let el = $("#notice");
  if (!el) {
    el = document.createElement("p");
    el.id = "notice"; el.setAttribute("role", "status");
    $("#app").prepend(el);
  }
  el.className = isError ? "notice error" : "notice";
  el.textContent = text;
  clearTimeout(state.noticeTimer);
  state.noticeTimer = setTimeout(() => el.classList.add("hidden"), 8000);
}

async function act(alert, action, body) {
  try {
    const result = await api(`/v1/alerts/${alert.id}/${action}`, { method: "POST", body: JSON.stringify(body) });
    if (action === "silence") notice(`${t("silenced_until")} ${dateTime(result.ends_at)}`);
    else { upsertAlert({ ...result, changed_at: result.updated_at }); notice(t(`change_${result.state}`)); }
    await loadHistory(alert.id); // the action is now in the alert's history: show it
  } catch (err) {
    notice(String(err.message || err), true);
  }
}

function upsertAlert(a, fresh = false) {
  const current = state.alerts.get(a.id);
  if (current && (current.version ?? 0) > (a.version ?? 0)) return;
  state.alerts.set(a.id, { ...current, ...a, fresh });
  renderAlerts();
}

async function loadAlerts() {
  const page = await api("/v1/alerts?limit=200");
  state.alerts.clear();
  for (const a of page.items) state.alerts.set(a.id, { ...a, changed_at: a.updated_at });
  renderAlerts();
}

// --- ticker and freshness ------------------------------------------------------------------

function tick(data) {
  const li = document.createElement("li");
  li.className = "new";
  const indicator = data.indicator && state.indicators.find((i) => i.indicator === data.indicator);
  const what = indicator ? pick(indicator, "name") : t(`family_${data.family}`);
  li.textContent = `${dateTime(new Date().toISOString())} · ${data.unit_name} (${data.unit_code}) · ${what} · ${data.observed_at}`;
  const list = $("#ticker");
  list.prepend(li);
  while (list.children.length > 30) list.lastChild.remove();
}

async function loadFreshness() {
  const data = await api("/v1/freshness");
  const body = $("#freshness tbody");
  body.replaceChildren();
  for (const d of data.districts) {
    const tr = document.createElement("tr");
    tr.dataset.unit = d.unit_code;
    tr.append(cell(`${d.name} (${d.unit_code})`), cell(dateTime(d.last_received_at)),
      cell(`${d.stale}/${d.indicators}`, "num"));
    body.append(tr);
  }
}

// --- live ----------------------------------------------------------------------------------

function refreshSoon() {
  // Metric updates come in bursts: refresh the views at most every 2 s.
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(async () => {
    state.refreshTimer = null;
    await Promise.allSettled([loadOverview(), loadDistricts(), loadChart(), loadFreshness()]);
  }, 2000);
}

function onLive(msg) {
  if (msg.type === "alert") {
    const d = msg.data;
    upsertAlert({ ...d, id: d.alert_id }, true);
  } else if (msg.type === "metric") {
    refreshSoon();
  } else if (msg.type === "telemetry") {
    tick(msg.data);
  } else if (msg.type === "resync") {
    loadAlerts(); refreshSoon();
  }
}

function setLiveStatus(status) {
  const el = $("#live-status");
  // Nobody logged in: no feed, so no connection status (not a red "disconnected").
  el.className = `live-status ${status}` + (state.user ? "" : " hidden");
  el.dataset.state = status;
  el.dataset.i18n = `live_${status}`;
  el.textContent = t(`live_${status}`);
}

// --- start ---------------------------------------------------------------------------------

/** "admin (Quản trị viên) · Tuyên Quang": the user's name, their role in words, their area. */
function userLabel(user) {
  return `${user.username} (${t("role_" + user.role)}) · ${user.scope_name}`;
}

async function start() {
  state.user = await api("/v1/auth/me");
  $("#login").classList.add("hidden");
  $("#app").classList.remove("hidden");
  $("#logout").classList.remove("hidden");
  $("#user-info").textContent = userLabel(state.user);
  document.body.dataset.role = state.user.role;
  const catalogue = await api("/v1/indicators");
  state.indicators = catalogue.items;
  // Open the district table on an indicator with a district target: its rows are coloured
  // by status (failing that, one with any target).
  const targeted = state.indicators.find((i) => i.has_district_target) ?? state.indicators.find((i) => i.has_target);
  state.selected = state.selected ?? (targeted ?? state.indicators[0])?.indicator;
  fillIndicatorSelect();
  await Promise.allSettled([loadOverview(), loadAlerts(), loadFreshness(), select(state.selected)]);
  state.feed?.stop();
  state.feed = new LiveFeed({ onMessage: onLive, onStatus: setLiveStatus, onAuthLost: showLogin });
  state.feed.start();
}

function rerender() {
  applyI18n();
  $("#lang-switch").textContent = getLang() === "vi" ? "EN" : "VI";
  if (!state.user) return;
  $("#user-info").textContent = userLabel(state.user);
  fillIndicatorSelect();
  if (state.overview) renderTiles();
  renderAlerts();
  Promise.allSettled([loadDistricts(), loadChart(), loadFreshness()]);
}

$("#login-form").addEventListener("submit", onLogin);
$("#lang-switch").addEventListener("click", () => { setLang(getLang() === "vi" ? "en" : "vi"); rerender(); });
$("#logout").addEventListener("click", async () => {
  await fetch("/v1/auth/logout", { method: "POST", credentials: "same-origin" });
  state.user = null;
  showLogin();
});
$("#district-indicator").addEventListener("change", (e) => select(e.target.value));
$("#show-resolved").addEventListener("change", renderAlerts);
document.addEventListener("ioc:open-unit", (e) => loadChart(e.detail.unit)); // a click on the map
setLang(getLang());
$("#lang-switch").textContent = getLang() === "vi" ? "EN" : "VI";
start().catch(() => showLogin());
