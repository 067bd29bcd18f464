// The manager's dashboard: volumes, did-not-attend by cause, waits, call quality, escorts
// avoided; the audit log's review, its integrity check, and exports of the period.
//
// Volumes come from the appointments of the period; waits and call quality from the audit
// log's `admitted` (waited_s) and `quality_report` (loss_pct) events.

import { api, clearError, download, el, formatDateTime, serverNow, showError, t } from "./common.js";
import { barChart } from "./charts.js";
import { misses } from "./misses.js";

const ACTIONS = [
  "booked", "cancelled", "checked_in", "attended", "did_not_attend", "consent_given",
  "consent_withdrawn", "request_made", "joined", "waiting", "admitted", "left", "reconnected",
  "call_ended", "quality_report", "message_sent", "sign_in", "sign_in_failed", "lockout",
  "device_enrolled", "lockdown_declared", "lockdown_confirmed", "lockdown_lifted", "suspended_refused",
  "not_recorded", "log_viewed", "log_exported",
];
const MAX_EVENTS = 500;
const MAX_PAGES = 400;

const state = { account: null, events: [] };

function range() {
  const form = document.getElementById("range-form");
  const from = new Date(`${form.from.value}T00:00:00`);
  const to = new Date(`${form.to.value}T00:00:00`);
  to.setDate(to.getDate() + 1);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    rate: Number(form.rate.value) || 0,
    establishment: form.establishment.value,
  };
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// Every event of the period, page by page: the API gives at most MAX_EVENTS at a time,
// newest first, and `before` continues below the last sequence number seen.
async function allEvents(params) {
  const all = [];
  let before = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const query = new URLSearchParams({ limit: String(MAX_EVENTS) });
    for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
    if (before !== null) query.set("before", String(before));
    const data = await api("GET", `/api/audit/events?${query}`);
    const batch = data.events || [];
    all.push(...batch);
    if (batch.length < MAX_EVENTS) break;
    before = batch[batch.length - 1].seq;
  }
  return all;
}

async function events(action, from, to, establishment) {
  return allEvents({ action, from, to, establishment });
}

async function loadDashboard() {
  const error = document.getElementById("dash-error");
  clearError(error);
  const { from, to, rate, establishment } = range();
  try {
    const query = new URLSearchParams({ from, to });
    if (establishment) query.set("establishment_id", establishment);
    const appointments = await api("GET", `/api/appointments?${query}`);
    const count = (test) => appointments.filter(test).length;
    const completed = count((a) => a.status === "completed");
    const volumes = [
      { label: t("manager.booked"), value: appointments.length },
      { label: t("manager.completed"), value: completed },
      { label: t("manager.cancelled"), value: count((a) => a.status === "cancelled") },
      { label: t("manager.dna_prison"), value: count((a) => a.status === "did_not_attend" && a.outcome_cause === "prison") },
      { label: t("manager.dna_patient"), value: count((a) => a.status === "did_not_attend" && a.outcome_cause !== "prison") },
      // Windows that closed with no outcome: counted on their own, never guessed into a cause.
      { label: t("manager.not_recorded"), value: count((a) => a.status === "not_recorded") },
    ];
    document.getElementById("volumes-text").textContent = barChart(document.getElementById("volumes-chart"), volumes);
    document.getElementById("escorts").textContent = `${completed} · ${t("manager.escorts_cost", {
      n: (completed * rate).toLocaleString("en-GB"),
    })}`;

    const [admitted, quality] = await Promise.all([events("admitted", from, to, establishment), events("quality_report", from, to, establishment)]);
    const waits = admitted.map((e) => e.details && e.details.waited_s).filter((v) => typeof v === "number");
    const middle = median(waits);
    document.getElementById("median-wait").textContent =
      middle === null ? t("manager.no_data") : t("manager.minutes", { n: (middle / 60).toFixed(1) });
    const losses = quality.map((e) => e.details && e.details.loss_pct).filter((v) => typeof v === "number");
    const bands = [
      { label: "< 1%", value: losses.filter((v) => v < 1).length },
      { label: "1–5%", value: losses.filter((v) => v >= 1 && v < 5).length },
      { label: "5–10%", value: losses.filter((v) => v >= 5 && v <= 10).length },
      { label: "> 10%", value: losses.filter((v) => v > 10).length },
    ];
    document.getElementById("quality-text").textContent = barChart(document.getElementById("quality-chart"), bands);
  } catch (failure) {
    showError(error, failure);
  }
}

// ------------------------------------------------------------ the audit log

function describe(details) {
  if (!details) return "";
  return Object.entries(details)
    .filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
}

async function searchAudit() {
  const form = document.getElementById("audit-form");
  const error = document.getElementById("audit-error");
  const body = document.getElementById("audit-rows");
  clearError(error);
  const { from, to, establishment } = range();
  const query = new URLSearchParams({ from, to, limit: String(MAX_EVENTS) });
  if (establishment) query.set("establishment", establishment);
  if (form.action.value) query.set("action", form.action.value);
  try {
    const data = await api("GET", `/api/audit/events?${query}`);
    const text = form.q.value.trim().toLowerCase();
    state.events = (data.events || []).filter(
      (e) => !text || JSON.stringify(e).toLowerCase().includes(text),
    );
  } catch (failure) {
    showError(error, failure);
    return;
  }
  if (!state.events.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "5", text: t("manager.audit_none") })));
    return;
  }
  body.replaceChildren(
    ...state.events.map((e) =>
      el(
        "tr",
        { "data-seq": String(e.seq) },
        el("td", { text: String(e.seq) }),
        el("td", { text: formatDateTime(e.at) }),
        el("td", { text: e.actor || "" }),
        el("td", { text: e.action }),
        el("td", { text: [e.appointment_id, e.subject, describe(e.details)].filter(Boolean).join(" · ") }),
      ),
    ),
  );
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
  // A leading = + - @ would be a formula to a spreadsheet: neutralise it.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replace(/"/g, '""')}"`;
}

async function exportCsv() {
  const error = document.getElementById("export-error");
  clearError(error);
  const { from, to, establishment } = range();
  try {
    const rows = await allEvents({ from, to, establishment });
    const columns = ["seq", "at", "establishment_id", "actor", "action", "subject", "appointment_id", "details_status", "details"];
    const lines = [columns.join(",")].concat(rows.map((e) => columns.map((c) => csvCell(e[c])).join(",")));
    const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `audit-${isoDay(new Date(from))}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (failure) {
    showError(error, failure);
  }
}

async function exportBundle() {
  const error = document.getElementById("export-error");
  clearError(error);
  const { from, to, establishment } = range();
  const query = new URLSearchParams({ from, to });
  if (establishment) query.set("establishment", establishment);
  try {
    await download(`/api/audit/export?${query}`, "audit-bundle.json");
  } catch (failure) {
    showError(error, failure);
  }
}

async function verifyNow() {
  const out = document.getElementById("integrity");
  out.textContent = t("common.loading");
  try {
    const report = await api("GET", "/api/audit/integrity");
    out.textContent = report.ok ? t("manager.verified", { n: report.size }) : t("manager.verify_failed");
    out.className = report.ok ? "ok" : "bad";
  } catch (failure) {
    out.textContent = t("error.generic");
    out.className = "bad";
  }
}

// The establishments this person may report on: a manager their own, an admin every one.
async function loadEstablishments() {
  const select = document.getElementById("range-establishment");
  let found = [];
  try {
    found = await api("GET", "/api/establishments");
  } catch (failure) {
    showError(document.getElementById("dash-error"), failure);
  }
  select.replaceChildren(...found.map((e) => el("option", { value: e.id, text: e.name })));
  const own = found.find((e) => e.id === state.account.establishment_id);
  if (own) select.value = own.id;
}

async function start(account) {
  state.account = account;
  await loadEstablishments();
  const form = document.getElementById("range-form");
  const today = new Date(serverNow());
  const monthAgo = new Date(today.getTime() - 30 * 24 * 3600 * 1000);
  form.from.value = isoDay(monthAgo);
  form.to.value = isoDay(today);
  const select = document.getElementById("audit-action");
  for (const action of ACTIONS) select.append(el("option", { value: action, text: action }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadDashboard();
  });
  document.getElementById("audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    searchAudit();
  });
  document.getElementById("verify-now").addEventListener("click", verifyNow);
  document.getElementById("export-csv").addEventListener("click", exportCsv);
  document.getElementById("export-bundle").addEventListener("click", exportBundle);
  await loadDashboard();
  await misses.start();
}

export const dashboard = { start };
