// The manager's dashboard: misses by cause, waits, calls, call quality per call, escorts
// avoided, pre-call failures by wing, requests against target; the audit log's review, its
// integrity check, and exports of the period.
//
// Every figure comes from the server's reports (`/api/reports/dashboard`), counted in the
// store over appointments and per-call summaries: nothing is counted here.

import { api, clearError, download, el, formatDateTime, serverNow, showError, t } from "./common.js";
import { barChart } from "./charts.js";
import { misses } from "./misses.js";
import { reportSettings } from "./report_settings.js";

const ACTIONS = [
  "booked", "cancelled", "checked_in", "attended", "did_not_attend", "consent_given",
  "consent_withdrawn", "request_made", "joined", "waiting", "admitted", "left", "reconnected",
  "call_ended", "quality_report", "message_sent", "sign_in", "sign_in_failed", "lockout",
  "device_enrolled", "lockdown_declared", "lockdown_confirmed", "lockdown_lifted", "suspended_refused",
  "not_recorded", "log_viewed", "log_exported", "rescheduled", "request_triaged", "call_mode_changed",
  "call_back_requested", "clinical_viewed", "test_call_completed", "report_settings_changed",
];
const MAX_EVENTS = 500;
const MAX_PAGES = 400;
const CALL_ROWS = 10;
// The server's refusals of a period, in the reader's language.
const PERIOD_ERRORS = {
  "The period is at most a year.": "manager.period_too_long",
  "The period ends before it starts.": "manager.period_backwards",
};

const state = { account: null, events: [] };

function range() {
  const form = document.getElementById("range-form");
  const from = new Date(`${form.from.value}T00:00:00`);
  const to = new Date(`${form.to.value}T00:00:00`);
  to.setDate(to.getDate() + 1);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    fromDay: form.from.value,
    toDay: form.to.value,
    establishment: form.establishment.value,
  };
}

// The period as the reports take it: local dates in the establishment's own time zone.
function reportQuery() {
  const { fromDay, toDay, establishment } = range();
  const query = new URLSearchParams({ from: fromDay, to: toDay });
  if (establishment) query.set("establishment", establishment);
  return query;
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function minutes(seconds) {
  return seconds === null || seconds === undefined
    ? t("manager.no_data")
    : t("manager.minutes", { n: (seconds / 60).toFixed(1) });
}

function money(pence) {
  return (pence / 100).toLocaleString(document.documentElement.lang === "cy" ? "cy-GB" : "en-GB", {
    minimumFractionDigits: 0,
    maximumFractionDigits: 2,
  });
}

function draw(id, bars) {
  document.getElementById(`${id}-text`).textContent = barChart(document.getElementById(`${id}-chart`), bars);
}

// Every event of the period, page by page (the CSV export of the log): the API gives at
// most MAX_EVENTS at a time, newest first, and `before` continues below the last seen.
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

function showCalls(quality) {
  const body = document.getElementById("call-rows");
  const calls = quality.calls.slice(0, CALL_ROWS);
  if (!calls.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "5", text: t("manager.no_data") })));
    return;
  }
  const number = (v, unit) => (v === null || v === undefined ? "–" : `${v}${unit}`);
  body.replaceChildren(
    ...calls.map((c) =>
      el(
        "tr",
        { "data-appointment": c.appointment_id },
        el("td", { text: formatDateTime(c.scheduled_start) }),
        el("td", { text: minutes(c.call_s) }),
        el("td", { text: t(`manager.mode_${c.final_mode}`) }),
        el("td", { text: number(c.worst_loss_pct, "%") }),
        el("td", { text: number(c.lowest_bitrate_kbps, " kbit/s") }),
      ),
    ),
  );
}

// Who was present when, and on hold when: one row per person of each call, roles and times only.
function spans(list) {
  return (list || [])
    .map(([from, to]) =>
      to ? t("manager.span", { from: formatDateTime(from), to: formatDateTime(to) }) : t("manager.span_open", { from: formatDateTime(from) }),
    )
    .join("; ");
}

function showAttendance(attendance) {
  const body = document.getElementById("attendance-rows");
  const rows = [];
  for (const call of attendance.calls) {
    const counts = {};
    for (const p of call.presence) counts[p.role] = (counts[p.role] || 0) + 1;
    for (const p of call.presence) {
      const role = t(`consult.role_${p.role}`);
      rows.push(
        el(
          "tr",
          { "data-appointment": call.appointment_id, "data-role": p.role },
          el("td", { text: formatDateTime(call.scheduled_start) }),
          el("td", { text: counts[p.role] > 1 ? t("manager.role_n", { role, n: p.n }) : role }),
          el("td", { text: spans(p.present) || "–" }),
          el("td", { text: spans(p.on_hold) || "–" }),
        ),
      );
    }
  }
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "4", text: t("manager.no_data") }))]));
}

async function loadDashboard() {
  const error = document.getElementById("dash-error");
  clearError(error);
  let report;
  try {
    report = await api("GET", `/api/reports/dashboard?${reportQuery()}`);
  } catch (failure) {
    const detail = failure && failure.body && failure.body.detail;
    showError(error, PERIOD_ERRORS[detail] ? t(PERIOD_ERRORS[detail]) : failure);
    return;
  }
  const { misses: m, waits, calls, quality, escorts, precall, requests, attendance } = report;
  const dna = m.did_not_attend;
  const cancelled = Object.values(m.cancelled).reduce((a, b) => a + b, 0);
  draw("volumes", [
    { label: t("manager.booked"), value: m.booked },
    { label: t("manager.completed"), value: m.completed },
    { label: t("manager.cancelled"), value: cancelled },
    { label: t("manager.dna_prison"), value: dna.prison },
    { label: t("manager.dna_patient"), value: dna.patient },
    { label: t("manager.dna_clinician"), value: dna.clinician },
    // Windows that closed with no outcome: counted on their own, never guessed into a cause.
    { label: t("manager.not_recorded"), value: dna.not_recorded },
  ]);
  draw("cancelled", ["prison", "patient", "clinician", "none"].map((cause) => ({
    label: t(`manager.cause_${cause}`),
    value: m.cancelled[cause],
  })));
  const bands = quality.loss_bands;
  draw("quality", [
    { label: "< 1%", value: bands.lt1 },
    { label: "1–5%", value: bands["1to5"] },
    { label: "5–10%", value: bands["5to10"] },
    { label: "> 10%", value: bands.gt10 },
  ]);
  draw("precall", precall.by_wing.map((w) => ({ label: w.wing, value: w.failed })));
  document.getElementById("median-wait").textContent = minutes(waits.median_s);
  document.getElementById("p90-wait").textContent = minutes(waits.p90_s);
  document.getElementById("readmits").textContent = t("manager.readmits_value", {
    n: waits.readmits.count,
    calls: waits.readmits.calls,
  });
  document.getElementById("calls").textContent = t("manager.calls_value", {
    answered: calls.answered,
    consults: calls.consults,
    min: (calls.min_consult_s / 60).toFixed(1),
    unanswered: calls.unanswered,
    abandoned: calls.abandoned,
  });
  document.getElementById("call-length").textContent = minutes(calls.median_length_s);
  const cost =
    escorts.saved_pence === null
      ? t("manager.escorts_unset")
      : t("manager.escorts_cost_source", { n: money(escorts.saved_pence), source: escorts.cost_source });
  document.getElementById("escorts").textContent = t("manager.escorts_value", { n: escorts.avoided, cost });
  document.getElementById("requests").textContent = t("manager.requests_value", {
    over: requests.over_target,
    n: requests.requests,
    waiting: requests.waiting,
  });
  showCalls(quality);
  showAttendance(attendance);
}

async function exportReport(format) {
  const error = document.getElementById("export-error");
  clearError(error);
  const query = reportQuery();
  const name = document.getElementById("export-report").value;
  query.set("report", name);
  query.set("format", format);
  try {
    await download(`/api/reports/export?${query}`, `${name}.${format}`);
  } catch (failure) {
    showError(error, failure);
  }
}

// ------------------------------------------------------------ the audit log

const AUDIT_PAGE = 25;
const audit = { before: null, newer: [], next: null, people: {} };

function describe(details) {
  if (!details) return "";
  return Object.entries(details)
    .filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
}

// An action's words in the reader's language; an action newer than this page, its code.
function actionLabel(action) {
  const label = t(`audit.action.${action}`);
  return label === `audit.action.${action}` ? action : label;
}

// A person as the manager knows them: name, and prison number for a prisoner. The
// server resolves them only for readers allowed to see them; others see the id.
function person(id) {
  if (!id) return "";
  const found = audit.people[id];
  if (!found) return id;
  return found.prison_number ? `${found.name} (${found.prison_number})` : found.name;
}

async function searchAudit(before = null) {
  const form = document.getElementById("audit-form");
  const error = document.getElementById("audit-error");
  const body = document.getElementById("audit-rows");
  clearError(error);
  const { from, to, establishment } = range();
  const query = new URLSearchParams({ from, to, limit: String(AUDIT_PAGE) });
  if (establishment) query.set("establishment", establishment);
  if (form.action.value) query.set("action", form.action.value);
  const text = form.q.value.trim();
  if (text) query.set("q", text);
  if (before !== null) query.set("before", String(before));
  let data;
  try {
    data = await api("GET", `/api/audit/events?${query}`);
  } catch (failure) {
    showError(error, failure);
    return;
  }
  audit.before = before;
  audit.next = data.next_before;
  audit.people = data.people || {};
  state.events = data.events || [];
  document.getElementById("audit-older").disabled = audit.next === null;
  document.getElementById("audit-newer").disabled = audit.newer.length === 0;
  const status = document.getElementById("audit-page");
  if (!state.events.length) {
    status.textContent = "";
    body.replaceChildren(el("tr", {}, el("td", { colspan: "5", text: t("manager.audit_none") })));
    return;
  }
  const shown = audit.newer.length * AUDIT_PAGE;
  status.textContent = t("manager.audit_page", { first: shown + 1, last: shown + state.events.length });
  body.replaceChildren(
    ...state.events.map((e) =>
      el(
        "tr",
        { "data-seq": String(e.seq), "data-action": e.action },
        el("td", { text: String(e.seq) }),
        el("td", { text: formatDateTime(e.at) }),
        el("td", { text: person(e.actor) }),
        el("td", { text: actionLabel(e.action) }),
        el("td", { text: [person(e.subject), e.appointment_id, describe(e.details)].filter(Boolean).join(" · ") }),
      ),
    ),
  );
}

function newSearch() {
  audit.newer = [];
  return searchAudit(null);
}

function olderPage() {
  if (audit.next === null) return;
  audit.newer.push(audit.before);
  searchAudit(audit.next);
}

function newerPage() {
  if (!audit.newer.length) return;
  searchAudit(audit.newer.pop());
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
  for (const action of ACTIONS) select.append(el("option", { value: action, text: actionLabel(action) }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadDashboard();
  });
  document.getElementById("audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    newSearch();
  });
  document.getElementById("audit-older").addEventListener("click", olderPage);
  document.getElementById("audit-newer").addEventListener("click", newerPage);
  document.getElementById("verify-now").addEventListener("click", verifyNow);
  document.getElementById("export-csv").addEventListener("click", exportCsv);
  document.getElementById("export-bundle").addEventListener("click", exportBundle);
  document.getElementById("export-report-csv").addEventListener("click", () => exportReport("csv"));
  document.getElementById("export-report-xlsx").addEventListener("click", () => exportReport("xlsx"));
  await loadDashboard();
  await reportSettings.start();
  await misses.start();
}

export const dashboard = { start };
