// Staff: visits. The visitor requests of prisoners here (approve, or refuse with a reason the
// prisoner reads), the day's list of visits per session (on screen and printed for the visits
// hall), the letters for visitors without an email (printed, then marked), new sessions and
// the monthly allowances. The server checks who may do each and logs each reading.

import {
  api,
  clearError,
  el,
  errorText,
  flash,
  formatTime,
  formatWhen,
  serverNow,
  setupLanguageSwitch,
  setupSignOut,
  setupStaffSignIn,
  show,
  showError,
  staffGate,
  t,
  timeZone,
} from "./common.js";

const ROLES = ["officer", "department_staff"];
const $ = (id) => document.getElementById(id);
const when = (iso) => formatWhen(iso, timeZone());
const result = $("svisits-result");
const error = $("svisits-error");

function say(text) {
  result.textContent = text;
}

function localDay(ms) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: timeZone(), year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(ms));
  return parts;
}

function requestCard(v) {
  const id = `refuse-${v.id}`;
  const reason = el("textarea", { id, name: "reason", rows: "2", maxlength: "500" });
  const problem = el("p", { class: "error", role: "alert", hidden: true });
  const approve = el("button", { type: "button", class: "button primary", text: t("svisits.approve") });
  const refuse = el("button", { type: "button", class: "button secondary", text: t("svisits.refuse") });
  async function decide(yes) {
    clearError(problem);
    const why = reason.value.trim();
    if (!yes && !why) {
      showError(problem, t("svisits.need_reason"));
      reason.focus();
      return;
    }
    approve.disabled = refuse.disabled = true;
    try {
      await api("POST", `/api/kiosk/staff/visitors/${encodeURIComponent(v.id)}/decision`, yes ? { approve: true } : { approve: false, reason: why });
    } catch (failure) {
      approve.disabled = refuse.disabled = false;
      showError(problem, failure);
      return;
    }
    say(t(yes ? "svisits.approved" : "svisits.refused", { name: v.name ?? "" }));
    await loadRequests();
  }
  approve.addEventListener("click", () => decide(true));
  refuse.addEventListener("click", () => decide(false));
  const p = v.prisoner || {};
  return el(
    "li",
    { class: "card visitor-request", "data-visitor": v.id },
    el("p", { class: "card-title", text: t("svisits.request", { name: v.name ?? "?", relationship: v.relationship ?? "", prisoner: p.name ?? "", number: p.prison_number ?? "" }) }),
    el("p", { class: "hint", text: t("svisits.contact", { email: v.email || t("svisits.not_given"), phone: v.phone || t("svisits.not_given") }) }),
    el("div", { class: "field" }, el("label", { for: id, text: t("svisits.reason") }), reason),
    problem,
    el("p", { class: "actions" }, approve, refuse),
  );
}

async function loadRequests() {
  const found = await api("GET", "/api/kiosk/staff/visitor-requests");
  $("svisits-requests").replaceChildren(
    ...(found.length ? found.map(requestCard) : [el("li", { text: t("svisits.requests_none") })]),
  );
}

function dayTable(d) {
  const s = d.session;
  const rows = d.bookings.map((b) => {
    const cancel = el("button", { type: "button", class: "button secondary no-print", text: t("svisits.cancel", { reference: b.reference }) });
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        await api("POST", `/api/kiosk/staff/visits/${encodeURIComponent(b.id)}/cancel`);
      } catch (failure) {
        cancel.disabled = false;
        showError(error, failure);
        return;
      }
      say(t("svisits.cancelled", { reference: b.reference }));
      await Promise.all([loadDay(), loadLetters()]);
    });
    const p = b.prisoner || {};
    return el(
      "tr",
      { "data-reference": b.reference },
      el("td", { text: b.reference }),
      el("td", { text: `${p.name ?? ""} ${p.prison_number ?? ""}`.trim() }),
      el("td", { text: [p.wing, p.cell].filter(Boolean).join(", ") }),
      el("td", { text: b.visitors.map((v) => `${v.name ?? "?"} (${v.relationship ?? ""})`).join("; ") }),
      el("td", {}, cancel),
    );
  });
  const title = t("svisits.session_title", { when: when(s.starts_at), end: formatTime(s.ends_at), booked: s.booked, capacity: s.capacity });
  const table = el(
    "table",
    { class: "visit-table" },
    el("caption", { text: title }),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["reference", "prisoner", "cell", "visitors", "action"].map((c) => el("th", { scope: "col", text: t(`svisits.col_${c}`) })),
      ),
    ),
    el("tbody", {}, ...rows),
  );
  return el("div", { class: "day-session", "data-session": s.id }, rows.length ? table : el("p", { text: `${title}. ${t("svisits.session_empty")}` }));
}

async function loadDay() {
  const day = $("svisits-day").value;
  const found = await api("GET", `/api/kiosk/staff/visits/day?${new URLSearchParams({ day })}`);
  $("svisits-day-list").replaceChildren(
    ...(found.length ? found.map(dayTable) : [el("p", { text: t("svisits.day_none") })]),
  );
}

function letterCard(l) {
  const vars = { name: l.visitor_name ?? "", prison: l.establishment, when: when(l.starts_at), reference: l.reference };
  return el(
    "li",
    { class: "card letter", "data-letter": l.id, "data-event": l.event },
    el("p", { text: t(`svisits.letter_${l.event}`, vars) }),
    el("p", { class: "hint", text: t("svisits.letter_for", { prisoner: l.prisoner_name ?? "", number: l.prison_number ?? "" }) }),
  );
}

let letters = [];

async function loadLetters() {
  letters = await api("GET", "/api/kiosk/staff/visit-letters");
  $("svisits-letters").replaceChildren(
    ...(letters.length ? letters.map(letterCard) : [el("li", { text: t("svisits.letters_none") })]),
  );
  $("svisits-mark-printed").disabled = letters.length === 0;
}

function printOnly(which) {
  document.body.classList.add(which);
  window.print();
  document.body.classList.remove(which);
}

function setup() {
  const today = localDay(serverNow());
  $("svisits-day").value = today;
  $("svisits-session-date").value = today;
  $("svisits-day-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearError(error);
    loadDay().catch((failure) => showError(error, failure));
  });
  $("svisits-print").addEventListener("click", () => printOnly("printing-day"));
  $("svisits-print-letters").addEventListener("click", () => printOnly("printing-letters"));
  $("svisits-mark-printed").addEventListener("click", async () => {
    clearError(error);
    try {
      const done = await api("POST", "/api/kiosk/staff/visit-letters/printed", { letter_ids: letters.map((l) => l.id) });
      say(t("svisits.marked", { n: done.printed }));
      await loadLetters();
    } catch (failure) {
      showError(error, failure);
    }
  });
  const sessionForm = $("svisits-session-form");
  sessionForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const f = sessionForm;
    const body = {
      starts_at: new Date(`${f.date.value}T${f.start.value}`).toISOString(),
      ends_at: new Date(`${f.date.value}T${f.end.value}`).toISOString(),
      capacity: Number(f.capacity.value),
    };
    try {
      const made = await api("POST", "/api/kiosk/staff/visit-sessions", body);
      say(t("svisits.session_added", { when: when(made.starts_at), capacity: made.capacity }));
      $("svisits-day").value = f.date.value;
      await loadDay();
    } catch (failure) {
      showError(error, failure);
    }
  });
  const allowForm = $("svisits-allowance-form");
  allowForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const body = Object.fromEntries(["basic", "standard", "enhanced"].map((k) => [k, Number(allowForm[k].value)]));
    try {
      await api("PUT", "/api/kiosk/staff/visit-allowances", body);
      say(t("svisits.allowances_saved"));
    } catch (failure) {
      showError(error, failure);
    }
  });
}

async function loadAllowances() {
  const found = await api("GET", "/api/kiosk/staff/visit-allowances");
  for (const [k, v] of Object.entries(found)) $(`svisits-allow-${k}`).value = String(v);
}

async function main() {
  let account = null;
  setupLanguageSwitch(() => account !== null);
  setupSignOut(() => show("screen-signin"));
  setupStaffSignIn();
  account = await staffGate(ROLES);
  if (account) {
    show("screen-visits");
    setup();
    try {
      await Promise.all([loadRequests(), loadDay(), loadLetters(), loadAllowances()]);
    } catch (failure) {
      showError(error, failure);
    }
  }
  document.body.dataset.ready = "true";
}

main().catch((failure) => {
  flash(errorText(failure));
  document.body.dataset.ready = "true";
});
