// The dashboard's report bar: a month or quarter, then the province report as Excel, CSV or a
// printable page (GET /v1/reports/province). The links carry the session cookie like any
// same-origin request; the gateway scopes the report to the operator.
import { getLang, t } from "./i18n.js";

const ROMAN = ["I", "II", "III", "IV"];
const $ = (sel) => document.querySelector(sel);

/** The last `count` periods, newest first: [{value: "2026-11", label: "11/2026"}, …]. */
function periods(grain, count) {
  const now = new Date();
  // The province's calendar (UTC+7), whatever the screen's time zone.
  const vn = new Date(now.getTime() + (now.getTimezoneOffset() + 420) * 60000);
  let year = vn.getFullYear();
  let index = grain === "quarter" ? Math.floor(vn.getMonth() / 3) : vn.getMonth();
  const size = grain === "quarter" ? 4 : 12;
  const out = [];
  for (let i = 0; i < count; i += 1) {
    if (grain === "quarter") {
      const label = getLang() === "en" ? `Q${index + 1} ${year}` : `Quý ${ROMAN[index]}/${year}`;
      out.push({ value: `${year}-Q${index + 1}`, label });
    } else {
      const mm = String(index + 1).padStart(2, "0");
      out.push({ value: `${year}-${mm}`, label: `${mm}/${year}` });
    }
    index -= 1;
    if (index < 0) { index = size - 1; year -= 1; }
  }
  return out;
}

function fillPeriods() {
  const grain = $("#report-grain").value;
  const select = $("#report-period");
  const kept = select.value;
  select.replaceChildren();
  for (const p of periods(grain, grain === "quarter" ? 8 : 12)) {
    const opt = document.createElement("option");
    opt.value = p.value; opt.textContent = p.label;
    select.append(opt);
  }
  if ([...select.options].some((o) => o.value === kept)) select.value = kept;
  updateLinks();
}

function href(format) {
  const q = new URLSearchParams({
    period: $("#report-period").value, grain: $("#report-grain").value, format, lang: getLang(),
  });
  return `/v1/reports/province?${q}`;
}

function updateLinks() {
  $("#report-xlsx").href = href("xlsx");
  $("#report-csv").href = href("csv");
  $("#report-html").href = href("html");
}

function relabel() {
  for (const opt of $("#report-grain").options) opt.textContent = t(`report_${opt.value}`);
  fillPeriods();
}

export function initReports() {
  if (!$("#report-bar")) return;
  $("#report-grain").addEventListener("change", fillPeriods);
  $("#report-period").addEventListener("change", updateLinks);
  // The language switch sets <html lang>: relabel and ask for the report in that language.
  new MutationObserver(relabel).observe(document.documentElement, { attributeFilter: ["lang"] });
  relabel();
}

initReports();
