// Numbers the Vietnamese way by default: 1.060 and 98,89 (Intl with the vi-VN locale).
import { getLang } from "./i18n.js";

const cache = new Map();
function fmt(digits) {
  const locale = getLang() === "en" ? "en-US" : "vi-VN";
  const key = `${locale}:${digits}`;
  if (!cache.has(key)) {
    cache.set(key, new Intl.NumberFormat(locale, { maximumFractionDigits: digits }));
  }
  return cache.get(key);
}

export function number(value, digits = 2) {
  return value === null || value === undefined ? "–" : fmt(digits).format(value);
}

/** A value in its indicator's unit: percentages carry a % sign (98,89%). */
export function valueWithUnit(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "percent") return `${number(value, 2)}%`;
  if (unit === "vnd") return number(value, 0);
  return number(value, 2);
}

export function dateTime(iso) {
  if (!iso) return "–";
  const locale = getLang() === "en" ? "en-GB" : "vi-VN";
  // The province's clock, whatever the screen's own time zone.
  return new Date(iso).toLocaleString(locale, {
    dateStyle: "short", timeStyle: "short", timeZone: "Asia/Ho_Chi_Minh",
  });
}
