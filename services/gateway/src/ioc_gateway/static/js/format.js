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

/** Đồng as Intl writes them: 1.234.567 ₫ (vi-VN), ₫1,234,567 (en-US). */
function vnd(value) {
  const locale = getLang() === "en" ? "en-US" : "vi-VN";
  const key = `${locale}:vnd`;
  if (!cache.has(key)) {
    cache.set(key, new Intl.NumberFormat(locale, { style: "currency", currency: "VND", maximumFractionDigits: 0 }));
  }
  return cache.get(key).format(value);
}

/** A value in its indicator's unit: percentages carry a % sign (98,89%), money its ₫. */
export function valueWithUnit(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "percent") return `${number(value, 2)}%`;
  if (unit === "vnd") return vnd(value);
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

/** Axis labels: large figures shortened the locale's way (1,2 Tỷ; 1.2B). */
export function axisNumber(value, digits) {
  if (Math.abs(value) < 1e6) return number(value, digits);
  const locale = getLang() === "en" ? "en-US" : "vi-VN";
  return new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 }).format(value);
}
